package api

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/internal/faultfs"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

type testServer struct {
	*httptest.Server
	log    *log.Log
	signer *signer.Signer
	fs     *faultfs.FS
}

// newServer runs the API over a log on an in-memory filesystem, on
// 127.0.0.1 and a port the kernel picks.
func newServer(t *testing.T, mod func(*log.Config)) *testServer {
	t.Helper()
	skey, _, err := signer.GenerateKey(rand.Reader, "example.com/api-test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	fs := faultfs.New(vfs.NewMem())
	logger := slog.New(slog.NewTextHandler(tWriter{t}, nil))
	cfg := log.Config{Dir: "/log", FS: fs, Signer: s, Logger: logger}
	if mod != nil {
		mod(&cfg)
	}
	l, err := log.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(New(Config{Log: l, Logger: logger}))
	t.Cleanup(func() {
		fs.Resume()
		ts.Close()
		l.Close()
	})
	return &testServer{Server: ts, log: l, signer: s, fs: fs}
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSuffix(p, []byte("\n"))))
	return len(p), nil
}

func (ts *testServer) do(t *testing.T, method, path string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (ts *testServer) add(t *testing.T, entry []byte) uint64 {
	t.Helper()
	resp, body := ts.do(t, http.MethodPost, "/add", bytes.NewReader(entry))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /add: %d %s", resp.StatusCode, body)
	}
	first, _, _ := strings.Cut(string(body), "\n")
	i, err := strconv.ParseUint(first, 10, 64)
	if err != nil {
		t.Fatalf("POST /add answered %q", body)
	}
	return i
}

// checkpoint fetches /checkpoint and verifies it with x/mod's note package.
func (ts *testServer) checkpoint(t *testing.T) (tlog.Tree, []byte) {
	t.Helper()
	resp, body := ts.do(t, http.MethodGet, "/checkpoint", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /checkpoint: %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Fatalf("checkpoint Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-") {
		t.Fatalf("checkpoint Cache-Control %q allows caching", cc)
	}
	v, err := note.NewVerifier(ts.signer.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(body, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint does not verify with x/mod: %v\n%s", err, body)
	}
	return checkpointTree(t, n, ts.signer.Name()), body
}

// checkpointTree parses the text of an opened checkpoint note of origin
// (origin, size, root hash) into x/mod's tlog.Tree.
func checkpointTree(t *testing.T, n *note.Note, origin string) tlog.Tree {
	t.Helper()
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != origin || lines[3] != "" {
		t.Fatalf("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	return tlog.Tree{N: size, Hash: h}
}

// tileReader fetches C2SP tiles over HTTP for x/mod's TileHashReader. The
// paths have no height segment; the bytes are those of x/mod's height-8
// tiles.
type tileReader struct {
	t  *testing.T
	ts *testServer
}

func (r tileReader) Height() int { return 8 }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, xt := range tiles {
		path := "/" + proofs.Tile{Level: uint8(xt.L), Index: uint64(xt.N), Width: uint16(xt.W)}.Path()
		resp, body := r.ts.do(r.t, http.MethodGet, path, nil)
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		out[i] = body
	}
	return out, nil
}

func (r tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func testEntry(i int) []byte {
	// Varied lengths, up to a few hundred bytes.
	return append(bytes.Repeat([]byte{byte(i)}, i%257), fmt.Sprintf("api test entry %d", i)...)
}

// parseBundle splits an entry bundle.
func parseBundle(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("truncated bundle")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			t.Fatalf("truncated bundle entry")
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}
