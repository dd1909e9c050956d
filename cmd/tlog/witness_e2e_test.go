package main

// End-to-end tests of witnessing: real "witness serve" and "witness watch"
// processes next to real "tlog serve" processes, over HTTP on 127.0.0.1.
// The witness binary is built once, beside the tlog binary of TestMain.
//
// Oracles, independent of the code under test where it matters:
//   - cosignatures are checked with golang.org/x/mod/sumdb/note and
//     filippo.io/torchwood's cosignature verifier, rebuilt from the seed in
//     each witness's .key file, and once more by hand (line format, key ID,
//     timestamp, Ed25519 over "cosignature/v1\ntime T\n" and the text);
//   - roots against a reference tree over the entries the test added, and
//     consistency proofs with golang.org/x/mod/sumdb/tlog;
//   - the witnesses' state through their own read API, byte for byte.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/wire"
	"github.com/tlogai/tlog/witness"
)

// witnessTimeout bounds how long a log takes to get a checkpoint witnessed
// (rounds every witnessInterval) or a witness to reach a size: a failure
// bound, the tests poll.
const witnessTimeout = 15 * time.Second

// witnessInterval is the --witness-interval of the logs under test: short,
// so that rounds follow the entries closely.
const witnessInterval = "100ms"

var (
	witnessBinOnce sync.Once
	witnessBinPath string
	witnessBinErr  error
)

// witnessBin builds cmd/witness once, into TestMain's directory (removed
// when the tests end), with the race detector when the tests have it.
func witnessBin(t testing.TB) string {
	t.Helper()
	witnessBinOnce.Do(func() {
		p := filepath.Join(filepath.Dir(tlogBin), "witness")
		args := []string{"build", "-o", p}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command(goTool(), append(args, "../witness")...).CombinedOutput()
		if err != nil {
			witnessBinErr = fmt.Errorf("couldn't build witness: %v\n%s", err, out)
			return
		}
		witnessBinPath = p
	})
	if witnessBinErr != nil {
		t.Fatal(witnessBinErr)
	}
	return witnessBinPath
}

// runWitnessCmd runs a witness command that must finish within exitTimeout.
func runWitnessCmd(t testing.TB, args ...string) result {
	t.Helper()
	return runBin(t, witnessBin(t), "witness", args...)
}

// tryStartProc is tryStartServer for any binary that logs a "listening"
// record with addr=...: it runs bin with args and waits for that line. The
// process is killed at the end of the test if still running.
func tryStartProc(t testing.TB, name, bin string, args ...string) (*server, error) {
	s := &server{
		t:      t,
		name:   name,
		cmd:    exec.Command(bin, args...),
		stdout: new(lockedBuffer),
		stderr: &logWatcher{listening: make(chan map[string]string, 1)},
		exited: make(chan struct{}),
	}
	s.cmd.Env = childEnv()
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("couldn't start %s: %v", name, err)
	}
	go func() {
		s.cmd.Wait()
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
		s.addr = kv["addr"]
	case <-s.exited:
		return s, fmt.Errorf("%s exited (%v) before listening; stderr:\n%s", name, s.state, s.stderr.String())
	case <-time.After(startTimeout):
		return s, fmt.Errorf("%s did not log \"listening\" within %v; stderr:\n%s", name, startTimeout, s.stderr.String())
	}
	if !strings.HasPrefix(s.addr, "127.0.0.1:") {
		return s, fmt.Errorf("%s listening on %q, want 127.0.0.1:<port>", name, s.addr)
	}
	s.client = &http.Client{Timeout: httpTimeout, Transport: &http.Transport{DisableCompression: true}}
	return s, nil
}

// witnessKey is a witness key as the tests see it, from the files witness
// keygen wrote, parsed by hand and rebuilt with torchwood.
type witnessKey struct {
	name string // the key name
	id   uint32 // the key ID written in the files
	pub  ed25519.PublicKey
	vkey string // the .pub file's content
	// tw is torchwood's cosignature signer over the same private key: its
	// Verifier is the independent cosignature verifier.
	tw *torchwood.CosignatureSigner
}

// loadWitnessKey parses PRIVATE+KEY+<name>+<id>+<base64(0x04||seed)> and
// the .pub file by hand, and checks that torchwood derives the same
// verifier key (name, key ID and public key) from the seed.
func loadWitnessKey(t *testing.T, keyFile, pubFile string) witnessKey {
	t.Helper()
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.SplitN(strings.TrimSpace(string(kb)), "+", 5) // base64 may hold '+'
	if len(f) != 5 || f[0] != "PRIVATE" || f[1] != "KEY" {
		t.Fatalf("%s is not PRIVATE+KEY+<name>+<id>+<key>", keyFile)
	}
	raw, err := base64.StdEncoding.DecodeString(f[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 0x04 {
		t.Fatalf("%s: key is not base64(0x04 || 32-byte seed)", keyFile)
	}
	id, err := strconv.ParseUint(f[3], 16, 32)
	if err != nil || len(f[3]) != 8 {
		t.Fatalf("%s: key ID %q is not 8 hex digits", keyFile, f[3])
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	k := witnessKey{name: f[2], id: uint32(id), pub: priv.Public().(ed25519.PublicKey), vkey: strings.TrimSpace(string(pb))}
	// The key ID by hand: SHA-256(name || 0x0A || 0x04 || pub)[:4].
	h := sha256.Sum256(append(append([]byte(k.name+"\n"), 0x04), k.pub...))
	if binary.BigEndian.Uint32(h[:4]) != k.id {
		t.Fatalf("%s: key ID %08x, but SHA-256(name, 0x0A, 0x04, pub) gives %08x", keyFile, k.id, h[:4])
	}
	if want := fmt.Sprintf("%s+%08x+%s", k.name, k.id, base64.StdEncoding.EncodeToString(append([]byte{0x04}, k.pub...))); k.vkey != want {
		t.Fatalf("%s holds %q; the key file gives %q", pubFile, k.vkey, want)
	}
	if k.tw, err = torchwood.NewCosignatureSigner(k.name, priv); err != nil {
		t.Fatal(err)
	}
	if got := k.tw.Verifier().String(); got != k.vkey {
		t.Fatalf("torchwood derives the verifier key %q from the seed; witness keygen wrote %q", got, k.vkey)
	}
	return k
}

// witnessNode is a witness made with witness keygen, its data directory
// and logs file, and its running "witness serve" process, if any.
type witnessNode struct {
	t          *testing.T
	policyName string // its name in the policy file (W1, W2, ...)
	key        witnessKey
	keyFile    string
	data       string
	logsFile   string
	s          *server
}

// newWitnessNode runs witness keygen into dir and writes a logs file with
// one "log <vkey>" line per log.
func newWitnessNode(t *testing.T, dir, policyName, keyName string, logVkeys ...string) *witnessNode {
	t.Helper()
	prefix := filepath.Join(dir, policyName)
	r := runWitnessCmd(t, "keygen", "--name", keyName, "--out", prefix)
	if r.code != 0 {
		logResult(t, "witness keygen", r)
		t.Fatalf("witness keygen exited %d", r.code)
	}
	w := &witnessNode{t: t, policyName: policyName, keyFile: prefix + ".key", data: prefix + "-data", logsFile: prefix + "-logs.txt"}
	w.key = loadWitnessKey(t, prefix+".key", prefix+".pub")
	if strings.TrimSpace(r.stdout) != w.key.vkey {
		t.Fatalf("witness keygen printed %q; the .pub file holds %q", r.stdout, w.key.vkey)
	}
	var logs strings.Builder
	for _, v := range logVkeys {
		logs.WriteString("log " + v + "\n")
	}
	if err := os.WriteFile(w.logsFile, []byte(logs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// start runs "witness serve" on the node's data directory. listen is
// 127.0.0.1:0, or the address of a previous run to come back on the port
// the policy names (retried briefly should the port linger).
func (w *witnessNode) start(listen string) {
	w.t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		s, err := tryStartProc(w.t, "witness "+w.policyName, witnessBin(w.t),
			"serve", "--data", w.data, "--listen", listen, "--key", w.keyFile, "--logs", w.logsFile)
		if err == nil {
			w.s = s
			return
		}
		if s != nil {
			s.quiet = true
		}
		if !strings.Contains(err.Error(), "address already in use") || time.Now().After(deadline) {
			w.t.Fatalf("witness %s: %v", w.policyName, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *witnessNode) url() string { return "http://" + w.s.addr }

// originPath is the witness read API path of an origin's latest cosigned
// checkpoint: /<hex(SHA-256(origin))>/checkpoint.
func originPath(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return "/" + hex.EncodeToString(h[:]) + "/checkpoint"
}

// latest returns the witness's latest cosigned checkpoint of origin, or nil
// when it answers 404.
func (w *witnessNode) latest(origin string) []byte {
	w.t.Helper()
	code, body, _, err := w.s.get(originPath(origin))
	switch {
	case err != nil:
		w.t.Fatalf("witness %s: GET %s: %v", w.policyName, originPath(origin), err)
	case code == http.StatusNotFound:
		return nil
	case code != http.StatusOK:
		w.t.Fatalf("witness %s: GET %s: %d %q", w.policyName, originPath(origin), code, body)
	}
	return body
}

// latestSize opens the witness's latest checkpoint of a log (log signature
// and the witness's own cosignature, independently) and returns its size;
// -1 when it has none.
func (w *witnessNode) latestSize(logVkey, origin string) int64 {
	w.t.Helper()
	b := w.latest(origin)
	if b == nil {
		return -1
	}
	return openCosigned(w.t, b, logVkey, []witnessKey{w.key}, 1).size
}

// waitSize polls until the witness has cosigned exactly size.
func (w *witnessNode) waitSize(logVkey, origin string, size int64) {
	w.t.Helper()
	deadline := time.Now().Add(witnessTimeout)
	for {
		got := w.latestSize(logVkey, origin)
		if got == size {
			return
		}
		if got > size || time.Now().After(deadline) {
			w.t.Fatalf("witness %s cosigned size %d; waited for %d", w.policyName, got, size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openCosigned is the independent check of a cosigned checkpoint: x/mod's
// note.Open with the log's verifier and torchwood's cosignature verifiers
// (a known key whose signature fails rejects the note), then every
// signature line again by hand. It requires the log's signature and at
// least min valid cosignatures by the given witnesses, and returns the
// checkpoint with the key names of the witnesses that cosigned.
func openCosigned(t *testing.T, msg []byte, logVkey string, ws []witnessKey, min int) cosignedCheckpoint {
	t.Helper()
	logV, err := note.NewVerifier(logVkey)
	if err != nil {
		t.Fatal(err)
	}
	vs := []note.Verifier{logV}
	for _, w := range ws {
		vs = append(vs, w.tw.Verifier())
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		t.Fatalf("x/mod note.Open with torchwood's cosignature verifiers rejects the checkpoint: %v\n%s", err, msg)
	}
	var c cosignedCheckpoint
	logSigned := false
	for _, s := range n.Sigs {
		if s.Name == logV.Name() && s.Hash == logV.KeyHash() {
			logSigned = true
		} else {
			c.by = append(c.by, s.Name)
		}
	}
	if !logSigned {
		t.Fatalf("checkpoint without the log's signature:\n%s", msg)
	}
	if len(c.by) < min {
		t.Fatalf("checkpoint carries %d valid cosignatures %v, want at least %d:\n%s", len(c.by), c.by, min, msg)
	}

	// By hand, from the bytes: "— <name> <base64(id || time || sig)>\n".
	text, sigs, ok := strings.Cut(string(msg), "\n\n")
	text += "\n"
	if !ok || !strings.HasSuffix(sigs, "\n") {
		t.Fatalf("not a signed note:\n%s", msg)
	}
	handChecked := 0
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "\u2014 ")
		name, b64, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 {
			t.Fatalf("signature line %q is not \"— <name> <base64>\"", line)
		}
		for _, w := range ws {
			if name != w.name {
				continue
			}
			sig, err := base64.StdEncoding.DecodeString(b64)
			if err != nil || len(sig) != 4+8+ed25519.SignatureSize {
				t.Fatalf("cosignature line %q: want base64 of 76 bytes (key ID, timestamp, Ed25519)", line)
			}
			if id := binary.BigEndian.Uint32(sig); id != w.id {
				t.Fatalf("cosignature line %q: key ID %08x, want %08x", line, id, w.id)
			}
			ts := binary.BigEndian.Uint64(sig[4:])
			if now := uint64(time.Now().Unix()); ts > now+60 || ts+3600 < now {
				t.Fatalf("cosignature line %q: timestamp %d is not about now (%d)", line, ts, now)
			}
			m := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text)
			if !ed25519.Verify(w.pub, []byte(m), sig[12:]) {
				t.Fatalf("cosignature line %q: Ed25519 over the cosignature/v1 message fails", line)
			}
			handChecked++
		}
	}
	if handChecked < min {
		t.Fatalf("%d cosignature lines checked by hand, want at least %d", handChecked, min)
	}
	cp, err := openCheckpoint(msg, logVkey)
	if err != nil {
		t.Fatal(err)
	}
	c.checkpoint = cp
	return c
}

type cosignedCheckpoint struct {
	checkpoint
	by []string // key names of the witnesses whose cosignatures verified
}

// witnessedLog is a "tlog serve --witness-policy" process and what the
// test knows of it.
type witnessedLog struct {
	*proofLog
	data       string
	policyFile string
	policy     *signer.Policy
	witnesses  []*witnessNode
}

// newWitnessedLog makes a log key and n witnesses following it, starts the
// witnesses and writes the policy file: "log", one "witness" line each with
// its URL, "group g <k> W1 ... Wn", "quorum g". The log is not started.
func newWitnessedLog(t *testing.T, origin string, n, k int) *witnessedLog {
	t.Helper()
	quickRaceExit(t)
	dir := t.TempDir()
	keyFile, pubFile, vkey := runKeygen(t, dir, origin, "log")
	l := &witnessedLog{proofLog: &proofLog{t: t, dir: dir, keyFile: keyFile, pubFile: pubFile, vkey: vkey, origin: origin}, data: filepath.Join(dir, "data")}
	policy := "log " + vkey + "\n"
	var names []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("W%d", i)
		w := newWitnessNode(t, dir, name, fmt.Sprintf("witness%d.example/%s", i, strings.ReplaceAll(origin, "/", "-")), vkey)
		w.start("127.0.0.1:0")
		l.witnesses = append(l.witnesses, w)
		policy += fmt.Sprintf("witness %s %s %s\n", name, w.key.vkey, w.url())
		names = append(names, name)
	}
	policy += fmt.Sprintf("group g %d %s\nquorum g\n", k, strings.Join(names, " "))
	l.policyFile = l.file("policy.txt", []byte(policy))
	var err error
	if l.policy, err = signer.ParsePolicy([]byte(policy)); err != nil {
		t.Fatalf("the test's policy does not parse: %v\n%s", err, policy)
	}
	return l
}

func (l *witnessedLog) keys() []witnessKey {
	var ks []witnessKey
	for _, w := range l.witnesses {
		ks = append(ks, w.key)
	}
	return ks
}

func (l *witnessedLog) startLog(name string) {
	l.t.Helper()
	l.s = startServer(l.t, name, l.data, "--key", l.keyFile, "--witness-policy", l.policyFile, "--witness-interval", witnessInterval)
}

// addWhenReady adds entries; a log with a policy refuses them (503) until
// its witnesses have confirmed its state, so the first one is retried.
func (l *witnessedLog) addWhenReady(entries ...[]byte) {
	l.t.Helper()
	deadline := time.Now().Add(witnessTimeout)
	for {
		i, err := l.s.add(context.Background(), entries[0])
		if err == nil {
			if i != int64(len(l.entries)) {
				l.t.Fatalf("POST /add of entry %d answered index %d", len(l.entries), i)
			}
			l.entries = append(l.entries, entries[0])
			break
		}
		if !strings.Contains(err.Error(), "503") || time.Now().After(deadline) {
			l.t.Fatalf("POST /add: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.add(entries[1:]...)
}

// waitWitnessed polls /checkpoint until it serves the tree of every entry
// added, accepted by the policy (signer.Policy.Check) and by the
// independent check, and returns it.
func (l *witnessedLog) waitWitnessed() cosignedCheckpoint {
	l.t.Helper()
	size := uint64(len(l.entries))
	deadline := time.Now().Add(witnessTimeout)
	var last string
	for {
		code, body, _, err := l.s.get("/checkpoint")
		if err == nil && code == http.StatusOK {
			cp, _, err := l.policy.Check(body)
			switch {
			case err != nil:
				last = err.Error()
			case cp.Size > size:
				l.t.Fatalf("/checkpoint has size %d, more than the %d entries added", cp.Size, size)
			case cp.Size == size:
				c := openCosigned(l.t, body, l.vkey, l.keys(), 2)
				if want := merkleRoot(leafHashes(l.entries)); c.root != want {
					l.t.Fatalf("witnessed checkpoint root %x, reference tree root %x", c.root, want)
				}
				return c
			default:
				last = fmt.Sprintf("witnessed size %d", cp.Size)
			}
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("/checkpoint did not get witnessed at size %d within %v; last: %s", size, witnessTimeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verifyPolicy runs tlog verify --policy on entry i and a proof.
func (l *witnessedLog) verifyPolicy(i int, proof []byte) result {
	l.t.Helper()
	return runTlog(l.t, "verify", "--policy", l.policyFile, "--entry", l.entryFile(i), "--proof", l.file(fmt.Sprintf("proof-%d.tlog-proof", i), proof))
}

// inclusionProof fetches the JSON inclusion proof of index in the tree of
// size and checks it with x/mod against the reference tree.
func (l *proofLog) inclusionProof(index, size int) [][]byte {
	l.t.Helper()
	q := url.Values{"index": {strconv.Itoa(index)}, "size": {strconv.Itoa(size)}}
	code, body, _, err := l.s.get("/api/v1/proofs/inclusion?" + q.Encode())
	if err != nil || code != http.StatusOK {
		l.t.Fatalf("GET inclusion proof: %v %d %q", err, code, body)
	}
	var p wire.InclusionProof
	if err := json.Unmarshal(body, &p); err != nil {
		l.t.Fatal(err)
	}
	var rp tlog.RecordProof
	for _, h := range p.Hashes {
		rp = append(rp, tlog.Hash(h))
	}
	root := merkleRoot(leafHashes(l.entries[:size]))
	if err := tlog.CheckRecord(rp, int64(size), root, int64(index), tlog.RecordHash(l.entries[index])); err != nil {
		l.t.Fatalf("inclusion proof of %d in %d: x/mod rejects it: %v", index, size, err)
	}
	return p.Hashes
}

// consistencyProof fetches the proof from old to the latest size and
// checks it with x/mod between the two checkpoints' roots.
func (l *proofLog) consistencyProof(old, cur checkpoint) [][]byte {
	l.t.Helper()
	q := url.Values{"old": {strconv.FormatInt(old.size, 10)}, "new": {strconv.FormatInt(cur.size, 10)}}
	code, body, _, err := l.s.get("/api/v1/proofs/consistency?" + q.Encode())
	if err != nil || code != http.StatusOK {
		l.t.Fatalf("GET consistency proof: %v %d %q", err, code, body)
	}
	var p wire.ConsistencyProof
	if err := json.Unmarshal(body, &p); err != nil {
		l.t.Fatal(err)
	}
	var tp tlog.TreeProof
	for _, h := range p.Hashes {
		tp = append(tp, tlog.Hash(h))
	}
	if err := tlog.CheckTree(tp, cur.size, cur.root, old.size, old.root); err != nil {
		l.t.Fatalf("consistency proof %d → %d: x/mod rejects it: %v", old.size, cur.size, err)
	}
	return p.Hashes
}

// postCheckpoint POSTs an add-checkpoint body to a witness and returns the
// status, body and Content-Type.
func postCheckpoint(t *testing.T, w *server, req witness.Request) (int, string, string) {
	t.Helper()
	resp, err := w.client.Post(w.url("/add-checkpoint"), "text/plain", bytes.NewReader(req.Format()))
	if err != nil {
		t.Fatalf("POST %s/add-checkpoint: %v", w.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header.Get("Content-Type")
}

// TestWitnessedLogEndToEnd: one log, three witnesses, policy "2 of 3". The
// published checkpoint carries at least two cosignatures that verify
// independently; tlog verify --policy passes; with two witnesses down the
// log keeps taking entries but publishes nothing new and their proofs do
// not verify; when the witnesses return, publishing resumes.
func TestWitnessedLogEndToEnd(t *testing.T) {
	l := newWitnessedLog(t, "example.com/witnessed", 3, 2)
	for _, w := range l.witnesses {
		w.s.quiet = true
	}
	l.startLog("witnessed log")
	l.addWhenReady(distinctEntries(9, "witnessed")...)
	c := l.waitWitnessed()
	t.Logf("size %d witnessed by %v", c.size, c.by)

	// tlog prove, then tlog verify --policy: offline, with the cosignatures.
	proof := l.prove("--index", "3")
	openCosigned(t, []byte(splitProofFile(t, proof).cp), l.vkey, l.keys(), 2)
	r := l.verifyPolicy(3, proof)
	if r.code != 0 || !strings.Contains(r.stdout, "cosigned") || !strings.Contains(r.stdout, fmt.Sprintf("index 3 in tree of size %d", c.size)) {
		logResult(t, "tlog verify --policy", r)
		t.Fatalf("tlog verify --policy on a fresh proof: exit %d; want 0 and \"cosigned\"", r.code)
	}

	// Found by content, the proof is the same file, cosignatures included.
	if byLeaf := l.prove("--leaf", l.file("entry-3.bin", l.entries[3])); string(byLeaf) != string(proof) {
		t.Fatalf("tlog prove --leaf gave another proof than --index:\n%s\n%s", byLeaf, proof)
	}

	// Our verifier accepts cosignatures made by torchwood: the log's own
	// signature plus torchwood cosignatures by W1 and W3 meet the quorum,
	// by W1 alone do not.
	n, err := note.Open(c.note, note.VerifierList(mustNoteVerifier(t, l.vkey)))
	if err != nil {
		t.Fatal(err)
	}
	logSig := n.Sigs // opened with the log's key only: its signature alone
	two, err := note.Sign(&note.Note{Text: n.Text, Sigs: logSig}, l.witnesses[0].key.tw, l.witnesses[2].key.tw)
	if err != nil {
		t.Fatal(err)
	}
	one, err := note.Sign(&note.Note{Text: n.Text, Sigs: logSig}, l.witnesses[0].key.tw)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.policy.Check(two); err != nil {
		t.Errorf("signer.Policy.Check rejects torchwood's cosignatures by W1 and W3: %v\n%s", err, two)
	}
	if _, _, err := l.policy.Check(one); !errors.Is(err, signer.ErrQuorum) {
		t.Errorf("signer.Policy.Check on one torchwood cosignature: %v, want ErrQuorum", err)
	}
	pf := splitProofFile(t, proof)
	pf.cp = string(two)
	if r := l.verifyPolicy(3, pf.bytes()); r.code != 0 || !strings.Contains(r.stdout, "cosigned") {
		logResult(t, "tlog verify --policy, torchwood cosignatures", r)
		t.Errorf("tlog verify --policy rejects a checkpoint cosigned by torchwood")
	}
	pf.cp = string(one)
	if r := l.verifyPolicy(3, pf.bytes()); r.code != 1 || !strings.Contains(r.stderr, "quorum") {
		logResult(t, "tlog verify --policy, one torchwood cosignature", r)
		t.Errorf("tlog verify --policy with one cosignature of three: exit %d; want 1 and a quorum reason", r.code)
	}

	// Two witnesses down: the log keeps taking entries, W1 keeps cosigning
	// them, but no quorum, so /checkpoint stays at the last quorate one.
	quorate := c.note
	l.witnesses[1].s.kill()
	l.witnesses[2].s.kill()
	l.add(distinctEntries(5, "while-down")...)
	size := len(l.entries)
	l.witnesses[0].waitSize(l.vkey, l.origin, int64(size))
	for range 3 {
		code, body, _, err := l.s.get("/checkpoint")
		if err != nil || code != http.StatusOK || !bytes.Equal(body, quorate) {
			t.Fatalf("with 2 of 3 witnesses down, /checkpoint answered %v %d:\n%s\nwant the last quorate checkpoint:\n%s", err, code, body, quorate)
		}
		time.Sleep(100 * time.Millisecond)
	}
	newIndex := size - 2
	r = runTlog(t, "prove", "--log", l.s.url(""), "--index", strconv.Itoa(newIndex))
	expectFailure(t, "tlog prove of an entry not yet witnessed", r, "not yet in a witnessed checkpoint")
	// The freshest proof there is for it: W1's checkpoint of the new size,
	// with the log's signature and one cosignature.
	w1note := l.witnesses[0].latest(l.origin)
	fresh := proofs.TlogProof{Index: uint64(newIndex), Hashes: l.inclusionProof(newIndex, size), Checkpoint: w1note}.Format()
	r = l.verifyPolicy(newIndex, fresh)
	expectRejected(t, "tlog verify --policy with 1 of 3 cosignatures", r)
	if !strings.Contains(r.stderr, "witness quorum not met") {
		t.Errorf("tlog verify --policy with 1 of 3 cosignatures says %q; want \"witness quorum not met\"", r.stderr)
	}
	if r := l.verify(l.entryFile(newIndex), fresh); r.code != 0 {
		logResult(t, "tlog verify --key on W1's checkpoint", r)
		t.Errorf("the same proof with --key: exit %d; the log's signature should verify", r.code)
	}
	if code, body, _, _ := l.s.get("/healthz"); code != http.StatusOK {
		t.Errorf("with witnesses down the log answers /healthz %d %q", code, body)
	}

	// They come back on their data and ports: publishing resumes.
	for _, w := range l.witnesses[1:] {
		w.start(w.s.addr)
		w.s.quiet = true
	}
	c = l.waitWitnessed()
	if c.size != int64(size) {
		t.Fatalf("witnessed size %d, want %d", c.size, size)
	}
	proof = l.prove("--index", strconv.Itoa(newIndex))
	r = l.verifyPolicy(newIndex, proof)
	if r.code != 0 || !strings.Contains(r.stdout, "cosigned") {
		logResult(t, "tlog verify --policy after the witnesses returned", r)
		t.Fatalf("tlog verify --policy after the witnesses returned: exit %d", r.code)
	}
	l.s.checkNoRace()
}

// distinctEntries is variedEntries without its one-byte entry, which may
// repeat across tags (the log would deduplicate it).
func distinctEntries(n int, tag string) [][]byte {
	out := variedEntries(n, tag)
	if n > 3 {
		out[3] = []byte("entry 3 of " + tag)
	}
	return out
}

func mustNoteVerifier(t *testing.T, vkey string) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRestoredBackupRefusesToSign: a log's data directory restored from a
// copy older than what the witnesses cosigned must not sign: the log exits
// non-zero, names the witness and the sizes, and the witnesses' state does
// not move.
func TestRestoredBackupRefusesToSign(t *testing.T) {
	l := newWitnessedLog(t, "example.com/restored", 3, 2)
	for _, w := range l.witnesses {
		w.s.quiet = true
	}
	l.startLog("log")
	l.addWhenReady(distinctEntries(3, "before-backup")...)
	old := l.waitWitnessed()
	if code := l.s.stop(); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	backup := filepath.Join(l.dir, "backup")
	copyTree(t, l.data, backup)

	l.s.quiet = true
	l.startLog("log after the backup")
	l.addWhenReady(distinctEntries(4, "after-backup")...)
	cur := l.waitWitnessed()
	for _, w := range l.witnesses {
		w.waitSize(l.vkey, l.origin, cur.size)
	}
	if code := l.s.stop(); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	before := map[string][]byte{}
	for _, w := range l.witnesses {
		before[w.policyName] = w.latest(l.origin)
	}

	if err := os.RemoveAll(l.data); err != nil {
		t.Fatal(err)
	}
	copyTree(t, backup, l.data)
	start := time.Now()
	s, err := tryStartServer(t, "restored log", l.data, "--key", l.keyFile, "--witness-policy", l.policyFile, "--witness-interval", witnessInterval)
	if err != nil && (s == nil || !s.exitedEarly()) {
		t.Fatalf("restored log: %v", err)
	}
	code, ok := s.waitExit(exitTimeout)
	if !ok {
		t.Fatalf("the restored log still runs %v after start; want it to refuse to sign and exit", exitTimeout)
	}
	t.Logf("the restored log exited %d after %v", code, time.Since(start).Round(time.Millisecond))
	stderr := s.stderr.String()
	t.Logf("refusal: %s", s.logRecord("refusing to sign; stopping")["err"])
	if code <= 0 {
		t.Errorf("the restored log exited %d; want a non-zero exit of its own", code)
	}
	// The witness must show it, not just say it: a checkpoint of the
	// larger size signed by the log's own key.
	want := fmt.Sprintf("it holds a checkpoint of size %d signed by this log's key, larger than this log's %d", cur.size, old.size)
	if !strings.Contains(stderr, "refusing to sign") || !strings.Contains(stderr, want) || !containsAny(stderr, "witness W1", "witness W2", "witness W3") {
		t.Errorf("the restored log's stderr does not refuse to sign naming the witness and %q:\n%s", want, stderr)
	}
	if strings.Contains(stderr, "witnesses confirmed") {
		t.Errorf("the restored log says its witnesses confirmed its state:\n%s", stderr)
	}
	for _, w := range l.witnesses {
		if got := w.latest(l.origin); !bytes.Equal(got, before[w.policyName]) {
			t.Errorf("witness %s's state changed while the restored log ran:\n%s\nwas:\n%s", w.policyName, got, before[w.policyName])
		}
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestWitnessKill9AfterCosign: a witness killed right after answering 200
// still knows, on restart, the size it cosigned: its read API shows it and
// a request with the previous size gets 409 with the new one.
func TestWitnessKill9AfterCosign(t *testing.T) {
	l := startProofLog(t, "example.com/kill9-witness")
	w := newWitnessNode(t, l.dir, "W", "witness.example/kill9", l.vkey)
	w.start("127.0.0.1:0")
	var prev checkpoint // the size 0 the witness starts from
	var prevProof [][]byte
	for round := range 5 {
		l.add(distinctEntries(1+3*round, fmt.Sprintf("kill9-%d", round))...)
		cp := l.checkpoint()
		var proof [][]byte
		if prev.size > 0 {
			proof = l.consistencyProof(prev, cp)
		}
		code, body, _ := postCheckpoint(t, w.s, witness.Request{OldSize: uint64(prev.size), Proof: proof, Checkpoint: cp.note})
		w.s.kill() // right after the 200
		if code != http.StatusOK {
			t.Fatalf("round %d: add-checkpoint %d → %d answered %d %q", round, prev.size, cp.size, code, body)
		}
		openCosigned(t, append(bytes.Clone(cp.note), body...), l.vkey, []witnessKey{w.key}, 1)

		w.s.quiet = true
		w.start("127.0.0.1:0")
		if got := w.latestSize(l.vkey, l.origin); got < cp.size {
			t.Fatalf("round %d: after kill -9 the witness shows size %d; it had cosigned %d", round, got, cp.size)
		}
		code, body, ctype := postCheckpoint(t, w.s, witness.Request{OldSize: uint64(prev.size), Proof: prevProof, Checkpoint: cp.note})
		if code != http.StatusConflict || ctype != "text/x.tlog.size" || body != fmt.Sprintf("%d\n", cp.size) {
			t.Fatalf("round %d: the previous size %d after restart: %d %q (%s); want 409 text/x.tlog.size %q", round, prev.size, code, body, ctype, fmt.Sprintf("%d\n", cp.size))
		}
		prev, prevProof = cp, proof
	}
	w.s.checkNoRace()
}

// TestForkDetectedByServeAndWatch: two stores under one key are a fork.
// witness serve refuses the second history with 422 (a pushed proof is not
// evidence: anyone could send one); witness watch --once, which builds the
// proof from the log's own tiles, exits 1 with FORK and keeps the evidence
// in its data directory; the same size with another root is evidence
// wherever it is seen.
func TestForkDetectedByServeAndWatch(t *testing.T) {
	quickRaceExit(t)
	dir := t.TempDir()
	origin := "example.com/forked"
	keyFile, pubFile, vkey := runKeygen(t, dir, origin, "log")
	a := &proofLog{t: t, dir: dir, keyFile: keyFile, pubFile: pubFile, vkey: vkey, origin: origin}
	b := &proofLog{t: t, dir: dir, keyFile: keyFile, pubFile: pubFile, vkey: vkey, origin: origin}
	a.s = startServer(t, "log A", filepath.Join(dir, "a"), "--key", keyFile)
	b.s = startServer(t, "log B (fork)", filepath.Join(dir, "b"), "--key", keyFile)
	a.add(distinctEntries(3, "history-a")...)
	b.add(distinctEntries(5, "history-b")...)
	cpA, cpB := a.checkpoint(), b.checkpoint()

	w := newWitnessNode(t, dir, "W", "witness.example/fork", vkey)
	w.start("127.0.0.1:0")
	if code, body, _ := postCheckpoint(t, w.s, witness.Request{Checkpoint: cpA.note}); code != http.StatusOK {
		t.Fatalf("A's checkpoint with old 0: %d %q", code, body)
	}
	proofB := b.consistencyProof(checkpoint{size: cpA.size, root: merkleRoot(leafHashes(b.entries[:cpA.size]))}, cpB)
	code, body, _ := postCheckpoint(t, w.s, witness.Request{OldSize: uint64(cpA.size), Proof: proofB, Checkpoint: cpB.note})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("B's checkpoint with B's consistency proof from A's size: %d %q; want 422", code, body)
	}
	// Pushed, a proof that fails is not evidence: anyone can send the
	// log's genuine checkpoint with a junk proof. It is refused, counted
	// and logged, never stored.
	if code, body, _, err := w.s.get("/forks"); err != nil || code != http.StatusOK || strings.TrimSpace(string(body)) != "" {
		t.Fatalf("GET /forks after a pushed failing proof: %v %d %q; want no record", err, code, body)
	}
	if _, body, _, _ := w.s.get("/metrics"); !strings.Contains(string(body), "witness_bad_proofs_total 1") || !strings.Contains(string(body), "witness_forks_total 0") {
		t.Errorf("metrics after a pushed failing proof:\n%s", body)
	}
	if got := w.latestSize(vkey, origin); got != cpA.size {
		t.Errorf("after the fork the witness shows size %d, want A's %d", got, cpA.size)
	}
	if !strings.Contains(w.s.stderr.String(), "level=WARN") || !strings.Contains(w.s.stderr.String(), "proof") {
		t.Errorf("witness serve did not log the refused proof:\n%s", w.s.stderr.String())
	}

	// Pull mode, on its own data directory.
	wdata := filepath.Join(dir, "watch-data")
	watch := func(l *proofLog) result {
		return runWitnessCmd(t, "watch", "--once", "--log", l.s.url(""), "--log-key", pubFile, "--key", w.keyFile, "--data", wdata)
	}
	for _, step := range []string{"first", "after A grew"} {
		if step != "first" {
			a.add([]byte("A grows"))
		}
		cp := a.checkpoint()
		r := watch(a)
		want := fmt.Sprintf("consistent: cosigned %s at size %d", origin, cp.size)
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			logResult(t, "witness watch --once on A, "+step, r)
			t.Fatalf("witness watch --once on A (%s): exit %d; want 0 and %q", step, r.code, want)
		}
	}
	cpA = a.checkpoint()
	r := watch(b)
	if r.code != 1 || !strings.Contains(r.stderr, "FORK") {
		logResult(t, "witness watch --once on B", r)
		t.Fatalf("witness watch --once on the fork: exit %d; want 1 and FORK", r.code)
	}
	// The evidence is in the watch's data directory: serve it.
	w.data = wdata
	w.s.quiet = true
	w.start("127.0.0.1:0")
	checkForks(t, w, vkey, "consistency-proof-fails", cpA, cpB, uint64(cpA.size), b.consistencyProof(checkpoint{size: cpA.size, root: merkleRoot(leafHashes(b.entries[:cpA.size]))}, cpB))
	if got := w.latestSize(vkey, origin); got != cpA.size {
		t.Errorf("after the fork the watch's state is size %d, want A's %d", got, cpA.size)
	}

	// The same size with another root, at a witness that cosigned B first:
	// 409 with its size (c2sp.org/tlog-witness v1.0.0), never cosigned,
	// evidence kept.
	for a.checkpoint().size < cpB.size {
		a.add([]byte(fmt.Sprintf("A grows to %d", len(a.entries)+1)))
	}
	cpA = a.checkpoint()
	w2 := newWitnessNode(t, dir, "W2", "witness2.example/fork", vkey)
	w2.start("127.0.0.1:0")
	if code, body, _ := postCheckpoint(t, w2.s, witness.Request{Checkpoint: cpB.note}); code != http.StatusOK {
		t.Fatalf("B's checkpoint with old 0: %d %q", code, body)
	}
	code, body, ctype := postCheckpoint(t, w2.s, witness.Request{OldSize: uint64(cpB.size), Checkpoint: cpA.note})
	if want := fmt.Sprintf("%d\n", cpB.size); code != http.StatusConflict || ctype != "text/x.tlog.size" || body != want {
		t.Fatalf("A's checkpoint of B's size: %d %q (%s); want 409 text/x.tlog.size %q", code, body, ctype, want)
	}
	checkForks(t, w2, vkey, "same-size-different-root", cpB, cpA, uint64(cpB.size), nil)
	if got := w2.latestSize(vkey, origin); got != cpB.size || !bytes.HasPrefix(w2.latest(origin), []byte(strings.SplitAfter(string(cpB.note), "\n\n")[0])) {
		t.Errorf("after the same-size fork the witness shows size %d, want B's checkpoint", got)
	}
}

// checkForks checks GET /forks and /metrics: exactly one evidence record,
// holding the cosigned checkpoint (of cosigned, with the log's signature
// and the witness's cosignature), the submitted one (of submitted) and the
// proof that came with it.
func checkForks(t *testing.T, w *witnessNode, logVkey, kind string, cosigned, submitted checkpoint, old uint64, proof [][]byte) {
	t.Helper()
	code, body, _, err := w.s.get("/forks")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /forks: %v %d %q", err, code, body)
	}
	var records [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		switch {
		case strings.HasPrefix(line, "fork "):
			records = append(records, []string{line})
		case line == "":
		case len(records) == 0:
			t.Fatalf("GET /forks: a line before the first record: %q", line)
		default:
			records[len(records)-1] = append(records[len(records)-1], line)
		}
	}
	if len(records) != 1 || len(records[0]) != 4 {
		t.Fatalf("GET /forks: want one record of 4 lines, got:\n%s", body)
	}
	rec := records[0]
	if f := strings.Fields(rec[0]); len(f) != 4 || f[1] != cosigned.origin || f[3] != kind {
		t.Errorf("evidence header %q; want fork %s <time> %s", rec[0], cosigned.origin, kind)
	}
	decode := func(prefix, line string) []byte {
		v, ok := strings.CutPrefix(line, prefix+" ")
		b, err := base64.StdEncoding.DecodeString(v)
		if !ok || err != nil {
			t.Fatalf("evidence line %q is not %q and base64", line, prefix)
		}
		return b
	}
	gotCosigned := openCosigned(t, decode("cosigned", rec[1]), logVkey, []witnessKey{w.key}, 1)
	if gotCosigned.size != cosigned.size || gotCosigned.root != cosigned.root {
		t.Errorf("evidence: cosigned checkpoint of size %d root %x; want %d %x", gotCosigned.size, gotCosigned.root, cosigned.size, cosigned.root)
	}
	gotSubmitted, err := openCheckpoint(decode("submitted", rec[2]), logVkey)
	if err != nil {
		t.Fatalf("evidence: submitted checkpoint: %v", err)
	}
	if gotSubmitted.size != submitted.size || gotSubmitted.root != submitted.root {
		t.Errorf("evidence: submitted checkpoint of size %d root %x; want %d %x", gotSubmitted.size, gotSubmitted.root, submitted.size, submitted.root)
	}
	wantProof := fmt.Sprintf("proof %d", old)
	for _, h := range proof {
		wantProof += " " + base64.StdEncoding.EncodeToString(h)
	}
	if rec[3] != wantProof {
		t.Errorf("evidence proof line %q, want %q", rec[3], wantProof)
	}
	code, body, _, err = w.s.get("/metrics")
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), "\nwitness_forks_total 1\n") {
		t.Errorf("GET /metrics: %v %d; want witness_forks_total 1 in:\n%s", err, code, body)
	}
}
