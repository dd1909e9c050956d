package witness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// stallHook is a Config.beforeCommit that, once armed, stops the first
// request reaching the write of its compare-and-swap until release is
// closed, and counts every call.
type stallHook struct {
	armed   atomic.Bool
	calls   atomic.Int64
	entered chan struct{} // receives when the stalled request is in the CAS
	release chan struct{}
	once    sync.Once
}

func newStallHook() *stallHook {
	return &stallHook{entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *stallHook) hook(origin string) {
	if !h.armed.Load() {
		return
	}
	if h.calls.Add(1) == 1 {
		h.entered <- struct{}{}
		<-h.release
	}
}

func (h *stallHook) unstall() { h.once.Do(func() { close(h.release) }) }

// waitBlockedOnLock waits until some goroutine is parked on a mutex inside
// (*Witness).add, the body of AddCheckpoint and of the HTTP handler's
// requests — the second request queued behind the first's
// compare-and-swap — and fails if done delivers first: the second request
// finished while the first was between its check and its write, which is
// the rollback race. Bounded by a deadline.
func waitBlockedOnLock[T any](t *testing.T, done <-chan T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for time.Now().Before(deadline) {
		select {
		case r := <-done:
			t.Fatalf("the second request completed (%v) while the first held the origin's compare-and-swap", r)
		default:
		}
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if blockedOnLockIn(g, "witness.(*Witness).add") {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatal("the second request never queued behind the first's compare-and-swap")
}

// blockedOnLockIn reports whether the goroutine dump g is parked on a
// sync.Mutex that fn itself locks (not one deeper down, as in Pebble's
// commit pipeline).
func blockedOnLockIn(g, fn string) bool {
	var funcs []string
	for _, l := range strings.Split(g, "\n") {
		if l != "" && !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "goroutine ") {
			funcs = append(funcs, l)
		}
	}
	for i := 0; i+1 < len(funcs); i++ {
		if strings.HasPrefix(funcs[i], "sync.(*Mutex).Lock") && strings.Contains(funcs[i+1], fn+"(") {
			return true
		}
	}
	return false
}

// TestRollbackRaceHTTP: request A (M → N) is stalled by beforeCommit
// between its checks and its write; request B (M → N+K, sent with the same
// stored size M) must wait for A's lock, then see A's write and get 409
// with size N; retried from N it succeeds. Nothing ever rolls back.
func TestRollbackRaceHTTP(t *testing.T) {
	for _, m := range []int{0, 4} {
		t.Run(map[int]string{0: "from nothing", 4: "from size 4"}[m], func(t *testing.T) {
			const n, k = 10, 6
			lk := newLogKey(t, testOrigin)
			wk := newWitnessKey(t, witnessName)
			x := newXLog(t, lk, n+k, "main")
			h := newStallHook()
			w := newTW(t, wk, []logKey{lk}, twOpts{beforeCommit: h.hook})
			// On failure, the stalled request is let go and waited for
			// before the witness closes.
			var wg sync.WaitGroup
			t.Cleanup(func() { h.unstall(); wg.Wait() })
			if m > 0 {
				if r := w.post(t, reqBody(0, nil, x.checkpoint(t, m))); r.code != 200 {
					t.Fatal(r)
				}
			}
			proof := func(old, size int) [][]byte {
				if old == 0 {
					return nil
				}
				return x.proof(t, old, size)
			}
			h.armed.Store(true)

			a, b := reqBody(m, proof(m, n), x.checkpoint(t, n)), reqBody(m, proof(m, n+k), x.checkpoint(t, n+k))
			aDone := make(chan reply, 1)
			wg.Go(func() { aDone <- w.send(a) })
			select {
			case <-h.entered: // A passed its checks and holds the origin's lock
			case r := <-aDone:
				t.Fatalf("A finished without reaching its write: %v", r)
			}

			bDone := make(chan reply, 1)
			wg.Go(func() { bDone <- w.send(b) })
			waitBlockedOnLock(t, bDone)
			if c := h.calls.Load(); c != 1 {
				t.Fatalf("B reached the write while A held the lock (%d beforeCommit calls)", c)
			}
			if size, _ := w.state(t, testOrigin); size != uint64(m) {
				t.Fatalf("stored size %d while A is stalled before its write, want %d", size, m)
			}

			h.unstall()
			if a := <-aDone; a.code != 200 {
				t.Fatalf("A: %v", a)
			}
			br := <-bDone
			if br.code != 409 || br.ctype != "text/x.tlog.size" || string(br.body) != "10\n" {
				t.Fatalf("B after A's write: %v, want 409 text/x.tlog.size \"10\\n\"", br)
			}
			if size, _ := w.state(t, testOrigin); size != n {
				t.Fatalf("stored size %d after A, want %d", size, n)
			}
			// B adopts the size from the 409 body and retries.
			old := int(mustParseUint(t, strings.TrimSuffix(string(br.body), "\n")))
			if r := w.post(t, reqBody(old, x.proof(t, old, n+k), x.checkpoint(t, n+k))); r.code != 200 {
				t.Fatalf("B retried from %d: %v", old, r)
			}
			// A replayed: stale, refused, nothing moves back.
			if r := w.post(t, reqBody(m, proof(m, n), x.checkpoint(t, n))); r.code != 409 || string(r.body) != "16\n" {
				t.Fatalf("A replayed: %v", r)
			}
			if size, root := w.state(t, testOrigin); size != n+k || root != x.root(t, n+k) {
				t.Fatalf("final state %d %x, want %d %x", size, root, n+k, x.root(t, n+k))
			}
		})
	}
}

// TestRollbackRaceDirect runs the race on the library: one request stalled
// in its compare-and-swap, the other attempted concurrently, in both
// orders. The stored size never goes backwards.
func TestRollbackRaceDirect(t *testing.T) {
	const m, n, k = 3, 9, 7
	for _, smallFirst := range []bool{true, false} {
		name := map[bool]string{true: "smaller stalled", false: "larger stalled"}[smallFirst]
		t.Run(name, func(t *testing.T) {
			lk := newLogKey(t, testOrigin)
			wk := newWitnessKey(t, witnessName)
			x := newXLog(t, lk, n+k, "main")
			h := newStallHook()
			w := newTW(t, wk, []logKey{lk}, twOpts{beforeCommit: h.hook})
			var wg sync.WaitGroup
			stop := make(chan struct{})
			var stopOnce sync.Once
			t.Cleanup(func() { h.unstall(); stopOnce.Do(func() { close(stop) }); wg.Wait() })
			ctx := context.Background()
			if _, err := w.w.AddCheckpoint(ctx, reqBody(0, nil, x.checkpoint(t, m))); err != nil {
				t.Fatal(err)
			}
			small := reqBody(m, x.proof(t, m, n), x.checkpoint(t, n))
			large := reqBody(m, x.proof(t, m, n+k), x.checkpoint(t, n+k))
			first, second, firstSize := small, large, uint64(n)
			if !smallFirst {
				first, second, firstSize = large, small, n+k
			}

			// A monitor reads the state until the end: it must never
			// decrease.
			monitorDone := make(chan error, 1)
			wg.Go(func() {
				var last uint64
				for {
					select {
					case <-stop:
						monitorDone <- nil
						return
					default:
					}
					s, _, err := w.w.State(testOrigin)
					if err != nil || s < last {
						monitorDone <- errors.Join(err, errors.New("stored size went backwards"))
						return
					}
					last = s
					runtime.Gosched()
				}
			})

			h.armed.Store(true)
			aDone, bDone := make(chan casResult, 1), make(chan casResult, 1)
			wg.Go(func() { l, err := w.w.AddCheckpoint(ctx, first); aDone <- casResult{l, err} })
			select {
			case <-h.entered:
			case r := <-aDone:
				t.Fatalf("the first request finished without reaching its write: %v", r)
			}
			wg.Go(func() { l, err := w.w.AddCheckpoint(ctx, second); bDone <- casResult{l, err} })
			waitBlockedOnLock(t, bDone)
			h.unstall()
			if a := <-aDone; a.err != nil {
				t.Fatalf("stalled request: %v", a.err)
			}
			b := <-bDone
			var ce *ConflictError
			if !errors.As(b.err, &ce) || ce.Size != firstSize || ce.Err != nil {
				t.Fatalf("concurrent request: %v, want a conflict at %d", b.err, firstSize)
			}
			if smallFirst {
				// The larger one retries from the size it was told.
				if _, err := w.w.AddCheckpoint(ctx, reqBody(int(ce.Size), x.proof(t, int(ce.Size), n+k), x.checkpoint(t, n+k))); err != nil {
					t.Fatal(err)
				}
			} else {
				// The smaller one is behind: from the size it was told,
				// old > its size.
				if _, err := w.w.AddCheckpoint(ctx, reqBody(int(ce.Size), nil, x.checkpoint(t, n))); !errors.Is(err, ErrOldTooLarge) {
					t.Fatalf("stale retry: %v, want ErrOldTooLarge", err)
				}
			}
			stopOnce.Do(func() { close(stop) })
			if err := <-monitorDone; err != nil {
				t.Fatal(err)
			}
			if size, root := w.state(t, testOrigin); size != n+k || root != x.root(t, n+k) {
				t.Fatalf("final state %d, want %d", size, n+k)
			}
		})
	}
}

type casResult struct {
	lines []byte
	err   error
}

func (r casResult) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("cosigned: %q", r.lines)
}

// TestCASChain: many goroutines push checkpoints of random sizes, each
// with the old size it last learned (so most are stale), retrying on 409.
// Every accepted request's old size must be the size accepted just before
// it (one chain from 0: no two requests won from the same state), and the
// stored size is the largest accepted.
func TestCASChain(t *testing.T) {
	const total, workers, attempts = 60, 8, 25
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	x := newXLog(t, lk, total, "main")
	w := newTW(t, wk, []logKey{lk}, twOpts{fs: vfs.NewMem()})
	ctx := context.Background()
	// Bodies are made up front: x/mod's tree is not for concurrent use.
	type key struct{ old, size int }
	bodies := map[key][]byte{}
	cps := make([][]byte, total+1)
	for size := 1; size <= total; size++ {
		cps[size] = x.checkpoint(t, size)
	}
	for size := 1; size <= total; size++ {
		for old := 0; old <= size; old++ {
			var proof [][]byte
			if old > 0 && old < size {
				proof = x.proof(t, old, size)
			}
			bodies[key{old, size}] = reqBody(old, proof, cps[size])
		}
	}

	var mu sync.Mutex
	var won []key
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			old := 0
			for range attempts {
				if old == total {
					return
				}
				size := old + r.IntN(8)
				if size > total {
					size = total
				}
				if size == 0 {
					size = 1
				}
				if old > size {
					continue
				}
				_, err := w.w.AddCheckpoint(ctx, bodies[key{old, size}])
				var ce *ConflictError
				switch {
				case err == nil:
					mu.Lock()
					won = append(won, key{old, size})
					mu.Unlock()
					old = size
				case errors.As(err, &ce) && ce.Err == nil:
					old = int(ce.Size)
				default:
					t.Errorf("push %d → %d: %v", old, size, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Order the accepted requests into the chain they must form.
	cur, max := 0, 0
	for len(won) > 0 {
		found := -1
		for i, k := range won {
			if k.old == cur && (found < 0 || k.size == cur) {
				found = i
			}
		}
		if found < 0 {
			t.Fatalf("accepted requests (old, size) %v do not chain from size %d: two requests won from the same state", won[:min(len(won), 20)], cur)
		}
		cur = won[found].size
		max = cur
		won = append(won[:found], won[found+1:]...)
	}
	if size, root := w.state(t, testOrigin); size != uint64(max) || root != x.root(t, max) {
		t.Fatalf("stored %d, want the last accepted %d", size, max)
	}
	t.Logf("chain ends at size %d", max)
}
