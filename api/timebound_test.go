package api

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/wire"
)

// Receipts state the time bound the log can prove, logged_no_later_than:
// the earliest witness cosignature on their checkpoint, with
// ?wait=witnessed; no field without witnesses. The oracle is the fixed
// clocks the test's witnesses cosign with.
func TestReceiptTimeBound(t *testing.T) {
	early, late := time.Date(2026, 11, 27, 9, 14, 3, 0, time.UTC), time.Date(2026, 11, 27, 9, 14, 9, 0, time.UTC)
	var cosigners []*signer.Cosigner
	for i, at := range []time.Time{late, early} {
		skey, _, err := signer.GenerateWitnessKey(rand.Reader, []string{"w1.example", "w2.example"}[i])
		if err != nil {
			t.Fatal(err)
		}
		c, err := signer.NewCosigner(skey, func() time.Time { return at.In(time.FixedZone("X", 3600)) })
		if err != nil {
			t.Fatal(err)
		}
		cosigners = append(cosigners, c)
	}
	ts := newAIServer(t, func(ts *testServer, cfg *Config) {
		cfg.WitnessWait = 5 * time.Second
		cfg.Witnessed = func() (uint64, []byte, bool) {
			p := ts.log.Published()
			n, err := signer.ParseNote(p.Note)
			if err != nil {
				panic(err)
			}
			note := append([]byte(nil), p.Note...)
			for _, c := range cosigners {
				sig, err := c.Sign([]byte(n.Text))
				if err != nil {
					panic(err)
				}
				note = append(note, signer.Signature{Name: c.Name(), KeyHash: c.KeyHash(), Sig: sig}.Line()...)
			}
			return p.Size, note, true
		}
	})
	receipt := func(t *testing.T, query string, body []byte, ct string) []wire.Receipt {
		t.Helper()
		resp, b := ts.post(t, decisionsPath+query, ct, body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d %s", query, resp.StatusCode, b)
		}
		var rs []wire.Receipt
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r wire.Receipt
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v", sc.Bytes(), err)
			}
			rs = append(rs, r)
			if strings.Contains(query, "witnessed") != strings.Contains(sc.Text(), `"logged_no_later_than":"`) {
				t.Errorf("receipt %s: logged_no_later_than present %v, want %v", sc.Bytes(), !strings.Contains(query, "witnessed"), strings.Contains(query, "witnessed"))
			}
		}
		return rs
	}
	want := early.Format(time.RFC3339) // 2026-11-27T09:14:03Z
	for _, r := range receipt(t, "?wait=witnessed", []byte(decisionRecord("support-bot", 1)), "application/json") {
		if r.LoggedNoLaterThan != want {
			t.Errorf("witnessed receipt: logged_no_later_than %q, want %q (the earlier cosignature, in UTC)", r.LoggedNoLaterThan, want)
		}
		if !strings.Contains(r.Checkpoint, "— w2.example ") {
			t.Errorf("witnessed receipt's checkpoint lacks the cosignatures:\n%s", r.Checkpoint)
		}
	}
	rs := receipt(t, "?wait=witnessed", ndjson(decisionRecord("support-bot", 2), decisionRecord("support-bot", 3)), wire.ContentTypeNDJSON)
	if len(rs) != 2 || rs[0].LoggedNoLaterThan != want || rs[1].LoggedNoLaterThan != want {
		t.Errorf("NDJSON witnessed receipts: %+v", rs)
	}
	// Without ?wait=witnessed the proof is against the log's own
	// checkpoint, which no witness has cosigned: no bound.
	receipt(t, "", []byte(decisionRecord("support-bot", 4)), "application/json")
	receipt(t, "", ndjson(decisionRecord("support-bot", 5)), wire.ContentTypeNDJSON)
	// Compact receipts are unchanged.
	resp, b := ts.post(t, decisionsPath+"?receipts=compact", wire.ContentTypeNDJSON, ndjson(decisionRecord("support-bot", 6)))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), `{"index":5,"leaf_hash":"`) || strings.Contains(string(b), "logged_no_later_than") {
		t.Errorf("compact receipt: %d %s", resp.StatusCode, b)
	}

	// A log without witnesses: no bound, ever.
	plain := newAIServer(t, nil)
	resp, b = plain.post(t, decisionsPath, "application/json", []byte(decisionRecord("support-bot", 1)))
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), "logged_no_later_than") {
		t.Errorf("receipt of a log without witnesses: %d %s", resp.StatusCode, b)
	}
}
