package log

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Search returns up to limit indices of entries indexed under term (see
// Entry.Terms), newest first, all smaller than before and covered by the
// published checkpoint. Pass before = math.MaxUint64 for the newest; to
// page, pass the last index of the previous page. The results come from an
// index the log keeps beside the tree: nothing about them is signed.
func (l *Log) Search(ctx context.Context, term []byte, before uint64, limit int) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(term) > MaxTermSize {
		return nil, ErrTermTooLarge
	}
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	// Entries are indexed in the batch that commits them, just before
	// their checkpoint is published: hide those not yet covered.
	if size := l.published.Load().Size; before > size {
		before = size
	}
	prefix := termPrefix(nil, term)
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: prefix,
		UpperBound: binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), before),
	})
	if err != nil {
		return nil, fmt.Errorf("couldn't read store: %w", err)
	}
	defer it.Close()
	var out []uint64
	var page []uint64
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		key := it.Key()
		if len(key) != len(prefix)+8 {
			return nil, fmt.Errorf("%w: index key %x has the wrong length", ErrCorrupt, key)
		}
		gaps, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("couldn't read store: %w", err)
		}
		// A posting lists its entries in increasing order: collect those
		// below before, then take them newest first.
		page = page[:0]
		err = decodePostings(binary.BigEndian.Uint64(key[len(prefix):]), gaps, func(i uint64) bool {
			if i >= before {
				return false
			}
			page = append(page, i)
			return true
		})
		if err != nil {
			return nil, err
		}
		for j := len(page) - 1; j >= 0 && len(out) < limit; j-- {
			out = append(out, page[j])
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("couldn't read store: %w", err)
	}
	return out, nil
}

// Blob returns the blob with the given SHA-256 (see Entry.Blobs), or
// ErrNotFound.
func (l *Log) Blob(ctx context.Context, sum [32]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	v, closer, err := l.db.Get(blobKey(nil, &sum))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read store: %w", err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}
