package main

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// tlog version names the program, a version and the Go it was built with.
func TestVersion(t *testing.T) {
	out, err := exec.Command(tlogBin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("tlog version: %v\n%s", err, out)
	}
	if s := string(out); !strings.HasPrefix(s, "tlog ") || !strings.Contains(s, runtime.Version()) || !strings.Contains(s, "(revision ") {
		t.Fatalf("tlog version = %q", s)
	}
}
