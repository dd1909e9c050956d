package monitor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/monitor"
	"github.com/tlogai/tlog/signer"
)

// indices are the report lines' indices.
func indices(rs []monitor.Report) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.Index)
	}
	return out
}

func unexpected(rs []monitor.Report) []uint64 {
	var out []uint64
	for _, r := range rs {
		if r.Unexpected {
			out = append(out, r.Index)
		}
	}
	return out
}

// A log with releases of two models, one of them by a signer not on the
// allowed list, decisions and raw entries: exactly that release is
// flagged (exit 1), the watched model's other entries are reported, the
// other model's are not; a rerun from the state reports nothing (exit 0);
// new entries are reported once.
func TestMonitorReleases(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	good, rogue := newPublisher(t), newPublisher(t)
	tl.add([]byte("raw entry one"), []byte("raw entry two"))
	r1 := tl.attest(t, good, "acme/fraud-v3", "1")
	tl.add(decision(t, "kyc", "acme/fraud-v3", 1), decision(t, "kyc", "acme/chat", 2))
	r2 := tl.attest(t, good, "acme/chat", "1")
	bad := tl.attest(t, rogue, "ACME/Fraud-v3", "2") // the same model to the policy and to registries
	r3 := tl.attest(t, good, "acme/fraud-v3", "3")
	size := tl.Log().Published().Size

	state := statePath(t)
	w := monitor.Watch{Models: []string{"acme/fraud-v3"}, Allowed: allowedOf(t, good.fp)}
	got := tl.pass(t, state, w, nil)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.code != monitor.ExitUnexpected {
		t.Errorf("exit code %d, want %d", got.code, monitor.ExitUnexpected)
	}
	if u := unexpected(got.lines); !slices.Equal(u, []uint64{bad}) {
		t.Fatalf("unexpected entries %v, want exactly [%d]; output:\n%s", u, bad, got.raw)
	}
	want := []uint64{r1, 3, bad, r3} // index 3: the decision of acme/fraud-v3
	if ix := indices(got.lines); !slices.Equal(ix, want) {
		t.Fatalf("reported %v, want %v; output:\n%s", ix, want, got.raw)
	}
	for _, r := range got.lines {
		switch r.Index {
		case bad:
			if r.Kind != attest.KindRelease || !slices.Equal(r.Signers, []string{rogue.fp}) || !strings.Contains(r.Reason, rogue.fp) ||
				!strings.Contains(r.Reason, "not on the allowed signers list") || !slices.Equal(r.Matched, []string{"model=acme/fraud-v3"}) {
				t.Errorf("the rogue release's line: %+v", r)
			}
			if len(r.Subjects) != 1 || r.Subjects[0].Name != "ACME/Fraud-v3" || r.Subjects[0].Digest != digestOf("ACME/Fraud-v3", "2") {
				t.Errorf("the rogue release's subjects: %+v", r.Subjects)
			}
		case 3:
			if r.Kind != attest.KindDecision || r.System != "kyc" || r.Model != "acme/fraud-v3" || r.Version != "1.0" || r.ID != "d-1" || r.Unexpected {
				t.Errorf("the decision's line: %+v", r)
			}
		default:
			if r.Kind != attest.KindRelease || r.Unexpected || !slices.Equal(r.Signers, []string{good.fp}) || r.EnvelopeDigest == "" || r.Signature != "verified" {
				t.Errorf("release line: %+v", r)
			}
		}
	}
	if got.sum.Entries != size || got.sum.Next != size || got.sum.Matched != 4 || got.sum.Unexpected != 1 {
		t.Errorf("summary %+v, want %d entries, 4 matched, 1 unexpected", got.sum, size)
	}
	note, next := readState(t, state)
	if next != size {
		t.Errorf("state next %d, want %d", next, size)
	}
	if cp, _, err := signer.OpenCheckpoint([]byte(note), tl.verifier); err != nil || cp.Size != size {
		t.Errorf("state checkpoint: size %d, %v; want a verified checkpoint of size %d", cp.Size, err, size)
	}

	// Again from the state: nothing new.
	again := tl.pass(t, state, w, nil)
	if again.err != nil || again.code != monitor.ExitOK || len(again.lines) != 0 || again.sum.Entries != 0 {
		t.Fatalf("rerun: code %d, err %v, %d entries read, output %q; want nothing", again.code, again.err, again.sum.Entries, again.raw)
	}

	// New entries: only they are read, and reported.
	tl.add(decision(t, "kyc", "acme/fraud-v3", 3))
	r4 := tl.attest(t, good, "acme/fraud-v3", "4")
	more := tl.pass(t, state, w, nil)
	if more.err != nil || more.code != monitor.ExitOK || !slices.Equal(indices(more.lines), []uint64{size, r4}) || more.sum.Entries != 2 {
		t.Fatalf("after 2 more entries: code %d, err %v, reported %v (%d read); want [%d %d]", more.code, more.err, indices(more.lines), more.sum.Entries, size, r4)
	}

	// Without --model, the allowed signers judge every release.
	anyModel := tl.pass(t, statePath(t), monitor.Watch{Allowed: allowedOf(t, good.fp)}, nil)
	if anyModel.code != monitor.ExitUnexpected || !slices.Equal(indices(anyModel.lines), []uint64{bad}) || !slices.Equal(anyModel.lines[0].Matched, []string{"allowed-signers"}) {
		t.Fatalf("allowed signers only: code %d, lines %+v; want only %d", anyModel.code, anyModel.lines, bad)
	}
	// With both signers allowed, nothing is unexpected.
	both := tl.pass(t, statePath(t), monitor.Watch{Models: []string{"acme/"}, Allowed: allowedOf(t, good.fp, rogue.fp)}, nil)
	if both.code != monitor.ExitOK || len(unexpected(both.lines)) != 0 || !slices.Equal(indices(both.lines), []uint64{r1, 3, 4, r2, bad, r3, size, r4}) {
		t.Fatalf("acme/ with both signers: code %d, reported %v", both.code, indices(both.lines))
	}
	// By digest: the subject's.
	dg := tl.pass(t, statePath(t), monitor.Watch{Digests: []string{strings.ToUpper(digestOf("acme/chat", "1"))}}, nil)
	if dg.code != monitor.ExitOK || !slices.Equal(indices(dg.lines), []uint64{r2}) || !slices.Equal(dg.lines[0].Matched, []string{"digest=" + digestOf("acme/chat", "1")}) {
		t.Fatalf("digest: reported %+v, want [%d]", dg.lines, r2)
	}
}

// A fork — a fresh store with the same key and another history, served at
// the same URL — is exit 2 with both signed checkpoints written next to
// the state, which does not move; a rerun finds the same evidence.
func TestMonitorFork(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	for i := range 5 {
		tl.add(decision(t, "kyc", "acme/fraud-v3", i))
	}
	state := statePath(t)
	w := monitor.Watch{Systems: []string{"kyc"}}
	if r := tl.pass(t, state, w, nil); r.err != nil || len(r.lines) != 5 {
		t.Fatalf("first pass: %v, %d lines", r.err, len(r.lines))
	}
	before, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := readState(t, state)

	tl.fork()
	for i := range 9 {
		tl.add(decision(t, "kyc", "acme/other", i))
	}
	forked := tl.Log().Checkpoint()
	for range 2 {
		r := tl.pass(t, state, w, nil)
		var fe *monitor.ForkError
		if !errors.As(r.err, &fe) || !errors.Is(r.err, client.ErrInconsistent) {
			t.Fatalf("pass on the fork: %v, want a *ForkError", r.err)
		}
		if r.code != monitor.ExitCouldNotCheck || len(r.lines) != 0 {
			t.Errorf("exit code %d with %d lines, want %d and none", r.code, len(r.lines), monitor.ExitCouldNotCheck)
		}
		if fe.Evidence != state+".evidence" {
			t.Errorf("evidence in %q, want %q (%v)", fe.Evidence, state+".evidence", fe.WriteErr)
		}
		b, err := os.ReadFile(state + ".evidence")
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Log, Time, Reason string
			Kept              string `json:"kept_checkpoint"`
			Seen              string `json:"log_checkpoint"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Kept != kept || ev.Seen != string(forked) || ev.Log != tl.URL() || !strings.Contains(ev.Reason, "does not extend") {
			t.Errorf("evidence %+v; want the kept checkpoint, the fork's, and why", ev)
		}
		for _, n := range []string{ev.Kept, ev.Seen} {
			if _, _, err := signer.OpenCheckpoint([]byte(n), tl.verifier); err != nil {
				t.Errorf("evidence checkpoint does not verify: %v", err)
			}
		}
		if after, _ := os.ReadFile(state); string(after) != string(before) {
			t.Errorf("the state moved on a fork:\n%s\nwas\n%s", after, before)
		}
	}
	if _, err := os.Stat(state + ".evidence.1"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the same evidence written twice: %v", err)
	}
}

// A log that cannot be reached is exit 2, transient, and leaves no state.
func TestMonitorUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tl := newTestLog(t)
	c, err := client.New("http://"+addr, client.WithLogKey(tl.verifier))
	if err != nil {
		t.Fatal(err)
	}
	state := statePath(t)
	m, err := monitor.New(testCtx(t), monitor.Config{Client: c, State: state, Watch: monitor.Watch{Systems: []string{"kyc"}}, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Pass(testCtx(t))
	if err == nil || !monitor.Transient(err) || monitor.ExitCode(s, err) != monitor.ExitCouldNotCheck {
		t.Fatalf("pass on a closed port: %v (transient %v), want a transient error and exit 2", err, monitor.Transient(err))
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a state file was written: %v", err)
	}
}

// webhook is a test receiver: it fails the first failFirst requests with
// 503 (all of them when failFirst < 0) and keeps the bodies it accepts.
type webhook struct {
	*httptest.Server
	mu        sync.Mutex
	bodies    []string
	requests  atomic.Int64
	failFirst int64
}

func newWebhook(t *testing.T, failFirst int64) *webhook {
	h := &webhook{failFirst: failFirst}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := h.requests.Add(1)
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		if h.failFirst < 0 || n <= h.failFirst {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *webhook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.bodies)
}

// The webhook gets every line, exactly as printed, retried through
// failures; a webhook that keeps failing is exit 2, the line is not
// printed and the state stops before its entry, so the next run delivers
// it (and prints it) once.
func TestMonitorWebhook(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	pub := newPublisher(t)
	tl.add(decision(t, "kyc", "acme/fraud-v3", 0))
	tl.attest(t, pub, "acme/fraud-v3", "1")
	tl.add([]byte("raw"))
	tl.attest(t, pub, "acme/fraud-v3", "2")
	w := monitor.Watch{Models: []string{"acme/fraud-v3"}}
	fast := func(h *webhook) func(*monitor.Config) {
		return func(c *monitor.Config) {
			c.Webhook = &monitor.Webhook{URL: h.URL, Backoff: time.Millisecond, Attempts: 3}
		}
	}

	h := newWebhook(t, 2) // two 503s, then accepted
	r := tl.pass(t, statePath(t), w, fast(h))
	if r.err != nil || len(r.lines) != 3 {
		t.Fatalf("pass: %v, %d lines", r.err, len(r.lines))
	}
	if got, want := h.got(), strings.Split(strings.TrimSuffix(r.raw, "\n"), "\n"); !slices.Equal(got, want) {
		t.Fatalf("webhook got %q, printed %q", got, want)
	}
	if n := h.requests.Load(); n != 5 {
		t.Errorf("%d webhook requests, want 5 (2 refused, 3 lines)", n)
	}

	// A webhook that refuses everything.
	down := newWebhook(t, -1)
	state := statePath(t)
	r = tl.pass(t, state, w, fast(down))
	var we *monitor.WebhookError
	if !errors.As(r.err, &we) || we.Attempts != 3 || r.code != monitor.ExitCouldNotCheck || !monitor.Transient(r.err) {
		t.Fatalf("pass with the webhook down: %v (code %d), want a *WebhookError after 3 attempts, exit 2", r.err, r.code)
	}
	if len(r.lines) != 0 {
		t.Errorf("lines printed that the webhook did not take: %q", r.raw)
	}
	if _, next := readState(t, state); next != 0 {
		t.Errorf("state next %d, want 0 (the first entry's line was not accepted)", next)
	}
	up := newWebhook(t, 0)
	r = tl.pass(t, state, w, fast(up))
	if r.err != nil || len(r.lines) != 3 || len(up.got()) != 3 {
		t.Fatalf("after the webhook is back: %v, %d lines, %d delivered; want 3 and 3", r.err, len(r.lines), len(up.got()))
	}

	// A 4xx other than 408 and 429 is not retried.
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no such hook", http.StatusNotFound) }))
	defer refuse.Close()
	r = tl.pass(t, statePath(t), w, func(c *monitor.Config) { c.Webhook = &monitor.Webhook{URL: refuse.URL, Backoff: time.Millisecond} })
	if !errors.As(r.err, &we) || we.Attempts != 1 || !strings.Contains(r.err.Error(), "404") || !strings.Contains(r.err.Error(), "no such hook") {
		t.Fatalf("404 webhook: %v, want one attempt naming the answer", r.err)
	}
}

// Follow reads entries as they arrive, and stops with the context; what
// it read is not read again.
func TestMonitorFollow(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	tl.add(decision(t, "kyc", "m", 0))
	state := statePath(t)
	out := &lockedBuffer{}
	m, err := monitor.New(testCtx(t), monitor.Config{Client: tl.client(t), State: state, Watch: monitor.Watch{Systems: []string{"kyc"}}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	type result struct {
		s   monitor.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := m.Follow(ctx, 20*time.Millisecond)
		done <- result{s, err}
	}()
	waitLines := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for strings.Count(out.String(), "\n") < n {
			if time.Now().After(deadline) {
				t.Fatalf("waited for %d lines; got:\n%s", n, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitLines(1)
	tl.add(decision(t, "kyc", "m", 1), decision(t, "other", "m", 2), decision(t, "kyc", "m", 3))
	waitLines(3)
	cancel()
	res := <-done
	if res.err != nil || res.s.Entries != 4 || res.s.Matched != 3 || res.s.Next != 4 {
		t.Fatalf("Follow: %+v, %v; want 4 entries read, 3 reported", res.s, res.err)
	}
	if ix := indices(parseLines(t, out.String())); !slices.Equal(ix, []uint64{0, 1, 3}) {
		t.Errorf("reported %v, want [0 1 3]", ix)
	}
	if _, next := readState(t, state); next != 4 {
		t.Errorf("state next %d, want 4", next)
	}
	if _, err := m.Follow(context.Background(), 0); err == nil {
		t.Error("Follow with interval 0 did not fail")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Bad configurations and state files are refused with the reason.
func TestMonitorConfigErrors(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	tl.add([]byte("x"))
	other := newTestLog(t)
	other.add([]byte("y"), []byte("z"))
	w := monitor.Watch{Systems: []string{"kyc"}}
	dir := t.TempDir()
	file := func(name, content string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cp := string(tl.Log().Checkpoint())
	stateJSON := func(note string, next uint64) string {
		b, _ := json.Marshal(map[string]any{"checkpoint": note, "next": next})
		return string(b)
	}
	noKey, err := client.New(tl.URL())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  monitor.Config
		want string
	}{
		{"no client", monitor.Config{State: "s", Watch: w, Out: io.Discard}, "no client"},
		{"no state", monitor.Config{Client: tl.client(t), Watch: w, Out: io.Discard}, "no state file"},
		{"nothing watched", monitor.Config{Client: tl.client(t), State: "s", Out: io.Discard}, "nothing to watch"},
		{"bad digest", monitor.Config{Client: tl.client(t), State: "s", Watch: monitor.Watch{Digests: []string{"sha256:abc"}}, Out: io.Discard}, `digest "sha256:abc" is not sha256:<64 hex digits>`},
		{"empty model", monitor.Config{Client: tl.client(t), State: "s", Watch: monitor.Watch{Models: []string{" "}}, Out: io.Discard}, "empty model"},
		{"control characters", monitor.Config{Client: tl.client(t), State: "s", Watch: monitor.Watch{Systems: []string{"a\nb"}}, Out: io.Discard}, "control characters"},
		{"garbage state", monitor.Config{Client: tl.client(t), State: file("garbage", "not json"), Watch: w, Out: io.Discard}, "is not a monitor's state"},
		{"unknown field", monitor.Config{Client: tl.client(t), State: file("unknown", `{"next":0,"extra":1}`), Watch: w, Out: io.Discard}, "is not a monitor's state"},
		{"another log's checkpoint", monitor.Config{Client: tl.client(t), State: file("other", stateJSON(string(other.Log().Checkpoint()), 1)), Watch: w, Out: io.Discard}, "does not verify"},
		{"next beyond", monitor.Config{Client: tl.client(t), State: file("beyond", stateJSON(cp, 2)), Watch: w, Out: io.Discard}, "next index 2 beyond its checkpoint's tree size 1"},
		{"next without checkpoint", monitor.Config{Client: tl.client(t), State: file("nocp", `{"next":3}`), Watch: w, Out: io.Discard}, "no checkpoint"},
		{"client without key", monitor.Config{Client: noKey, State: file("ok", stateJSON(cp, 1)), Watch: w, Out: io.Discard}, "no log key"},
	} {
		_, err := monitor.New(testCtx(t), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := monitor.NewWebhook("ftp://x"); err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Errorf("NewWebhook(ftp://x): %v", err)
	}
}

// Logs of many bundles, read in parallel chunks: every match is reported
// once, in index order, whatever the parallelism, across passes that
// start and end inside bundles; a bundle the log fails to serve stops
// the pass right before it (lines in order, state there) and the next
// pass resumes from it.
func TestMonitorChunks(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	var want []uint64
	fill := func(from, to int) {
		var es [][]byte
		for i := from; i < to; i++ {
			if i%7 == 3 {
				es = append(es, decision(t, "kyc", "m", i))
				want = append(want, uint64(i))
			} else {
				es = append(es, []byte("raw "+strings.Repeat("x", i%50)+" "+string(rune('a'+i%26))+" "+time.Duration(i).String()))
			}
		}
		tl.add(es...)
	}
	fill(0, 1300)
	w := monitor.Watch{Systems: []string{"kyc"}}
	for _, parallel := range []int{1, 3, 0} {
		state := statePath(t)
		r := tl.pass(t, state, w, func(c *monitor.Config) { c.Parallel = parallel })
		if r.err != nil {
			t.Fatal(r.err)
		}
		sizeNow := tl.Log().Published().Size
		var upTo []uint64
		for _, i := range want {
			if i < sizeNow {
				upTo = append(upTo, i)
			}
		}
		if got := indices(r.lines); !slices.Equal(got, upTo) || r.sum.Entries != sizeNow {
			t.Fatalf("parallel %d: %d entries read, reported %v…; want %d entries and %d lines", parallel, r.sum.Entries, got[:min(len(got), 5)], sizeNow, len(upTo))
		}
		if parallel == 0 {
			fill(1300, 3000)
			// Bundle 7 fails: the pass stops right before it.
			fail := func(path string) bool { return path == "/tile/entries/007" }
			tl.fail.Store(&fail)
			r = tl.pass(t, state, w, nil)
			if r.err == nil || !monitor.Transient(r.err) || r.code != monitor.ExitCouldNotCheck {
				t.Fatalf("a bundle failing: %v, want a transient error", r.err)
			}
			var mid []uint64
			for _, i := range want {
				if i >= 1300 && i < 7*256 {
					mid = append(mid, i)
				}
			}
			if got := indices(r.lines); !slices.Equal(got, mid) {
				t.Fatalf("with bundle 7 failing: reported %v, want %v", got, mid)
			}
			if _, next := readState(t, state); next != 7*256 {
				t.Fatalf("state next %d, want %d", next, 7*256)
			}
			tl.fail.Store(nil)
			r = tl.pass(t, state, w, nil)
			var rest []uint64
			for _, i := range want {
				if i >= 7*256 {
					rest = append(rest, i)
				}
			}
			if got := indices(r.lines); r.err != nil || !slices.Equal(got, rest) {
				t.Fatalf("resumed: %v, reported %d lines; want %d from %d", r.err, len(got), len(rest), 7*256)
			}
		}
	}
}

// cancelWriter cancels a context at its first write.
type cancelWriter struct {
	lockedBuffer
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.cancel()
	return w.lockedBuffer.Write(p)
}

// A pass interrupted midway returns the context's error, and its state
// stops exactly after the last entry whose line was written: every match
// before it printed, none after; the next pass prints the rest.
func TestMonitorInterrupted(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	var es [][]byte
	for i := range 2000 {
		es = append(es, decision(t, "kyc", "m", i))
	}
	tl.add(es...)
	tl.delay.Store(int64(2 * time.Millisecond))
	state := statePath(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	out := &cancelWriter{cancel: cancel}
	m, err := monitor.New(ctx, monitor.Config{Client: tl.client(t), State: state, Watch: monitor.Watch{Systems: []string{"kyc"}}, Out: out, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Pass(ctx)
	if !errors.Is(err, context.Canceled) || monitor.ExitCode(s, err) != monitor.ExitCouldNotCheck {
		t.Fatalf("interrupted pass: %v, want context.Canceled", err)
	}
	_, next := readState(t, state)
	lines := indices(parseLines(t, out.String()))
	if next == 0 || next >= 2000 || uint64(len(lines)) != next || lines[len(lines)-1] != next-1 || s.Next != next {
		t.Fatalf("state next %d (summary %d), %d lines up to %v; want every entry before next reported", next, s.Next, len(lines), lines[len(lines)-1:])
	}
	tl.delay.Store(0)
	r := tl.pass(t, state, monitor.Watch{Systems: []string{"kyc"}}, nil)
	if ix := indices(r.lines); r.err != nil || len(ix) != 2000-int(next) || ix[0] != next {
		t.Fatalf("resumed: %v, %d lines (%v…); want %d from %d", r.err, len(ix), ix[:min(len(ix), 3)], 2000-next, next)
	}
}

// A dishonest log cannot pass off a release its publisher never signed:
// the monitor re-verifies every reported key-signed release from the
// envelope and key kept beside it, so an entry naming an allowed key but
// other subjects, or an envelope the log does not have, is unexpected.
func TestMonitorRechecksReleases(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	good := newPublisher(t)
	genuine := tl.attest(t, good, "acme/fraud-v3", "1")
	entry, err := tl.Log().ReadEntry(context.Background(), genuine)
	if err != nil {
		t.Fatal(err)
	}
	// Another model's digest under the genuine envelope and key (written
	// straight into the store, as only a dishonest log could).
	forged := bytes.Replace(entry, []byte(digestOf("acme/fraud-v3", "1")[len("sha256:"):]), []byte(digestOf("acme/fraud-v3", "666")[len("sha256:"):]), 1)
	if bytes.Equal(forged, entry) {
		t.Fatal("the test did not change the entry")
	}
	// An envelope the log does not keep.
	var m map[string]any
	if err := json.Unmarshal(entry, &m); err != nil {
		t.Fatal(err)
	}
	noEnvelope := bytes.Replace(entry, []byte(m["envelope_digest"].(string)), []byte(digestOf("no", "envelope")), 1)
	tl.add(forged, noEnvelope)

	got := tl.pass(t, statePath(t), monitor.Watch{Models: []string{"acme/fraud-v3"}, Allowed: allowedOf(t, good.fp)}, nil)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.code != monitor.ExitUnexpected || !slices.Equal(unexpected(got.lines), []uint64{genuine + 1, genuine + 2}) {
		t.Fatalf("exit %d, unexpected %v; want 1 and the two forged entries; output:\n%s", got.code, unexpected(got.lines), got.raw)
	}
	for _, r := range got.lines {
		switch r.Index {
		case genuine:
			if r.Signature != "verified" || r.Unexpected {
				t.Errorf("the genuine release: %+v", r)
			}
		case genuine + 1:
			if r.Signature != "does not verify" || !strings.Contains(r.Reason, "not the one its envelope and signer key make") {
				t.Errorf("the forged release: %+v", r)
			}
		case genuine + 2:
			if r.Signature != "does not verify" || !strings.Contains(r.Reason, "does not have the release's signed envelope") {
				t.Errorf("the release without its envelope: %+v", r)
			}
		}
	}
}
