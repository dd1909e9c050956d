package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlogai/tlog/internal/metricstest"
	"github.com/tlogai/tlog/internal/miniotest"
)

// publishTest is a MinIO server and the flags of a tlog serve publishing
// to one of its buckets.
type publishTest struct {
	t      *testing.T
	s3     *miniotest.Server
	bucket string
}

func newPublishTest(t *testing.T, bucket string) *publishTest {
	s3 := miniotest.Start(t)
	s3.Bucket(bucket, true)
	for _, kv := range s3.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return &publishTest{t: t, s3: s3, bucket: bucket}
}

func (p *publishTest) flags(extra ...string) []string {
	return append([]string{"--publish", "s3://" + p.bucket + "/log", "--s3-endpoint", p.s3.Endpoint(), "--publish-interval", "100ms"}, extra...)
}

// base is the bucket's log, read over plain HTTP.
func (p *publishTest) base() string { return p.s3.Endpoint() + "/" + p.bucket + "/log" }

// bucketSize is the size of the bucket's checkpoint (0 without one).
func (p *publishTest) bucketSize(vkey string) uint64 {
	p.t.Helper()
	_, cp, err := p.s3Get("checkpoint")
	if err != nil {
		return 0
	}
	c, err := openCheckpoint(cp, vkey)
	if err != nil {
		p.t.Fatalf("bucket checkpoint: %v\n%s", err, cp)
	}
	return uint64(c.size)
}

func (p *publishTest) s3Get(path string) (int, []byte, error) {
	resp, err := http.Get(p.base() + "/" + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return resp.StatusCode, b.Bytes(), nil
}

// waitBucket waits until the bucket's checkpoint is at size.
func (p *publishTest) waitBucket(vkey string, size uint64, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := p.bucketSize(vkey)
		if got == size {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the bucket's checkpoint is at %d after %v, want %d", got, d, size)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// immutability watches the bucket and records any object, other than the
// checkpoint, seen with two ETags (rewritten) or gone.
type immutability struct {
	mu       sync.Mutex
	seen     map[string]string
	rewrites []string
	stop     chan struct{}
	done     chan struct{}
}

func (p *publishTest) watchImmutable() *immutability {
	w := &immutability{seen: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			w.check(p.s3.Objects(p.bucket))
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *immutability) check(objs map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, v := range objs {
		if strings.HasSuffix(k, "/checkpoint") {
			continue
		}
		if old, ok := w.seen[k]; ok && old != v {
			w.rewrites = append(w.rewrites, k)
		}
		w.seen[k] = v
	}
	for k := range w.seen {
		if _, ok := objs[k]; !ok {
			w.rewrites = append(w.rewrites, k+" (deleted)")
		}
	}
}

// finish stops the watcher after a last look and fails the test on any
// rewritten object.
func (w *immutability) finish(t *testing.T, p *publishTest) {
	t.Helper()
	close(w.stop)
	<-w.done
	w.check(p.s3.Objects(p.bucket))
	if len(w.rewrites) > 0 {
		t.Fatalf("objects rewritten or deleted: %v", w.rewrites)
	}
	if len(w.seen) == 0 {
		t.Fatal("the watcher saw no object")
	}
}

// waitReadyz waits for /readyz 200: the bucket's checkpoint was checked.
func waitReadyz(t *testing.T, s *server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, _, err := s.get("/readyz")
		if err == nil && code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 30s: %d %s %v", s.name, code, body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addLoad adds entries from workers goroutines until stop is closed, and
// records every acknowledged index.
type addLoad struct {
	mu     sync.Mutex
	acked  map[int64][]byte
	failed atomic.Int64
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startAddLoad(s *server, name string, workers int, pause time.Duration) *addLoad {
	l := &addLoad{acked: map[int64][]byte{}, stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				e := fmt.Appendf(nil, "%s worker %d entry %d", name, w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				idx, err := s.add(ctx, e)
				cancel()
				if err != nil {
					l.failed.Add(1)
				} else {
					l.mu.Lock()
					l.acked[idx] = e
					l.mu.Unlock()
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		}()
	}
	return l
}

func (l *addLoad) finish() map[int64][]byte {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

func (l *addLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// TestPublishCrash: tlog serve --publish is killed (SIGKILL) while it
// uploads; after a restart the bucket converges to the store, every
// acknowledged entry is in it at its index (checked with x/mod from the
// bucket alone), and no object was ever rewritten with other bytes.
func TestPublishCrash(t *testing.T) {
	p := newPublishTest(t, "crash")
	dir := t.TempDir()
	s := startServer(t, "publisher", dir, p.flags()...)
	waitReadyz(t, s)
	watch := p.watchImmutable()
	acked := map[int64][]byte{}
	for round := range 3 {
		ld := startAddLoad(s, fmt.Sprintf("round %d", round), 16, 0)
		time.Sleep(1500 * time.Millisecond)
		s.kill() // mid-upload: rounds run every 100 ms under this load
		for i, e := range ld.finish() {
			acked[i] = e
		}
		s = startServer(t, fmt.Sprintf("publisher restarted %d", round), dir, p.flags()...)
		waitReadyz(t, s)
	}
	cp := s.mustCheckpoint(s.vkey)
	p.waitBucket(s.vkey, uint64(cp.size), 60*time.Second)
	watch.finish(t, p)
	size, entries := miniotest.CheckLog(t, p.base(), s.vkey)
	if len(acked) < 1000 {
		t.Fatalf("only %d entries acknowledged under load", len(acked))
	}
	for i, e := range acked {
		if uint64(i) >= size || !bytes.Equal(entries[i], e) {
			t.Fatalf("acknowledged entry %d is not in the bucket (size %d)", i, size)
		}
	}
	t.Logf("%d entries acknowledged over 3 kills; the bucket holds %d, %d objects, none rewritten", len(acked), size, len(watch.seen)+1)

	// Offline, tlog publish --once finds the bucket complete and this log's.
	if code := s.stop(); code != 0 {
		t.Fatalf("tlog serve exit %d", code)
	}
	r := runTlogFor(t, time.Minute, nil, append([]string{"publish", "--once", "--data", dir}, p.flags()[:4]...)...)
	if r.code != 0 || !strings.Contains(r.stdout, " 0 uploaded") || !strings.Contains(r.stdout, fmt.Sprintf("checkpoint at size %d", size)) {
		t.Fatalf("tlog publish --once: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The bucket alone serves the read API: tlog mirror follows it.
	r = runTlogFor(t, time.Minute, nil, "mirror", "--once", "--from", p.base(), "--log-key", dir+"/log.pub", "--data", t.TempDir())
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("at tree size %d", size)) {
		t.Fatalf("tlog mirror --once from the bucket: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestPublishFence: a second tlog serve with another store (a copy of the
// first's, then diverged) and the same key and bucket is refused by the
// bucket's conditional checkpoint: it stops signing and exits, and the
// bucket is unchanged. A third with an empty store under the same key is
// refused at start.
func TestPublishFence(t *testing.T) {
	p := newPublishTest(t, "fence")
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startServer(t, "A", dirA, p.flags()...)
	waitReadyz(t, a)
	for i := range 300 {
		a.mustAdd(fmt.Appendf(nil, "common %d", i))
	}
	p.waitBucket(a.vkey, 300, 30*time.Second)
	if code := a.stop(); code != 0 {
		t.Fatalf("A exit %d", code)
	}
	if out, err := exec.Command("cp", "-a", dirA+"/.", dirB).CombinedOutput(); err != nil {
		t.Fatalf("copying the store: %v %s", err, out)
	}
	a = startServer(t, "A again", dirA, p.flags()...)
	b := startServer(t, "B (a copy of A's store)", dirB, p.flags()...)
	waitReadyz(t, a)
	waitReadyz(t, b) // the bucket is at 300, which B's store extends
	for i := range 50 {
		a.mustAdd(fmt.Appendf(nil, "A %d", i))
	}
	p.waitBucket(a.vkey, 350, 30*time.Second)
	before := p.s3.Objects(p.bucket)
	b.mustAdd([]byte("B's own entry")) // committed to B's store: a fork, if B published it
	code, ok := b.waitExit(30 * time.Second)
	if !ok {
		t.Fatal("B still running after its bucket was taken")
	}
	if code == 0 || !strings.Contains(b.stderr.String(), "another sequencer") || !strings.Contains(b.stderr.String(), "refusing to sign") {
		t.Fatalf("B exit %d; stderr:\n%s", code, b.stderr.String())
	}
	// A goes on publishing; B wrote nothing.
	a.mustAdd([]byte("A after B"))
	p.waitBucket(a.vkey, 351, 30*time.Second)
	after := p.s3.Objects(p.bucket)
	for k, v := range before {
		if !strings.HasSuffix(k, "/checkpoint") && after[k] != v {
			t.Errorf("%s changed", k)
		}
	}
	size, entries := miniotest.CheckLog(t, p.base(), a.vkey)
	for _, e := range entries {
		if string(e) == "B's own entry" {
			t.Fatal("B's entry reached the bucket")
		}
	}
	if size != 351 {
		t.Fatalf("bucket at %d", size)
	}

	// An empty store under the same key: the bucket is ahead of it.
	before = p.s3.Objects(p.bucket)
	c, err := tryStartServer(t, "C (empty store, A's key)", t.TempDir(), p.flags("--key", dirA+"/log.key")...)
	if err == nil {
		code, ok = c.waitExit(30 * time.Second)
		if !ok || code == 0 {
			t.Fatalf("C exit %d (exited %v)", code, ok)
		}
	}
	if !strings.Contains(c.stderr.String(), "has only 0 entries") {
		t.Fatalf("C's stderr does not say why:\n%s", c.stderr.String())
	}
	if ch := changed(before, p.s3.Objects(p.bucket)); len(ch) > 0 {
		t.Fatalf("C changed the bucket: %v", ch)
	}
}

// changed lists the objects of before that after lacks or holds with
// another ETag.
func changed(before, after map[string]string) []string {
	var out []string
	for k, v := range before {
		if after[k] != v {
			out = append(out, k)
		}
	}
	return out
}

// TestPublishOutage: MinIO is down for 30 s under load; adds keep being
// acknowledged, the lag shows in /metrics, and the bucket catches up once
// MinIO is back.
func TestPublishOutage(t *testing.T) {
	p := newPublishTest(t, "outage")
	s := startServer(t, "publisher", t.TempDir(), p.flags()...)
	waitReadyz(t, s)
	ld := startAddLoad(s, "outage", 4, 2*time.Millisecond)
	time.Sleep(time.Second)
	p.s3.Stop()
	down := time.Now()
	ackedBefore := ld.count()
	var maxLag float64
	for time.Since(down) < 30*time.Second {
		time.Sleep(2 * time.Second)
		fams := metricstest.Scrape(t, s.client, s.url("/metrics"))
		maxLag = max(maxLag, fams.Value(t, "tlog_publish_lag_entries"))
	}
	ackedDuring := ld.count() - ackedBefore
	fams := metricstest.Scrape(t, s.client, s.url("/metrics"))
	errs := fams.Sum(t, "tlog_publish_errors_total")
	p.s3.Restart()
	acked := ld.finish()
	if n := ld.failed.Load(); n > 0 {
		t.Errorf("%d adds failed while the bucket was down", n)
	}
	if ackedDuring < 1000 {
		t.Errorf("only %d adds acknowledged during the 30 s outage", ackedDuring)
	}
	if maxLag < float64(ackedDuring)/2 || errs == 0 {
		t.Errorf("during the outage: lag up to %v entries, %v publish errors", maxLag, errs)
	}
	cp := s.mustCheckpoint(s.vkey)
	start := time.Now()
	p.waitBucket(s.vkey, uint64(cp.size), 90*time.Second)
	caughtUp := time.Since(start)
	fams = metricstest.Scrape(t, s.client, s.url("/metrics"))
	if lag := fams.Value(t, "tlog_publish_lag_entries"); lag != 0 {
		t.Errorf("lag %v after catching up", lag)
	}
	size, entries := miniotest.CheckLog(t, p.base(), s.vkey)
	for i, e := range acked {
		if uint64(i) >= size || !bytes.Equal(entries[i], e) {
			t.Fatalf("acknowledged entry %d is not in the bucket", i)
		}
	}
	t.Logf("outage 30 s: %d adds acknowledged during it, lag up to %.0f entries, %.0f publish errors; caught up %v after MinIO returned", ackedDuring, maxLag, errs, caughtUp.Round(time.Millisecond))
}
