//go:build race

package api

// raceEnabled is true when the tests run under the race detector, which
// makes building large trees several times slower.
const raceEnabled = true
