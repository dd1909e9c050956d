package log

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/tlogai/tlog/internal/faultfs"
	"github.com/tlogai/tlog/signer"
)

// flakySigner is a sigstore signer that fails while broken is set, like a
// KMS that is briefly unreachable.
type flakySigner struct {
	signature.SignerVerifier
	broken atomic.Bool
}

func (f *flakySigner) SignMessage(m io.Reader, opts ...signature.SignOption) ([]byte, error) {
	if f.broken.Load() {
		return nil, errors.New("signing backend unreachable")
	}
	return f.SignerVerifier.SignMessage(m, opts...)
}

func (f *flakySigner) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return f.SignerVerifier.PublicKey(opts...)
}

// A batch whose checkpoint cannot be signed fails its entries with
// ErrBatchFailed, logs nothing, and the log goes on once signing works.
func TestSigningFailureFailsOnlyTheBatch(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadED25519SignerVerifier(priv)
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakySigner{SignerVerifier: sv}
	s, err := signer.FromSigstore("example.com/flaky", flaky)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: "/log", FS: vfs.NewMem(), Signer: s, Logger: testLogger(t)}
	l := mustOpen(t, cfg)
	defer l.Close()
	mustAdd(t, l, entry(0))
	before := l.Checkpoint()

	flaky.broken.Store(true)
	if _, err := l.Add(entry(1)).Wait(context.Background()); !errors.Is(err, ErrBatchFailed) {
		t.Fatalf("add while signing fails: %v, want ErrBatchFailed", err)
	}
	if string(l.Checkpoint()) != string(before) {
		t.Fatal("the checkpoint changed although nothing was committed")
	}
	if err := l.Healthy(); err != nil {
		t.Fatalf("the log stopped after a signing failure: %v", err)
	}
	flaky.broken.Store(false)
	// The refused entry was not logged: it now gets index 1, not a
	// duplicate's.
	if r := mustAdd(t, l, entry(1)); r.Index != 1 || r.Duplicate {
		t.Fatalf("entry after recovery: %+v", r)
	}
}

// When a commit stalls beyond CommitTimeout, waiting adds get ErrTimeout
// instead of hanging; once the disk recovers, the entries are in the log
// and a retry returns their index.
func TestStalledCommitTimesOut(t *testing.T) {
	fs := faultfs.New(vfs.NewMem())
	cfg := Config{Dir: "/log", FS: fs, Signer: testSigner(t), Logger: testLogger(t), CommitTimeout: 50 * time.Millisecond}
	l := mustOpen(t, cfg)
	defer l.Close()

	fs.Stall()
	start := time.Now()
	f := l.Add(entry(0))
	if _, err := f.Wait(context.Background()); !errors.Is(err, ErrTimeout) {
		t.Fatalf("add during a stall: %v, want ErrTimeout", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("gave up after %s", waited)
	}
	fs.Resume()
	waitRecovered(t, l, 1)
	if r := mustAdd(t, l, entry(0)); r.Index != 0 || !r.Duplicate {
		t.Fatalf("retry after the stall: %+v, want index 0 as a duplicate", r)
	}
	// Re-armed: a healthy add goes through.
	if r := mustAdd(t, l, entry(1)); r.Index != 1 {
		t.Fatalf("add after recovery: %+v", r)
	}
}

// Reads after Close fail cleanly instead of touching a closed store.
func TestReadsAfterClose(t *testing.T) {
	l := mustOpen(t, memConfig(t, testSigner(t)))
	mustAdd(t, l, entry(0))
	l.Close()
	ctx := context.Background()
	if _, err := l.ReadEntry(ctx, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadEntry: %v", err)
	}
	if _, err := l.ReadHashes(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadHashes: %v", err)
	}
	if _, err := l.CheckpointAt(0); !errors.Is(err, ErrClosed) {
		t.Errorf("CheckpointAt: %v", err)
	}
	if _, err := l.LeafIndex(entryHash(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("LeafIndex: %v", err)
	}
}

// waitRecovered waits until the published tree has size entries and the
// stall guard is re-armed.
func waitRecovered(t *testing.T, l *Log, size uint64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		select {
		case <-l.stall.channel():
			continue // still tripped
		default:
		}
		if l.Published().Size == size {
			return
		}
	}
	t.Fatal("the stalled batch did not complete after the disk recovered")
}
