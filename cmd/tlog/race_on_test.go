//go:build race

package main

// raceEnabled: the tests run under -race, so TestMain builds the server
// with -race too.
const raceEnabled = true
