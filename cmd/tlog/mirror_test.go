package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// addN adds n distinct entries tagged tag to s, 8 at a time.
func addN(t *testing.T, s *server, tag string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := s.add(context.Background(), fmt.Appendf(nil, "%s mirrored entry %d", tag, i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func httpGetOK(t *testing.T, url string) []byte {
	t.Helper()
	c := &http.Client{Timeout: httpTimeout}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return b
}

// tlog mirror --once catches up, tlog mirror --listen serves the source's
// bytes and follows it, SIGTERM stops it cleanly, and a source with the same
// key and another history makes it exit 1 with the evidence.
func TestMirrorCommand(t *testing.T) {
	dir := t.TempDir()
	keyFile, pubFile, _ := runKeygen(t, dir, "example.com/mirrored", "log")
	src := startServer(t, "source", filepath.Join(dir, "data"), "--key", keyFile)
	addN(t, src, "a", 300)
	mdir := filepath.Join(dir, "mirror")

	r := runTlog(t, "mirror", "--from", src.url(""), "--log-key", pubFile, "--data", mdir, "--once")
	expectOK(t, "mirror --once", r)
	if !strings.Contains(r.stdout, "at tree size 300") {
		t.Fatalf("stdout: %q", r.stdout)
	}

	cmd := exec.Command(tlogBin, "mirror", "--from", src.url(""), "--log-key", pubFile, "--data", mdir, "--listen", "127.0.0.1:0", "--interval", "50ms")
	cmd.Env = childEnv()
	stderr := &logWatcher{listening: make(chan map[string]string, 1)}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("mirror stderr:\n%s", stderr.String())
		}
	}()
	var addr string
	select {
	case kv := <-stderr.listening:
		addr = kv["addr"]
	case err := <-exited:
		t.Fatalf("mirror exited: %v\n%s", err, stderr.String())
	case <-time.After(startTimeout):
		t.Fatalf("mirror did not listen\n%s", stderr.String())
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("listening on %q", addr)
	}
	murl := "http://" + addr
	for _, p := range []string{"/checkpoint", "/tile/0/000", "/tile/0/001.p/44", "/tile/entries/001.p/44", "/tile/1/000.p/1"} {
		if got, want := httpGetOK(t, murl+p), httpGetOK(t, src.url(p)); !bytes.Equal(got, want) {
			t.Fatalf("%s differs", p)
		}
	}

	addN(t, src, "a2", 20)
	want := httpGetOK(t, src.url("/checkpoint"))
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Equal(httpGetOK(t, murl+"/checkpoint"), want) {
		if time.Now().After(deadline) {
			t.Fatal("the mirror did not follow the source to size 320")
		}
		time.Sleep(20 * time.Millisecond)
	}
	httpGetOK(t, murl+"/tile/entries/001.p/64")
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("mirror after SIGTERM: %v", err)
		}
	case <-time.After(exitTimeout):
		t.Fatal("mirror did not exit after SIGTERM")
	}

	// Same key, another history.
	src.stop()
	fork := startServer(t, "fork", filepath.Join(dir, "fork"), "--key", keyFile)
	addN(t, fork, "b", 330)
	r = runTlog(t, "mirror", "--from", fork.url(""), "--log-key", pubFile, "--data", mdir, "--once")
	if r.code != mirrorExitFork {
		logResult(t, "mirror of a fork", r)
		t.Fatalf("exit %d, want %d", r.code, mirrorExitFork)
	}
	ev, err := os.ReadFile(filepath.Join(mdir, "evidence-1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	forked := httpGetOK(t, fork.url("/checkpoint"))
	if !bytes.Contains(ev, want) || !bytes.Contains(ev, forked) || !strings.Contains(r.stderr, string(forked)) {
		t.Fatalf("evidence lacks a checkpoint:\n%s\nstderr:\n%s", ev, r.stderr)
	}

	// Serving, the mirror stops with status 1 at its first sync of the fork.
	r = runTlog(t, "mirror", "--from", fork.url(""), "--log-key", pubFile, "--data", mdir, "--listen", "127.0.0.1:0", "--interval", "50ms")
	if r.code != mirrorExitFork || !strings.Contains(r.stderr, string(forked)) {
		logResult(t, "serving mirror of a fork", r)
		t.Fatalf("exit %d, want %d with the evidence", r.code, mirrorExitFork)
	}
	if _, err := os.Stat(filepath.Join(mdir, "evidence-2.txt")); err != nil {
		t.Fatal(err)
	}

	// Flags.
	if r := runTlog(t, "mirror", "--from", fork.url(""), "--data", mdir, "--once"); r.code != mirrorExitError {
		t.Fatalf("without a key: exit %d", r.code)
	}
}
