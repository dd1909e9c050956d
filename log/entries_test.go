package log

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/tlogai/tlog/internal/faultfs"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// Tests of entries with search terms and blobs (Entry, AddEntry, AddAll,
// Search, Blob).

// searchPages reads every result of Search for term, page entries at a
// time, checking each page: at most page results, newest first, all below
// the page's before.
func searchPages(t testing.TB, l *Log, term []byte, page int) []uint64 {
	t.Helper()
	var out []uint64
	before := uint64(math.MaxUint64)
	for {
		got, err := l.Search(context.Background(), term, before, page)
		if err != nil {
			t.Fatalf("Search(%q, %d, %d): %v", term, before, page, err)
		}
		if len(got) > page {
			t.Fatalf("Search(%q, %d, %d) returned %d results", term, before, page, len(got))
		}
		for i, x := range got {
			if x >= before || (i > 0 && x >= got[i-1]) {
				t.Fatalf("Search(%q, %d, %d) = %v: not newest first below before", term, before, page, got)
			}
		}
		out = append(out, got...)
		if len(got) < page || got[len(got)-1] == 0 {
			return out
		}
		before = got[len(got)-1]
	}
}

// mustSearch is one Search call that must succeed.
func mustSearch(t testing.TB, l *Log, term []byte, before uint64, limit int) []uint64 {
	t.Helper()
	got, err := l.Search(context.Background(), term, before, limit)
	if err != nil {
		t.Fatalf("Search(%q, %d, %d): %v", term, before, limit, err)
	}
	return got
}

func mustAddEntry(t testing.TB, l *Log, e Entry) Result {
	t.Helper()
	r, err := l.AddEntry(e).Wait(context.Background())
	if err != nil {
		t.Fatalf("AddEntry(%q): %v", e.Data, err)
	}
	return r
}

// waitAll waits for futures and returns their results, failing on any
// error.
func waitAll(t testing.TB, fs []*Future) []Result {
	t.Helper()
	out := make([]Result, len(fs))
	for i, f := range fs {
		r, err := f.Wait(context.Background())
		if err != nil {
			t.Fatalf("future %d: %v", i, err)
		}
		out[i] = r
	}
	return out
}

func terms(ts ...string) [][]byte {
	out := make([][]byte, len(ts))
	for i, s := range ts {
		out[i] = []byte(s)
	}
	return out
}

func idx(is ...uint64) []uint64 { return is }

// sameIndices compares search results, nil and empty being equal.
func sameIndices(a, b []uint64) bool { return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b)) }

func checkBlob(t testing.TB, l *Log, b []byte) {
	t.Helper()
	got, err := l.Blob(context.Background(), sha256.Sum256(b))
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("Blob(sha256 of %.20q…): %.20q…, %v", b, got, err)
	}
}

func checkNoBlob(t testing.TB, l *Log, b []byte) {
	t.Helper()
	if got, err := l.Blob(context.Background(), sha256.Sum256(b)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Blob(sha256 of %.20q…) = %.20q…, %v; want ErrNotFound", b, got, err)
	}
}

// Search finds entries under each of their terms, newest first, pages
// with before and limit; the length prefix keeps a term from matching a
// longer term it is a prefix of; Blob returns blobs by SHA-256.
func TestEntryTermsSearchAndBlobs(t *testing.T) {
	l := mustOpen(t, memConfig(t, testSigner(t)))
	defer l.Close()
	ctx := context.Background()
	long := bytes.Repeat([]byte("L"), MaxTermSize)
	t127, t128 := bytes.Repeat([]byte{0x80}, 127), bytes.Repeat([]byte{0x80}, 128)
	big := bytes.Repeat([]byte("big blob "), 100_000) // larger than an entry
	es := []Entry{
		0: {Data: []byte("e0"), Terms: terms("a", "ab"), Blobs: [][]byte{[]byte("blob 0")}},
		1: {Data: []byte("e1"), Terms: terms("a"), Blobs: [][]byte{[]byte("blob 1"), big}},
		2: {Data: []byte("e2"), Terms: terms("ab")},
		3: {Data: []byte("e3"), Terms: terms("a", "a")}, // a repeated term indexes once
		4: {Data: []byte("e4")},
		5: {Data: []byte("e5"), Terms: [][]byte{{}, long, t127, t128}},
		6: {Data: []byte("e6"), Terms: [][]byte{t128[:127], long[:MaxTermSize-1]}},
		7: {Data: []byte("e7"), Terms: terms("b", "a\x00", "\x01a")},
	}
	for i, e := range es {
		if r := mustAddEntry(t, l, e); r.Index != uint64(i) || r.Duplicate {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
	for _, tc := range []struct {
		term []byte
		want []uint64
	}{
		{[]byte("a"), idx(3, 1, 0)},
		{[]byte("ab"), idx(2, 0)},
		{[]byte("b"), idx(7)},
		{[]byte("a\x00"), idx(7)},
		{[]byte("\x01a"), idx(7)},
		{[]byte("abc"), nil},
		{[]byte("A"), nil},
		{[]byte{}, idx(5)},
		{nil, idx(5)},
		{long, idx(5)},
		{long[:MaxTermSize-1], idx(6)},
		{long[:1], nil},
		{t127, idx(6, 5)}, // t128[:127] == t127
		{t128, idx(5)},
		{bytes.Repeat([]byte{0x80}, 129), nil},
		{[]byte("e0"), nil}, // the entry's bytes are no term
	} {
		for _, page := range []int{1, 2, 3, 100} {
			if got := searchPages(t, l, tc.term, page); !sameIndices(got, tc.want) {
				t.Errorf("Search(%.20q) pages of %d: %v, want %v", tc.term, page, got, tc.want)
			}
		}
	}

	a := []byte("a")
	for _, tc := range []struct {
		before uint64
		limit  int
		want   []uint64
	}{
		{math.MaxUint64, 2, idx(3, 1)},
		{math.MaxUint64, 1, idx(3)},
		{math.MaxUint64, 0, nil},
		{math.MaxUint64, -1, nil},
		{8, 10, idx(3, 1, 0)},    // the tree size
		{1000, 10, idx(3, 1, 0)}, // beyond the tree
		{4, 10, idx(3, 1, 0)},
		{3, 10, idx(1, 0)}, // before is exclusive
		{2, 10, idx(1, 0)},
		{1, 10, idx(0)},
		{1, 1, idx(0)},
		{0, 10, nil},
		{0, math.MaxInt, nil},
	} {
		if got := mustSearch(t, l, a, tc.before, tc.limit); !sameIndices(got, tc.want) {
			t.Errorf("Search(a, %d, %d) = %v, want %v", tc.before, tc.limit, got, tc.want)
		}
	}

	if _, err := l.Search(ctx, bytes.Repeat([]byte("L"), MaxTermSize+1), math.MaxUint64, 10); !errors.Is(err, ErrTermTooLarge) {
		t.Errorf("Search with a term too large: %v, want ErrTermTooLarge", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Search(cctx, a, math.MaxUint64, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Search with a canceled context: %v", err)
	}
	if _, err := l.Blob(cctx, sha256.Sum256([]byte("blob 0"))); !errors.Is(err, context.Canceled) {
		t.Errorf("Blob with a canceled context: %v", err)
	}

	for _, e := range es {
		for _, b := range e.Blobs {
			checkBlob(t, l, b)
		}
	}
	checkNoBlob(t, l, []byte("blob 2"))
	checkNoBlob(t, l, []byte("e0")) // entries are not blobs
	if _, err := l.Blob(ctx, [32]byte{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Blob(zero sum): %v", err)
	}

	// All of it survives a restart.
	l.Close()
	if _, err := l.Search(ctx, a, math.MaxUint64, 10); !errors.Is(err, ErrClosed) {
		t.Errorf("Search after Close: %v, want ErrClosed", err)
	}
	if _, err := l.Blob(ctx, sha256.Sum256([]byte("blob 0"))); !errors.Is(err, ErrClosed) {
		t.Errorf("Blob after Close: %v, want ErrClosed", err)
	}
	l = mustOpen(t, l.cfg)
	defer l.Close()
	if got := searchPages(t, l, a, 2); !slices.Equal(got, idx(3, 1, 0)) {
		t.Errorf("after reopening, Search(a) = %v", got)
	}
	if got := searchPages(t, l, t128, 2); !slices.Equal(got, idx(5)) {
		t.Errorf("after reopening, Search(t128) = %v", got)
	}
	checkBlob(t, l, big)
}

// A duplicate's terms and blobs are not stored: the original's were
// (Entry's contract), whether the original is in an earlier batch, in the
// same batch, or earlier in the same AddAll.
func TestDuplicateEntryAddsNoTermsOrBlobs(t *testing.T) {
	for _, batchMax := range []int{0, 1} {
		t.Run(fmt.Sprintf("BatchMaxSize=%d", batchMax), func(t *testing.T) {
			cfg := memConfig(t, testSigner(t))
			cfg.BatchMaxSize = batchMax
			l := mustOpen(t, cfg)
			defer l.Close()

			// The original in an earlier batch.
			orig := Entry{Data: []byte("x"), Terms: terms("t1"), Blobs: [][]byte{[]byte("B1")}}
			if r := mustAddEntry(t, l, orig); r.Index != 0 || r.Duplicate {
				t.Fatalf("original: %+v", r)
			}
			dup := Entry{Data: []byte("x"), Terms: terms("t2", "t1"), Blobs: [][]byte{[]byte("B2")}}
			if r := mustAddEntry(t, l, dup); r.Index != 0 || !r.Duplicate {
				t.Fatalf("duplicate: %+v", r)
			}
			// Within one AddAll: the first occurrence is the original.
			fs, err := l.AddAll([]Entry{
				{Data: []byte("y"), Terms: terms("u1"), Blobs: [][]byte{[]byte("C1")}},
				{Data: []byte("y"), Terms: terms("u2"), Blobs: [][]byte{[]byte("C2")}},
				{Data: []byte("z"), Terms: terms("u1", "u3")},
				{Data: []byte("x"), Terms: terms("u3", "t2")},
				{Data: []byte("z"), Terms: terms("u2")},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []Result{{1, false}, {1, true}, {2, false}, {0, true}, {2, true}}
			if got := waitAll(t, fs); !slices.Equal(got, want) {
				t.Fatalf("AddAll results %+v, want %+v", got, want)
			}
			for term, want := range map[string][]uint64{
				"t1": idx(0),
				"t2": nil,
				"u1": idx(2, 1),
				"u2": nil,
				"u3": idx(2),
			} {
				if got := searchPages(t, l, []byte(term), 10); !sameIndices(got, want) {
					t.Errorf("Search(%s) = %v, want %v", term, got, want)
				}
			}
			checkBlob(t, l, []byte("B1"))
			checkBlob(t, l, []byte("C1"))
			checkNoBlob(t, l, []byte("B2"))
			checkNoBlob(t, l, []byte("C2"))
			if s := l.Stats(); s.Size != 3 || s.Entries != 3 || s.Duplicates != 4 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// Entries committed in one batch are all indexed under their terms.
func TestTermsOfOneBatch(t *testing.T) {
	cfg := memConfig(t, testSigner(t))
	cfg.BatchMaxAge = time.Hour // the batch closes when full
	cfg.BatchMaxSize = 64
	l := mustOpen(t, cfg)
	defer l.Close()
	es := make([]Entry, 64)
	for i := range es {
		es[i] = Entry{Data: entry(i), Terms: terms(fmt.Sprintf("mod3=%d", i%3), "all"), Blobs: [][]byte{[]byte(fmt.Sprintf("blob %d", i))}}
	}
	fs, err := l.AddAll(es)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range waitAll(t, fs) {
		if r.Index != uint64(i) || r.Duplicate {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
	if s := l.Stats(); s.Batches != 1 {
		t.Fatalf("%d batches, want 1", s.Batches)
	}
	for m := 0; m < 3; m++ {
		var want []uint64
		for i := len(es) - 1; i >= 0; i-- {
			if i%3 == m {
				want = append(want, uint64(i))
			}
		}
		if got := searchPages(t, l, []byte(fmt.Sprintf("mod3=%d", m)), 7); !slices.Equal(got, want) {
			t.Errorf("mod3=%d: %v, want %v", m, got, want)
		}
	}
	if got := searchPages(t, l, []byte("all"), 64); len(got) != 64 || got[0] != 63 || got[63] != 0 {
		t.Errorf("all: %v", got)
	}
	for _, e := range es {
		checkBlob(t, l, e.Blobs[0])
	}
}

// Search hides index keys of entries the published checkpoint does not
// cover yet (they are written in the batch just before it is published).
func TestSearchHidesBeyondPublished(t *testing.T) {
	l := mustOpen(t, memConfig(t, testSigner(t)))
	defer l.Close()
	for i := 0; i < 3; i++ {
		mustAddEntry(t, l, Entry{Data: entry(i), Terms: terms("ghost")})
	}
	// Stand in for a batch committed but not yet published: index keys at
	// 3 and 5, beyond the published size 3.
	for _, i := range []uint64{3, 5} {
		if err := l.db.Set(termKey(nil, []byte("ghost"), i), nil, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	for _, before := range []uint64{math.MaxUint64, 6, 4} {
		if got := mustSearch(t, l, []byte("ghost"), before, 10); !slices.Equal(got, idx(2, 1, 0)) {
			t.Fatalf("Search(ghost, %d) = %v, want [2 1 0]: indices beyond the published size 3", before, got)
		}
	}
	for i := 3; i < 6; i++ {
		mustAdd(t, l, entry(i))
	}
	if got := mustSearch(t, l, []byte("ghost"), math.MaxUint64, 10); !slices.Equal(got, idx(5, 3, 2, 1, 0)) {
		t.Fatalf("at size 6: %v", got)
	}
}

// With writers running, Search never returns an index the published
// checkpoint did not cover, and never misses one it did: every entry has
// the term "hot", so each result is [n-1, …, 0] with n between the
// published sizes before and after the call.
func TestSearchConcurrentWithAdds(t *testing.T) {
	cfg := memConfig(t, testSigner(t))
	cfg.BatchMaxSize = 8
	l := mustOpen(t, cfg)
	defer l.Close()
	var (
		wg   sync.WaitGroup
		stop atomic.Bool
		next atomic.Int64
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				n := 1 + int(next.Load()%3)
				es := make([]Entry, n)
				for j := range es {
					es[j] = Entry{Data: entry(int(next.Add(1))), Terms: terms("hot")}
				}
				fs, err := l.AddAll(es)
				if err != nil {
					t.Error(err)
					return
				}
				for _, f := range fs {
					if _, err := f.Wait(context.Background()); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	checks := 0
	for ; time.Now().Before(deadline) || checks < 50; checks++ {
		lo := l.Published().Size
		got := mustSearch(t, l, []byte("hot"), math.MaxUint64, math.MaxInt)
		hi := l.Stats().Size
		n := uint64(len(got))
		if n < lo || n > hi {
			t.Fatalf("Search found %d entries; published sizes around the call %d…%d", n, lo, hi)
		}
		for i, x := range got {
			if x != n-1-uint64(i) {
				t.Fatalf("Search result %d is %d, want %d (published %d…%d)", i, x, n-1-uint64(i), lo, hi)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d searches, final size %d", checks, l.Published().Size)
}

// AddAll gives its new entries consecutive indices in order, and each
// duplicate (of an earlier entry of the call or of the log) the original's
// index with Duplicate set.
func TestAddAllOrderAndDuplicates(t *testing.T) {
	for _, batchMax := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("BatchMaxSize=%d", batchMax), func(t *testing.T) {
			cfg := memConfig(t, testSigner(t))
			cfg.BatchMaxSize = batchMax
			l := mustOpen(t, cfg)
			defer l.Close()
			mustAdd(t, l, entry(1000))
			mustAdd(t, l, entry(1001))

			var es []Entry
			var want []Result
			first := map[int]uint64{1000: 0, 1001: 1}
			next := uint64(2)
			for i, k := range []int{0, 1, 0, 2, 1000, 3, 3, 3, 4, 1001, 2, 5, 6, 7, 8, 9, 0} {
				es = append(es, Entry{Data: entry(k), Terms: terms(fmt.Sprintf("pos %d", i))})
				if at, ok := first[k]; ok {
					want = append(want, Result{Index: at, Duplicate: true})
					continue
				}
				first[k] = next
				want = append(want, Result{Index: next})
				next++
			}
			fs, err := l.AddAll(es)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != len(es) {
				t.Fatalf("%d futures for %d entries", len(fs), len(es))
			}
			if got := waitAll(t, fs); !slices.Equal(got, want) {
				t.Fatalf("results\n%+v\nwant\n%+v", got, want)
			}
			if size := l.Published().Size; size != next {
				t.Fatalf("size %d, want %d", size, next)
			}
			for i, r := range want {
				got := searchPages(t, l, []byte(fmt.Sprintf("pos %d", i)), 10)
				if r.Duplicate && len(got) != 0 || !r.Duplicate && !slices.Equal(got, idx(r.Index)) {
					t.Errorf("term of position %d (%+v): %v", i, r, got)
				}
				e, err := l.ReadEntry(context.Background(), r.Index)
				if err != nil || !bytes.Equal(e, es[i].Data) {
					t.Errorf("entry %d: %q, %v; want %q", r.Index, e, err, es[i].Data)
				}
			}
		})
	}
}

// An invalid entry anywhere in an AddAll refuses the whole call: nothing
// is pooled, nothing logged, no slot stays reserved.
func TestAddAllInvalidAddsNothing(t *testing.T) {
	cfg := memConfig(t, testSigner(t))
	cfg.PoolSize = 8
	l := mustOpen(t, cfg)
	defer l.Close()
	mustAdd(t, l, entry(0))
	if fs, err := l.AddAll(nil); err != nil || fs != nil {
		t.Fatalf("AddAll(nil) = %v, %v", fs, err)
	}
	if fs, err := l.AddAll([]Entry{}); err != nil || len(fs) != 0 {
		t.Fatalf("AddAll(empty) = %v, %v", fs, err)
	}
	bad := []struct {
		name string
		e    Entry
		want error
	}{
		{"nil entry", Entry{Terms: terms("bad")}, ErrEmptyEntry},
		{"empty entry", Entry{Data: []byte{}, Terms: terms("bad")}, ErrEmptyEntry},
		{"entry too large", Entry{Data: make([]byte, MaxEntrySize+1), Terms: terms("bad")}, ErrEntryTooLarge},
		{"term too large", Entry{Data: []byte("bad term"), Terms: [][]byte{[]byte("bad"), make([]byte, MaxTermSize+1)}}, ErrTermTooLarge},
	}
	for _, b := range bad {
		for _, pos := range []int{0, 2, 4} {
			var es []Entry
			for i := 0; i < 4; i++ {
				es = append(es, Entry{Data: []byte(fmt.Sprintf("good %s %d %d", b.name, pos, i)), Terms: terms("good"), Blobs: [][]byte{[]byte("good blob " + b.name)}})
			}
			es = slices.Insert(es, pos, b.e)
			fs, err := l.AddAll(es)
			if !errors.Is(err, b.want) || fs != nil {
				t.Fatalf("%s at %d: %v, %v; want %v", b.name, pos, fs, err, b.want)
			}
			if _, err := l.AddEntry(b.e).Wait(context.Background()); !errors.Is(err, b.want) {
				t.Fatalf("AddEntry(%s): %v, want %v", b.name, err, b.want)
			}
			if p := l.pending.Load(); p != 0 {
				t.Fatalf("%s at %d: %d slots reserved", b.name, pos, p)
			}
		}
	}
	// Largest entry and largest term are fine.
	fs, err := l.AddAll([]Entry{{Data: make([]byte, MaxEntrySize), Terms: [][]byte{make([]byte, MaxTermSize)}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := waitAll(t, fs)[0]; r.Index != 1 || r.Duplicate {
		t.Fatalf("largest entry: %+v, want index 1: the refused calls logged something", r)
	}
	for _, term := range []string{"good", "bad"} {
		if got := searchPages(t, l, []byte(term), 10); len(got) != 0 {
			t.Fatalf("terms of refused entries indexed: %s → %v", term, got)
		}
	}
	checkNoBlob(t, l, []byte("good blob term too large"))
	if s := l.Stats(); s.Size != 2 || s.Pending != 0 || s.Pushback != 0 {
		t.Fatalf("stats %+v", s)
	}
	// No slot leaked: the whole pool is free.
	es := make([]Entry, cfg.PoolSize)
	for i := range es {
		es[i] = Entry{Data: entry(100 + i)}
	}
	fs, err = l.AddAll(es)
	if err != nil {
		t.Fatalf("AddAll of PoolSize entries: %v", err)
	}
	waitAll(t, fs)
}

// A full pool refuses a whole AddAll: none of its entries is ever logged,
// no index is used, and calls that fit go through once the sequencer moves
// again.
func TestAddAllPushbackAllOrNothing(t *testing.T) {
	fs := faultfs.New(vfs.NewMem())
	cfg := Config{Dir: "/log", FS: fs, Signer: testSigner(t), Logger: testLogger(t), PoolSize: 8, BatchMaxAge: -1}
	l := mustOpen(t, cfg)
	defer l.Close()
	defer fs.Resume() // before Close, if the test fails while stalled
	mk := func(name string, n int) []Entry {
		es := make([]Entry, n)
		for i := range es {
			es[i] = Entry{
				Data:  []byte(fmt.Sprintf("%s %d", name, i)),
				Terms: terms(name, "all"),
				Blobs: [][]byte{[]byte(fmt.Sprintf("blob of %s %d", name, i))},
			}
		}
		return es
	}

	fs.Stall()
	stuck := l.AddEntry(mk("stuck", 1)[0]) // the committer blocks in its fsync
	waitStalledOn(t, fs, stuck)
	fillers := fillPipeline(t, l, "pushback", []byte("all"))
	F := uint64(len(fillers)) // entries 1…F

	var (
		refused [][]Entry
		pushed  uint64
	)
	refuse := func(es []Entry) {
		t.Helper()
		before := l.pending.Load()
		got, err := l.AddAll(es)
		switch {
		case got != nil:
			t.Fatalf("AddAll of %d with %d pending: futures and %v", len(es), before, err)
		case len(es) <= cfg.PoolSize && !errors.Is(err, ErrPushback):
			t.Fatalf("AddAll of %d with %d pending: %v; want ErrPushback", len(es), before, err)
		case err == nil: // larger than the pool: ErrPushback or another error
			t.Fatalf("AddAll of %d, larger than the pool, accepted", len(es))
		}
		if errors.Is(err, ErrPushback) {
			pushed += uint64(len(es))
		}
		if after := l.pending.Load(); after != before {
			t.Fatalf("refused AddAll changed the reservations: %d → %d", before, after)
		}
		refused = append(refused, es)
	}
	var accepted [][]*Future
	accept := func(es []Entry) {
		t.Helper()
		got, err := l.AddAll(es)
		if err != nil {
			t.Fatalf("AddAll of %d with %d pending: %v", len(es), l.pending.Load(), err)
		}
		accepted = append(accepted, got)
	}
	refuse(mk("nine", 9)) // more than the pool holds
	accept(mk("five", 5))
	refuse(mk("eight", 8)) // fits the pool, not what is free
	refuse(mk("four", 4))  // 5 + 4 > 8
	accept(mk("three", 3))
	refuse(mk("one", 1))
	if _, err := l.AddEntry(mk("single", 1)[0]).Wait(context.Background()); !errors.Is(err, ErrPushback) {
		t.Fatalf("AddEntry to a full pool: %v", err)
	}
	refused = append(refused, mk("single", 1))
	pushed++
	if s := l.Stats(); s.Pending != 8 || s.Pushback != pushed {
		t.Fatalf("while stalled: %+v, want %d pushed back", s, pushed)
	}
	fs.Resume()

	if r, err := stuck.Wait(context.Background()); err != nil || r.Index != 0 {
		t.Fatalf("stuck: %+v, %v", r, err)
	}
	for i, f := range fillers {
		if r, err := f.Wait(context.Background()); err != nil || r.Index != uint64(i)+1 {
			t.Fatalf("filler %d: %+v, %v", i, r, err)
		}
	}
	next := 1 + F
	for _, group := range accepted {
		for _, r := range waitAll(t, group) {
			if r.Index != next || r.Duplicate {
				t.Fatalf("accepted entry: %+v, want index %d", r, next)
			}
			next++
		}
	}
	if size := l.Published().Size; size != 9+F {
		t.Fatalf("size %d, want %d", size, 9+F)
	}
	if s := l.Stats(); s.Pending != 0 || l.pending.Load() != 0 {
		t.Fatalf("after the stall: %+v, reserved %d", s, l.pending.Load())
	}
	// The refused entries left no trace.
	for _, es := range refused {
		for _, e := range es {
			if _, err := l.LeafIndex(proofs.HashLeaf(e.Data)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("refused %q is in the log: %v", e.Data, err)
			}
			checkNoBlob(t, l, e.Blobs[0])
			if got := searchPages(t, l, e.Terms[0], 10); len(got) != 0 {
				t.Fatalf("refused %q is indexed: %v", e.Terms[0], got)
			}
		}
	}
	if got := searchPages(t, l, []byte("all"), 3); !slices.Equal(got, descending(8+F, 0)) {
		t.Fatalf("all: %v", got)
	}
	// A call of exactly PoolSize fits again, and the refused entries now
	// get fresh indices.
	var retry []Entry
	for _, es := range refused {
		retry = append(retry, es...)
	}
	for len(retry) > 0 {
		chunk := retry[:min(len(retry), cfg.PoolSize)]
		retry = retry[len(chunk):]
		got, err := l.AddAll(chunk)
		if err != nil {
			t.Fatalf("retry of %d: %v", len(chunk), err)
		}
		for _, r := range waitAll(t, got) {
			if r.Index != next || r.Duplicate {
				t.Fatalf("retried entry: %+v, want index %d", r, next)
			}
			next++
		}
	}
	if got := searchPages(t, l, []byte("nine"), 4); !slices.Equal(got, descending(17+F, 9+F)) {
		t.Fatalf("nine after the retry: %v", got)
	}
}

// An AddAll larger than the pool can never be accepted, on an idle log
// too: it must fail without reserving or logging anything, and not with
// ErrPushback, whose "retry later" cannot help it.
func TestAddAllLargerThanPool(t *testing.T) {
	cfg := memConfig(t, testSigner(t))
	cfg.PoolSize = 8
	l := mustOpen(t, cfg)
	defer l.Close()
	es := make([]Entry, cfg.PoolSize+1)
	for i := range es {
		es[i] = Entry{Data: entry(i), Terms: terms("big call")}
	}
	fs, err := l.AddAll(es)
	if err == nil || fs != nil {
		t.Fatalf("AddAll of PoolSize+1 on an idle log: %v, %v; want an error", fs, err)
	}
	if errors.Is(err, ErrPushback) {
		t.Errorf("AddAll of PoolSize+1 on an idle log: %v; ErrPushback says retry later, which can never succeed", err)
	}
	if p := l.pending.Load(); p != 0 {
		t.Fatalf("%d slots reserved", p)
	}
	fs, err = l.AddAll(es[:cfg.PoolSize])
	if err != nil {
		t.Fatalf("AddAll of PoolSize: %v", err)
	}
	for i, r := range waitAll(t, fs) {
		if r.Index != uint64(i) || r.Duplicate {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
}

// gatedSigner is a sigstore signer that, while gated, waits for a decision
// on each signature: the test decides when each batch proceeds, and
// whether its signing fails.
type gatedSigner struct {
	signature.SignerVerifier
	gated   atomic.Bool
	entered chan struct{} // a gated signature is waiting
	decide  chan bool     // true: sign; false: fail
	free    chan struct{} // closed: sign without waiting (clean-up)
}

func (g *gatedSigner) SignMessage(m io.Reader, opts ...signature.SignOption) ([]byte, error) {
	if g.gated.Load() {
		select {
		case g.entered <- struct{}{}:
			select {
			case ok := <-g.decide:
				if !ok {
					return nil, errors.New("signing refused by the test")
				}
			case <-g.free:
			}
		case <-g.free:
		}
	}
	return g.SignerVerifier.SignMessage(m, opts...)
}

func (g *gatedSigner) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return g.SignerVerifier.PublicKey(opts...)
}

func newGatedSigner(t *testing.T) (*gatedSigner, *signer.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadED25519SignerVerifier(priv)
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedSigner{SignerVerifier: sv, entered: make(chan struct{}), decide: make(chan bool), free: make(chan struct{})}
	s, err := signer.FromSigstore("example.com/gated", g)
	if err != nil {
		t.Fatal(err)
	}
	return g, s
}

func isDone(f *Future) bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// The futures of one AddAll share one wait: none returns before all have
// resolved, even when their entries land in different batches and one of
// them is logged long before the others; each still gets its own outcome.
func TestAddAllGroupWaitsForAll(t *testing.T) {
	g, s := newGatedSigner(t)
	cfg := Config{Dir: "/log", FS: vfs.NewMem(), Signer: s, Logger: testLogger(t), BatchMaxSize: 1, BatchMaxAge: -1}
	l := mustOpen(t, cfg)
	defer func() {
		close(g.free) // let any batch still waiting (after a failure) finish
		l.Close()
	}()
	g.gated.Store(true)
	fs, err := l.AddAll([]Entry{
		{Data: []byte("g0"), Terms: terms("g")},
		{Data: []byte("g1"), Terms: terms("g")},
		{Data: []byte("g2"), Terms: terms("g")},
	})
	if err != nil {
		t.Fatal(err)
	}
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	<-g.entered      // batch of g0 is signing
	g.decide <- true // g0 commits
	<-g.entered      // batch of g1 is signing; g0 resolves meanwhile (the committer)
	for deadline := time.Now().Add(5 * time.Second); l.Published().Size != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("published size %d, want 1", l.Published().Size)
		}
	}
	if got := mustSearch(t, l, []byte("g"), math.MaxUint64, 10); !slices.Equal(got, idx(0)) {
		t.Fatalf("Search(g) = %v", got)
	}
	for i, f := range fs {
		if _, err := f.Wait(short()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("future %d returned with one of three resolved: %v", i, err)
		}
		if isDone(f) {
			t.Fatalf("future %d done with one of three resolved", i)
		}
	}
	g.decide <- false // g1's batch fails
	<-g.entered       // g2 is signing
	if _, err := fs[0].Wait(short()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("future 0 returned with two of three resolved: %v", err)
	}
	g.decide <- true
	want := []struct {
		res Result
		err error
	}{{Result{Index: 0}, nil}, {Result{}, ErrBatchFailed}, {Result{Index: 1}, nil}}
	for i, f := range fs {
		r, err := f.Wait(context.Background())
		if r != want[i].res || !errors.Is(err, want[i].err) {
			t.Fatalf("future %d: %+v, %v; want %+v, %v", i, r, err, want[i].res, want[i].err)
		}
	}
	if got := mustSearch(t, l, []byte("g"), math.MaxUint64, 10); !slices.Equal(got, idx(1, 0)) {
		t.Fatalf("Search(g) = %v", got)
	}
	if e, err := l.ReadEntry(context.Background(), 1); err != nil || string(e) != "g2" {
		t.Fatalf("entry 1: %q, %v", e, err)
	}
}

// Pending accounting: after pushback, successes, concurrent callers and a
// Close that drains the pool, no reservation is left, a call of exactly
// PoolSize fits, and calls after Close get ErrClosed.
func TestPendingAccounting(t *testing.T) {
	ffs := faultfs.New(vfs.NewMem())
	cfg := Config{Dir: "/log", FS: ffs, Signer: testSigner(t), Logger: testLogger(t), PoolSize: 8, BatchMaxSize: 3, BatchMaxAge: -1}
	l := mustOpen(t, cfg)
	defer func() { l.Close() }()
	defer ffs.Resume() // before Close, if the test fails while stalled
	var n atomic.Int64
	mk := func(k int) []Entry {
		es := make([]Entry, k)
		for i := range es {
			es[i] = Entry{Data: entry(int(n.Add(1))), Terms: terms("acct")}
		}
		return es
	}
	full := func(l *Log) {
		t.Helper()
		if s := l.Stats(); s.Pending != 0 || l.pending.Load() != 0 {
			t.Fatalf("stats %+v, reserved %d; want nothing pending", s, l.pending.Load())
		}
		fs, err := l.AddAll(mk(cfg.PoolSize))
		if err != nil {
			t.Fatalf("AddAll of PoolSize entries: %v (a leaked reservation?)", err)
		}
		waitAll(t, fs)
	}
	full(l)

	// Concurrent callers of all sizes, some larger than the pool.
	var (
		wg                       sync.WaitGroup
		logged, pushed, oversize atomic.Int64
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				k := 1 + (w+i)%10
				fs, err := l.AddAll(mk(k))
				if k > cfg.PoolSize {
					if err == nil {
						t.Errorf("AddAll of %d, larger than the pool, accepted", k)
						return
					}
					oversize.Add(1)
				}
				if errors.Is(err, ErrPushback) {
					pushed.Add(int64(k))
					continue
				}
				if err != nil && k > cfg.PoolSize {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				for _, f := range fs {
					if _, err := f.Wait(context.Background()); err != nil {
						t.Error(err)
						return
					}
				}
				logged.Add(int64(k))
			}
		}()
	}
	wg.Wait()
	s := l.Stats()
	t.Logf("logged %d, pushed back %d (calls larger than the pool: %d); %+v", logged.Load(), pushed.Load(), oversize.Load(), s)
	if s.Pushback != uint64(pushed.Load()) || s.Size != uint64(cfg.PoolSize)+uint64(logged.Load()) {
		t.Fatalf("stats %+v, want %d pushed back and size %d", s, pushed.Load(), cfg.PoolSize+int(logged.Load()))
	}
	full(l)

	// Close drains a full pool behind a stalled commit.
	ffs.Stall()
	stuck := l.AddEntry(mk(1)[0])
	waitStalledOn(t, ffs, stuck)
	pooled, err := l.AddAll(mk(cfg.PoolSize))
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	for l.Healthy() == nil {
		time.Sleep(time.Millisecond)
	}
	if fs, err := l.AddAll(mk(1)); !errors.Is(err, ErrClosed) || fs != nil {
		t.Fatalf("AddAll while closing: %v, %v; want ErrClosed", fs, err)
	}
	ffs.Resume()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := stuck.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitAll(t, pooled)
	for _, k := range []int{1, cfg.PoolSize, cfg.PoolSize + 1} {
		if fs, err := l.AddAll(mk(k)); !errors.Is(err, ErrClosed) || fs != nil {
			t.Fatalf("AddAll of %d after Close: %v, %v; want ErrClosed", k, fs, err)
		}
	}
	if s := l.Stats(); s.Pending != 0 || l.pending.Load() != 0 {
		t.Fatalf("after Close: %+v, reserved %d", s, l.pending.Load())
	}
	size := l.Published().Size

	l = mustOpen(t, cfg)
	if got := l.Published().Size; got != size {
		t.Fatalf("reopened at size %d, want %d", got, size)
	}
	full(l)
	if got := searchPages(t, l, []byte("acct"), 1000); uint64(len(got)) != size+uint64(cfg.PoolSize) {
		t.Fatalf("%d entries under acct, want %d", len(got), size+uint64(cfg.PoolSize))
	}
}

// termKeysOf lists the search index of db as term → indices, checking
// that each key and posting is well formed.
func termKeysOf(t testing.TB, db pebble.Reader) map[string][]uint64 {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixTerm}, UpperBound: []byte{prefixTerm + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := make(map[string][]uint64)
	for ok := it.First(); ok; ok = it.Next() {
		key := it.Key()
		n, w := binary.Uvarint(key[1:])
		if w <= 0 || uint64(len(key)) != 1+uint64(w)+n+8 {
			t.Fatalf("malformed index key %x", key)
		}
		term := string(key[1+w : len(key)-8])
		err := decodePostings(binary.BigEndian.Uint64(key[len(key)-8:]), it.Value(), func(i uint64) bool {
			out[term] = append(out[term], i)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitStalledOn waits until the sequencer is blocked in a stalled sync
// with f's batch, failing if f resolves first (refused at once).
func waitStalledOn(t *testing.T, fs *faultfs.FS, f *Future) {
	t.Helper()
	stalled := make(chan struct{})
	go func() {
		fs.WaitStalled()
		close(stalled)
	}()
	select {
	case <-stalled:
	case <-f.done:
		_, err := f.Wait(context.Background())
		t.Fatalf("the entry meant to stall the sequencer resolved at once: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the sequencer did not stall")
	}
}

// A Halt while a group is split across batches: the entry whose batch is
// in progress is logged (that batch finishes), the one still pooled fails
// with ErrHalted; the group's wait returns once both have resolved, each
// with its own outcome, and no reservation is left.
func TestAddAllGroupSplitByHalt(t *testing.T) {
	g, s := newGatedSigner(t)
	cfg := Config{Dir: "/log", FS: vfs.NewMem(), Signer: s, Logger: testLogger(t), BatchMaxSize: 1, BatchMaxAge: -1}
	l := mustOpen(t, cfg)
	defer func() {
		close(g.free)
		l.Close()
	}()
	g.gated.Store(true)
	fs, err := l.AddAll([]Entry{
		{Data: []byte("h0"), Terms: terms("h")},
		{Data: []byte("h1"), Terms: terms("h")},
		{Data: []byte("h2"), Terms: terms("h")},
	})
	if err != nil {
		t.Fatal(err)
	}
	<-g.entered
	g.decide <- true // h0 commits
	<-g.entered      // h1's batch is signing; h2 waits in the pool
	l.Halt(errors.New("test halt"))
	if _, err := l.AddAll([]Entry{{Data: []byte("late")}}); !errors.Is(err, ErrHalted) {
		t.Fatalf("AddAll after Halt: %v, want ErrHalted", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := fs[2].Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the group's wait returned while h1 was still signing: %v", err)
	}
	g.decide <- true // the batch in progress finishes
	want := []struct {
		res Result
		err error
	}{{Result{Index: 0}, nil}, {Result{Index: 1}, nil}, {Result{}, ErrHalted}}
	for i, f := range fs {
		r, err := f.Wait(context.Background())
		if r != want[i].res || !errors.Is(err, want[i].err) {
			t.Fatalf("future %d: %+v, %v; want %+v, %v", i, r, err, want[i].res, want[i].err)
		}
	}
	if got := mustSearch(t, l, []byte("h"), math.MaxUint64, 10); !slices.Equal(got, idx(1, 0)) {
		t.Fatalf("Search(h) = %v", got)
	}
	if s := l.Stats(); s.Pending != 0 || l.pending.Load() != 0 || s.Size != 2 {
		t.Fatalf("after Halt: %+v, reserved %d", s, l.pending.Load())
	}
}

// Search and Blob racing Close either answer or fail with ErrClosed.
func TestSearchDuringClose(t *testing.T) {
	l := mustOpen(t, memConfig(t, testSigner(t)))
	fs, err := l.AddAll([]Entry{
		{Data: []byte("c0"), Terms: terms("c"), Blobs: [][]byte{[]byte("cb")}},
		{Data: []byte("c1"), Terms: terms("c")},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, fs)
	var wg sync.WaitGroup
	started := make(chan struct{}, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			ready := func() { once.Do(func() { started <- struct{}{} }) }
			defer ready()
			for i := 0; ; i++ {
				if i == 10 {
					ready()
				}
				got, err := l.Search(context.Background(), []byte("c"), math.MaxUint64, 10)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil || !slices.Equal(got, idx(1, 0)) {
					t.Errorf("Search: %v, %v", got, err)
					return
				}
				b, err := l.Blob(context.Background(), sha256.Sum256([]byte("cb")))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil || string(b) != "cb" {
					t.Errorf("Blob: %q, %v", b, err)
					return
				}
			}
		}()
	}
	for r := 0; r < 4; r++ {
		<-started
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// descending returns hi, hi-1, …, lo.
func descending(hi, lo uint64) []uint64 {
	var out []uint64
	for i := hi; ; i-- {
		out = append(out, i)
		if i == lo {
			return out
		}
	}
}

// The pool bounds bytes too: an AddAll larger than PoolBytes is
// ErrTooMany, one that does not fit what is free is ErrPushback, and both
// leave no reservation. Batches stop at maxBatchBytes: entries whose blobs
// are larger together land in several commits.
func TestPoolBytesAndBatchBytes(t *testing.T) {
	cfg := memConfig(t, testSigner(t))
	cfg.PoolBytes = 128 << 20
	l := mustOpen(t, cfg)
	defer l.Close()
	blob := func(i int, n int) []byte {
		b := make([]byte, n)
		b[0] = byte(i)
		return b
	}
	if fs, err := l.AddAll([]Entry{{Data: []byte("huge"), Blobs: [][]byte{blob(0, 129<<20)}}}); !errors.Is(err, ErrTooMany) || fs != nil {
		t.Fatalf("AddAll over PoolBytes: %v, %v; want ErrTooMany", fs, err)
	}
	if l.pending.Load() != 0 || l.pendingBytes.Load() != 0 {
		t.Fatalf("refused AddAll left reservations: %d entries, %d bytes", l.pending.Load(), l.pendingBytes.Load())
	}
	before := l.Stats().Batches
	var es []Entry
	// A batch is full once it reaches maxBatchBytes (half a memtable):
	// two 25 MiB blobs fill one, so four take at least two.
	for i := range 4 {
		es = append(es, Entry{Data: []byte(fmt.Sprintf("big %d", i)), Blobs: [][]byte{blob(i, 25<<20)}})
	}
	fs, err := l.AddAll(es)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range waitAll(t, fs) {
		if r.Index != uint64(i) {
			t.Fatalf("entry %d got index %d", i, r.Index)
		}
	}
	if got := l.Stats().Batches - before; got < 2 {
		t.Fatalf("100 MiB of blobs committed in %d batch(es), want at least 2 (maxBatchBytes %d)", got, maxBatchBytes)
	}
	for i := range es {
		sum := sha256.Sum256(es[i].Blobs[0])
		if b, err := l.Blob(context.Background(), sum); err != nil || len(b) != 25<<20 {
			t.Fatalf("blob %d: %d bytes, %v", i, len(b), err)
		}
	}
	if l.pending.Load() != 0 || l.pendingBytes.Load() != 0 {
		t.Fatalf("reservations left: %d entries, %d bytes", l.pending.Load(), l.pendingBytes.Load())
	}
}

// Pushback for lack of slots leaves the byte reservation as it was (and
// the other way round): repeated refusals never drift the accounting.
func TestPushbackKeepsByteAccounting(t *testing.T) {
	fs := faultfs.New(vfs.NewMem())
	cfg := Config{Dir: "/log", FS: fs, Signer: testSigner(t), Logger: testLogger(t), PoolSize: 4, PoolBytes: 4096, BatchMaxAge: -1}
	l := mustOpen(t, cfg)
	defer l.Close()
	defer fs.Resume()
	fs.Stall()
	stuck := l.Add([]byte("stuck"))
	waitStalledOn(t, fs, stuck)
	fillPipeline(t, l, "bytes")
	if _, err := l.AddAll([]Entry{{Data: []byte("a")}, {Data: []byte("b")}, {Data: []byte("c")}, {Data: []byte("d")}}); err != nil {
		t.Fatal(err)
	}
	slots, bytes := l.pending.Load(), l.pendingBytes.Load()
	for i := range 100 {
		if _, err := l.AddAll([]Entry{{Data: make([]byte, 1000+i)}}); !errors.Is(err, ErrPushback) {
			t.Fatalf("AddAll to a pool full of entries: %v", err)
		}
	}
	if l.pending.Load() != slots || l.pendingBytes.Load() != bytes {
		t.Fatalf("after 100 refusals: %d slots, %d bytes reserved; want %d, %d", l.pending.Load(), l.pendingBytes.Load(), slots, bytes)
	}
	fs.Resume()
	if _, err := stuck.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); l.pending.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d slots still reserved", l.pending.Load())
		}
	}
	if b := l.pendingBytes.Load(); b != 0 {
		t.Fatalf("%d bytes still reserved after the pool drained", b)
	}
	// Byte pushback, with slots free.
	fs.Stall()
	stuck = l.Add([]byte("stuck again"))
	waitStalledOn(t, fs, stuck)
	fillPipeline(t, l, "bytes again")
	// What is reserved before (the stalled entry may or may not have left
	// the pool yet, depending on where the store stalled).
	slots0, bytes0 := l.pending.Load(), l.pendingBytes.Load()
	if _, err := l.AddAll([]Entry{{Data: make([]byte, 3000)}}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := l.AddAll([]Entry{{Data: make([]byte, 2000)}}); !errors.Is(err, ErrPushback) {
			t.Fatalf("AddAll beyond PoolBytes: %v", err)
		}
	}
	if l.pending.Load() != slots0+1 || l.pendingBytes.Load() != bytes0+3000 {
		t.Fatalf("after byte refusals: %d slots, %d bytes; want %d, %d", l.pending.Load(), l.pendingBytes.Load(), slots0+1, bytes0+3000)
	}
}

// A version-1 store (raw entries only) is upgraded in place on open; one
// with search keys of a development build is refused.
func TestStoreUpgradeFromVersion1(t *testing.T) {
	for _, withTerms := range []bool{false, true} {
		cfg := memConfig(t, testSigner(t))
		l := mustOpen(t, cfg)
		mustAdd(t, l, []byte("an entry of a version-1 log"))
		l.Close()
		db, err := openPebble(cfg, false)
		if err != nil {
			t.Fatal(err)
		}
		db.Set(keyVersion, []byte(storeVersion1), pebble.Sync)
		if withTerms {
			db.Set(termKey(nil, []byte("system=old-format"), 0), nil, pebble.Sync)
		}
		db.Close()
		l, err = Open(cfg)
		if withTerms {
			if !errors.Is(err, ErrCorrupt) || err == nil || !strings.Contains(err.Error(), "development build") {
				t.Fatalf("open of a version-1 store with search keys: %v, want ErrCorrupt", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("open of a version-1 store: %v", err)
		}
		if v, _ := l.get(keyVersion); string(v) != storeVersion {
			t.Fatalf("store version %q after the upgrade, want %q", v, storeVersion)
		}
		if r := mustAdd(t, l, []byte("an entry of a version-1 log")); !r.Duplicate || r.Index != 0 {
			t.Fatalf("after the upgrade: %+v", r)
		}
		l.Close()
	}
}
