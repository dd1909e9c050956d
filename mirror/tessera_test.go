package mirror

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/signer"
)

// TestTesseraPOSIX mirrors a log written by Tessera's POSIX conformance
// server (go install
// github.com/transparency-dev/tessera/cmd/conformance/posix@v1.0.4), whose
// directory is served by a static file server, as a Tessera POSIX log is
// deployed. TESSERA_POSIX names that binary (it is not a dependency of
// this module; make test builds it into bin/tessera-posix): without it the
// test fails in CI (CI set) and is skipped, saying so, elsewhere.
func TestTesseraPOSIX(t *testing.T) {
	bin := os.Getenv("TESSERA_POSIX")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TESSERA_POSIX is not set: make test builds Tessera's cmd/conformance/posix into bin/tessera-posix and sets it")
		}
		t.Skip("set TESSERA_POSIX to the path of Tessera's cmd/conformance/posix binary (make test does)")
	}
	dir := t.TempDir()
	skey, vkey, err := signer.GenerateKey(rand.Reader, "example.com/tessera-mirror-test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "log.key")
	if err := os.WriteFile(keyFile, []byte(skey), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	storage := filepath.Join(dir, "log")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--listen", addr, "--storage_dir", storage, "--private_key", keyFile)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("tessera:\n%s", out.String())
		}
	}()
	add := func(from, n int) {
		t.Helper()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 256)
		errs := make(chan error, n)
		for i := from; i < from+n; i++ {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				for try := 0; ; try++ {
					resp, err := http.Post("http://"+addr+"/add", "application/octet-stream", bytes.NewReader(fmt.Appendf(nil, "tessera entry %d", i)))
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							return
						}
						err = fmt.Errorf("POST /add: %s", resp.Status)
					}
					if try == 50 {
						errs <- err
						return
					}
					time.Sleep(100 * time.Millisecond) // the server may still be starting
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	v, err := signer.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	open := func(n []byte) (signer.Checkpoint, *signer.Note, error) { return signer.OpenCheckpoint(n, v) }
	waitSize := func(size uint64) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if b, err := os.ReadFile(filepath.Join(storage, "checkpoint")); err == nil {
				if cp, _, err := open(b); err == nil && cp.Size == size {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("tessera did not publish size %d", size)
			}
		}
	}
	add(0, 600)
	waitSize(600)

	files := httptest.NewServer(http.FileServer(http.Dir(storage)))
	defer files.Close()
	f, err := client.NewTileFetcher(files.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(Config{Source: f, Open: open, Dir: filepath.Join(dir, "mirror")})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ms := httptest.NewServer(m.Handler())
	defer ms.Close()
	check := func(size uint64) {
		t.Helper()
		if got, err := m.Sync(context.Background()); err != nil || got != size {
			t.Fatalf("Sync: %d, %v", got, err)
		}
		if !bytes.Equal(get(t, ms.URL+"/checkpoint"), get(t, files.URL+"/checkpoint")) {
			t.Fatal("checkpoint differs")
		}
		for _, p := range allTiles(size) {
			if got, want := get(t, ms.URL+"/"+p), get(t, files.URL+"/"+p); !bytes.Equal(got, want) {
				t.Fatalf("%s differs from Tessera's", p)
			}
		}
	}
	check(600)
	add(600, 100)
	waitSize(700)
	check(700)
}
