package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDiskFull fills a small tmpfs under a running log: writers then get
// 503 with a long Retry-After, reads go on, nothing is acknowledged that is
// not durable, Pebble's errors are logged a few times rather than
// hundreds; once space returns, a restart serves every acknowledged entry
// and tlog fsck passes. Needs root, to mount the tmpfs (CI runs as root).
func TestDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("couldn't mount a tmpfs to fill (this test needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	data := filepath.Join(mnt, "data")
	s := startServer(t, "diskfull", data, "--batch-size", "64")

	type ack struct {
		index int64
		entry []byte
	}
	var (
		mu         sync.Mutex
		acks       []ack
		storage503 int
		retryAfter = map[string]int{}
	)
	client := &http.Client{Timeout: 90 * time.Second}
	var wg sync.WaitGroup
	deadline := time.Now().Add(60 * time.Second)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				entry := make([]byte, 60000)
				rand.Read(entry)
				copy(entry, fmt.Sprintf("writer %d entry %d ", g, i))
				resp, err := client.Post(s.url("/add"), "application/octet-stream", bytes.NewReader(entry))
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case 200:
					n, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
					if err != nil {
						t.Errorf("200 with %q", body)
					}
					acks = append(acks, ack{n, entry})
				case 503:
					retryAfter[resp.Header.Get("Retry-After")]++
					if strings.Contains(string(body), "storage failure") {
						storage503++
					}
				default:
					t.Errorf("status %d: %s", resp.StatusCode, body)
				}
				done := storage503 > 20
				mu.Unlock()
				if done {
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d acknowledged, %d storage 503s, Retry-After %v", len(acks), storage503, retryAfter)
	if storage503 == 0 || len(acks) == 0 {
		t.Fatalf("the disk never filled, or nothing was acknowledged (%d acks)", len(acks))
	}
	if retryAfter["300"] == 0 {
		t.Errorf("storage 503s without the long Retry-After: %v", retryAfter)
	}
	if s.exitedEarly() {
		t.Fatalf("tlog serve exited on a full disk; stderr:\n%s", s.stderr.String())
	}
	// Reads go on; health says why writes do not.
	if code, _, _, err := s.get("/checkpoint"); err != nil || code != 200 {
		t.Errorf("GET /checkpoint on a full disk: %d %v", code, err)
	}
	if code, body, _, _ := s.get("/healthz"); code != 503 || !strings.Contains(string(body), "storage") {
		t.Errorf("/healthz on a full disk: %d %s", code, body)
	}
	time.Sleep(2 * time.Second) // let Pebble retry its background work
	if n := strings.Count(s.stderr.String(), "component=pebble"); n > 10 {
		t.Errorf("%d Pebble error lines: not rate limited", n)
	}
	served := s.mustCheckpoint(s.vkey).size
	s.kill()

	// Space returns; the log restarts with every acknowledged entry.
	if out, err := exec.Command("mount", "-o", "remount,size=512m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	if r := runTlog(t, "fsck", "--data", data); r.code != 0 {
		logResult(t, "fsck", r)
		t.Fatal("fsck after the disk filled")
	}
	s2 := startServer(t, "after", data)
	cp := s2.mustCheckpoint(s2.vkey)
	if cp.size < served {
		t.Fatalf("restart at size %d, below the %d served before", cp.size, served)
	}
	entries, err := readEntries(s2, cp.size)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acks {
		if a.index >= cp.size || !bytes.Equal(entries[a.index], a.entry) {
			t.Fatalf("acknowledged entry %d lost after the disk filled", a.index)
		}
	}
	s2.mustAdd([]byte("after space returned"))
	os.RemoveAll(data)
}
