//go:build !race

package witness

// raceEnabled is true under the race detector, which slows the in-process
// log several times: load rates are then reported, not required.
const raceEnabled = false
