package monitor

import (
	"testing"
)

// BenchmarkMatchDecision is the decoding and matching of one decision
// entry that matches a watched system (the worst case per entry).
func BenchmarkMatchDecision(b *testing.B) {
	e := decisionEntry(b, "kyc", "acme/fraud-v3", "")
	w := Watch{Systems: []string{"kyc"}}
	for b.Loop() {
		if w.match(1, e) == nil {
			b.Fatal("no match")
		}
	}
}
