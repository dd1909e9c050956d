package witness

import (
	"bytes"
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
func (w *Witness) keepEvidence(logger *slog.Logger, origin, kind string, cosigned, submitted []byte, req Request) {
	e := Evidence{Origin: origin, Time: w.cfg.Now().Unix(), Kind: kind, Cosigned: cosigned, Submitted: submitted, OldSize: req.OldSize, Proof: req.Proof}
	key := binary.BigEndian.AppendUint64(evidencePrefix(origin), uint64(e.Time))
	key = binary.BigEndian.AppendUint64(key, uint64(w.forks.Load()))
	if err := w.db.Set(key, e.Format(), pebble.Sync); err != nil {
		logger.Error("couldn't store fork evidence", "err", err)
	}
	w.forks.Add(1)
	logger.Error("FORK: the log signed a checkpoint inconsistent with one this witness cosigned; evidence kept, not cosigned",
		"kind", kind, "evidence", strconv.Quote(string(e.Format())))
}

// Forks returns every evidence record, oldest first per origin.
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
