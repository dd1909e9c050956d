package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tlogai/tlog/internal/sigstoretest"
)

// The keyless walk-through end to end: tlog serve --trusted-root with a
// publisher policy by identity, tlog attest of a keyless bundle of the
// test Sigstore, tlog search --identity, and tlog verify --trusted-root
// --certificate-identity/--certificate-oidc-issuer (and their -regexp
// forms), which fails for another identity; without --trusted-root verify
// warns. A malformed trusted root stops tlog serve at start and is kept
// out on SIGHUP.
func TestKeyless(t *testing.T) {
	quickRaceExit(t)
	const id, issuer = "release-bot@acme.example", "https://accounts.acme.example"
	vs, err := sigstoretest.New()
	if err != nil {
		t.Fatal(err)
	}
	trJSON, err := vs.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := &aiLog{t: t, dir: dir, data: filepath.Join(dir, "data")}
	bad := l.file("bad_root.json", []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","certificateAuthorities":"no"}`))
	r := expectServeFails(t, "serve --trusted-root (malformed)", filepath.Join(dir, "bad-data"), "--trusted-root", bad)
	if !strings.Contains(r.stderr, "--trusted-root "+bad) || !strings.Contains(r.stderr, "not a Sigstore trusted root") {
		t.Errorf("serve --trusted-root of a malformed file: stderr %q", r.stderr)
	}
	trFile := l.file("trusted_root.json", trJSON)
	policy := l.file("publishers.policy", []byte("acme/ identity="+id+" issuer="+issuer+"\n"))
	l.s = startServer(t, "keyless log", l.data, "--origin", aiOrigin, "--trusted-root", trFile, "--publishers", policy)
	l.pub = filepath.Join(l.data, "log.pub")

	stmt, _ := statement("acme/keyless-7b", []byte("7b weights"), 0)
	sg, err := vs.Attest(id, issuer, stmt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sg.Bundle(sigstoretest.BundleOptions{Rekor: true, Timestamp: true})
	if err != nil {
		t.Fatal(err)
	}
	bundle := l.file("model.sigstore.json", b)
	proof := filepath.Join(dir, "model.tlog-proof")
	r = runTlog(t, "attest", "--log", l.url(), "--bundle", bundle, "--log-key", l.pub, "--out", proof)
	expectOK(t, "tlog attest keyless", r)
	if !strings.Contains(r.stdout, "identity: \""+id+"\"\nissuer: \""+issuer+"\"\ntime source: rekor\n") {
		t.Errorf("tlog attest keyless: stdout %q does not name the identity", r.stdout)
	}
	o := parseAttest(t, "attest", r)
	r = runTlog(t, "search", "--log", l.url(), "--identity", id)
	expectOK(t, "tlog search --identity", r)
	if strings.TrimSpace(r.stdout) != "0" {
		t.Errorf("tlog search --identity: %q, want 0", r.stdout)
	}

	verify := func(extra ...string) result {
		return runTlog(t, append([]string{"verify", "--key", l.pub, "--attestation", bundle, "--proof", proof}, extra...)...)
	}
	want := verifiedLine(o.index, o.size, aiOrigin) + "publisher signature: verified with " + o.signer + "\n" +
		`certificate: verified against the trusted root: identity "` + id + `", issuer "` + issuer + `", time source rekor` + "\nsubject: acme/keyless-7b\n"
	expectVerified(t, "verify --trusted-root --certificate-identity", verify("--trusted-root", trFile, "--certificate-identity", id, "--certificate-oidc-issuer", issuer), want)
	expectVerified(t, "verify -regexp", verify("--trusted-root", trFile, "--certificate-identity-regexp", `.*@acme\.example`, "--certificate-oidc-issuer-regexp", `https://accounts\..*`), want)
	r = verify("--trusted-root", trFile, "--certificate-identity", "someone@acme.example", "--certificate-oidc-issuer", issuer)
	if r.code != 1 || !strings.Contains(r.stderr, `identity is "`+id+`", not the one required`) {
		logResult(t, "verify with another identity", r)
		t.Errorf("verify with another identity: exit %d; want 1 naming the identity", r.code)
	}
	r = verify("--trusted-root", trFile, "--certificate-identity-regexp", `acme\.example`, "--certificate-oidc-issuer", issuer)
	if r.code != 1 {
		t.Errorf("verify with an unanchored-looking regexp: exit %d; want 1 (regexps match the whole identity)", r.code)
	}
	other, _ := sigstoretest.New()
	otherRoot, _ := other.TrustedRootJSON()
	r = verify("--trusted-root", l.file("other_root.json", otherRoot))
	if r.code != 1 || !strings.Contains(r.stderr, "certificate not accepted") {
		logResult(t, "verify against another trusted root", r)
		t.Errorf("verify against another trusted root: exit %d; want 1", r.code)
	}
	r = verify()
	if r.code != 0 || !strings.Contains(r.stdout, `entry identity: "`+id+`"`) || !strings.Contains(r.stderr, "give --trusted-root") {
		logResult(t, "verify without --trusted-root", r)
		t.Errorf("verify without --trusted-root: exit %d; want 0 with the entry's identity and a warning", r.code)
	}

	// Another identity is refused by the policy; a bad trusted root is
	// not loaded on SIGHUP, and the log still validates.
	sg2, _ := vs.Attest("intruder@evil.example", issuer, stmt)
	b2, _ := sg2.Bundle(sigstoretest.BundleOptions{Rekor: true})
	r = runTlog(t, "attest", "--log", l.url(), "--bundle", l.file("intruder.json", b2))
	expectFailure(t, "tlog attest by another identity", r, "403")
	if err := os.WriteFile(trFile, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(l.s.stderr.String(), "trusted root not reloaded") })
	r = runTlog(t, "attest", "--log", l.url(), "--bundle", bundle)
	expectOK(t, "tlog attest after a bad reload", r)
	if got := l.size(); got != 1 {
		t.Errorf("tree size %d, want 1", got)
	}
}
