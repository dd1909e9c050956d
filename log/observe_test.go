package log

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Config.OnBatch is told about every committed batch, before its adds are
// answered: as many calls as Stats.Batches, entries adding up to the adds
// made (duplicates included), sizes increasing to the published one.
// Stats.PublishedAt moves with each commit, by the log's clock.
func TestOnBatchAndPublishedAt(t *testing.T) {
	var (
		mu    sync.Mutex
		seen  []BatchInfo
		clock = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	cfg := memConfig(t, testSigner(t))
	cfg.Now = now
	cfg.OnBatch = func(b BatchInfo) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, b)
	}
	l := mustOpen(t, cfg)
	defer l.Close()
	if st := l.Stats(); !st.PublishedAt.Equal(clock) {
		t.Fatalf("PublishedAt after Open = %v, want the open time %v", st.PublishedAt, clock)
	}

	mustAdd(t, l, []byte("one"))
	mu.Lock()
	clock = clock.Add(time.Minute)
	if len(seen) != 1 || seen[0].Entries != 1 || seen[0].New != 1 || seen[0].Size != 1 || seen[0].Duration <= 0 {
		t.Errorf("after the first add, OnBatch saw %+v, want one batch of 1 new entry at size 1 with a duration", seen)
	}
	mu.Unlock()
	mustAdd(t, l, []byte("one")) // a duplicate alone: nothing committed
	var entries [][]byte
	for i := range 100 {
		entries = append(entries, fmt.Appendf(nil, "entry %d", i))
	}
	addAll(t, l, entries)

	st := l.Stats()
	if want := clock; !st.PublishedAt.Equal(want) {
		t.Errorf("PublishedAt = %v, want the last commit's time %v", st.PublishedAt, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if uint64(len(seen)) != st.Batches {
		t.Fatalf("OnBatch called %d times, Stats.Batches %d", len(seen), st.Batches)
	}
	var total int
	var added, size uint64
	for _, b := range seen {
		if b.Size <= size || b.New == 0 || b.Entries < int(b.New) {
			t.Errorf("batch %+v after size %d", b, size)
		}
		total += b.Entries
		added += b.New
		size = b.Size
	}
	if total != 101 || added != 101 || size != st.Size {
		t.Errorf("batches answered %d adds with %d new entries up to size %d; want 101, 101, %d", total, added, size, st.Size)
	}
}
