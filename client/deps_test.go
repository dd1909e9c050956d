package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph keeps the client free of the server's store and HTTP
// framework: an application that logs decisions must not link Pebble or
// Echo.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/tlogai/tlog/client").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), out)
	}
	for _, d := range deps {
		for _, banned := range []string{"github.com/cockroachdb/pebble", "github.com/labstack/echo", "github.com/tlogai/tlog/api", "github.com/tlogai/tlog/log", "github.com/tlogai/tlog/witness"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("client imports %s", d)
			}
		}
	}
}
