package main

// End-to-end tests of the tlog command. TestMain builds the real binary
// once; every test runs it as a child process, talks to it over HTTP on
// 127.0.0.1 and checks what it serves against independent oracles:
// golang.org/x/mod/sumdb/note for signatures and golang.org/x/mod/sumdb/tlog
// for the Merkle math, fed by tiles fetched over HTTP.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tlogBin is the binary under test, built by TestMain.
var tlogBin string

// Bounds on how long child processes may take. They are failure bounds, not
// synchronisation: tests poll and wait for events, and only give up after
// these.
const (
	// startTimeout: from exec to the "listening" log line, which includes
	// opening Pebble and re-verifying the right edge of the tree.
	startTimeout = 15 * time.Second
	// exitTimeout: from a signal, or from exec of a command that must fail,
	// to the process exit.
	exitTimeout = 10 * time.Second
	// httpTimeout: one request, including the fsync of its batch.
	httpTimeout = 10 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tlog-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "couldn't make a temporary directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	tlogBin = filepath.Join(dir, "tlog")
	args := []string{"build", "-o", tlogBin}
	if raceEnabled {
		// A data race in the server is a bug the race detector can only
		// see if the server itself is instrumented.
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool(), append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "couldn't build tlog: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// goTool returns the go command of the toolchain running the tests.
func goTool() string {
	name := "go"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}

// childEnv is the environment of child processes: ours, without the local
// profiling hook (which would bind a port of its own).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TLOG_PPROF=") {
			env = append(env, kv)
		}
	}
	return env
}

// lockedBuffer is a bytes.Buffer safe for a writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logWatcher collects a server's stderr and reports the first "listening"
// line. slog's text handler writes one record per Write call.
type logWatcher struct {
	lockedBuffer
	partial   []byte // an unterminated line, should a record ever be split
	once      sync.Once
	listening chan map[string]string
}

func (w *logWatcher) Write(p []byte) (int, error) {
	n, err := w.lockedBuffer.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if kv := parseLogfmt(line); kv["msg"] == "listening" {
			w.once.Do(func() { w.listening <- kv })
		}
	}
	return n, err
}

// parseLogfmt parses a line of slog's text format: key=value pairs
// separated by spaces, values quoted in Go syntax when they need it.
func parseLogfmt(line string) map[string]string {
	kv := make(map[string]string)
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimLeft(line, " ") {
		key, rest, ok := strings.Cut(line, "=")
		if !ok {
			return kv
		}
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return kv
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			val, rest, _ = strings.Cut(rest, " ")
		}
		kv[key] = val
		line = rest
	}
	return kv
}

// server is a running "tlog serve" child process.
type server struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *logWatcher
	exited chan struct{} // closed when the process has exited and its output is read
	state  *os.ProcessState

	// From the "listening" log line.
	addr   string // host:port
	vkey   string
	origin string

	client *http.Client
	// quiet keeps this server's output out of the log of a failed test,
	// for tests that run many servers.
	quiet bool
}

// startServer runs "tlog serve --data dir --listen 127.0.0.1:0 extra..." and
// waits for its "listening" line. The process is killed at the end of the
// test if still running, and its output goes to t.Log if the test failed.
func startServer(t testing.TB, name, dir string, extra ...string) *server {
	t.Helper()
	s, err := tryStartServer(t, name, dir, extra...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// tryStartServer is startServer returning the error of a server that exits
// or says nothing instead of listening.
func tryStartServer(t testing.TB, name, dir string, extra ...string) (*server, error) {
	args := append([]string{"serve", "--data", dir, "--listen", "127.0.0.1:0"}, extra...)
	s := &server{
		t:      t,
		name:   name,
		cmd:    exec.Command(tlogBin, args...),
		stdout: new(lockedBuffer),
		stderr: &logWatcher{listening: make(chan map[string]string, 1)},
		exited: make(chan struct{}),
	}
	s.cmd.Env = childEnv()
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("couldn't start tlog serve: %v", err)
	}
	go func() {
		s.cmd.Wait() // the exit status is in ProcessState
		s.state = s.cmd.ProcessState
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() && !s.quiet {
			s.dumpOutput()
		}
	})
	select {
	case kv := <-s.stderr.listening:
		s.addr, s.vkey, s.origin = kv["addr"], kv["vkey"], kv["origin"]
	case <-s.exited:
		return s, fmt.Errorf("tlog serve exited (%v) before listening; stderr:\n%s", s.state, s.stderr.String())
	case <-time.After(startTimeout):
		return s, fmt.Errorf("tlog serve did not log \"listening\" within %v; stderr:\n%s", startTimeout, s.stderr.String())
	}
	if !strings.HasPrefix(s.addr, "127.0.0.1:") {
		return s, fmt.Errorf("listening on %q, want 127.0.0.1:<port>", s.addr)
	}
	s.client = &http.Client{
		Timeout:   httpTimeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}
	return s, nil
}

func (s *server) dumpOutput() {
	s.t.Logf("--- %s stdout:\n%s", s.name, s.stdout.String())
	s.t.Logf("--- %s stderr:\n%s", s.name, s.stderr.String())
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// exitedEarly reports whether the process has already exited.
func (s *server) exitedEarly() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
}

// stop sends SIGTERM and returns the exit code, or fails the test if the
// process does not exit within exitTimeout.
func (s *server) stop() int {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatalf("%s: SIGTERM: %v", s.name, err)
	}
	code, ok := s.waitExit(exitTimeout)
	if !ok {
		s.t.Fatalf("%s: did not exit within %v of SIGTERM", s.name, exitTimeout)
	}
	return code
}

// waitExit waits up to d for the process to exit and returns its exit code
// (-1 if a signal ended it).
func (s *server) waitExit(d time.Duration) (int, bool) {
	select {
	case <-s.exited:
	case <-time.After(d):
		return 0, false
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	return s.state.ExitCode(), true
}

// checkNoRace fails the test if a race-instrumented server reported a race.
func (s *server) checkNoRace() {
	s.t.Helper()
	if strings.Contains(s.stderr.String(), "DATA RACE") {
		s.t.Errorf("%s: the race detector reported a data race", s.name)
	}
}

// errNotAcked is an /add answer other than 200 with an index.
var errNotAcked = errors.New("not acknowledged")

// add POSTs an entry to /add and returns the index of a 200 answer.
func (s *server) add(ctx context.Context, entry []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url("/add"), bytes.NewReader(entry))
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%w: %s: %q", errNotAcked, resp.Status, body)
	}
	first, _, _ := strings.Cut(string(body), "\n")
	i, err := strconv.ParseInt(first, 10, 64)
	if err != nil || i < 0 || strconv.FormatInt(i, 10) != first {
		return 0, fmt.Errorf("200 answer %q does not start with a decimal index", body)
	}
	return i, nil
}

// mustAdd adds an entry and fails the test unless it is acknowledged.
func (s *server) mustAdd(entry []byte) int64 {
	s.t.Helper()
	i, err := s.add(context.Background(), entry)
	if err != nil {
		s.t.Fatalf("%s: POST /add: %v", s.name, err)
	}
	return i
}

// get fetches a path and returns the status and body.
func (s *server) get(path string) (int, []byte, http.Header, error) {
	resp, err := s.client.Get(s.url(path))
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// checkpoint is an opened, parsed checkpoint.
type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
	note   []byte
}

// fetchCheckpoint GETs /checkpoint and verifies it with the verifier key
// string vkey.
func (s *server) fetchCheckpoint(vkey string) (checkpoint, error) {
	code, body, _, err := s.get("/checkpoint")
	if err != nil {
		return checkpoint{}, err
	}
	if code != http.StatusOK {
		return checkpoint{}, fmt.Errorf("GET /checkpoint: %d %q", code, body)
	}
	return openCheckpoint(body, vkey)
}

func (s *server) mustCheckpoint(vkey string) checkpoint {
	s.t.Helper()
	c, err := s.fetchCheckpoint(vkey)
	if err != nil {
		s.t.Fatalf("%s: %v", s.name, err)
	}
	return c
}

// openCheckpoint verifies a checkpoint note with x/mod's note package and
// parses its text (c2sp.org/tlog-checkpoint).
func openCheckpoint(msg []byte, vkey string) (checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return checkpoint{}, fmt.Errorf("verifier key %q: %v", vkey, err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint does not verify: %v\n%s", err, msg)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return checkpoint{}, fmt.Errorf("checkpoint text is not three lines: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("checkpoint size %q is not a canonical decimal", lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("checkpoint root %q is not 32 bytes of base64", lines[2])
	}
	if lines[0] != v.Name() {
		return checkpoint{}, fmt.Errorf("checkpoint origin %q is not the key name %q", lines[0], v.Name())
	}
	c := checkpoint{origin: lines[0], size: size, note: msg}
	copy(c.root[:], h)
	return c, nil
}

// c2spTilePath turns an x/mod tile into its c2sp.org/tlog-tiles path. x/mod
// writes the same index encoding but with a height segment ("tile/8/…") and
// "data" for entries; the C2SP paths have no height and say "entries".
func c2spTilePath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/"+strconv.Itoa(t.H)+"/")
	if rest, ok := strings.CutPrefix(p, "data/"); ok {
		return "/tile/entries/" + rest
	}
	return "/tile/" + p
}

// httpTiles is a tlog.TileReader over a server's C2SP tile endpoints. It
// caches what it fetched: use one per tree.
type httpTiles struct {
	s     *server
	mu    sync.Mutex
	cache map[tlog.Tile][]byte
}

func newHTTPTiles(s *server) *httpTiles {
	return &httpTiles{s: s, cache: make(map[tlog.Tile][]byte)}
}

func (r *httpTiles) Height() int { return 8 }

func (r *httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.readTile(t, tlog.HashSize)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (r *httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// readTile fetches a hash tile (itemSize 32) or an entry bundle (itemSize
// 0: variable). A partial tile that 404s is fetched full and cut, as
// c2sp.org/tlog-tiles clients do.
func (r *httpTiles) readTile(t tlog.Tile, itemSize int) ([]byte, error) {
	r.mu.Lock()
	b, ok := r.cache[t]
	r.mu.Unlock()
	if ok {
		return b, nil
	}
	code, b, _, err := r.s.get(c2spTilePath(t))
	if err != nil {
		return nil, err
	}
	if code == http.StatusNotFound && t.W < 1<<t.H {
		full := t
		full.W = 1 << t.H
		if code, b, _, err = r.s.get(c2spTilePath(full)); err != nil {
			return nil, err
		}
		if code == http.StatusOK && itemSize > 0 && len(b) >= t.W*itemSize {
			b = b[:t.W*itemSize]
		}
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %q", c2spTilePath(t), code, b)
	}
	if itemSize > 0 && len(b) != t.W*itemSize {
		return nil, fmt.Errorf("GET %s: %d bytes, want %d", c2spTilePath(t), len(b), t.W*itemSize)
	}
	r.mu.Lock()
	r.cache[t] = b
	r.mu.Unlock()
	return b, nil
}

// readEntries reads entries [0, size) through the entry bundles.
func readEntries(s *server, size int64) ([][]byte, error) {
	r := newHTTPTiles(s)
	var entries [][]byte
	for n := int64(0); n*256 < size; n++ {
		w := int(min(256, size-n*256))
		t := tlog.Tile{H: 8, L: -1, N: n, W: w}
		b, err := r.readTile(t, 0)
		if err != nil {
			return nil, err
		}
		bundle, err := parseBundle(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", c2spTilePath(t), err)
		}
		if len(bundle) != w {
			return nil, fmt.Errorf("%s: %d entries, want %d", c2spTilePath(t), len(bundle), w)
		}
		entries = append(entries, bundle...)
	}
	return entries, nil
}

// parseBundle splits an entry bundle: big-endian uint16 length, bytes.
func parseBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, errors.New("truncated entry")
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out, nil
}

// merkleRoot is a direct transcription of RFC 6962 §2.1 MTH over leaf
// hashes, the slow oracle for trees the tests build.
func merkleRoot(leaves []tlog.Hash) tlog.Hash {
	switch len(leaves) {
	case 0:
		return tlog.Hash{0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
			0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55}
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(merkleRoot(leaves[:k]), merkleRoot(leaves[k:]))
}

// result is the outcome of a finished command.
type result struct {
	code           int
	stdout, stderr string
}

// runTlog runs a tlog command that must finish within exitTimeout.
func runTlog(t testing.TB, args ...string) result {
	t.Helper()
	return runBin(t, tlogBin, "tlog", args...)
}

// runBin runs a command of a binary built for the tests (tlog, witness)
// that must finish within exitTimeout, and fails the test on a data race.
func runBin(t testing.TB, bin, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not exit within %v; stdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), exitTimeout, &stdout, &stderr)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	r := result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	if strings.Contains(r.stderr, "DATA RACE") {
		t.Errorf("%s %s: the race detector reported a data race:\n%s", name, strings.Join(args, " "), r.stderr)
	}
	return r
}

// logResult writes a command's output to t.Log.
func logResult(t testing.TB, what string, r result) {
	t.Helper()
	t.Logf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, r.code, r.stdout, r.stderr)
}

// logRecord returns the last log record of the server with the given msg,
// or nil.
func (s *server) logRecord(msg string) map[string]string {
	var rec map[string]string
	sc := bufio.NewScanner(strings.NewReader(s.stderr.String()))
	for sc.Scan() {
		if kv := parseLogfmt(sc.Text()); kv["msg"] == msg {
			rec = kv
		}
	}
	return rec
}
