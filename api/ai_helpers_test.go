package api

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/internal/faultfs"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// Helpers of the tests of the AI entry API (attestations, decisions,
// blobs, search, receipts). Wire formats are written from the API's
// documentation, not taken from the handlers' types.

// newAIServer is newServer with an API Config that mod may change
// (Publishers, Witnessed, WitnessWait, body limits). mod sees the server's
// log and signer (ts.Server is not set yet) and Config with Log and Logger
// set.
func newAIServer(t *testing.T, mod func(ts *testServer, c *Config)) *testServer {
	t.Helper()
	skey, _, err := signer.GenerateKey(rand.Reader, "example.com/ai-api-test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	fs := faultfs.New(vfs.NewMem())
	logger := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := log.Open(log.Config{Dir: "/log", FS: fs, Signer: s, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{log: l, signer: s, fs: fs}
	cfg := Config{Log: l, Logger: logger}
	if mod != nil {
		mod(ts, &cfg)
	}
	ts.Server = httptest.NewServer(New(cfg))
	t.Cleanup(func() {
		fs.Resume()
		ts.Server.Close()
		l.Close()
	})
	return ts
}

// post sends body with the given Content-Type ("" sends none).
func (ts *testServer) post(t *testing.T, path, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	return ts.send(t, path, contentType, body)
}

func (ts *testServer) size() uint64 { return ts.log.Published().Size }

// ---- receipts ----

// wireReceipt is a receipt as the API documents it. Pointers tell absent
// fields from empty ones.
type wireReceipt struct {
	Index          uint64         `json:"index"`
	LeafHash       []byte         `json:"leaf_hash"`
	Duplicate      bool           `json:"duplicate"`
	Entry          []byte         `json:"entry"`
	Checkpoint     string         `json:"checkpoint"`
	InclusionProof *wireInclusion `json:"inclusion_proof"`
	TlogProof      string         `json:"tlog_proof"`
	Witnessed      *bool          `json:"witnessed"`
}

var (
	fullReceiptFields    = []string{"index", "leaf_hash", "entry", "checkpoint", "inclusion_proof", "tlog_proof"}
	compactReceiptFields = []string{"index", "leaf_hash"}
)

// decodeReceipt decodes one receipt, requiring every field of required
// and no field but those, "duplicate", "witnessed" and
// "logged_no_later_than".
func decodeReceipt(t *testing.T, b []byte, required []string) wireReceipt {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("receipt is not a JSON object: %v: %s", err, b)
	}
	for _, f := range required {
		if _, ok := raw[f]; !ok {
			t.Fatalf("receipt lacks %q: %s", f, b)
		}
	}
	for f := range raw {
		if !slices.Contains(required, f) && f != "duplicate" && f != "witnessed" && f != "logged_no_later_than" {
			t.Fatalf("receipt has unexpected field %q: %s", f, b)
		}
	}
	var r wireReceipt
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("receipt: %v: %s", err, b)
	}
	return r
}

// receiptOK requires a 200 JSON answer holding one full receipt.
func receiptOK(t *testing.T, resp *http.Response, body []byte) wireReceipt {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s, want 200", resp.Request.URL, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q", resp.Request.URL, ct)
	}
	return decodeReceipt(t, body, fullReceiptFields)
}

// ndjsonReceipts splits an NDJSON answer into receipts.
func ndjsonReceipts(t *testing.T, resp *http.Response, body []byte, required []string) []wireReceipt {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") {
		t.Fatalf("%s: Content-Type %q, want application/x-ndjson", resp.Request.URL, ct)
	}
	if !bytes.HasSuffix(body, []byte("\n")) {
		t.Fatalf("NDJSON answer does not end in a newline")
	}
	var out []wireReceipt
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			t.Fatalf("empty line in the NDJSON answer")
		}
		out = append(out, decodeReceipt(t, sc.Bytes(), required))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// leafHash is the RFC 6962 leaf hash, computed here.
func leafHash(entry []byte) [32]byte {
	return sha256.Sum256(append([]byte{0}, entry...))
}

// receiptChecker verifies receipts independently: x/mod's note package
// opens the checkpoint with the log's verifier key (and extra verifiers,
// for cosignatures), x/mod's CheckRecord checks the inclusion proof, and
// proofs.VerifyTlogProof the tlog-proof file.
type receiptChecker struct {
	verifiers note.Verifiers
	logV      *signer.Verifier
	origin    string
}

func newReceiptChecker(t *testing.T, ts *testServer, extra ...note.Verifier) *receiptChecker {
	t.Helper()
	v, err := note.NewVerifier(ts.log.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	lv, err := signer.NewVerifier(ts.log.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return &receiptChecker{verifiers: note.VerifierList(append([]note.Verifier{v}, extra...)...), logV: lv, origin: v.Name()}
}

// openCheckpoint opens a signed checkpoint with x/mod and parses it.
func (c *receiptChecker) openCheckpoint(t *testing.T, b string) (tlog.Tree, *note.Note) {
	t.Helper()
	n, err := note.Open([]byte(b), c.verifiers)
	if err != nil {
		t.Fatalf("checkpoint does not verify with x/mod and the log key: %v\n%s", err, b)
	}
	return checkpointTree(t, n, c.origin), n
}

// check verifies a full receipt for entry (nil: whatever entry it holds)
// and returns the tree its checkpoint is of.
func (c *receiptChecker) check(t *testing.T, r wireReceipt, entry []byte) tlog.Tree {
	t.Helper()
	if entry != nil && !bytes.Equal(r.Entry, entry) {
		t.Fatalf("receipt %d: entry\n%s\nwant\n%s", r.Index, r.Entry, entry)
	}
	leaf := leafHash(r.Entry)
	if !bytes.Equal(r.LeafHash, leaf[:]) {
		t.Fatalf("receipt %d: leaf_hash %x, want SHA-256(0x00||entry) %x", r.Index, r.LeafHash, leaf)
	}
	tree, _ := c.openCheckpoint(t, r.Checkpoint)
	p := r.InclusionProof
	if p == nil {
		t.Fatalf("receipt %d has no inclusion_proof", r.Index)
	}
	if p.Index != r.Index || p.TreeSize != uint64(tree.N) || !bytes.Equal(p.LeafHash, leaf[:]) {
		t.Fatalf("receipt %d: inclusion proof of index %d at size %d leaf %x; checkpoint size %d", r.Index, p.Index, p.TreeSize, p.LeafHash, tree.N)
	}
	if p.Checkpoint != nil && *p.Checkpoint != r.Checkpoint {
		t.Fatalf("receipt %d: inclusion_proof.checkpoint differs from checkpoint", r.Index)
	}
	if err := tlog.CheckRecord(tlog.RecordProof(xmodHashes(t, p.Hashes)), tree.N, tree.Hash, int64(r.Index), tlog.Hash(leaf)); err != nil {
		t.Fatalf("receipt %d: inclusion proof does not verify with x/mod: %v", r.Index, err)
	}
	if err := proofs.CheckInclusion(p.Hashes, r.Index, uint64(tree.N), leaf, proofs.Hash(tree.Hash)); err != nil {
		t.Fatalf("receipt %d: inclusion proof does not verify: %v", r.Index, err)
	}
	vp, err := proofs.VerifyTlogProof([]byte(r.TlogProof), r.Entry, c.logV)
	if err != nil {
		t.Fatalf("receipt %d: tlog_proof does not verify: %v\n%s", r.Index, err, r.TlogProof)
	}
	if vp.Index != r.Index || vp.Checkpoint.Size != uint64(tree.N) || vp.Checkpoint.Hash != proofs.Hash(tree.Hash) {
		t.Fatalf("receipt %d: tlog_proof is of index %d in size %d", r.Index, vp.Index, vp.Checkpoint.Size)
	}
	if !strings.HasSuffix(r.TlogProof, "\n\n"+r.Checkpoint) {
		t.Fatalf("receipt %d: tlog_proof does not end with the receipt's checkpoint", r.Index)
	}
	return tree
}

// ---- errors ----

// apiError requires a JSON error answer with status and a reason holding
// substr; it returns the decoded body (for "lines").
func apiError(t *testing.T, resp *http.Response, body []byte, status int, substr string) batchErrorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: %d %s, want %d", resp.Request.URL, resp.StatusCode, body, status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: error with Content-Type %q: %s", resp.Request.URL, ct, body)
	}
	var e batchErrorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf(`%s: error body %q, want {"error":…}`, resp.Request.URL, body)
	}
	if !strings.Contains(e.Error, substr) {
		t.Fatalf("%s: error %q does not say %q", resp.Request.URL, e.Error, substr)
	}
	return e
}

type batchErrorBody struct {
	Error string `json:"error"`
	Lines []struct {
		Line   int    `json:"line"`
		Reason string `json:"reason"`
	} `json:"lines"`
}

// ---- search ----

type wireSearch struct {
	Results []struct {
		Index uint64 `json:"index"`
	} `json:"results"`
	NextCursor *string `json:"next_cursor"`
}

// searchPage GETs /api/v1/search?query and requires a 200 JSON page.
func (ts *testServer) searchPage(t *testing.T, query string) ([]uint64, *string) {
	t.Helper()
	resp, body := ts.do(t, http.MethodGet, "/api/v1/search?"+query, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/search?%s: %d %s", query, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("search Content-Type %q", ct)
	}
	var s wireSearch
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("search answer: %v: %s", err, body)
	}
	if !bytes.Contains(body, []byte(`"results":[`)) {
		t.Fatalf("search results is not an array: %s", body)
	}
	out := make([]uint64, len(s.Results))
	for i, r := range s.Results {
		out[i] = r.Index
	}
	return out, s.NextCursor
}

// searchAll follows next_cursor to the end (pages of 1000) and requires
// the indices to be strictly decreasing (newest first).
func (ts *testServer) searchAll(t *testing.T, field, value string) []uint64 {
	t.Helper()
	q := url.Values{field: {value}, "limit": {"1000"}}
	var out []uint64
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("search does not end")
		}
		idx, next := ts.searchPage(t, q.Encode())
		out = append(out, idx...)
		if next == nil {
			break
		}
		q.Set("cursor", *next)
	}
	for i := 1; i < len(out); i++ {
		if out[i] >= out[i-1] {
			t.Fatalf("search %s=%s: results not newest first: %v", field, value, out)
		}
	}
	return out
}

// ---- attestations ----

// testKey is a publisher key: a sigstore signer and its public key as PEM,
// DER and fingerprint, all computed here.
type testKey struct {
	sv  signature.SignerVerifier
	pub crypto.PublicKey
	pem string
	der []byte
	fp  string // sha256:<hex of SHA-256(DER)>
}

func newTestKey(t *testing.T, alg string) *testKey {
	t.Helper()
	var (
		sv  signature.SignerVerifier
		err error
	)
	switch alg {
	case "ecdsa":
		priv, gerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if gerr != nil {
			t.Fatal(gerr)
		}
		sv, err = signature.LoadSignerVerifier(priv, crypto.SHA256)
	case "ed25519":
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			t.Fatal(gerr)
		}
		sv, err = signature.LoadED25519SignerVerifier(priv)
	case "rsa":
		priv, gerr := rsa.GenerateKey(rand.Reader, 2048)
		if gerr != nil {
			t.Fatal(gerr)
		}
		sv, err = signature.LoadRSAPKCS1v15SignerVerifier(priv, crypto.SHA256)
	default:
		t.Fatalf("unknown key type %q", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return keyFromSignerVerifier(t, sv)
}

// newECDSATestKey is a P-256 testKey with its private key.
func newECDSATestKey(t *testing.T) (*testKey, *ecdsa.PrivateKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyFromSigner(t, priv), priv
}

func keyFromSigner(t *testing.T, priv crypto.PrivateKey) *testKey {
	t.Helper()
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return keyFromSignerVerifier(t, sv)
}

// keyFromSignerVerifier is the testKey of a sigstore signer: its public
// key as PEM and DER, and its fingerprint computed here.
func keyFromSignerVerifier(t *testing.T, sv signature.SignerVerifier) *testKey {
	t.Helper()
	pub, err := sv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return &testKey{
		sv:  sv,
		pub: pub,
		pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		der: der,
		fp:  "sha256:" + hex.EncodeToString(sum[:]),
	}
}

// sign wraps payload in a DSSE envelope signed by k.
func (k *testKey) sign(t *testing.T, payloadType string, payload []byte) []byte {
	t.Helper()
	env, err := dsse.WrapSigner(k.sv, payloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

type testSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// subjectFor is a subject named name whose sha256 digest derives from it.
func subjectFor(name string) testSubject {
	sum := sha256.Sum256([]byte("artifact " + name))
	return testSubject{Name: name, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}
}

// statementJSON is an in-toto Statement v1.
func statementJSON(t *testing.T, predicateType string, predicate any, subjects ...testSubject) []byte {
	t.Helper()
	if subjects == nil {
		subjects = []testSubject{}
	}
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       subjects,
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const slsaV1 = "https://slsa.dev/provenance/v1"

func slsaPredicate() any {
	return map[string]any{"buildDefinition": map[string]any{"buildType": "https://example.com/build@v1"}}
}

// submission is the body of POST /api/v1/attestations for an envelope.
func submission(t *testing.T, envelope []byte, publicKeyPEM string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"envelope": json.RawMessage(envelope), "public_key": publicKeyPEM})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// releaseEntry is the model-release/v1 entry as the tests read it.
type releaseEntry struct {
	Kind           string        `json:"kind"`
	StatementType  string        `json:"statement_type"`
	PredicateType  string        `json:"predicate_type"`
	Subjects       []testSubject `json:"subjects"`
	EnvelopeDigest string        `json:"envelope_digest"`
	Signers        []string      `json:"signers"`
	ModelSigning   *struct {
		Model     string `json:"model"`
		Resources int    `json:"resources"`
	} `json:"model_signing"`
}

// ---- decisions ----

// commitment is a well-formed commitment derived from s.
func commitment(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// decisionRecord is a valid decision record (one line of JSON) of system,
// numbered id.
func decisionRecord(system string, id int) string {
	return fmt.Sprintf(`{"system":%q,"decision_id":"d-%d","time":"2026-11-27T08:00:%02d.123Z","model":{"name":"acme/chat-%s","version":"1.2"},"outcome":"answered","labels":{"region":"eu"},"commitments":{"input":%q,"output":%q}}`,
		system, id, id%60, system, commitment(fmt.Sprint("in", system, id)), commitment(fmt.Sprint("out", system, id)))
}

// ndjson joins records into an NDJSON body.
func ndjson(records ...string) []byte {
	var b bytes.Buffer
	for _, r := range records {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// decisionEntry is the decision/v1 entry as the tests read it.
type decisionEntry struct {
	Kind       string `json:"kind"`
	System     string `json:"system"`
	DecisionID string `json:"decision_id"`
	Time       string `json:"time"`
	Model      struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Digest  string `json:"digest"`
	} `json:"model"`
	Commitments struct {
		Input  string `json:"input"`
		Output string `json:"output"`
	} `json:"commitments"`
}
