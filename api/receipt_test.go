package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
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
