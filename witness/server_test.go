package witness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

const (
	testOrigin  = "example.com/log"
	witnessName = "example.com/witness"
)

// mutateSig rewrites the first signature line of a note: f gets the
// decoded bytes (key ID and signature) and returns new ones, re-encoded in
// canonical base64.
func mutateSig(t testing.TB, n []byte, f func([]byte) []byte) []byte {
	t.Helper()
	i := bytes.LastIndex(n, []byte("\n\n"))
	text, sigs := n[:i+2], string(n[i+2:])
	line, rest, _ := strings.Cut(sigs, "\n")
	sp := strings.LastIndexByte(line, ' ')
	b, err := base64.StdEncoding.DecodeString(line[sp+1:])
	if err != nil {
		t.Fatal(err)
	}
	b = f(bytes.Clone(b))
	out := append(bytes.Clone(text), line[:sp+1]+base64.StdEncoding.EncodeToString(b)+"\n"+rest...)
	return out
}

// sigLines returns the signature lines of a note.
func sigLines(n []byte) []string {
	i := bytes.LastIndex(n, []byte("\n\n"))
	if i < 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(n[i+2:]), "\n"), "\n")
}

func randomHashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, 32)
		rand.Read(out[i])
	}
	return out
}

// TestAddCheckpointStatuses runs every status of c2sp.org/tlog-witness
// add-checkpoint over HTTP, for crafted bodies, each against a fresh
// witness that has cosigned size `stored` (or nothing). After a rejection
// the stored state and the served checkpoint must be unchanged.
func TestAddCheckpointStatuses(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	x := newXLog(t, lk, 20, "main")
	// fork: the same key signs a tree of other entries.
	fork := newXLog(t, lk, 20, "fork")
	other := newXLog(t, newLogKey(t, "example.com/other-log"), 20, "other")
	sameName := newLogKey(t, testOrigin) // another key under the log's name
	cp := func(size int) []byte { return x.checkpoint(t, size) }

	valid13 := reqBody(8, x.proof(t, 8, 13), cp(13))
	flip := func(p [][]byte, i, j int) [][]byte {
		q := make([][]byte, len(p))
		for k := range p {
			q[k] = bytes.Clone(p[k])
		}
		q[i][j] ^= 1
		return q
	}
	replaceLine := func(b []byte, lineNo int, with string) []byte {
		lines := strings.SplitAfter(string(b), "\n")
		lines[lineNo] = with
		return []byte(strings.Join(lines, ""))
	}
	hash31 := base64.StdEncoding.EncodeToString(make([]byte, 31))
	hash33 := base64.StdEncoding.EncodeToString(make([]byte, 33))
	// The last character of a 32-byte hash carries 2 unused bits, zero in
	// the canonical encoding (its value is a multiple of 4): setting one
	// gives a string Go's lenient decoder maps to the same bytes.
	canon := base64.StdEncoding.EncodeToString(x.proof(t, 8, 13)[0])
	nonCanon := canon[:42] + string(rune(canon[42]+1)) + "="
	emptyRoot := proofs.EmptyRoot

	type tcase struct {
		name   string
		stored int // size cosigned before the request; 0: none
		body   []byte
		chunk  bool // send without Content-Length
		code   int
		ctype  string // exact Content-Type, if set
		want   string // exact body, if set
		forks  int    // evidence records the request must add
		bad    int    // bad proofs it must count (for 422s with a valid log signature)
		size   int    // for 200: the size then stored
	}
	cases := []tcase{
		// 200
		{name: "first checkpoint, old 0", body: reqBody(0, nil, cp(8)), code: 200, size: 8},
		{name: "consistent growth", stored: 8, body: valid13, code: 200, size: 13},
		{name: "same checkpoint again", stored: 8, body: reqBody(8, nil, cp(8)), code: 200, size: 8},
		{name: "growth from 1 to 20", stored: 1, body: reqBody(1, x.proof(t, 1, 20), cp(20)), code: 200, size: 20},
		{name: "empty tree", body: reqBody(0, nil, signText(t, checkpointText(testOrigin, 0, emptyRoot[:]), lk.xsigner)), code: 200, size: 0},
		{name: "extra log signature of an unknown key", stored: 8, body: reqBody(8, x.proof(t, 8, 13), signText(t, x.text(t, 13), lk.xsigner, other.key.xsigner)), code: 200, size: 13},
		{name: "checkpoint with an extension line", stored: 8, body: reqBody(8, x.proof(t, 8, 13), signText(t, x.text(t, 13)+"extension line\n", lk.xsigner)), code: 200, size: 13},
		{name: "up to size 20 and again", stored: 20, body: reqBody(20, nil, cp(20)), code: 200, size: 20},

		// 404
		{name: "unknown origin", body: reqBody(0, nil, other.checkpoint(t, 8)), code: 404},
		{name: "unknown origin with our log's key", body: reqBody(0, nil, signText(t, checkpointText("example.com/other-log", 8, x.rootb(t, 8)), lk.xsigner)), code: 404},

		// 403
		{name: "signed by another key with the log's name", stored: 8, body: reqBody(8, x.proof(t, 8, 13), signText(t, x.text(t, 13), sameName.xsigner)), code: 403},
		{name: "flipped signature byte", stored: 8, body: reqBody(8, x.proof(t, 8, 13), mutateSig(t, cp(13), func(b []byte) []byte { b[10] ^= 1; return b })), code: 403},
		{name: "flipped key ID byte", stored: 8, body: reqBody(8, x.proof(t, 8, 13), mutateSig(t, cp(13), func(b []byte) []byte { b[0] ^= 1; return b })), code: 403},
		{name: "truncated signature", stored: 8, body: reqBody(8, x.proof(t, 8, 13), mutateSig(t, cp(13), func(b []byte) []byte { return b[:len(b)-1] })), code: 403},
		{name: "text changed under the signature", stored: 8, body: replaceLine(valid13, 2+len(x.proof(t, 8, 13))+2, base64.StdEncoding.EncodeToString(fork.rootb(t, 13))+"\n"), code: 403},
		{name: "signed only by an unknown key", stored: 8, body: reqBody(8, x.proof(t, 8, 13), signText(t, x.text(t, 13), other.key.xsigner)), code: 403},
		// x/mod's note.Open checks only the first signature of a key and
		// drops repeats: an invalid one first rejects the note, after a
		// valid one it is ignored (and must not be stored).
		{name: "invalid then valid signature by the log's key", stored: 8, body: reqBody(8, x.proof(t, 8, 13), append(mutateSig(t, cp(13), func(b []byte) []byte { b[20] ^= 1; return b }), sigLines(cp(13))[0]+"\n"...)), code: 403},
		{name: "valid then invalid signature by the log's key", stored: 8, body: reqBody(8, x.proof(t, 8, 13), append(cp(13), sigLines(mutateSig(t, cp(13), func(b []byte) []byte { b[20] ^= 1; return b }))[0]+"\n"...)), code: 200, size: 13},

		// 400: old > size
		{name: "old larger than the checkpoint", stored: 8, body: reqBody(13, nil, cp(12)), code: 400},
		{name: "old larger than the checkpoint, fresh witness", body: reqBody(9, nil, cp(8)), code: 400},

		// 409: wrong old size
		{name: "old below the stored size", stored: 8, body: reqBody(5, x.proof(t, 5, 13), cp(13)), code: 409, ctype: "text/x.tlog.size", want: "8\n"},
		{name: "old above the stored size", stored: 8, body: reqBody(10, x.proof(t, 10, 13), cp(13)), code: 409, ctype: "text/x.tlog.size", want: "8\n"},
		{name: "old 0 but the witness has a size", stored: 8, body: reqBody(0, nil, cp(13)), code: 409, ctype: "text/x.tlog.size", want: "8\n"},
		{name: "old given to a fresh witness", body: reqBody(5, x.proof(t, 5, 13), cp(13)), code: 409, ctype: "text/x.tlog.size", want: "0\n"},

		// 422: the proof
		{name: "proof with a flipped byte", stored: 8, body: reqBody(8, flip(x.proof(t, 8, 13), 0, 5), cp(13)), code: 422},
		{name: "proof with its last hash flipped", stored: 8, body: reqBody(8, flip(x.proof(t, 8, 13), len(x.proof(t, 8, 13))-1, 31), cp(13)), code: 422},
		{name: "proof missing its last line", stored: 8, body: reqBody(8, x.proof(t, 8, 13)[:len(x.proof(t, 8, 13))-1], cp(13)), code: 422},
		{name: "proof with an extra line", stored: 8, body: reqBody(8, append(x.proof(t, 8, 13), x.proof(t, 8, 13)[0]), cp(13)), code: 422},
		{name: "no proof for growth", stored: 8, body: reqBody(8, nil, cp(13)), code: 422},
		{name: "proof from another old size", stored: 8, body: reqBody(8, x.proof(t, 4, 13), cp(13)), code: 422},
		{name: "proof to another size", stored: 8, body: reqBody(8, x.proof(t, 8, 14), cp(13)), code: 422},
		{name: "proof with old 0", body: reqBody(0, randomHashes(1), cp(8)), code: 422},
		{name: "proof with old 0, a real-looking one", body: reqBody(0, x.proof(t, 4, 8), cp(8)), code: 422},
		{name: "proof between equal sizes", stored: 8, body: reqBody(8, [][]byte{x.rootb(t, 8)}, cp(8)), code: 422},
		{name: "63 proof lines (parses, fails)", stored: 8, body: reqBody(8, randomHashes(63), cp(13)), code: 422},
		{name: "size 0 with a non-empty root", body: reqBody(0, nil, signText(t, checkpointText(testOrigin, 0, x.rootb(t, 1)), lk.xsigner)), code: 422},
		// A proof sent to add-checkpoint is the sender's, not the log's:
		// refused, never evidence (only the watcher's tile-built proofs are).
		{name: "forked tree, its own valid proof", stored: 8, body: reqBody(8, fork.proof(t, 8, 13), fork.checkpoint(t, 13)), code: 422, bad: 1},

		// 409: fork at the same size
		{name: "same size, different root", stored: 8, body: reqBody(8, nil, fork.checkpoint(t, 8)), code: 409, ctype: "text/x.tlog.size", want: "8\n", forks: 1},

		// 400: malformed
		{name: "64 proof lines", stored: 8, body: reqBody(8, randomHashes(64), cp(13)), code: 400},
		{name: "empty body", body: []byte{}, code: 400},
		{name: "no newline at all", body: []byte("old 0"), code: 400},
		{name: "Old capitalised", body: bytes.Replace(reqBody(0, nil, cp(8)), []byte("old"), []byte("Old"), 1), code: 400},
		{name: "old with two spaces", body: bytes.Replace(reqBody(0, nil, cp(8)), []byte("old 0"), []byte("old  0"), 1), code: 400},
		{name: "old with a leading zero", stored: 8, body: bytes.Replace(valid13, []byte("old 8"), []byte("old 08"), 1), code: 400},
		{name: "old negative", body: bytes.Replace(reqBody(0, nil, cp(8)), []byte("old 0"), []byte("old -0"), 1), code: 400},
		{name: "old with a plus sign", stored: 8, body: bytes.Replace(valid13, []byte("old 8"), []byte("old +8"), 1), code: 400},
		{name: "old with a trailing space", stored: 8, body: bytes.Replace(valid13, []byte("old 8"), []byte("old 8 "), 1), code: 400},
		{name: "old in hex", stored: 8, body: bytes.Replace(valid13, []byte("old 8"), []byte("old 0x8"), 1), code: 400},
		{name: "old beyond uint64", body: bytes.Replace(reqBody(0, nil, cp(8)), []byte("old 0"), []byte("old 18446744073709551616"), 1), code: 400},
		{name: "old line missing", body: append([]byte("\n"), cp(8)...), code: 400},
		{name: "CRLF line endings", stored: 8, body: bytes.ReplaceAll(valid13, []byte("\n"), []byte("\r\n")), code: 400},
		{name: "proof line not base64", stored: 8, body: replaceLine(valid13, 1, "not base64!\n"), code: 400},
		{name: "proof line non-canonical base64", stored: 8, body: replaceLine(valid13, 1, nonCanon+"\n"), code: 400},
		{name: "proof line unpadded", stored: 8, body: replaceLine(valid13, 1, strings.TrimSuffix(canon, "=")+"\n"), code: 400},
		{name: "proof line of 31 bytes", stored: 8, body: replaceLine(valid13, 1, hash31+"\n"), code: 400},
		{name: "proof line of 33 bytes", stored: 8, body: replaceLine(valid13, 1, hash33+"\n"), code: 400},
		{name: "proof line with a trailing space", stored: 8, body: replaceLine(valid13, 1, canon+" \n"), code: 400},
		{name: "missing blank line", stored: 8, body: bytes.Replace(valid13, []byte("\n\n"), []byte("\n"), 1), code: 400},
		{name: "missing blank line, old 0", body: append([]byte("old 0\n"), cp(8)...), code: 400},
		{name: "garbage checkpoint", body: append([]byte("old 0\n\n"), "this is not a checkpoint\n"...), code: 400},
		{name: "no checkpoint", body: []byte("old 0\n\n"), code: 400},
		{name: "checkpoint without signatures", body: append([]byte("old 0\n\n"), x.text(t, 8)+"\n"...), code: 400},
		{name: "checkpoint size with a leading zero", body: reqBody(0, nil, signText(t, strings.Replace(x.text(t, 8), "\n8\n", "\n08\n", 1), lk.xsigner)), code: 400},
		{name: "checkpoint with a 31-byte root", body: reqBody(0, nil, signText(t, checkpointText(testOrigin, 8, make([]byte, 31)), lk.xsigner)), code: 400},
		{name: "checkpoint with NUL in a line", body: append(reqBody(0, nil, cp(8)), 0), code: 400},
		{name: "signature line without em dash", body: bytes.Replace(reqBody(0, nil, cp(8)), []byte("— "), []byte("- "), 1), code: 400},
		{name: "exactly MaxBodySize of garbage", body: append([]byte("old 0\n\n"), bytes.Repeat([]byte("x"), MaxBodySize-7)...), code: 400},

		// 413
		{name: "oversized body", stored: 8, body: append(bytes.Clone(valid13), bytes.Repeat([]byte("x"), MaxBodySize)...), code: 413},
		{name: "oversized by one byte", body: append([]byte("old 0\n\n"), bytes.Repeat([]byte("x"), MaxBodySize-6)...), code: 413},
		{name: "oversized chunked body", stored: 8, body: append(bytes.Clone(valid13), bytes.Repeat([]byte("x"), 4*MaxBodySize)...), chunk: true, code: 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newTW(t, wk, []logKey{lk}, twOpts{})
			if c.stored > 0 {
				if r := w.post(t, reqBody(0, nil, cp(c.stored))); r.code != 200 {
					t.Fatalf("setup: %v", r)
				}
			}
			size0, root0 := w.state(t, testOrigin)
			latest0 := w.get(t, originPath(testOrigin))
			forks0, bad0 := w.w.ForkCount(), w.w.BadProofCount()

			var r reply
			if c.chunk {
				r = w.postReader(t, io.MultiReader(bytes.NewReader(c.body)))
			} else {
				r = w.post(t, c.body)
			}
			if r.code != c.code {
				t.Fatalf("got %v, want %d", r, c.code)
			}
			if c.ctype != "" && r.ctype != c.ctype {
				t.Errorf("Content-Type %q, want %q", r.ctype, c.ctype)
			}
			if c.want != "" && string(r.body) != c.want {
				t.Errorf("body %q, want %q", r.body, c.want)
			}
			// Evidence only from evidence: a failing proof, even under a
			// valid log signature, is counted as a bad proof, never kept.
			if got := w.w.ForkCount() - forks0; got != int64(c.forks) {
				t.Errorf("ForkCount grew by %d, want %d", got, c.forks)
			}
			if got := w.w.BadProofCount() - bad0; c.bad > 0 && got != int64(c.bad) || c.code != 422 && got != 0 {
				t.Errorf("BadProofCount grew by %d, want %d", got, c.bad)
			}
			size, root := w.state(t, testOrigin)
			if c.code != 200 {
				if size != size0 || root != root0 {
					t.Errorf("state changed by a rejected request: %d %x → %d %x", size0, root0, size, root)
				}
				if l := w.get(t, originPath(testOrigin)); l.code != latest0.code || !bytes.Equal(l.body, latest0.body) {
					t.Errorf("served checkpoint changed by a rejected request: %v → %v", latest0, l)
				}
				return
			}
			req, err := ParseRequest(c.body)
			if err != nil {
				t.Fatal(err)
			}
			checkCosigned(t, req.Checkpoint, r.body, lk, wk)
			if want := x.root(t, c.size); size != uint64(c.size) || root != want {
				t.Errorf("stored %d %x, want %d %x (x/mod)", size, root, c.size, want)
			}
		})
	}
}

// TestForkEvidence: a same-size fork and a failing proof from a forked
// tree are never cosigned. The same-size fork's two signed checkpoints are
// kept, listed at GET /forks, counted in ForkCount and /metrics, and
// survive a reopen; the pushed failing proof is only a bad proof (the
// sender wrote it), counted apart and not kept.
func TestForkEvidence(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	x := newXLog(t, lk, 20, "main")
	fork := newXLog(t, lk, 20, "fork")
	w := newTW(t, wk, []logKey{lk}, twOpts{})

	if r := w.post(t, reqBody(0, nil, x.checkpoint(t, 8))); r.code != 200 {
		t.Fatal(r)
	}
	if r := w.get(t, "/forks"); r.code != 200 || len(r.body) != 0 {
		t.Fatalf("GET /forks before any fork: %v", r)
	}
	if r := w.post(t, reqBody(8, nil, fork.checkpoint(t, 8))); r.code != 409 || string(r.body) != "8\n" {
		t.Fatalf("same-size fork: %v", r)
	}
	if r := w.post(t, reqBody(8, fork.proof(t, 8, 15), fork.checkpoint(t, 15))); r.code != 422 {
		t.Fatalf("forked growth: %v", r)
	}
	if n := w.w.ForkCount(); n != 1 {
		t.Fatalf("ForkCount %d, want 1", n)
	}
	if n := w.w.BadProofCount(); n != 1 {
		t.Fatalf("BadProofCount %d, want 1", n)
	}
	if r := w.get(t, "/metrics"); !strings.Contains(string(r.body), "\nwitness_forks_total 1\n") || !strings.Contains(string(r.body), "\nwitness_bad_proofs_total 1\n") {
		t.Errorf("/metrics does not count 1 fork and 1 bad proof:\n%s", r.body)
	}
	recs := parseEvidence(t, w.get(t, "/forks").body)
	if len(recs) != 1 {
		t.Fatalf("GET /forks lists %d records, want 1", len(recs))
	}
	for i, want := range []struct {
		kind     string
		cosigned []byte
		sub      []byte
	}{
		{"same-size-different-root", x.checkpoint(t, 8), fork.checkpoint(t, 8)},
	} {
		e := recs[i]
		if e.kind != want.kind || e.origin != testOrigin {
			t.Errorf("record %d: %s %s, want %s %s", i, e.origin, e.kind, testOrigin, want.kind)
		}
		// Both are checkpoints signed by the log's key (x/mod verifies);
		// the cosigned one also carries the witness's cosignature.
		cn, err := note.Open(e.cosigned, note.VerifierList(lk.xverifier, wk.tw.Verifier()))
		if err != nil || len(cn.Sigs) != 2 {
			t.Errorf("record %d: cosigned note does not open with the log key and the cosignature: %v", i, err)
		}
		sn, err := note.Open(e.submitted, note.VerifierList(lk.xverifier))
		if err != nil {
			t.Errorf("record %d: submitted note does not open with the log key: %v", i, err)
		}
		if cn != nil && cn.Text != x.text(t, 8) || sn != nil && sn.Text != mustOpenText(t, want.sub, lk) {
			t.Errorf("record %d: evidence texts %q / %q", i, cn.Text, sn.Text)
		}
	}
	// Never cosigned: the state is still the first checkpoint.
	if size, root := w.state(t, testOrigin); size != 8 || root != x.root(t, 8) {
		t.Errorf("state %d %x after forks, want 8 %x", size, root, x.root(t, 8))
	}

	// Evidence is durable and counted again on open.
	w.srv.Close()
	if err := w.w.Close(); err != nil {
		t.Fatal(err)
	}
	w2, err := Open(Config{Dir: "/witness", FS: w.fs, Signer: wk.cosigner, Logs: []LogKey{{Verifier: lk.verifier}}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	w.w = w2 // closed by newTW's cleanup
	if n := w2.ForkCount(); n != 1 {
		t.Errorf("ForkCount after reopen %d, want 1", n)
	}
	if fs, err := w2.Forks(); err != nil || len(fs) != 1 {
		t.Errorf("Forks after reopen: %d records, %v", len(fs), err)
	}
}

func mustOpenText(t testing.TB, n []byte, lk logKey) string {
	t.Helper()
	o, err := note.Open(n, note.VerifierList(lk.xverifier))
	if err != nil {
		t.Fatal(err)
	}
	return o.Text
}

type evidence struct {
	origin, kind        string
	cosigned, submitted []byte
	proof               string
}

// parseEvidence reads GET /forks: records of a "fork <origin> <time>
// <kind>" line, "cosigned <b64>", "submitted <b64>", "proof ..." lines.
func parseEvidence(t testing.TB, b []byte) []evidence {
	t.Helper()
	var out []evidence
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		dec := func() []byte {
			if len(f) != 2 {
				t.Fatalf("evidence line %q", l)
			}
			d, err := base64.StdEncoding.DecodeString(f[1])
			if err != nil {
				t.Fatalf("evidence line %q: %v", l, err)
			}
			return d
		}
		switch f[0] {
		case "fork":
			if len(f) != 4 {
				t.Fatalf("evidence header %q", l)
			}
			out = append(out, evidence{origin: f[1], kind: f[3]})
		case "cosigned":
			out[len(out)-1].cosigned = dec()
		case "submitted":
			out[len(out)-1].submitted = dec()
		case "proof":
			out[len(out)-1].proof = l
		default:
			t.Fatalf("unexpected evidence line %q", l)
		}
	}
	return out
}

// TestForgedSignatureLines: lines forged under the witness's own name (with
// its real key ID, and with another) and a second "log" signature by a key
// of the log's name do not stop a request that carries the log's valid
// signature; what the witness stores and serves holds only the log's
// signature and the witness's real cosignature.
func TestForgedSignatureLines(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	x := newXLog(t, lk, 20, "main")
	w := newTW(t, wk, []logKey{lk}, twOpts{})
	impostor := newLogKey(t, testOrigin) // same name, another key

	forge := func(keyHash uint32) string {
		sig := make([]byte, 4+8+64)
		binary.BigEndian.PutUint32(sig, keyHash)
		binary.BigEndian.PutUint64(sig[4:], uint64(fixedNow.Unix()))
		rand.Read(sig[12:])
		return "— " + witnessName + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
	}
	// A real cosignature by another witness key using our witness's name.
	other := newWitnessKey(t, witnessName)

	for i, size := range []int{5, 12} {
		old := []int{0, 5}[i]
		var proof [][]byte
		if old > 0 {
			proof = x.proof(t, old, size)
		}
		cpNote := signText(t, x.text(t, size), lk.xsigner, impostor.xsigner, other.tw)
		forged := append(bytes.Clone(cpNote), forge(wk.tw.KeyHash())+forge(wk.tw.KeyHash()^1)...)

		r := w.post(t, reqBody(old, proof, forged))
		if r.code != 200 {
			t.Fatalf("size %d: %v", size, r)
		}
		checkCosigned(t, signText(t, x.text(t, size), lk.xsigner), r.body, lk, wk)
		if n := len(sigLines(append([]byte(x.text(t, size)+"\n"), r.body...))); n != 1 {
			t.Errorf("size %d: the 200 body has %d signature lines, want 1: %q", size, n, r.body)
		}

		g := w.get(t, originPath(testOrigin))
		if g.code != 200 {
			t.Fatalf("GET checkpoint: %v", g)
		}
		// x/mod's note.Open fails if any line by a known key (the log's or
		// the witness's name and ID) does not verify.
		n, err := note.Open(g.body, note.VerifierList(lk.xverifier, wk.tw.Verifier()))
		if err != nil {
			t.Fatalf("size %d: stored note does not open: %v\n%s", size, err, g.body)
		}
		if n.Text != x.text(t, size) || len(n.Sigs) != 2 || len(n.UnverifiedSigs) != 0 {
			t.Errorf("size %d: stored note has %d verified and %d other signatures, want exactly the log's and ours:\n%s", size, len(n.Sigs), len(n.UnverifiedSigs), g.body)
		}
		if lines := sigLines(g.body); len(lines) != 2 {
			t.Errorf("size %d: stored note has %d signature lines, want 2", size, len(lines))
		}
		for _, l := range sigLines(forged) {
			if l == sigLines(cpNote)[0] {
				continue // the log's real signature
			}
			if bytes.Contains(g.body, []byte(l)) {
				t.Errorf("size %d: stored note contains a forged or foreign line %q", size, l)
			}
		}
	}
}

// TestReadAPI: GET /<hex sha256(origin)>/checkpoint serves the latest
// cosigned checkpoint, 404 before any and for unknown origins.
func TestReadAPI(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	x := newXLog(t, lk, 10, "main")
	w := newTW(t, wk, []logKey{lk}, twOpts{})
	if r := w.get(t, originPath(testOrigin)); r.code != 404 {
		t.Errorf("before any cosignature: %v", r)
	}
	if r := w.get(t, originPath("example.com/unknown")); r.code != 404 {
		t.Errorf("unknown origin: %v", r)
	}
	for _, s := range []struct{ old, size int }{{0, 3}, {3, 10}} {
		var proof [][]byte
		if s.old > 0 {
			proof = x.proof(t, s.old, s.size)
		}
		r := w.post(t, reqBody(s.old, proof, x.checkpoint(t, s.size)))
		if r.code != 200 {
			t.Fatal(r)
		}
		g := w.get(t, originPath(testOrigin))
		want := append(x.checkpoint(t, s.size), r.body...)
		if g.code != 200 || !bytes.Equal(g.body, want) {
			t.Errorf("GET checkpoint after size %d: %v, want the note and the cosignature %q", s.size, g, want)
		}
		if cpv, n, err := signer.OpenCheckpoint(g.body, lk.verifier); err != nil || cpv.Size != uint64(s.size) || len(n.UnverifiedSigs) != 1 {
			t.Errorf("served note: %v %v", cpv, err)
		}
	}
	if r := w.get(t, fmt.Sprintf("/%s/checkpoint", strings.Repeat("0", 64))); r.code != 404 {
		t.Errorf("unknown hash: %v", r)
	}
	if r := w.get(t, "/healthz"); r.code != http.StatusOK {
		t.Errorf("healthz: %v", r)
	}
}

// Replaying the cosigned checkpoint (a new cosignature timestamp each time)
// and then the same same-size fork does not make new evidence: records are
// keyed by the log-signed notes only. The replay is answered without a
// write. Junk proofs in between make none at all.
func TestReplayDoesNotMultiplyEvidence(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	x := newXLog(t, lk, 20, "main")
	fork := newXLog(t, lk, 20, "fork")
	var clock atomic.Int64
	clock.Store(fixedNow.Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	skey, _, err := signer.GenerateWitnessKey(rand.Reader, witnessName)
	if err != nil {
		t.Fatal(err)
	}
	c, err := signer.NewCosigner(skey, now)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Open(Config{Dir: "/w", FS: vfs.NewMem(), Signer: c, Logs: []LogKey{{Verifier: lk.verifier}}, Logger: testLogger(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	if _, err := w.AddCheckpoint(ctx, reqBody(0, nil, x.checkpoint(t, 8))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		clock.Add(1)
		if _, err := w.AddCheckpoint(ctx, reqBody(8, nil, x.checkpoint(t, 8))); err != nil { // replay
			t.Fatal(err)
		}
		junk := x.proof(t, 8, 15)
		junk[0] = bytes.Repeat([]byte{byte(i + 1)}, 32)
		if _, err := w.AddCheckpoint(ctx, reqBody(8, junk, x.checkpoint(t, 15))); !errors.Is(err, ErrBadProof) {
			t.Fatalf("junk proof %d: %v", i, err)
		}
		if _, err := w.AddCheckpoint(ctx, reqBody(8, nil, fork.checkpoint(t, 8))); !errors.Is(err, ErrFork) {
			t.Fatalf("same-size fork %d: %v", i, err)
		}
	}
	if n := w.ForkCount(); n != 1 {
		t.Fatalf("ForkCount %d after replays with a moving clock, want 1", n)
	}
}
