package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

// A test binary has build information: the Go version is the running one,
// and the line names it.
func TestRead(t *testing.T) {
	i := Read()
	if i.GoVersion != runtime.Version() || i.Version == "" {
		t.Fatalf("Read() = %+v", i)
	}
	if s := i.String(); !strings.Contains(s, runtime.Version()) || !strings.HasPrefix(s, i.Version+" (revision ") {
		t.Fatalf("String() = %q", s)
	}
	i.Modified, i.Revision = true, "abc"
	if s := i.String(); !strings.Contains(s, "revision abc+dirty") {
		t.Fatalf("modified: %q", s)
	}
}
