package main

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlogai/tlog/signer"
)

// A key must back exactly one store: without --key, a key whose store is
// gone, or a store whose key is gone, is refused instead of starting a
// second tree under the same key (a fork) or a stray new key.
func TestKeyAndStoreMustGoTogether(t *testing.T) {
	quickRaceExit(t)
	dir := t.TempDir()
	first := filepath.Join(dir, "first")
	s := startServer(t, "first", first)
	s.mustAdd([]byte("an entry signed under the first key"))
	if code := s.stop(); code != 0 {
		t.Fatalf("stop exited %d", code)
	}

	// The key without its store.
	keyOnly := filepath.Join(dir, "key-only")
	copyTree(t, filepath.Join(first, "log.key"), filepath.Join(keyOnly, "log.key"))
	r := runTlog(t, "serve", "--data", keyOnly, "--listen", "127.0.0.1:0")
	expectFailure(t, "serve with a key whose store is gone", r, "already started a log")
	if nonEmptyDir(filepath.Join(keyOnly, storeDir)) {
		t.Error("serve created a new store under a used key")
	}

	// The store without its key.
	storeOnly := filepath.Join(dir, "store-only")
	copyTree(t, filepath.Join(first, storeDir), filepath.Join(storeOnly, storeDir))
	r = runTlog(t, "serve", "--data", storeOnly, "--listen", "127.0.0.1:0")
	expectFailure(t, "serve with a store whose key is gone", r, "is missing")
	if _, err := os.Stat(filepath.Join(storeOnly, "log.key")); err == nil {
		t.Error("serve made a new key for a store that has one")
	}

	// Both together still start.
	s = startServer(t, "first again", first)
	if got := s.mustCheckpoint(s.vkey).size; got != 1 {
		t.Fatalf("restarted log has size %d, want 1", got)
	}
}

// Sizes of 0 are refused with a clear message rather than read as defaults.
func TestServeRejectsZeroSizes(t *testing.T) {
	for _, flag := range []string{"--pool-size", "--batch-size", "--tile-cache"} {
		r := runTlog(t, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", flag, "0")
		expectFailure(t, "serve "+flag+" 0", r, flag+" must be at least 1")
	}
}

// A log that cannot be reached is not evidence of a fork: consistency
// exits 2 and says it could not check, never INCONSISTENT.
func TestConsistencyUnreachableIsNotAFork(t *testing.T) {
	l := startProofLog(t, "example.com/unreachable")
	l.add([]byte("one"))
	cp := l.file("kept.checkpoint", l.checkpoint().note)
	r := runTlog(t, "consistency", "--log", "http://"+closedAddr(t), "--key", l.pubFile, "--since", cp)
	if r.code != 2 || strings.Contains(r.stderr, "INCONSISTENT") || !strings.Contains(r.stderr, "couldn't check") {
		logResult(t, "consistency against a closed port", r)
		t.Fatalf("exit %d; want 2 and \"couldn't check\", not INCONSISTENT", r.code)
	}
}

// An entry with terminal control sequences is printed as base64, not
// written raw to the user's terminal.
func TestGetDoesNotPrintControlCharacters(t *testing.T) {
	l := startProofLog(t, "example.com/escapes")
	evil := []byte("\x1b]0;pwned\x07\x1b[2Jlooks harmless")
	l.add(evil)
	r := runTlog(t, "get", "--log", l.s.url(""), "--key", l.pubFile, "0")
	if r.code != 0 {
		logResult(t, "get", r)
		t.Fatalf("get exited %d", r.code)
	}
	if strings.ContainsRune(r.stdout, 0x1b) || !strings.Contains(r.stdout, base64.StdEncoding.EncodeToString(evil)) {
		t.Fatalf("get printed %q; want the entry in base64 and no escape character", r.stdout)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -r %s %s: %v %s", from, to, err, out)
	}
}

// A witness policy that does not list this log's key is refused at start:
// clients verifying with it could never accept the log's checkpoints.
func TestServeRefusesPolicyWithoutItsKey(t *testing.T) {
	dir := t.TempDir()
	keyFile, _, _ := runKeygen(t, dir, "example.com/policy-log", "log")
	_, otherPub, _ := runKeygen(t, dir, "example.com/other-log", "other")
	other, err := os.ReadFile(otherPub)
	if err != nil {
		t.Fatal(err)
	}
	_, wvkey, err := signer.GenerateWitnessKey(rand.Reader, "w.example")
	if err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "policy.txt")
	text := "log " + strings.TrimSpace(string(other)) + "\nwitness W " + wvkey + " http://127.0.0.1:1\nquorum W\n"
	if err := os.WriteFile(policy, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runTlog(t, "serve", "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--key", keyFile, "--witness-policy", policy)
	expectFailure(t, "serve with a policy lacking its key", r, "no \"log example.com/policy-log+")
}
