// Package vectors generates the cross-language test vectors of testdata/vectors from the project's own code (see internal/tools/genvectors).
package vectors
