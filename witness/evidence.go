package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
)

// Evidence is a record of log misbehaviour: two checkpoints, both signed by
// the log's key, that the log could not show consistent.
type Evidence struct {
	Origin string
	Time   int64 // Unix seconds when the witness saw it
	// Kind is same-size-different-root (both checkpoints signed by the
	// log: conclusive), or consistency-proof-fails, kept only in pull mode
	// (Watcher), where the proof was built from the log's own tiles,
	// authenticated against Submitted's root. A failing proof sent to
	// add-checkpoint is never kept: anyone can write one.
	Kind string
	// Cosigned is the checkpoint the witness had cosigned; Submitted the
	// one it refused (both with the log's signature).
	Cosigned, Submitted []byte
	// OldSize and Proof are what came with Submitted.
	OldSize uint64
	Proof   [][]byte
}

// Format writes the record as text: a header line, then each note and the
// proof in base64 on its own line.
func (e Evidence) Format() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "fork %s %d %s\n", e.Origin, e.Time, e.Kind)
	fmt.Fprintf(&b, "cosigned %s\n", base64.StdEncoding.EncodeToString(e.Cosigned))
	fmt.Fprintf(&b, "submitted %s\n", base64.StdEncoding.EncodeToString(e.Submitted))
	fmt.Fprintf(&b, "proof %d", e.OldSize)
	for _, h := range e.Proof {
		b.WriteString(" " + base64.StdEncoding.EncodeToString(h))
	}
	b.WriteString("\n")
	return b.Bytes()
}

func evidencePrefix(origin string) []byte { return append([]byte{'f'}, append([]byte(origin), 0)...) }

// keepEvidence stores a fork record (synced: evidence must survive a crash)
// and logs it at error level. Called under the origin's lock.
//
// Only evidence is kept: two checkpoints signed by the log at one size
// with different roots, or (pull mode) a proof built from the log's own
// tiles that fails. A record is kept once per what it proves (kind and
// both checkpoint notes), so a replayed fork adds nothing.
func (w *Witness) keepEvidence(logger *slog.Logger, origin, kind string, st state, submitted []byte, req Request) {
	e := Evidence{Origin: origin, Time: w.cfg.Now().Unix(), Kind: kind, Cosigned: st.note, Submitted: submitted, OldSize: req.OldSize, Proof: req.Proof}
	id := sha256.New()
	for _, b := range [][]byte{[]byte(kind), st.logged, submitted} {
		id.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		id.Write(b)
	}
	seen := append([]byte{'e'}, id.Sum(nil)[:16]...)
	if _, closer, err := w.db.Get(seen); err == nil {
		closer.Close()
		logger.Warn("the same fork evidence was submitted again; already kept", "kind", kind)
		return
	}
	// The record, keyed by time so that /forks lists it in order, and the
	// marker that it is kept, in one synced batch.
	key := binary.BigEndian.AppendUint64(evidencePrefix(origin), uint64(e.Time))
	key = binary.BigEndian.AppendUint64(key, uint64(w.forks.Load()))
	b := w.db.NewBatch()
	defer b.Close()
	b.Set(key, e.Format(), nil)
	b.Set(seen, nil, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		logger.Error("couldn't store fork evidence", "err", err)
		return
	}
	w.forks.Add(1)
	if kind == "same-size-different-root" {
		logger.Error("FORK: the log signed two checkpoints of the same size with different roots; evidence kept, not cosigned",
			"kind", kind, "evidence", strconv.Quote(string(e.Format())))
		return
	}
	logger.Error("FORK: the consistency proof built from the log's own tiles fails against the checkpoint cosigned before; evidence kept, not cosigned",
		"kind", kind, "evidence", strconv.Quote(string(e.Format())))
}

// Pagination of ForksPage.
const (
	DefaultForksLimit = 100
	MaxForksLimit     = 1000
)

// ErrBadCursor: a ForksPage cursor that this witness did not make.
var ErrBadCursor = errors.New("bad cursor")

// ForksPage returns up to limit evidence records in store order (by
// origin, then time), starting after cursor ("" is the start), and the
// cursor of the next page, "" when there is none. A cursor is opaque
// (unpadded base64url) and stays valid: records are never deleted, and one
// kept later for an origin sorts after the ones before it.
func (w *Witness) ForksPage(cursor string, limit int) ([][]byte, string, error) {
	if limit < 1 || limit > MaxForksLimit {
		return nil, "", fmt.Errorf("limit must be 1 to %d", MaxForksLimit)
	}
	lo := []byte{'f'}
	if cursor != "" {
		k, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(k) < 1+1+16 || k[0] != 'f' {
			return nil, "", ErrBadCursor
		}
		lo = append(k, 0) // the least key after it
	}
	it, err := w.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{'g'}})
	if err != nil {
		return nil, "", err
	}
	defer it.Close()
	var out [][]byte
	var last []byte
	for ok := it.First(); ok; ok = it.Next() {
		if len(out) == limit {
			return out, base64.RawURLEncoding.EncodeToString(last), nil
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, "", err
		}
		out = append(out, bytes.Clone(v))
		last = bytes.Clone(it.Key())
	}
	return out, "", it.Error()
}

// Forks returns every evidence record, by origin (ForksPage pages them).
func (w *Witness) Forks() ([][]byte, error) {
	lo := []byte{'f'}
	it, err := w.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{'g'}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		out = append(out, bytes.Clone(v))
	}
	return out, it.Error()
}

func (w *Witness) countForks() (int64, error) {
	fs, err := w.Forks()
	return int64(len(fs)), err
}
