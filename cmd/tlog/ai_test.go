package main

// End-to-end tests of the AI commands: tlog attest, tlog search, tlog
// verify --attestation, tlog serve --publishers, tlog decide and tlog
// decision commit/open, run as child processes against real "tlog serve"
// processes.
//
// Oracles, independent of the attest package under test: attestations are
// signed here with github.com/sigstore/sigstore (ECDSA P-256, Ed25519, RSA
// PKCS #1 v1.5); the log entries they must become, and the canonical
// decision entries, are written out by hand from the documented formats;
// commitments are recomputed with crypto/sha256; proofs are checked with
// golang.org/x/mod/sumdb/tlog and note, and entries read back through the
// C2SP tiles.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"golang.org/x/mod/sumdb/tlog"
)

// aiLog is a "tlog serve" with a key made on first start (DATA/log.pub)
// and a scratch directory for the test's files.
type aiLog struct {
	t    *testing.T
	s    *server
	dir  string // scratch files
	data string
	pub  string // DATA/log.pub
}

const aiOrigin = "example.com/ai-log"

func startAILog(t *testing.T, name string, extra ...string) *aiLog {
	t.Helper()
	quickRaceExit(t)
	dir := t.TempDir()
	l := &aiLog{t: t, dir: dir, data: filepath.Join(dir, "data")}
	l.s = startServer(t, name, l.data, append([]string{"--origin", aiOrigin}, extra...)...)
	l.pub = filepath.Join(l.data, "log.pub")
	pub, err := os.ReadFile(l.pub)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(pub)) != l.s.vkey {
		t.Fatalf("%s holds %q; the server says its key is %q", l.pub, pub, l.s.vkey)
	}
	return l
}

func (l *aiLog) url() string { return l.s.url("") }

// file writes b to name in the scratch directory and returns its path.
func (l *aiLog) file(name string, b []byte) string {
	l.t.Helper()
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return p
}

// size is the size of the log's checkpoint, verified with x/mod.
func (l *aiLog) size() int64 {
	l.t.Helper()
	return l.s.mustCheckpoint(l.s.vkey).size
}

// runTlogFor runs a tlog command with stdin and a failure bound of its own
// (bulk commands take longer than runTlog's exitTimeout).
func runTlogFor(t testing.TB, timeout time.Duration, stdin []byte, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tlogBin, args...)
	cmd.Env = childEnv()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("tlog %s did not exit within %v; stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), timeout, &stdout, &stderr)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("tlog %s: %v", strings.Join(args, " "), err)
	}
	r := result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	if strings.Contains(r.stderr, "DATA RACE") {
		t.Errorf("tlog %s: the race detector reported a data race:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// expectOK fails the test now unless r exited 0.
func expectOK(t *testing.T, what string, r result) {
	t.Helper()
	if r.code != 0 {
		logResult(t, what, r)
		t.Fatalf("%s: exit %d, want 0", what, r.code)
	}
	checkNoPanic(t, what, r)
}

// ---- publishers and attestations ----

// publisher is a model publisher's signing key, loaded into sigstore.
type publisher struct {
	kind   string
	sv     signature.SignerVerifier
	pub    crypto.PublicKey
	pemPub []byte
	der    []byte
	fp     string // sha256:<hex of the DER SubjectPublicKeyInfo>
	ecdsa  *ecdsa.PrivateKey
}

func newPublisher(t *testing.T, kind string) *publisher {
	t.Helper()
	p := &publisher{kind: kind}
	var err error
	switch kind {
	case "ecdsa-p256":
		var k *ecdsa.PrivateKey
		if k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err == nil {
			p.sv, err = signature.LoadSignerVerifier(k, crypto.SHA256)
			p.pub, p.ecdsa = k.Public(), k
		}
	case "ed25519":
		var k ed25519.PrivateKey
		if _, k, err = ed25519.GenerateKey(rand.Reader); err == nil {
			p.sv, err = signature.LoadED25519SignerVerifier(k)
			p.pub = k.Public()
		}
	case "rsa-2048":
		var k *rsa.PrivateKey
		if k, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
			p.sv, err = signature.LoadRSAPKCS1v15SignerVerifier(k, crypto.SHA256)
			p.pub = k.Public()
		}
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatalf("%s key: %v", kind, err)
	}
	if p.pemPub, err = cryptoutils.MarshalPublicKeyToPEM(p.pub); err != nil {
		t.Fatal(err)
	}
	// The fingerprint from the standard library's encoding, not sigstore's.
	if p.der, err = x509.MarshalPKIXPublicKey(p.pub); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(p.der)
	p.fp = "sha256:" + hex.EncodeToString(sum[:])
	return p
}

// statement is an in-toto Statement v1 about one subject, with the SLSA
// provenance predicate, or the model-signing one (with resources) when
// resources > 0.
func statement(name string, content []byte, resources int) (stmt []byte, digestHex string) {
	sum := sha256.Sum256(content)
	digestHex = hex.EncodeToString(sum[:])
	predicateType, predicate := "https://slsa.dev/provenance/v1", `{"buildDefinition":{"buildType":"https://example.com/train@v1"},"runDetails":{}}`
	if resources > 0 {
		var rs []string
		for i := range resources {
			rs = append(rs, fmt.Sprintf(`{"name":"shard-%d.safetensors","digest":"%064x","algorithm":"sha256"}`, i, i))
		}
		predicateType, predicate = "https://model_signing/signature/v1.0", `{"serialization":{"method":"files"},"resources":[`+strings.Join(rs, ",")+`]}`
	}
	stmt = fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{"sha256":%q}}],"predicateType":%q,"predicate":%s}`,
		name, digestHex, predicateType, predicate)
	return stmt, digestHex
}

// sign wraps a statement in a DSSE envelope signed by p, through
// sigstore's DSSE signer.
func (p *publisher) sign(t *testing.T, stmt []byte) []byte {
	t.Helper()
	env, err := dsse.WrapSigner(p.sv, "application/vnd.in-toto+json").SignMessage(bytes.NewReader(stmt))
	if err != nil {
		t.Fatalf("%s: DSSE signing: %v", p.kind, err)
	}
	return env
}

// sigstoreBundle wraps a DSSE envelope in a Sigstore bundle v0.3 with a
// public key hint, as cosign attest-blob --bundle --key writes it.
func sigstoreBundle(env []byte, hint string) []byte {
	return fmt.Appendf(nil, `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":%q},"tlogEntries":[],"timestampVerificationData":{}},"dsseEnvelope":%s}`, hint, env)
}

// releaseEntry is the log entry an envelope must become, written out by
// hand from the model-release/v1 format: canonical JSON (sorted keys, no
// whitespace) of the statement's type, predicate type and subjects, the
// SHA-256 of the envelope's canonical JSON, the signer's fingerprint and,
// for model-signing statements, the model name and resource count. It
// returns the entry and the canonical envelope.
func releaseEntry(t *testing.T, env []byte, name, digestHex, fp string, resources int) (entry, canonEnv []byte) {
	t.Helper()
	var e struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(env, &e); err != nil || len(e.Signatures) != 1 || e.Signatures[0].KeyID != "" {
		t.Fatalf("unexpected envelope from sigstore (%v):\n%s", err, env)
	}
	// Base64 and the payload type need no JSON escapes. The log keeps an
	// ECDSA signature in its low-S form.
	canonEnv = fmt.Appendf(nil, `{"payload":"%s","payloadType":"%s","signatures":[{"sig":"%s"}]}`, e.Payload, e.PayloadType, lowSP256(t, e.Signatures[0].Sig))
	envSum := sha256.Sum256(canonEnv)
	var b strings.Builder
	fmt.Fprintf(&b, `{"envelope_digest":"sha256:%x","kind":"model-release/v1",`, envSum)
	predicateType := "https://slsa.dev/provenance/v1"
	if resources > 0 {
		fmt.Fprintf(&b, `"model_signing":{"model":"%s","resources":%d},`, name, resources)
		predicateType = "https://model_signing/signature/v1.0"
	}
	fmt.Fprintf(&b, `"predicate_type":"%s","signers":["%s"],"statement_type":"https://in-toto.io/Statement/v1","subjects":[{"digest":{"sha256":"%s"},"name":"%s"}]}`,
		predicateType, fp, digestHex, name)
	return []byte(b.String()), canonEnv
}

// attestOutput is what tlog attest printed on success.
type attestOutput struct {
	state   string // "logged" or "already logged"
	index   int64
	size    int64
	leaf    string
	signer  string
	subject []string
	proof   string
}

var attestFirstLine = regexp.MustCompile(`^(logged|already logged): index (\d+) in tree of size (\d+)$`)

func parseAttest(t *testing.T, what string, r result) attestOutput {
	t.Helper()
	var o attestOutput
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	m := attestFirstLine.FindStringSubmatch(lines[0])
	if m == nil {
		logResult(t, what, r)
		t.Fatalf("%s: first line %q is not \"logged: index N in tree of size M\"", what, lines[0])
	}
	o.state = m[1]
	o.index, _ = strconv.ParseInt(m[2], 10, 64)
	o.size, _ = strconv.ParseInt(m[3], 10, 64)
	for _, line := range lines[1:] {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s: unexpected line %q", what, line)
		}
		switch k {
		case "leaf hash":
			o.leaf = v
		case "signer":
			o.signer = v
		case "subject":
			o.subject = append(o.subject, v)
		case "proof":
			o.proof = v
		case "identity", "issuer", "time source": // keyless releases (TestKeyless)
		default:
			t.Fatalf("%s: unexpected line %q", what, line)
		}
	}
	return o
}

// searchIndices runs tlog search and returns the indices it printed.
func searchIndices(t *testing.T, l *aiLog, args ...string) []int64 {
	t.Helper()
	r := runTlogFor(t, time.Minute, nil, append([]string{"search", "--log", l.url()}, args...)...)
	expectOK(t, "tlog search "+strings.Join(args, " "), r)
	var out []int64
	for _, f := range strings.Fields(r.stdout) {
		i, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("tlog search %s printed %q, not one index per line", strings.Join(args, " "), r.stdout)
		}
		out = append(out, i)
	}
	return out
}

func TestAttestVerifySearch(t *testing.T) {
	l := startAILog(t, "attest log")
	// Some plain entries first, so that proofs have hashes in them.
	for i := range 3 {
		l.s.mustAdd(fmt.Appendf(nil, "filler %d", i))
	}
	other := newPublisher(t, "ecdsa-p256")
	otherPEM := l.file("other.pub", other.pemPub)
	modelSize := l.size()

	for _, kind := range []string{"ecdsa-p256", "ed25519", "rsa-2048"} {
		t.Run(kind, func(t *testing.T) {
			p := newPublisher(t, kind)
			keyPEM := l.file(kind+".pub", p.pemPub)
			resources := 0
			if kind == "ed25519" {
				resources = 3 // a model-signing manifest
			}
			weights := []byte("weights of acme/model-7b, signed with " + kind)
			stmt, digestHex := statement("acme/model-7b", weights, resources)
			env := p.sign(t, stmt)
			envFile := l.file(kind+".dsse.json", env)
			proofFile := filepath.Join(l.dir, kind+".tlog-proof")
			wantEntry, canonEnv := releaseEntry(t, env, "acme/model-7b", digestHex, p.fp, resources)

			r := runTlog(t, "attest", "--log", l.url(), "--envelope", envFile, "--key", keyPEM, "--log-key", l.pub, "--out", proofFile)
			expectOK(t, "tlog attest", r)
			o := parseAttest(t, "tlog attest", r)
			modelSize++
			if o.state != "logged" || o.index != modelSize-1 || o.size != modelSize {
				t.Errorf("tlog attest: %s at index %d in tree of size %d; want logged at %d in %d", o.state, o.index, o.size, modelSize-1, modelSize)
			}
			if o.signer != p.fp {
				t.Errorf("tlog attest: signer %q, want the key's fingerprint %q", o.signer, p.fp)
			}
			if !slices.Equal(o.subject, []string{"acme/model-7b"}) {
				t.Errorf("tlog attest: subjects %q, want [acme/model-7b]", o.subject)
			}
			if o.proof != proofFile {
				t.Errorf("tlog attest: proof line %q, want %q", o.proof, proofFile)
			}
			if h := tlog.RecordHash(wantEntry); o.leaf != hex.EncodeToString(h[:]) {
				t.Errorf("tlog attest: leaf hash %s, want %x (of the entry built by hand)", o.leaf, h)
			}
			if strings.Contains(r.stderr, "without --log-key") {
				t.Errorf("tlog attest --log-key still says the checkpoint was not checked: %q", r.stderr)
			}

			// The logged entry is exactly the hand-built one, and the
			// envelope and the key are kept as blobs.
			entryFile := filepath.Join(l.dir, kind+".entry")
			expectOK(t, "tlog get", runTlog(t, "get", "--log", l.url(), "--key", l.pub, "--out", entryFile, strconv.FormatInt(o.index, 10)))
			if got, _ := os.ReadFile(entryFile); !bytes.Equal(got, wantEntry) {
				t.Errorf("logged entry:\n%s\nwant:\n%s", got, wantEntry)
			}
			for name, want := range map[string][]byte{"envelope": canonEnv, "public key": p.der} {
				sum := sha256.Sum256(want)
				code, body, _, err := l.s.get(fmt.Sprintf("/api/v1/blobs/sha256:%x", sum))
				if err != nil || code != http.StatusOK || !bytes.Equal(body, want) {
					t.Errorf("GET blob of the %s: %d %v %q; want %q", name, code, err, body, want)
				}
			}

			// The proof file: c2sp.org/tlog-proof, checked with x/mod.
			proof, err := os.ReadFile(proofFile)
			if err != nil {
				t.Fatal(err)
			}
			checkProofOracle(t, proof, int(o.index), wantEntry, l.s.vkey)

			// Verified offline from the attestation itself.
			r = runTlog(t, "verify", "--key", l.pub, "--attestation", envFile, "--publisher-key", keyPEM, "--proof", proofFile)
			want := verifiedLine(o.index, o.size, aiOrigin) +
				"publisher signature: verified with " + p.fp + "\nsubject: acme/model-7b\n"
			expectVerified(t, "tlog verify --attestation", r, want)
			// And as a plain entry.
			expectVerified(t, "tlog verify --entry", runTlog(t, "verify", "--key", l.pub, "--entry", entryFile, "--proof", proofFile), verifiedLine(o.index, o.size, aiOrigin))

			// Found by digest (with and without the sha256: prefix of the
			// API), by model name and by signer.
			if got := searchIndices(t, l, "--digest", "sha256:"+digestHex); !slices.Equal(got, []int64{o.index}) {
				t.Errorf("tlog search --digest: %v, want [%d]", got, o.index)
			}
			if got := searchIndices(t, l, "--signer", p.fp); !slices.Equal(got, []int64{o.index}) {
				t.Errorf("tlog search --signer: %v, want [%d]", got, o.index)
			}
			if got := searchIndices(t, l, "--model", "acme/model-7b"); len(got) == 0 || got[0] != o.index {
				t.Errorf("tlog search --model: %v, want %d first (newest first)", got, o.index)
			}

			// Submitted again: the same index, "already logged".
			r = runTlog(t, "attest", "--log", l.url(), "--envelope", envFile, "--key", keyPEM, "--log-key", l.pub)
			expectOK(t, "tlog attest again", r)
			if o2 := parseAttest(t, "tlog attest again", r); o2.state != "already logged" || o2.index != o.index {
				t.Errorf("tlog attest again: %s at %d; want already logged at %d", o2.state, o2.index, o.index)
			}
			if l.size() != modelSize {
				t.Errorf("tree size %d after a duplicate attestation, want %d", l.size(), modelSize)
			}

			// Another publisher's key: the signature does not verify.
			r = runTlog(t, "verify", "--key", l.pub, "--attestation", envFile, "--publisher-key", otherPEM, "--proof", proofFile)
			expectRejected(t, "tlog verify --attestation with another publisher key", r)
			if !strings.Contains(r.stderr, "not verified") {
				t.Errorf("verify with another publisher key: stderr %q lacks \"not verified\"", r.stderr)
			}
			// An altered statement, properly re-signed with the same key:
			// a valid attestation, but not the one in the log.
			evil, _ := statement("acme/model-7b-evil", weights, resources)
			evilFile := l.file(kind+".evil.dsse.json", p.sign(t, evil))
			r = runTlog(t, "verify", "--key", l.pub, "--attestation", evilFile, "--publisher-key", keyPEM, "--proof", proofFile)
			expectRejected(t, "tlog verify --attestation of a re-signed, altered statement", r)
			if !strings.Contains(r.stderr, "not verified") {
				t.Errorf("verify of an altered statement: stderr %q lacks \"not verified\"", r.stderr)
			}
			// The envelope's signature altered: the publisher check fails.
			var e map[string]any
			if err := json.Unmarshal(env, &e); err != nil {
				t.Fatal(err)
			}
			sigs := e["signatures"].([]any)
			sig := sigs[0].(map[string]any)
			raw, _ := base64.StdEncoding.DecodeString(sig["sig"].(string))
			raw[len(raw)/2] ^= 1
			sig["sig"] = base64.StdEncoding.EncodeToString(raw)
			badSig, _ := json.Marshal(e)
			r = runTlog(t, "verify", "--key", l.pub, "--attestation", l.file(kind+".badsig.json", badSig), "--publisher-key", keyPEM, "--proof", proofFile)
			expectRejected(t, "tlog verify --attestation with a corrupted signature", r)
			// The attestation without the publisher key.
			r = runTlog(t, "verify", "--key", l.pub, "--attestation", envFile, "--proof", proofFile)
			expectRejected(t, "tlog verify --attestation without --publisher-key", r)

			// Tampered proof files.
			pf := splitProofFile(t, proof)
			tampered := map[string][]byte{}
			q := pf
			q.index = strconv.FormatInt(o.index+1, 10)
			tampered["index"] = q.bytes()
			q = pf
			q.hashes = slices.Clone(pf.hashes)
			h, _ := base64.StdEncoding.DecodeString(q.hashes[0])
			h[0] ^= 0x80
			q.hashes[0] = base64.StdEncoding.EncodeToString(h)
			tampered["proof hash"] = q.bytes()
			q = pf
			cpLines := strings.Split(pf.cp, "\n")
			cpLines[1] = strconv.FormatInt(o.size+1, 10) // the tree size
			q.cp = strings.Join(cpLines, "\n")
			tampered["checkpoint size"] = q.bytes()
			for name, b := range tampered {
				r = runTlog(t, "verify", "--key", l.pub, "--attestation", envFile, "--publisher-key", keyPEM, "--proof", l.file(kind+".tampered.tlog-proof", b))
				expectRejected(t, "tlog verify --attestation with a tampered proof ("+name+")", r)
			}

			// The same envelope in a Sigstore bundle v0.3 with a key hint:
			// the same entry, so the same index.
			bundleFile := l.file(kind+".sigstore.json", sigstoreBundle(env, base64.StdEncoding.EncodeToString([]byte(p.fp))))
			r = runTlog(t, "attest", "--log", l.url(), "--bundle", bundleFile, "--key", keyPEM, "--log-key", l.pub)
			expectOK(t, "tlog attest --bundle of a logged envelope", r)
			if o2 := parseAttest(t, "tlog attest --bundle", r); o2.state != "already logged" || o2.index != o.index {
				t.Errorf("tlog attest --bundle of the same envelope: %s at %d; want already logged at %d", o2.state, o2.index, o.index)
			}
			r = runTlog(t, "verify", "--key", l.pub, "--attestation", bundleFile, "--publisher-key", keyPEM, "--proof", proofFile)
			expectVerified(t, "tlog verify --attestation bundle", r, want)
		})
	}

	// A new release as a Sigstore bundle only.
	p := newPublisher(t, "ecdsa-p256")
	keyPEM := l.file("bundle-publisher.pub", p.pemPub)
	stmt, digestHex := statement("acme/model-7b", []byte("v2 weights"), 2)
	env := p.sign(t, stmt)
	bundleFile := l.file("v2.sigstore.json", sigstoreBundle(env, "publisher-key-1"))
	proofFile := filepath.Join(l.dir, "v2.tlog-proof")
	r := runTlog(t, "attest", "--log", l.url(), "--bundle", bundleFile, "--key", keyPEM, "--out", proofFile)
	expectOK(t, "tlog attest --bundle", r)
	o := parseAttest(t, "tlog attest --bundle", r)
	if o.state != "logged" || o.index != modelSize {
		t.Errorf("tlog attest --bundle: %s at %d, want logged at %d", o.state, o.index, modelSize)
	}
	if !strings.Contains(r.stderr, "without --log-key") {
		t.Errorf("tlog attest without --log-key: stderr %q does not say the checkpoint's signature was not checked", r.stderr)
	}
	wantEntry, _ := releaseEntry(t, env, "acme/model-7b", digestHex, p.fp, 2)
	proof, err := os.ReadFile(proofFile)
	if err != nil {
		t.Fatal(err)
	}
	checkProofOracle(t, proof, int(o.index), wantEntry, l.s.vkey)
	r = runTlog(t, "verify", "--key", l.pub, "--attestation", bundleFile, "--publisher-key", keyPEM, "--proof", proofFile)
	expectVerified(t, "tlog verify --attestation of a bundle", r, verifiedLine(o.index, o.size, aiOrigin)+
		"publisher signature: verified with "+p.fp+"\nsubject: acme/model-7b\n")
	// The bundle and its bare envelope are the same attestation.
	r = runTlog(t, "verify", "--key", l.pub, "--attestation", l.file("v2.dsse.json", env), "--publisher-key", keyPEM, "--proof", proofFile)
	if r.code != 0 {
		logResult(t, "tlog verify --attestation of the bundle's envelope", r)
		t.Errorf("the bundle's envelope does not verify against the bundle's proof")
	}
	r = runTlog(t, "verify", "--key", l.pub, "--attestation", bundleFile, "--publisher-key", otherPEM, "--proof", proofFile)
	expectRejected(t, "tlog verify --attestation bundle with another key", r)
	// A key-hint bundle needs the key.
	r = runTlog(t, "attest", "--log", l.url(), "--bundle", bundleFile)
	expectFailure(t, "tlog attest --bundle without --key", r, "key")
	if got := searchIndices(t, l, "--digest", digestHex); !slices.Equal(got, []int64{o.index}) {
		t.Errorf("tlog search --digest <bare hex>: %v, want [%d]", got, o.index)
	}
	if got := searchIndices(t, l, "--model", "acme/model-7b", "--limit", "1000"); len(got) != 4 || got[0] != o.index {
		t.Errorf("tlog search --model acme/model-7b: %v; want 4 releases, newest (%d) first", got, o.index)
	}
	if got := searchIndices(t, l, "--digest", "sha256:"+strings.Repeat("0", 64)); len(got) != 0 {
		t.Errorf("tlog search of an unknown digest: %v, want nothing", got)
	}
	l.s.checkNoRace()
}

// ---- serve --publishers ----

func TestServePublishers(t *testing.T) {
	quickRaceExit(t)
	a := newPublisher(t, "ecdsa-p256")
	b := newPublisher(t, "ed25519")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Malformed policies: serve refuses to start, says why, and leaves no
	// key behind (which would block the next start).
	data := filepath.Join(dir, "data")
	for _, tc := range []struct{ name, text, want string }{
		{"prefix without fingerprint", "acme/\n", "line 1: want a subject name prefix and at least one"},
		{"uppercase fingerprint", "# publishers\nacme/ sha256:" + strings.ToUpper(a.fp[7:]) + "\n", "line 2: \"sha256:" + strings.ToUpper(a.fp[7:])},
		{"fingerprint without sha256:", "acme/ " + a.fp[7:] + "\n", "is not a key fingerprint"},
		{"short fingerprint", "acme/ " + a.fp[:40] + "\n", "is not a key fingerprint"},
		{"only comments", "# nothing\n\n   # here\n", "no rules"},
		{"duplicate prefix", "acme/ " + a.fp + "\nacme/ " + b.fp + "\n", "line 2: prefix \"acme/\" already has a rule on line 1"},
	} {
		r := expectServeFails(t, "serve --publishers ("+tc.name+")", data, "--publishers", write("bad.policy", tc.text))
		if r.code == 0 || !strings.Contains(r.stderr, "--publishers") || !strings.Contains(r.stderr, tc.want) {
			logResult(t, "serve --publishers ("+tc.name+")", r)
			t.Errorf("serve --publishers (%s): exit %d; want a failure naming --publishers and %q", tc.name, r.code, tc.want)
		}
		checkNoPanic(t, tc.name, r)
	}
	r := expectServeFails(t, "serve --publishers (missing file)", data, "--publishers", filepath.Join(dir, "missing.policy"))
	if !strings.Contains(r.stderr, "missing.policy") {
		t.Errorf("serve --publishers of a missing file: stderr %q does not name it", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "log.key")); !os.IsNotExist(err) {
		t.Errorf("a serve refused for its publisher policy left a key behind (stat: %v)", err)
	}

	policy := write("publishers.policy", "# acme's models are signed by key A only\nacme/ "+a.fp+"   # A\n\nacme/shared/ "+a.fp+" "+b.fp+"\n")
	s := startServer(t, "publishers log", data, "--origin", aiOrigin, "--publishers", policy)
	if rec := s.logRecord("publisher policy loaded"); rec == nil || rec["rules"] != "2" {
		t.Errorf("serve --publishers: log record %v, want \"publisher policy loaded\" with rules=2", rec)
	}
	l := &aiLog{t: t, s: s, dir: dir, data: data, pub: filepath.Join(data, "log.pub")}
	attestAs := func(p *publisher, name string) result {
		stmt, _ := statement(name, []byte(name+" by "+p.kind), 0)
		env := l.file("release.dsse.json", p.sign(t, stmt))
		return runTlog(t, "attest", "--log", l.url(), "--envelope", env, "--key", l.file("release.pub", p.pemPub), "--log-key", l.pub)
	}

	r = attestAs(b, "acme/model")
	expectFailure(t, "B attests acme/model", r, "403")
	for _, want := range []string{"not allowed by the publisher policy", `"acme/model"`, `"acme/"`, b.fp} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("B attests acme/model: stderr %q lacks %q", r.stderr, want)
		}
	}
	if r.stdout != "" {
		t.Errorf("a refused attestation printed %q", r.stdout)
	}
	if n := l.size(); n != 0 {
		t.Errorf("tree size %d after a refused release, want 0", n)
	}
	for _, tc := range []struct {
		p    *publisher
		name string
	}{{a, "acme/model"}, {b, "acme/shared/model"}, {a, "acme/shared/model"}, {b, "other/model"}} {
		r = attestAs(tc.p, tc.name)
		expectOK(t, fmt.Sprintf("%s attests %s", tc.p.kind, tc.name), r)
		parseAttest(t, "attest", r)
	}
	if n := l.size(); n != 4 {
		t.Errorf("tree size %d, want the 4 allowed releases", n)
	}
	// A statement with two subjects, one of them not B's: refused whole.
	two := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"other/x","digest":{"sha256":"%064x"}},{"name":"acme/y","digest":{"sha256":"%064x"}}],"predicateType":"https://example.com/p","predicate":{}}`, 1, 2)
	r = runTlog(t, "attest", "--log", l.url(), "--envelope", l.file("two.dsse.json", b.sign(t, two)), "--key", l.file("b.pub", b.pemPub))
	expectFailure(t, "B attests other/x and acme/y", r, "403")
	if n := l.size(); n != 4 {
		t.Errorf("tree size %d after a refused two-subject release, want 4", n)
	}
	s.checkNoRace()
}

// ---- tlog decide ----

var decisionSystems = []string{"support-bot", "kyc-screening", "claims-triage"}

// decisionRec is a decision record as an NDJSON line (fields in a
// non-canonical order, escapes, whitespace) and the canonical entry it must
// become, written out by hand.
type decisionRec struct {
	line   string
	entry  string
	system string
}

func fakeCommitment(tag string, i int, what string) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%s", tag, i, what))
	return "sha256:" + hex.EncodeToString(h[:])
}

func decisionRecord(tag string, i int) decisionRec {
	sys := decisionSystems[i%3]
	id := fmt.Sprintf("%s-%06d", tag, i)
	idLine := id
	if i%11 == 0 {
		id, idLine = "café-"+id, `caf\u00e9-`+idLine
	}
	tm := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339)
	in, out := fakeCommitment(tag, i, "input"), fakeCommitment(tag, i, "output")
	var rationale, digest, actor string
	var data []string
	if i%3 == 1 {
		rationale = fakeCommitment(tag, i, "rationale")
	}
	if i%10 == 0 {
		data = []string{fakeCommitment(tag, i, "crm"), fakeCommitment(tag, i, "ledger")}
	}
	if i%5 == 0 {
		digest = fakeCommitment("model", 7, "weights")
	}
	if i%2 == 0 {
		actor = fmt.Sprintf("actor-%x", i*7919)
	}
	outcome := []string{"approved", "escalated", "denied", ""}[i%4]
	labels := i%7 == 0

	var b strings.Builder
	fmt.Fprintf(&b, `{"time":"%s","system":"%s","commitments":{"output":"%s","input":"%s"`, tm, sys, out, in)
	if rationale != "" {
		fmt.Fprintf(&b, `,"rationale":"%s"`, rationale)
	}
	if data != nil {
		fmt.Fprintf(&b, `,"data_accessed":["%s", "%s"]`, data[0], data[1])
	}
	b.WriteString(`}, "model":{"version":"2.1","name":"acme/model-7b"`)
	if digest != "" {
		fmt.Fprintf(&b, `,"digest":"%s"`, digest)
	}
	fmt.Fprintf(&b, `},"decision_id":"%s"`, idLine)
	if actor != "" {
		fmt.Fprintf(&b, `,"actor":"%s"`, actor)
	}
	if outcome != "" {
		fmt.Fprintf(&b, `,"outcome":"%s"`, outcome)
	}
	if labels {
		b.WriteString(`,"labels":{"region":"eu","channel":"web"}`)
	}
	b.WriteString("}")

	var e strings.Builder
	e.WriteString("{")
	if actor != "" {
		fmt.Fprintf(&e, `"actor":"%s",`, actor)
	}
	e.WriteString(`"commitments":{`)
	if data != nil {
		fmt.Fprintf(&e, `"data_accessed":["%s","%s"],`, data[0], data[1])
	}
	fmt.Fprintf(&e, `"input":"%s","output":"%s"`, in, out)
	if rationale != "" {
		fmt.Fprintf(&e, `,"rationale":"%s"`, rationale)
	}
	fmt.Fprintf(&e, `},"decision_id":"%s","kind":"decision/v1"`, id)
	if labels {
		e.WriteString(`,"labels":{"channel":"web","region":"eu"}`)
	}
	e.WriteString(`,"model":{`)
	if digest != "" {
		fmt.Fprintf(&e, `"digest":"%s",`, digest)
	}
	e.WriteString(`"name":"acme/model-7b","version":"2.1"}`)
	if outcome != "" {
		fmt.Fprintf(&e, `,"outcome":"%s"`, outcome)
	}
	fmt.Fprintf(&e, `,"system":"%s","time":"%s"}`, sys, tm)
	return decisionRec{line: b.String(), entry: e.String(), system: sys}
}

func decisionRecords(tag string, n int) []decisionRec {
	out := make([]decisionRec, n)
	for i := range out {
		out[i] = decisionRecord(tag, i)
	}
	return out
}

func ndjson(recs []decisionRec) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		b.WriteString(r.line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// decideSummary is decide's final line on stderr.
type decideSummary struct {
	records, fresh, dups int64
	rate                 int64
}

var summaryLine = regexp.MustCompile(`^logged ([\d,]+) records \(([\d,]+) new, ([\d,]+) already logged\) in (\S+): ([\d,]+) records/s$`)

// progressLine is a periodic progress line (output not a terminal).
var progressLine = regexp.MustCompile(`^[\d,]+ records  [\d,]+/s(  +\d+%(  ETA \S+)?)?$`)

func uncomma(s string) int64 {
	n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

// parseSummary finds decide's summary in stderr: its last line, with only
// progress lines before it.
func parseSummary(t *testing.T, what string, r result) decideSummary {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	m := summaryLine.FindStringSubmatch(last)
	if m == nil {
		logResult(t, what, r)
		t.Fatalf("%s: last stderr line %q is not a summary", what, last)
	}
	for _, l := range lines[:len(lines)-1] {
		if !progressLine.MatchString(l) {
			t.Errorf("%s: stderr line %q is neither a progress line nor the summary", what, l)
		}
		if strings.Contains(l, "\r") || strings.Contains(l, "\033") {
			t.Errorf("%s: terminal control characters on a stderr that is not a terminal: %q", what, l)
		}
	}
	if _, err := time.ParseDuration(m[4]); err != nil {
		t.Errorf("%s: summary duration %q: %v", what, m[4], err)
	}
	return decideSummary{uncomma(m[1]), uncomma(m[2]), uncomma(m[3]), uncomma(m[5])}
}

func (l *aiLog) decide(args ...string) result {
	l.t.Helper()
	return runTlogFor(l.t, 2*time.Minute, nil, append([]string{"decide", "--log", l.url()}, args...)...)
}

func expectSummary(t *testing.T, what string, r result, records, fresh, dups int64) decideSummary {
	t.Helper()
	expectOK(t, what, r)
	s := parseSummary(t, what, r)
	if s.records != records || s.fresh != fresh || s.dups != dups {
		logResult(t, what, r)
		t.Errorf("%s: summary says %d records, %d new, %d already logged; want %d, %d, %d", what, s.records, s.fresh, s.dups, records, fresh, dups)
	}
	if r.stdout != "" {
		t.Errorf("%s: wrote %q to stdout", what, r.stdout)
	}
	return s
}

func TestDecideBulkResumeSearch(t *testing.T) {
	const n, prefix = 25000, 10000
	l := startAILog(t, "decide log")
	recs := decisionRecords("bulk", n)
	full := l.file("decisions.ndjson", ndjson(recs))
	head := l.file("head.ndjson", ndjson(recs[:prefix]))
	// One run logs them all.
	r := l.decide("--file", full)
	s := expectSummary(t, "decide of 25,000 records", r, n, n, 0)
	if s.rate <= 0 {
		t.Errorf("summary rate %d records/s", s.rate)
	}
	t.Logf("decide: %s", strings.TrimSpace(r.stderr))
	if got := l.size(); got != n {
		t.Fatalf("tree size %d, want %d", got, n)
	}

	// An interrupted run, on another log: only the first 10,000 lines
	// made it; resumed on the whole file, the rest is added.
	l2 := startAILog(t, "resumed decide log")
	expectSummary(t, "decide of the first 10,000", l2.decide("--file", head), prefix, prefix, 0)
	if got := l2.size(); got != prefix {
		t.Fatalf("tree size %d after 10,000 records, want %d", got, prefix)
	}
	expectSummary(t, "decide of the whole file after the first 10,000", l2.decide("--file", full), n, n-prefix, prefix)
	if got := l2.size(); got != n {
		t.Fatalf("resumed log: tree size %d, want %d", got, n)
	}
	l2.s.kill()

	// Once more: nothing new.
	expectSummary(t, "decide of the whole file again", l.decide("--file", full, "--batch", "5000", "--parallel", "8"), n, 0, n)
	if got := l.size(); got != n {
		t.Fatalf("tree size %d after a rerun, want %d", got, n)
	}

	// The log holds exactly the canonical entries, each once.
	entries, err := readEntries(l.s, n)
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string]string, n) // entry → system
	for _, r := range recs {
		want[r.entry] = r.system
	}
	bySystem := map[string][]int64{}
	seen := make(map[string]bool, n)
	for i, e := range entries {
		sys, ok := want[string(e)]
		if !ok || seen[string(e)] {
			t.Fatalf("entry %d is not one of the records' canonical entries (or a repeat):\n%s", i, e)
		}
		seen[string(e)] = true
		bySystem[sys] = append(bySystem[sys], int64(i))
	}

	// tlog search --system --all: exactly each system's entries, newest
	// first.
	for _, sys := range decisionSystems {
		got := searchIndices(t, l, "--system", sys, "--all", "--limit", "1000")
		wantIdx := slices.Clone(bySystem[sys])
		slices.Reverse(wantIdx)
		if !slices.Equal(got, wantIdx) {
			t.Errorf("tlog search --system %s --all: %d indices, want %d (the entries of that system, newest first)", sys, len(got), len(wantIdx))
		}
	}
	// Without --all, one page and a note of more.
	r = runTlog(t, "search", "--log", l.url(), "--system", "support-bot", "--limit", "10")
	expectOK(t, "tlog search --limit 10", r)
	if got := strings.Count(r.stdout, "\n"); got != 10 || !strings.Contains(r.stderr, "more results") {
		t.Errorf("tlog search --limit 10 of %d hits: %d lines, stderr %q; want 10 and a note of more", len(bySystem["support-bot"]), got, r.stderr)
	}
	// The model digest of the records (every fifth) is searchable too.
	if got := searchIndices(t, l, "--digest", fakeCommitment("model", 7, "weights"), "--all", "--limit", "1000"); len(got) != n/5 {
		t.Errorf("tlog search --digest of the records' model: %d hits, want %d", len(got), n/5)
	}
	l.s.checkNoRace()
}

func TestDecideBadLine(t *testing.T) {
	l := startAILog(t, "decide bad line log")
	recs := decisionRecords("badline", 12)
	badCommitment := strings.Replace(recs[6].line, fakeCommitment("badline", 6, "input"), "sha256:XYZ", 1)
	badField := strings.Replace(recs[8].line, `"time":`, `"extra":"x","time":`, 1)
	lines := []string{
		recs[0].line,
		recs[1].line + "\r", // CRLF
		"",
		recs[3].line,
		recs[4].line,
		recs[5].line,
		badCommitment, // line 7
		recs[7].line,
		badField, // line 9
		recs[9].line,
		recs[10].line,
		recs[11].line,
	}
	file := l.file("bad.ndjson", []byte(strings.Join(lines, "\n")+"\n"))
	r := l.decide("--file", file)
	expectFailure(t, "decide with bad lines", r, "line 7: commitments.input \"sha256:XYZ\" is not sha256:<64 lowercase hex>")
	for _, want := range []string{
		"line 9: record is not a decision JSON object: unknown field \"extra\"",
		"refused 2 record(s) of the request starting at line 1, nothing of it was logged",
		"run the same command again to resume",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("decide with bad lines: stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, bad := range []string{"line 6:", "line 8:", "line 10:"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("decide with bad lines 7 and 9: stderr names %q:\n%s", bad, r.stderr)
		}
	}
	if got := l.size(); got != 0 {
		t.Fatalf("tree size %d after a refused request, want 0", got)
	}

	// In requests of 4 records, one at a time: the first request (lines
	// 1, 2, 4, 5) is logged, the second (6…9) is refused whole, and the
	// run stops.
	r = l.decide("--file", file, "--batch", "4", "--parallel", "1")
	expectFailure(t, "decide --batch 4 with bad lines", r, "request starting at line 6, nothing of it was logged")
	if !strings.Contains(r.stderr, "line 7: commitments.input") || !strings.Contains(r.stderr, "line 9: record is not") {
		t.Errorf("decide --batch 4: the bad lines are not named by their file lines:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "logged 4 records (4 new, 0 already logged)") {
		t.Errorf("decide --batch 4: stderr does not count the 4 logged records:\n%s", r.stderr)
	}
	if got := l.size(); got != 4 {
		t.Fatalf("tree size %d after the first request of 4, want 4", got)
	}

	// Fixed, the file is resumed: the 4 logged come back as duplicates.
	lines[6], lines[8] = recs[6].line, recs[8].line
	fixed := l.file("fixed.ndjson", []byte(strings.Join(lines, "\n")))
	expectSummary(t, "decide of the fixed file", l.decide("--file", fixed, "--batch", "4"), 11, 7, 4)
	if got := l.size(); got != 11 {
		t.Fatalf("tree size %d, want 11", got)
	}

	// Other refusals of whole files.
	for _, tc := range []struct{ name, text, want string }{
		{"a line that is not JSON", recs[0].line + "\nnot json\n", "line 2: record is not a decision JSON object"},
		{"a missing field", `{"system":"s","decision_id":"d","time":"2025-01-01T00:00:00Z","model":{"name":"m","version":"1"},"commitments":{"output":"` + fakeCommitment("x", 0, "o") + `"}}` + "\n", "line 1: commitments.input is required"},
		{"a bad time", strings.Replace(recs[2].line, "2025-03-01T", "2025-13-01T", 1) + "\n", "line 1: time"},
		{"a duplicate field", strings.Replace(recs[2].line, `"system":`, `"system":"a","system":`, 1) + "\n", `line 1: record is not a decision JSON object: record: duplicate field "system"`},
	} {
		r := l.decide("--file", l.file("refused.ndjson", []byte(tc.text)))
		expectFailure(t, "decide with "+tc.name, r, "")
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("decide with %s: stderr lacks %q:\n%s", tc.name, tc.want, r.stderr)
		}
	}
	// Nothing in the file at all: nothing to do.
	expectSummary(t, "decide of blank lines", l.decide("--file", l.file("blank.ndjson", []byte("\n  \n\n"))), 0, 0, 0)
	if got := l.size(); got != 11 {
		t.Fatalf("tree size %d after refused files, want 11", got)
	}
	l.s.checkNoRace()
}

// receipt is a full receipt line of decide --receipts.
type receipt struct {
	Index          *uint64 `json:"index"`
	LeafHash       []byte  `json:"leaf_hash"`
	Duplicate      bool    `json:"duplicate"`
	Entry          []byte  `json:"entry"`
	Checkpoint     string  `json:"checkpoint"`
	InclusionProof *struct {
		Index    uint64   `json:"index"`
		TreeSize int64    `json:"tree_size"`
		Hashes   [][]byte `json:"hashes"`
	} `json:"inclusion_proof"`
	TlogProof string `json:"tlog_proof"`
}

func readReceipts(t *testing.T, path string) []receipt {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []receipt
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var r receipt
		dec := json.NewDecoder(strings.NewReader(line))
		if err := dec.Decode(&r); err != nil || dec.More() {
			t.Fatalf("receipt line %d is not one JSON object (%v): %q", i+1, err, line)
		}
		if r.Index == nil || len(r.Entry) == 0 || r.Checkpoint == "" || r.InclusionProof == nil || r.TlogProof == "" || len(r.LeafHash) != 32 {
			t.Fatalf("receipt line %d lacks index, entry, checkpoint, inclusion_proof, tlog_proof or leaf_hash: %q", i+1, line)
		}
		out = append(out, r)
	}
	return out
}

func TestDecideReceipts(t *testing.T) {
	l := startAILog(t, "decide receipts log")
	l.s.mustAdd([]byte("an entry before the decisions"))
	const n = 300
	recs := decisionRecords("receipts", n)
	file := l.file("decisions.ndjson", ndjson(recs))
	receiptsFile := filepath.Join(l.dir, "receipts.ndjson")
	expectSummary(t, "decide --receipts", l.decide("--file", file, "--receipts", receiptsFile, "--batch", "64"), n, n, 0)
	rs := readReceipts(t, receiptsFile)
	if len(rs) != n {
		t.Fatalf("%d receipts for %d records", len(rs), n)
	}
	want := map[string]bool{}
	for _, r := range recs {
		want[r.entry] = true
	}
	indices := map[uint64]string{}
	for i, r := range rs {
		if !want[string(r.Entry)] {
			t.Fatalf("receipt %d: entry is not one of the records' canonical entries:\n%s", i, r.Entry)
		}
		if prev, ok := indices[*r.Index]; ok {
			t.Fatalf("receipts %s and %d both have index %d", prev, i, *r.Index)
		}
		indices[*r.Index] = strconv.Itoa(i)
		if *r.Index < 1 || *r.Index > n {
			t.Errorf("receipt %d: index %d, want 1…%d", i, *r.Index, n)
		}
		if h := tlog.RecordHash(r.Entry); !bytes.Equal(r.LeafHash, h[:]) || r.Duplicate {
			t.Errorf("receipt %d: leaf hash %x (duplicate %v), want %x", i, r.LeafHash, r.Duplicate, h)
		}
		if r.InclusionProof.Index != *r.Index {
			t.Errorf("receipt %d: inclusion proof of index %d, receipt index %d", i, r.InclusionProof.Index, *r.Index)
		}
		cp, err := openCheckpoint([]byte(r.Checkpoint), l.s.vkey)
		if err != nil {
			t.Fatalf("receipt %d: checkpoint: %v", i, err)
		}
		var rp tlog.RecordProof
		for _, h := range r.InclusionProof.Hashes {
			rp = append(rp, tlog.Hash(h))
		}
		if r.InclusionProof.TreeSize != cp.size {
			t.Errorf("receipt %d: inclusion proof for tree size %d, checkpoint of %d", i, r.InclusionProof.TreeSize, cp.size)
		} else if err := tlog.CheckRecord(rp, cp.size, cp.root, int64(*r.Index), tlog.RecordHash(r.Entry)); err != nil {
			t.Errorf("receipt %d: x/mod rejects the inclusion proof: %v", i, err)
		}
	}
	// Spot checks: x/mod on the tlog-proof, and tlog verify on the entry
	// and the tlog-proof written to files.
	for _, i := range []int{0, 1, n / 2, n - 1} {
		r := rs[i]
		cp := checkProofOracle(t, []byte(r.TlogProof), int(*r.Index), r.Entry, l.s.vkey)
		if string(cp.note) != r.Checkpoint {
			t.Errorf("receipt %d: the tlog_proof's checkpoint is not the receipt's checkpoint", i)
		}
		entryFile := l.file(fmt.Sprintf("receipt-%d.entry", i), r.Entry)
		proofFile := l.file(fmt.Sprintf("receipt-%d.tlog-proof", i), []byte(r.TlogProof))
		vr := runTlog(t, "verify", "--key", l.pub, "--entry", entryFile, "--proof", proofFile)
		expectVerified(t, fmt.Sprintf("tlog verify of receipt %d", i), vr, verifiedLine(int64(*r.Index), cp.size, aiOrigin))
		// The receipt's entry is the one at its index.
		got := filepath.Join(l.dir, "got.entry")
		expectOK(t, "tlog get", runTlog(t, "get", "--log", l.url(), "--key", l.pub, "--out", got, strconv.FormatUint(*r.Index, 10)))
		if b, _ := os.ReadFile(got); !bytes.Equal(b, r.Entry) {
			t.Errorf("receipt %d: entry at index %d is %q, the receipt says %q", i, *r.Index, b, r.Entry)
		}
	}

	// Run again, from standard input: every receipt is a duplicate with its
	// original index, and the receipts file is rewritten, not appended to.
	b, _ := os.ReadFile(file)
	r := runTlogFor(t, time.Minute, b, "decide", "--log", l.url(), "--file", "-", "--receipts", receiptsFile)
	expectSummary(t, "decide --file - --receipts again", r, n, 0, n)
	again := readReceipts(t, receiptsFile)
	if len(again) != n {
		t.Fatalf("%d receipts after a rerun, want %d", len(again), n)
	}
	first := map[string]uint64{}
	for _, r := range rs {
		first[string(r.Entry)] = *r.Index
	}
	for i, r := range again {
		if !r.Duplicate || first[string(r.Entry)] != *r.Index {
			t.Errorf("rerun receipt %d: index %d duplicate %v; want duplicate of index %d", i, *r.Index, r.Duplicate, first[string(r.Entry)])
		}
	}
	if got := l.size(); got != n+1 {
		t.Errorf("tree size %d, want %d", got, n+1)
	}
	l.s.checkNoRace()
}

// ---- tlog decision commit / open ----

func TestDecisionCommitOpen(t *testing.T) {
	quickRaceExit(t)
	dir := t.TempDir()
	content := []byte("prompt: may I have a refund for order 1234?\nanswer follows\x00\xff")
	in := filepath.Join(dir, "prompt.txt")
	if err := os.WriteFile(in, content, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runTlog(t, "decision", "commit", "--in", in)
	expectOK(t, "decision commit", r)
	commitment := strings.TrimSuffix(r.stdout, "\n")
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(commitment) {
		t.Fatalf("decision commit printed %q, want sha256:<64 hex>", r.stdout)
	}
	saltFile := in + ".salt"
	if !strings.Contains(r.stderr, saltFile) {
		t.Errorf("decision commit: stderr %q does not name the salt file", r.stderr)
	}
	saltText, err := os.ReadFile(saltFile)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).Match(saltText) {
		t.Fatalf("salt file holds %q, want 64 hex digits and a newline", saltText)
	}
	if st, err := os.Stat(saltFile); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o600 {
		t.Errorf("salt file mode %v, want 0600", st.Mode().Perm())
	}
	salt, _ := hex.DecodeString(strings.TrimSpace(string(saltText)))
	h := sha256.New()
	h.Write([]byte("tlog/commitment/v1\x00"))
	h.Write(salt)
	h.Write(content)
	if want := "sha256:" + hex.EncodeToString(h.Sum(nil)); commitment != want {
		t.Fatalf("commitment %s, want SHA-256(domain || salt || content) = %s", commitment, want)
	}

	open := func(args ...string) result {
		return runTlog(t, append([]string{"decision", "open"}, args...)...)
	}
	r = open("--commitment", commitment, "--salt", saltFile, "--in", in)
	expectOK(t, "decision open with the salt file", r)
	if !strings.HasPrefix(r.stdout, "opened") {
		t.Errorf("decision open: stdout %q, want \"opened\"", r.stdout)
	}
	r = open("--commitment", commitment, "--salt", hex.EncodeToString(salt), "--in", in)
	expectOK(t, "decision open with the salt in hex", r)
	if !strings.HasPrefix(r.stdout, "opened") {
		t.Errorf("decision open --salt HEX: stdout %q, want \"opened\"", r.stdout)
	}

	wrong := slices.Clone(salt)
	wrong[31] ^= 1
	modified := filepath.Join(dir, "modified.txt")
	if err := os.WriteFile(modified, append(slices.Clone(content), ' '), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"a wrong salt", []string{"--commitment", commitment, "--salt", hex.EncodeToString(wrong), "--in", in}},
		{"modified content", []string{"--commitment", commitment, "--salt", saltFile, "--in", modified}},
		{"another commitment", []string{"--commitment", fakeCommitment("x", 1, "y"), "--salt", saltFile, "--in", in}},
		{"an uppercase commitment", []string{"--commitment", "sha256:" + strings.ToUpper(commitment[7:]), "--salt", saltFile, "--in", in}},
	} {
		r := open(tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, "NOT opened") || strings.Contains(r.stdout, "opened") {
			logResult(t, "decision open with "+tc.name, r)
			t.Errorf("decision open with %s: exit %d; want 1 and \"NOT opened\"", tc.name, r.code)
		}
		checkNoPanic(t, tc.name, r)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a short hex salt that is no file", []string{"--commitment", commitment, "--salt", "abcd", "--in", in}, "neither 64 hex digits nor a readable file"},
		{"a salt of 64 non-hex characters", []string{"--commitment", commitment, "--salt", strings.Repeat("z", 64), "--in", in}, "64 hex digits"},
		{"no --salt", []string{"--commitment", commitment, "--in", in}, "required"},
		{"a missing content file", []string{"--commitment", commitment, "--salt", saltFile, "--in", filepath.Join(dir, "missing.txt")}, "missing.txt"},
	} {
		expectFailure(t, "decision open with "+tc.name, open(tc.args...), tc.want)
	}

	// Never overwrites a salt.
	r = runTlog(t, "decision", "commit", "--in", in)
	expectFailure(t, "decision commit over an existing salt", r, "salt")
	if r.stdout != "" {
		t.Errorf("a refused commit printed %q", r.stdout)
	}
	if got, _ := os.ReadFile(saltFile); !bytes.Equal(got, saltText) {
		t.Errorf("a refused commit changed the salt file: %q, was %q", got, saltText)
	}
	// A new salt elsewhere makes another commitment to the same content.
	other := filepath.Join(dir, "other.salt")
	r = runTlog(t, "decision", "commit", "--in", in, "--salt-out", other)
	expectOK(t, "decision commit --salt-out", r)
	if c2 := strings.TrimSpace(r.stdout); c2 == commitment {
		t.Errorf("two commits of the same content gave the same commitment %s: the salt is not fresh", c2)
	} else {
		expectOK(t, "decision open of the second commitment", open("--commitment", c2, "--salt", other, "--in", in))
	}
	expectFailure(t, "decision commit without --in", runTlog(t, "decision", "commit"), "--in")

	// A decision record committing to the content is accepted by a log.
	l := startAILog(t, "commitment log")
	rec := fmt.Sprintf(`{"system":"refund-bot","decision_id":"r-1","time":"2025-06-01T12:00:00.5+02:00","model":{"name":"acme/model-7b","version":"3"},"outcome":"approved","commitments":{"input":%q,"output":%q}}`,
		commitment, fakeCommitment("refund", 1, "output"))
	expectSummary(t, "decide of one record", l.decide("--file", l.file("one.ndjson", []byte(rec))), 1, 1, 0)
	entryFile := filepath.Join(l.dir, "entry")
	expectOK(t, "tlog get", runTlog(t, "get", "--log", l.url(), "--key", l.pub, "--out", entryFile, "0"))
	wantEntry := fmt.Sprintf(`{"commitments":{"input":"%s","output":"%s"},"decision_id":"r-1","kind":"decision/v1","model":{"name":"acme/model-7b","version":"3"},"outcome":"approved","system":"refund-bot","time":"2025-06-01T12:00:00.5+02:00"}`,
		commitment, fakeCommitment("refund", 1, "output"))
	if got, _ := os.ReadFile(entryFile); string(got) != wantEntry {
		t.Errorf("logged entry:\n%s\nwant:\n%s", got, wantEntry)
	}
	if got := searchIndices(t, l, "--system", "refund-bot"); !slices.Equal(got, []int64{0}) {
		t.Errorf("tlog search --system refund-bot: %v, want [0]", got)
	}
}

// ---- ugly inputs ----

func TestAICommandErrors(t *testing.T) {
	l := startAILog(t, "errors log")
	p := newPublisher(t, "ed25519")
	keyPEM := l.file("p.pub", p.pemPub)
	stmt, _ := statement("acme/model", []byte("w"), 0)
	env := l.file("env.json", p.sign(t, stmt))
	bundle := l.file("bundle.json", sigstoreBundle(p.sign(t, stmt), "k"))
	notJSON := l.file("not.json", []byte("-----BEGIN PUBLIC KEY-----\nnot json\n"))
	neither := l.file("neither.json", []byte(`{"hello":"world"}`))
	records := l.file("d.ndjson", []byte(decisionRecord("errors", 0).line+"\n"))
	proof := filepath.Join(l.dir, "p.tlog-proof")
	expectOK(t, "tlog attest", runTlog(t, "attest", "--log", l.url(), "--envelope", env, "--key", keyPEM, "--out", proof))
	badStmt := l.file("bad-stmt.json", p.sign(t, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha512":"00"}}],"predicateType":"x","predicate":{}}`)))
	wrongType, err := dsse.WrapSigner(p.sv, "text/plain").SignMessage(bytes.NewReader(stmt))
	if err != nil {
		t.Fatal(err)
	}
	wrongTypeFile := l.file("wrong-type.json", wrongType)
	// A statement whose entry would exceed the log's 64 KiB entry limit.
	var subjects []string
	for i := range 700 {
		subjects = append(subjects, fmt.Sprintf(`{"name":"acme/shard-%04d","digest":{"sha256":"%064x"}}`, i, i))
	}
	tooLarge := l.file("too-large.json", p.sign(t, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[`+strings.Join(subjects, ",")+`],"predicateType":"x","predicate":{}}`)))
	logURL := l.url()

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"attest without --log", []string{"attest", "--envelope", env, "--key", keyPEM}, "--log"},
		{"attest with --bundle and --envelope", []string{"attest", "--log", logURL, "--bundle", bundle, "--envelope", env, "--key", keyPEM}, "exactly one of --bundle FILE and --envelope FILE"},
		{"attest with neither --bundle nor --envelope", []string{"attest", "--log", logURL, "--key", keyPEM}, "exactly one of --bundle FILE and --envelope FILE"},
		{"attest --envelope of a non-JSON file", []string{"attest", "--log", logURL, "--envelope", notJSON, "--key", keyPEM}, "not.json is not JSON"},
		{"attest --bundle of a non-JSON file", []string{"attest", "--log", logURL, "--bundle", notJSON, "--key", keyPEM}, "not.json is not JSON"},
		{"attest --envelope of a missing file", []string{"attest", "--log", logURL, "--envelope", filepath.Join(l.dir, "missing.json"), "--key", keyPEM}, "missing.json"},
		{"attest --envelope without --key", []string{"attest", "--log", logURL, "--envelope", env}, "public_key or certificate"},
		{"attest --key of a non-PEM file", []string{"attest", "--log", logURL, "--envelope", env, "--key", env}, "PEM"},
		{"attest --envelope given a bundle", []string{"attest", "--log", logURL, "--envelope", bundle, "--key", keyPEM}, "would be refused"},
		{"attest --bundle given an envelope", []string{"attest", "--log", logURL, "--bundle", env, "--key", keyPEM}, "mediaType"},
		{"attest of a statement without sha256", []string{"attest", "--log", logURL, "--envelope", badStmt, "--key", keyPEM}, "sha256"},
		{"attest of a non-in-toto payload type", []string{"attest", "--log", logURL, "--envelope", wrongTypeFile, "--key", keyPEM}, "payloadType"},
		{"attest of a statement too large for an entry", []string{"attest", "--log", logURL, "--envelope", tooLarge, "--key", keyPEM}, "split the release into several statements"},
		{"attest --wait-witnessed on a log without witnesses", []string{"attest", "--log", logURL, "--envelope", env, "--key", keyPEM, "--wait-witnessed"}, "no witness policy"},
		{"verify --attestation of a non-JSON file", []string{"verify", "--key", l.pub, "--attestation", notJSON, "--publisher-key", keyPEM, "--proof", proof}, "not JSON"},
		{"verify --attestation of JSON that is neither", []string{"verify", "--key", l.pub, "--attestation", neither, "--publisher-key", keyPEM, "--proof", proof}, "neither a Sigstore bundle"},
		{"verify with --attestation and --entry", []string{"verify", "--key", l.pub, "--attestation", env, "--entry", env, "--proof", proof}, "--attestation"},
		{"search with two criteria", []string{"search", "--log", logURL, "--system", "a", "--model", "b"}, "exactly one of --digest, --model, --signer, --identity, --system, --actor"},
		{"search with no criterion", []string{"search", "--log", logURL}, "exactly one of"},
		{"search without --log", []string{"search", "--system", "a"}, "--log"},
		{"search of a malformed digest", []string{"search", "--log", logURL, "--digest", "sha256:XYZ"}, "400"},
		{"search --limit 0", []string{"search", "--log", logURL, "--system", "a", "--limit", "0"}, "limit"},
		{"decide --batch 0", []string{"decide", "--log", logURL, "--file", records, "--batch", "0"}, "--batch must be 1…10000"},
		{"decide --batch 10001", []string{"decide", "--log", logURL, "--file", records, "--batch", "10001"}, "--batch must be 1…10000"},
		{"decide --parallel 0", []string{"decide", "--log", logURL, "--file", records, "--parallel", "0"}, "--parallel"},
		{"decide --parallel 65", []string{"decide", "--log", logURL, "--file", records, "--parallel", "65"}, "--parallel must be 1…64"},
		{"decide without --file", []string{"decide", "--log", logURL}, "--file"},
		{"decide without --log", []string{"decide", "--file", records}, "--log"},
		{"decide of a missing file", []string{"decide", "--log", logURL, "--file", filepath.Join(l.dir, "missing.ndjson")}, "missing.ndjson"},
		{"decide --receipts in a missing directory", []string{"decide", "--log", logURL, "--file", records, "--receipts", filepath.Join(l.dir, "no", "r.ndjson")}, "r.ndjson"},
	} {
		r := runTlog(t, tc.args...)
		expectFailure(t, tc.name, r, tc.want)
		if r.stdout != "" {
			t.Errorf("%s: wrote %q to stdout", tc.name, r.stdout)
		}
	}
	// Nothing but the one attestation was logged.
	if got := l.size(); got != 1 {
		t.Errorf("tree size %d after the refused commands, want 1", got)
	}
	l.s.checkNoRace()
}

// lowSP256 returns a P-256 ECDSA signature (base64 of ASN.1) with s ≤ n/2,
// the form the log keeps; other signatures (Ed25519, RSA) unchanged.
func lowSP256(t *testing.T, sigB64 string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ R, S *big.Int }
	n := elliptic.P256().Params().N
	if rest, err := asn1.Unmarshal(raw, &v); err != nil || len(rest) != 0 || v.R.Cmp(n) >= 0 || v.S.Cmp(n) >= 0 {
		return sigB64
	}
	if v.S.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		v.S.Sub(n, v.S)
	}
	out, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(out)
}
