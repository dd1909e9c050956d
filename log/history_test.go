package log

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// The history keeps the first checkpoint after each interval, every
// checkpoint when the interval is negative, and always the latest.
func TestCheckpointHistory(t *testing.T) {
	s := testSigner(t)
	var now atomic.Int64 // seconds
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	cfg := memConfig(t, s)
	cfg.Now = clock
	cfg.CheckpointHistoryInterval = 10 * time.Second
	l := mustOpen(t, cfg)
	defer l.Close()
	v, err := note.NewVerifier(s.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}

	// Sizes 1…5 at t=1000 (only size 1 is kept), 6 at t=1005 (not kept),
	// 7 at t=1010 (kept), 8 at t=1011 (latest, so served but not kept).
	kept := map[uint64]bool{0: true, 1: true, 7: true}
	steps := []int64{1000, 1000, 1000, 1000, 1000, 1005, 1010, 1011}
	for i, at := range steps {
		now.Store(at)
		mustAdd(t, l, entry(i))
	}
	latest := uint64(len(steps))
	for size := uint64(0); size <= latest+1; size++ {
		got, err := l.CheckpointAt(size)
		switch {
		case size == latest:
			if err != nil || !bytes.Equal(got, l.Checkpoint()) {
				t.Fatalf("latest size %d: %v", size, err)
			}
		case kept[size]:
			if err != nil {
				t.Fatalf("size %d should be kept: %v", size, err)
			}
			n, err := note.Open(got, note.VerifierList(v))
			if err != nil || !bytes.Contains([]byte(n.Text), []byte("\n"+string(rune('0'+size))+"\n")) {
				t.Fatalf("kept checkpoint of size %d: %v %q", size, err, got)
			}
		default:
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("size %d: %v, want ErrNotFound", size, err)
			}
		}
	}
}
