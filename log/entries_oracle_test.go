package log

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// oracleSub is one submitted entry and its outcome.
type oracleSub struct {
	e    Entry
	r    Result
	call int // the AddAll call it came in
	pos  int // its position in that call
}

// oracleTerms is the small set of terms entries draw from: some are
// prefixes of others.
var oracleTerms = terms("t", "t0", "t1", "t00", "t01", "u", "", "t0\x00")

// oracleRef is what the log should hold after the submissions: for each
// distinct entry, the submission that logged it (Duplicate false), and the
// index of each term, newest first.
type oracleRef struct {
	orig  map[string]*oracleSub
	terms map[string][]uint64
	size  uint64
}

func buildOracle(t *testing.T, subs []*oracleSub) *oracleRef {
	t.Helper()
	ref := &oracleRef{orig: make(map[string]*oracleSub), terms: make(map[string][]uint64)}
	for _, s := range subs {
		if s.r.Duplicate {
			continue
		}
		if o, ok := ref.orig[string(s.e.Data)]; ok {
			t.Fatalf("%q logged twice, at %d and %d", s.e.Data, o.r.Index, s.r.Index)
		}
		ref.orig[string(s.e.Data)] = s
	}
	byIndex := make(map[uint64]*oracleSub)
	for _, o := range ref.orig {
		if p, ok := byIndex[o.r.Index]; ok {
			t.Fatalf("index %d given to %q and %q", o.r.Index, p.e.Data, o.e.Data)
		}
		byIndex[o.r.Index] = o
		for _, term := range o.e.Terms {
			if ts := ref.terms[string(term)]; !slices.Contains(ts, o.r.Index) {
				ref.terms[string(term)] = append(ts, o.r.Index)
			}
		}
	}
	ref.size = uint64(len(ref.orig))
	for i := uint64(0); i < ref.size; i++ {
		if byIndex[i] == nil {
			t.Fatalf("no entry has index %d of %d", i, ref.size)
		}
	}
	for _, ts := range ref.terms {
		slices.SortFunc(ts, func(a, b uint64) int { return cmp.Compare(b, a) }) // newest first
	}
	for _, s := range subs {
		o := ref.orig[string(s.e.Data)]
		if o == nil {
			t.Fatalf("%q only ever logged as a duplicate (index %d)", s.e.Data, s.r.Index)
		}
		if s.r.Index != o.r.Index {
			t.Fatalf("duplicate of %q got index %d, the original %d", s.e.Data, s.r.Index, o.r.Index)
		}
	}
	return ref
}

// check compares the log with the reference: tree size, entries, every
// term's search results (in pages of several sizes), the raw index keys,
// and the blobs (present for entries that were logged, absent for those
// only submitted with duplicates).
func (ref *oracleRef) check(t *testing.T, l *Log, subs []*oracleSub, stage string) {
	t.Helper()
	ctx := context.Background()
	if size := l.Published().Size; size != ref.size {
		t.Fatalf("%s: size %d, want %d", stage, size, ref.size)
	}
	for _, o := range ref.orig {
		e, err := l.ReadEntry(ctx, o.r.Index)
		if err != nil || !bytes.Equal(e, o.e.Data) {
			t.Fatalf("%s: entry %d: %q, %v; want %q", stage, o.r.Index, e, err, o.e.Data)
		}
	}
	probe := append(slices.Clone(oracleTerms), terms("v", "t000", "t0\x00\x00", "again")...)
	for _, term := range probe {
		want := ref.terms[string(term)]
		for _, page := range []int{1, 3, 50, math.MaxInt} {
			if got := searchPages(t, l, term, page); !sameIndices(got, want) {
				t.Fatalf("%s: Search(%q) in pages of %d: %s", stage, term, page, diffIndices(got, want))
			}
		}
	}
	keys := termKeysOf(t, l.db)
	for term, got := range keys {
		want := slices.Clone(ref.terms[term])
		slices.Reverse(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: index keys of %q: %s", stage, term, diffIndices(got, want))
		}
	}
	if len(keys) != len(ref.terms) {
		t.Fatalf("%s: index keys for %d terms, want %d", stage, len(keys), len(ref.terms))
	}
	for _, s := range subs {
		for _, b := range s.e.Blobs {
			if ref.orig[string(s.e.Data)] == s {
				checkBlob(t, l, b)
			} else {
				checkNoBlob(t, l, b)
			}
		}
	}
}

// Reference oracle: writers submit entries with terms drawn from a small
// set (and blobs) through AddEntry and AddAll, with duplicates within and
// across calls. The log's search index must equal the one computed from
// the results, where an entry is indexed under the terms of the submission
// that logged it; within one AddAll new entries get increasing indices.
// All of it holds after a restart, a flush to tables, and a resubmission
// of everything with other terms (all duplicates, indexing nothing).
func TestSearchMatchesOracle(t *testing.T) {
	cfg := memConfig(t, testSigner(t))
	cfg.BatchMaxSize = 16
	l := mustOpen(t, cfg)
	const (
		writers  = 8
		ops      = 40
		distinct = 250
	)
	var (
		mu    sync.Mutex
		subs  []*oracleSub
		calls atomic.Int64
		wg    sync.WaitGroup
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for op := 0; op < ops; op++ {
				n := 1
				if rng.IntN(3) > 0 {
					n = 1 + rng.IntN(6)
				}
				call := int(calls.Add(1))
				batch := make([]*oracleSub, n)
				es := make([]Entry, n)
				for j := range es {
					e := Entry{Data: []byte(fmt.Sprintf("oracle entry %d", rng.IntN(distinct)))}
					for k := rng.IntN(4); k > 0; k-- {
						e.Terms = append(e.Terms, oracleTerms[rng.IntN(len(oracleTerms))])
					}
					if rng.IntN(3) == 0 {
						e.Blobs = append(e.Blobs, []byte(fmt.Sprintf("blob of call %d position %d", call, j)))
					}
					es[j] = e
					batch[j] = &oracleSub{e: e, call: call, pos: j}
				}
				var fs []*Future
				if n == 1 && rng.IntN(2) == 0 {
					fs = []*Future{l.AddEntry(es[0])}
				} else {
					var err error
					if fs, err = l.AddAll(es); err != nil {
						t.Error(err)
						return
					}
				}
				for j, f := range fs {
					r, err := f.Wait(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					batch[j].r = r
				}
				mu.Lock()
				subs = append(subs, batch...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Within a call, new entries are in order, duplicates of earlier
	// entries of the call have their index.
	byCall := make(map[int][]*oracleSub)
	for _, s := range subs {
		byCall[s.call] = append(byCall[s.call], s)
	}
	for call, ss := range byCall {
		slices.SortFunc(ss, func(a, b *oracleSub) int { return a.pos - b.pos })
		last, seen := int64(-1), make(map[string]uint64)
		for _, s := range ss {
			if i, ok := seen[string(s.e.Data)]; ok && (s.r.Index != i || !s.r.Duplicate) {
				t.Fatalf("call %d: repeated %q got %+v, first %d", call, s.e.Data, s.r, i)
			}
			seen[string(s.e.Data)] = s.r.Index
			if !s.r.Duplicate {
				if int64(s.r.Index) <= last {
					t.Fatalf("call %d: new entries out of order: %d after %d", call, s.r.Index, last)
				}
				last = int64(s.r.Index)
			}
		}
	}

	ref := buildOracle(t, subs)
	t.Logf("%d submissions, %d entries, %d terms indexed", len(subs), ref.size, len(ref.terms))
	ref.check(t, l, subs, "live")
	if s := l.Stats(); s.Pending != 0 || s.Entries != ref.size || s.Entries+s.Duplicates != uint64(len(subs)) {
		t.Fatalf("stats %+v", s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = mustOpen(t, cfg)
	defer l.Close()
	ref.check(t, l, subs, "reopened")
	// Into tables (bloom filters, dedup by SeekPrefixGE over tables).
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	ref.check(t, l, subs, "flushed")
	var again []Entry
	for _, o := range ref.orig {
		again = append(again, Entry{Data: o.e.Data, Terms: terms("again", "t"), Blobs: [][]byte{[]byte("again " + string(o.e.Data))}})
	}
	for len(again) > 0 {
		chunk := again[:min(len(again), 37)]
		again = again[len(chunk):]
		fs, err := l.AddAll(chunk)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range waitAll(t, fs) {
			if o := ref.orig[string(chunk[i].Data)]; !r.Duplicate || r.Index != o.r.Index {
				t.Fatalf("resubmitted %q: %+v, want a duplicate of %d", chunk[i].Data, r, o.r.Index)
			}
			checkNoBlob(t, l, chunk[i].Blobs[0])
		}
	}
	ref.check(t, l, subs, "resubmitted")

	// Batches mixing duplicates found in tables, duplicates still in the
	// memtable, repeats within the batch, and new entries.
	rng := rand.New(rand.NewPCG(7, 7))
	var old []string
	for d := range ref.orig {
		old = append(old, d)
	}
	slices.Sort(old)
	call := int(calls.Load())
	for round := 0; round < 4; round++ {
		es := make([]Entry, 40)
		for j := range es {
			var data string
			switch k := rng.IntN(4); {
			case k == 0:
				data = old[rng.IntN(len(old))] // in a table
			case k == 1 && round > 0:
				data = fmt.Sprintf("fresh %d %d", round-1, rng.IntN(40)) // in the memtable
			default:
				data = fmt.Sprintf("fresh %d %d", round, rng.IntN(40)) // new, or repeated within the call
			}
			es[j] = Entry{Data: []byte(data), Terms: [][]byte{oracleTerms[rng.IntN(len(oracleTerms))], []byte(fmt.Sprintf("round %d", round))}}
			if rng.IntN(2) == 0 {
				es[j].Blobs = [][]byte{[]byte(fmt.Sprintf("blob of mixed round %d position %d", round, j))}
			}
		}
		call++
		fs, err := l.AddAll(es)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range waitAll(t, fs) {
			subs = append(subs, &oracleSub{e: es[j], r: r, call: call, pos: j})
		}
	}
	ref = buildOracle(t, subs)
	ref.check(t, l, subs, "mixed")
	for round := 0; round < 4; round++ {
		term := []byte(fmt.Sprintf("round %d", round))
		if got := searchPages(t, l, term, 5); !sameIndices(got, ref.terms[string(term)]) {
			t.Fatalf("Search(%s): %s", term, diffIndices(got, ref.terms[string(term)]))
		}
	}
}

// crashSub is a submission of the crash test; every submission of the
// same bytes is the same Entry, so the bytes decide the terms and blobs.
type crashSub struct {
	e Entry
	r Result
}

// Crashes while entries with terms and blobs are added: in every clone
// (synced data and a random share of the rest), every acknowledged entry is
// found under each of its terms and its blobs are there; the index holds
// exactly the terms of the entries of the recovered tree (nothing beyond
// it) and the blobs are exactly those of its entries.
func TestCrashKeepsTermsAndBlobs(t *testing.T) {
	fs := vfs.NewCrashableMem()
	cfg := Config{Dir: "/log", FS: fs, Signer: testSigner(t), Logger: testLogger(t), BatchMaxAge: -1, BatchMaxSize: 32}
	l := mustOpen(t, cfg)

	var (
		mu        sync.Mutex
		acked     []crashSub
		submitted sync.Map // string(data) → Entry
		stop      atomic.Bool
		paused    atomic.Bool // while a clone is checked, to keep the store small
		wg        sync.WaitGroup
	)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 5))
			var mine []Entry
			for i := 0; !stop.Load(); i++ {
				es := make([]Entry, 1+rng.IntN(4))
				for j := range es {
					if len(mine) > 0 && rng.IntN(5) == 0 {
						es[j] = mine[rng.IntN(len(mine))] // a duplicate, same terms
						continue
					}
					id := fmt.Sprintf("w%d-%d-%d", w, i, j)
					e := Entry{
						Data:  []byte("crash entry " + id + string(make([]byte, rng.IntN(100)))),
						Terms: [][]byte{[]byte("id:" + id), oracleTerms[rng.IntN(len(oracleTerms))]},
					}
					for k := rng.IntN(3); k > 0; k-- {
						e.Blobs = append(e.Blobs, []byte(fmt.Sprintf("blob %d of %s %s", k, id, make([]byte, rng.IntN(1000)))))
					}
					submitted.Store(string(e.Data), e)
					mine = append(mine, e)
					es[j] = e
				}
				futures, err := l.AddAll(es)
				if err != nil {
					t.Error(err)
					return
				}
				rs := make([]crashSub, len(es))
				for j, f := range futures {
					r, err := f.Wait(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					rs[j] = crashSub{es[j], r}
				}
				mu.Lock()
				acked = append(acked, rs...)
				mu.Unlock()
				// Keep the store small enough to clone and check often.
				time.Sleep(time.Duration(rng.IntN(400)) * time.Microsecond)
				for paused.Load() && !stop.Load() {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}

	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 6; round++ {
		time.Sleep(time.Duration(10+rng.IntN(50)) * time.Millisecond)
		mu.Lock()
		before := slices.Clone(acked)
		mu.Unlock()
		clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(uint64(round), 11))})
		paused.Store(true)
		ccfg := cfg
		ccfg.FS = clone
		rl, err := Open(ccfg)
		if err != nil {
			t.Fatalf("round %d: reopening the crashed store: %v", round, err)
		}
		size := rl.Published().Size

		// Acknowledged entries, their terms and blobs: the latest ones
		// (the most at risk) and a sample of the others.
		if n := len(before) - 300; n > 700 {
			rng.Shuffle(n, func(i, j int) { before[i], before[j] = before[j], before[i] })
			before = append(before[:700], before[n:]...)
		}
		for _, s := range before {
			if s.r.Index >= size {
				t.Fatalf("round %d: acknowledged index %d beyond the recovered size %d", round, s.r.Index, size)
			}
			got, err := rl.ReadEntry(ctx, s.r.Index)
			if err != nil || !bytes.Equal(got, s.e.Data) {
				t.Fatalf("round %d: acknowledged entry %d: %.30q, %v", round, s.r.Index, got, err)
			}
			for _, term := range s.e.Terms {
				if got := mustSearch(t, rl, term, s.r.Index+1, 1); !slices.Equal(got, idx(s.r.Index)) {
					t.Fatalf("round %d: acknowledged entry %d not found under %q: %v", round, s.r.Index, term, got)
				}
			}
			if got := mustSearch(t, rl, s.e.Terms[0], math.MaxUint64, 2); !slices.Equal(got, idx(s.r.Index)) {
				t.Fatalf("round %d: Search(%q) = %v, want [%d]", round, s.e.Terms[0], got, s.r.Index)
			}
			for _, b := range s.e.Blobs {
				checkBlob(t, rl, b)
			}
		}

		// The index and the blobs are exactly those of the recovered tree.
		wantTerms := make(map[string][]uint64)
		wantBlobs := make(map[[32]byte]bool)
		n, err := scanDB(rl.db, entryKey(nil, 0), entryKey(nil, size), func(i uint64, data []byte) error {
			v, ok := submitted.Load(string(data))
			if !ok {
				t.Fatalf("round %d: entry %d %.30q was never submitted", round, i, data)
			}
			e := v.(Entry)
			for _, term := range e.Terms {
				if ts := wantTerms[string(term)]; !slices.Contains(ts, i) {
					wantTerms[string(term)] = append(ts, i)
				}
			}
			for _, b := range e.Blobs {
				wantBlobs[sha256.Sum256(b)] = true
			}
			return nil
		})
		if err != nil || n != size {
			t.Fatalf("round %d: %d entries of %d read: %v", round, n, size, err)
		}
		gotTerms := termKeysOf(t, rl.db)
		for term, got := range gotTerms {
			for _, i := range got {
				if i >= size {
					t.Fatalf("round %d: term %q names index %d, beyond the recovered size %d", round, term, i, size)
				}
			}
			if !slices.Equal(got, wantTerms[term]) {
				t.Fatalf("round %d: index keys of %q: %s", round, term, diffIndices(got, wantTerms[term]))
			}
		}
		if len(gotTerms) != len(wantTerms) {
			t.Fatalf("round %d: %d terms indexed, want %d", round, len(gotTerms), len(wantTerms))
		}
		nblobs := 0
		scanBlobs(t, rl.db, func(sum [32]byte, v []byte) {
			if sha256.Sum256(v) != sum {
				t.Fatalf("round %d: blob %x does not hash to its name", round, sum)
			}
			if !wantBlobs[sum] {
				t.Fatalf("round %d: blob %x belongs to no entry of the recovered tree", round, sum)
			}
			nblobs++
		})
		if nblobs != len(wantBlobs) {
			t.Fatalf("round %d: %d blobs stored, want %d", round, nblobs, len(wantBlobs))
		}
		t.Logf("round %d: %d acknowledged checked, recovered size %d, %d terms, %d blobs", round, len(before), size, len(gotTerms), nblobs)
		rl.Close()
		paused.Store(false)
	}
	stop.Store(true)
	wg.Wait()
	l.Close()
}

// scanBlobs calls fn for every stored blob.
func scanBlobs(t testing.TB, db pebble.Reader, fn func(sum [32]byte, v []byte)) {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixBlob}, UpperBound: []byte{prefixBlob + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if len(it.Key()) != 33 {
			t.Fatalf("malformed blob key %x", it.Key())
		}
		v, err := it.ValueAndErr()
		if err != nil {
			t.Fatal(err)
		}
		fn([32]byte(it.Key()[1:]), v)
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
}

// diffIndices describes how two lists of indices differ.
func diffIndices(got, want []uint64) string {
	var missing, extra []uint64
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	return fmt.Sprintf("%d indices, want %d; missing %v, unexpected %v (same set, other order if both empty)", len(got), len(want), missing, extra)
}
