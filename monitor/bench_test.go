package monitor_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/tlogai/tlog/monitor"
)

// fillMixed fills tl with n entries: decision records of four systems and
// models (most of them), raw entries, and every 5,000th a release of
// acme/fraud-v3 by pub. It returns the indices of the releases.
func fillMixed(b testing.TB, tl *testLog, n int, pub *publisher) []uint64 {
	b.Helper()
	var releases []uint64
	batch := make([][]byte, 0, 4096)
	flush := func() {
		tl.add(batch...)
		batch = batch[:0]
	}
	for i := 0; i < n; i++ {
		if i%5000 == 4999 {
			flush()
			releases = append(releases, tl.attest(b, pub, "acme/fraud-v3", fmt.Sprint(i)))
			continue
		}
		if i%10 == 9 {
			batch = append(batch, []byte(fmt.Sprintf("raw entry %d", i)))
		} else {
			batch = append(batch, decision(b, fmt.Sprintf("system-%d", i%4), fmt.Sprintf("acme/model-%d", i%3), i))
		}
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	return releases
}

// BenchmarkMonitorPass reads a log of 100,000 entries (decisions, raw
// entries, releases) from index 0 per iteration, watching a model with
// allowed signers and a system, and reports entries/s: from a log on the
// same machine, and from one 20 ms away (every request delayed).
func BenchmarkMonitorPass(b *testing.B) {
	b.Run("local", func(b *testing.B) { benchmarkPass(b, 0) })
	b.Run("20ms", func(b *testing.B) { benchmarkPass(b, 20*time.Millisecond) })
}

func benchmarkPass(b *testing.B, delay time.Duration) {
	const n = 100_000
	tl := newTestLog(b)
	defer tl.delay.Store(0)
	pub := newPublisher(b)
	releases := fillMixed(b, tl, n, pub)
	w := monitor.Watch{Models: []string{"acme/fraud-v3"}, Systems: []string{"system-1"}, Allowed: allowedOf(b, pub.fp)}
	tl.delay.Store(int64(delay))
	b.ResetTimer()
	var read uint64
	start := time.Now()
	for range b.N {
		m, err := monitor.New(testCtx(b), monitor.Config{Client: tl.client(b), State: statePath(b), Watch: w, Out: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		s, err := m.Pass(testCtx(b))
		if err != nil {
			b.Fatal(err)
		}
		if s.Entries != n || s.Unexpected != 0 || s.Matched < uint64(len(releases)) {
			b.Fatalf("summary %+v", s)
		}
		read += s.Entries
	}
	b.ReportMetric(float64(read)/time.Since(start).Seconds(), "entries/s")
}

// A log growing at 20,000 entries/s for 3 s (batches of 2,000 every
// 100 ms, as a busy decision system logs them; 1 s under -race): a following monitor reads
// every entry, and — without the race detector — is caught up within
// 2 s of the last batch. The rates are logged.
func TestMonitorKeepsUp(t *testing.T) {
	const (
		rate     = 20_000
		perBatch = rate / 10
	)
	seconds := 3
	if raceEnabled {
		seconds = 1 // the race detector slows the writer below the rate anyway
	}
	tl := newTestLog(t)
	tl.add(decision(t, "kyc", "acme/fraud-v3", 1_000_000))
	entries := make([][]byte, rate*seconds)
	for i := range entries {
		entries[i] = decision(t, fmt.Sprintf("system-%d", i%4), "acme/fraud-v3", i)
	}
	state := statePath(t)
	m, err := monitor.New(testCtx(t), monitor.Config{Client: tl.client(t), State: state, Watch: monitor.Watch{Systems: []string{"system-1"}}, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	done := make(chan error, 1)
	var sum monitor.Summary
	go func() {
		var err error
		sum, err = m.Follow(ctx, 50*time.Millisecond)
		done <- err
	}()
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	for i := 0; i < len(entries); i += perBatch {
		<-tick.C
		tl.add(entries[i : i+perBatch]...)
	}
	tick.Stop()
	wrote := time.Since(start)
	size := tl.Log().Published().Size
	// Follow's progress is read from its state file, which it saves at
	// the end of each pass.
	var caughtUp time.Duration
	for {
		if _, err := os.Stat(state); err == nil {
			if _, next := readState(t, state); next == size {
				caughtUp = time.Since(start) - wrote
				break
			}
		}
		if time.Since(start)-wrote > 30*time.Second {
			t.Fatalf("the monitor did not catch up with %d entries within 30 s of the last batch", size)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if sum.Entries != size || sum.Matched != uint64(rate*seconds/4) {
		t.Errorf("read %d entries, reported %d; want %d and %d", sum.Entries, sum.Matched, size, rate*seconds/4)
	}
	t.Logf("the log grew by %d entries in %v (%.0f entries/s); the monitor was caught up %v after the last batch",
		len(entries), wrote.Round(time.Millisecond), float64(len(entries))/wrote.Seconds(), caughtUp.Round(time.Millisecond))
	if !raceEnabled && caughtUp > 2*time.Second {
		t.Errorf("the monitor was caught up only %v after the last batch: it does not keep up with %d entries/s", caughtUp, rate)
	}
}
