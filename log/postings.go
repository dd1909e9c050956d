package log

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The search index keeps one key per term per batch: the key names the
// term and the first entry of the batch that has it, the value lists the
// others as increasing gaps (uvarints > 0). Terms that many entries of a
// batch share (a system, a model, a purpose) then cost one key per batch
// instead of one per entry, which is most of what indexing a bulk request
// of records costs in Pebble (skiplist inserts, then compaction of keys
// scattered over the key space). Every posting holds entries of one batch,
// so postings of a term never interleave: in key order they list the
// term's entries in index order.

// postings collects the index keys of one batch. The zero value is ready;
// reset empties it and keeps its memory for the next batch.
type postings struct {
	slot  map[string]int // term → its list in lists
	lists []posting
}

type posting struct {
	term        []byte
	first, last uint64
	gaps        []byte // uvarint gaps after first
}

func (p *postings) reset() {
	clear(p.slot)
	for i := range p.lists {
		p.lists[i] = posting{gaps: p.lists[i].gaps[:0]}
	}
	p.lists = p.lists[:0]
}

// add records that entry i, of the batch being built, has term. Entries
// come in increasing index order; a term given twice for one entry is kept
// once.
func (p *postings) add(term []byte, i uint64) {
	if p.slot == nil {
		p.slot = make(map[string]int)
	}
	if j, ok := p.slot[string(term)]; ok {
		l := &p.lists[j]
		if i > l.last {
			l.gaps = binary.AppendUvarint(l.gaps, i-l.last)
			l.last = i
		}
		return
	}
	p.slot[string(term)] = len(p.lists)
	if len(p.lists) < cap(p.lists) {
		p.lists = p.lists[:len(p.lists)+1]
		l := &p.lists[len(p.lists)-1]
		l.term, l.first, l.last = term, i, i
		return
	}
	p.lists = append(p.lists, posting{term: term, first: i, last: i})
}

// decodePostings calls fn for each entry of the posting with the given
// first entry and gaps, in increasing order, until fn returns false. A
// malformed value (a gap of 0, a truncated uvarint, an index past 2^64) is
// ErrCorrupt.
func decodePostings(first uint64, gaps []byte, fn func(uint64) bool) error {
	i := first
	if !fn(i) {
		return nil
	}
	for len(gaps) > 0 {
		d, n := binary.Uvarint(gaps)
		if n <= 0 || d == 0 || d > math.MaxUint64-i {
			return fmt.Errorf("%w: malformed search index posting after entry %d", ErrCorrupt, i)
		}
		gaps = gaps[n:]
		i += d
		if !fn(i) {
			return nil
		}
	}
	return nil
}
