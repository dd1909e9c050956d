package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlogai/tlog/internal/servingtest"
)

// postToken POSTs entry to /add with a bearer token ("" sends none).
func (s *server) postToken(base, token string, entry []byte) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/add", bytes.NewReader(entry))
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// newTokenLine runs tlog token new.
func newTokenLine(t *testing.T, args ...string) (line, token string) {
	t.Helper()
	r := runTlog(t, append([]string{"token", "new"}, args...)...)
	if r.code != 0 {
		logResult(t, "tlog token new", r)
		t.Fatal("tlog token new failed")
	}
	line = strings.TrimSpace(r.stdout)
	f := strings.Fields(line)
	if len(f) < 2 || len(f[1]) != 43 {
		t.Fatalf("tlog token new printed %q", line)
	}
	return line, f[1]
}

// TestWriteTokensServe: the binary end to end: a writers file that others
// may read is refused; writers need their token; SIGHUP revokes a removed
// writer, never kills the server, and a bad file keeps the old writers.
func TestWriteTokensServe(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ops, opsTok := newTokenLine(t, "--name", "ops")
	old, oldTok := newTokenLine(t, "--name", "old", "--kinds", "raw")
	if r := runTlog(t, "token", "new", "--name", "x", "--kinds", "raw", "--systems", "kyc"); r.code == 0 || !strings.Contains(r.stderr, `kind "raw" names none`) {
		logResult(t, "token new with a bad scope", r)
		t.Error("tlog token new printed a line the server would refuse")
	}
	tokens := filepath.Join(dir, "writers")
	if err := os.WriteFile(tokens, []byte("# test writers\n"+ops+"\n"+old+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := expectServeFails(t, "readable writers file", data, "--write-tokens", tokens)
	if !strings.Contains(r.stderr, "chmod 600 "+tokens) {
		t.Fatalf("readable writers file: stderr %q, want the chmod to run", r.stderr)
	}
	os.Chmod(tokens, 0o600)
	s := startServer(t, "tokens", data, "--write-tokens", tokens)
	base := "http://" + s.addr
	if code, body := s.postToken(base, "", []byte("anonymous")); code != 401 {
		t.Fatalf("no token: %d %s", code, body)
	}
	if code, body := s.postToken(base, oldTok, []byte("by old")); code != 200 {
		t.Fatalf("old's token: %d %s", code, body)
	}
	// Revoke old, reload.
	os.WriteFile(tokens, []byte(ops+"\n"), 0o600)
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(s.stderr.String(), "writers reloaded") })
	if code, body := s.postToken(base, oldTok, []byte("by old, revoked")); code != 401 {
		t.Fatalf("revoked token: %d %s", code, body)
	}
	// A bad file keeps what was loaded.
	os.WriteFile(tokens, []byte("ops short\n"), 0o600)
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(s.stderr.String(), "writers not reloaded") })
	if code, body := s.postToken(base, opsTok, []byte("by ops")); code != 200 {
		t.Fatalf("ops after a bad reload: %d %s", code, body)
	}
	if s.exitedEarly() {
		t.Fatal("SIGHUP killed tlog serve")
	}
	// One line per refused write, naming the writer's absence and the
	// client, never a token.
	refused := s.logRecord("write refused")
	if refused == nil || refused["status"] != "401" || refused["client"] != "127.0.0.1" || refused["route"] != "/add" {
		t.Fatalf("refused write log line: %v", refused)
	}
	if strings.Contains(s.stderr.String(), oldTok) || strings.Contains(s.stderr.String(), opsTok) {
		t.Fatal("a token appears in the server's log")
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	os.WriteFile(tokens, []byte(ops+"\n"), 0o600)
	if got := s.mustCheckpointAfterRestart(t, data, tokens); got != 2 {
		t.Fatalf("tree size %d after restart, want 2", got)
	}
}

func (s *server) mustCheckpointAfterRestart(t *testing.T, data, tokens string) uint64 {
	s2 := startServer(t, "restart", data, "--write-tokens", tokens)
	defer s2.stop()
	return uint64(s2.mustCheckpoint(s2.vkey).size)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPrivateFiles: a key others may read is refused with the chmod to
// run; everything the server creates is 0700 or 0600, even inside a 0755
// directory and under a permissive umask.
func TestPrivateFiles(t *testing.T) {
	dir := t.TempDir()
	r := runTlog(t, "keygen", "--origin", "example.com/private", "--out", filepath.Join(dir, "k"))
	if r.code != 0 {
		logResult(t, "keygen", r)
		t.Fatal("keygen failed")
	}
	os.Chmod(filepath.Join(dir, "k.key"), 0o640)
	r = expectServeFails(t, "readable key", filepath.Join(dir, "d1"), "--key", filepath.Join(dir, "k.key"))
	if !strings.Contains(r.stderr, "chmod 600") || !strings.Contains(r.stderr, "0640") {
		t.Fatalf("readable key: stderr %q", r.stderr)
	}

	data := filepath.Join(dir, "d2")
	os.Mkdir(data, 0o755)
	old := syscall.Umask(0)
	s := startServer(t, "files", data)
	syscall.Umask(old)
	s.mustAdd([]byte("an entry"))
	if s.stop() != 0 {
		t.Fatal("stop failed")
	}
	n := 0
	filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == data {
			return err
		}
		fi, _ := d.Info()
		perm := fi.Mode().Perm()
		if strings.HasSuffix(path, ".pub") {
			if perm != 0o644 {
				t.Errorf("%s: mode %04o, want 0644 (a public key)", path, perm)
			}
			return nil
		}
		n++
		if want := fs.FileMode(0o600); d.IsDir() && perm != 0o700 || !d.IsDir() && perm != want {
			t.Errorf("%s: mode %04o", path, perm)
		}
		return nil
	})
	if n < 5 {
		t.Fatalf("only %d files checked", n)
	}
}

// TestTLSAndClientCertWriters: HTTPS with TLS 1.2+, client certificates
// name writers, readers need none, and SIGHUP reloads the certificate.
func TestTLSAndClientCertWriters(t *testing.T) {
	dir := t.TempDir()
	ca := servingtest.NewCA(t, "tlog test CA")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sc, sk := ca.Issue(t, "log server", true)
	certFile, keyFile, caFile := write("server.crt", sc), write("server.key", sk), write("ca.crt", ca.PEM)
	_, opsTok := newTokenLine(t, "--name", "ops")
	scoped, _ := newTokenLine(t, "--name", "loan-bot", "--kinds", "decision")
	tokens := write("writers", []byte(scoped+"\n"+"ops "+opsTok+"\n"))

	s := startServer(t, "tls", filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", caFile, "--write-tokens", tokens)
	if rec := s.logRecord("listening"); rec["scheme"] != "https" {
		t.Fatalf("listening line %v, want scheme https", rec)
	}
	roots := ca.Pool()
	base := "https://" + s.addr
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	s.client = client()
	// Plain HTTP on the TLS port gets nothing useful.
	if resp, err := http.Get("http://" + s.addr + "/checkpoint"); err == nil {
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on the TLS port")
		}
		resp.Body.Close()
	}
	// TLS 1.1 is refused.
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(base + "/checkpoint"); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
	if resp, err := s.client.Get(base + "/checkpoint"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("read over TLS without a client certificate: %v %v", resp, err)
	}
	if code, body := s.postToken(base, "", []byte("no credentials")); code != 401 {
		t.Fatalf("write without credentials: %d %s", code, body)
	}
	if code, body := s.postToken(base, opsTok, []byte("token over TLS")); code != 200 {
		t.Fatalf("token over TLS: %d %s", code, body)
	}
	// A client certificate names the writer.
	s.client = client(ca.ClientPair(t, "release-pipeline"))
	if code, body := s.postToken(base, "", []byte("by certificate")); code != 200 {
		t.Fatalf("client certificate writer: %d %s", code, body)
	}
	// A certificate whose name has a writers line gets that line's scopes.
	s.client = client(ca.ClientPair(t, "loan-bot"))
	if code, body := s.postToken(base, "", []byte("raw by loan-bot")); code != 403 || !strings.Contains(body, `"loan-bot" may not log raw`) {
		t.Fatalf("scoped certificate writer: %d %s", code, body)
	}
	// A certificate from another CA never names a writer: under another
	// CA's name the client does not send it (and the write is anonymous);
	// under the same name it is refused in the handshake.
	s.client = client(servingtest.NewCA(t, "another CA").ClientPair(t, "ops"))
	if code, body := s.postToken(base, "", []byte("by a foreign certificate")); code != 401 {
		t.Fatalf("client certificate of an unknown CA: %d %s", code, body)
	}
	s.client = client(servingtest.NewCA(t, ca.Cert.Subject.CommonName).ClientPair(t, "ops"))
	if _, err := s.client.Get(base + "/checkpoint"); err == nil {
		t.Fatal("a client certificate of an unknown CA with the same name was accepted")
	}

	// Reload a new server certificate.
	sc2, sk2 := ca.Issue(t, "log server 2", true)
	write("server.crt", sc2)
	write("server.key", sk2)
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(s.stderr.String(), "TLS certificate reloaded") })
	var seen string
	c := client()
	c.Transport.(*http.Transport).TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
		seen = cs.PeerCertificates[0].Subject.CommonName
		return nil
	}
	if resp, err := c.Get(base + "/checkpoint"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if seen != "log server 2" {
		t.Fatalf("certificate after reload: %q", seen)
	}
	s.client = client()
	if got := s.mustCheckpointTLS(t, base); got != 2 {
		t.Fatalf("tree size %d, want 2", got)
	}
}

func (s *server) mustCheckpointTLS(t *testing.T, base string) int64 {
	resp, err := s.client.Get(base + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	c, err := openCheckpoint(b, s.vkey)
	if err != nil {
		t.Fatal(err)
	}
	return c.size
}
