package witness

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// recordingHandler is a slog.Handler that keeps every record (shared by
// the handlers With derives from it), to count what the witness logs.
type recordingHandler struct {
	s     *recorded
	attrs []slog.Attr
}

type recorded struct {
	mu   sync.Mutex
	recs []recordedLine
}

type recordedLine struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newRecorder() (*slog.Logger, *recorded) {
	s := &recorded{}
	return slog.New(recordingHandler{s: s}), s
}

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	l := recordedLine{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		l.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { l.attrs[a.Key] = a.Value.String(); return true })
	h.s.mu.Lock()
	h.s.recs = append(h.s.recs, l)
	h.s.mu.Unlock()
	return nil
}

func (h recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recordingHandler{s: h.s, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h recordingHandler) WithGroup(string) slog.Handler { return h }

// since returns the records after the first n.
func (r *recorded) since(n int) []recordedLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recordedLine(nil), r.recs[n:]...)
}

func (r *recorded) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs)
}

func atLeast(ls []recordedLine, level slog.Level) []recordedLine {
	var out []recordedLine
	for _, l := range ls {
		if l.level >= level {
			out = append(out, l)
		}
	}
	return out
}

// fakeClock is a settable clock for rate limits and log intervals.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(fixedNow.UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// countKeys counts the store's keys with a prefix byte.
func countKeys(t testing.TB, w *Witness, prefix byte) int {
	t.Helper()
	it, err := w.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
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

// TestJunkProofFlood: the review's attack. 500 genuine new checkpoints,
// each validly signed by the log, each with a junk consistency proof,
// pushed as fast as possible: every one is 422; nothing is stored (no
// evidence record, no marker); the bad-proof metric counts 500, the fork
// metric 0; the log gets one warning (per origin per minute, with the
// number held back in the next). A real same-size fork afterwards is
// still recorded.
func TestJunkProofFlood(t *testing.T) {
	const n = 500
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	x := newXLog(t, lk, 8+n+1, "main")
	fork := newXLog(t, lk, 8, "fork")
	logger, rec := newRecorder()
	clock := newFakeClock()
	w := newTW(t, wk, []logKey{lk}, twOpts{config: func(c *Config) {
		c.Logger, c.clock = logger, clock.now
		c.RateLimit = -1 // the flood is the point here; TestRateLimit limits it
	}})
	if r := w.post(t, reqBody(0, nil, x.checkpoint(t, 8))); r.code != 200 {
		t.Fatal(r)
	}
	bodies := make([][]byte, n+1)
	for i := range bodies {
		bodies[i] = reqBody(8, randomHashes(1+i%8), x.checkpoint(t, 9+i))
	}
	lines0 := rec.len()
	for i := range n {
		if r := w.post(t, bodies[i]); r.code != http.StatusUnprocessableEntity || strings.Count(string(r.body), "\n") != 1 {
			t.Fatalf("junk proof %d: %v, want 422 with a one-line reason", i, r)
		}
	}
	if got := w.w.ForkCount(); got != 0 {
		t.Errorf("ForkCount %d after a junk-proof flood, want 0", got)
	}
	if got := w.w.BadProofCount(); got != n {
		t.Errorf("BadProofCount %d, want %d", got, n)
	}
	if f, m := countKeys(t, w.w, 'f'), countKeys(t, w.w, 'e'); f != 0 || m != 0 {
		t.Errorf("the store holds %d evidence records and %d markers after the flood, want none", f, m)
	}
	if r := w.get(t, "/forks"); r.code != 200 || len(r.body) != 0 {
		t.Errorf("GET /forks after the flood: %v, want empty", r)
	}
	m := string(w.get(t, "/metrics").body)
	for _, want := range []string{"\nwitness_forks_total 0\n", fmt.Sprintf("\nwitness_bad_proofs_total %d\n", n)} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q:\n%s", strings.TrimSpace(want), m)
		}
	}
	lines := rec.since(lines0)
	if len(lines) > 5 {
		t.Errorf("%d log lines for %d junk proofs, want a handful at most", len(lines), n)
	}
	warns := atLeast(lines, slog.LevelWarn)
	if len(warns) != 1 || warns[0].level != slog.LevelWarn || warns[0].attrs["origin"] != testOrigin || warns[0].attrs["suppressed"] != "0" {
		t.Fatalf("log lines at warn and above during the flood: %+v, want one warning for %s", warns, testOrigin)
	}
	// A minute later the next one is logged, with the count held back.
	clock.advance(badProofLogInterval)
	lines0 = rec.len()
	if r := w.post(t, bodies[n]); r.code != 422 {
		t.Fatal(r)
	}
	warns = atLeast(rec.since(lines0), slog.LevelWarn)
	if len(warns) != 1 || warns[0].attrs["suppressed"] != fmt.Sprint(n-1) {
		t.Errorf("after a minute: %+v, want one warning with suppressed=%d", warns, n-1)
	}
	if size, root := w.state(t, testOrigin); size != 8 || root != x.root(t, 8) {
		t.Errorf("state %d after the flood, want 8", size)
	}

	// A real fork is still evidence.
	lines0 = rec.len()
	if r := w.post(t, reqBody(8, nil, fork.checkpoint(t, 8))); r.code != 409 || string(r.body) != "8\n" {
		t.Fatalf("same-size fork: %v", r)
	}
	if got := w.w.ForkCount(); got != 1 {
		t.Errorf("ForkCount %d after a same-size fork, want 1", got)
	}
	recs := parseEvidence(t, w.get(t, "/forks").body)
	if len(recs) != 1 || recs[0].kind != "same-size-different-root" {
		t.Errorf("GET /forks: %+v", recs)
	}
	if errs := atLeast(rec.since(lines0), slog.LevelError); len(errs) != 1 || !strings.HasPrefix(errs[0].msg, "FORK:") {
		t.Errorf("the fork logged %+v, want one FORK error", errs)
	}
	if !strings.Contains(string(w.get(t, "/metrics").body), "\nwitness_forks_total 1\n") {
		t.Error("/metrics does not count the fork")
	}
}

// forkNotes makes n distinct same-size forks of size 8 signed by the log.
func forkNotes(t testing.TB, lk logKey, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		root := make([]byte, 32)
		rand.Read(root)
		out[i] = signText(t, checkpointText(testOrigin, 8, root), lk.xsigner)
	}
	return out
}

// getPage is GET path, returning the status, body and Next-Cursor.
func (x *testWitness) getPage(t testing.TB, path string) (int, []byte, string) {
	t.Helper()
	resp, err := httpClient.Get(x.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), resp.Header.Get("Next-Cursor")
}

// TestForksPagination: 250 records, paged 100 at a time by the Next-Cursor
// header, come back each exactly once and in store order; the default page
// is 100; a record kept while paging shows up on a later page; bad limits
// and cursors are 400 with a one-line reason.
func TestForksPagination(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	x := newXLog(t, lk, 8, "main")
	w := newTW(t, newWitnessKey(t, witnessName), []logKey{lk}, twOpts{})
	ctx := t.Context()
	if _, err := w.w.AddCheckpoint(ctx, reqBody(0, nil, x.checkpoint(t, 8))); err != nil {
		t.Fatal(err)
	}
	notes := forkNotes(t, lk, 251)
	for _, n := range notes[:250] {
		if _, err := w.w.AddCheckpoint(ctx, reqBody(8, nil, n)); !errors.Is(err, ErrFork) {
			t.Fatalf("fork: %v", err)
		}
	}
	all, err := w.w.Forks()
	if err != nil || len(all) != 250 {
		t.Fatalf("Forks: %d, %v", len(all), err)
	}

	code, body, next := w.getPage(t, "/forks")
	if recs := parseEvidence(t, body); code != 200 || len(recs) != DefaultForksLimit || next == "" {
		t.Fatalf("GET /forks: %d, %d records, cursor %q; want 200, %d and a cursor", code, len(recs), next, DefaultForksLimit)
	}

	var pages [][]byte
	cursor := ""
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("pagination does not end")
		}
		path := "/forks?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, body, next := w.getPage(t, path)
		if code != 200 {
			t.Fatalf("GET %s: %d %q", path, code, body)
		}
		pages = append(pages, body)
		if i == 1 {
			// A record kept while paging sorts after the ones listed.
			if _, err := w.w.AddCheckpoint(ctx, reqBody(8, nil, notes[250])); !errors.Is(err, ErrFork) {
				t.Fatal(err)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(pages) != 3 {
		t.Errorf("%d pages, want 3 (100, 100, 51)", len(pages))
	}
	seen := map[string]int{}
	var kinds []evidence
	for _, p := range pages {
		kinds = append(kinds, parseEvidence(t, p)...)
	}
	for _, e := range kinds {
		seen[string(e.submitted)]++
	}
	for i, n := range notes {
		if seen[string(n)] != 1 {
			t.Errorf("fork %d listed %d times, want once", i, seen[string(n)])
		}
	}
	if len(kinds) != 251 || len(seen) != 251 {
		t.Errorf("%d records listed (%d distinct), want 251", len(kinds), len(seen))
	}
	// In store order: the pages joined are Forks().
	all, _ = w.w.Forks()
	if joined := bytes.Join(pages, []byte("\n")); !bytes.Equal(joined, bytes.Join(all, []byte("\n"))) {
		t.Error("the pages joined are not the records in store order")
	}

	if code, body, next := w.getPage(t, fmt.Sprintf("/forks?limit=%d", MaxForksLimit)); code != 200 || len(parseEvidence(t, body)) != 251 || next != "" {
		t.Errorf("limit=%d: %d, %d records, cursor %q; want all 251 and no cursor", MaxForksLimit, code, len(parseEvidence(t, body)), next)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=", "limit=010", "limit=1e2",
		"cursor=", "cursor=!!!", "cursor=AAAA", "cursor=" + strings.Repeat("A", 40), "limit=5&cursor=eA"} {
		code, body, _ := w.getPage(t, "/forks?"+q)
		if code != 400 || strings.Count(string(body), "\n") != 1 || len(body) < 5 {
			t.Errorf("GET /forks?%s: %d %q, want 400 with a one-line reason", q, code, body)
		}
	}
}

// TestRateLimit: with the default limits (10/s, burst 20), a client
// address gets 429 with Retry-After after its burst, whatever it sends,
// while another address is not affected; an IPv6 /64 is one client; one
// origin gets 429 after its burst even from many addresses, except for
// the log's new checkpoints; both recover as the clock moves. The watcher
// is not limited.
func TestRateLimit(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	x := newXLog(t, lk, 40, "main")
	clock := newFakeClock()
	w := newTW(t, newWitnessKey(t, witnessName), []logKey{lk}, twOpts{config: func(c *Config) { c.clock = clock.now }})
	h := w.h
	post := func(addr string, body []byte) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/add-checkpoint", bytes.NewReader(body))
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	junk := []byte("not a request")
	const a, b = "203.0.113.7:40000", "203.0.113.8:40000"
	for i := range DefaultRateBurst {
		if r := post(a, junk); r.Code != 400 {
			t.Fatalf("request %d from %s: %d %q, want 400", i, a, r.Code, r.Body)
		}
	}
	r := post(a, junk)
	if r.Code != http.StatusTooManyRequests || r.Header().Get("Retry-After") != "1" || strings.Count(r.Body.String(), "\n") != 1 {
		t.Fatalf("request %d from %s: %d Retry-After %q %q, want 429, Retry-After 1 and a one-line reason",
			DefaultRateBurst+1, a, r.Code, r.Header().Get("Retry-After"), r.Body)
	}
	if r := post(b, junk); r.Code != 400 {
		t.Errorf("another address: %d, want 400 (not limited)", r.Code)
	}
	clock.advance(time.Second / DefaultRateLimit)
	if r := post(a, junk); r.Code != 400 {
		t.Errorf("after 1/rate: %d, want one request through", r.Code)
	}
	if r := post(a, junk); r.Code != 429 {
		t.Errorf("then: %d, want 429 again", r.Code)
	}
	// An IPv6 /64 is one client.
	for i := range DefaultRateBurst {
		post(fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1), junk)
	}
	if r := post("[2001:db8:1:2:ffff::1]:1", junk); r.Code != 429 {
		t.Errorf("a fresh address in a /64 that used its burst: %d, want 429", r.Code)
	}
	if r := post("[2001:db8:1:3::1]:1", junk); r.Code != 400 {
		t.Errorf("another /64: %d, want 400", r.Code)
	}

	// Per origin, from many addresses: genuine checkpoints.
	cp := x.checkpoint(t, 8)
	if r := post("198.51.100.1:1", reqBody(0, nil, cp)); r.Code != 200 {
		t.Fatalf("first checkpoint: %d %q", r.Code, r.Body)
	}
	for i := range DefaultRateBurst { // the first did not count: it moved the witness forward
		if r := post(fmt.Sprintf("198.51.100.%d:1", i+2), reqBody(8, nil, cp)); r.Code != 200 {
			t.Fatalf("replay %d: %d %q", i, r.Code, r.Body)
		}
	}
	r = post("198.51.100.200:1", reqBody(8, nil, cp))
	if r.Code != 429 || r.Header().Get("Retry-After") == "" || !strings.Contains(r.Body.String(), "origin") {
		t.Fatalf("origin over its burst: %d Retry-After %q %q, want 429 naming the origin", r.Code, r.Header().Get("Retry-After"), r.Body)
	}
	// The log's next checkpoint still goes through: requests that move
	// the witness forward do not take from the origin's bucket, so
	// strangers replaying public checkpoints cannot lock the log out.
	if r := post("192.0.2.50:1", reqBody(8, x.proof(t, 8, 12), x.checkpoint(t, 12))); r.Code != 200 {
		t.Fatalf("the log's new checkpoint while the origin is limited: %d %q, want 200", r.Code, r.Body)
	}
	// But one whose proof fails is charged, and limited.
	if r := post("192.0.2.51:1", reqBody(12, randomHashes(3), x.checkpoint(t, 20))); r.Code != 429 {
		t.Errorf("a failing proof while the origin is limited: %d %q, want 429", r.Code, r.Body)
	}
	// The watcher (in process) is not limited at all.
	if _, err := w.w.add(t.Context(), reqBody(12, nil, x.checkpoint(t, 12)), addOpts{fromLog: true}); err != nil {
		t.Errorf("in-process add while the origin is limited: %v", err)
	}
	clock.advance(time.Second)
	for i := range int(DefaultRateLimit) {
		if r := post(fmt.Sprintf("198.51.100.%d:2", i+1), reqBody(12, nil, x.checkpoint(t, 12))); r.Code != 200 {
			t.Fatalf("after a second, request %d: %d %q, want 200", i, r.Code, r.Body)
		}
	}
	if r := post("198.51.100.99:2", reqBody(12, nil, x.checkpoint(t, 12))); r.Code != 429 {
		t.Errorf("after the refill is spent: %d, want 429", r.Code)
	}
	m := w.get(t, "/metrics").body
	if !bytes.Contains(m, []byte("\nwitness_rate_limited_total 6\n")) {
		t.Errorf("/metrics, want witness_rate_limited_total 6:\n%s", m)
	}
}

// TestRateLimitMemoryBounded: a stranger with many addresses cannot grow
// the per-address buckets past their bound; idle ones are dropped first.
func TestRateLimitMemoryBounded(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(10, 20, 1000, clock.now)
	for i := range 100_000 {
		l.allow(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&0xff, i&0xff))
		if l.size() > 1000 {
			t.Fatalf("%d buckets after %d addresses, bound 1000", l.size(), i+1)
		}
	}
	// A busy client keeps its (empty) bucket through evictions of idle ones.
	for range 20 {
		l.allow("busy")
	}
	clock.advance(3 * time.Second) // every other bucket is full again: idle
	for range 20 {
		l.allow("busy")
	}
	for i := range 500 { // the first of them makes room: all idle ones go
		l.allow(fmt.Sprintf("fresh %d", i))
	}
	if n := l.size(); n != 501 {
		t.Errorf("%d buckets after dropping idle ones and adding 500, want 501", n)
	}
	if ok, _ := l.allow("busy"); ok {
		t.Error("the busy client's bucket was dropped while idle ones were there to drop")
	}
	for _, c := range []struct{ in, want string }{
		{"192.0.2.1:80", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::/64"},
		{"[2001:db8::1%eth0]:443", "2001:db8::/64"},
		{"pipe", "pipe"},
	} {
		if got := clientKey(c.in); got != c.want {
			t.Errorf("clientKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestHEAD: every GET route answers HEAD with the GET's status and
// headers, and no body.
func TestHEAD(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	x := newXLog(t, lk, 8, "main")
	w := newTW(t, newWitnessKey(t, witnessName), []logKey{lk}, twOpts{})
	if r := w.post(t, reqBody(0, nil, x.checkpoint(t, 8))); r.code != 200 {
		t.Fatal(r)
	}
	for _, c := range []struct {
		path string
		code int
	}{
		{"/healthz", 200}, {"/metrics", 200}, {"/forks", 200}, {"/forks?limit=5", 200}, {"/forks?limit=0", 400},
		{originPath(testOrigin), 200}, {originPath("example.com/unknown"), 404},
	} {
		g := w.get(t, c.path)
		req, err := http.NewRequest(http.MethodHead, w.srv.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || g.code != c.code || b.Len() != 0 || resp.Header.Get("Content-Type") != g.ctype {
			t.Errorf("HEAD %s: %d %q, body %d bytes (GET: %v); want %d, the GET's Content-Type, no body",
				c.path, resp.StatusCode, resp.Header.Get("Content-Type"), b.Len(), g, c.code)
		}
	}
}
