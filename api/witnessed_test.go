package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/signer"
)

// witnessSim stands in for the log's witness collector as Config.Witnessed:
// while cover is set it answers the log's latest checkpoint, cosigned by a
// test witness; otherwise the pinned checkpoint, if any. Safe for
// concurrent use.
type witnessSim struct {
	ts     *testServer
	cos    *signer.Cosigner
	cover  atomic.Bool
	pinned atomic.Pointer[witnessedCP]
	calls  atomic.Int64

	mu    sync.Mutex
	notes map[uint64][]byte
}

type witnessedCP struct {
	size uint64
	note []byte
}

func newWitnessSim(t *testing.T, ts *testServer) *witnessSim {
	t.Helper()
	skey, _, err := signer.GenerateWitnessKey(rand.Reader, "example.com/test-witness")
	if err != nil {
		t.Fatal(err)
	}
	cos, err := signer.NewCosigner(skey, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &witnessSim{ts: ts, cos: cos, notes: map[uint64][]byte{}}
}

// cosigned is the log's current checkpoint signed by the log and the
// witness (one note per size).
func (w *witnessSim) cosigned(t testing.TB) witnessedCP {
	pub := w.ts.log.Published()
	w.mu.Lock()
	defer w.mu.Unlock()
	if n, ok := w.notes[pub.Size]; ok {
		return witnessedCP{pub.Size, n}
	}
	n, err := signer.SignNote(pub.Checkpoint.Text(), w.ts.signer, w.cos)
	if err != nil {
		t.Error(err)
		return witnessedCP{}
	}
	w.notes[pub.Size] = n
	return witnessedCP{pub.Size, n}
}

// witnessed is Config.Witnessed.
func (w *witnessSim) witnessed(t testing.TB) func() (uint64, []byte, bool) {
	return func() (uint64, []byte, bool) {
		w.calls.Add(1)
		if w.cover.Load() {
			c := w.cosigned(t)
			return c.size, c.note, true
		}
		if p := w.pinned.Load(); p != nil {
			return p.size, p.note, true
		}
		return 0, nil, false
	}
}

func newWitnessedServer(t *testing.T, wait time.Duration) (*testServer, *witnessSim) {
	var sim *witnessSim
	ts := newAIServer(t, func(ts *testServer, c *Config) {
		sim = newWitnessSim(t, ts)
		c.Witnessed = sim.witnessed(t)
		c.WitnessWait = wait
	})
	return ts, sim
}

// witnessedReceipt requires status and a receipt with witnessed set to
// want, verified with the log key and the witness key.
func witnessedReceipt(t *testing.T, ts *testServer, sim *witnessSim, resp *http.Response, body []byte, status int, want bool) wireReceipt {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: %d %s, want %d", resp.Request.URL, resp.StatusCode, body, status)
	}
	r := decodeReceipt(t, body, append(fullReceiptFields, "witnessed"))
	if r.Witnessed == nil || *r.Witnessed != want {
		t.Fatalf("witnessed %v, want %v", r.Witnessed, want)
	}
	newReceiptChecker(t, ts, sim.cos.Verifier()).check(t, r, nil)
	return r
}

// (a) With a witnessed checkpoint covering the entry, ?wait=witnessed
// answers 200 with witnessed true and proofs against that
// checkpoint, cosignature included — also when it is older than the log's
// latest, for an entry it covers.
func TestWaitWitnessedCovered(t *testing.T) {
	ts, sim := newWitnessedServer(t, 300*time.Millisecond)
	sim.cover.Store(true)
	k := newTestKey(t, "ecdsa")
	env := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/witnessed")))

	resp, body := ts.post(t, attestationsPath+"?wait=witnessed", "application/json", submission(t, env, k.pem))
	r := witnessedReceipt(t, ts, sim, resp, body, http.StatusOK, true)
	want := sim.cosigned(t)
	if r.Checkpoint != string(want.note) {
		t.Fatalf("checkpoint\n%s\nis not the witnessed note\n%s", r.Checkpoint, want.note)
	}
	v, err := note.NewVerifier(ts.log.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(r.Checkpoint), note.VerifierList(v, sim.cos.Verifier()))
	if err != nil || len(n.Sigs) != 2 {
		t.Fatalf("witnessed checkpoint: %v, %d verified signatures, want the log's and the witness's", err, len(n.Sigs))
	}
	// GET /checkpoint serves the witnessed note too.
	if resp, cp := ts.do(t, http.MethodGet, "/checkpoint", nil); resp.StatusCode != 200 || !bytes.Equal(cp, want.note) {
		t.Fatalf("GET /checkpoint: %d, not the witnessed note", resp.StatusCode)
	}

	// Decisions, NDJSON: every line witnessed.
	resp, body = ts.post(t, decisionsPath+"?wait=witnessed", "application/x-ndjson", ndjson(decisionRecord("w", 1), decisionRecord("w", 2), decisionRecord("w", 3)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("NDJSON wait=witnessed: %d %s", resp.StatusCode, body)
	}
	rc := newReceiptChecker(t, ts, sim.cos.Verifier())
	for _, l := range ndjsonReceipts(t, resp, body, append(fullReceiptFields, "witnessed")) {
		if l.Witnessed == nil || !*l.Witnessed || l.Checkpoint != string(sim.cosigned(t).note) {
			t.Fatalf("NDJSON line %d: witnessed %v", l.Index, l.Witnessed)
		}
		rc.check(t, l, nil)
	}

	// Pin the witnessed checkpoint at the current size, grow the log, and
	// resubmit the attestation: its proof is against the pinned (older)
	// checkpoint, which covers it.
	pinned := sim.cosigned(t)
	sim.pinned.Store(&pinned)
	sim.cover.Store(false)
	resp, body = ts.post(t, decisionsPath, "application/x-ndjson", ndjson(decisionRecord("w", 4), decisionRecord("w", 5)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if ts.size() <= pinned.size {
		t.Fatal("the log did not grow")
	}
	resp, body = ts.post(t, attestationsPath+"?wait=witnessed", "application/json", submission(t, env, k.pem))
	dup := witnessedReceipt(t, ts, sim, resp, body, http.StatusOK, true)
	if !dup.Duplicate || dup.Index != r.Index || dup.Checkpoint != string(pinned.note) || dup.InclusionProof.TreeSize != pinned.size {
		t.Fatalf("duplicate under an older witnessed checkpoint: index %d duplicate %v, proof at size %d, want size %d", dup.Index, dup.Duplicate, dup.InclusionProof.TreeSize, pinned.size)
	}

	// ?wait=witnessed needs full receipts.
	resp, body = ts.post(t, decisionsPath+"?wait=witnessed&receipts=compact", "application/json", []byte(decisionRecord("w", 9)))
	apiError(t, resp, body, http.StatusBadRequest, "full receipts")
}

// (b) Without a witnessed checkpoint covering the entry within
// WitnessWait, the entry is logged all the same and the answer is 202 with
// witnessed false and a proof against the log's own checkpoint.
func TestWaitWitnessedTimeout(t *testing.T) {
	const wait = 250 * time.Millisecond
	ts, sim := newWitnessedServer(t, wait)
	rc := newReceiptChecker(t, ts)
	for _, tc := range []struct {
		name string
		pin  bool
	}{{"no witnessed checkpoint", false}, {"a stale witnessed checkpoint", true}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pin {
				// Witnessed at the current size: never covers a new entry.
				p := sim.cosigned(t)
				sim.pinned.Store(&p)
			}
			before := ts.size()
			rec := decisionRecord("unwitnessed", int(before))
			start := time.Now()
			resp, body := ts.post(t, decisionsPath+"?wait=witnessed", "application/json", []byte(rec))
			el := time.Since(start)
			r := witnessedReceipt(t, ts, sim, resp, body, http.StatusAccepted, false)
			if el < wait {
				t.Fatalf("answered after %v, before WitnessWait %v", el, wait)
			}
			if r.Index != before || ts.size() != before+1 {
				t.Fatalf("index %d, size %d → %d", r.Index, before, ts.size())
			}
			// The proof is against the log's own checkpoint, unwitnessed.
			tree := rc.check(t, r, nil)
			if uint64(tree.N) != ts.size() || r.Checkpoint != string(ts.log.Checkpoint()) {
				t.Fatalf("202 receipt against size %d, want the log's checkpoint of size %d", tree.N, ts.size())
			}
			if idx := ts.searchAll(t, "system", "unwitnessed"); len(idx) == 0 || idx[0] != r.Index {
				t.Fatalf("the unwitnessed entry is not searchable: %v", idx)
			}
		})
	}
	// NDJSON answers 202 too, every line unwitnessed.
	resp, body := ts.post(t, decisionsPath+"?wait=witnessed", "application/x-ndjson", ndjson(decisionRecord("unwitnessed-bulk", 1), decisionRecord("unwitnessed-bulk", 2)))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("NDJSON: %d %s", resp.StatusCode, body)
	}
	for _, l := range ndjsonReceipts(t, resp, body, append(fullReceiptFields, "witnessed")) {
		if l.Witnessed == nil || *l.Witnessed {
			t.Fatalf("NDJSON line: witnessed %v, want false", l.Witnessed)
		}
		rc.check(t, l, nil)
	}
}

// (c) A witnessed checkpoint that comes during the wait ends it: 200 with
// witnessed true, shortly after the witness cosigns. WitnessWait is long
// here only as an upper bound; the request returns as soon as it is
// covered.
func TestWaitWitnessedLater(t *testing.T) {
	ts, sim := newWitnessedServer(t, 5*time.Second)
	rec := decisionRecord("later", 1)
	_, entry, err := attest.ParseDecision([]byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	flipped := make(chan time.Time, 1)
	go func() {
		// Once the entry is logged and the handler has asked for a
		// witnessed checkpoint at least once after that, cosign ~100ms
		// later.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for ts.size() == 0 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		calls := sim.calls.Load()
		for sim.calls.Load() == calls {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		sim.cover.Store(true)
		flipped <- time.Now()
	}()
	start := time.Now()
	resp, body := ts.post(t, decisionsPath+"?wait=witnessed", "application/json", []byte(rec))
	done := time.Now()
	r := witnessedReceipt(t, ts, sim, resp, body, http.StatusOK, true)
	var at time.Time
	select {
	case at = <-flipped:
	default:
		t.Fatal("answered witnessed before the witness cosigned")
	}
	if done.Sub(start) < 100*time.Millisecond || done.Sub(at) > time.Second {
		t.Fatalf("answered %v after the start and %v after the cosignature", done.Sub(start), done.Sub(at))
	}
	if want := sim.cosigned(t); r.Checkpoint != string(want.note) || r.Index != 0 {
		t.Fatalf("index %d, checkpoint is not the witnessed note", r.Index)
	}
	if !bytes.Equal(r.Entry, entry) {
		t.Fatalf("entry %s", r.Entry)
	}
}
