package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tlog serve takes its settings from flags, TLOG_* variables and a --config
// file, in that order of precedence, as a running server shows: the Host
// names it serves (--allowed-hosts) come from whichever source wins.
func TestServeConfigPrecedence(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "serve.yaml")
	if err := os.WriteFile(cfg, []byte("allowed-hosts: file.example\nmax-requests: 64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hostStatus := func(s *server, host string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, s.url("/checkpoint"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		name    string
		env     string // TLOG_ALLOWED_HOSTS, if not empty
		flag    string // --allowed-hosts, if not empty
		allowed string
	}{
		{name: "file", allowed: "file.example"},
		{name: "environment over file", env: "env.example", allowed: "env.example"},
		{name: "flag over environment", env: "env.example", flag: "flag.example", allowed: "flag.example"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("TLOG_ALLOWED_HOSTS", c.env)
			}
			extra := []string{"--config", cfg}
			if c.flag != "" {
				extra = append(extra, "--allowed-hosts", c.flag)
			}
			s := startServer(t, "log", t.TempDir(), extra...)
			for _, host := range []string{"file.example", "env.example", "flag.example"} {
				want := 421
				if host == c.allowed {
					want = 200
				}
				if got := hostStatus(s, host); got != want {
					t.Errorf("Host %s: %d, want %d", host, got, want)
				}
			}
		})
	}
}

// A settings file with a key that names no flag, or a bad value, stops tlog
// serve before it opens anything; --print-config shows the effective
// settings and their sources without serving.
func TestServeConfigRefusedAndPrinted(t *testing.T) {
	dir := t.TempDir()
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(tlogBin, args...)
		cmd.Env = append(childEnv(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:0\nbatch-sise: 10\n"), 0o600)
	data := filepath.Join(dir, "data")
	out, err := run(nil, "serve", "--data", data, "--config", bad)
	if err == nil || !strings.Contains(out, `unknown setting "batch-sise"`) {
		t.Fatalf("unknown key: %v\n%s", err, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("a refused config created the data directory: %v", err)
	}
	out, err = run([]string{"TLOG_BATCH_SIZE=lots"}, "serve", "--data", data)
	if err == nil || !strings.Contains(out, "TLOG_BATCH_SIZE") {
		t.Fatalf("bad environment value: %v\n%s", err, out)
	}

	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("batch-size: 512\nwitness-interval: 5s\n"), 0o600)
	out, err = run([]string{"TLOG_CONFIG=" + good, "TLOG_LISTEN=127.0.0.1:0"}, "serve", "--data", data, "--print-config")
	if err != nil {
		t.Fatalf("--print-config: %v\n%s", err, out)
	}
	for _, want := range []string{"batch-size: 512 # file\n", "witness-interval: 5s # file\n", "listen: 127.0.0.1:0 # environment\n", "data: " + data + " # flag\n", "batch-age: 1ms # default\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("--print-config created the data directory: %v", err)
	}
}

// The example settings file shipped for systemd is one tlog serve takes.
func TestShippedServeConfig(t *testing.T) {
	out, err := exec.Command(tlogBin, "serve", "--config", filepath.Join("..", "..", "contrib", "systemd", "serve.yaml"), "--print-config").CombinedOutput()
	if err != nil {
		t.Fatalf("contrib/systemd/serve.yaml: %v\n%s", err, out)
	}
	for _, want := range []string{"data: /var/lib/tlog # file\n", "write-tokens: /etc/tlog/writers # file\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
}
