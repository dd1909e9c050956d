package witness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/internal/logtest"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// logSource adapts a real log to the collector.
type logSource struct{ l *log.Log }

func (s logSource) ReadHashes(ids []proofs.NodeID) ([][]byte, error) { return s.l.ReadHashes(ids) }
func (s logSource) Latest() (signer.Checkpoint, []byte) {
	p := s.l.Published()
	return p.Checkpoint, p.Note
}

// Modes of a switchable witness.
const (
	modeUp       = iota
	modeDown503  // answers 503
	modeHangsUp  // drops the connection without an answer
	modeRejected // answers 500
	modeClosed   // the server is closed: connections are refused
)

// switchable wraps a witness's handler so that a test can take it down
// and bring it back on the same URL and state.
type switchable struct{ mode atomic.Int32 }

func (s *switchable) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch s.mode.Load() {
		case modeDown503:
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
		case modeHangsUp:
			panic(http.ErrAbortHandler)
		case modeRejected:
			http.Error(w, "internal error", http.StatusInternalServerError)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

type collectorEnv struct {
	lk        logKey
	witnesses []*testWitness
	switches  []*switchable
	policy    *signer.Policy
	xverifs   note.Verifiers // x/mod: the log key and torchwood's three cosignature verifiers
}

func newCollectorEnv(t *testing.T, lk logKey, logURL string) *collectorEnv {
	t.Helper()
	e := &collectorEnv{lk: lk}
	var b strings.Builder
	fmt.Fprintf(&b, "log %s %s\n", lk.vkey, logURL)
	vs := []note.Verifier{lk.xverifier}
	for i := range 3 {
		sw := &switchable{}
		wk := newWitnessKey(t, fmt.Sprintf("example.com/witness-%d", i+1))
		w := newTW(t, wk, []logKey{lk}, twOpts{wrap: sw.wrap})
		e.witnesses = append(e.witnesses, w)
		e.switches = append(e.switches, sw)
		fmt.Fprintf(&b, "witness w%d %s %s\n", i+1, wk.vkey, w.srv.URL)
		vs = append(vs, wk.tw.Verifier())
	}
	b.WriteString("group two-of-three 2 w1 w2 w3\nquorum two-of-three\n")
	p, err := signer.ParsePolicy([]byte(b.String()))
	if err != nil {
		t.Fatalf("ParsePolicy:\n%s\n%v", b.String(), err)
	}
	e.policy = p
	e.xverifs = note.VerifierList(vs...)
	return e
}

func (e *collectorEnv) collector(t *testing.T, l *log.Log) *Collector {
	t.Helper()
	c, err := NewCollector(CollectorConfig{Policy: e.policy, Log: logSource{l}, Timeout: 5 * time.Second, Logger: testLogger(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkWitnessed: the note passes the policy, and x/mod with torchwood's
// verifiers finds the log's signature and at least min cosignatures of the
// policy's witnesses; the checkpoint is the log's at size.
func (e *collectorEnv) checkWitnessed(t *testing.T, w *Witnessed, l *realLog, min int) {
	t.Helper()
	size := len(l.x.entries)
	if w == nil {
		t.Fatal("no witnessed checkpoint")
	}
	cp, _, err := e.policy.Check(w.Note)
	if err != nil {
		t.Fatalf("policy.Check: %v", err)
	}
	if cp.Size != uint64(size) || cp.Hash != l.x.root(t, size) || w.Size != cp.Size {
		t.Fatalf("witnessed %d %x, want %d %x (x/mod)", cp.Size, cp.Hash, size, l.x.root(t, size))
	}
	n, err := note.Open(w.Note, e.xverifs)
	if err != nil {
		t.Fatalf("x/mod note.Open with torchwood's cosignature verifiers: %v", err)
	}
	cosigs := 0
	for _, s := range n.Sigs {
		if s.Name != e.lk.name {
			cosigs++
		}
	}
	if cosigs < min || len(w.By) != cosigs {
		t.Fatalf("%d valid cosignatures (By %v), want ≥ %d", cosigs, w.By, min)
	}
}

// TestCollector: a real log, three witnesses over HTTP and a "2 of 3"
// policy. Rounds meet the quorum; with two witnesses down (503, or the
// connection dropped) a round fails with ErrQuorum and the last quorate
// checkpoint stays published; when they return, rounds succeed again.
func TestCollector(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	lg := newRealLog(t, lk)
	e := newCollectorEnv(t, lk, lg.srv.URL)
	c := e.collector(t, lg.l)
	ctx := t.Context()

	if c.Witnessed() != nil {
		t.Fatal("Witnessed before any round")
	}
	for _, n := range []int{100, 1, 700} {
		lg.add(t, n, "main")
		w, err := c.Round(ctx)
		if err != nil {
			t.Fatalf("round at %d: %v", lg.size(), err)
		}
		e.checkWitnessed(t, w, lg, 3)
		if !slices.Equal(w.By, []string{"w1", "w2", "w3"}) {
			t.Errorf("By %v", w.By)
		}
		if c.Witnessed() != w {
			t.Error("Witnessed() is not the round's result")
		}
		for _, x := range e.witnesses {
			if size, _ := x.state(t, testOrigin); size != lg.size() {
				t.Errorf("%s holds %d, want %d", x.key.name, size, lg.size())
			}
		}
	}
	quorate := c.Witnessed()

	down := func(i int, mode int32) {
		if mode == modeClosed {
			e.witnesses[i].stop()
		} else {
			e.switches[i].mode.Store(mode)
		}
	}
	up := func(i int, mode int32) {
		if mode == modeClosed {
			e.witnesses[i].restart(t)
		} else {
			e.switches[i].mode.Store(modeUp)
		}
	}
	for _, mode := range []int32{modeDown503, modeHangsUp, modeRejected, modeClosed} {
		name := map[int32]string{modeDown503: "503", modeHangsUp: "connection dropped", modeRejected: "500", modeClosed: "server closed"}[mode]
		t.Run(name, func(t *testing.T) {
			// One witness down: still quorate.
			down(0, mode)
			lg.add(t, 10, "main")
			w, err := c.Round(ctx)
			if err != nil {
				t.Fatalf("one witness down: %v", err)
			}
			e.checkWitnessed(t, w, lg, 2)
			if slices.Contains(w.By, "w1") {
				t.Errorf("By %v includes the witness that is down", w.By)
			}
			quorate = w

			// Two down: no quorum; the last quorate one stays.
			down(1, mode)
			lg.add(t, 10, "main")
			_, err = c.Round(ctx)
			if !errors.Is(err, signer.ErrQuorum) {
				t.Fatalf("two witnesses down: %v, want ErrQuorum", err)
			}
			var se *SafetyError
			if errors.As(err, &se) {
				t.Fatalf("a witness being down is not a safety error: %v", err)
			}
			t.Logf("round with two down: %v", err)
			if c.Witnessed() != quorate {
				t.Fatalf("Witnessed() changed after a failed round")
			}
			if _, _, err := e.policy.Check(c.Witnessed().Note); err != nil {
				t.Fatal(err)
			}
			// A note with the one cosignature collected does not pass.
			one := append([]byte(nil), lg.note()...)
			if r := e.witnesses[2].get(t, originPath(testOrigin)); r.code == 200 {
				one = r.body
			}
			if _, _, err := e.policy.Check(one); !errors.Is(err, signer.ErrQuorum) {
				t.Errorf("policy.Check of a singly cosigned note: %v, want ErrQuorum", err)
			}

			// Back: the next round meets the quorum again, from the
			// sizes the returning witnesses last cosigned.
			up(0, mode)
			up(1, mode)
			w, err = c.Round(ctx)
			if err != nil {
				t.Fatalf("witnesses back: %v", err)
			}
			e.checkWitnessed(t, w, lg, 3)
			quorate = w
		})
	}

	// A collector started with the last witnessed note (from the log's
	// store) publishes it until a round meets the quorum.
	c2, err := NewCollector(CollectorConfig{Policy: e.policy, Log: logSource{lg.l}, Logger: testLogger(t)}, quorate.Note)
	if err != nil {
		t.Fatal(err)
	}
	if w := c2.Witnessed(); w == nil || w.Size != quorate.Size || string(w.Note) != string(quorate.Note) || len(w.By) != 3 {
		t.Fatalf("NewCollector with the last note: Witnessed %+v", w)
	}
}

// TestCollectorSafety: witnesses that cosigned more of this log's history
// than a store holds make Round fail with a *SafetyError: a store
// restored from an old copy (same key, fewer entries), and stores forked
// under the same key at the same or a larger size.
func TestCollectorSafety(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	lg := newRealLog(t, lk)
	e := newCollectorEnv(t, lk, lg.srv.URL)
	lg.add(t, 300, "main")
	if _, err := e.collector(t, lg.l).Round(t.Context()); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		make     func(*realLog)
		fork     bool // the witnesses keep evidence
		badProof bool // the witness counts a failing proof (not evidence)
	}{
		{"restored backup: a prefix", func(r *realLog) {
			logtest.AddAll(t, r.l, lg.x.entries[:200])
			if p := r.l.Published(); p.Size != 200 || p.Hash != lg.x.root(t, 200) {
				t.Fatalf("the restored copy is not a prefix: %d %x", p.Size, p.Hash)
			}
		}, false, false},
		{"forked, same size", func(r *realLog) { r.add(t, 300, "fork") }, true, false},
		// A pushed proof that fails is refused (422) but is not evidence:
		// whoever sends add-checkpoint writes the proof. The log itself
		// finds the fork (the SafetyError); the witness only counts it.
		{"forked, larger", func(r *realLog) { r.add(t, 400, "fork") }, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			other := newRealLog(t, lk)
			tc.make(other)
			forks0 := e.witnesses[0].w.ForkCount()
			bad0 := e.witnesses[0].w.BadProofCount()
			c := e.collector(t, other.l)
			w, err := c.Round(t.Context())
			var se *SafetyError
			if !errors.As(err, &se) {
				t.Fatalf("Round: %v, %v; want a *SafetyError", w, err)
			}
			t.Logf("safety error: %v", err)
			if c.Witnessed() != nil {
				t.Error("a safety failure published a checkpoint")
			}
			for _, x := range e.witnesses {
				if size, root := x.state(t, testOrigin); size != 300 || root != lg.x.root(t, 300) {
					t.Errorf("%s moved to %d", x.key.name, size)
				}
			}
			if got := e.witnesses[0].w.ForkCount() - forks0; (got > 0) != tc.fork {
				t.Errorf("witness kept %d evidence records, want evidence %v", got, tc.fork)
			}
			if got := e.witnesses[0].w.BadProofCount() - bad0; (got > 0) != tc.badProof {
				t.Errorf("witness counted %d bad proofs, want some: %v", got, tc.badProof)
			}
		})
	}
}

// A lying witness — one that claims, without a checkpoint signed by the
// log to show for it, to have cosigned a larger tree, or rejects good
// proofs — cannot stop the log: its claim is checked against its read API
// and, unconfirmed, it only counts as failing; the other two still make
// the quorum. Modes: a 409 with a huge size, and a 422.
func TestCollectorIgnoresUnconfirmedClaims(t *testing.T) {
	for _, lie := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"409 with a larger size", func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/add-checkpoint") {
				w.Header().Set("Content-Type", "text/x.tlog.size")
				w.WriteHeader(http.StatusConflict)
				w.Write([]byte("999999\n"))
				return
			}
			http.NotFound(w, r)
		}},
		{"422 for a good proof", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "consistency proof does not verify", http.StatusUnprocessableEntity)
		}},
	} {
		t.Run(lie.name, func(t *testing.T) {
			lk := newLogKey(t, testOrigin)
			lg := newRealLog(t, lk)
			e := newCollectorEnv(t, lk, "http://127.0.0.1:1")
			lg.add(t, 10, "honest")
			liar := e.witnesses[2]
			liar.srv.Config.Handler = lie.h
			c := e.collector(t, lg.l)
			w, err := c.Round(context.Background())
			var se *SafetyError
			if errors.As(err, &se) {
				t.Fatalf("a lying witness stopped the log: %v", err)
			}
			if err != nil {
				t.Fatalf("round with two honest witnesses of three: %v", err)
			}
			e.checkWitnessed(t, w, lg, 2)
		})
	}
}

// A stored witnessed checkpoint is served again on restart only if it still
// meets the policy and is a checkpoint of this store's tree.
func TestCollectorChecksStoredWitnessed(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	lg := newRealLog(t, lk)
	e := newCollectorEnv(t, lk, "http://127.0.0.1:1")
	lg.add(t, 20, "main")
	w, err := e.collector(t, lg.l).Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	restart := func(l *log.Log, last []byte) *Witnessed {
		c, err := NewCollector(CollectorConfig{Policy: e.policy, Log: logSource{l}, Logger: testLogger(t)}, last)
		if err != nil {
			t.Fatal(err)
		}
		return c.Witnessed()
	}
	if got := restart(lg.l, w.Note); got == nil || got.Size != 20 {
		t.Fatalf("the store's own witnessed checkpoint was not served again: %+v", got)
	}
	// Another store under the same key (smaller, other entries).
	other := newRealLog(t, lk)
	other.add(t, 25, "other")
	if got := restart(other.l, w.Note); got != nil {
		t.Fatalf("served a witnessed checkpoint that is not this store's tree: size %d", got.Size)
	}
	small := newRealLog(t, lk)
	small.add(t, 5, "main")
	if got := restart(small.l, w.Note); got != nil {
		t.Fatalf("served a witnessed checkpoint beyond this store: size %d", got.Size)
	}
	// Cosignatures stripped: it no longer meets the quorum.
	if got := restart(lg.l, lg.note()); got != nil {
		t.Fatal("served a checkpoint without the quorum")
	}
}
