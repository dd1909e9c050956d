package client_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/proofs"
)

// checkFullReceipt checks a full receipt independently of the client.
func checkFullReceipt(t *testing.T, tl *testLog, r client.Receipt, entry []byte) {
	t.Helper()
	if !r.Proven || !r.Verified {
		t.Fatalf("receipt %d: Proven %v Verified %v, want both", r.Index, r.Proven, r.Verified)
	}
	if !bytes.Equal(r.Entry, entry) {
		t.Fatalf("receipt %d: entry %s, want %s", r.Index, r.Entry, entry)
	}
	leaf := proofs.HashLeaf(entry)
	if !bytes.Equal(r.LeafHash, leaf[:]) {
		t.Fatalf("receipt %d: leaf hash %x", r.Index, r.LeafHash)
	}
	if r.Tree.Size <= r.Index || r.InclusionProof == nil || r.InclusionProof.TreeSize != r.Tree.Size {
		t.Fatalf("receipt %d: tree size %d", r.Index, r.Tree.Size)
	}
	vp, err := proofs.VerifyTlogProof([]byte(r.TlogProof), entry, tl.verifier)
	if err != nil {
		t.Fatalf("receipt %d: tlog_proof: %v", r.Index, err)
	}
	if vp.Index != r.Index || vp.Checkpoint.Size != r.Tree.Size || vp.Checkpoint.Hash != r.Tree.Hash {
		t.Fatalf("receipt %d: tlog_proof of %d in %d", r.Index, vp.Index, vp.Checkpoint.Size)
	}
	// The checkpoint with x/mod's note package.
	nv, err := note.NewVerifier(tl.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open([]byte(r.Checkpoint), note.VerifierList(nv)); err != nil {
		t.Fatalf("receipt %d: checkpoint does not verify with x/mod: %v", r.Index, err)
	}
}

func TestLogDecisionReceipts(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	c := tl.client(t, tl.URL())

	rec := record("receipts", 0)
	r, err := c.LogDecision(ctx, rec, client.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkFullReceipt(t, tl, *r, entryOf(t, rec))
	if r.Duplicate {
		t.Fatal("first submission is a duplicate")
	}
	// The receipt's checkpoint became the kept one.
	if kcp, _, ok := c.Verified(); !ok || kcp.Size != r.Tree.Size {
		t.Fatalf("kept size %d after a receipt of size %d", kcp.Size, r.Tree.Size)
	}

	// Again: a duplicate with the first index.
	r2, err := c.LogDecision(ctx, rec, client.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Duplicate || r2.Index != r.Index {
		t.Fatalf("resubmission: duplicate %v index %d, want true %d", r2.Duplicate, r2.Index, r.Index)
	}

	// A pretty-printed record is one record.
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, record("receipts", 1), "", "  "); err != nil {
		t.Fatal(err)
	}
	r3, err := c.LogDecision(ctx, pretty.Bytes(), client.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkFullReceipt(t, tl, *r3, entryOf(t, record("receipts", 1)))

	// A batch of full receipts.
	recs := records("receipts", 10, 30)
	rs, err := c.LogDecisions(ctx, recs, client.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(recs) {
		t.Fatalf("%d receipts for %d records", len(rs), len(recs))
	}
	seen := map[uint64]bool{}
	for i, r := range rs {
		checkFullReceipt(t, tl, r, entryOf(t, recs[i]))
		if seen[r.Index] {
			t.Fatalf("index %d twice", r.Index)
		}
		seen[r.Index] = true
	}

	// Compact receipts: leaf hash checked, no proof.
	recs = records("receipts", 100, 20)
	rs, err = c.LogDecisions(ctx, recs, client.SubmitOptions{Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		leaf := proofs.HashLeaf(entryOf(t, recs[i]))
		if r.Proven || r.Verified || r.InclusionProof != nil || r.Entry != nil || !bytes.Equal(r.LeafHash, leaf[:]) {
			t.Fatalf("compact receipt %d: %+v", i, r)
		}
		// It is in the log: Prove finds it.
		e, err := c.Prove(ctx, entryOf(t, recs[i]))
		if err != nil || e.Index != r.Index {
			t.Fatalf("Prove of compact receipt %d: %v", r.Index, err)
		}
	}

	// Nothing to log.
	if rs, err := c.LogDecisions(ctx, nil, client.SubmitOptions{}); err != nil || len(rs) != 0 {
		t.Fatalf("LogDecisions(nil): %v %v", rs, err)
	}
}

// A log whose receipts do not match what was sent, or whose proofs do not
// verify, is caught.
func TestReceiptTampering(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	// Some entries first, so that every proof has hashes.
	addRaw(t, tl.client(t, tl.URL()), [][]byte{rawEntry("t", 0), rawEntry("t", 1), rawEntry("t", 2)})
	other := otherSigner(t)
	otherEntry := entryOf(t, record("other", 0))

	type tc struct {
		name    string
		compact bool
		edit    func(i int, r map[string]any)
		want    string
		// inconsistent: the error is evidence (ErrInconsistent).
		inconsistent bool
	}
	flipHash := func(r map[string]any) {
		p := r["inclusion_proof"].(map[string]any)
		hs := p["hashes"].([]any)
		h, _ := base64.StdEncoding.DecodeString(hs[0].(string))
		h[0] ^= 1
		hs[0] = b64(h)
	}
	cases := []tc{
		{name: "wrong leaf hash", edit: func(i int, r map[string]any) { r["leaf_hash"] = leafB64(otherEntry) }, want: "leaf hash"},
		{name: "wrong entry", edit: func(i int, r map[string]any) { r["entry"] = b64(otherEntry) }, want: "another entry"},
		{name: "wrong entry and its leaf hash", edit: func(i int, r map[string]any) {
			r["entry"], r["leaf_hash"] = b64(otherEntry), leafB64(otherEntry)
		}, want: "leaf hash"},
		{name: "proof does not verify", edit: func(i int, r map[string]any) { flipHash(r) }, want: "does not verify"},
		{name: "proof of another index", edit: func(i int, r map[string]any) {
			r["inclusion_proof"].(map[string]any)["index"] = r["index"].(float64) + 1
		}, want: "its proof for"},
		{name: "index and proof index moved", edit: func(i int, r map[string]any) {
			r["index"] = r["index"].(float64) + 1
			r["inclusion_proof"].(map[string]any)["index"] = r["index"]
		}, want: "does not verify"},
		{name: "proof tree size", edit: func(i int, r map[string]any) {
			r["inclusion_proof"].(map[string]any)["tree_size"] = r["inclusion_proof"].(map[string]any)["tree_size"].(float64) + 1
		}, want: "proof is for size"},
		{name: "checkpoint of another key", edit: func(i int, r map[string]any) {
			r["checkpoint"] = string(resign(t, []byte(r["checkpoint"].(string)), other))
		}, want: "does not verify"},
		{name: "checkpoint forged with the log's key", edit: func(i int, r map[string]any) {
			size := uint64(r["inclusion_proof"].(map[string]any)["tree_size"].(float64))
			r["checkpoint"] = string(forge(t, tl.signer, size, "forged"))
		}, inconsistent: true},
		{name: "tlog_proof of another proof", edit: func(i int, r map[string]any) {
			r["tlog_proof"] = strings.Replace(r["tlog_proof"].(string), "\n", "\n\n", 1)
		}, want: "tlog-proof other than its proof"},
		{name: "checkpoint without proof", edit: func(i int, r map[string]any) { delete(r, "inclusion_proof") }, want: "no proof"},
		{name: "compact: wrong leaf hash", compact: true, edit: func(i int, r map[string]any) { r["leaf_hash"] = leafB64(otherEntry) }, want: "leaf hash"},
		{name: "compact: leaf hash of the next record", compact: true, edit: func(i int, r map[string]any) {
			if i == 0 {
				r["leaf_hash"] = "AAAA"
			}
		}, want: "leaf hash"},
	}
	for n, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
				p.forward(w, r, body, func(path string, b []byte) []byte {
					if path != decisionsPath {
						return b
					}
					return editReceipts(t, b, tc.edit)
				})
			})
			c := tl.client(t, p.URL)
			// A kept checkpoint, which a forged one must be consistent with.
			if _, err := c.Latest(ctx); err != nil {
				t.Fatal(err)
			}
			recs := records(fmt.Sprint("tamper-", n), 0, 2)
			rs, err := c.LogDecisions(ctx, recs, client.SubmitOptions{Compact: tc.compact})
			if err == nil {
				t.Fatalf("tampered receipts accepted: %+v", rs)
			}
			if tc.inconsistent {
				if !errors.Is(err, client.ErrInconsistent) {
					t.Fatalf("error %v, want ErrInconsistent", err)
				}
			} else {
				mustContain(t, err, tc.want)
				notInconsistent(t, err)
			}
			if len(rs) != 0 {
				t.Fatalf("%d receipts returned with the error", len(rs))
			}
			// A definite, malformed answer is not retried.
			if n := p.count(http.MethodPost, decisionsPath); n != 1 {
				t.Fatalf("%d requests, want 1", n)
			}
			// LogDecision fails the same way.
			if _, err := c.LogDecision(ctx, record(fmt.Sprint("tamper-one-", n), 0), client.SubmitOptions{Compact: tc.compact}); err == nil {
				t.Fatal("LogDecision accepted a tampered receipt")
			}
		})
	}

	// Answers that make no sense: not retried.
	for _, bad := range []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"a receipt missing", func(b []byte) []byte { i := bytes.IndexByte(b, '\n'); return b[i+1:] }, "2 records"},
		{"malformed JSON", func(b []byte) []byte { return append([]byte("{nope\n"), b...) }, "malformed receipt"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			p := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
				p.forward(w, r, body, func(path string, b []byte) []byte { return bad.edit(b) })
			})
			_, err := tl.client(t, p.URL).LogDecisions(ctx, records("bad-answer-"+bad.name, 0, 2), client.SubmitOptions{Compact: true})
			mustContain(t, err, bad.want)
			if n := p.count(http.MethodPost, decisionsPath); n != 1 {
				t.Fatalf("%d requests for a malformed answer, want 1 (not retried)", n)
			}
		})
	}
}

// A bad record fails LogDecisions before anything is sent, numbered by
// its position in the call.
func TestLogDecisionsBadRecord(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	p := newProxy(t, tl.URL(), nil)
	c := tl.client(t, p.URL)

	recs := records("bad", 0, 5)
	recs[2] = []byte(`{"system":"bad","decision_id":"x"}`)
	recs[4] = bytes.Replace(record("bad", 4), []byte(`"sha256:`), []byte(`"md5:`), 1)
	_, err := c.LogDecisions(ctx, recs, client.SubmitOptions{})
	var be *attest.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("error %v, want *attest.BatchError", err)
	}
	if len(be.Lines) != 2 || be.Lines[0].Line != 3 || be.Lines[1].Line != 5 {
		t.Fatalf("bad lines %+v, want 3 and 5", be.Lines)
	}
	if !errors.Is(err, attest.ErrInvalid) {
		t.Fatalf("error %v does not wrap attest.ErrInvalid", err)
	}
	// LogDecision of a bad record.
	if _, err := c.LogDecision(ctx, []byte(`{}`), client.SubmitOptions{}); !errors.As(err, &be) || be.Lines[0].Line != 1 {
		t.Fatalf("LogDecision of a bad record: %v", err)
	}
	if n := p.count("", ""); n != 0 {
		t.Fatalf("%d requests for bad records, want none", n)
	}

	// A bad record in the second request's share of a large call: still
	// numbered in the call, and (as LogDecisions documents: "a bad one
	// fails the call before anything is sent") nothing was sent.
	big := records("bad-big", 0, attest.MaxBatch+3)
	big[attest.MaxBatch+1] = []byte(`{"system":"bad-big"}`)
	_, err = c.LogDecisions(ctx, big, client.SubmitOptions{Compact: true})
	if !errors.As(err, &be) {
		t.Fatalf("error %v, want *attest.BatchError", err)
	}
	if len(be.Lines) != 1 || be.Lines[0].Line != attest.MaxBatch+2 {
		t.Fatalf("bad lines %+v, want %d", be.Lines, attest.MaxBatch+2)
	}
	if n := p.count(http.MethodPost, decisionsPath); n != 0 {
		t.Errorf("a call with a bad record sent %d requests before failing, want none (the doc says nothing is sent)", n)
	}
}

// More than attest.MaxBatch records go in several requests.
func TestLogDecisionsSplit(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	p := newProxy(t, tl.URL(), nil)
	c := tl.client(t, p.URL)

	recs := records("split", 0, attest.MaxBatch+1)
	rs, err := c.LogDecisions(ctx, recs, client.SubmitOptions{Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(recs) {
		t.Fatalf("%d receipts for %d records", len(rs), len(recs))
	}
	seen := map[uint64]bool{}
	for i, r := range rs {
		leaf := proofs.HashLeaf(entryOf(t, recs[i]))
		if !bytes.Equal(r.LeafHash, leaf[:]) || seen[r.Index] {
			t.Fatalf("receipt %d: %+v", i, r)
		}
		seen[r.Index] = true
	}
	if n := p.count(http.MethodPost, decisionsPath); n != 2 {
		t.Fatalf("%d requests for %d records, want 2", n, len(recs))
	}
	if size := tl.Log().Published().Size; size != uint64(len(recs)) {
		t.Fatalf("log size %d, want %d", size, len(recs))
	}

	// By bytes: records of nearly attest.MaxDecisionSize, more than
	// MaxBatchBytes of them.
	labels := map[string]string{}
	for i := range attest.MaxLabels {
		labels[fmt.Sprintf("%064d", i)] = strings.Repeat("v", 250)
	}
	lb, _ := json.Marshal(labels)
	var accessed []string
	for i := range 70 {
		accessed = append(accessed, commitment(fmt.Sprint("data ", i)))
	}
	ab, _ := json.Marshal(accessed)
	var fat [][]byte
	total := 0
	for i := 0; total <= client.MaxBatchBytes; i++ {
		r := record("fat", i)
		r = bytes.Replace(r, []byte(`"commitments":{`), []byte(`"commitments":{"data_accessed":`+string(ab)+`,`), 1)
		r = append(append(r[:len(r)-1:len(r)-1], []byte(`,"labels":`)...), lb...)
		r = append(r, '}')
		if len(r) > attest.MaxDecisionSize || len(r) < attest.MaxDecisionSize-1024 {
			t.Fatalf("fat record of %d bytes", len(r))
		}
		fat = append(fat, r)
		total += len(r) + 1
	}
	before := p.count(http.MethodPost, decisionsPath)
	rs, err = c.LogDecisions(ctx, fat, client.SubmitOptions{Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(fat) {
		t.Fatalf("%d receipts for %d records", len(rs), len(fat))
	}
	if n := p.count(http.MethodPost, decisionsPath) - before; n != 2 {
		t.Fatalf("%d requests for %d bytes of records, want 2", n, total)
	}
}

func commitment(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ---- attestations ----

// ed25519Submission is a submission of an in-toto statement about name,
// in a DSSE envelope signed with an Ed25519 key (PAE computed here).
func ed25519Submission(t *testing.T, name string) *attest.Submission {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("weights of " + name))
	stmt, err := json.Marshal(map[string]any{
		"_type":         attest.StatementV1,
		"subject":       []any{map[string]any{"name": name, "digest": map[string]string{"sha256": hex.EncodeToString(sum[:])}}},
		"predicateType": attest.SLSAProvenanceV1,
		"predicate":     map[string]any{"buildDefinition": map[string]any{"buildType": "https://example.com/build@v1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(attest.InTotoPayloadType), attest.InTotoPayloadType, len(stmt), stmt)
	sig := ed25519.Sign(priv, []byte(pae))
	env, err := json.Marshal(map[string]any{
		"payloadType": attest.InTotoPayloadType,
		"payload":     base64.StdEncoding.EncodeToString(stmt),
		"signatures":  []any{map[string]string{"sig": base64.StdEncoding.EncodeToString(sig)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &attest.Submission{Envelope: env, PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

func TestAttest(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tl := newTestLog(t, nil)
	c := tl.client(t, tl.URL())

	sub := ed25519Submission(t, "acme/model-a")
	r, rel, err := c.Attest(ctx, sub, client.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkFullReceipt(t, tl, *r, rel.Entry)
	if attest.KindOf(rel.Entry) != attest.KindRelease {
		t.Fatalf("entry kind %q", attest.KindOf(rel.Entry))
	}
	// The entry is the log's.
	e, err := c.Entry(ctx, r.Index)
	if err != nil || !bytes.Equal(e.Data, rel.Entry) {
		t.Fatalf("Entry(%d): %v", r.Index, err)
	}
	// Compact.
	r, rel, err = c.Attest(ctx, ed25519Submission(t, "acme/model-b"), client.SubmitOptions{Compact: true})
	if err != nil || r.Proven {
		t.Fatalf("compact Attest: %+v %v", r, err)
	}
	leaf := proofs.HashLeaf(rel.Entry)
	if !bytes.Equal(r.LeafHash, leaf[:]) {
		t.Fatal("compact receipt leaf hash")
	}

	// A receipt carrying another entry (and its leaf hash) is caught.
	for _, tamper := range []struct {
		name string
		edit func(i int, r map[string]any)
	}{
		{"entry", func(i int, r map[string]any) {
			ent, _ := base64.StdEncoding.DecodeString(r["entry"].(string))
			ent = bytes.Replace(ent, []byte("acme/model"), []byte("evil/model"), 1)
			r["entry"], r["leaf_hash"] = b64(ent), leafB64(ent)
		}},
		{"entry only", func(i int, r map[string]any) { r["entry"] = b64([]byte(`{"kind":"model-release/v1"}`)) }},
		{"proof", func(i int, r map[string]any) {
			p := r["inclusion_proof"].(map[string]any)
			if hs := p["hashes"].([]any); len(hs) > 0 {
				h, _ := base64.StdEncoding.DecodeString(hs[0].(string))
				h[31] ^= 0x80
				hs[0] = b64(h)
			} else {
				p["hashes"] = []any{b64(make([]byte, 32))}
			}
		}},
	} {
		t.Run(tamper.name, func(t *testing.T) {
			p := newProxy(t, tl.URL(), func(p *proxy, _ int, w http.ResponseWriter, r *http.Request, body []byte) {
				p.forward(w, r, body, func(path string, b []byte) []byte {
					if path != "/api/v1/attestations" {
						return b
					}
					return editReceipts(t, b, tamper.edit)
				})
			})
			if r, _, err := tl.client(t, p.URL).Attest(ctx, ed25519Submission(t, "acme/model-t-"+tamper.name), client.SubmitOptions{}); err == nil {
				t.Fatalf("tampered attestation receipt accepted: %+v", r)
			}
		})
	}

	// An attestation the log would refuse is refused here, unsent.
	p := newProxy(t, tl.URL(), nil)
	bad := ed25519Submission(t, "acme/model-c")
	bad.PublicKey = ed25519Submission(t, "acme/model-c").PublicKey // another key
	if _, _, err := tl.client(t, p.URL).Attest(ctx, bad, client.SubmitOptions{}); err == nil {
		t.Fatal("an envelope signed by another key was accepted")
	}
	if n := p.count("", ""); n != 0 {
		t.Fatalf("%d requests for a refused attestation", n)
	}
}
