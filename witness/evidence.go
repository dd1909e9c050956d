package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
)

// Evidence is a record of log misbehaviour: two checkpoints, both signed by
// the log's key, that the log could not show consistent.
type Evidence struct {
	Origin string
	Time   int64  // Unix seconds when the witness saw it
	Kind   string // same-size-different-root, consistency-proof-fails
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
// A record is kept once per what it proves (kind and both checkpoint
// notes): the same signed checkpoint submitted again with other junk
// proofs adds nothing. Only the log can sign new checkpoints, so anyone
// else can grow the evidence by at most one record per checkpoint the log
// signed. (A consistency-proof-fails record says the log's checkpoint came
// with a proof that fails; whether any valid proof exists is for whoever
// reads the evidence to ask the log.)
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
	// The proof came from whoever sent the request, not from the log: the
	// record shows a log-signed checkpoint that arrived with a failing
	// proof; ask the log for a proof to confirm.
	logger.Error("possible FORK: a checkpoint signed by the log came with a consistency proof that fails; evidence kept, not cosigned",
		"kind", kind, "evidence", strconv.Quote(string(e.Format())))
}

// Forks returns every evidence record, by origin.
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
