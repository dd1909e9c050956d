package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/log"
)

const attestationsPath = "/api/v1/attestations"

// dsseEnvelope is a DSSE envelope as the tests read it.
type dsseEnvelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

// A model release attestation, signed in the test with ECDSA P-256,
// Ed25519 and RSA PKCS #1 v1.5 keys through sigstore's DSSE signer, is
// admitted over HTTP: the receipt's leaf hash, entry, checkpoint (x/mod
// note), inclusion proof (x/mod CheckRecord) and tlog-proof verify; the
// entry records the subjects, the signer's fingerprint and the digest of
// the envelope; search finds it by subject digest, signer and model name;
// the blobs of the envelope and the key are served; and resubmitting it
// answers the same index as a duplicate without growing the tree.
func TestAttestationEndToEnd(t *testing.T) {
	ts := newAIServer(t, nil)
	rc := newReceiptChecker(t, ts)
	for i, alg := range []string{"ecdsa", "ed25519", "rsa"} {
		t.Run(alg, func(t *testing.T) {
			k := newTestKey(t, alg)
			model := "acme/llm-" + alg
			subjects := []testSubject{subjectFor(model + "/model.safetensors"), subjectFor(model + "/tokenizer.json")}
			payload := statementJSON(t, slsaV1, slsaPredicate(), subjects...)
			env := k.sign(t, attest.InTotoPayloadType, payload)
			body := submission(t, env, k.pem)

			before := ts.size()
			resp, rb := ts.post(t, attestationsPath, "application/json", body)
			r := receiptOK(t, resp, rb)
			if r.Duplicate || r.Witnessed != nil {
				t.Fatalf("new entry: duplicate %v witnessed %v", r.Duplicate, r.Witnessed)
			}
			if r.Index != before || ts.size() != before+1 {
				t.Fatalf("index %d, size %d → %d", r.Index, before, ts.size())
			}
			if r.Index != uint64(i) {
				t.Fatalf("attestation %d got index %d", i, r.Index)
			}
			tree := rc.check(t, r, nil)
			if uint64(tree.N) != ts.size() {
				t.Fatalf("receipt checkpoint of size %d, log size %d", tree.N, ts.size())
			}

			// The entry, read independently.
			var e releaseEntry
			dec := json.NewDecoder(bytes.NewReader(r.Entry))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("entry: %v\n%s", err, r.Entry)
			}
			if e.Kind != "model-release/v1" || e.StatementType != "https://in-toto.io/Statement/v1" || e.PredicateType != slsaV1 {
				t.Fatalf("entry kind %q statement %q predicate %q", e.Kind, e.StatementType, e.PredicateType)
			}
			if len(e.Subjects) != 2 || e.Subjects[0].Name != subjects[0].Name || e.Subjects[1].Digest["sha256"] != subjects[1].Digest["sha256"] {
				t.Fatalf("entry subjects %+v", e.Subjects)
			}
			if !slices.Equal(e.Signers, []string{k.fp}) {
				t.Fatalf("entry signers %v, want [%s]", e.Signers, k.fp)
			}
			if e.ModelSigning != nil {
				t.Fatalf("SLSA statement with model_signing %+v", e.ModelSigning)
			}
			// The same bytes as GET /api/v1/entries/<index>.
			var got wireEntry
			ts.getJSON(t, fmt.Sprintf("/api/v1/entries/%d", r.Index), &got, aiEntryFields)
			if !bytes.Equal(got.Entry, r.Entry) {
				t.Fatal("GET /api/v1/entries differs from the receipt's entry")
			}

			// Search by digest (with and without the sha256: prefix),
			// signer and model (subject) name.
			for _, q := range []string{
				"digest=sha256:" + subjects[0].Digest["sha256"],
				"digest=sha256:" + subjects[1].Digest["sha256"],
				"digest=" + subjects[0].Digest["sha256"],
				"signer=" + url.QueryEscape(k.fp),
				"signer=" + strings.TrimPrefix(k.fp, "sha256:"),
				"model=" + url.QueryEscape(subjects[0].Name),
				"model=" + url.QueryEscape(subjects[1].Name),
			} {
				if idx, next := ts.searchPage(t, q); !slices.Equal(idx, []uint64{r.Index}) || next != nil {
					t.Fatalf("search %s: %v (next %v), want [%d]", q, idx, next, r.Index)
				}
			}

			// The envelope blob: its SHA-256 is envelope_digest, and it is
			// the submitted envelope (canonical JSON of the same fields).
			resp, blob := ts.do(t, http.MethodGet, "/api/v1/blobs/"+e.EnvelopeDigest, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET envelope blob %s: %d %s", e.EnvelopeDigest, resp.StatusCode, blob)
			}
			if sum := sha256.Sum256(blob); "sha256:"+hex.EncodeToString(sum[:]) != e.EnvelopeDigest {
				t.Fatalf("envelope blob hashes to %x, entry says %s", sum, e.EnvelopeDigest)
			}
			var sent, stored dsseEnvelope
			if err := json.Unmarshal(env, &sent); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(blob, &stored); err != nil {
				t.Fatalf("envelope blob is not JSON: %v\n%s", err, blob)
			}
			if stored.PayloadType != sent.PayloadType || stored.Payload != sent.Payload || len(stored.Signatures) != 1 || !sameSignature(t, stored.Signatures[0].Sig, sent.Signatures[0].Sig) {
				t.Fatalf("envelope blob\n%s\nis not the submitted envelope\n%s", blob, env)
			}
			if p, _ := base64.StdEncoding.DecodeString(stored.Payload); !bytes.Equal(p, payload) {
				t.Fatal("envelope blob payload is not the statement")
			}
			// The signer blob is the DER public key.
			resp, der := ts.do(t, http.MethodGet, "/api/v1/blobs/"+k.fp, nil)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(der, k.der) {
				t.Fatalf("GET signer blob: %d, %d bytes equal to the DER key: %v", resp.StatusCode, len(der), bytes.Equal(der, k.der))
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
				t.Fatalf("blob Cache-Control %q", cc)
			}

			// Resubmission: the same index, a duplicate, the tree unchanged.
			size := ts.size()
			resp, rb = ts.post(t, attestationsPath, "application/json", body)
			dup := receiptOK(t, resp, rb)
			if !dup.Duplicate || dup.Index != r.Index || !bytes.Equal(dup.Entry, r.Entry) {
				t.Fatalf("resubmission: index %d duplicate %v, want %d and true", dup.Index, dup.Duplicate, r.Index)
			}
			rc.check(t, dup, r.Entry)
			if ts.size() != size {
				t.Fatalf("resubmission grew the tree: %d → %d", size, ts.size())
			}
			// No Content-Type is taken as application/json.
			resp, rb = ts.post(t, attestationsPath, "", body)
			if dup := receiptOK(t, resp, rb); !dup.Duplicate || dup.Index != r.Index {
				t.Fatalf("resubmission without Content-Type: index %d duplicate %v", dup.Index, dup.Duplicate)
			}
			if idx := ts.searchAll(t, "signer", k.fp); !slices.Equal(idx, []uint64{r.Index}) {
				t.Fatalf("after resubmission, search by signer: %v", idx)
			}
		})
	}
	// Blobs that are not there, and bad blob names.
	missing := sha256.Sum256([]byte("no such blob"))
	resp, body := ts.do(t, http.MethodGet, "/api/v1/blobs/sha256:"+hex.EncodeToString(missing[:]), nil)
	apiError(t, resp, body, http.StatusNotFound, "no blob")
	for _, name := range []string{"sha256:" + strings.ToUpper(hex.EncodeToString(missing[:])), hex.EncodeToString(missing[:]), "sha256:abc", "sha512:" + hex.EncodeToString(missing[:])} {
		resp, body := ts.do(t, http.MethodGet, "/api/v1/blobs/"+name, nil)
		apiError(t, resp, body, http.StatusBadRequest, "sha256:<64 lowercase hex digits>")
	}
}

// A model-signing statement (predicate https://model_signing/signature/v1.0)
// records the model name and resource count, and is found by that name.
func TestAttestationModelSigning(t *testing.T) {
	ts := newAIServer(t, nil)
	rc := newReceiptChecker(t, ts)
	k := newTestKey(t, "ecdsa")
	pred := map[string]any{"resources": []any{
		map[string]any{"name": "a.bin", "digest": "00"},
		map[string]any{"name": "b.bin", "digest": "11"},
		map[string]any{"name": "c.bin", "digest": "22"},
	}}
	sub := subjectFor("acme/signed-model")
	env := k.sign(t, attest.InTotoPayloadType, statementJSON(t, "https://model_signing/signature/v1.0", pred, sub))
	resp, body := ts.post(t, attestationsPath, "application/json", submission(t, env, k.pem))
	r := receiptOK(t, resp, body)
	rc.check(t, r, nil)
	var e releaseEntry
	if err := json.Unmarshal(r.Entry, &e); err != nil {
		t.Fatal(err)
	}
	if e.ModelSigning == nil || e.ModelSigning.Model != sub.Name || e.ModelSigning.Resources != 3 {
		t.Fatalf("model_signing %+v, want model %q with 3 resources", e.ModelSigning, sub.Name)
	}
	if idx := ts.searchAll(t, "model", sub.Name); !slices.Equal(idx, []uint64{r.Index}) {
		t.Fatalf("search by model: %v", idx)
	}
}

// A Sigstore bundle v0.3 with a public key hint and a DSSE envelope is
// admitted with the key given as public_key; its entry is the same as for
// the bare envelope, so the bare envelope is then a duplicate.
func TestAttestationSigstoreBundle(t *testing.T) {
	ts := newAIServer(t, nil)
	rc := newReceiptChecker(t, ts)
	k := newTestKey(t, "ecdsa")
	sub := subjectFor("acme/bundled-model")
	env := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), sub))
	bundle, err := json.Marshal(map[string]any{
		"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
		"verificationMaterial": map[string]any{
			"publicKey": map[string]any{"hint": k.fp},
		},
		"dsseEnvelope": json.RawMessage(env),
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{"bundle": json.RawMessage(bundle), "public_key": k.pem})
	if err != nil {
		t.Fatal(err)
	}
	resp, rb := ts.post(t, attestationsPath, "application/json; charset=utf-8", body)
	r := receiptOK(t, resp, rb)
	if r.Duplicate {
		t.Fatal("bundle: duplicate on a new log")
	}
	rc.check(t, r, nil)
	if idx := ts.searchAll(t, "digest", "sha256:"+sub.Digest["sha256"]); !slices.Equal(idx, []uint64{r.Index}) {
		t.Fatalf("search by digest: %v", idx)
	}
	// The same envelope without the bundle: the same entry.
	resp, rb = ts.post(t, attestationsPath, "application/json", submission(t, env, k.pem))
	if bare := receiptOK(t, resp, rb); !bare.Duplicate || bare.Index != r.Index || !bytes.Equal(bare.Entry, r.Entry) {
		t.Fatalf("bare envelope: index %d duplicate %v; want the bundle's entry %d", bare.Index, bare.Duplicate, r.Index)
	}
	// A key-hint bundle without public_key is refused.
	noKey, _ := json.Marshal(map[string]any{"bundle": json.RawMessage(bundle)})
	resp, rb = ts.post(t, attestationsPath, "application/json", noKey)
	apiError(t, resp, rb, http.StatusBadRequest, "public_key")
}

// Rejected attestations get the right 4xx and a JSON reason, and change
// nothing: the tree size is the same and the statement's subject digest
// finds nothing.
func TestAttestationRejections(t *testing.T) {
	k := newTestKey(t, "ecdsa")
	other := newTestKey(t, "ed25519")
	policy, err := attest.ParsePolicy([]byte("# test policy\nacme/ " + k.fp + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.Publishers = policy })

	// One entry logged first, so that "unchanged" is not trivially zero.
	okSub := subjectFor("acme/allowed-model")
	resp, body := ts.post(t, attestationsPath, "application/json",
		submission(t, k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), okSub)), k.pem))
	first := receiptOK(t, resp, body)
	newReceiptChecker(t, ts).check(t, first, nil)

	sub := subjectFor("acme/rejected-model")
	goodPayload := statementJSON(t, slsaV1, slsaPredicate(), sub)
	goodEnv := k.sign(t, attest.InTotoPayloadType, goodPayload)

	// mutate returns goodEnv with f applied to its decoded form.
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(goodEnv, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	badSig := mutate(func(m map[string]any) {
		s := m["signatures"].([]any)[0].(map[string]any)
		raw, _ := base64.StdEncoding.DecodeString(s["sig"].(string))
		raw[len(raw)/2] ^= 0x40
		s["sig"] = base64.StdEncoding.EncodeToString(raw)
	})
	// The statement altered after signing.
	otherPayload := statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/rejected-model"), subjectFor("acme/smuggled"))
	swappedPayload := mutate(func(m map[string]any) { m["payload"] = base64.StdEncoding.EncodeToString(otherPayload) })
	sha512Only := statementJSON(t, slsaV1, slsaPredicate(), testSubject{Name: "acme/rejected-model", Digest: map[string]string{"sha512": strings.Repeat("ab", 64)}})
	badBase64 := mutate(func(m map[string]any) { m["payload"] = "not base64!" })
	badSigBase64 := mutate(func(m map[string]any) { m["signatures"].([]any)[0].(map[string]any)["sig"] = "%%%" })
	bundle := func(mediaType string) []byte {
		b, _ := json.Marshal(map[string]any{
			"bundle": map[string]any{
				"mediaType":            mediaType,
				"verificationMaterial": map[string]any{"publicKey": map[string]any{"hint": k.fp}},
				"dsseEnvelope":         json.RawMessage(goodEnv),
			},
			"public_key": k.pem,
		})
		return b
	}
	// A statement whose entry exceeds the log's entry limit.
	var many []testSubject
	for i := 0; i < 700; i++ {
		many = append(many, subjectFor(fmt.Sprintf("acme/rejected-model/shard-%04d", i)))
	}
	tooMany := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), many...))

	cases := []struct {
		name        string
		contentType string
		body        []byte
		status      int
		reason      string
	}{
		{"bad signature", "application/json", submission(t, badSig, k.pem), 400, "signature does not verify"},
		{"payload changed after signing", "application/json", submission(t, swappedPayload, k.pem), 400, "signature does not verify"},
		{"other key", "application/json", submission(t, goodEnv, other.pem), 400, "no signature of the envelope verifies with key " + other.fp},
		{"wrong payloadType", "application/json", submission(t, k.sign(t, "application/json", goodPayload), k.pem), 400, "payloadType"},
		{"no subjects", "application/json", submission(t, k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate())), k.pem), 400, "no subjects"},
		{"only a sha512 digest", "application/json", submission(t, k.sign(t, attest.InTotoPayloadType, sha512Only), k.pem), 400, "no sha256 digest"},
		{"malformed payload base64", "application/json", submission(t, badBase64, k.pem), 400, "not standard base64"},
		{"malformed signature base64", "application/json", submission(t, badSigBase64, k.pem), 400, "not standard base64"},
		{"not a statement", "application/json", submission(t, k.sign(t, attest.InTotoPayloadType, []byte(`{"_type":"x"}`)), k.pem), 400, "_type"},
		{"malformed JSON body", "application/json", []byte(`{"envelope": {`), 400, "not a JSON submission"},
		{"unknown field", "application/json", []byte(`{"envelope":` + string(goodEnv) + `,"public_key":` + mustJSON(t, k.pem) + `,"extra":1}`), 400, "unknown field"},
		{"no key", "application/json", []byte(`{"envelope":` + string(goodEnv) + `}`), 400, "public_key"},
		{"bad PEM", "application/json", submission(t, goodEnv, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), 400, "public_key"},
		{"unknown bundle mediaType", "application/json", bundle("application/vnd.dev.sigstore.bundle.v9+json"), 400, "unknown bundle mediaType"},
		{"too many subjects", "application/json", submission(t, tooMany, k.pem), 413, fmt.Sprintf("limit is %d bytes", log.MaxEntrySize)},
		{"publisher policy", "application/json", submission(t, other.sign(t, attest.InTotoPayloadType, goodPayload), other.pem), 403, "does not list the signing key " + other.fp},
		{"text/plain", "text/plain", submission(t, goodEnv, k.pem), 415, `Content-Type "text/plain"`},
		{"NDJSON", "application/x-ndjson", submission(t, goodEnv, k.pem), 415, "want application/json"},
		{"unparsable Content-Type", "application/json; charset", submission(t, goodEnv, k.pem), 415, "Content-Type"},
		{"empty body", "application/json", nil, 400, "empty body"},
	}
	size := ts.size()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.post(t, attestationsPath, tc.contentType, tc.body)
			apiError(t, resp, body, tc.status, tc.reason)
			if ts.size() != size {
				t.Fatalf("tree size %d → %d", size, ts.size())
			}
			for _, d := range []string{sub.Digest["sha256"], many[0].Digest["sha256"]} {
				if idx, _ := ts.searchPage(t, "digest=sha256:"+d); len(idx) != 0 {
					t.Fatalf("rejected subject is searchable: %v", idx)
				}
			}
			if idx := ts.searchAll(t, "signer", other.fp); len(idx) != 0 {
				t.Fatalf("rejected signer is searchable: %v", idx)
			}
		})
	}

	// Bad query parameters are refused before anything else.
	for _, q := range []string{"?wait=bogus", "?receipts=bogus", "?foo=1", "?wait=witnessed", "?receipts=compact&receipts=full", "?wait=%zz"} {
		resp, body := ts.post(t, attestationsPath+q, "application/json", submission(t, goodEnv, k.pem))
		apiError(t, resp, body, http.StatusBadRequest, "")
		if ts.size() != size {
			t.Fatalf("%s: tree size %d → %d", q, size, ts.size())
		}
	}

	// The same policy admits the listed key for the same statement, and
	// subjects no rule covers for any key.
	resp, body = ts.post(t, attestationsPath, "application/json", submission(t, goodEnv, k.pem))
	r := receiptOK(t, resp, body)
	newReceiptChecker(t, ts).check(t, r, nil)
	if r.Index != size || ts.size() != size+1 {
		t.Fatalf("allowed key: index %d, size %d", r.Index, ts.size())
	}
	uncovered := other.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor("other-org/model")))
	resp, body = ts.post(t, attestationsPath, "application/json", submission(t, uncovered, other.pem))
	if r2 := receiptOK(t, resp, body); r2.Index != size+1 {
		t.Fatalf("uncovered subject: index %d", r2.Index)
	}
	// ?receipts=compact answers only the index and leaf hash.
	resp, body = ts.post(t, attestationsPath+"?receipts=compact", "application/json", submission(t, goodEnv, k.pem))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("compact: %d %s", resp.StatusCode, body)
	}
	if c := decodeReceipt(t, body, compactReceiptFields); c.Index != r.Index || !c.Duplicate || !bytes.Equal(c.LeafHash, r.LeafHash) {
		t.Fatalf("compact receipt %+v, want index %d duplicate", c, r.Index)
	}
}

// A body over AttestationBodyLimit is 413 whether its length is announced
// or not, and nothing is logged; one at the limit is read.
func TestAttestationBodyLimit(t *testing.T) {
	k := newTestKey(t, "ed25519")
	env := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/limited")))
	body := submission(t, env, k.pem)
	limit := len(body)
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.AttestationBodyLimit = limit })

	padded := append(slices.Clone(body[:len(body)-1]), []byte(" }")...) // one byte over
	resp, rb := ts.post(t, attestationsPath, "application/json", padded)
	apiError(t, resp, rb, http.StatusRequestEntityTooLarge, fmt.Sprintf("at most %d bytes", limit))
	// Chunked: no Content-Length.
	req, err := http.NewRequest(http.MethodPost, ts.URL+attestationsPath, struct{ *bytes.Reader }{bytes.NewReader(padded)})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	cresp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cbody := new(bytes.Buffer)
	cbody.ReadFrom(cresp.Body)
	cresp.Body.Close()
	apiError(t, cresp, cbody.Bytes(), http.StatusRequestEntityTooLarge, fmt.Sprintf("at most %d bytes", limit))
	if ts.size() != 0 {
		t.Fatalf("oversized bodies logged something: size %d", ts.size())
	}
	resp, rb = ts.post(t, attestationsPath, "application/json", body)
	newReceiptChecker(t, ts).check(t, receiptOK(t, resp, rb), nil)
}

// Every subject name attest admits (up to 1024 bytes) is logged and
// indexed: its search term "model=<name>" fits the log's term limit. A
// longer name is refused with a reason about the name.
func TestAttestationLongSubjectName(t *testing.T) {
	ts := newAIServer(t, nil)
	k := newTestKey(t, "ecdsa")
	if log.MaxTermSize < len("model=")+1024 {
		t.Fatalf("log.MaxTermSize %d cannot hold model=<1024-byte name>", log.MaxTermSize)
	}
	for _, n := range []int{1000, 1018, 1019, 1024} {
		name := "acme/" + strings.Repeat("m", n-len("acme/"))
		env := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor(name)))
		resp, body := ts.post(t, attestationsPath, "application/json", submission(t, env, k.pem))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("subject name of %d bytes (attest's limit is 1024): %d %s", n, resp.StatusCode, body)
			continue
		}
		if idx := ts.searchAll(t, "digest", "sha256:"+subjectFor(name).Digest["sha256"]); len(idx) != 1 {
			t.Errorf("subject name of %d bytes: search by digest %v", n, idx)
		}
	}
	name := "acme/" + strings.Repeat("m", 1025-len("acme/"))
	env := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor(name)))
	resp, body := ts.post(t, attestationsPath, "application/json", submission(t, env, k.pem))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "name is longer than 1024 bytes") {
		t.Errorf("subject name of 1025 bytes: %d %s, want 400 naming the name limit", resp.StatusCode, body)
	}
}

// A statement holding both "subject" and "Subject", or "subject" twice,
// is refused. encoding/json alone matches keys case-insensitively and lets
// the last of repeated keys win, so the log would read the second list
// while JSON readers that match keys exactly (Python, JavaScript, Rust's
// serde) read the first: a key the publisher policy allows only for
// other-org/ would get an envelope logged whose statement, for those
// readers, names the protected acme/model, a name the policy never saw.
// (Fails on commit b1cd725, attest/release.go parseStatement.)
func TestAttestationStatementAmbiguousSubjectKeys(t *testing.T) {
	owner := newTestKey(t, "ecdsa")
	other := newTestKey(t, "ecdsa")
	policy, err := attest.ParsePolicy([]byte("acme/ " + owner.fp + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.Publishers = policy })
	protected, decoy := subjectFor("acme/model"), subjectFor("other-org/decoy")
	subj := func(s testSubject) string { return mustJSON(t, []testSubject{s}) }
	for _, tc := range []struct{ name, secondKey string }{
		{"case-variant key", "Subject"},
		{"repeated key", "subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := `{"_type":"https://in-toto.io/Statement/v1","subject":` + subj(protected) + `,"` + tc.secondKey + `":` + subj(decoy) +
				`,"predicateType":"` + slsaV1 + `","predicate":{}}`
			size := ts.size()
			env := other.sign(t, attest.InTotoPayloadType, []byte(payload))
			resp, body := ts.post(t, attestationsPath, "application/json", submission(t, env, other.pem))
			if resp.StatusCode == http.StatusOK {
				var e releaseEntry
				json.Unmarshal(receiptOK(t, resp, body).Entry, &e)
				t.Errorf("a key not allowed for acme/ logged a statement whose %q key names %s: the entry records subjects %v", "subject", protected.Name, e.Subjects)
				return
			}
			if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%d %s, want 400 (ambiguous statement) or 403 (policy)", resp.StatusCode, body)
			}
			if ts.size() != size {
				t.Fatalf("size %d → %d", size, ts.size())
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// selfSignedPEM is a self-signed certificate for k (the log records
// certificates without validating them).
func selfSignedPEM(t *testing.T, priv *ecdsa.PrivateKey) (string, []byte) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "release signer"},
		NotBefore:    time.Unix(1_700_000_000, 0),
		NotAfter:     time.Unix(2_000_000_000, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), der
}

// An envelope verified with a certificate, and a Sigstore bundle carrying
// the certificate, are admitted: the entry names the certificate's key as
// signer — not the certificate, which the log cannot validate — so it is
// the entry the bare key gives, and the DER certificate is served as a
// blob beside it. A public_key that is not the bundle certificate's key,
// or both a key and a certificate with an envelope, are refused.
//
// This is a log with AcceptUnverifiedCertificates; without it (and without
// a trusted root) the same submission is refused, the tree unchanged.
func TestAttestationCertificate(t *testing.T) {
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.AcceptUnverifiedCertificates = true })
	rc := newReceiptChecker(t, ts)
	k, priv := newECDSATestKey(t)
	certPEM, certDER := selfSignedPEM(t, priv)
	certSum := sha256.Sum256(certDER)
	certDigest := "sha256:" + hex.EncodeToString(certSum[:])

	env := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/certified")))
	body, _ := json.Marshal(map[string]any{"envelope": json.RawMessage(env), "certificate": certPEM})
	strict := newAIServer(t, nil)
	resp, rb := strict.post(t, attestationsPath, "application/json", body)
	apiError(t, resp, rb, http.StatusBadRequest, "this log has no --trusted-root to validate certificates")
	if strict.size() != 0 {
		t.Fatalf("refused certificate grew the tree to %d", strict.size())
	}
	resp, rb = ts.post(t, attestationsPath, "application/json", body)
	r := receiptOK(t, resp, rb)
	rc.check(t, r, nil)
	var e map[string]any
	if err := json.Unmarshal(r.Entry, &e); err != nil {
		t.Fatal(err)
	}
	if _, ok := e["certificate_digest"]; ok || fmt.Sprint(e["signers"]) != "["+k.fp+"]" {
		t.Fatalf("entry %s: want signer %s and no certificate", r.Entry, k.fp)
	}
	if resp, blob := ts.do(t, http.MethodGet, "/api/v1/blobs/"+certDigest, nil); resp.StatusCode != 200 || !bytes.Equal(blob, certDER) {
		t.Fatalf("certificate blob: %d", resp.StatusCode)
	}
	if idx := ts.searchAll(t, "signer", k.fp); !slices.Equal(idx, []uint64{r.Index}) {
		t.Fatalf("search by the certificate's key: %v", idx)
	}

	// The same envelope with the bare key: the same entry.
	body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(env), "public_key": k.pem})
	resp, rb = ts.post(t, attestationsPath, "application/json", body)
	if b := receiptOK(t, resp, rb); !b.Duplicate || b.Index != r.Index {
		t.Fatalf("the bare key: index %d duplicate %v, want %d", b.Index, b.Duplicate, r.Index)
	}
	// The same envelope in a bundle with the certificate: the same entry.
	bundle := map[string]any{
		"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2",
		"verificationMaterial": map[string]any{
			"x509CertificateChain": map[string]any{"certificates": []any{map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(certDER)}}},
		},
		"dsseEnvelope": json.RawMessage(env),
	}
	body, _ = json.Marshal(map[string]any{"bundle": bundle})
	resp, rb = ts.post(t, attestationsPath, "application/json", body)
	if b := receiptOK(t, resp, rb); !b.Duplicate || b.Index != r.Index {
		t.Fatalf("bundle with the certificate: index %d duplicate %v, want %d", b.Index, b.Duplicate, r.Index)
	}

	size := ts.size()
	other, otherPriv := newECDSATestKey(t)
	body, _ = json.Marshal(map[string]any{"bundle": bundle, "public_key": other.pem})
	resp, rb = ts.post(t, attestationsPath, "application/json", body)
	apiError(t, resp, rb, http.StatusBadRequest, "not the bundle certificate's key")
	body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(env), "certificate": certPEM, "public_key": k.pem})
	resp, rb = ts.post(t, attestationsPath, "application/json", body)
	apiError(t, resp, rb, http.StatusBadRequest, "not both")
	body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(env), "bundle": bundle, "public_key": k.pem})
	resp, rb = ts.post(t, attestationsPath, "application/json", body)
	apiError(t, resp, rb, http.StatusBadRequest, "not both")
	// A certificate of another key does not verify the envelope.
	otherCert, _ := selfSignedPEM(t, otherPriv)
	body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(env), "certificate": otherCert})
	resp, rb = ts.post(t, attestationsPath, "application/json", body)
	apiError(t, resp, rb, http.StatusBadRequest, "no signature of the envelope verifies with key "+other.fp)
	body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(env), "certificate": "not a certificate"})
	resp, rb = ts.post(t, attestationsPath, "application/json", body)
	apiError(t, resp, rb, http.StatusBadRequest, "certificate")
	if ts.size() != size {
		t.Fatalf("size %d → %d", size, ts.size())
	}
}

// sameSignature reports whether the stored signature is the sent one, or
// for ECDSA its low-S form (r, n−s) when s > n/2, as the log keeps it.
func sameSignature(t *testing.T, stored, sent string) bool {
	t.Helper()
	if stored == sent {
		return true
	}
	a, errA := base64.StdEncoding.DecodeString(stored)
	b, errB := base64.StdEncoding.DecodeString(sent)
	if errA != nil || errB != nil {
		return false
	}
	var x, y struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(a, &x); err != nil {
		return false
	}
	if _, err := asn1.Unmarshal(b, &y); err != nil {
		return false
	}
	n := elliptic.P256().Params().N
	half := new(big.Int).Rsh(n, 1)
	return x.R.Cmp(y.R) == 0 && y.S.Cmp(half) > 0 && new(big.Int).Add(x.S, y.S).Cmp(n) == 0
}
