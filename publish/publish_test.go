package publish

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlogai/tlog/internal/logtest"
	"github.com/tlogai/tlog/internal/miniotest"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/signer"
)

type fixture struct {
	t    *testing.T
	s3   *miniotest.Server
	skey string
	vkey string
}

func newFixture(t *testing.T) *fixture {
	s3 := miniotest.Start(t)
	skey, vkey, err := signer.GenerateKey(rand.Reader, "example.com/publish-test")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, s3: s3, skey: skey, vkey: vkey}
}

// log opens a new store under the fixture's key.
func (f *fixture) log(skey string) *log.Log {
	f.t.Helper()
	s, err := signer.NewSigner(skey)
	if err != nil {
		f.t.Fatal(err)
	}
	l, err := log.Open(log.Config{Dir: filepath.Join(f.t.TempDir(), "store"), Signer: s})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { l.Close() })
	return l
}

func (f *fixture) bucket(url string) *Bucket {
	f.t.Helper()
	b, err := OpenBucket(BucketConfig{URL: url, Endpoint: f.s3.Endpoint(), Credentials: miniotest.Credentials()})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) publisher(l *log.Log, url string, reg prometheus.Registerer) *Publisher {
	f.t.Helper()
	p, err := New(Config{Log: l, Bucket: f.bucket(url), Registerer: reg})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func entries(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s entry %d", prefix, i)
	}
	return out
}

func mustPublish(t *testing.T, p *Publisher, want uint64) {
	t.Helper()
	got, err := p.Publish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("published size %d, want %d", got, want)
	}
}

func wantFence(t *testing.T, err error, substr string) {
	t.Helper()
	var fe *FenceError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want a FenceError", err)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("FenceError %q does not say %q", err, substr)
	}
}

// gauge is the value of the gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
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

// TestBucketAlone publishes 100,000 entries and checks the bucket with
// golang.org/x/mod/sumdb alone, over plain HTTP as a CDN would read it;
// then publishes more and checks that no object was rewritten.
func TestBucketAlone(t *testing.T) {
	f := newFixture(t)
	f.s3.Bucket("logs", true)
	l := f.log(f.skey)
	logtest.AddAll(t, l, entries("a", 100000))
	reg := prometheus.NewRegistry()
	p := f.publisher(l, "s3://logs/eu/tlog", reg)
	if err := p.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, p, 100000)
	base := f.s3.Endpoint() + "/logs/eu/tlog"
	size, got := miniotest.CheckLog(t, base, f.vkey)
	if size != 100000 || !bytes.Equal(got[99999], []byte("a entry 99999")) {
		t.Fatalf("bucket holds size %d", size)
	}
	before := f.s3.Objects("logs")
	// 390 full level-0 tiles and bundles, one level-1 tile, the partials
	// at 100000 (level 0 width 160 and its bundle, level 1 width 134,
	// level 2 width 1), the checkpoint.
	if len(before) != 2*390+1+4+1 {
		t.Errorf("%d objects in the bucket, want %d", len(before), 2*390+1+4+1)
	}
	// Cache headers: tiles immutable, the checkpoint short-lived.
	c := f.s3.Client()
	for key, want := range map[string]string{"eu/tlog/tile/0/000": TileCacheControl, "eu/tlog/tile/entries/x001/000.p/160" /* not a tile */ : "", "eu/tlog/tile/0/390.p/160": TileCacheControl, "eu/tlog/checkpoint": CheckpointCacheControl} {
		info, err := c.StatObject(context.Background(), "logs", key, minio.StatObjectOptions{})
		if want == "" {
			if err == nil {
				t.Errorf("%s exists", key)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Metadata.Get("Cache-Control"); got != want {
			t.Errorf("%s: Cache-Control %q, want %q", key, got, want)
		}
	}
	if v := gauge(t, reg, "tlog_publish_bucket_size"); v != 100000 {
		t.Errorf("tlog_publish_bucket_size %v after publishing 100000", v)
	}

	logtest.AddAll(t, l, entries("b", 1000))
	if v := gauge(t, reg, "tlog_publish_lag_entries"); v != 1000 {
		t.Errorf("tlog_publish_lag_entries %v, want 1000", v)
	}
	mustPublish(t, p, 101000)
	after := f.s3.Objects("logs")
	if ch := changed(before, after); len(ch) != 1 || ch[0] != "eu/tlog/checkpoint" {
		t.Errorf("objects rewritten: %v (only the checkpoint may be)", ch)
	}
	if size, _ := miniotest.CheckLog(t, base, f.vkey); size != 101000 {
		t.Fatalf("bucket at %d", size)
	}

	// A second publisher (a restart) resumes from the bucket, verified,
	// and Sync finds every object this log's.
	p2 := f.publisher(l, "s3://logs/eu/tlog", nil)
	rep, err := p2.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != 101000 || rep.Uploaded != 0 || rep.Checked != len(after)-1 {
		t.Errorf("Sync: %+v, want %d checked, none uploaded", rep, len(after)-1)
	}
}

// TestResumeRefuses: a bucket that is not this store's history is refused
// before anything is written.
func TestResumeRefuses(t *testing.T) {
	f := newFixture(t)
	f.s3.Bucket("logs", false)
	ctx := context.Background()
	a := f.log(f.skey)
	logtest.AddAll(t, a, entries("a", 1000))
	pa := f.publisher(a, "s3://logs/a", nil)
	if err := pa.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, pa, 1000)
	before := f.s3.Objects("logs")

	// The same key over another store with fewer entries: the bucket is
	// ahead (a restored backup).
	b := f.log(f.skey)
	logtest.AddAll(t, b, entries("a", 500))
	wantFence(t, f.publisher(b, "s3://logs/a", nil).Resume(ctx), "has only 500 entries")

	// The same key, more entries, another history: roots differ.
	c := f.log(f.skey)
	logtest.AddAll(t, c, entries("c", 2000))
	wantFence(t, f.publisher(c, "s3://logs/a", nil).Resume(ctx), "another history")

	// Another key: the checkpoint is not this log's.
	skey, _, err := signer.GenerateKey(rand.Reader, "example.com/publish-test")
	if err != nil {
		t.Fatal(err)
	}
	d := f.log(skey)
	logtest.AddAll(t, d, entries("a", 1000))
	wantFence(t, f.publisher(d, "s3://logs/a", nil).Resume(ctx), "not a checkpoint of this log")

	if ch := changed(before, f.s3.Objects("logs")); len(ch) != 0 || len(f.s3.Objects("logs")) != len(before) {
		t.Fatalf("refused publishers changed the bucket: %v", ch)
	}

	// A tile at the edge with other bytes: refused; the same tile deleted:
	// re-created.
	cl := f.s3.Client()
	put := func(key string, data []byte) {
		if _, err := cl.PutObject(ctx, "logs", key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	orig, _, err := f.bucket("s3://logs/a").Get(ctx, "tile/0/003.p/232")
	if err != nil {
		t.Fatal(err)
	}
	put("a/tile/0/003.p/232", bytes.Repeat([]byte{7}, len(orig)))
	wantFence(t, f.publisher(a, "s3://logs/a", nil).Resume(ctx), "tile/0/003.p/232 differs")
	if err := cl.RemoveObject(ctx, "logs", "a/tile/0/003.p/232", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cl.RemoveObject(ctx, "logs", "a/tile/entries/001", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	p := f.publisher(a, "s3://logs/a", nil)
	rep, err := p.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uploaded != 2 {
		t.Errorf("Sync uploaded %d objects, want the 2 deleted", rep.Uploaded)
	}
	if ch := changed(before, f.s3.Objects("logs")); len(ch) != 0 {
		t.Fatalf("after Sync, objects differ from the first publication: %v", ch)
	}

	// Sync names an object that is not this log's.
	put("a/tile/0/001", bytes.Repeat([]byte{1}, 8192))
	_, err = f.publisher(a, "s3://logs/a", nil).Sync(ctx)
	wantFence(t, err, "tile/0/001 (other bytes")
}

// TestFence: two sequencers with the same key and the same history
// publish to one bucket; the one that writes second is refused by the
// conditional checkpoint and the bucket keeps the first's state.
func TestFence(t *testing.T) {
	f := newFixture(t)
	f.s3.Bucket("logs", false)
	ctx := context.Background()
	a, b := f.log(f.skey), f.log(f.skey)
	common := entries("common", 700)
	logtest.AddAll(t, a, common)
	logtest.AddAll(t, b, common)
	pa, pb := f.publisher(a, "s3://logs/x", nil), f.publisher(b, "s3://logs/x", nil)
	if err := pa.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, pa, 700)
	if err := pb.Resume(ctx); err != nil {
		t.Fatal(err) // b's store is the same history: it may publish
	}
	logtest.AddAll(t, a, entries("a", 10))
	logtest.AddAll(t, b, entries("b", 900))
	mustPublish(t, pa, 710)
	before := f.s3.Objects("logs")
	_, err := pb.Publish(ctx)
	wantFence(t, err, "another sequencer")
	if ch := changed(before, f.s3.Objects("logs")); len(ch) != 0 || len(f.s3.Objects("logs")) != len(before) {
		t.Fatalf("the fenced publisher changed the bucket: %v", ch)
	}

	// The conditional write itself, for the race the HEAD cannot close: c
	// read the bucket's checkpoint, then a wrote a newer one before c's
	// PUT.
	c := f.log(f.skey)
	logtest.AddAll(t, c, common)
	logtest.AddAll(t, c, entries("a", 10))
	logtest.AddAll(t, c, entries("c", 5))
	pc := f.publisher(c, "s3://logs/x", nil)
	if err := pc.Resume(ctx); err != nil {
		t.Fatal(err) // the bucket (710) is a prefix of c's history
	}
	logtest.AddAll(t, a, entries("a2", 3))
	mustPublish(t, pa, 713)
	before = f.s3.Objects("logs")
	wantFence(t, pc.putCheckpoint(ctx, c.Published()), "conditional write")
	if ch := changed(before, f.s3.Objects("logs")); len(ch) != 0 {
		t.Fatalf("the refused checkpoint write changed the bucket: %v", ch)
	}
}

// TestTileConflict: an object in the way of a round with other bytes stops
// it before its checkpoint.
func TestTileConflict(t *testing.T) {
	f := newFixture(t)
	f.s3.Bucket("logs", false)
	ctx := context.Background()
	l := f.log(f.skey)
	logtest.AddAll(t, l, entries("a", 300))
	p := f.publisher(l, "s3://logs/y", nil)
	if err := p.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, p, 300)
	junk := bytes.Repeat([]byte{9}, 8192)
	if _, err := f.s3.Client().PutObject(ctx, "logs", "y/tile/0/002", bytes.NewReader(junk), int64(len(junk)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	logtest.AddAll(t, l, entries("b", 500)) // 800: tiles 1 and 2 complete
	_, err := p.Publish(ctx)
	wantFence(t, err, "y/tile/0/002 holds other bytes")
	note, _, err := f.bucket("s3://logs/y").Get(ctx, "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(note, []byte("\n300\n")) {
		t.Fatalf("checkpoint moved past the conflicting tile:\n%s", note)
	}
}

// TestOutage: with the bucket down, rounds fail (not fenced) and the lag
// grows; when it is back, the next round catches up.
func TestOutage(t *testing.T) {
	f := newFixture(t)
	f.s3.Bucket("logs", true)
	ctx := context.Background()
	l := f.log(f.skey)
	logtest.AddAll(t, l, entries("a", 100))
	p := f.publisher(l, "s3://logs/z", nil)
	if err := p.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, p, 100)
	f.s3.Stop()
	logtest.AddAll(t, l, entries("b", 1000))
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := p.Publish(rctx)
	cancel()
	var fe *FenceError
	if err == nil || errors.As(err, &fe) {
		t.Fatalf("round with the bucket down: %v", err)
	}
	if p.Lag() != 1000 {
		t.Errorf("lag %d, want 1000", p.Lag())
	}
	f.s3.Restart()
	mustPublish(t, p, 1100)
	if size, _ := miniotest.CheckLog(t, f.s3.Endpoint()+"/logs/z", f.vkey); size != 1100 {
		t.Fatalf("bucket at %d", size)
	}
}

// loseAnswers is a transport that, while armed, sends checkpoint PUTs to
// the server and then reports a broken connection instead of its answer.
type loseAnswers struct {
	armed atomic.Bool
	lost  atomic.Int64
}

func (l *loseAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && l.armed.Load() && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/checkpoint") {
		resp.Body.Close()
		l.lost.Add(1)
		return nil, errors.New("connection reset by peer (test)")
	}
	return resp, err
}

// TestLostCheckpointAnswer: a checkpoint PUT that landed but whose answer
// was lost is recognised in the next round (the bucket holds exactly the
// checkpoint this publisher tried to write), not taken for another
// sequencer — and a different checkpoint there still is.
func TestLostCheckpointAnswer(t *testing.T) {
	f := newFixture(t)
	f.s3.Bucket("logs", false)
	ctx := context.Background()
	l := f.log(f.skey)
	logtest.AddAll(t, l, entries("a", 100))
	tr := &loseAnswers{}
	b, err := OpenBucket(BucketConfig{URL: "s3://logs/l", Endpoint: f.s3.Endpoint(), Credentials: miniotest.Credentials(), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Log: l, Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	tr.armed.Store(true)
	if _, err := p.Publish(ctx); err == nil || tr.lost.Load() != 1 {
		t.Fatalf("first round: %v (lost %d answers)", err, tr.lost.Load())
	}
	tr.armed.Store(false)
	logtest.AddAll(t, l, entries("b", 100))
	mustPublish(t, p, 200)

	// Lost again, and then the checkpoint is replaced by someone else.
	logtest.AddAll(t, l, entries("c", 100))
	tr.armed.Store(true)
	if _, err := p.Publish(ctx); err == nil {
		t.Fatal("round with a lost answer succeeded")
	}
	tr.armed.Store(false)
	other := f.log(f.skey)
	logtest.AddAll(t, other, entries("z", 400))
	note := other.Published().Note
	if _, err := f.s3.Client().PutObject(ctx, "logs", "l/checkpoint", bytes.NewReader(note), int64(len(note)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	logtest.AddAll(t, l, entries("d", 1))
	_, err = p.Publish(ctx)
	wantFence(t, err, "not the checkpoint this log last tried to write")
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string][2]string{
		"s3://b":          {"b", ""},
		"s3://b/":         {"b", ""},
		"s3://b/p/q":      {"b", "p/q"},
		"s3://b/p/q/":     {"b", "p/q"},
		"https://b/p":     {},
		"s3:///p":         {},
		"s3://b/p//q":     {},
		"s3://b/p?x=1":    {},
		"s3://u:pw@b/p":   {},
		"b/p":             {},
		"s3://b/p#frag":   {},
		"":                {},
		"s3://b/p%2fq":    {"b", "p/q"},
		"s3://bucket/eu/": {"bucket", "eu"},
	} {
		b, p, err := ParseURL(in)
		if want == [2]string{} {
			if err == nil {
				t.Errorf("ParseURL(%q) = %q, %q; want an error", in, b, p)
			}
			continue
		}
		if err != nil || b != want[0] || p != want[1] {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q", in, b, p, err, want)
		}
	}
	if _, err := OpenBucket(BucketConfig{URL: "s3://b", Endpoint: "ftp://x"}); err == nil {
		t.Error("ftp endpoint accepted")
	}
	if _, err := OpenBucket(BucketConfig{URL: "s3://b", Endpoint: "http://x/path"}); err == nil {
		t.Error("endpoint with a path accepted")
	}
}
