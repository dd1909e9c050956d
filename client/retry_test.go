package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlogai/tlog/client"
)

// decisionBody is an NDJSON batch of n records.
func decisionBody(system string, n int) []byte {
	var b []byte
	for _, r := range records(system, 0, n) {
		b = append(append(b, r...), '\n')
	}
	return b
}

// The log's Retry-After is honoured: a retry never comes earlier.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t, nil)
	for _, tc := range []struct {
		name  string
		code  int
		fails int
	}{
		{"503", http.StatusServiceUnavailable, 2},
		{"429", http.StatusTooManyRequests, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
				if n <= tc.fails {
					apiError(w, tc.code, "1", "slow down")
					return
				}
				p.forward(w, r, body, nil)
			})
			c := tl.client(t, p.URL)
			var waits []time.Duration
			retry := client.RetryPolicy{OnRetry: func(err error, d time.Duration) { waits = append(waits, d) }}
			rs, err := c.PostDecisions(ctx, decisionBody("retry-"+tc.name, 3), 3, client.SubmitOptions{Retry: retry})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 3 {
				t.Fatalf("%d receipts", len(rs))
			}
			reqs := p.requests(http.MethodPost, decisionsPath)
			if len(reqs) != tc.fails+1 {
				t.Fatalf("%d requests, want %d", len(reqs), tc.fails+1)
			}
			for i := 1; i < len(reqs); i++ {
				if gap := reqs[i].At.Sub(reqs[i-1].At); gap < time.Second {
					t.Fatalf("attempt %d came %v after the previous one, before its Retry-After of 1s", i+1, gap)
				}
			}
			if len(waits) != tc.fails {
				t.Fatalf("OnRetry called %d times, want %d", len(waits), tc.fails)
			}
			for _, d := range waits {
				if d < time.Second || d > 1200*time.Millisecond+time.Millisecond {
					t.Fatalf("wait %v for Retry-After: 1, want 1s…1.2s", d)
				}
			}
		})
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t, nil)
	fast := client.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	body := decisionBody("retry-policy", 2)

	t.Run("400 is not retried", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
			apiError(w, http.StatusBadRequest, "", "no")
		})
		_, err := tl.client(t, p.URL).PostDecisions(testCtx(t), body, 2, client.SubmitOptions{Retry: fast})
		var se *client.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusBadRequest || se.Reason != "no" || se.Temporary() {
			t.Fatalf("error %v, want the 400", err)
		}
		if n := p.count("", ""); n != 1 {
			t.Fatalf("%d requests for a 400, want 1", n)
		}
	})

	t.Run("a refused line", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, tl.URL(), nil)
		bad := append(append([]byte{}, body...), []byte("{}\n")...)
		_, err := tl.client(t, p.URL).PostDecisions(testCtx(t), bad, 3, client.SubmitOptions{Retry: fast})
		var se *client.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusBadRequest || len(se.Lines) != 1 || se.Lines[0].Line != 3 {
			t.Fatalf("error %v, want a 400 naming line 3", err)
		}
		if n := p.count("", ""); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
	})

	t.Run("lost connections are retried", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
			if n <= 2 {
				hijackClose(w)
				return
			}
			p.forward(w, r, body, nil)
		})
		var retried []error
		retry := fast
		retry.OnRetry = func(err error, d time.Duration) { retried = append(retried, err) }
		rs, err := tl.client(t, p.URL).PostDecisions(testCtx(t), body, 2, client.SubmitOptions{Retry: retry})
		if err != nil || len(rs) != 2 {
			t.Fatalf("PostDecisions: %v", err)
		}
		if n := p.count("", ""); n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
		if len(retried) != 2 || !client.Retryable(retried[0]) {
			t.Fatalf("retried after %v", retried)
		}
		// Add rides them out too.
		p2 := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
			if n == 1 {
				hijackClose(w)
				return
			}
			p.forward(w, r, body, nil)
		})
		if _, err := tl.client(t, p2.URL).Add(testCtx(t), []byte("add after a lost connection"), fast); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("attempts", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
			apiError(w, http.StatusServiceUnavailable, "", "busy")
		})
		retry := fast
		retry.Attempts = 3
		_, err := tl.client(t, p.URL).PostDecisions(testCtx(t), body, 2, client.SubmitOptions{Retry: retry})
		var se *client.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
			t.Fatalf("error %v, want the last 503", err)
		}
		mustContain(t, err, "after 3 attempts")
		if n := p.count("", ""); n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
		// NoRetry: once.
		before := p.count("", "")
		if _, err := tl.client(t, p.URL).Add(testCtx(t), []byte("x"), client.NoRetry); err == nil {
			t.Fatal("Add through a 503 succeeded")
		}
		if n := p.count("", "") - before; n != 1 {
			t.Fatalf("NoRetry: %d requests", n)
		}
		// The default: DefaultAttempts.
		before = p.count("", "")
		_, err = tl.client(t, p.URL).PostDecisions(testCtx(t), body, 2, client.SubmitOptions{Retry: client.RetryPolicy{MinBackoff: time.Microsecond, MaxBackoff: time.Millisecond}})
		if n := p.count("", "") - before; err == nil || n != client.DefaultAttempts {
			t.Fatalf("zero Attempts: %d requests (%v), want %d", n, err, client.DefaultAttempts)
		}
	})

	t.Run("backoff grows", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
			apiError(w, http.StatusInternalServerError, "", "oops")
		})
		var waits []time.Duration
		retry := client.RetryPolicy{Attempts: 6, MinBackoff: 2 * time.Millisecond, MaxBackoff: 16 * time.Millisecond,
			OnRetry: func(err error, d time.Duration) { waits = append(waits, d) }}
		if _, err := tl.client(t, p.URL).PostDecisions(testCtx(t), body, 2, client.SubmitOptions{Retry: retry}); err == nil {
			t.Fatal("no error")
		}
		// Jittered in [b/2, b]: 2, 4, 8, 16, 16 ms.
		bounds := []time.Duration{2, 4, 8, 16, 16}
		if len(waits) != len(bounds) {
			t.Fatalf("waits %v", waits)
		}
		for i, d := range waits {
			b := bounds[i] * time.Millisecond
			if d < b/2 || d > b {
				t.Fatalf("wait %d is %v, want %v…%v (waits %v)", i+1, d, b/2, b, waits)
			}
		}
	})

	t.Run("context cancel stops", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
			apiError(w, http.StatusServiceUnavailable, "30", "come back later")
		})
		ctx, cancel := context.WithCancel(testCtx(t))
		var once sync.Once
		retry := client.RetryPolicy{Attempts: -1, OnRetry: func(err error, d time.Duration) {
			if d < 30*time.Second {
				t.Errorf("wait %v for Retry-After: 30", d)
			}
			once.Do(func() { go cancel() })
		}}
		start := time.Now()
		_, err := tl.client(t, p.URL).PostDecisions(ctx, body, 2, client.SubmitOptions{Retry: retry})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Fatalf("canceling took %v", el)
		}
		if n := p.count("", ""); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
		// A context already canceled: no retry either.
		if _, err := tl.client(t, p.URL).Add(ctx, []byte("x"), client.RetryPolicy{Attempts: -1}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Add with a canceled context: %v", err)
		}
	})

	// A request that times out (the http.Client's Timeout) got no answer:
	// it is retried like a lost connection.
	t.Run("client timeout is retried", func(t *testing.T) {
		t.Parallel()
		p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
			if n == 1 {
				<-r.Context().Done() // hang until the client gives up
				return
			}
			p.forward(w, r, body, nil)
		})
		c := tl.client(t, p.URL, client.WithHTTPClient(&http.Client{Timeout: 300 * time.Millisecond}))
		rs, err := c.PostDecisions(testCtx(t), body, 2, client.SubmitOptions{Retry: fast})
		if err != nil {
			t.Errorf("PostDecisions after a timed-out attempt: %v (requests %d); want it retried", err, p.count("", ""))
		} else if len(rs) != 2 {
			t.Fatalf("%d receipts", len(rs))
		}
	})
}

func TestRetryAfterParsing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{" 7 ", 7 * time.Second},
		{"120", 2 * time.Minute},
		{"-3", 0},
		{"1.5", 0},
		{"abc", 0},
		{"99999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(3 * time.Second).Format(time.RFC850), 3 * time.Second},
		{now.Add(4 * time.Second).Format(time.ANSIC), 4 * time.Second},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		if got := client.ParseRetryAfter(h, now); got != tc.want {
			t.Errorf("Retry-After %q: %v, want %v", tc.v, got, tc.want)
		}
	}

	// As an answer's header: an HTTP date, waited for without a sleep
	// (the wait is seen by OnRetry, and the context ended there).
	tl := newTestLog(t, nil)
	date := time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
	p := newProxy(t, tl.URL(), func(p *proxy, n int, w http.ResponseWriter, r *http.Request, body []byte) {
		apiError(w, http.StatusServiceUnavailable, date, "later")
	})
	c := tl.client(t, p.URL)
	_, err := c.PostDecisions(testCtx(t), decisionBody("date", 1), 1, client.SubmitOptions{Retry: client.NoRetry})
	var se *client.StatusError
	if !errors.As(err, &se) || se.RetryAfter <= time.Second || se.RetryAfter > 5*time.Second {
		t.Fatalf("error %v: RetryAfter %v, want 1s…5s from %q", err, se.RetryAfter, date)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	var wait atomic.Int64
	retry := client.RetryPolicy{OnRetry: func(err error, d time.Duration) { wait.Store(int64(d)); cancel() }}
	if _, err := c.PostDecisions(ctx, decisionBody("date", 1), 1, client.SubmitOptions{Retry: retry}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if d := time.Duration(wait.Load()); d <= time.Second || d > 6*time.Second {
		t.Fatalf("wait %v for Retry-After %q", d, date)
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&client.StatusError{Code: 503}, true},
		{&client.StatusError{Code: 500}, true},
		{&client.StatusError{Code: 502}, true},
		{&client.StatusError{Code: 429}, true},
		{&client.StatusError{Code: 400}, false},
		{&client.StatusError{Code: 403}, false},
		{&client.StatusError{Code: 404}, false},
		{&client.StatusError{Code: 413}, false},
		{fmt.Errorf("wrapped: %w", &client.StatusError{Code: 503}), true},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("wrapped: %w", context.Canceled), false},
		{errors.New("connection reset by peer"), true},
	} {
		if got := client.Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	e := &client.StatusError{Method: "POST", URL: "http://x/y", Code: 503, Reason: "busy"}
	if e.Error() != "POST http://x/y: 503 Service Unavailable: busy" {
		t.Errorf("StatusError: %q", e.Error())
	}
}
