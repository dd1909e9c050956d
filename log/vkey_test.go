package log

import (
	"path/filepath"
	"testing"
)

func TestStoredVerifierKey(t *testing.T) {
	s := testSigner(t)
	dir := filepath.Join(t.TempDir(), "store")
	cfg := Config{Dir: dir, Signer: s, Logger: testLogger(t)}

	if v, err := StoredVerifierKey(cfg); err == nil {
		t.Fatalf("StoredVerifierKey of a missing store = %q, want an error", v)
	}

	l := mustOpen(t, cfg)
	mustAdd(t, l, entry(0))
	// The log holds the store's lock: reading it now must not slip past
	// (another process gets ErrLocked; this one, Pebble's own refusal).
	if v, err := StoredVerifierKey(cfg); err == nil {
		t.Errorf("StoredVerifierKey of an open store = %q, want an error", v)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	v, err := StoredVerifierKey(Config{Dir: dir})
	if err != nil {
		t.Fatalf("StoredVerifierKey: %v", err)
	}
	if v != s.VerifierKey() {
		t.Errorf("StoredVerifierKey = %q, want the key the store was created with, %q", v, s.VerifierKey())
	}
	// It wrote nothing: the log reopens with its key and its entry.
	l = mustOpen(t, cfg)
	defer l.Close()
	if got := l.Published().Size; got != 1 {
		t.Errorf("after StoredVerifierKey the log has size %d, want 1", got)
	}
}
