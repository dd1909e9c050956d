package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"testing"
)

// The hand-written compact receipt is byte for byte what encoding/json
// writes for the same Receipt.
func TestCompactReceiptMatchesEncodingJSON(t *testing.T) {
	for i, r := range []Receipt{
		{Index: 0, LeafHash: make([]byte, 32)},
		{Index: 1<<64 - 1, LeafHash: bytes.Repeat([]byte{0xff}, 32), Duplicate: true},
		{Index: 123456789, LeafHash: func() []byte { h := sha256.Sum256([]byte("x")); return h[:] }()},
	} {
		var got bytes.Buffer
		enc := newLineEncoder(&got)
		if err := enc.compact(&r); err != nil {
			t.Fatal(err)
		}
		enc.flush()
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != string(want)+"\n" {
			t.Errorf("%d: compact receipt\n got %s\nwant %s", i, got.String(), want)
		}
	}
}

// GET /api/v1/entries/<i> decodes AI entries into "record" (the same
// canonical JSON as "entry"); other entries have no record.
func TestEntryRecord(t *testing.T) {
	ts := newAIServer(t, nil)
	rec := decisionRecord("record-sys", 1)
	resp, body := ts.post(t, "/api/v1/decisions", "application/json", []byte(rec))
	r := receiptOK(t, resp, body)
	raw := ts.add(t, []byte(`{"kind":"decision/v1","but":"raw"}x`))
	for _, tc := range []struct {
		index      uint64
		wantRecord bool
	}{{r.Index, true}, {raw, false}} {
		resp, body := ts.do(t, "GET", "/api/v1/entries/"+strconv.FormatUint(tc.index, 10), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("entry %d: %d %s", tc.index, resp.StatusCode, body)
		}
		var e struct {
			Entry  []byte          `json:"entry"`
			Record json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		switch {
		case tc.wantRecord && !bytes.Equal(e.Record, e.Entry):
			t.Errorf("entry %d: record %s, want the entry %s", tc.index, e.Record, e.Entry)
		case !tc.wantRecord && e.Record != nil:
			t.Errorf("raw entry %d has a record: %s", tc.index, e.Record)
		}
	}
}
