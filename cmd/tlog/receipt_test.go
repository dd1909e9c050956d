package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestVerifyReceipt: tlog verify --receipt takes the JSON receipt the API
// answers; a tlog-proof with the newline jq -r adds verifies; a tampered
// receipt, a compact one and a receipt given with --proof are refused;
// tlog consistency --since given a tlog-proof says what it wanted.
func TestVerifyReceipt(t *testing.T) {
	l := startProofLog(t, "example.com/receipts")
	l.add([]byte("a raw entry\n"), []byte("another\n"))
	rec := decisionRecord("receipt", 1)
	post := func(query string) []byte {
		t.Helper()
		resp, err := http.Post(l.s.url("/api/v1/decisions"+query), "application/json", strings.NewReader(rec.line))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /api/v1/decisions%s: %d %s", query, resp.StatusCode, b)
		}
		return b
	}
	receipt := post("")
	good := l.file("receipt.json", receipt)
	r := runTlog(t, "verify", "--key", l.pubFile, "--receipt", good)
	if r.code != 0 || !strings.Contains(r.stdout, "verified: index 2 in tree of size 3 signed by example.com/receipts") {
		logResult(t, "verify --receipt", r)
		t.Fatalf("verify --receipt of a real receipt exited %d", r.code)
	}

	var w struct {
		Entry     []byte `json:"entry"`
		TlogProof string `json:"tlog_proof"`
	}
	if err := json.Unmarshal(receipt, &w); err != nil {
		t.Fatal(err)
	}
	if string(w.Entry) != rec.entry {
		t.Fatalf("the receipt's entry is %s, want %s", w.Entry, rec.entry)
	}
	// What "jq -r .tlog_proof receipt.json > FILE" writes: one more newline.
	jq := l.file("jq.tlog-proof", []byte(w.TlogProof+"\n"))
	entry := l.file("entry.json", w.Entry)
	r = runTlog(t, "verify", "--key", l.pubFile, "--entry", entry, "--proof", jq)
	if r.code != 0 {
		logResult(t, "verify of a jq -r proof", r)
		t.Errorf("a tlog-proof with a trailing newline exited %d", r.code)
	}

	bad := func(name string, body []byte, want string, extra ...string) {
		t.Helper()
		args := append([]string{"verify", "--key", l.pubFile, "--receipt", l.file(name, body)}, extra...)
		r := runTlog(t, args...)
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			logResult(t, name, r)
			t.Errorf("%s: exit %d, want a failure saying %q", name, r.code, want)
		}
	}
	other := bytes.Replace(receipt, []byte(`"entry":"ey`), []byte(`"entry":"fy`), 1)
	if bytes.Equal(other, receipt) {
		t.Fatalf("the receipt does not start its entry with ey (base64 of {\"): %s", receipt)
	}
	bad("tampered.json", other, "not verified")
	bad("compact.json", post("?receipts=compact"), "compact receipt")
	bad("garbage.json", []byte("{not json"), "not a JSON receipt")
	bad("with-proof.json", receipt, "without --entry and --proof", "--proof", jq)

	r = runTlog(t, "consistency", "--log", l.s.url(""), "--key", l.pubFile, "--since", jq)
	if r.code == 0 || !strings.Contains(r.stderr, "is a tlog-proof file; --since wants a signed checkpoint") {
		logResult(t, "consistency --since PROOF", r)
		t.Errorf("consistency --since a tlog-proof: exit %d, want a message saying what it wants", r.code)
	}
}
