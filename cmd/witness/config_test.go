package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// witness serve and witness watch take their settings from flags, WITNESS_*
// variables and a --config file, in that order; unknown keys are refused.
func TestWitnessConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "witness.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nrate-limit: 5\nmax-connections: 10\n"), 0o600)
	t.Setenv("WITNESS_MAX_CONNECTIONS", "20")
	r := runWitness(t, "serve", "--config", cfg, "--rate-burst", "3", "--print-config")
	if r.code != 0 {
		t.Fatalf("serve --print-config: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"listen: 127.0.0.1:0 # file\n", "rate-limit: 5 # file\n", "max-connections: 20 # environment\n", "rate-burst: 3 # flag\n", "data: ./witness-data # default\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("serve --print-config lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runWitness(t, "watch", "--config", cfg, "--print-config")
	if r.code == 0 || !strings.Contains(r.stderr, `unknown setting "rate-limit"`) {
		t.Fatalf("watch with a serve-only key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Setenv("WITNESS_INTERVAL", "1m")
	r = runWitness(t, "watch", "--print-config")
	if r.code != 0 || !strings.Contains(r.stdout, "interval: 1m0s # environment\n") {
		t.Fatalf("watch --print-config: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
