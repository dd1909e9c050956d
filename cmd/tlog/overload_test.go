package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOverload: writers far beyond what the log takes get 429 (rate limit)
// or 503 (pushback), always with Retry-After, and every 200 is durable:
// after a kill -9 and a restart each acknowledged entry is at its index.
func TestOverload(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		want  int
	}{
		// 10× the allowed rate from one address.
		{"rate limit", []string{"--rate-limit", "200", "--rate-burst", "50"}, 429},
		// More writers than the pool holds and slow commits.
		{"pushback", []string{"--pool-size", "8", "--batch-size", "4", "--batch-age", "20ms"}, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			s := startServer(t, "overload", data, tc.flags...)
			var (
				mu    sync.Mutex
				acked = map[int64][]byte{}
				codes = map[int]int{}
				noRA  int
			)
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			deadline := time.Now().Add(2 * time.Second)
			var wg sync.WaitGroup
			for g := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; time.Now().Before(deadline); i++ {
						entry := []byte(fmt.Sprintf("overload %s %d %d", tc.name, g, i))
						resp, err := client.Post(s.url("/add"), "application/octet-stream", bytes.NewReader(entry))
						if err != nil {
							t.Error(err)
							return
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						mu.Lock()
						codes[resp.StatusCode]++
						switch resp.StatusCode {
						case 200:
							n, _ := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
							acked[n] = entry
						case 429, 503:
							if resp.Header.Get("Retry-After") == "" {
								noRA++
							}
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			t.Logf("answers %v", codes)
			if codes[tc.want] == 0 || codes[200] == 0 {
				t.Fatalf("answers %v: want both 200 and %d", codes, tc.want)
			}
			if noRA > 0 {
				t.Errorf("%d refusals without Retry-After", noRA)
			}
			for c := range codes {
				if c != 200 && c != 429 && c != 503 {
					t.Errorf("%d answers of status %d", codes[c], c)
				}
			}
			s.kill()
			s2 := startServer(t, "restart", data)
			size := s2.mustCheckpoint(s2.vkey).size
			entries, err := readEntries(s2, size)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range acked {
				if i >= size || !bytes.Equal(entries[i], e) {
					t.Fatalf("acknowledged entry %d lost after kill -9", i)
				}
			}
			if int64(len(acked)) != size {
				t.Errorf("tree size %d, %d acknowledged: an index was used by a refused write", size, len(acked))
			}
		})
	}
}
