package client_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// A client with a witness policy verifies every checkpoint's quorum and
// asks for witnessed receipts.
func TestWitnessPolicy(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	skey, vkey := newKey(t)
	logSigner, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	wskey, wvkey, err := signer.GenerateWitnessKey(rand.Reader, "example.com/witness-1")
	if err != nil {
		t.Fatal(err)
	}
	cosigner, err := signer.NewCosigner(wskey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, w2vkey, err := signer.GenerateWitnessKey(rand.Reader, "example.com/witness-2")
	if err != nil {
		t.Fatal(err)
	}
	// The log's latest checkpoint, cosigned by witness 1.
	tl := newTestLogWithKey(t, skey, func(c *api.Config) {
		l := c.Log
		c.Witnessed = func() (uint64, []byte, bool) {
			n, err := signer.ParseNote(l.Checkpoint())
			if err != nil {
				return 0, nil, false
			}
			cp, err := signer.ParseCheckpoint(n.Text)
			if err != nil {
				return 0, nil, false
			}
			note, err := signer.SignNote(n.Text, logSigner, cosigner)
			if err != nil {
				return 0, nil, false
			}
			return cp.Size, note, true
		}
	})
	policy := func(text string) *signer.Policy {
		p, err := signer.ParsePolicy([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := policy("log " + vkey + "\nwitness w1 " + wvkey + "\nquorum w1\n")
	state := filepath.Join(t.TempDir(), "state")
	c, err := client.New(tl.URL(), client.WithPolicy(p1), client.WithStateFile(state))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.LogDecision(ctx, record("witnessed", 0), client.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Proven || !r.Verified || r.Witnessed == nil || !*r.Witnessed {
		t.Fatalf("witnessed receipt: %+v", r)
	}
	if _, _, err := p1.Check([]byte(r.Checkpoint)); err != nil {
		t.Fatalf("the receipt's checkpoint does not meet the policy: %v", err)
	}
	if cp, err := c.Latest(ctx); err != nil || cp.Size != 1 {
		t.Fatalf("Latest: %d %v", cp.Size, err)
	}
	entry := entryOf(t, record("witnessed", 0))
	if e, err := c.Prove(ctx, entry); err != nil || !e.Verified || e.Index != 0 {
		t.Fatalf("Prove: %v", err)
	} else if _, _, err := p1.Check(e.Note); err != nil {
		t.Fatalf("Prove's checkpoint does not meet the policy: %v", err)
	}
	// ProveIndex proves with the same witnessed tlog-proof as Prove; the
	// entry's bytes are authenticated by that proof. (The log's
	// /api/v1/entries/<i> answer proves against its own, uncosigned
	// checkpoint, which no policy client can verify: Entry cannot work
	// under a witness policy, and ProveIndex must not depend on it.)
	if e, err := c.ProveIndex(ctx, 0); err != nil {
		t.Errorf("ProveIndex under a witness policy: %v", err)
	} else if !e.Verified || !bytes.Equal(e.Data, entry) {
		t.Errorf("ProveIndex: %+v", e)
	}
	// The same state file reloads under the policy.
	if _, err := client.New(tl.URL(), client.WithPolicy(p1), client.WithStateFile(state)); err != nil {
		t.Fatal(err)
	}

	// A policy needing a witness that did not cosign: the quorum fails,
	// and that is not evidence.
	p2 := policy("log " + vkey + "\nwitness w1 " + wvkey + "\nwitness w2 " + w2vkey + "\ngroup both all w1 w2\nquorum both\n")
	c2, err := client.New(tl.URL(), client.WithPolicy(p2))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.Latest(ctx)
	if !errors.Is(err, signer.ErrQuorum) {
		t.Fatalf("Latest without the quorum: %v, want ErrQuorum", err)
	}
	notInconsistent(t, err)
	// The log's own checkpoint, without cosignatures.
	px := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/checkpoint" {
			w.Write(tl.checkpoint())
			return
		}
		p.forward(w, r, body, nil)
	})
	c3, err := client.New(px.URL, client.WithPolicy(p1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c3.Latest(ctx)
	if !errors.Is(err, signer.ErrQuorum) {
		t.Fatalf("Latest of an uncosigned checkpoint: %v, want ErrQuorum", err)
	}
	// A state file that does not meet the policy is refused.
	if _, err := client.New(tl.URL(), client.WithPolicy(p2), client.WithStateFile(state)); err == nil {
		t.Fatal("a state file without the quorum loaded")
	}
}

// Witnesses that are late: the log answers 202 with a receipt against its
// own checkpoint ("witnessed": false), the record being logged all the
// same. A DecisionLogger must then not report it Failed, which its doc
// defines as "a record that will not be logged".
func TestWitnessLate(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	skey, vkey := newKey(t)
	_, wvkey, err := signer.GenerateWitnessKey(rand.Reader, "example.com/witness-1")
	if err != nil {
		t.Fatal(err)
	}
	tl := newTestLogWithKey(t, skey, func(c *api.Config) {
		c.Witnessed = func() (uint64, []byte, bool) { return 0, nil, false }
		c.WitnessWait = 20 * time.Millisecond
	})
	p, err := signer.ParsePolicy([]byte("log " + vkey + "\nwitness w1 " + wvkey + "\nquorum w1\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(tl.URL(), client.WithPolicy(p))
	if err != nil {
		t.Fatal(err)
	}
	l := c.NewDecisionLogger(client.LoggerConfig{FullReceipts: true})
	rec := record("late", 0)
	if _, err := l.Log(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inLog := false
	leaf := proofs.HashLeaf(entryOf(t, rec))
	if _, err := tl.Log().LeafIndex(leaf); err == nil {
		inLog = true
	}
	if inLog && len(rep.Failed) > 0 {
		t.Errorf("a record the log logged (202, witnessed false) is reported Failed (\"will not be logged\"): %v", rep.Failed[0].Err)
	}
}
