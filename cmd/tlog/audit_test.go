package main

// End-to-end tests of tlog audit export and tlog audit check, and of the
// time bound (receipts' logged_no_later_than, tlog verify's time line),
// against real "tlog serve" processes. Oracles: commitments come from tlog
// decision commit and are recomputed here with crypto/sha256; the time
// bound must lie between the submission and now.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tlogai/tlog/wire"
)

// commitFile runs tlog decision commit on content and returns the
// commitment, checked against its definition.
func commitFile(t *testing.T, dir, name, content string) (path, commitment string) {
	t.Helper()
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runTlog(t, "decision", "commit", "--in", path)
	expectOK(t, "tlog decision commit", r)
	commitment = strings.TrimSpace(r.stdout)
	saltHex, err := os.ReadFile(path + ".salt")
	if err != nil {
		t.Fatal(err)
	}
	salt, err := hex.DecodeString(strings.TrimSpace(string(saltHex)))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(append(append([]byte("tlog/commitment/v1\x00"), salt...), content...))
	if want := "sha256:" + hex.EncodeToString(h[:]); commitment != want {
		t.Fatalf("tlog decision commit printed %s, want %s", commitment, want)
	}
	return path, commitment
}

// postDecision logs one decision record and returns its receipt's JSON.
func postDecision(t *testing.T, s *server, query, record string) []byte {
	t.Helper()
	deadline := time.Now().Add(witnessTimeout)
	for {
		resp, err := s.client.Post(s.url("/api/v1/decisions"+query), "application/json", strings.NewReader(record))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// A log with a witness policy answers 503 until its witnesses
		// have confirmed its state.
		if resp.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /api/v1/decisions%s: %d %s", query, resp.StatusCode, b)
		}
		return b
	}
}

// auditRecord is a decision record with real commitments: input, output
// and two data_accessed, made with tlog decision commit in dir.
type auditRecord struct {
	record                   string
	input, output, ledger    string // content files (salts beside them, .salt)
	inputC, outputC, ledgerC string
}

func newAuditRecord(t *testing.T, dir, id string) auditRecord {
	t.Helper()
	var a auditRecord
	a.input, a.inputC = commitFile(t, dir, id+"-input.txt", "Customer asks to raise the card limit to 5,000 EUR.\n")
	a.output, a.outputC = commitFile(t, dir, id+"-output.txt", "Approved: new limit 5,000 EUR.\n")
	_, crmC := commitFile(t, dir, id+"-crm.json", `{"customer":"c-77","segment":"gold"}`)
	a.ledger, a.ledgerC = commitFile(t, dir, id+"-ledger.csv", "2026-11-01,-120.00\n2026-11-03,+2400.00\n")
	a.record = fmt.Sprintf(`{"system":"kyc-bot","decision_id":%q,"time":"2026-11-27T09:14:03Z","model":{"name":"acme/fraud-v3","version":"3.1.0"},"outcome":"approved","commitments":{"input":%q,"output":%q,"data_accessed":[%q,%q]}}`,
		id, a.inputC, a.outputC, crmC, a.ledgerC)
	return a
}

// copyDir copies a bundle directory (two levels).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// otherChar is a character of c's class (hex digit, base64, letter) other
// than c, so that the file stays well-formed where it can.
func otherChar(c byte) byte {
	switch {
	case c >= '0' && c <= '8', c >= 'a' && c <= 'e', c >= 'A' && c <= 'Y':
		return c + 1
	default:
		return '0'
	}
}

func TestAuditBundle(t *testing.T) {
	l := startAILog(t, "audit log")
	// Some entries first, so that the proof has hashes.
	for i := range 5 {
		postDecision(t, l.s, "?receipts=compact", decisionRecord("audit-filler", i).line)
	}
	a := newAuditRecord(t, l.dir, "c-1042")
	receipt := postDecision(t, l.s, "", a.record)
	var rc wire.Receipt
	if err := json.Unmarshal(receipt, &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Index != 5 || bytes.Contains(receipt, []byte("logged_no_later_than")) {
		t.Fatalf("receipt of a log without witnesses: %s; want index 5 and no logged_no_later_than", receipt)
	}
	// tlog verify says the log proves no time.
	r := runTlog(t, "verify", "--key", l.pub, "--receipt", l.file("receipt.json", receipt))
	if r.code != 0 || !strings.Contains(r.stdout, "\ntime: only the writer vouches for the entry's time") {
		logResult(t, "tlog verify --receipt", r)
		t.Fatalf("tlog verify --key: exit %d, want 0 and the writer-only time line", r.code)
	}

	bundle := filepath.Join(l.dir, "audit-5")
	r = runTlog(t, "audit", "export", "--log", l.url(), "--index", "5", "--key", l.pub,
		"--open", "commitments.input="+a.input+":"+a.input+".salt", "--open", "commitments.data_accessed[1]="+a.ledger, "--out", bundle)
	expectOK(t, "tlog audit export", r)
	t.Logf("tlog audit export:\n%s", r.stdout)
	for _, f := range []string{"entry.json", "entry.tlog-proof", "audit.json", "open/commitments.input.content", "open/commitments.input.salt",
		"open/commitments.data_accessed[1].content", "open/commitments.data_accessed[1].salt"} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("export output does not name %s", f)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(bundle, "entry.json")); !bytes.Equal(got, rc.Entry) {
		t.Fatalf("entry.json is\n%s\nwant the logged entry\n%s", got, rc.Entry)
	}
	if got, _ := os.ReadFile(filepath.Join(bundle, "open/commitments.data_accessed[1].content")); string(got) != "2026-11-01,-120.00\n2026-11-03,+2400.00\n" {
		t.Fatalf("the ledger content is %q", got)
	}
	var m struct {
		Log    string `json:"log"`
		Index  uint64 `json:"index"`
		Opened []struct {
			Field, Commitment string
		} `json:"opened"`
	}
	if b, err := os.ReadFile(filepath.Join(bundle, "audit.json")); err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("audit.json: %v\n%s", err, b)
	}
	if m.Log != aiOrigin || m.Index != 5 || len(m.Opened) != 2 || m.Opened[0].Commitment != a.inputC || m.Opened[1].Commitment != a.ledgerC {
		t.Errorf("audit.json: %+v", m)
	}

	check := func(dir string, args ...string) result {
		t.Helper()
		return runTlog(t, append([]string{"audit", "check", dir}, args...)...)
	}
	r = check(bundle, "--key", l.pub)
	expectOK(t, "tlog audit check", r)
	t.Logf("tlog audit check:\n%s", r.stdout)
	want := `logged: "decision/v1", system "kyc-bot", decision_id "c-1042", model.name "acme/fraud-v3", model.version "3.1.0", outcome "approved"
in the log: index 5 in tree of size 6 signed by ` + aiOrigin + `
time: only the writer vouches for the time: "2026-11-27T09:14:03Z" (no witness policy given: check with --policy for a time bound)
commitments.input: opened, matches (` + a.inputC + `)
commitments.data_accessed[1]: opened, matches (` + a.ledgerC + `)
all verified
`
	if r.stdout != want {
		t.Errorf("tlog audit check printed\n%s\nwant\n%s", r.stdout, want)
	}

	// One byte of each part changed in turn: the check fails naming it,
	// and only it.
	n := 0
	tamper := func(what, file string, at func([]byte) int, wantErr string) {
		t.Helper()
		n++
		dir := filepath.Join(l.dir, fmt.Sprintf("tampered-%d", n))
		copyDir(t, bundle, dir)
		p := filepath.Join(dir, file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		i := at(b)
		b[i] = otherChar(b[i])
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r := check(dir, "--key", l.pub)
		expectRejected(t, what, r)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "not verified: "+wantErr) {
			t.Errorf("%s: stderr %q; want one line starting %q", what, r.stderr, "not verified: "+wantErr)
		}
	}
	after := func(s string, off int) func([]byte) int {
		return func(b []byte) int {
			i := bytes.Index(b, []byte(s))
			if i < 0 {
				t.Fatalf("%q not in the file", s)
			}
			return i + len(s) + off
		}
	}
	line := func(k, off int) func([]byte) int { // offset off in line k (from 0)
		return func(b []byte) int {
			ls := bytes.SplitAfter(b, []byte("\n"))
			i := 0
			for _, l := range ls[:k] {
				i += len(l)
			}
			return i + off
		}
	}
	tamper("entry.json changed", "entry.json", after(`"decision_id":"c-10`, 0), "entry.json: not in the log (the proof does not lead from it to the checkpoint)")
	tamper("entry.json: the time changed", "entry.json", after(`"time":"2026-11-2`, 0), "entry.json: not in the log (the proof does not lead from it to the checkpoint)")
	tamper("a proof hash changed", "entry.tlog-proof", line(2, 5), "entry.tlog-proof: its inclusion proof does not lead from entry.json")
	tamper("the proof's index changed", "entry.tlog-proof", line(1, 6), "entry.tlog-proof:")
	tamper("the checkpoint's root changed", "entry.tlog-proof", line(7, 10), "entry.tlog-proof: its checkpoint does not verify")
	tamper("the checkpoint's signature changed", "entry.tlog-proof", after("— "+aiOrigin+" ", 20), "entry.tlog-proof: its checkpoint does not verify")
	tamper("the input's content changed", "open/commitments.input.content", after("5,0", 0), "open/commitments.input.content: does not open commitments.input")
	tamper("the ledger's content changed", "open/commitments.data_accessed[1].content", after("2400", 0), "open/commitments.data_accessed[1].content: does not open commitments.data_accessed[1]")
	tamper("the input's salt changed", "open/commitments.input.salt", func([]byte) int { return 17 }, "open/commitments.input.salt: does not open commitments.input")
	tamper("the ledger's salt no longer hex", "open/commitments.data_accessed[1].salt", func([]byte) int { return 64 }, "open/commitments.data_accessed[1].salt: not a salt")
	if b, _ := os.ReadFile(filepath.Join(bundle, "entry.tlog-proof")); !bytes.Contains(bytes.SplitAfter(b, []byte("\n"))[7], []byte("=")) {
		t.Fatalf("line 8 of the proof is not the checkpoint's root:\n%s", b)
	}

	// Files missing, unlisted or outside the bundle.
	broken := func(what string, edit func(dir string), wantErr string) {
		t.Helper()
		n++
		dir := filepath.Join(l.dir, fmt.Sprintf("broken-%d", n))
		copyDir(t, bundle, dir)
		edit(dir)
		r := check(dir, "--key", l.pub)
		expectRejected(t, what, r)
		if !strings.Contains(r.stderr, wantErr) {
			t.Errorf("%s: stderr %q; want %q", what, r.stderr, wantErr)
		}
	}
	broken("a salt missing", func(dir string) { os.Remove(filepath.Join(dir, "open/commitments.data_accessed[1].salt")) },
		"audit.json names open/commitments.data_accessed[1].salt, which is missing")
	broken("the entry missing", func(dir string) { os.Remove(filepath.Join(dir, "entry.json")) }, "audit.json names entry.json, which is missing")
	broken("no audit.json", func(dir string) { os.Remove(filepath.Join(dir, "audit.json")) }, "audit.json: missing")
	broken("an unlisted file in open/", func(dir string) {
		os.WriteFile(filepath.Join(dir, "open/commitments.output.content"), []byte("x"), 0o600)
	}, "open/commitments.output.content: not listed in audit.json")
	broken("a path out of the bundle", func(dir string) {
		p := filepath.Join(dir, "audit.json")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, bytes.Replace(b, []byte(`"open/commitments.input.content"`), []byte(`"../../etc/passwd"`), 1), 0o600)
	}, "its files must be open/commitments.input.content and open/commitments.input.salt")
	broken("another field named", func(dir string) {
		p := filepath.Join(dir, "audit.json")
		b, _ := os.ReadFile(p)
		b = bytes.ReplaceAll(b, []byte(`commitments.input`), []byte(`commitments.output`))
		os.WriteFile(p, b, 0o600)
		os.Rename(filepath.Join(dir, "open/commitments.input.content"), filepath.Join(dir, "open/commitments.output.content"))
		os.Rename(filepath.Join(dir, "open/commitments.input.salt"), filepath.Join(dir, "open/commitments.output.salt"))
	}, "open/commitments.output.content: does not open commitments.output")

	// Another log's key: the proof's checkpoint does not verify.
	other := startAILog(t, "other log")
	r = check(bundle, "--key", other.pub)
	expectRejected(t, "check with another log's key", r)
	if !strings.Contains(r.stderr, "entry.tlog-proof: its checkpoint does not verify") {
		t.Errorf("check with another log's key: %q", r.stderr)
	}
	expectFailure(t, "check without a key", check(bundle), "exactly one of --key")

	// Export refuses, writing nothing: content that does not open the
	// commitment, a field that holds none, a used directory.
	export := func(what, wantErr string, args ...string) {
		t.Helper()
		out := filepath.Join(l.dir, "refused-"+strings.ReplaceAll(what, " ", "-"))
		r := runTlog(t, append([]string{"audit", "export", "--log", l.url(), "--index", "5", "--key", l.pub, "--out", out}, args...)...)
		expectFailure(t, what, r, wantErr)
		if des, _ := os.ReadDir(out); len(des) > 0 {
			t.Errorf("%s: %d files written to %s", what, len(des), out)
		}
	}
	export("wrong content", "do not open commitments.output", "--open", "commitments.output="+a.input+":"+a.input+".salt")
	export("wrong salt", "do not open commitments.input", "--open", "commitments.input="+a.input+":"+a.output+".salt")
	export("not a commitment", "system in the entry is not a commitment", "--open", "system="+a.input)
	export("no such field", "no commitments.data_accessed[5] in the entry", "--open", "commitments.data_accessed[5]="+a.input)
	export("a bad field", "want a path into the entry", "--open", "commitments/../x="+a.input)
	export("twice", "given twice", "--open", "commitments.input="+a.input, "--open", "commitments.input="+a.input)
	expectFailure(t, "export into a used directory", runTlog(t, "audit", "export", "--log", l.url(), "--index", "5", "--key", l.pub, "--out", bundle), "is not empty")
	l.s.checkNoRace()
}

var boundLine = regexp.MustCompile(`logged no later than (\S+) \(the earliest witness cosignature on a checkpoint that includes it, by W[12]\)`)

// TestAuditWitnessedTimeBound: with a witness policy, receipts, tlog
// verify and tlog audit check state the time bound: the earliest witness
// cosignature, between the submission and now.
func TestAuditWitnessedTimeBound(t *testing.T) {
	l := newWitnessedLog(t, "example.com/audit-witnessed", 2, 2)
	for _, w := range l.witnesses {
		w.s.quiet = true
	}
	l.startLog("witnessed audit log")
	// The log refuses entries until its witnesses confirm its state.
	postDecision(t, l.s, "?receipts=compact", decisionRecord("audit-witnessed", 1).line)
	a := newAuditRecord(t, l.dir, "c-2001")
	before := time.Now().Truncate(time.Second)
	receipt := postDecision(t, l.s, "?wait=witnessed", a.record)
	var rc wire.Receipt
	if err := json.Unmarshal(receipt, &rc); err != nil {
		t.Fatal(err)
	}
	inRange := func(what, s string) {
		t.Helper()
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil || !strings.HasSuffix(s, "Z") || tm.Before(before) || tm.After(time.Now()) {
			t.Errorf("%s: time bound %q (%v) is not an RFC 3339 UTC time between the submission (%s) and now", what, s, err, before.UTC().Format(time.RFC3339))
		}
	}
	if rc.Witnessed == nil || !*rc.Witnessed || rc.LoggedNoLaterThan == "" {
		t.Fatalf("witnessed receipt: %s; want witnessed and logged_no_later_than", receipt)
	}
	inRange("receipt", rc.LoggedNoLaterThan)
	// Not waiting for the witnesses: the log's own checkpoint, no bound.
	if plain := postDecision(t, l.s, "", decisionRecord("audit-witnessed", 2).line); bytes.Contains(plain, []byte("logged_no_later_than")) {
		t.Errorf("a receipt against the log's own checkpoint states a bound: %s", plain)
	}

	// tlog verify --policy of the receipt: the same bound (the
	// cosignatures of its checkpoint, verified with the policy's keys).
	rf := l.file("receipt.json", receipt)
	r := runTlog(t, "verify", "--policy", l.policyFile, "--receipt", rf)
	expectOK(t, "tlog verify --policy --receipt", r)
	if m := boundLine.FindStringSubmatch(r.stdout); m == nil || m[1] != rc.LoggedNoLaterThan {
		t.Errorf("tlog verify --policy printed\n%s\nwant \"logged no later than %s …\"", r.stdout, rc.LoggedNoLaterThan)
	}
	r = runTlog(t, "verify", "--key", l.pubFile, "--receipt", rf)
	if r.code != 0 || boundLine.MatchString(r.stdout) || !strings.Contains(r.stdout, "time: only the writer vouches for the entry's time") {
		t.Errorf("tlog verify --key printed\n%s\nwant the writer-only time line", r.stdout)
	}

	// The audit bundle, exported with the policy and checked with it.
	bundle := filepath.Join(l.dir, "audit")
	r = runTlog(t, "audit", "export", "--log", l.s.url(""), "--index", fmt.Sprint(rc.Index), "--policy", l.policyFile,
		"--open", "commitments.output="+a.output, "--open", "commitments.data_accessed[1]="+a.ledger, "--out", bundle)
	expectOK(t, "tlog audit export --policy", r)
	r = runTlog(t, "audit", "check", bundle, "--policy", l.policyFile)
	expectOK(t, "tlog audit check --policy", r)
	t.Logf("tlog audit check --policy:\n%s", r.stdout)
	m := boundLine.FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "and cosigned by a witness quorum (2 cosignatures)") ||
		!strings.Contains(r.stdout, `; the record says "2026-11-27T09:14:03Z"`) ||
		!strings.Contains(r.stdout, "commitments.output: opened, matches") || !strings.Contains(r.stdout, "commitments.data_accessed[1]: opened, matches") {
		t.Fatalf("tlog audit check --policy printed\n%s", r.stdout)
	}
	inRange("audit check", m[1])
	// With the log's key only, the same bundle proves no time.
	r = runTlog(t, "audit", "check", bundle, "--key", l.pubFile)
	expectOK(t, "tlog audit check --key", r)
	if boundLine.MatchString(r.stdout) || !strings.Contains(r.stdout, `time: only the writer vouches for the time: "2026-11-27T09:14:03Z"`) {
		t.Errorf("tlog audit check --key printed\n%s", r.stdout)
	}
	l.s.checkNoRace()
}
