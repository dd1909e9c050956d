package main

// Edge cases of the AI commands: publisher certificates, witnessed
// receipts (--wait-witnessed, serve --witness-wait), canonical forms of
// decision records, decide's request shaping and line numbers, and the
// tests that show the bugs found (named TestBug…).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a self-signed certificate (DER) for an ECDSA key.
func selfSigned(t *testing.T, priv *ecdsa.PrivateKey, cn string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestAttestWithCertificate(t *testing.T) {
	// A self-signed certificate: only a log that accepts unverified
	// certificates takes it (see TestKeyless for validated ones).
	l := startAILog(t, "certificate log", "--accept-unverified-certificates")
	p := newPublisher(t, "ecdsa-p256")
	keyPEM := l.file("cert-key.pub", p.pemPub)
	certDER := selfSigned(t, p.ecdsa, "release-bot@acme.example")
	certPEM := l.file("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}))
	certSum := sha256.Sum256(certDER)

	stmt, digestHex := statement("acme/model-13b", []byte("13b weights"), 0)
	env := p.sign(t, stmt)
	envFile := l.file("cert.dsse.json", env)
	proofFile := filepath.Join(l.dir, "cert.tlog-proof")
	r := runTlog(t, "attest", "--log", l.url(), "--envelope", envFile, "--certificate", certPEM, "--log-key", l.pub, "--out", proofFile)
	expectOK(t, "tlog attest --certificate", r)
	o := parseAttest(t, "tlog attest --certificate", r)
	if o.signer != p.fp {
		t.Errorf("signer %s, want the certificate key's fingerprint %s", o.signer, p.fp)
	}
	// The entry names the key, not the certificate (which the log cannot
	// validate, and anyone could mint for the key): it is the entry the
	// bare key gives. The certificate is kept beside it, as a blob.
	wantEntry, _ := releaseEntry(t, env, "acme/model-13b", digestHex, p.fp, 0)
	proof, err := os.ReadFile(proofFile)
	if err != nil {
		t.Fatal(err)
	}
	checkProofOracle(t, proof, int(o.index), wantEntry, l.s.vkey)
	if code, body, _, _ := l.s.get(fmt.Sprintf("/api/v1/blobs/sha256:%x", certSum)); code != 200 || !bytes.Equal(body, certDER) {
		t.Errorf("GET the certificate's blob: %d, %d bytes; want 200 and the DER", code, len(body))
	}
	// The certificate's identity is shown (quoted), and a warning says it
	// was not validated (stderr).
	want := verifiedLine(o.index, o.size, aiOrigin) + "publisher signature: verified with " + p.fp + "\n" +
		`certificate: "CN=release-bot@acme.example", issued by "CN=release-bot@acme.example"` + "\nsubject: acme/model-13b\n"
	r = runTlog(t, "verify", "--key", l.pub, "--attestation", envFile, "--certificate", certPEM, "--proof", proofFile)
	expectVerified(t, "tlog verify --attestation --certificate", r, want)
	if !strings.Contains(r.stderr, "not validated against any trust root") {
		t.Errorf("tlog verify --attestation --certificate: no warning that the certificate was not validated; stderr %q", r.stderr)
	}
	// With the bare key, the same entry verifies (without the
	// certificate line).
	r = runTlog(t, "verify", "--key", l.pub, "--attestation", envFile, "--publisher-key", keyPEM, "--proof", proofFile)
	expectVerified(t, "tlog verify --attestation of a certificate entry with --publisher-key", r,
		verifiedLine(o.index, o.size, aiOrigin)+"publisher signature: verified with "+p.fp+"\nsubject: acme/model-13b\n")

	// The same envelope in bundles carrying the certificate (v0.3) or a
	// chain (v0.2): the same entry, and they verify with no key at all.
	b64 := base64.StdEncoding.EncodeToString(certDER)
	bundles := map[string][]byte{
		"v0.3 certificate": fmt.Appendf(nil, `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":%q},"tlogEntries":[]},"dsseEnvelope":%s}`, b64, env),
		"v0.2 chain":       fmt.Appendf(nil, `{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2","verificationMaterial":{"x509CertificateChain":{"certificates":[{"rawBytes":%q}]}},"dsseEnvelope":%s}`, b64, env),
	}
	for name, b := range bundles {
		f := l.file("cert-bundle.json", b)
		r = runTlog(t, "attest", "--log", l.url(), "--bundle", f, "--log-key", l.pub)
		expectOK(t, "tlog attest --bundle ("+name+")", r)
		if o2 := parseAttest(t, "attest", r); o2.state != "already logged" || o2.index != o.index {
			t.Errorf("tlog attest --bundle (%s): %s at %d; want already logged at %d", name, o2.state, o2.index, o.index)
		}
		expectVerified(t, "tlog verify --attestation ("+name+")", runTlog(t, "verify", "--key", l.pub, "--attestation", f, "--proof", proofFile), want)
		// A key other than the certificate's is refused.
		r = runTlog(t, "attest", "--log", l.url(), "--bundle", f, "--key", l.file("other.pub", newPublisher(t, "ed25519").pemPub))
		expectFailure(t, "tlog attest --bundle ("+name+") with another key", r, "not the bundle certificate's key")
	}
	r = runTlog(t, "attest", "--log", l.url(), "--envelope", envFile, "--certificate", certPEM, "--key", keyPEM)
	expectFailure(t, "tlog attest with --key and --certificate", r, "not both")
	r = runTlog(t, "attest", "--log", l.url(), "--envelope", envFile, "--certificate", keyPEM)
	expectFailure(t, "tlog attest --certificate of a key", r, "certificate")
	if got := l.size(); got != 1 {
		t.Errorf("tree size %d, want 1", got)
	}
}

// tlog attest --wait-witnessed and serve --witness-wait: with the witness
// up the receipt's checkpoint is cosigned; with it down the log answers
// after --witness-wait with its own checkpoint, and attest warns.
func TestAttestWaitWitnessed(t *testing.T) {
	wl := newWitnessedLog(t, "example.com/ai-witnessed", 1, 1)
	wl.witnesses[0].s.quiet = true
	// Long enough for a round with the witness up (every 100ms), short
	// enough to tell from the 10 s default.
	const wait = 1500 * time.Millisecond
	wl.s = startServer(t, "witnessed log", wl.data, "--key", wl.keyFile, "--witness-policy", wl.policyFile,
		"--witness-interval", witnessInterval, "--witness-wait", wait.String())
	wl.addWhenReady([]byte("first entry, once the witness confirmed the log"))
	p := newPublisher(t, "ed25519")
	keyPEM := wl.file("p.pub", p.pemPub)

	attest := func(name string) (string, string, result, time.Duration) {
		stmt, _ := statement(name, []byte(name), 0)
		env := wl.file(strings.ReplaceAll(name, "/", "_")+".dsse.json", p.sign(t, stmt))
		proof := filepath.Join(wl.dir, strings.ReplaceAll(name, "/", "_")+".tlog-proof")
		start := time.Now()
		r := runTlog(t, "attest", "--log", wl.s.url(""), "--envelope", env, "--key", keyPEM, "--log-key", wl.pubFile, "--wait-witnessed", "--out", proof)
		return env, proof, r, time.Since(start)
	}

	env, proof, r, _ := attest("acme/witnessed")
	expectOK(t, "tlog attest --wait-witnessed", r)
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("tlog attest --wait-witnessed with the witness up warns: %q", r.stderr)
	}
	r = runTlog(t, "verify", "--policy", wl.policyFile, "--attestation", env, "--publisher-key", keyPEM, "--proof", proof)
	if r.code != 0 || !strings.Contains(r.stdout, "cosigned by a witness quorum") || !strings.Contains(r.stdout, "subject: acme/witnessed") {
		logResult(t, "tlog verify --policy --attestation", r)
		t.Errorf("tlog verify --policy --attestation of a witnessed receipt: exit %d", r.code)
	}

	wl.witnesses[0].s.kill()
	env, proof, r, took := attest("acme/unwitnessed")
	expectOK(t, "tlog attest --wait-witnessed with the witness down", r)
	if !strings.Contains(r.stderr, "warning: no witnessed checkpoint covered the entry in time") {
		t.Errorf("tlog attest --wait-witnessed with the witness down: stderr %q lacks the warning", r.stderr)
	}
	if took < wait || took > wait+5*time.Second {
		t.Errorf("tlog attest --wait-witnessed with the witness down took %v; want about --witness-wait %v (the default is 10s)", took, wait)
	}
	expectVerified(t, "tlog verify --key of an unwitnessed receipt", runTlog(t, "verify", "--key", wl.pubFile, "--attestation", env, "--publisher-key", keyPEM, "--proof", proof),
		verifiedLine(2, 3, wl.origin)+"publisher signature: verified with "+p.fp+"\nsubject: acme/unwitnessed\n")
	r = runTlog(t, "verify", "--policy", wl.policyFile, "--attestation", env, "--publisher-key", keyPEM, "--proof", proof)
	expectRejected(t, "tlog verify --policy of an unwitnessed receipt", r)
	wl.s.checkNoRace()
}

// Canonical entries of unusual records: escapes decoded, '<', '>', '&',
// U+2028 kept literally, label keys sorted by UTF-16 code units (RFC 8785),
// so the same record in another JSON spelling is the same entry.
func TestDecideCanonicalForms(t *testing.T) {
	l := startAILog(t, "canonical log")
	in, out := fakeCommitment("c", 1, "in"), fakeCommitment("c", 1, "out")
	type tc struct{ line, entry string }
	cases := []tc{
		{
			// Escapes: \/ \" \\ \u00e9, a surrogate pair, \t in a label value
			// is a control character (refused), so not here.
			`{"system":"esc\/aped","decision_id":"q\"uote\\back\u00e9\ud83d\ude00","time":"2025-01-01T00:00:00Z","model":{"name":"m","version":"1"},"commitments":{"input":"` + in + `","output":"` + out + `"}}`,
			`{"commitments":{"input":"` + in + `","output":"` + out + `"},"decision_id":"q\"uote\\backé😀","kind":"decision/v1","model":{"name":"m","version":"1"},"system":"esc/aped","time":"2025-01-01T00:00:00Z"}`,
		},
		{
			// HTML characters and U+2028 stay literal; labels sorted by UTF-16
			// units: "Z" < "a" < "😀" (D83D) < "Ａ" (FF21), unlike code point
			// order, which puts Ａ before 😀.
			`{"labels":{"Ａ":"fullwidth","😀":"emoji","a":"<b>&amp;</b>","Z":"line\u2028sep"},"outcome":"<ok> & done","system":"html","decision_id":"d-1","time":"2025-01-01T00:00:00.123456789+05:30","model":{"name":"m","version":"1"},"commitments":{"input":"` + in + `","output":"` + out + `"}}`,
			`{"commitments":{"input":"` + in + `","output":"` + out + `"},"decision_id":"d-1","kind":"decision/v1","labels":{"Z":"line` + "\u2028" + `sep","a":"<b>&amp;</b>","😀":"emoji","Ａ":"fullwidth"},"model":{"name":"m","version":"1"},"outcome":"<ok> & done","system":"html","time":"2025-01-01T00:00:00.123456789+05:30"}`,
		},
		{
			// Empty optional fields are omitted; whitespace anywhere.
			" {\t\"system\" : \"ws\" , \"decision_id\":\"d-2\",\"time\":\"2025-01-01T00:00:00Z\",\"actor\":\"\",\"outcome\":\"\",\"labels\":{},\"model\":{\"name\":\"m\",\"version\":\"1\",\"digest\":\"\"},\"commitments\":{\"input\":\"" + in + "\",\"output\":\"" + out + "\",\"rationale\":\"\",\"data_accessed\":[]}}  ",
			`{"commitments":{"input":"` + in + `","output":"` + out + `"},"decision_id":"d-2","kind":"decision/v1","model":{"name":"m","version":"1"},"system":"ws","time":"2025-01-01T00:00:00Z"}`,
		},
	}
	var file []byte
	for _, c := range cases {
		file = append(file, c.line+"\n"...)
	}
	expectSummary(t, "decide of unusual records", l.decide("--file", l.file("unusual.ndjson", file)), int64(len(cases)), int64(len(cases)), 0)
	entries, err := readEntries(l.s, int64(len(cases)))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if string(entries[i]) != c.entry {
			t.Errorf("record %d became\n%s\nwant\n%s", i, entries[i], c.entry)
		}
	}

	// The same records re-encoded by encoding/json (sorted keys, \u003c
	// for '<', \u0026 for '&', \u2028 escaped): already logged.
	var again []byte
	for _, c := range cases {
		var v any
		if err := json.Unmarshal([]byte(c.line), &v); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		again = append(append(again, b...), '\n')
	}
	if !bytes.Contains(again, []byte(`\u003c`)) || !bytes.Contains(again, []byte(`\u2028`)) {
		t.Fatalf("encoding/json did not escape as expected:\n%s", again)
	}
	expectSummary(t, "decide of the records in another spelling", l.decide("--file", l.file("respelled.ndjson", again)), int64(len(cases)), 0, int64(len(cases)))

	// Refused: control characters, nulls, numbers, unknown fields in
	// nested objects, a label value too long.
	long := strings.Repeat("x", 257)
	base := `"decision_id":"d","time":"2025-01-01T00:00:00Z","model":{"name":"m","version":"1"},"commitments":{"input":"` + in + `","output":"` + out + `"}`
	for _, bad := range []struct{ line, want string }{
		{`{"system":"a\tb",` + base + `}`, "system contains control characters"},
		{`{"system":null,` + base + `}`, "system must be a string, not null"},
		{`{"system":1,` + base + `}`, "system must be a string"},
		{`{"system":"s","labels":{"k":"` + long + `"},` + base + `}`, `label "k": value must be at most 256 bytes`},
		{`{"system":"s",` + strings.Replace(base, `"version":"1"`, `"version":"1","size":"7b"`, 1) + `}`, `unknown field "size" in model`},
		{`{"system":"s",` + base + `} {}`, "trailing data"},
		{`{"system":"s",` + strings.Replace(base, `"2025-01-01T00:00:00Z"`, `"2025-01-01 00:00:00"`, 1) + `}`, "is not an RFC 3339 timestamp"},
		{`{"system":"s",` + strings.Replace(base, `"version":"1"`, `"version":"1","digest":"sha256:abc"`, 1) + `}`, "model.digest"},
		{"{\"system\":\"s\xff\"," + base + "}", "not valid UTF-8"},
	} {
		r := l.decide("--file", l.file("bad.ndjson", []byte(bad.line+"\n")))
		expectFailure(t, "decide of "+bad.line, r, "line 1: ")
		if !strings.Contains(r.stderr, bad.want) {
			t.Errorf("decide of %s: stderr lacks %q:\n%s", bad.line, bad.want, r.stderr)
		}
	}
	if got := l.size(); got != int64(len(cases)) {
		t.Errorf("tree size %d, want %d", got, len(cases))
	}
}

// Line numbers across requests: blank lines between records, a bad record
// in the second request of the default size.
func TestDecideLineNumbersAcrossRequests(t *testing.T) {
	l := startAILog(t, "line numbers log")
	recs := decisionRecords("lines", 12000)
	var b strings.Builder
	line, badLine := 0, 0
	for i, r := range recs {
		if i%1000 == 999 {
			b.WriteString("\n   \n") // two blank lines
			line += 2
		}
		line++
		if i == 10500 {
			b.WriteString(strings.Replace(r.line, `"system":"`, `"system":"`+"\\u0007", 1) + "\n")
			badLine = line
			continue
		}
		b.WriteString(r.line + "\n")
	}
	// Record 10,001 (index 10,000) opens the second request; it is on
	// file line 10,001 plus two blank lines per full thousand before it.
	secondStart := 10001 + 2*10
	r := l.decide("--file", l.file("lines.ndjson", []byte(b.String())), "--parallel", "1")
	expectFailure(t, "decide with a bad record in the second request", r, fmt.Sprintf("line %d: system contains control characters", badLine))
	if want := fmt.Sprintf("refused 1 record(s) of the request starting at line %d", secondStart); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	if got := l.size(); got != 10000 {
		t.Errorf("tree size %d; want the first request's 10,000", got)
	}
}

// Requests are cut at 16 MiB as well as at --batch records: 1,500 records
// of about 14 KiB (21 MB) go in two requests, and all are logged.
func TestDecideLargeRecords(t *testing.T) {
	l := startAILog(t, "large records log")
	const n = 1500
	var b bytes.Buffer
	var labels strings.Builder
	for k := range 32 {
		if k > 0 {
			labels.WriteByte(',')
		}
		fmt.Fprintf(&labels, `"label-%02d-%s":"%s"`, k, strings.Repeat("k", 52), strings.Repeat("v", 256))
	}
	var data []string
	for k := range 50 {
		data = append(data, `"`+fakeCommitment("data", k, "x")+`"`)
	}
	for i := range n {
		fmt.Fprintf(&b, `{"system":"big","decision_id":"big-%d","time":"2025-01-01T00:00:00Z","model":{"name":"m","version":"1"},"labels":{%s},"commitments":{"input":"%s","output":"%s","data_accessed":[%s]}}`+"\n",
			i, labels.String(), fakeCommitment("big", i, "in"), fakeCommitment("big", i, "out"), strings.Join(data, ","))
	}
	if per := b.Len() / n; per < 12<<10 || per > 16<<10 {
		t.Fatalf("records of %d bytes, want 12…16 KiB", per)
	}
	expectSummary(t, "decide of large records", l.decide("--file", l.file("large.ndjson", b.Bytes())), n, n, 0)
	if got := l.size(); got != n {
		t.Errorf("tree size %d, want %d", got, n)
	}
	// One record over the 16 KiB limit, and a line over decide's 1 MiB
	// buffer.
	over := strings.Replace(strings.SplitN(b.String(), "\n", 2)[0], `"big-0"`, `"`+strings.Repeat("o", 3<<10)+`"`, 1)
	r := l.decide("--file", l.file("over.ndjson", []byte(over+"\n")))
	expectFailure(t, "decide of a record over 16 KiB", r, "line 1: ")
	if !strings.Contains(r.stderr, "longer than the limit of 16384") {
		t.Errorf("decide of a record over 16 KiB: stderr lacks the size limit:\n%s", r.stderr)
	}
	huge := append(append([]byte(`{"system":"`), bytes.Repeat([]byte("h"), 2<<20)...), "\"}\n"...)
	r = l.decide("--file", l.file("huge.ndjson", append([]byte(strings.SplitN(b.String(), "\n", 2)[0]+"\n"), huge...)))
	expectFailure(t, "decide of a 2 MiB line", r, "line 2 is longer than")
}

// ---- regressions ----

// A statement that says one thing to encoding/json and another to a
// case-sensitive verifier ("subject" then "Subject", "name" then "Name")
// is refused: otherwise a key the publisher policy does not allow for
// acme/ could log a release that cosign, in-toto and model_signing take as
// acme/model's, admitted under another name.
func TestPublisherPolicyNotBypassedByKeyCase(t *testing.T) {
	quickRaceExit(t)
	a := newPublisher(t, "ecdsa-p256")
	b := newPublisher(t, "ed25519")
	dir := t.TempDir()
	policy := filepath.Join(dir, "publishers.policy")
	if err := os.WriteFile(policy, []byte("acme/ "+a.fp+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := &aiLog{t: t, dir: dir, data: filepath.Join(dir, "data")}
	l.s = startServer(t, "publishers log", l.data, "--origin", aiOrigin, "--publishers", policy)
	l.pub = filepath.Join(l.data, "log.pub")
	keyB := l.file("b.pub", b.pemPub)
	acme := hex.EncodeToString(sha256Sum([]byte("acme weights")))
	other := hex.EncodeToString(sha256Sum([]byte("other weights")))
	for _, tc := range []struct{ name, stmt string }{
		{"Subject after subject", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"acme/model","digest":{"sha256":"` + acme + `"}}],"Subject":[{"name":"other/x","digest":{"sha256":"` + other + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`},
		{"Name after name", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"acme/model","Name":"other/x","digest":{"sha256":"` + acme + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			// What a case-sensitive reader (in-toto, Python, cosign's
			// protobuf statement) sees: subject acme/model.
			var st struct {
				Subject []map[string]any `json:"subject"`
			}
			if err := json.Unmarshal([]byte(tc.stmt), &st); err != nil || len(st.Subject) != 1 {
				t.Fatal(err)
			}
			env := l.file("evil.dsse.json", b.sign(t, []byte(tc.stmt)))
			r := runTlog(t, "attest", "--log", l.url(), "--envelope", env, "--key", keyB)
			if r.code == 0 {
				logResult(t, "tlog attest", r)
				t.Errorf("a statement whose in-toto \"subject\" is acme/model, signed by a key the policy does not list for acme/, was logged (%s)",
					strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[0]))
			}
		})
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// --salt names a file first, and only otherwise holds the hex salt: a salt
// file whose path happens to have 64 characters is read.
func TestDecisionOpenSaltPathOf64Chars(t *testing.T) {
	quickRaceExit(t)
	// t.TempDir's paths are too long for this: a short directory of our own.
	dir, err := os.MkdirTemp("/tmp", "cli-helper-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pad := 64 - len(dir) - len("/") - len(".txt.salt")
	if pad < 1 {
		t.Skipf("temporary directory %s is too long for a 64-character path", dir)
	}
	in := filepath.Join(dir, strings.Repeat("p", pad)+".txt")
	if err := os.WriteFile(in, []byte("prompt"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runTlog(t, "decision", "commit", "--in", in)
	expectOK(t, "decision commit", r)
	saltFile := in + ".salt"
	if len(saltFile) != 64 {
		t.Fatalf("salt path %q has %d characters, want 64", saltFile, len(saltFile))
	}
	r = runTlog(t, "decision", "open", "--commitment", strings.TrimSpace(r.stdout), "--salt", saltFile, "--in", in)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "opened") {
		logResult(t, "decision open --salt <64-character path>", r)
		t.Errorf("decision open with a salt file whose path has 64 characters: exit %d, want 0 and \"opened\"", r.code)
	}
}

// A request of more records than the log's --pool-size can never be taken:
// the log refuses it at once with 413 naming the limit, and tlog decide
// stops and says so instead of retrying.
func TestDecideBatchLargerThanPool(t *testing.T) {
	l := startAILog(t, "small pool log", "--pool-size", "5000")
	file := l.file("d.ndjson", ndjson(decisionRecords("pool", 10000)))
	const bound = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, tlogBin, "decide", "--log", l.url(), "--file", file)
	cmd.Env = childEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	switch {
	case ctx.Err() != nil:
		t.Errorf("tlog decide (default --batch 10000) against serve --pool-size 5000 was still retrying after %v a request the log can never take; stderr so far:\n%s", bound, &stderr)
	case err == nil:
		if got := l.size(); got != 10000 {
			t.Errorf("tlog decide exited 0 in %v but the tree has %d entries, want 10000", took, got)
		}
	case !strings.Contains(stderr.String(), "--batch") && !strings.Contains(stderr.String(), "pool"):
		t.Errorf("tlog decide failed in %v without saying the request is too large for the log (lower --batch):\n%s", took, &stderr)
	}
}

// Subject names are untrusted input printed by tlog attest and tlog verify
// --attestation: names with control characters (terminal escapes, line
// breaks that could paint a fake "subject:" line) are refused on
// admission, so they never reach a terminal.
func TestAttestationSubjectControlCharacters(t *testing.T) {
	l := startAILog(t, "escapes log")
	p := newPublisher(t, "ed25519")
	keyPEM := l.file("p.pub", p.pemPub)
	name := `evil/model\u001b[1A\u001b[2K\rsubject: acme/model-7b\u001b]0;pwned\u0007`
	stmt := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"%s","digest":{"sha256":"%064x"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`, name, 7)
	env := l.file("escapes.dsse.json", p.sign(t, stmt))
	proof := filepath.Join(l.dir, "escapes.tlog-proof")
	r := runTlog(t, "attest", "--log", l.url(), "--envelope", env, "--key", keyPEM, "--out", proof)
	if r.code != 0 {
		// Refusing such a statement is a fix too.
		return
	}
	checkNoControl := func(what string, r result) {
		t.Helper()
		if strings.ContainsAny(r.stdout, "\x1b\x07\r") {
			t.Errorf("%s printed terminal control characters from a subject name: %q", what, r.stdout)
		}
	}
	checkNoControl("tlog attest", r)
	r = runTlog(t, "verify", "--key", l.pub, "--attestation", env, "--publisher-key", keyPEM, "--proof", proof)
	if r.code != 0 {
		logResult(t, "tlog verify --attestation", r)
		t.Fatalf("tlog verify --attestation of a logged attestation: exit %d", r.code)
	}
	checkNoControl("tlog verify --attestation", r)
}

// --witness-wait must be positive, like the other durations: a negative
// value is refused rather than silently becoming the default.
func TestServeWitnessWaitValidated(t *testing.T) {
	r := expectServeFails(t, "serve --witness-wait -1s", filepath.Join(t.TempDir(), "data"), "--witness-wait", "-1s")
	if !strings.Contains(r.stderr, "--witness-wait") {
		t.Errorf("serve --witness-wait -1s: stderr %q does not name --witness-wait", r.stderr)
	}
}
