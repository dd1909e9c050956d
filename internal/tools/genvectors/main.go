// Command genvectors writes the cross-language test vectors of
// testdata/vectors (see internal/vectors), or with -check verifies that
// the checked-in files are what it would write:
//
//	go run ./internal/tools/genvectors -out testdata/vectors
//	go run ./internal/tools/genvectors -out testdata/vectors -check
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tlogai/tlog/internal/vectors"
)

func main() {
	out := flag.String("out", vectors.Dir, "directory of the vector files")
	check := flag.Bool("check", false, "compare the generated files with those in -out instead of writing them; exit 1 naming each that differs")
	flag.Parse()
	files, err := vectors.Generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "genvectors:", err)
		os.Exit(2)
	}
	if *check {
		diffs, err := vectors.Diff(*out, files)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genvectors:", err)
			os.Exit(2)
		}
		for _, d := range diffs {
			fmt.Fprintf(os.Stderr, "genvectors: %s/%s\n", *out, d)
		}
		if len(diffs) > 0 {
			fmt.Fprintf(os.Stderr, "genvectors: run go run ./internal/tools/genvectors -out %s\n", *out)
			os.Exit(1)
		}
		return
	}
	if err := vectors.Write(*out, files); err != nil {
		fmt.Fprintln(os.Stderr, "genvectors:", err)
		os.Exit(2)
	}
}
