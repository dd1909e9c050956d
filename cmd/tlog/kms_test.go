package main

// End-to-end tests of tlog serve --key-ref: a real server process whose
// key is held by a KMS plugin (internal/tools/kmsplugin, built by the test
// and put first on PATH), checked with golang.org/x/mod/sumdb/note and with
// tlog verify.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/internal/kmstest"
)

const kmsOrigin = "log.example.com/kms"

// newKMSKey writes a new Ed25519 key for the test plugin and returns its
// reference and the verifier key x/mod computes for it under kmsOrigin.
func newKMSKey(t *testing.T, dir, name string) (ref, vkey string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	kmstest.WriteKey(t, path, priv)
	vkey, err = note.NewEd25519VerifierKey(kmsOrigin, pub)
	if err != nil {
		t.Fatal(err)
	}
	return "testkms://" + path, vkey
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestServeKeyRef(t *testing.T) {
	kmstest.PrependPath(t, kmstest.BuildPlugin(t, "testkms"))
	dir := t.TempDir()
	ref, wantVKey := newKMSKey(t, dir, "log.pem")
	keyFile := strings.TrimPrefix(ref, "testkms://")

	// The public key before the log exists: keygen --key-ref.
	r := runTlog(t, "keygen", "--key-ref", ref, "--origin", kmsOrigin, "--out", filepath.Join(dir, "kms"))
	if r.code != 0 || strings.TrimSpace(r.stdout) != wantVKey {
		t.Fatalf("keygen --key-ref: exit %d, stdout %q, stderr %q; want the verifier key %q", r.code, r.stdout, r.stderr, wantVKey)
	}
	pubFile := filepath.Join(dir, "kms.pub")
	if got := readTrimmed(t, pubFile); got != wantVKey {
		t.Errorf("keygen --key-ref wrote %q to kms.pub, want %q", got, wantVKey)
	}
	if _, err := os.Stat(filepath.Join(dir, "kms.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("keygen --key-ref made a private key file (stat: %v)", err)
	}

	data := filepath.Join(dir, "data")
	s := startServer(t, "kms", data, "--key-ref", ref, "--origin", kmsOrigin)
	if s.vkey != wantVKey || s.origin != kmsOrigin {
		t.Errorf("server key %q, origin %q; want %q, %q", s.vkey, s.origin, wantVKey, kmsOrigin)
	}
	if got := readTrimmed(t, filepath.Join(data, "log.pub")); got != wantVKey {
		t.Errorf("DIR/log.pub = %q, want %q", got, wantVKey)
	}
	if !strings.Contains(s.stdout.String(), wantVKey) {
		t.Errorf("serve did not print the log's public key; stdout:\n%s", s.stdout.String())
	}

	entry := []byte("model acme/fraud-v3 released")
	if i := s.mustAdd(entry); i != 0 {
		t.Fatalf("first entry got index %d", i)
	}
	if c := s.mustCheckpoint(wantVKey); c.origin != kmsOrigin || c.size != 1 {
		t.Errorf("checkpoint %q size %d, want %q size 1", c.origin, c.size, kmsOrigin)
	}
	entryFile := filepath.Join(dir, "release.txt")
	if err := os.WriteFile(entryFile, entry, 0o644); err != nil {
		t.Fatal(err)
	}
	proof := filepath.Join(dir, "release.tlog-proof")
	if r := runTlog(t, "prove", "--log", s.url(""), "--leaf", entryFile, "--key", pubFile, "--out", proof); r.code != 0 {
		t.Fatalf("tlog prove: exit %d: %s", r.code, r.stderr)
	}
	for _, key := range []string{pubFile, filepath.Join(data, "log.pub")} {
		r := runTlog(t, "verify", "--key", key, "--entry", entryFile, "--proof", proof)
		if want := "verified: index 0 in tree of size 1 signed by " + kmsOrigin; r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("tlog verify --key %s: exit %d, stdout %q, stderr %q; want %q", key, r.code, r.stdout, r.stderr, want)
		}
	}

	// The KMS starts signing wrongly: the batch is refused, nothing that
	// does not verify is published, and the log recovers with the KMS.
	kmstest.SetFault(t, keyFile, "badsig")
	second := []byte("model acme/fraud-v4 released")
	if i, err := s.add(t.Context(), second); !errors.Is(err, errNotAcked) {
		t.Errorf("POST /add with the KMS signing wrongly = %d, %v; want a refusal", i, err)
	}
	if c := s.mustCheckpoint(wantVKey); c.size != 1 {
		t.Errorf("checkpoint size %d after the refused batch, want 1", c.size)
	}
	if !strings.Contains(s.stderr.String(), "does not verify with the KMS key's public key") {
		t.Errorf("serve did not log why the batch failed; stderr:\n%s", s.stderr.String())
	}
	kmstest.SetFault(t, keyFile, "")
	if i := s.mustAdd(second); i != 1 {
		t.Errorf("entry after the KMS recovered got index %d, want 1", i)
	}
	if c := s.mustCheckpoint(wantVKey); c.size != 2 {
		t.Errorf("checkpoint size %d, want 2", c.size)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d on SIGTERM", code)
	}

	// A restart needs no --origin: the store knows its key's name.
	s = startServer(t, "kms-restart", data, "--key-ref", ref)
	if s.vkey != wantVKey {
		t.Errorf("restarted server key %q, want %q", s.vkey, wantVKey)
	}
	if c := s.mustCheckpoint(wantVKey); c.size != 2 {
		t.Errorf("restarted checkpoint size %d, want 2", c.size)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d on SIGTERM", code)
	}

	// Another KMS key, or another name, over the same store: refused.
	otherRef, _ := newKMSKey(t, dir, "other.pem")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--key-ref", otherRef}, "refusing to sign this log with another key"},
		{[]string{"--key-ref", ref, "--origin", "log.example.com/other"}, "differs from"},
	} {
		s, err := tryStartServer(t, "kms-wrong", data, tc.args...)
		if err == nil {
			t.Errorf("serve %v started", tc.args)
			continue
		}
		s.waitExit(exitTimeout)
		if code := s.state.ExitCode(); code == 0 || !strings.Contains(s.stderr.String(), tc.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want an error saying %q", tc.args, code, s.stderr.String(), tc.want)
		}
	}
	if got := readTrimmed(t, filepath.Join(data, "log.pub")); got != wantVKey {
		t.Errorf("after the refusals DIR/log.pub = %q, want %q", got, wantVKey)
	}
}

// TestServeKeyRefRefusals: every way --key-ref can be wrong stops serve
// before it listens, says why, and leaves no store (nothing was signed).
func TestServeKeyRefRefusals(t *testing.T) {
	kmstest.PrependPath(t, kmstest.BuildPlugin(t, "testkms"))
	dir := t.TempDir()
	ref, _ := newKMSKey(t, dir, "log.pem")
	fault := func(name, f string) string {
		r, _ := newKMSKey(t, dir, name)
		kmstest.SetFault(t, strings.TrimPrefix(r, "testkms://"), f)
		return r
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPath := filepath.Join(dir, "ec.pem")
	kmstest.WriteKey(t, ecPath, ecKey)

	cases := []struct {
		desc string
		args []string
		want []string
	}{
		{"--key and --key-ref", []string{"--key", filepath.Join(dir, "file.key"), "--key-ref", ref, "--origin", kmsOrigin}, []string{"mutually exclusive"}},
		{"no --origin for a new log", []string{"--key-ref", ref}, []string{"needs --origin"}},
		{"wrong signature", []string{"--key-ref", fault("badsig.pem", "badsig"), "--origin", kmsOrigin}, []string{"failed its test signature", "does not verify"}},
		{"plugin exits non-zero", []string{"--key-ref", fault("exit.pem", "exit"), "--origin", kmsOrigin}, []string{"sigstore-kms-testkms gave no answer", "simulated crash"}},
		{"plugin answers an error", []string{"--key-ref", fault("error.pem", "error"), "--origin", kmsOrigin}, []string{"sigstore-kms-testkms refused", "key disabled"}},
		{"plugin missing", []string{"--key-ref", "nokms://key-1", "--origin", kmsOrigin}, []string{"no KMS plugin sigstore-kms-nokms is on PATH"}},
		{"AWS KMS", []string{"--key-ref", "awskms:///arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "--origin", kmsOrigin},
			[]string{"sigstore-kms-awskms", "ECC_NIST_EDWARDS25519", "hashivault://"}},
		{"ECDSA key", []string{"--key-ref", "testkms://" + ecPath, "--origin", kmsOrigin}, []string{"ECDSA P-256", "Ed25519"}},
		{"not a reference", []string{"--key-ref", filepath.Join(dir, "log.pem"), "--origin", kmsOrigin}, []string{"not a KMS key reference"}},
	}
	for i, tc := range cases {
		data := filepath.Join(dir, "data", strings.ReplaceAll(tc.desc, " ", "-"))
		s, err := tryStartServer(t, tc.desc, data, tc.args...)
		if err == nil {
			t.Errorf("%s: serve %v started", tc.desc, tc.args)
			continue
		}
		s.quiet = true
		s.waitExit(exitTimeout)
		stderr := s.stderr.String()
		if code := s.state.ExitCode(); code == 0 {
			t.Errorf("case %d, %s: serve exited 0", i, tc.desc)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q does not say %q", tc.desc, stderr, w)
			}
		}
		if strings.Contains(stderr, "no such file") {
			t.Errorf("%s: stderr %q speaks of a missing file", tc.desc, stderr)
		}
		if nonEmptyDir(filepath.Join(data, storeDir)) {
			t.Errorf("%s: a store was created", tc.desc)
		}
		if _, err := os.Stat(filepath.Join(data, pubFileName)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: DIR/log.pub was written (stat: %v)", tc.desc, err)
		}
	}

	// keygen --key-ref refuses what serve refuses.
	if r := runTlog(t, "keygen", "--key-ref", "testkms://"+ecPath, "--origin", kmsOrigin); r.code == 0 || !strings.Contains(r.stderr, "ECDSA P-256") {
		t.Errorf("keygen --key-ref of an ECDSA key: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runTlog(t, "keygen", "--key-ref", ref); r.code == 0 || !strings.Contains(r.stderr, "--origin") {
		t.Errorf("keygen --key-ref without --origin: exit %d, stderr %q", r.code, r.stderr)
	}
}
