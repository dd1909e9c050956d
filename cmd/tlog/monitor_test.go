package main

// End-to-end tests of tlog monitor against real "tlog serve" processes:
// releases signed here with github.com/sigstore/sigstore and logged with
// tlog attest, a webhook on 127.0.0.1, a fork served by a second server
// with the same key and a fresh store.

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tlogai/tlog/signer"
)

// monitorLine is the part of a report line the tests check.
type monitorLine struct {
	Index      int64    `json:"index"`
	Kind       string   `json:"kind"`
	Matched    []string `json:"matched"`
	Signers    []string `json:"signers"`
	Subjects   []struct{ Name, Digest string }
	Unexpected bool   `json:"unexpected"`
	Reason     string `json:"reason"`
}

func monitorLines(t *testing.T, stdout string) []monitorLine {
	t.Helper()
	var out []monitorLine
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if l == "" {
			continue
		}
		var m monitorLine
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("report line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// attestRelease logs a release of name signed by p with tlog attest and
// returns its index.
func attestRelease(t *testing.T, l *aiLog, p *publisher, name, tag string) int64 {
	t.Helper()
	stmt, _ := statement(name, []byte("weights of "+name+" "+tag), 0)
	env := l.file(tag+".dsse.json", p.sign(t, stmt))
	key := l.file(tag+".pub", p.pemPub)
	r := runTlog(t, "attest", "--log", l.url(), "--envelope", env, "--key", key, "--log-key", l.pub)
	expectOK(t, "tlog attest", r)
	return parseAttest(t, "tlog attest", r).index
}

func TestMonitorCommand(t *testing.T) {
	l := startAILog(t, "monitored log")
	l.s.mustAdd([]byte("filler 0"))
	good, rogue := newPublisher(t, "ecdsa-p256"), newPublisher(t, "ed25519")
	fraud := attestRelease(t, l, good, "acme/fraud-v3", "fraud-1")
	chat := attestRelease(t, l, good, "acme/chat", "chat-1")
	bad := attestRelease(t, l, rogue, "acme/chat", "chat-2")
	l.s.mustAdd([]byte("filler 1"))
	signers := l.file("acme.signers", []byte("# acme's release key\n"+good.fp+"\n"))

	var (
		mu     sync.Mutex
		posted []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted = append(posted, string(b))
		mu.Unlock()
	}))
	defer hook.Close()

	state := filepath.Join(l.dir, "acme.state")
	args := []string{"monitor", "--log", l.url(), "--log-key", l.pub, "--state", state,
		"--model", "acme/fraud-v3", "--model", "acme/chat", "--allowed-signers", signers, "--once"}
	r := runTlog(t, append(args, "--webhook", hook.URL)...)
	if r.code != 1 {
		logResult(t, "tlog monitor", r)
		t.Fatalf("exit %d, want 1 (an unexpected release)", r.code)
	}
	lines := monitorLines(t, r.stdout)
	var ix, unexpected []int64
	for _, m := range lines {
		ix = append(ix, m.Index)
		if m.Unexpected {
			unexpected = append(unexpected, m.Index)
			if !slices.Equal(m.Signers, []string{rogue.fp}) || !strings.Contains(m.Reason, rogue.fp) || m.Kind != "model-release/v1" {
				t.Errorf("unexpected line %+v; want the rogue key named", m)
			}
		}
	}
	if !slices.Equal(ix, []int64{fraud, chat, bad}) || !slices.Equal(unexpected, []int64{bad}) {
		t.Fatalf("reported %v, unexpected %v; want %v and [%d]\n%s", ix, unexpected, []int64{fraud, chat, bad}, bad, r.stdout)
	}
	for _, want := range []string{"monitoring " + l.url() + " from index 0", "checked entries 0…4 of tree size 5: 5 read, 3 reported, 1 unexpected", "UNEXPECTED: 1"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	mu.Lock()
	got := slices.Clone(posted)
	mu.Unlock()
	if want := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("the webhook got\n%q\nstdout has\n%q", got, want)
	}

	// Rerun from the state: nothing new, exit 0.
	r = runTlog(t, args...)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "from index 5") || !strings.Contains(r.stderr, "no new entries") {
		logResult(t, "tlog monitor again", r)
		t.Fatalf("rerun: exit %d, stdout %q; want 0 and nothing", r.code, r.stdout)
	}

	// With a witness policy: the log alone (quorum none) reads the same;
	// a quorum no witness met is exit 2.
	_, wvkey, err := signer.GenerateWitnessKey(rand.Reader, "witness.example")
	if err != nil {
		t.Fatal(err)
	}
	none := l.file("none.policy", []byte("log "+l.s.vkey+"\nquorum none\n"))
	unmet := l.file("unmet.policy", []byte("log "+l.s.vkey+"\nwitness W "+wvkey+"\nquorum W\n"))
	pargs := []string{"monitor", "--log", l.url(), "--state", filepath.Join(l.dir, "p.state"), "--model", "acme/chat", "--allowed-signers", signers, "--once"}
	r = runTlog(t, append(slices.Clone(pargs), "--policy", none)...)
	var pix []int64
	for _, m := range monitorLines(t, r.stdout) {
		pix = append(pix, m.Index)
	}
	if r.code != 1 || !slices.Equal(pix, []int64{chat, bad}) {
		logResult(t, "tlog monitor --policy", r)
		t.Fatalf("--policy (quorum none): exit %d, reported %v; want 1 and [%d %d]", r.code, pix, chat, bad)
	}
	pargs[4] = filepath.Join(l.dir, "p2.state")
	r = runTlog(t, append(pargs, "--policy", unmet)...)
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "quorum") {
		logResult(t, "tlog monitor --policy unmet", r)
		t.Fatalf("--policy with an unmet quorum: exit %d; want 2 naming the quorum", r.code)
	}

	// A fork: a fresh store with the log's key, a longer history.
	fork := startServer(t, "fork", filepath.Join(l.dir, "fork-data"), "--key", filepath.Join(l.data, "log.key"))
	for i := range 8 {
		fork.mustAdd([]byte("another history " + string(rune('a'+i))))
	}
	keptNote, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	forkArgs := slices.Clone(args)
	forkArgs[2] = fork.url("")
	r = runTlog(t, forkArgs...)
	if r.code != 2 || r.stdout != "" {
		logResult(t, "tlog monitor on the fork", r)
		t.Fatalf("fork: exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
	}
	var ev struct {
		Kept string `json:"kept_checkpoint"`
		Seen string `json:"log_checkpoint"`
	}
	b, err := os.ReadFile(state + ".evidence")
	if err != nil {
		t.Fatalf("no evidence file: %v\n%s", err, r.stderr)
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	var st struct{ Checkpoint string }
	json.Unmarshal(keptNote, &st)
	if ev.Kept != st.Checkpoint || !strings.Contains(ev.Seen, "\n8\n") {
		t.Errorf("evidence %+v; want the kept checkpoint and the fork's (size 8)", ev)
	}
	for _, want := range []string{"INCONSISTENT: ", "kept checkpoint:\n" + ev.Kept, "log's checkpoint:\n" + ev.Seen, "evidence written to " + state + ".evidence"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if after, _ := os.ReadFile(state); string(after) != string(keptNote) {
		t.Error("the state moved on a fork")
	}

	// The log unreachable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	downArgs := slices.Clone(args)
	downArgs[2] = closed
	r = runTlog(t, downArgs...)
	if r.code != 2 || !strings.Contains(r.stderr, "could not check: ") || !strings.Contains(r.stderr, "connection refused") {
		logResult(t, "tlog monitor on a closed port", r)
		t.Fatalf("unreachable: exit %d; want 2 and could not check", r.code)
	}
}

// Bad flags and files: exit 2 with a message naming the problem.
func TestMonitorCommandErrors(t *testing.T) {
	quickRaceExit(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, pub, _ := runKeygen(t, dir, "example.com/monitored", "log")
	badSigners := write("bad.signers", "sha256:abc\n")
	badPolicy := write("bad.policy", "nonsense\n")
	state := filepath.Join(dir, "s.state")
	base := []string{"monitor", "--log", "http://127.0.0.1:1", "--log-key", pub, "--state", state}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"monitor", "--log-key", pub, "--state", state, "--model", "m"}, "--log URL is required"},
		{[]string{"monitor", "--log", "http://127.0.0.1:1", "--log-key", pub, "--model", "m"}, "--state FILE is required"},
		{[]string{"monitor", "--log", "http://127.0.0.1:1", "--state", state, "--model", "m"}, "give exactly one of --log-key LOG.pub and --policy FILE"},
		{append(slices.Clone(base), "--policy", pub, "--model", "m"), "give exactly one of --log-key LOG.pub and --policy FILE"},
		{base, "nothing to watch"},
		{[]string{"monitor", "--log", "http://127.0.0.1:1", "--policy", badPolicy, "--state", state, "--model", "m"}, "--policy " + badPolicy + ": malformed policy"},
		{append(slices.Clone(base), "--digest", "sha256:abc"), `digest "sha256:abc" is not sha256:<64 hex digits>`},
		{append(slices.Clone(base), "--allowed-signers", filepath.Join(dir, "missing")), "--allowed-signers: open"},
		{append(slices.Clone(base), "--allowed-signers", badSigners), `allowed signers line 1: "sha256:abc" is not a key fingerprint`},
		{append(slices.Clone(base), "--model", "m", "--interval", "0s"), "--interval 0s: must be positive"},
		{append(slices.Clone(base), "--model", "m", "--webhook", "ftp://x"), `--webhook: webhook "ftp://x" is not an http(s) URL`},
		{append(slices.Clone(base), "--model", "m", "--bogus"), "unknown flag: --bogus"},
		{append(slices.Clone(base), "--model", "m", "--interval", "soon"), `invalid argument "soon" for "--interval"`},
		{[]string{"monitor", "--log", "ftp://x", "--log-key", pub, "--state", state, "--model", "m"}, "is not an http(s) URL"},
		{[]string{"monitor", "--log", "http://127.0.0.1:1", "--log-key", badSigners, "--state", state, "--model", "m"}, badSigners},
	} {
		r := runTlog(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("tlog %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("a refused run wrote the state: %v", err)
	}
}
