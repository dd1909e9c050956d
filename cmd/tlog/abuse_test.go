package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The abuse tests run a default tlog serve (no flag beyond --data and
// --listen) under hostile load, and check that its peak RSS (VmHWM) stays
// under abuseRSSLimit while a normal client is still served. Each logs the
// peak and the normal client's p99.
const abuseRSSLimit = 1 << 30

// vmHWM reads a process's peak resident set size.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// normalClient adds small entries one at a time until stop closes, and
// returns its latencies of 200 answers and the count of others.
func normalClient(s *server, stop <-chan struct{}) (lat []time.Duration, failed int) {
	c := &http.Client{Timeout: 30 * time.Second}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return lat, failed
		default:
		}
		start := time.Now()
		resp, err := c.Post(s.url("/add"), "application/octet-stream", strings.NewReader(fmt.Sprintf("normal client %d %d", i, time.Now().UnixNano())))
		if err != nil {
			failed++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			lat = append(lat, time.Since(start))
		} else {
			failed++
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}

// attack runs n concurrent POSTs of body to path while a normal client
// writes, and checks the server's peak RSS and that the client was served.
func attack(t *testing.T, s *server, path, contentType string, n int, body func(i int) []byte) (codes map[int]int, served int) {
	t.Helper()
	stop := make(chan struct{})
	var lat []time.Duration
	var failed int
	done := make(chan struct{})
	go func() { lat, failed = normalClient(s, stop); close(done) }()
	time.Sleep(100 * time.Millisecond)

	var mu sync.Mutex
	codes = map[int]int{}
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 2 * time.Minute}
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Post(s.url(path), contentType, bytes.NewReader(body(i)))
			code := 0
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	<-done
	peak := vmHWM(t, s.cmd.Process.Pid)
	t.Logf("%d × %s: answers %v in %v; peak RSS %.0f MiB; normal client: %d served, %d not, p99 %v",
		n, path, codes, took.Round(time.Millisecond), float64(peak)/(1<<20), len(lat), failed, p99(lat))
	if peak > abuseRSSLimit {
		t.Errorf("peak RSS %d MiB, over the %d MiB budget", peak>>20, abuseRSSLimit>>20)
	}
	if len(lat) == 0 || failed > len(lat)/10 {
		t.Errorf("the normal client was not served: %d ok, %d failed", len(lat), failed)
	}
	if codes[500] > 0 || codes[0] > 0 {
		t.Errorf("5xx or dropped connections under attack: %v", codes)
	}
	return codes, len(lat)
}

// maxDecisionBatch is a 32 MiB NDJSON body of 10,000 lines of about 3.3
// KiB, valid records or not.
func maxDecisionBatch(seed int, valid bool) []byte {
	var b bytes.Buffer
	pad := strings.Repeat("p", 3000)
	var labels strings.Builder
	for j := range 11 {
		if j > 0 {
			labels.WriteString(",")
		}
		fmt.Fprintf(&labels, `"l%d":"%s"`, j, strings.Repeat("v", 250))
	}
	for i := range 10000 {
		if valid {
			fmt.Fprintf(&b, `{"system":"abuse","decision_id":"d-%d-%d","time":"2026-11-27T08:00:00Z","model":{"name":"acme/m","version":"1"},"outcome":"ok","labels":{%s},"commitments":{"input":"sha256:%064x","output":"sha256:%064x"}}`+"\n", seed, i, labels.String(), i, i)
		} else {
			fmt.Fprintf(&b, `{"system":"abuse","decision_id":"d-%d-%d","unknown_field":"%s"}`+"\n", seed, i, pad)
		}
	}
	return b.Bytes()
}

func TestAbuseDecisionBatches(t *testing.T) {
	for _, valid := range []bool{false, true} {
		t.Run(fmt.Sprintf("valid=%v", valid), func(t *testing.T) {
			s := startServer(t, "abuse", filepath.Join(t.TempDir(), "data"))
			bodies := make([][]byte, 32)
			for i := range bodies {
				bodies[i] = maxDecisionBatch(i, valid)
			}
			codes, served := attack(t, s, "/api/v1/decisions?receipts=compact", "application/x-ndjson", 32, func(i int) []byte { return bodies[i] })
			want := 400
			if valid {
				want = 200
			}
			if codes[want] == 0 {
				t.Errorf("no %d among %v", want, codes)
			}
			// Every accepted batch is logged whole.
			size := s.mustCheckpoint(s.vkey).size
			if valid && size != int64(codes[200]*10000+served) || !valid && size != int64(served) {
				t.Errorf("tree size %d after %d accepted batches", size, codes[200])
			}
		})
	}
}

// signedSubmission wraps a statement in a DSSE envelope signed by a fresh
// Ed25519 key: anyone may do this against an open log.
func signedSubmission(t *testing.T, statement []byte) []byte {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	pt := "application/vnd.in-toto+json"
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(pt), pt, len(statement), statement)
	sig := ed25519.Sign(priv, []byte(pae))
	env, _ := json.Marshal(map[string]any{
		"payloadType": pt,
		"payload":     base64.StdEncoding.EncodeToString(statement),
		"signatures":  []map[string]string{{"sig": base64.StdEncoding.EncodeToString(sig)}},
	})
	der, _ := x509.MarshalPKIXPublicKey(pub)
	b, _ := json.Marshal(map[string]any{"envelope": json.RawMessage(env), "public_key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	return b
}

func hostileStatement(shape string, size int) []byte {
	head := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"acme/x","digest":{"sha256":"` + strings.Repeat("a", 64) + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":`
	var p strings.Builder
	switch shape {
	case "huge string":
		p.WriteString(`{"s":"` + strings.Repeat("x", size) + `"}`)
	case "many keys":
		p.WriteString("{")
		for i := 0; p.Len() < size; i++ {
			if i > 0 {
				p.WriteString(",")
			}
			p.WriteString(`"` + strconv.FormatInt(int64(i), 36) + `":0`)
		}
		p.WriteString("}")
	case "deep nesting":
		n := size / 2
		p.WriteString(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	return []byte(head + p.String() + "}")
}

func TestAbuseAttestations(t *testing.T) {
	for _, shape := range []string{"huge string", "many keys", "deep nesting"} {
		t.Run(shape, func(t *testing.T) {
			s := startServer(t, "abuse", filepath.Join(t.TempDir(), "data"))
			// 6 MiB of statement: 8 MiB of body once base64-encoded.
			body := signedSubmission(t, hostileStatement(shape, 6<<20-300))
			if len(body) > 8<<20 {
				body = signedSubmission(t, hostileStatement(shape, 6<<20-(len(body)-8<<20)-600))
			}
			_, served := attack(t, s, "/api/v1/attestations", "application/json", 32, func(int) []byte { return body })
			// The same signed statement is one entry (others answered as
			// its duplicates), or none if refused.
			if size := s.mustCheckpoint(s.vkey).size; size > int64(served)+1 {
				t.Errorf("tree size %d after one hostile attestation sent 32 times", size)
			}
		})
	}
}

// TestAbuseSlowloris: 500 connections that send headers a byte at a time
// do not keep a normal client from being served, and are cut off.
func TestAbuseSlowloris(t *testing.T) {
	s := startServer(t, "slowloris", filepath.Join(t.TempDir(), "data"))
	var conns []net.Conn
	for range 500 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("POST /add HTTP/1.1\r\nHost: x\r\n"))
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			for _, c := range conns {
				c.Write([]byte("X"))
			}
		}
	}()
	time.AfterFunc(3*time.Second, func() { close(stop) })
	lat, failed := normalClient(s, stop)
	peak := vmHWM(t, s.cmd.Process.Pid)
	t.Logf("500 slowloris connections: normal client %d served, %d not, p99 %v; peak RSS %.0f MiB", len(lat), failed, p99(lat), float64(peak)/(1<<20))
	if len(lat) == 0 || failed > 0 {
		t.Errorf("normal client under slowloris: %d ok, %d failed", len(lat), failed)
	}
	if peak > abuseRSSLimit {
		t.Errorf("peak RSS %d MiB", peak>>20)
	}
	// The header timeout (10 s) cuts them: a read sees the close.
	conns[0].SetReadDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 512)
	_, err := conns[0].Read(buf)
	for err == nil {
		_, err = conns[0].Read(buf)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("a slowloris connection was not cut within 15 s")
	}
}
