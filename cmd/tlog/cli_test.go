package main

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/proofs"
)

func TestKeygenCheckpointVerifies(t *testing.T) {
	keys := t.TempDir()
	prefix := filepath.Join(keys, "k")

	r := runTlog(t, "keygen", "--origin", "example.com/test", "--out", prefix)
	if r.code != 0 {
		logResult(t, "keygen", r)
		t.Fatalf("keygen exited %d", r.code)
	}
	skey, err := os.ReadFile(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(prefix + ".key"); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o600 {
		t.Errorf("k.key has mode %v, want 0600", st.Mode().Perm())
	}
	if got := strings.TrimSpace(r.stdout); got != strings.TrimSpace(string(vkey)) {
		t.Errorf("keygen printed %q, k.pub holds %q", got, vkey)
	}
	// The key files are in the formats of x/mod's note package.
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatalf("x/mod rejects k.pub: %v", err)
	}
	ns, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatalf("x/mod rejects k.key: %v", err)
	}
	if v.Name() != "example.com/test" || ns.Name() != v.Name() || ns.KeyHash() != v.KeyHash() {
		t.Errorf("key names/IDs: signer %s %08x, verifier %s %08x; want both example.com/test", ns.Name(), ns.KeyHash(), v.Name(), v.KeyHash())
	}

	// Existing files are never overwritten.
	r = runTlog(t, "keygen", "--origin", "example.com/other", "--out", prefix)
	if r.code == 0 {
		logResult(t, "second keygen", r)
		t.Errorf("keygen over existing files exited 0")
	}
	if !strings.Contains(r.stderr, "already exists") {
		t.Errorf("keygen over existing files: stderr %q does not say the file exists", r.stderr)
	}
	// Also when only the .pub exists: the .key made on the way must not
	// stay behind, and the .pub must be untouched.
	if err := os.Rename(prefix+".key", prefix+".key.saved"); err != nil {
		t.Fatal(err)
	}
	r = runTlog(t, "keygen", "--origin", "example.com/other", "--out", prefix)
	if r.code == 0 {
		t.Errorf("keygen over an existing .pub exited 0")
	}
	if _, err := os.Stat(prefix + ".key"); !os.IsNotExist(err) {
		t.Errorf("keygen over an existing .pub left a new .key behind (stat: %v)", err)
	}
	for name, want := range map[string][]byte{".key.saved": skey, ".pub": vkey} {
		if got, err := os.ReadFile(prefix + name); err != nil || string(got) != string(want) {
			t.Errorf("k%s changed after a refused keygen: %q, %v", name, got, err)
		}
	}
	if err := os.Rename(prefix+".key.saved", prefix+".key"); err != nil {
		t.Fatal(err)
	}

	// A log signing with that key: its checkpoints verify with k.pub, name
	// the origin and count the entries.
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, "serve --key", data, "--key", prefix+".key")
	if s.vkey != strings.TrimSpace(string(vkey)) {
		t.Errorf("listening line has vkey %q, want %q", s.vkey, vkey)
	}
	var leaves []tlog.Hash
	for i := range 5 {
		e := []byte(fmt.Sprintf("entry %d of the keygen test", i))
		if got := s.mustAdd(e); got != int64(i) {
			t.Errorf("entry %d got index %d", i, got)
		}
		leaves = append(leaves, tlog.RecordHash(e))
	}
	code, body, h, err := s.get("/checkpoint")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /checkpoint: %d %v", code, err)
	}
	if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("checkpoint Content-Type %q", ct)
	}
	n, err := note.Open(body, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint does not verify with k.pub: %v\n%s", err, body)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 3 || lines[0] != "example.com/test" || lines[1] != "5" {
		t.Errorf("checkpoint text %q: want origin example.com/test and size 5", n.Text)
	}
	cp, err := openCheckpoint(body, strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	if want := merkleRoot(leaves); cp.root != want {
		t.Errorf("checkpoint root %v, RFC 6962 over the entries added gives %v", cp.root, want)
	}
	if got, err := tlog.TreeHash(cp.size, tlog.TileHashReader(tlog.Tree{N: cp.size, Hash: cp.root}, newHTTPTiles(s))); err != nil || got != cp.root {
		t.Errorf("x/mod TreeHash over the served tiles: %v, %v; want %v", got, err, cp.root)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("serve --key: exit %d after SIGTERM", code)
	}
	s.checkNoRace()

	// Without --key, the first start makes DATA/log.key and DATA/log.pub
	// and prints the public key.
	auto := filepath.Join(t.TempDir(), "auto")
	s1 := startServer(t, "first start", auto, "--origin", "example.com/auto")
	printed := strings.Fields(s1.stdout.String())
	if len(printed) == 0 {
		t.Fatalf("first start printed nothing")
	}
	if i := s1.mustAdd([]byte("first")); i != 0 {
		t.Errorf("first entry got index %d", i)
	}
	if cp, err := s1.fetchCheckpoint(printed[len(printed)-1]); err != nil || cp.size != 1 {
		t.Errorf("first start: checkpoint with the printed key %q: size %d, %v; want size 1", printed[len(printed)-1], cp.size, err)
	}
	if code := s1.stop(); code != 0 {
		t.Errorf("first start: exit %d after SIGTERM", code)
	}
	pub, err := os.ReadFile(filepath.Join(auto, "log.pub"))
	if err != nil {
		t.Fatalf("first start made no log.pub: %v", err)
	}
	pubKey := strings.TrimSpace(string(pub))
	if st, err := os.Stat(filepath.Join(auto, "log.key")); err != nil {
		t.Fatalf("first start made no log.key: %v", err)
	} else if st.Mode().Perm() != 0o600 {
		t.Errorf("log.key has mode %v, want 0600", st.Mode().Perm())
	}
	if !strings.HasPrefix(pubKey, "example.com/auto+") {
		t.Errorf("log.pub %q is not a key named example.com/auto", pubKey)
	}
	if !strings.Contains(s1.stdout.String(), pubKey) {
		t.Errorf("first start did not print the public key %q; stdout: %q", pubKey, s1.stdout.String())
	}
	if s1.vkey != pubKey {
		t.Errorf("first start listens with vkey %q, log.pub holds %q", s1.vkey, pubKey)
	}
	s1.checkNoRace()

	// The second start reuses it and prints nothing.
	s2 := startServer(t, "second start", auto)
	if s2.vkey != pubKey {
		t.Errorf("second start listens with vkey %q, want the first start's %q", s2.vkey, pubKey)
	}
	if i := s2.mustAdd([]byte("second")); i != 1 {
		t.Errorf("second entry got index %d", i)
	}
	if cp := s2.mustCheckpoint(pubKey); cp.size != 2 {
		t.Errorf("second start: checkpoint size %d, want 2", cp.size)
	}
	if code := s2.stop(); code != 0 {
		t.Errorf("second start: exit %d after SIGTERM", code)
	}
	if out := s2.stdout.String(); out != "" {
		t.Errorf("second start printed %q; want nothing (no new key)", out)
	}
	if got, _ := os.ReadFile(filepath.Join(auto, "log.pub")); string(got) != string(pub) {
		t.Errorf("log.pub changed on the second start: %q", got)
	}
	s2.checkNoRace()

	// --origin naming another log than the existing key fails clearly.
	r = expectServeFails(t, "serve --origin other", auto, "--origin", "other")
	if r.code == 0 || !strings.Contains(r.stderr, `"other"`) || !strings.Contains(r.stderr, "example.com/auto") {
		logResult(t, "serve --origin other", r)
		t.Errorf("serve --origin other with a key named example.com/auto: want a failure naming both")
	}
	// And a store created with one key refuses another.
	r = expectServeFails(t, "serve with another key", auto, "--key", prefix+".key")
	if r.code == 0 || !strings.Contains(r.stderr, "refusing") {
		logResult(t, "serve with another key", r)
		t.Errorf("serve with a key other than the store's: want a failure that refuses to sign")
	}
}

// expectServeFails runs "tlog serve" on dir; it must exit without ever
// listening. It returns the exit code and output.
func expectServeFails(t *testing.T, name, dir string, extra ...string) result {
	t.Helper()
	s, err := tryStartServer(t, name, dir, extra...)
	if err == nil {
		s.stop()
		t.Fatalf("%s: started listening on %s; want a refusal", name, s.addr)
	}
	if _, ok := s.waitExit(exitTimeout); !ok {
		t.Fatalf("%s: %v", name, err)
	}
	if strings.Contains(s.stderr.String(), "DATA RACE") {
		t.Errorf("%s: the race detector reported a data race", name)
	}
	return result{code: s.state.ExitCode(), stdout: s.stdout.String(), stderr: s.stderr.String()}
}

func TestSecondProcessRefused(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	first := startServer(t, "first", data, "--origin", "example.com/locked")
	before := first.mustAdd([]byte("before the second process"))

	r := expectServeFails(t, "second", data)
	if r.code == 0 || !strings.Contains(r.stderr, "in use") {
		logResult(t, "second serve", r)
		t.Errorf("second serve on a data directory in use: exit %d; want non-zero and a message that the directory is in use", r.code)
	}
	r = runTlog(t, "fsck", "--data", data)
	if r.code == 0 || !strings.Contains(r.stderr, "in use") {
		logResult(t, "fsck", r)
		t.Errorf("fsck while the server runs: exit %d; want non-zero and a message that the directory is in use", r.code)
	}

	// The refused processes left the running log alone.
	after := first.mustAdd([]byte("after the second process"))
	if after != before+1 {
		t.Errorf("indices %d then %d; want consecutive", before, after)
	}
	if cp := first.mustCheckpoint(first.vkey); cp.size != after+1 {
		t.Errorf("checkpoint size %d, want %d", cp.size, after+1)
	}
	if code := first.stop(); code != 0 {
		t.Errorf("first: exit %d after SIGTERM", code)
	}
	first.checkNoRace()
	if r := runTlog(t, "fsck", "--data", data); r.code != 0 {
		logResult(t, "fsck after stop", r)
		t.Errorf("fsck after the server stopped: exit %d", r.code)
	}
}

func TestFsckCLI(t *testing.T) {
	const entries = 300
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, "serve", data, "--origin", "example.com/fsck")
	vkey := s.vkey

	// Add the entries from a few writers, so that they batch.
	var (
		wg     sync.WaitGroup
		work   = make(chan int)
		mu     sync.Mutex
		byIdx  = make(map[int64][]byte)
		failed = make(chan error, entries)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				e := []byte(fmt.Sprintf("fsck test entry %d", i))
				idx, err := s.add(t.Context(), e)
				if err != nil {
					failed <- err
					continue
				}
				mu.Lock()
				byIdx[idx] = e
				mu.Unlock()
			}
		}()
	}
	for i := range entries {
		work <- i
	}
	close(work)
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Fatalf("POST /add: %v", err)
	}
	if len(byIdx) != entries {
		t.Fatalf("%d distinct indices for %d distinct entries", len(byIdx), entries)
	}
	cp := s.mustCheckpoint(vkey)
	if cp.size != entries {
		t.Fatalf("checkpoint size %d, want %d", cp.size, entries)
	}

	if code := s.stop(); code != 0 {
		t.Errorf("serve: exit %d after SIGTERM, want 0", code)
	}
	if kv := s.logRecord("stopped"); kv == nil || kv["size"] != fmt.Sprint(entries) {
		t.Errorf("no \"stopped\" log line with size=%d: %v", entries, kv)
	}
	s.checkNoRace()

	fsckOK := func(when string) {
		t.Helper()
		r := runTlog(t, "fsck", "--data", data)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "ok:") {
			logResult(t, "fsck "+when, r)
			t.Fatalf("fsck %s: exit %d; want 0 and a line starting with ok:", when, r.code)
		}
		if !strings.Contains(r.stdout, fmt.Sprintf(" %d entries", entries)) {
			t.Errorf("fsck %s: %q does not count %d entries", when, r.stdout, entries)
		}
	}
	fsckFails := func(what, wantIndex string) {
		t.Helper()
		r := runTlog(t, "fsck", "--data", data)
		if r.code != 1 || !strings.Contains(r.stderr, "index "+wantIndex+":") {
			logResult(t, "fsck after "+what, r)
			t.Errorf("fsck after %s: exit %d; want 1 and a message naming index %s", what, r.code, wantIndex)
		}
	}
	fsckOK("of a clean store")

	store := filepath.Join(data, "store")
	entryKey := binary.BigEndian.AppendUint64([]byte{'e'}, 137)
	restore := flipByte(t, store, entryKey)
	fsckFails("flipping a byte of entry 137", "137")
	restore()

	// Node 3/5 is the hash of entries 40…47.
	nodeKey := binary.BigEndian.AppendUint64([]byte{'h', 3}, 5)
	restore = flipByte(t, store, nodeKey)
	fsckFails("flipping a byte of node 3/5", "40")
	restore()
	fsckOK("after restoring")

	// A damaged right edge of the tree: the server recomputes the root
	// from it on start and must refuse to sign anything more.
	edge := proofs.RightEdge(uint64(cp.size))[0]
	edgeKey := binary.BigEndian.AppendUint64([]byte{'h', byte(edge.Level)}, edge.Index)
	restore = flipByte(t, store, edgeKey)
	r := expectServeFails(t, "serve on a damaged right edge", data)
	if r.code == 0 || !strings.Contains(r.stderr, "refusing") {
		logResult(t, "serve on a damaged right edge", r)
		t.Errorf("serve with node %d/%d of the right edge flipped: exit %d; want non-zero and a message containing \"refusing\"", edge.Level, edge.Index, r.code)
	}
	fsckFails(fmt.Sprintf("flipping node %d/%d", edge.Level, edge.Index), fmt.Sprint(edge.Index<<edge.Level))
	restore()

	// Restored, the log starts again with the same tree.
	s = startServer(t, "serve after restoring", data)
	if got := s.mustCheckpoint(vkey); got.size != cp.size || got.root != cp.root {
		t.Errorf("after restoring: checkpoint %d %v, want %d %v", got.size, got.root, cp.size, cp.root)
	}
	if th, err := tlog.TreeHash(cp.size, tlog.TileHashReader(tlog.Tree{N: cp.size, Hash: cp.root}, newHTTPTiles(s))); err != nil || th != cp.root {
		t.Errorf("after restoring: x/mod TreeHash over the served tiles: %v, %v; want %v", th, err, cp.root)
	}
	if i := s.mustAdd(byIdx[137]); i != 137 {
		t.Errorf("after restoring: re-POST of entry 137 got index %d", i)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("serve after restoring: exit %d after SIGTERM", code)
	}
	s.checkNoRace()
	fsckOK("at the end")
}

// flipByte flips one bit of the value under key in the stopped Pebble store
// at dir, and returns a function that writes the original value back.
func flipByte(t *testing.T, dir string, key []byte) (restore func()) {
	t.Helper()
	var orig []byte
	update(t, dir, func(db *pebble.DB) {
		v, closer, err := db.Get(key)
		if err != nil {
			t.Fatalf("reading key %x: %v", key, err)
		}
		orig = append([]byte(nil), v...)
		closer.Close()
		bad := append([]byte(nil), orig...)
		bad[len(bad)/2] ^= 0x01
		if err := db.Set(key, bad, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	return func() {
		t.Helper()
		update(t, dir, func(db *pebble.DB) {
			if err := db.Set(key, orig, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func update(t *testing.T, dir string, f func(db *pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{t}, ErrorIfNotExists: true})
	if err != nil {
		t.Fatalf("opening the store offline: %v", err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	f(db)
}

// pebbleLogger sends Pebble's errors to t.Log and drops its chatter.
type pebbleLogger struct{ t *testing.T }

func (l pebbleLogger) Infof(format string, args ...any)  {}
func (l pebbleLogger) Errorf(format string, args ...any) { l.t.Logf("pebble: "+format, args...) }
func (l pebbleLogger) Fatalf(format string, args ...any) { l.t.Fatalf("pebble: "+format, args...) }

// TestSigtermRightAfterListening stops servers as soon as they say they are
// listening, as a supervisor may: SIGTERM must then be a graceful stop
// (exit 0, "stopped"), not the signal's default action.
func TestSigtermRightAfterListening(t *testing.T) {
	const (
		attempts = 50
		budget   = 5 * time.Second
	)
	data := filepath.Join(t.TempDir(), "data")
	start := time.Now()
	for i := 0; i < attempts && time.Since(start) < budget; i++ {
		s := startServer(t, fmt.Sprintf("start %d", i), data, "--origin", "example.com/sigterm")
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code, ok := s.waitExit(exitTimeout)
		if !ok {
			t.Fatalf("%s: did not exit within %v of SIGTERM", s.name, exitTimeout)
		}
		if code != 0 || s.logRecord("stopped") == nil {
			t.Fatalf("%s: SIGTERM right after the \"listening\" line ended the process with %v and no \"stopped\" line; want exit 0 after a graceful stop", s.name, s.state)
		}
		s.checkNoRace()
		s.quiet = true
	}
}
