package main

// Tests of the witness command alone, run as a child process: keygen's
// files, serve's refusal of bad logs files, and SIGHUP reloads. The logs
// the witness follows are simulated by checkpoints signed here with
// golang.org/x/mod/sumdb/note; the witness's cosignatures are checked with
// the same package.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/internal/servingtest"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/witness"
)

// witnessBinary is the binary under test, built by TestMain.
var witnessBinary string

// Failure bounds (the tests poll; they only give up after these).
const (
	cliStartTimeout = 15 * time.Second // exec to the "listening" line
	cliExitTimeout  = 10 * time.Second // a command that must end, or a signal to the exit
	cliHTTPTimeout  = 10 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(buildWitnessAndRun(m))
}

func buildWitnessAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "witness-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	witnessBinary = filepath.Join(dir, "witness")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	if out, err := exec.Command(goBin, "build", "-o", witnessBinary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "couldn't build witness: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

type cliResult struct {
	code           int
	stdout, stderr string
}

// runWitness runs a witness command that must end within cliExitTimeout.
func runWitness(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliExitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, witnessBinary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("witness %s did not exit within %v; stderr:\n%s", strings.Join(args, " "), cliExitTimeout, &stderr)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("witness %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// syncBuffer is a bytes.Buffer for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// serveProc is a running "witness serve".
type serveProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	addr   string
	client *http.Client
}

// startServe runs "witness serve args..." and waits for its listening line.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{t: t, cmd: exec.Command(witnessBinary, append([]string{"serve"}, args...)...), stderr: new(syncBuffer), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		if t.Failed() {
			t.Logf("witness serve stderr:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(cliStartTimeout)
	for p.addr == "" {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if !strings.Contains(line, " msg=listening ") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if a, ok := strings.CutPrefix(f, "addr="); ok {
					p.addr = a
				}
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("witness serve exited before listening:\n%s", p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("witness serve did not listen within %v:\n%s", cliStartTimeout, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.HasPrefix(p.addr, "127.0.0.1:") {
		t.Fatalf("witness serve listens on %q, want 127.0.0.1", p.addr)
	}
	p.client = &http.Client{Timeout: cliHTTPTimeout}
	return p
}

// waitLog polls stderr until it holds n lines containing s.
func (p *serveProc) waitLog(s string, n int) {
	p.t.Helper()
	deadline := time.Now().Add(cliExitTimeout)
	for strings.Count(p.stderr.String(), s) < n {
		if time.Now().After(deadline) {
			p.t.Fatalf("witness serve did not log %q (%d times) within %v:\n%s", s, n, cliExitTimeout, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *serveProc) get(path string) (int, string) {
	p.t.Helper()
	resp, err := p.client.Get("http://" + p.addr + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *serveProc) post(req witness.Request) (int, string) {
	p.t.Helper()
	resp, err := p.client.Post("http://"+p.addr+"/add-checkpoint", "text/plain", bytes.NewReader(req.Format()))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// testLog is a simulated log: an x/mod note key and a checkpoint of size 1
// over an arbitrary root (a witness takes any root with old size 0).
type testLog struct {
	origin, vkey string
	signer       note.Signer
	verifier     note.Verifier
	text         string
	note         []byte
}

func newTestLog(t *testing.T, origin string) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{origin: origin, vkey: vkey}
	if l.signer, err = note.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	if l.verifier, err = note.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	root := sha256.Sum256([]byte("root of " + origin))
	l.text = fmt.Sprintf("%s\n1\n%s\n", origin, base64.StdEncoding.EncodeToString(root[:]))
	if l.note, err = note.Sign(&note.Note{Text: l.text}, l.signer); err != nil {
		t.Fatal(err)
	}
	return l
}

// checkCosigned checks a 200 body: cosignature lines that, appended to the
// log's note, verify with x/mod's note.Open under the log's key and the
// witness's cosignature verifier (from its .pub file).
func checkCosigned(t *testing.T, l *testLog, body string, w *signer.CosignatureVerifier) {
	t.Helper()
	n, err := note.Open(append(bytes.Clone(l.note), body...), note.VerifierList(l.verifier, w))
	if err != nil {
		t.Fatalf("cosignature %q of %s does not verify: %v", body, l.origin, err)
	}
	if len(n.Sigs) != 2 || n.Sigs[1].Name != w.Name() {
		t.Fatalf("cosigned note of %s carries %d signatures, want the log's and %s's", l.origin, len(n.Sigs), w.Name())
	}
}

func originHashPath(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return "/" + hex.EncodeToString(h[:]) + "/checkpoint"
}

func TestWitnessCLI(t *testing.T) {
	dir := t.TempDir()
	const name = "witness.example/cli"
	prefix := filepath.Join(dir, "w")
	var vkey string

	t.Run("keygen", func(t *testing.T) {
		r := runWitness(t, "keygen", "--name", name, "--out", prefix)
		if r.code != 0 {
			t.Fatalf("witness keygen: exit %d\n%s", r.code, r.stderr)
		}
		st, err := os.Stat(prefix + ".key")
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", prefix+".key", st.Mode().Perm())
		}
		pubB, err := os.ReadFile(prefix + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		keyB, err := os.ReadFile(prefix + ".key")
		if err != nil {
			t.Fatal(err)
		}
		vkey = strings.TrimSpace(string(pubB))
		if strings.TrimSpace(r.stdout) != vkey {
			t.Errorf("keygen printed %q, the .pub file holds %q", r.stdout, vkey)
		}
		v, err := signer.NewCosignatureVerifier(vkey)
		if err != nil {
			t.Fatalf("signer.NewCosignatureVerifier(%q): %v", vkey, err)
		}
		if v.Name() != name {
			t.Errorf("the verifier key is named %q, want %q", v.Name(), name)
		}
		// By hand: <name>+<id>+<base64(0x04 || pub)>, id = SHA-256(name, 0x0A, 0x04, pub)[:4].
		f := strings.SplitN(vkey, "+", 3)
		pub, err := base64.StdEncoding.DecodeString(f[2])
		if len(f) != 3 || f[0] != name || err != nil || len(pub) != 33 || pub[0] != 0x04 {
			t.Fatalf(".pub %q is not <name>+<id>+<base64(0x04 || 32-byte key)>", vkey)
		}
		h := sha256.Sum256(append([]byte(name+"\n"), pub...))
		if f[1] != fmt.Sprintf("%08x", binary.BigEndian.Uint32(h[:4])) {
			t.Errorf(".pub key ID %s, want %x", f[1], h[:4])
		}
		k := strings.SplitN(strings.TrimSpace(string(keyB)), "+", 5)
		seed, err := base64.StdEncoding.DecodeString(k[len(k)-1])
		if len(k) != 5 || k[0] != "PRIVATE" || k[1] != "KEY" || k[2] != name || k[3] != f[1] || err != nil || len(seed) != 33 || seed[0] != 0x04 {
			t.Fatalf(".key is not PRIVATE+KEY+<name>+<id>+<base64(0x04 || seed)>")
		}
		if got := ed25519.NewKeyFromSeed(seed[1:]).Public().(ed25519.PublicKey); !bytes.Equal(got, pub[1:]) {
			t.Errorf("the .key seed gives public key %x, the .pub holds %x", got, pub[1:])
		}

		// Never overwrites.
		r = runWitness(t, "keygen", "--name", "witness.example/other", "--out", prefix)
		if r.code == 0 || !strings.Contains(r.stderr, "already exists") {
			t.Errorf("keygen over existing files: exit %d, stderr %q; want a refusal saying it already exists", r.code, r.stderr)
		}
		keyAfter, _ := os.ReadFile(prefix + ".key")
		pubAfter, _ := os.ReadFile(prefix + ".pub")
		if !bytes.Equal(keyAfter, keyB) || !bytes.Equal(pubAfter, pubB) {
			t.Errorf("keygen changed the existing key files")
		}
		for _, args := range [][]string{{"keygen", "--out", filepath.Join(dir, "noname")}, {"keygen", "--name", "bad+name", "--out", filepath.Join(dir, "plus")}} {
			if r := runWitness(t, args...); r.code == 0 || strings.TrimSpace(r.stderr) == "" {
				t.Errorf("witness %s: exit %d, stderr %q; want a failure with a reason", strings.Join(args, " "), r.code, r.stderr)
			}
		}
	})
	if vkey == "" {
		t.Fatal("no witness key")
	}
	wv, err := signer.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	logA := newTestLog(t, "example.com/log-a")
	logB := newTestLog(t, "example.com/log-b")
	logA2 := newTestLog(t, "example.com/log-a") // another key for A's origin

	t.Run("bad logs file", func(t *testing.T) {
		for _, tc := range []struct{ name, content, want string }{
			{"not a log line", "witness W1 " + vkey + "\n", ":1: want: log <vkey> [<url>]"},
			{"too many fields", "log " + logA.vkey + " http://a http://b\n", ":1: want: log <vkey> [<url>]"},
			{"bad key", "# comment\n\nlog not-a-key\n", ":3:"},
			{"a cosignature key", "log " + vkey + "\n", ":1:"},
			{"two keys for one origin", "log " + logA.vkey + "\nlog " + logA2.vkey + "\n", ":2: a second key for origin"},
			{"missing file", "", "no such file"},
		} {
			logs := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".txt")
			if tc.content != "" {
				if err := os.WriteFile(logs, []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := runWitness(t, "serve", "--data", filepath.Join(dir, "bad-data"), "--listen", "127.0.0.1:0", "--key", prefix+".key", "--logs", logs)
			if r.code == 0 || !strings.Contains(r.stderr, logs) || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "msg=listening") {
				t.Errorf("%s: exit %d, stderr %q; want a failure before listening that names %s and says %q", tc.name, r.code, r.stderr, logs, tc.want)
			}
		}
		r := runWitness(t, "serve", "--data", filepath.Join(dir, "bad-data"), "--listen", "127.0.0.1:0", "--key", prefix+".key")
		if r.code == 0 || !strings.Contains(r.stderr, "--logs") {
			t.Errorf("serve without --logs: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("refuses a key others may read", func(t *testing.T) {
		logs := filepath.Join(dir, "logs-key-mode.txt")
		if err := os.WriteFile(logs, []byte("log "+logA.vkey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		keyB, err := os.ReadFile(prefix + ".key")
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
			key := filepath.Join(dir, fmt.Sprintf("open-%04o.key", mode))
			if err := os.WriteFile(key, keyB, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(key, mode); err != nil { // not subject to the umask
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"serve", "--data", filepath.Join(dir, "key-mode-data"), "--listen", "127.0.0.1:0", "--key", key, "--logs", logs},
				{"watch", "--once", "--data", filepath.Join(dir, "key-mode-watch"), "--log", "http://127.0.0.1:1", "--log-key", filepath.Join(dir, "a.pub"), "--key", key},
			} {
				if args[0] == "watch" {
					if err := os.WriteFile(filepath.Join(dir, "a.pub"), []byte(logA.vkey+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				r := runWitness(t, args...)
				if r.code == 0 || !strings.Contains(r.stderr, key) || !strings.Contains(r.stderr, "chmod 600 "+key) || strings.Contains(r.stderr, "msg=listening") {
					t.Errorf("%s with a key of mode %04o: exit %d, stderr %q; want a refusal naming the file and the chmod that fixes it", args[0], mode, r.code, r.stderr)
				}
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "key-mode-data", "store")); err == nil {
			t.Error("serve created its store before refusing the key")
		}
	})

	t.Run("rate limit flags", func(t *testing.T) {
		logs := filepath.Join(dir, "logs-rate.txt")
		if err := os.WriteFile(logs, []byte("log "+logA.vkey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, bad := range [][]string{{"--rate-limit", "-1"}, {"--rate-burst", "0"}} {
			r := runWitness(t, append([]string{"serve", "--data", filepath.Join(dir, "rate-bad"), "--listen", "127.0.0.1:0", "--key", prefix + ".key", "--logs", logs}, bad...)...)
			if r.code == 0 || !strings.Contains(r.stderr, bad[0]) {
				t.Errorf("serve %s: exit %d, stderr %q; want a refusal naming the flag", strings.Join(bad, " "), r.code, r.stderr)
			}
		}
		p := startServe(t, "--data", filepath.Join(dir, "rate-data"), "--listen", "127.0.0.1:0", "--key", prefix+".key", "--logs", logs,
			"--rate-limit", "0.01", "--rate-burst", "2")
		for i, want := range []int{200, 200, 429} {
			resp, err := p.client.Post("http://"+p.addr+"/add-checkpoint", "text/plain", bytes.NewReader(witness.Request{OldSize: uint64(min(i, 1)), Checkpoint: logA.note}.Format()))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("request %d: %d, want %d", i+1, resp.StatusCode, want)
			}
			if want == 429 && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
		// HEAD is answered on the read routes.
		req, _ := http.NewRequest(http.MethodHead, "http://"+p.addr+"/healthz", nil)
		resp, err := p.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("HEAD /healthz: %d, want 200", resp.StatusCode)
		}
	})

	t.Run("TLS", func(t *testing.T) {
		logs := filepath.Join(dir, "tls-logs.txt")
		if err := os.WriteFile(logs, []byte("log "+logA.vkey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		ca := servingtest.NewCA(t, "witness test CA")
		certPEM, keyPEM := ca.Issue(t, "witness", true)
		cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		os.WriteFile(cert, certPEM, 0o644)
		os.WriteFile(key, keyPEM, 0o644)
		if r := runWitness(t, "serve", "--data", filepath.Join(dir, "tls-bad"), "--listen", "127.0.0.1:0", "--key", prefix+".key", "--logs", logs, "--tls-cert", cert, "--tls-key", key); r.code == 0 || !strings.Contains(r.stderr, "chmod 600 "+key) {
			t.Fatalf("serve with a readable TLS key: exit %d, stderr %q", r.code, r.stderr)
		}
		os.Chmod(key, 0o600)
		p := startServe(t, "--data", filepath.Join(dir, "tls-data"), "--listen", "127.0.0.1:0", "--key", prefix+".key", "--logs", logs, "--tls-cert", cert, "--tls-key", key)
		p.client = &http.Client{Timeout: cliHTTPTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
		resp, err := p.client.Post("https://"+p.addr+"/add-checkpoint", "text/plain", bytes.NewReader(witness.Request{Checkpoint: logA.note}.Format()))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("add-checkpoint over TLS: %d %s", resp.StatusCode, body)
		}
		checkCosigned(t, logA, string(body), wv)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("answer headers %v: want nosniff and a request id", resp.Header)
		}
		old := &http.Client{Timeout: cliHTTPTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}}}
		if _, err := old.Get("https://" + p.addr + "/healthz"); err == nil {
			t.Error("a TLS 1.1 client was served")
		}
	})

	t.Run("SIGHUP reloads the logs file", func(t *testing.T) {
		logs := filepath.Join(dir, "logs.txt")
		write := func(s string) {
			if err := os.WriteFile(logs, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("# followed logs\nlog " + logA.vkey + "\n")
		p := startServe(t, "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--key", prefix+".key", "--logs", logs)

		if code, body := p.post(witness.Request{Checkpoint: logB.note}); code != http.StatusNotFound {
			t.Fatalf("B's checkpoint before B is in the logs file: %d %q, want 404", code, body)
		}
		code, body := p.post(witness.Request{Checkpoint: logA.note})
		if code != http.StatusOK {
			t.Fatalf("A's checkpoint: %d %q", code, body)
		}
		checkCosigned(t, logA, body, wv)
		if code, body := p.get("/metrics"); code != http.StatusOK || !strings.Contains(body, "\nwitness_logs 1\n") {
			t.Errorf("/metrics: %d, want witness_logs 1 in:\n%s", code, body)
		}

		write("log " + logA.vkey + "\nlog " + logB.vkey + " http://127.0.0.1:1\n")
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.waitLog("SIGHUP: reloaded the logs file", 1)
		code, body = p.post(witness.Request{Checkpoint: logB.note})
		if code != http.StatusOK {
			t.Fatalf("B's checkpoint after SIGHUP: %d %q, want 200", code, body)
		}
		checkCosigned(t, logB, body, wv)
		if code, body := p.get(originHashPath(logB.origin)); code != http.StatusOK || !strings.HasPrefix(body, logB.text+"\n") {
			t.Errorf("GET B's latest checkpoint: %d %q", code, body)
		}
		if code, body := p.get("/metrics"); !strings.Contains(body, "\nwitness_logs 2\n") {
			t.Errorf("/metrics after SIGHUP: %d, want witness_logs 2 in:\n%s", code, body)
		}

		// A bad file on SIGHUP keeps the old list.
		write("log " + logA.vkey + "\nlog garbage\n")
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.waitLog("SIGHUP: keeping the old logs file", 1)
		if code, body := p.post(witness.Request{OldSize: 1, Checkpoint: logB.note}); code != http.StatusOK {
			t.Errorf("B's checkpoint again after a bad SIGHUP: %d %q, want 200 (old list kept)", code, body)
		}

		// Dropping B stops following it.
		write("log " + logA.vkey + "\n")
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.waitLog("SIGHUP: reloaded the logs file", 2)
		if code, body := p.post(witness.Request{OldSize: 1, Checkpoint: logB.note}); code != http.StatusNotFound {
			t.Errorf("B's checkpoint after B was dropped: %d %q, want 404", code, body)
		}

		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			if c := p.cmd.ProcessState.ExitCode(); c != 0 {
				t.Errorf("SIGTERM: exit %d, want 0", c)
			}
		case <-time.After(cliExitTimeout):
			t.Fatalf("witness serve did not exit within %v of SIGTERM", cliExitTimeout)
		}
		if strings.Contains(p.stderr.String(), "panic: ") || strings.Contains(p.stderr.String(), "\ngoroutine ") {
			t.Errorf("a panic on stderr:\n%s", p.stderr.String())
		}
	})
}
