//go:build race

package monitor_test

// raceEnabled is true under the race detector, which slows the log and the
// monitor several times: TestMonitorKeepsUp then reports the rate it
// measures instead of requiring it.
const raceEnabled = true
