package attest

import (
	"bytes"
	"errors"
)

// A record's log entry is its canonical form with a "kind" member. The
// Parse*Entry functions read such an entry back — for monitors, auditors
// and anyone who reads the log rather than writes to it — and accept only
// an entry that is exactly the canonical form of the record it holds, so
// that what they return is what the log's own parser admitted.

// ReadDecisionEntry reads a decision/v1 entry.
func ReadDecisionEntry(entry []byte) (*Decision, error) {
	var d *Decision
	err := parseRecordEntry(KindDecision, entry, func(b []byte) ([]byte, error) {
		var canonical []byte
		var err error
		d, canonical, err = ParseDecision(b)
		return canonical, err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// ReadAccessEntry reads an access/v1 entry.
func ReadAccessEntry(entry []byte) (*Access, error) {
	var a *Access
	err := parseRecordEntry(KindAccess, entry, func(b []byte) ([]byte, error) {
		var canonical []byte
		var err error
		a, canonical, err = ParseAccess(b)
		return canonical, err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// ReadEvaluationEntry reads an evaluation/v1 entry.
func ReadEvaluationEntry(entry []byte) (*Evaluation, error) {
	var e *Evaluation
	err := parseRecordEntry(KindEvaluation, entry, func(b []byte) ([]byte, error) {
		var canonical []byte
		var err error
		e, canonical, err = ParseEvaluation(b)
		return canonical, err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// parseRecordEntry finds the record in an entry of kind: the entry
// without its "kind" member, which parse (a record parser, refusing
// "kind") must take and give back exactly as entry. Canonical JSON sorts
// keys and every record has a member before "kind", so the member is
// preceded by a comma; the canonical-form check settles which occurrence
// it was when a string holds the same bytes.
func parseRecordEntry(kind string, entry []byte, parse func([]byte) ([]byte, error)) error {
	marker := []byte(`,"kind":"` + kind + `"`)
	var firstErr error
	for off := 0; ; {
		i := bytes.Index(entry[off:], marker)
		if i < 0 {
			break
		}
		i += off
		rec := make([]byte, 0, len(entry)-len(marker))
		rec = append(append(rec, entry[:i]...), entry[i+len(marker):]...)
		canonical, err := parse(rec)
		if err == nil && bytes.Equal(canonical, entry) {
			return nil
		}
		if err == nil {
			err = errors.New("the entry is not the canonical form of its record")
		}
		if firstErr == nil {
			firstErr = err
		}
		off = i + 1
	}
	if firstErr == nil {
		firstErr = errors.New("no top-level kind field")
	}
	return firstErr
}
