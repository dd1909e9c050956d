package log

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// postings.add then decodePostings gives back every (term, entry) pair
// once, in increasing order, for random batches; reset leaves nothing of
// the previous batch behind.
func TestPostingsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var p postings
	for round := range 50 {
		want := map[string][]uint64{}
		i := uint64(rng.IntN(1 << 40))
		for range rng.IntN(300) {
			i += 1 + uint64(rng.IntN(1000))
			for range rng.IntN(4) {
				term := fmt.Sprintf("t%d", rng.IntN(20))
				p.add([]byte(term), i)
				if l := want[term]; len(l) == 0 || l[len(l)-1] != i {
					want[term] = append(want[term], i)
				}
			}
		}
		got := map[string][]uint64{}
		for _, l := range p.lists {
			if _, dup := got[string(l.term)]; dup {
				t.Fatalf("round %d: term %q has two postings in one batch", round, l.term)
			}
			err := decodePostings(l.first, l.gaps, func(j uint64) bool {
				got[string(l.term)] = append(got[string(l.term)], j)
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d terms, want %d", round, len(got), len(want))
		}
		for term, w := range want {
			if !slices.Equal(got[term], w) {
				t.Fatalf("round %d: %q = %v, want %v", round, term, got[term], w)
			}
		}
		p.reset()
		if len(p.lists) != 0 || len(p.slot) != 0 {
			t.Fatalf("reset left %d lists, %d slots", len(p.lists), len(p.slot))
		}
	}
}

// decodePostings stops when fn says so and refuses malformed values.
func TestDecodePostingsMalformed(t *testing.T) {
	var seen []uint64
	if err := decodePostings(10, []byte{1, 2, 3}, func(i uint64) bool { seen = append(seen, i); return i < 13 }); err != nil || !slices.Equal(seen, idx(10, 11, 13)) {
		t.Fatalf("decode with early stop: %v, %v", seen, err)
	}
	for name, c := range map[string]struct {
		first uint64
		gaps  []byte
	}{
		"a gap of 0":          {5, []byte{1, 0}},
		"a truncated uvarint": {5, []byte{0x80}},
		"past 2^64":           {math.MaxUint64 - 1, []byte{2}},
		"an overlong uvarint": {0, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	} {
		err := decodePostings(c.first, c.gaps, func(uint64) bool { return true })
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// A term that every entry of a batch has is one index key for the batch,
// and Search pages through it exactly as through one key per entry.
func TestBatchSharesIndexKeys(t *testing.T) {
	cfg := memConfig(t, testSigner(t))
	cfg.BatchMaxAge = 50 * time.Millisecond
	l := mustOpen(t, cfg)
	defer l.Close()
	const n = 2000
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Data: entry(i), Terms: terms("system=shared", fmt.Sprintf("event=%d", i), fmt.Sprintf("actor=%d", i%7))}
	}
	before := l.Stats().Batches
	fs, err := l.AddAll(es)
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, fs)
	batches := l.Stats().Batches - before
	keys := rawTermKeys(t, l.db, []byte("system=shared"))
	if keys == 0 || uint64(keys) > batches {
		t.Fatalf("%d entries in %d batch(es) wrote %d index keys for their shared term, want 1..%d", n, batches, keys, batches)
	}
	if got := rawTermKeys(t, l.db, []byte("event=1999")); got != 1 {
		t.Fatalf("a term of one entry: %d keys", got)
	}
	all := make([]uint64, n)
	for i := range all {
		all[i] = uint64(n - 1 - i)
	}
	for _, page := range []int{1, 7, 1000, n, n + 1} {
		if got := searchPages(t, l, []byte("system=shared"), page); !slices.Equal(got, all) {
			t.Fatalf("pages of %d: %s", page, diffIndices(got, all))
		}
	}
	var actor3 []uint64
	for i := n - 1; i >= 0; i-- {
		if i%7 == 3 {
			actor3 = append(actor3, uint64(i))
		}
	}
	if got := searchPages(t, l, []byte("actor=3"), 10); !slices.Equal(got, actor3) {
		t.Fatalf("actor=3: %s", diffIndices(got, actor3))
	}
	// before inside a posting: only the entries below it, newest first.
	if got := mustSearch(t, l, []byte("system=shared"), 1000, 3); !slices.Equal(got, idx(999, 998, 997)) {
		t.Fatalf("Search(before 1000) = %v", got)
	}
	l.Close()
	rep, err := Fsck(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Terms != 3*n {
		t.Fatalf("fsck counted %d (term, entry) pairs, want %d", rep.Terms, 3*n)
	}
}

// A malformed posting is corruption: Search and fsck say so.
func TestCorruptPosting(t *testing.T) {
	cfg := memConfig(t, testSigner(t))
	l := mustOpen(t, cfg)
	for i := range 3 {
		mustAddEntry(t, l, Entry{Data: entry(i), Terms: terms("t")})
	}
	if err := l.db.Set(termKey(nil, []byte("t"), 1), []byte{1, 0}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Search(context.Background(), []byte("t"), math.MaxUint64, 10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Search over a malformed posting: %v, want ErrCorrupt", err)
	}
	// A posting naming an entry past the tree.
	if err := l.db.Set(termKey(nil, []byte("t"), 1), []byte{5}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	l.Close()
	var fe *FsckError
	if _, err := Fsck(context.Background(), cfg, nil); !errors.As(err, &fe) || fe.Index != 6 {
		t.Fatalf("fsck of a posting past the tree: %v, want an FsckError at entry 6", err)
	}
}

// A version-2 store (one index key per entry, empty values) is upgraded
// in place: its keys read as postings of one entry, and new batches add
// postings beside them.
func TestStoreUpgradeFromVersion2(t *testing.T) {
	cfg := memConfig(t, testSigner(t))
	l := mustOpen(t, cfg)
	for i := range 3 {
		mustAddEntry(t, l, Entry{Data: entry(i), Terms: terms("old")})
	}
	l.Close()
	db, err := openPebble(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the index as version 2 wrote it.
	for i := range uint64(3) {
		db.Set(termKey(nil, []byte("old"), i), nil, pebble.Sync)
	}
	db.Set(keyVersion, []byte(storeVersion2), pebble.Sync)
	db.Close()
	l = mustOpen(t, cfg)
	defer l.Close()
	if v, _ := l.get(keyVersion); string(v) != storeVersion {
		t.Fatalf("store version %q after the upgrade, want %q", v, storeVersion)
	}
	es := make([]Entry, 10)
	for i := range es {
		es[i] = Entry{Data: entry(3 + i), Terms: terms("old")}
	}
	fs, err := l.AddAll(es)
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, fs)
	if got := searchPages(t, l, []byte("old"), 4); !slices.Equal(got, idx(12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)) {
		t.Fatalf("after the upgrade: %v", got)
	}
}

// rawTermKeys counts the index keys of term.
func rawTermKeys(t *testing.T, db pebble.Reader, term []byte) int {
	t.Helper()
	prefix := termPrefix(nil, term)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), math.MaxUint64)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}
