package main

// End-to-end tests of the proof commands: tlog get, prove, verify and
// consistency, run as child processes against real "tlog serve" processes.
// The oracles are the entries the tests added (a reference tree over their
// leaf hashes), golang.org/x/mod/sumdb/tlog for the Merkle math and
// golang.org/x/mod/sumdb/note for signatures.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// proofLog is a running log for the proof command tests, with a key made by
// tlog keygen and the entries the test added, in index order.
type proofLog struct {
	t       *testing.T
	s       *server
	dir     string // scratch directory for entry and proof files
	keyFile string // the signer key, from tlog keygen
	pubFile string // its verifier key file
	vkey    string // the verifier key string
	origin  string
	entries [][]byte // index → entry, from the answers of POST /add
}

// quickRaceExit keeps race-instrumented child processes from sleeping at
// exit: the race runtime waits atexit_sleep_ms (1 s by default) before it
// exits, which would make each of the many short commands of these tests
// take a second. Races are still reported while a process runs.
func quickRaceExit(t *testing.T) {
	if raceEnabled {
		t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
}

// runKeygen runs tlog keygen into dir and returns the paths of the .key and
// .pub files and the verifier key.
func runKeygen(t *testing.T, dir, origin, name string) (keyFile, pubFile, vkey string) {
	t.Helper()
	prefix := filepath.Join(dir, name)
	r := runTlog(t, "keygen", "--origin", origin, "--out", prefix)
	if r.code != 0 {
		logResult(t, "keygen", r)
		t.Fatalf("tlog keygen exited %d", r.code)
	}
	pub, err := os.ReadFile(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return prefix + ".key", prefix + ".pub", strings.TrimSpace(string(pub))
}

// startProofLog makes a key with tlog keygen and starts a log with it.
func startProofLog(t *testing.T, origin string, extra ...string) *proofLog {
	t.Helper()
	quickRaceExit(t)
	dir := t.TempDir()
	keyFile, pubFile, vkey := runKeygen(t, dir, origin, "log")
	l := &proofLog{t: t, dir: dir, keyFile: keyFile, pubFile: pubFile, vkey: vkey, origin: origin}
	l.s = startServer(t, "log", filepath.Join(dir, "data"), append([]string{"--key", keyFile}, extra...)...)
	if l.s.vkey != vkey || l.s.origin != origin {
		t.Fatalf("server says vkey %q origin %q; tlog keygen made %q for %q", l.s.vkey, l.s.origin, vkey, origin)
	}
	return l
}

// add adds entries one at a time, so that each gets the next index (and,
// with --checkpoint-history 0, each tree size keeps its checkpoint).
func (l *proofLog) add(entries ...[]byte) {
	l.t.Helper()
	for _, e := range entries {
		i := l.s.mustAdd(e)
		if i != int64(len(l.entries)) {
			l.t.Fatalf("POST /add of entry %d answered index %d", len(l.entries), i)
		}
		l.entries = append(l.entries, e)
	}
}

// checkpoint fetches the latest checkpoint, verifies it with x/mod and checks
// its root against the reference tree over every entry added.
func (l *proofLog) checkpoint() checkpoint {
	l.t.Helper()
	cp := l.s.mustCheckpoint(l.vkey)
	if cp.size != int64(len(l.entries)) {
		l.t.Fatalf("checkpoint of size %d, want %d", cp.size, len(l.entries))
	}
	if want := merkleRoot(leafHashes(l.entries)); cp.root != want {
		l.t.Fatalf("checkpoint root %x, reference tree root %x", cp.root, want)
	}
	return cp
}

// file writes b to name in the scratch directory and returns its path.
func (l *proofLog) file(name string, b []byte) string {
	l.t.Helper()
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return p
}

// entryFile writes entry i to a file and returns its path.
func (l *proofLog) entryFile(i int) string {
	return l.file(fmt.Sprintf("entry-%d.bin", i), l.entries[i])
}

// prove runs tlog prove with args after --log and returns the proof it
// printed on standard output.
func (l *proofLog) prove(args ...string) []byte {
	l.t.Helper()
	r := runTlog(l.t, append([]string{"prove", "--log", l.s.url("")}, args...)...)
	if r.code != 0 {
		logResult(l.t, "tlog prove "+strings.Join(args, " "), r)
		l.t.Fatalf("tlog prove %s exited %d", strings.Join(args, " "), r.code)
	}
	return []byte(r.stdout)
}

// verify runs tlog verify with the log's key on an entry file and a proof.
func (l *proofLog) verify(entryFile string, proof []byte) result {
	l.t.Helper()
	return runTlog(l.t, "verify", "--key", l.pubFile, "--entry", entryFile, "--proof", l.file("probe.tlog-proof", proof))
}

func leafHashes(entries [][]byte) []tlog.Hash {
	h := make([]tlog.Hash, len(entries))
	for i, e := range entries {
		h[i] = tlog.RecordHash(e)
	}
	return h
}

// variedEntries returns n distinct entries of varied shapes: JSON, binary
// with non-UTF-8 bytes, Latin-1 text, multi-byte UTF-8, NUL and control
// bytes, one byte, and the largest entry the log takes (64 KiB - 1). The
// one-byte entry is the only one that may repeat across tags.
func variedEntries(n int, tag string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		seed := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", tag, i)))
		switch {
		case i == 3:
			out[i] = []byte{0x80 | seed[0]} // one byte, not UTF-8
		case i == 5:
			out[i] = pseudoRandom(seed, 1<<16-1)
		case i%6 == 0:
			out[i] = fmt.Appendf(nil, `{"model":"%s-%d","sha256":"%x"}`, tag, i, seed)
		case i%6 == 1:
			b := append([]byte{0xff, 0xfe, 0x80}, seed[:]...)
			out[i] = append(b, pseudoRandom(seed, i*7%500)...)
		case i%6 == 2:
			out[i] = fmt.Appendf(nil, "caf\xe9 cr\xe8me %s %d\n", tag, i)
		case i%6 == 3:
			out[i] = fmt.Appendf(nil, "modèle ✓ — 模型 %s #%d\n", tag, i)
		case i%6 == 4:
			out[i] = fmt.Appendf(nil, "\x00\x01%s\x00%d\r\n\t\x1b[0m", tag, i)
		default:
			out[i] = append(pseudoRandom(seed, 1000+i), byte(i), byte(i>>8))
		}
	}
	return out
}

// pseudoRandom returns n bytes derived from seed by SHA-256 in counter mode.
func pseudoRandom(seed [32]byte, n int) []byte {
	var b []byte
	for c := uint32(0); len(b) < n; c++ {
		h := sha256.Sum256(binary.BigEndian.AppendUint32(seed[:], c))
		b = append(b, h[:]...)
	}
	return b[:n]
}

// proofFile is a c2sp.org/tlog-proof@v1 file split into its parts by the
// test's own parser, for crafting variants.
type proofFile struct {
	index  string   // the number on the index line, as written
	hashes []string // the proof lines, base64
	cp     string   // the checkpoint note, verbatim
}

func splitProofFile(t *testing.T, b []byte) proofFile {
	t.Helper()
	head, cp, ok := strings.Cut(string(b), "\n\n")
	lines := strings.Split(head, "\n")
	if !ok || len(lines) < 2 || lines[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(lines[1], "index ") {
		t.Fatalf("not a tlog-proof file:\n%s", b)
	}
	return proofFile{index: strings.TrimPrefix(lines[1], "index "), hashes: lines[2:], cp: cp}
}

func (p proofFile) bytes() []byte {
	var b strings.Builder
	b.WriteString("c2sp.org/tlog-proof@v1\nindex " + p.index + "\n")
	for _, h := range p.hashes {
		b.WriteString(h + "\n")
	}
	b.WriteString("\n" + p.cp)
	return []byte(b.String())
}

// checkProofOracle checks a proof file for entry index i with x/mod: its
// checkpoint verifies with vkey and its proof lines pass tlog.CheckRecord.
func checkProofOracle(t *testing.T, b []byte, i int, entry []byte, vkey string) checkpoint {
	t.Helper()
	p := splitProofFile(t, b)
	if p.index != strconv.Itoa(i) {
		t.Fatalf("proof of index %d has index line %q", i, p.index)
	}
	cp, err := openCheckpoint([]byte(p.cp), vkey)
	if err != nil {
		t.Fatalf("proof of index %d: %v", i, err)
	}
	var rp tlog.RecordProof
	for _, l := range p.hashes {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			t.Fatalf("proof of index %d: line %q is not a base64 hash", i, l)
		}
		rp = append(rp, tlog.Hash(h))
	}
	if err := tlog.CheckRecord(rp, cp.size, cp.root, int64(i), tlog.RecordHash(entry)); err != nil {
		t.Fatalf("proof of index %d: x/mod rejects it: %v", i, err)
	}
	return cp
}

// verifiedLine is what tlog verify --key prints first on success: the
// verified line and the time line (a log key proves no time).
func verifiedLine(index, size int64, origin string) string {
	return fmt.Sprintf("verified: index %d in tree of size %d signed by %s\n", index, size, origin) +
		"time: only the writer vouches for the entry's time (no witness policy given: give --policy to check witness cosignatures)\n"
}

// expectVerified fails the test unless r is a tlog verify that accepted with
// exactly the line want.
func expectVerified(t *testing.T, what string, r result, want string) {
	t.Helper()
	if r.code != 0 || r.stdout != want {
		logResult(t, what, r)
		t.Errorf("%s: exit %d, stdout %q; want exit 0 and %q", what, r.code, r.stdout, want)
	}
}

// expectRejected fails the test unless r is a tlog verify that rejected:
// exit 1, nothing on stdout, a reason on stderr.
func expectRejected(t *testing.T, what string, r result) {
	t.Helper()
	reason := strings.TrimSpace(r.stderr)
	if r.code != 1 || r.stdout != "" || reason == "" {
		logResult(t, what, r)
		t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 with a reason on stderr only", what, r.code, r.stdout, r.stderr)
	}
	checkNoPanic(t, what, r)
}

// expectFailure fails the test unless the command exited non-zero with a
// message containing want (if not empty) and no Go panic.
func expectFailure(t *testing.T, what string, r result, want string) {
	t.Helper()
	if r.code == 0 {
		logResult(t, what, r)
		t.Errorf("%s: exit 0, want a failure", what)
	}
	if !strings.Contains(r.stderr, want) || strings.TrimSpace(r.stderr) == "" {
		t.Errorf("%s: stderr %q does not say %q", what, r.stderr, want)
	}
	checkNoPanic(t, what, r)
}

// goPanic matches what the Go runtime prints for a panic or a crash: a
// line starting "panic: " or "fatal error: ", or a goroutine header. Not
// the bare word, which base64 signatures on stderr may contain.
var goPanic = regexp.MustCompile(`(?m)^(panic: |fatal error: |goroutine \d+ \[)`)

func checkNoPanic(t *testing.T, what string, r result) {
	t.Helper()
	if goPanic.MatchString(r.stderr) {
		t.Errorf("%s: a Go panic or stack trace on stderr:\n%s", what, r.stderr)
	}
}

func TestProveVerifyRoundTrip(t *testing.T) {
	l := startProofLog(t, "example.com/prove-roundtrip")
	l.add(variedEntries(300, "roundtrip")...)
	cp := l.checkpoint()

	// Edges of the tree and of its tiles: the first leaves, both sides of
	// the 128 and 256 boundaries, a non-UTF-8 byte, the 64 KiB entry, the
	// last leaf of the (unbalanced) tree.
	indices := []int{0, 1, 3, 5, 127, 128, 255, 256, 257, 298, 299}
	type done struct {
		entryFile string
		proof     []byte
	}
	var proofsMade []done
	for _, i := range indices {
		entryFile := l.entryFile(i)
		byIndex := l.prove("--index", strconv.Itoa(i), "--key", l.pubFile)
		outFile := filepath.Join(l.dir, fmt.Sprintf("leaf-%d.tlog-proof", i))
		if out := l.prove("--leaf", entryFile, "--key", l.pubFile, "--out", outFile); len(out) != 0 {
			t.Errorf("prove --out %s also wrote %q to stdout", outFile, out)
		}
		byLeaf, err := os.ReadFile(outFile)
		if err != nil {
			t.Fatal(err)
		}
		if string(byIndex) != string(byLeaf) {
			t.Errorf("index %d: prove --index and prove --leaf differ:\n%s\n---\n%s", i, byIndex, byLeaf)
		}
		// Without --key, prove still checks the inclusion and writes the
		// same file.
		if noKey := l.prove("--index", strconv.Itoa(i)); string(noKey) != string(byIndex) {
			t.Errorf("index %d: prove without --key wrote another proof:\n%s", i, noKey)
		}
		got := checkProofOracle(t, byIndex, i, l.entries[i], l.vkey)
		if string(got.note) != string(cp.note) {
			t.Errorf("index %d: the proof carries checkpoint\n%s\nnot the latest\n%s", i, got.note, cp.note)
		}
		want := verifiedLine(int64(i), cp.size, l.origin)
		expectVerified(t, fmt.Sprintf("verify index %d", i), l.verify(entryFile, byIndex), want)
		proofsMade = append(proofsMade, done{entryFile, byIndex})
	}

	// Offline: the log is gone, and the proofs still verify.
	if code := l.s.stop(); code != 0 {
		t.Errorf("tlog serve exited %d after SIGTERM", code)
	}
	if c, err := net.Dial("tcp", l.s.addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the log stopped", l.s.addr)
	}
	for k, d := range proofsMade {
		i := indices[k]
		want := verifiedLine(int64(i), cp.size, l.origin)
		expectVerified(t, fmt.Sprintf("offline verify index %d", i), l.verify(d.entryFile, d.proof), want)
	}
}

// sigPaddingVariant returns file with the last base64 character of its
// (single) signature line replaced by one that decodes to the same bytes
// when the padding bits are ignored: a one-byte change that only a strict
// base64 decoder notices. Ed25519 signature lines carry 68 bytes, so their
// base64 always ends in one padding character and two padding bits. (XOR
// 0x01 makes such a change only when that character is 0, 4 or 8, so the
// byte-flip loop alone finds it in 3 runs out of 16.)
func sigPaddingVariant(t *testing.T, file []byte) ([]byte, int) {
	t.Helper()
	s := string(file)
	start := strings.LastIndex(s, "\n— ") + 1
	if start == 0 || !strings.HasSuffix(s, "=\n") || strings.HasSuffix(s, "==\n") {
		t.Fatalf("the last line is not a signature ending in one '=':\n%s", file)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	pos := len(s) - 3 // the last data character, before "=\n"
	k := strings.IndexByte(alphabet, s[pos])
	if k < 0 || k%4 != 0 {
		t.Fatalf("signature line of %q does not end in canonical base64", s[start:])
	}
	b := []byte(s)
	b[pos] = alphabet[k|3]
	return b, pos
}

func TestVerifyRejectsEveryByteChange(t *testing.T) {
	l := startProofLog(t, "example.com/prove-bytes")
	l.add(variedEntries(45, "bytes")...)
	cp := l.checkpoint()
	const index = 13 // binary, non-UTF-8; a proof of 6 lines in a tree of 45
	entry := l.entries[index]
	if utf8.Valid(entry) {
		t.Fatalf("entry %d is valid UTF-8; the test wants a binary entry", index)
	}
	entryFile := l.entryFile(index)
	file := l.prove("--index", strconv.Itoa(index), "--key", l.pubFile)
	checkProofOracle(t, file, index, entry, l.vkey)
	expectVerified(t, "verify the real proof", l.verify(entryFile, file), verifiedLine(index, cp.size, l.origin))

	v, err := signer.NewVerifier(l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		return c
	}
	// where names the line of a byte position, for failure messages.
	where := func(b []byte, i int) string {
		line := strings.Count(string(b[:i]), "\n") + 1
		start := strings.LastIndexByte(string(b[:i]), '\n') + 1
		end := len(b)
		if j := strings.IndexByte(string(b[i:]), '\n'); j >= 0 {
			end = i + j
		}
		return fmt.Sprintf("byte %d (line %d %q, column %d)", i, line, b[start:end], i-start)
	}

	// Every byte of the proof, in-process with the function tlog verify
	// calls.
	for i := range file {
		if vp, err := proofs.VerifyTlogProof(flip(file, i), entry, v); err == nil {
			t.Errorf("proofs.VerifyTlogProof accepts the proof with %s XOR 0x01 (index %d, size %d)", where(file, i), vp.Index, vp.Checkpoint.Size)
		}
	}
	// Every byte of the entry, in-process.
	for i := range entry {
		if _, err := proofs.VerifyTlogProof(file, flip(entry, i), v); err == nil {
			t.Errorf("proofs.VerifyTlogProof accepts entry byte %d XOR 0x01", i)
		}
	}

	// A sample through the binary: the first, a quarter, middle, three
	// quarters and last byte and the newline of every line (header, index
	// line, each proof line, the empty line, the checkpoint text, the
	// signature line).
	var positions []int
	for start := 0; start < len(file); {
		end := strings.IndexByte(string(file[start:]), '\n') + start
		if end < start {
			t.Fatalf("proof file does not end in a newline")
		}
		for _, p := range []int{start, start + (end-start)/4, (start + end) / 2, end - (end-start)/4, end - 1, end} {
			if p >= start && (len(positions) == 0 || positions[len(positions)-1] < p) {
				positions = append(positions, p)
			}
		}
		start = end + 1
	}
	if len(positions) < 60 {
		t.Fatalf("only %d sample positions in a proof of %d bytes", len(positions), len(file))
	}
	for _, p := range positions {
		expectRejected(t, "verify with proof "+where(file, p)+" XOR 0x01", l.verify(entryFile, flip(file, p)))
	}
	// The same signature bytes, written in non-canonical base64.
	malleable, pos := sigPaddingVariant(t, file)
	expectRejected(t, "verify with non-canonical base64 in the signature line, "+where(file, pos), l.verify(entryFile, malleable))

	for _, p := range []int{0, 1, len(entry) / 3, len(entry) / 2, len(entry) - 1} {
		what := fmt.Sprintf("verify with entry byte %d XOR 0x01", p)
		expectRejected(t, what, runTlog(t, "verify", "--key", l.pubFile, "--entry", l.file("flipped.bin", flip(entry, p)), "--proof", l.file("real.tlog-proof", file)))
	}
	for what, e := range map[string][]byte{
		"entry one byte short":  entry[:len(entry)-1],
		"entry one byte longer": append(append([]byte(nil), entry...), 0),
		"empty entry":           {},
		"another entry":         l.entries[index+1],
	} {
		expectRejected(t, "verify with "+what, runTlog(t, "verify", "--key", l.pubFile, "--entry", l.file("other.bin", e), "--proof", l.file("real.tlog-proof", file)))
	}

	// Other keys: the same origin name (another key ID), another name.
	_, samePub, _ := runKeygen(t, l.dir, l.origin, "same-name")
	_, otherPub, _ := runKeygen(t, l.dir, "example.com/another-log", "other-name")
	for what, pub := range map[string]string{"a key of the same name": samePub, "a key of another name": otherPub} {
		r := runTlog(t, "verify", "--key", pub, "--entry", entryFile, "--proof", l.file("real.tlog-proof", file))
		expectRejected(t, "verify with "+what, r)
	}

	// Truncated and empty proof files.
	for _, n := range []int{len(file) - 1, len(file) - 2, len(file) / 2, positions[1], 1, 0} {
		expectRejected(t, fmt.Sprintf("verify with the proof cut to %d bytes", n), l.verify(entryFile, file[:n]))
	}
}

// inclusionJSON is the part of GET /api/v1/proofs/inclusion the tests read;
// hashes stay base64 strings, as proof lines.
type inclusionJSON struct {
	Index      uint64   `json:"index"`
	TreeSize   uint64   `json:"tree_size"`
	Hashes     []string `json:"hashes"`
	Checkpoint string   `json:"checkpoint"`
}

func TestVerifyProbeCases(t *testing.T) {
	// Keep every checkpoint, for a proof against an older one.
	l := startProofLog(t, "example.com/prove-probes", "--checkpoint-history", "0")
	l.add(variedEntries(100, "probes")...)
	cp := l.checkpoint()
	const index = 42
	entryFile := l.entryFile(index)
	real := l.prove("--index", strconv.Itoa(index), "--key", l.pubFile)
	checkProofOracle(t, real, index, l.entries[index], l.vkey)
	expectVerified(t, "verify the real proof", l.verify(entryFile, real), verifiedLine(index, cp.size, l.origin))
	p := splitProofFile(t, real)
	if len(p.hashes) < 4 {
		t.Fatalf("proof of index %d in a tree of %d has %d lines; want at least 4", index, cp.size, len(p.hashes))
	}

	// A kept older checkpoint of the same log, and its own proof: a
	// positive control that the checkpoint is genuine.
	const oldSize = 60
	code, body, _, err := l.s.get(fmt.Sprintf("/api/v1/proofs/inclusion?index=%d&size=%d", index, oldSize))
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET inclusion proof at size %d: %d %q %v", oldSize, code, body, err)
	}
	var old inclusionJSON
	if err := json.Unmarshal(body, &old); err != nil {
		t.Fatal(err)
	}
	if c, err := openCheckpoint([]byte(old.Checkpoint), l.vkey); err != nil || c.size != oldSize {
		t.Fatalf("kept checkpoint of size %d: %v\n%s", oldSize, err, old.Checkpoint)
	}
	oldProof := proofFile{index: strconv.Itoa(index), hashes: old.Hashes, cp: old.Checkpoint}
	expectVerified(t, "verify the proof at the older size", l.verify(entryFile, oldProof.bytes()), verifiedLine(index, oldSize, l.origin))

	// A later checkpoint, after the proof was made.
	l.add(variedEntries(110, "probes")[100:]...)
	newer := l.checkpoint()

	extra := base64.StdEncoding.EncodeToString(pseudoRandom(sha256.Sum256([]byte("extra")), 32))
	with := func(f func(q *proofFile)) []byte {
		q := p
		q.hashes = append([]string(nil), p.hashes...)
		f(&q)
		return q.bytes()
	}
	last := len(p.hashes) - 1
	cases := map[string][]byte{
		"an extra trailing hash":         with(func(q *proofFile) { q.hashes = append(q.hashes, extra) }),
		"a copy of the last hash added":  with(func(q *proofFile) { q.hashes = append(q.hashes, q.hashes[last]) }),
		"an extra preceding hash":        with(func(q *proofFile) { q.hashes = append([]string{extra}, q.hashes...) }),
		"the leaf hash as first line":    with(func(q *proofFile) { q.hashes = append([]string{leafB64(l.entries[index])}, q.hashes...) }),
		"index + 1":                      with(func(q *proofFile) { q.index = strconv.Itoa(index + 1) }),
		"index - 1":                      with(func(q *proofFile) { q.index = strconv.Itoa(index - 1) }),
		"index = tree size":              with(func(q *proofFile) { q.index = strconv.FormatInt(cp.size, 10) }),
		"index = 2^64-1":                 with(func(q *proofFile) { q.index = "18446744073709551615" }),
		"index with a leading zero":      with(func(q *proofFile) { q.index = "0" + q.index }),
		"the first proof line removed":   with(func(q *proofFile) { q.hashes = q.hashes[1:] }),
		"the last proof line removed":    with(func(q *proofFile) { q.hashes = q.hashes[:last] }),
		"a middle proof line removed":    with(func(q *proofFile) { q.hashes = append(q.hashes[:2], q.hashes[3:]...) }),
		"every proof line removed":       with(func(q *proofFile) { q.hashes = nil }),
		"the first two lines swapped":    with(func(q *proofFile) { q.hashes[0], q.hashes[1] = q.hashes[1], q.hashes[0] }),
		"the first and last swapped":     with(func(q *proofFile) { q.hashes[0], q.hashes[last] = q.hashes[last], q.hashes[0] }),
		"the proof lines reversed":       with(func(q *proofFile) { reverse(q.hashes) }),
		"an older checkpoint (size 60)":  with(func(q *proofFile) { q.cp = old.Checkpoint }),
		"a newer checkpoint (size 110)":  with(func(q *proofFile) { q.cp = string(newer.note) }),
		"the older proof, latest cp":     proofFile{index: p.index, hashes: old.Hashes, cp: p.cp}.bytes(),
		"size 99 in the checkpoint text": with(func(q *proofFile) { q.cp = strings.Replace(q.cp, "\n100\n", "\n99\n", 1) }),
		"size 101 in the checkpoint":     with(func(q *proofFile) { q.cp = strings.Replace(q.cp, "\n100\n", "\n101\n", 1) }),
	}
	for what, b := range cases {
		if string(b) == string(real) {
			t.Fatalf("%s: the crafted proof is the real one", what)
		}
		expectRejected(t, "verify with "+what, l.verify(entryFile, b))
	}
}

func leafB64(entry []byte) string {
	h := tlog.RecordHash(entry)
	return base64.StdEncoding.EncodeToString(h[:])
}

func reverse(s []string) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

func TestGetCommand(t *testing.T) {
	l := startProofLog(t, "example.com/get-test")
	entries := [][]byte{
		[]byte("hello, log"),
		[]byte(`{"model":"m","version":"1.0"}` + "\n"),
		{0xff, 0xfe, 0x00, 0x80, 'b', 'i', 'n', 0xc3},
		[]byte("modèle ✓ — 模型"),
		[]byte("caf\xe9"), // Latin-1: not UTF-8
	}
	l.add(entries...)
	cp := l.checkpoint()

	for i, e := range entries {
		out := filepath.Join(l.dir, fmt.Sprintf("got-%d.bin", i))
		r := runTlog(t, "get", "--log", l.s.url(""), "--key", l.pubFile, "--out", out, strconv.Itoa(i))
		leaf := tlog.RecordHash(e)
		want := fmt.Sprintf("index: %d\nleaf hash: %x\nverified: in tree of size %d signed by %s\n", i, leaf[:], cp.size, l.origin)
		if utf8.Valid(e) {
			want += fmt.Sprintf("entry (%d bytes, text):\n%s\n", len(e), e)
		} else {
			want += fmt.Sprintf("entry (%d bytes, base64):\n%s\n", len(e), base64.StdEncoding.EncodeToString(e))
		}
		if r.code != 0 || r.stdout != want {
			logResult(t, "get", r)
			t.Errorf("get %d: exit %d, stdout\n%q\nwant\n%q", i, r.code, r.stdout, want)
		}
		if got, err := os.ReadFile(out); err != nil || string(got) != string(e) {
			t.Errorf("get %d --out wrote %q (%v), want %q", i, got, err, e)
		}
		// Without --key: no claim about the signature.
		r = runTlog(t, "get", "--log", l.s.url(""), strconv.Itoa(i))
		if r.code != 0 || strings.Contains(r.stdout, "verified") || !strings.Contains(r.stdout, fmt.Sprintf("leaf hash: %x\n", leaf[:])) {
			logResult(t, "get without --key", r)
			t.Errorf("get %d without --key: exit %d; want 0, the leaf hash and no \"verified\" line", i, r.code)
		}
	}

	// A key of the same name but another key ID: the signature check fails.
	_, otherPub, _ := runKeygen(t, l.dir, l.origin, "other")
	r := runTlog(t, "get", "--log", l.s.url(""), "--key", otherPub, "0")
	expectFailure(t, "get with another key", r, "")
	if strings.Contains(r.stdout, "verified") {
		t.Errorf("get with another key printed %q", r.stdout)
	}

	n := len(entries)
	for _, idx := range []int{n, n + 1, 1 << 40} {
		r := runTlog(t, "get", "--log", l.s.url(""), "--key", l.pubFile, strconv.Itoa(idx))
		expectFailure(t, fmt.Sprintf("get %d in a tree of %d", idx, n), r, fmt.Sprintf("index %d is not in the tree of size %d", idx, n))
	}
	for _, garbage := range []string{"abc", "01", "1.5", "0x10", "+1", "", " 1", "18446744073709551616"} {
		r := runTlog(t, "get", "--log", l.s.url(""), garbage)
		expectFailure(t, fmt.Sprintf("get %q", garbage), r, "INDEX")
	}
}

func TestConsistencyCommand(t *testing.T) {
	a := startProofLog(t, "example.com/consistency-test")
	entries := variedEntries(40, "consistency")
	a.add(entries[:10]...)
	cp10 := a.checkpoint()
	kept := a.file("kept.checkpoint", cp10.note)
	keep10 := a.file("size10.checkpoint", cp10.note)

	a.add(entries[10:30]...)
	cp30 := a.checkpoint()
	consistency := func(l *proofLog, since string, extra ...string) result {
		return runTlog(t, append([]string{"consistency", "--log", l.s.url(""), "--key", a.pubFile, "--since", since}, extra...)...)
	}
	fileIs := func(path string, want []byte, what string) {
		t.Helper()
		if got, err := os.ReadFile(path); err != nil || string(got) != string(want) {
			t.Errorf("%s: %s holds\n%s(%v)\nwant\n%s", what, filepath.Base(path), got, err, want)
		}
	}

	r := consistency(a, kept)
	if r.code != 0 {
		logResult(t, "consistency 10 → 30", r)
		t.Fatalf("consistency 10 → 30 exited %d", r.code)
	}
	got, err := openCheckpoint([]byte(r.stdout), a.vkey)
	if err != nil {
		t.Fatalf("consistency printed a checkpoint x/mod rejects: %v", err)
	}
	if got.size != 30 || got.root != cp30.root || got.size <= cp10.size {
		t.Errorf("consistency printed size %d root %x; want the latest, size 30 root %x", got.size, got.root, cp30.root)
	}
	fileIs(kept, cp10.note, "consistency without --update")

	r = consistency(a, kept, "--update")
	if r.code != 0 || r.stdout != string(cp30.note) {
		logResult(t, "consistency --update", r)
		t.Fatalf("consistency --update exited %d; want 0 and the latest checkpoint", r.code)
	}
	fileIs(kept, cp30.note, "consistency --update")
	if _, err := os.Stat(kept + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("consistency --update left %s.tmp behind (%v)", kept, err)
	}
	// Same size again.
	r = consistency(a, kept, "--update")
	if r.code != 0 || r.stdout != string(cp30.note) {
		logResult(t, "consistency at the same size", r)
		t.Errorf("consistency 30 → 30 exited %d", r.code)
	}
	fileIs(kept, cp30.note, "consistency 30 → 30 --update")
	keep30 := a.file("size30.checkpoint", cp30.note)

	// A fork: a second log with the same key in another directory. It
	// starts with the same 10 entries (a true prefix of the first log's
	// history), then takes different ones.
	b := &proofLog{t: t, dir: t.TempDir(), keyFile: a.keyFile, pubFile: a.pubFile, vkey: a.vkey, origin: a.origin}
	b.s = startServer(t, "fork", filepath.Join(b.dir, "data"), "--key", a.keyFile)
	b.add(entries[:10]...)
	if b.checkpoint().root != cp10.root {
		t.Fatalf("the fork's first 10 entries do not give the first log's root")
	}
	// Rollback: the log is smaller than the kept checkpoint.
	r = consistency(b, keep30, "--update")
	expectFailure(t, "consistency 30 → 10 (rollback)", r, "INCONSISTENT")
	if r.code != 1 {
		t.Errorf("rollback: exit %d, want 1", r.code)
	}
	fileIs(keep30, cp30.note, "a failed consistency --update")

	fork := variedEntries(30, "fork")
	b.add(fork[10:30]...)
	if cp := b.checkpoint(); cp.size != 30 || cp.root == cp30.root {
		t.Fatalf("fork at size %d has root %x; want size 30 and another root", cp.size, cp.root)
	}
	r = consistency(b, keep30, "--update")
	expectFailure(t, "consistency against a fork of the same size", r, "INCONSISTENT")
	if r.code != 1 {
		t.Errorf("fork of the same size: exit %d, want 1", r.code)
	}
	fileIs(keep30, cp30.note, "a failed consistency --update")

	b.add(variedEntries(12, "fork-more")...)
	b.checkpoint()
	r = consistency(b, keep30)
	expectFailure(t, "consistency against a larger fork", r, "INCONSISTENT")
	if r.code != 1 {
		t.Errorf("larger fork: exit %d, want 1", r.code)
	}
	// The fork does extend the shared prefix: a positive control that
	// consistency checks the proof rather than the server.
	if r := consistency(b, keep10); r.code != 0 {
		logResult(t, "consistency of the shared prefix with the fork", r)
		t.Errorf("consistency of the shared size-10 prefix with the fork exited %d", r.code)
	}

	// A kept checkpoint signed by another key of the same name.
	otherKey, _, _ := runKeygen(t, a.dir, a.origin, "other")
	skey, err := os.ReadFile(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", a.origin, cp10.size, base64.StdEncoding.EncodeToString(cp10.root[:]))
	foreign, err := note.Sign(&note.Note{Text: text}, ns)
	if err != nil {
		t.Fatal(err)
	}
	r = consistency(a, a.file("foreign.checkpoint", foreign), "--update")
	expectFailure(t, "consistency --since a checkpoint of another key", r, "")
	fileIs(filepath.Join(a.dir, "foreign.checkpoint"), foreign, "consistency --since a checkpoint of another key")
	r = consistency(a, a.file("garbage.checkpoint", []byte("not a checkpoint\n")))
	expectFailure(t, "consistency --since garbage", r, "")
}

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestProofCommandErrors(t *testing.T) {
	l := startProofLog(t, "example.com/errors-test")
	l.add(variedEntries(5, "errors")...)
	entryFile := l.entryFile(1)
	notIn := l.file("not-in-log.bin", []byte("never added"))
	logURL := l.s.url("")
	closed := "http://" + closedAddr(t)
	cp := l.file("kept.checkpoint", l.checkpoint().note)
	proof := l.file("real.tlog-proof", l.prove("--index", "1"))

	// The log's reason for a leaf hash it does not hold, which prove --leaf
	// must pass on.
	leaf := tlog.RecordHash([]byte("never added"))
	code, body, _, err := l.s.get("/api/v1/proofs/inclusion?" + url.Values{"leaf_hash": {fmt.Sprintf("%x", leaf[:])}}.Encode())
	var answer struct {
		Error string `json:"error"`
	}
	if err != nil || code != http.StatusNotFound || json.Unmarshal(body, &answer) != nil || answer.Error == "" {
		t.Fatalf("GET inclusion of an unknown leaf: %d %q %v; want 404 with a JSON reason", code, body, err)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"prove without --log", []string{"prove", "--index", "0"}, "--log"},
		{"prove with --index and --leaf", []string{"prove", "--log", logURL, "--index", "1", "--leaf", entryFile}, "exactly one"},
		{"prove with neither --index nor --leaf", []string{"prove", "--log", logURL}, "exactly one"},
		{"prove --leaf not in the log", []string{"prove", "--log", logURL, "--leaf", notIn}, answer.Error},
		{"prove --leaf of a missing file", []string{"prove", "--log", logURL, "--leaf", filepath.Join(l.dir, "missing")}, "missing"},
		{"prove --index beyond the tree", []string{"prove", "--log", logURL, "--index", "5"}, "not in the tree"},
		{"prove against a closed port", []string{"prove", "--log", closed, "--index", "0"}, strings.TrimPrefix(closed, "http://")},
		{"prove --log not http", []string{"prove", "--log", "ftp://" + l.s.addr, "--index", "0"}, "http"},
		{"get without --log", []string{"get", "0"}, "--log"},
		{"get against a closed port", []string{"get", "--log", closed, "0"}, strings.TrimPrefix(closed, "http://")},
		{"consistency without --key", []string{"consistency", "--log", logURL, "--since", cp}, "--key"},
		{"consistency without --since", []string{"consistency", "--log", logURL, "--key", l.pubFile}, "--since"},
		{"consistency against a closed port", []string{"consistency", "--log", closed, "--key", l.pubFile, "--since", cp}, strings.TrimPrefix(closed, "http://")},
		{"verify without --key", []string{"verify", "--entry", entryFile, "--proof", proof}, "--key"},
		{"verify without --entry", []string{"verify", "--key", l.pubFile, "--proof", proof}, "--entry"},
		{"verify of a missing proof file", []string{"verify", "--key", l.pubFile, "--entry", entryFile, "--proof", filepath.Join(l.dir, "missing.tlog-proof")}, "missing.tlog-proof"},
	} {
		r := runTlog(t, tc.args...)
		expectFailure(t, tc.name, r, tc.want)
		if r.stdout != "" {
			t.Errorf("%s: wrote %q to stdout", tc.name, r.stdout)
		}
	}
}
