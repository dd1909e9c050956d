package signer

import "time"

// EarliestCosignature returns the earliest time at which a witness of p
// cosigned the checkpoint note n, and that witness's policy name: the time
// bound the log can prove for every entry in the checkpoint's tree ("logged
// no later than t"), as far as the verifier trusts p's witnesses.
//
// Only cosignatures that verify count: each signature line of n (verified
// or not when n was opened) whose key name and ID are a witness of p is
// verified again here with that witness's key over n's text, and its signed
// timestamp taken. Cosignatures of other keys, or that do not verify, are
// ignored: an unverified timestamp proves nothing. ok is false when no
// cosignature counts. The log's own signature on n is not checked here:
// open n with p.Check (or OpenCheckpoint) first.
func EarliestCosignature(n *Note, p *Policy) (t time.Time, witness string, ok bool) {
	if n == nil || p == nil {
		return time.Time{}, "", false
	}
	consider := func(s Signature) {
		for _, w := range p.Witnesses {
			v := w.Verifier
			if s.Name != v.Name() || s.KeyHash != v.KeyHash() || !v.Verify([]byte(n.Text), s.Sig) {
				continue
			}
			ct, err := CosignatureTime(s)
			if err != nil {
				continue
			}
			if !ok || ct.Before(t) {
				t, witness, ok = ct, w.Name, true
			}
		}
	}
	for _, s := range n.Sigs {
		consider(s)
	}
	for _, s := range n.UnverifiedSigs {
		consider(s)
	}
	return t.UTC(), witness, ok
}
