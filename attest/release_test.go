package attest

import (
	"bytes"
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
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
)

// maxEntry is the log's entry limit (log.MaxEntrySize).
const maxEntry = 1<<16 - 1

// want describes the release entry a submission must produce.
type want struct {
	key           *testKey
	statementType string
	predicateType string
	subjects      []testSubject
	cert          *testCert // leaf certificate, if the key came from one
	model         string    // model_signing.model, if a model-signing predicate
	resources     int
}

// checkRelease checks every field of an admitted release against values
// computed here, independently of the package.
func checkRelease(t *testing.T, rel *Release, envRaw []byte, w want) {
	t.Helper()
	assertCanonical(t, rel.Entry)
	// Re-canonicalizing the parsed entry with the package's own encoder is
	// a fixed point too.
	if again, err := appendCanonical(nil, intsFromNumbers(parseGeneric(t, rel.Entry))); err != nil || !bytes.Equal(again, rel.Entry) {
		t.Errorf("re-canonicalized entry differs: %s, %v", again, err)
	}
	var e map[string]any
	dec := json.NewDecoder(bytes.NewReader(rel.Entry))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		t.Fatal(err)
	}
	fp := w.key.fp(t)

	// The canonical envelope blob holds the submitted envelope.
	if len(rel.Blobs) < 2 {
		t.Fatalf("%d blobs, want at least 2", len(rel.Blobs))
	}
	assertCanonical(t, rel.Blobs[0])
	if want := canonicalEnvelope(t, envRaw, w.key.pub()); string(rel.Blobs[0]) != want {
		t.Errorf("envelope blob\n got %s\nwant %s", rel.Blobs[0], want)
	}
	envSum := sha256.Sum256(rel.Blobs[0])
	if !bytes.Equal(rel.Blobs[1], w.key.der(t)) {
		t.Errorf("Blobs[1] is not the signer's DER public key")
	}

	subjects := make([]any, len(w.subjects))
	for i, s := range w.subjects {
		subjects[i] = jsonShape(map[string]any{"name": s.Name, "digest": s.Digest})
	}
	wantEntry := map[string]any{
		"kind":            "model-release/v1",
		"statement_type":  w.statementType,
		"predicate_type":  w.predicateType,
		"subjects":        subjects,
		"envelope_digest": "sha256:" + hex.EncodeToString(envSum[:]),
		"signers":         []any{fp},
	}
	wantBlobs := 2
	if w.cert != nil {
		// The certificate is kept beside the entry, not named in it: the
		// entry is the same as with the bare key.
		wantBlobs = 3
		if len(rel.Blobs) == 3 && !bytes.Equal(rel.Blobs[2], w.cert.der) {
			t.Errorf("Blobs[2] is not the leaf certificate's DER")
		}
	}
	if w.model != "" {
		wantEntry["model_signing"] = map[string]any{"model": w.model, "resources": json.Number(fmt.Sprint(w.resources))}
	}
	if !reflect.DeepEqual(e, wantEntry) {
		t.Errorf("entry\n got %#v\nwant %#v", e, wantEntry)
	}
	if len(rel.Blobs) != wantBlobs {
		t.Errorf("%d blobs, want %d", len(rel.Blobs), wantBlobs)
	}

	// Terms: the signer, each subject's digest and name, no duplicates.
	wantTerms := []string{"model-release/v1 signer=" + fp}
	var names []string
	for _, s := range w.subjects {
		names = append(names, s.Name)
		wantTerms = append(wantTerms, "model-release/v1 digest=sha256:"+s.Digest["sha256"])
		if s.Name != "" {
			wantTerms = append(wantTerms, "model-release/v1 model="+s.Name)
		}
	}
	slices.Sort(wantTerms)
	wantTerms = slices.Compact(wantTerms)
	var gotTerms []string
	for _, term := range rel.Terms {
		gotTerms = append(gotTerms, string(term))
	}
	if len(gotTerms) != len(slices.Compact(slices.Sorted(slices.Values(gotTerms)))) {
		t.Errorf("duplicate terms in %q", gotTerms)
	}
	slices.Sort(gotTerms)
	if !slices.Equal(gotTerms, wantTerms) {
		t.Errorf("terms\n got %q\nwant %q", gotTerms, wantTerms)
	}
	if rel.Signer != fp {
		t.Errorf("Signer = %s, want %s", rel.Signer, fp)
	}
	if !slices.Equal(rel.Subjects, names) {
		t.Errorf("Subjects = %q, want %q", rel.Subjects, names)
	}
}

// canonicalEnvelope is the envelope blob expected for a submitted
// envelope: payloadType, payload and the first signature that verifies
// with pub (checked here with the standard library over the PAE), without
// keyid, an ECDSA signature in low-S form; as RFC 8785 JSON.
func canonicalEnvelope(t *testing.T, envRaw []byte, pub crypto.PublicKey) string {
	t.Helper()
	e := decodeEnv(t, envRaw)
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	msg := pae(e.PayloadType, payload)
	for _, s := range e.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			continue
		}
		if k, ok := pub.(*ecdsa.PublicKey); ok {
			sig = refLowS(t, k, sig)
		}
		if !stdVerify(pub, msg, sig) {
			continue
		}
		want, err := refCanonical(map[string]any{"payloadType": e.PayloadType, "payload": e.Payload,
			"signatures": []any{map[string]any{"sig": base64.StdEncoding.EncodeToString(sig)}}})
		if err != nil {
			t.Fatal(err)
		}
		return want
	}
	t.Fatal("no signature of the envelope verifies with the standard library")
	return ""
}

// refLowS is the low-S form of an ECDSA signature, independently of the
// package: s replaced by n−s when s > n/2.
func refLowS(t *testing.T, k *ecdsa.PublicKey, sig []byte) []byte {
	t.Helper()
	var v struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &v); err != nil || len(rest) != 0 {
		return sig
	}
	half := new(big.Int).Rsh(k.Curve.Params().N, 1)
	if v.S.Cmp(half) > 0 {
		v.S.Sub(k.Curve.Params().N, v.S)
	}
	out, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stdVerify verifies a signature over msg with the standard library: the
// curve's hash (or SHA-256) for ECDSA, Ed25519, RSA PKCS #1 v1.5 or PSS
// with SHA-256.
func stdVerify(pub crypto.PublicKey, msg, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		hashes := []crypto.Hash{crypto.SHA256}
		switch k.Curve {
		case elliptic.P384():
			hashes = []crypto.Hash{crypto.SHA384, crypto.SHA256}
		case elliptic.P521():
			hashes = []crypto.Hash{crypto.SHA512, crypto.SHA256}
		}
		for _, h := range hashes {
			d := h.New()
			d.Write(msg)
			if ecdsa.VerifyASN1(k, d.Sum(nil), sig) {
				return true
			}
		}
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, sig)
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil ||
			rsa.VerifyPSS(k, crypto.SHA256, d[:], sig, nil) == nil
	}
	return false
}

// intsFromNumbers turns json.Numbers into int64s for appendCanonical.
func intsFromNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		i, err := v.Int64()
		if err != nil {
			panic(err)
		}
		return i
	case []any:
		for i := range v {
			v[i] = intsFromNumbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = intsFromNumbers(v[k])
		}
	}
	return v
}

// admit runs Admit twice and checks the results are byte-identical.
func admit(t *testing.T, s *Submission, p *Policy) *Release {
	t.Helper()
	r1, err := Admit(s, p, maxEntry)
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	r2, err := Admit(s, p, maxEntry)
	if err != nil {
		t.Fatalf("second Admit: %v", err)
	}
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("Admit is not deterministic:\n%s\n%s", r1.Entry, r2.Entry)
	}
	return r1
}

func TestAdmitKeyTypes(t *testing.T) {
	ks := keys(t)
	subjects := []testSubject{subj("acme/llm-7b"), subj("acme/llm-7b-tokenizer"), subj("")}
	payload := slsaStatement(t, subjects...)
	for _, k := range ks.all() {
		t.Run(k.name, func(t *testing.T) {
			env := k.sign(t, payload)
			rel := admit(t, &Submission{Envelope: env, PublicKey: k.pem(t)}, nil)
			checkRelease(t, rel, env, want{key: k, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: subjects})
			// SLSA provenance is logged generically.
			if bytes.Contains(rel.Entry, []byte("model_signing")) {
				t.Errorf("SLSA entry has a model_signing field: %s", rel.Entry)
			}
			fp, err := Fingerprint(k.pub())
			if err != nil || fp != k.fp(t) {
				t.Errorf("Fingerprint = %s, %v; want %s", fp, err, k.fp(t))
			}
		})
	}
}

// TestSigstoreEnvelopeIsDSSE checks the test's own tool: sigstore's DSSE
// signer signs the PAE exactly as the spec writes it.
func TestSigstoreEnvelopeIsDSSE(t *testing.T) {
	ks := keys(t)
	payload := slsaStatement(t, subj("m"))
	e := decodeEnv(t, ks.ed.sign(t, payload))
	sig, err := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(ks.ed.pub().(ed25519.PublicKey), pae(InTotoPayloadType, payload), sig) {
		t.Fatal("sigstore's DSSE signature is not over the spec's PAE")
	}
}

// TestAdmitHandMadeEnvelope signs PAEs with crypto/ecdsa and
// crypto/ed25519 directly, without sigstore: the right PAE is admitted,
// near misses of it are not.
func TestAdmitHandMadeEnvelope(t *testing.T) {
	ks := keys(t)
	subjects := []testSubject{subj("acme/hand-made")}
	payload := slsaStatement(t, subjects...)
	signWith := func(k *testKey, msg []byte) string {
		var sig []byte
		var err error
		switch priv := k.priv.(type) {
		case *ecdsa.PrivateKey:
			h := sha256.Sum256(msg)
			sig, err = ecdsa.SignASN1(rand.Reader, priv, h[:])
		case ed25519.PrivateKey:
			sig = ed25519.Sign(priv, msg)
		default:
			t.Fatalf("unexpected key %T", priv)
		}
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(sig)
	}
	envelope := func(sig string) []byte {
		return []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"` +
			base64.StdEncoding.EncodeToString(payload) + `","signatures":[{"sig":"` + sig + `"}]}`)
	}
	typ := InTotoPayloadType
	for _, k := range []*testKey{ks.p256, ks.ed} {
		t.Run(k.name, func(t *testing.T) {
			good := fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(typ), typ, len(payload), payload)
			env := envelope(signWith(k, good))
			rel := admit(t, &Submission{Envelope: env, PublicKey: k.pem(t)}, nil)
			checkRelease(t, rel, env, want{key: k, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: subjects})

			for name, msg := range map[string][]byte{
				"raw payload":        payload,
				"no DSSEv1 prefix":   fmt.Appendf(nil, "%d %s %d %s", len(typ), typ, len(payload), payload),
				"lengths in hex":     fmt.Appendf(nil, "DSSEv1 %x %s %x %s", len(typ), typ, len(payload), payload),
				"payload length off": fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(typ), typ, len(payload)+1, payload),
				"newline separators": fmt.Appendf(nil, "DSSEv1\n%d\n%s\n%d\n%s", len(typ), typ, len(payload), payload),
				"other payload type": fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len("application/json"), "application/json", len(payload), payload),
				"base64 payload":     fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(typ), typ, len(base64.StdEncoding.EncodeToString(payload)), base64.StdEncoding.EncodeToString(payload)),
				"trailing space":     append(bytes.Clone(good), ' '),
				"first byte dropped": good[1:],
			} {
				_, err := Admit(&Submission{Envelope: envelope(signWith(k, msg)), PublicKey: k.pem(t)}, nil, maxEntry)
				if err == nil {
					t.Errorf("signature over %s admitted", name)
					continue
				}
				wantErr(t, err, ErrSignature, k.fp(t))
			}
		})
	}
}

func TestAdmitStatementV01(t *testing.T) {
	ks := keys(t)
	subjects := []testSubject{subj("acme/old-format")}
	payload := stmt(t, StatementV01, "https://slsa.dev/provenance/v0.2", map[string]any{"builder": map[string]any{"id": "b"}}, subjects...)
	env := ks.p256.sign(t, payload)
	rel := admit(t, &Submission{Envelope: env, PublicKey: ks.p256.pem(t)}, nil)
	checkRelease(t, rel, env, want{key: ks.p256, statementType: StatementV01, predicateType: "https://slsa.dev/provenance/v0.2", subjects: subjects})
}

func TestAdmitModelSigning(t *testing.T) {
	ks := keys(t)
	for _, n := range []int{1, 3, 40} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			subjects := []testSubject{subj("acme/llm-7b")}
			payload := stmt(t, StatementV1, ModelSigningV1, modelSigningPredicate(n), subjects...)
			env := ks.ed.sign(t, payload)
			rel := admit(t, &Submission{Envelope: env, PublicKey: ks.ed.pem(t)}, nil)
			checkRelease(t, rel, env, want{key: ks.ed, statementType: StatementV1, predicateType: ModelSigningV1, subjects: subjects, model: "acme/llm-7b", resources: n})
		})
	}
}

func TestAdmitSubjectsWithMoreDigests(t *testing.T) {
	ks := keys(t)
	s := subj("acme/multi")
	s.Digest["sha512"] = strings.Repeat("ab", 64)
	s.Digest["gitCommit"] = strings.Repeat("c", 40)
	subjects := []testSubject{s, subj("acme/\"quoted\"<name>&\U0001F600 é")}
	env := ks.p256.sign(t, slsaStatement(t, subjects...))
	rel := admit(t, &Submission{Envelope: env, PublicKey: ks.p256.pem(t)}, nil)
	checkRelease(t, rel, env, want{key: ks.p256, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: subjects})
}

func TestAdmitCertificate(t *testing.T) {
	ks := keys(t)
	subjects := []testSubject{subj("acme/certified")}
	env := ks.p256.sign(t, slsaStatement(t, subjects...))

	t.Run("self-signed", func(t *testing.T) {
		c := newCert(t, "release signer", ks.p256, nil, false)
		rel := admit(t, &Submission{Envelope: env, Certificate: c.pem()}, nil)
		checkRelease(t, rel, env, want{key: ks.p256, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: subjects, cert: c})
	})
	t.Run("chain, leaf first", func(t *testing.T) {
		ca := newCert(t, "acme CA", ks.p384, nil, true)
		leaf := newCert(t, "release signer", ks.p256, ca, false)
		rel := admit(t, &Submission{Envelope: env, Certificate: leaf.pem() + ca.pem()}, nil)
		checkRelease(t, rel, env, want{key: ks.p256, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: subjects, cert: leaf})
	})
	t.Run("certificate of another key", func(t *testing.T) {
		c := newCert(t, "someone else", ks.p256b, nil, false)
		_, err := Admit(&Submission{Envelope: env, Certificate: c.pem()}, nil, maxEntry)
		wantErr(t, err, ErrSignature, ks.p256b.fp(t))
	})
}

func TestAdmitBundle(t *testing.T) {
	ks := keys(t)
	subjects := []testSubject{subj("acme/bundled")}
	env := ks.p256.sign(t, slsaStatement(t, subjects...))
	bare := admit(t, &Submission{Envelope: env, PublicKey: ks.p256.pem(t)}, nil)
	leaf := newCert(t, "release signer", ks.p256, nil, false)
	ca := newCert(t, "acme CA", ks.p384, nil, true)
	chained := newCert(t, "release signer", ks.p256, ca, false)

	t.Run("v0.3 key hint", func(t *testing.T) {
		b := bundleJSON(t, bundleV03, env, keyHint("release-key-1"))
		rel := admit(t, &Submission{Bundle: b, PublicKey: ks.p256.pem(t)}, nil)
		checkRelease(t, rel, env, want{key: ks.p256, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: subjects})
		if !reflect.DeepEqual(rel, bare) {
			t.Errorf("bundle release differs from the bare envelope's:\n%s\n%s", rel.Entry, bare.Entry)
		}
	})
	for _, mt := range []string{bundleV03, "application/vnd.dev.sigstore.bundle+json;version=0.3"} {
		t.Run(mt+" certificate", func(t *testing.T) {
			b := bundleJSON(t, mt, env, certMaterial(leaf.der))
			rel := admit(t, &Submission{Bundle: b}, nil)
			checkRelease(t, rel, env, want{key: ks.p256, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: subjects, cert: leaf})
			// The same key given as public_key too is fine.
			again := admit(t, &Submission{Bundle: b, PublicKey: ks.p256.pem(t)}, nil)
			if !reflect.DeepEqual(rel, again) {
				t.Errorf("public_key changed the release")
			}
		})
	}
	for _, mt := range []string{"application/vnd.dev.sigstore.bundle+json;version=0.2", "application/vnd.dev.sigstore.bundle+json;version=0.1"} {
		t.Run(mt+" x509CertificateChain", func(t *testing.T) {
			b := bundleJSON(t, mt, env, chainMaterial(chained.der, ca.der))
			rel := admit(t, &Submission{Bundle: b}, nil)
			checkRelease(t, rel, env, want{key: ks.p256, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: subjects, cert: chained})
		})
	}
	t.Run("via ParseSubmission", func(t *testing.T) {
		body := mustJSON(t, map[string]any{
			"bundle":     json.RawMessage(bundleJSON(t, bundleV03, env, keyHint(""))),
			"public_key": ks.p256.pem(t),
		})
		s, err := ParseSubmission(body)
		if err != nil {
			t.Fatal(err)
		}
		if rel := admit(t, s, nil); !bytes.Equal(rel.Entry, bare.Entry) {
			t.Errorf("entry %s, want %s", rel.Entry, bare.Entry)
		}
	})
}

// base64Awkward finds a statement and Ed25519 envelope whose standard
// base64 payload and signature both hold '+' or '/' and padding, so that
// their URL-safe and unpadded encodings differ from the standard one.
func base64Awkward(t *testing.T, k *testKey) (payload, sig []byte) {
	t.Helper()
	for i := range 10000 {
		payload = stmt(t, StatementV1, SLSAProvenanceV1, map[string]any{"nonce": fmt.Sprintf("~~~%d", i)}, subj("acme/b64"))
		e := decodeEnv(t, k.sign(t, payload))
		sig, _ = base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
		p, s := e.Payload, e.Signatures[0].Sig
		if strings.ContainsAny(p, "+/") && strings.HasSuffix(p, "=") && strings.ContainsAny(s, "+/") && strings.HasSuffix(s, "=") {
			return payload, sig
		}
	}
	t.Fatal("no awkward base64 found")
	return nil, nil
}

// paddingBitsSet sets the unused low bits of the last base64 character
// before the padding: the lenient decoder ignores them, so the result
// decodes to the same bytes, but it is not the canonical encoding.
func paddingBitsSet(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(s, '=') - 1
	if i < 0 {
		panic("no padding in " + s)
	}
	c := alphabet[strings.IndexByte(alphabet, s[i])|1]
	out := s[:i] + string(c) + s[i+1:]
	if a, _ := base64.StdEncoding.DecodeString(s); !bytes.Equal(a, func() []byte { b, _ := base64.StdEncoding.DecodeString(out); return b }()) {
		panic("paddingBitsSet changed the decoded bytes")
	}
	return out
}

func envJSON(t testing.TB, payloadType, payloadB64 string, sigs ...string) []byte {
	e := testEnvelope{PayloadType: payloadType, Payload: payloadB64, Signatures: []testSig{}}
	for _, s := range sigs {
		e.Signatures = append(e.Signatures, testSig{Sig: s})
	}
	return mustJSON(t, e)
}

func TestAdmitRejects(t *testing.T) {
	ks := keys(t)
	k := ks.p256
	pem := k.pem(t)
	goodPayload := slsaStatement(t, subj("acme/m"))
	good := k.sign(t, goodPayload)
	goodEnv := decodeEnv(t, good)
	goodSig := goodEnv.Signatures[0].Sig
	b64 := base64.StdEncoding.EncodeToString
	signed := func(payload []byte) []byte { return k.sign(t, payload) }
	withSubjects := func(subjects ...testSubject) []byte { return signed(slsaStatement(t, subjects...)) }
	withDigest := func(d map[string]string) []byte {
		return withSubjects(testSubject{Name: "acme/m", Digest: d})
	}
	rawStatement := func(m map[string]any) []byte { return signed(mustJSON(t, m)) }
	edPayload, edSig := base64Awkward(t, ks.ed)
	edPEM := ks.ed.pem(t)
	cert := newCert(t, "signer", k, nil, false)
	otherCert := newCert(t, "other", ks.p256b, nil, false)
	flipped := func() []byte {
		sig, _ := base64.StdEncoding.DecodeString(goodSig)
		sig[len(sig)/2] ^= 0x01
		return envJSON(t, InTotoPayloadType, goodEnv.Payload, b64(sig))
	}()
	tampered := envJSON(t, InTotoPayloadType, b64(bytes.Replace(goodPayload, []byte("acme/m"), []byte("acme/n"), 1)), goodSig)
	manySigs := func(n int) []byte {
		sigs := make([]string, n)
		for i := range sigs {
			sigs[i] = goodSig
		}
		return envJSON(t, InTotoPayloadType, goodEnv.Payload, sigs...)
	}
	many := make([]testSubject, 60)
	for i := range many {
		many[i] = subj(fmt.Sprintf("acme/shard-%03d", i))
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak := &testKey{name: "rsa1024", priv: rsa1024}
	if weak.sv, err = signature.LoadRSAPKCS1v15SignerVerifier(rsa1024, crypto.SHA256); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		sub      *Submission
		maxEntry int
		err      error
		msg      []string
	}{
		// Signatures.
		{"flipped signature byte", &Submission{Envelope: flipped, PublicKey: pem}, 0, ErrSignature, []string{"no signature", k.fp(t)}},
		{"tampered payload", &Submission{Envelope: tampered, PublicKey: pem}, 0, ErrSignature, []string{k.fp(t)}},
		{"signed by another key", &Submission{Envelope: ks.p256b.sign(t, goodPayload), PublicKey: pem}, 0, ErrSignature, []string{k.fp(t)}},
		{"ed25519 signed by another key", &Submission{Envelope: ks.ed2.sign(t, goodPayload), PublicKey: edPEM}, 0, ErrSignature, []string{ks.ed.fp(t)}},
		{"rsa pkcs1 signature, pss key", &Submission{Envelope: ks.rsa.sign(t, goodPayload), PublicKey: ks.rsaPSS.pem(t)}, 0, ErrSignature, nil},
		{"signature moved to other payload", &Submission{Envelope: envJSON(t, InTotoPayloadType, b64(slsaStatement(t, subj("acme/evil"))), goodSig), PublicKey: pem}, 0, ErrSignature, nil},
		{"certificate of another key", &Submission{Envelope: good, Certificate: otherCert.pem()}, 0, ErrSignature, []string{ks.p256b.fp(t)}},
		{"rsa 1024 key", &Submission{Envelope: weak.sign(t, goodPayload), PublicKey: weak.pem(t)}, 0, ErrInvalid, []string{"public key"}},

		// Envelope shape.
		{"wrong payloadType", &Submission{Envelope: func() []byte {
			e, err := sigdsse.WrapSigner(k.sv, "application/json").SignMessage(bytes.NewReader(goodPayload))
			if err != nil {
				t.Fatal(err)
			}
			return e
		}(), PublicKey: pem}, 0, ErrInvalid, []string{"payloadType", "application/json"}},
		{"payloadType differs in case", &Submission{Envelope: envJSON(t, "application/vnd.in-toto+JSON", goodEnv.Payload, goodSig), PublicKey: pem}, 0, ErrInvalid, []string{"payloadType"}},
		{"payload not base64", &Submission{Envelope: envJSON(t, InTotoPayloadType, "!!not base64!!", goodSig), PublicKey: pem}, 0, ErrInvalid, []string{"payload", "base64"}},
		{"payload URL-safe base64", &Submission{Envelope: envJSON(t, InTotoPayloadType, base64.URLEncoding.EncodeToString(edPayload), b64(edSig)), PublicKey: edPEM}, 0, ErrInvalid, []string{"payload", "base64"}},
		{"payload unpadded base64", &Submission{Envelope: envJSON(t, InTotoPayloadType, base64.RawStdEncoding.EncodeToString(edPayload), b64(edSig)), PublicKey: edPEM}, 0, ErrInvalid, []string{"payload", "base64"}},
		{"payload empty", &Submission{Envelope: envJSON(t, InTotoPayloadType, "", goodSig), PublicKey: pem}, 0, ErrInvalid, []string{"payload is empty"}},
		{"payload padding bits set", &Submission{Envelope: envJSON(t, InTotoPayloadType, paddingBitsSet(b64(edPayload)), b64(edSig)), PublicKey: edPEM}, 0, ErrInvalid, []string{"payload", "base64"}},
		{"sig padding bits set", &Submission{Envelope: envJSON(t, InTotoPayloadType, b64(edPayload), paddingBitsSet(b64(edSig))), PublicKey: edPEM}, 0, ErrInvalid, []string{"signature 0", "base64"}},
		{"sig not base64", &Submission{Envelope: envJSON(t, InTotoPayloadType, goodEnv.Payload, "%%%"), PublicKey: pem}, 0, ErrInvalid, []string{"signature 0", "base64"}},
		{"sig URL-safe base64", &Submission{Envelope: envJSON(t, InTotoPayloadType, b64(edPayload), base64.URLEncoding.EncodeToString(edSig)), PublicKey: edPEM}, 0, ErrInvalid, []string{"signature 0", "base64"}},
		{"sig unpadded base64", &Submission{Envelope: envJSON(t, InTotoPayloadType, b64(edPayload), base64.RawStdEncoding.EncodeToString(edSig)), PublicKey: edPEM}, 0, ErrInvalid, []string{"signature 0", "base64"}},
		{"second sig empty", &Submission{Envelope: envJSON(t, InTotoPayloadType, goodEnv.Payload, goodSig, ""), PublicKey: pem}, 0, ErrInvalid, []string{"signature 1", "base64"}},
		{"malformed JSON envelope", &Submission{Envelope: []byte(`{"payloadType":"application/vnd.in-toto+json","payload":`), PublicKey: pem}, 0, ErrInvalid, []string{"DSSE envelope"}},
		{"envelope is a string", &Submission{Envelope: []byte(`"` + b64(good) + `"`), PublicKey: pem}, 0, ErrInvalid, []string{"DSSE envelope"}},
		{"envelope is an array", &Submission{Envelope: []byte(`[` + string(good) + `]`), PublicKey: pem}, 0, ErrInvalid, []string{"DSSE envelope"}},
		{"unknown envelope field", &Submission{Envelope: bytes.Replace(good, []byte(`{`), []byte(`{"payloadTypes":"x",`), 1), PublicKey: pem}, 0, ErrInvalid, []string{"unknown field", "payloadTypes"}},
		{"unknown signature field", &Submission{Envelope: bytes.Replace(good, []byte(`"sig":`), []byte(`"cert":"x","sig":`), 1), PublicKey: pem}, 0, ErrInvalid, []string{"unknown field", "cert"}},
		{"trailing data after envelope", &Submission{Envelope: append(bytes.Clone(good), " {}"...), PublicKey: pem}, 0, ErrInvalid, []string{"trailing"}},
		{"signature is a string", &Submission{Envelope: []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"` + goodEnv.Payload + `","signatures":"` + goodSig + `"}`), PublicKey: pem}, 0, ErrInvalid, []string{"DSSE envelope"}},
		{"empty signatures", &Submission{Envelope: manySigs(0), PublicKey: pem}, 0, ErrInvalid, []string{"no signatures"}},
		{"no signatures field", &Submission{Envelope: []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"` + goodEnv.Payload + `"}`), PublicKey: pem}, 0, ErrInvalid, []string{"no signatures"}},
		{"17 signatures", &Submission{Envelope: manySigs(17), PublicKey: pem}, 0, ErrInvalid, []string{"17 signatures", "at most 16"}},

		// Statement.
		{"payload not JSON", &Submission{Envelope: signed([]byte("not json")), PublicKey: pem}, 0, ErrInvalid, []string{"in-toto statement"}},
		{"payload JSON array", &Submission{Envelope: signed([]byte("[]")), PublicKey: pem}, 0, ErrInvalid, []string{"in-toto statement"}},
		{"payload not UTF-8", &Submission{Envelope: signed([]byte(`{"_type":"` + StatementV1 + "\",\"predicateType\":\"p\",\"subject\":[{\"name\":\"\xff\",\"digest\":{}}]}")), PublicKey: pem}, 0, ErrInvalid, []string{"UTF-8"}},
		{"statement _type unknown", &Submission{Envelope: signed(stmt(t, "https://in-toto.io/Statement/v2", SLSAProvenanceV1, nil, subj("m"))), PublicKey: pem}, 0, ErrInvalid, []string{"_type", "Statement/v2"}},
		{"statement _type missing", &Submission{Envelope: rawStatement(map[string]any{"subject": []testSubject{subj("m")}, "predicateType": SLSAProvenanceV1}), PublicKey: pem}, 0, ErrInvalid, []string{"_type"}},
		{"statement _type not a string", &Submission{Envelope: rawStatement(map[string]any{"_type": 1, "subject": []testSubject{subj("m")}, "predicateType": SLSAProvenanceV1}), PublicKey: pem}, 0, ErrInvalid, []string{"_type"}},
		// One signed payload must not read as two statements: no
		// duplicate or case-folded field names.
		{"duplicate subject field", &Submission{Envelope: signed([]byte(`{"_type":"` + StatementV1 + `","predicateType":"p","subject":[{"name":"acme/a","digest":{"sha256":"` + sha256Hex("a") + `"}}],"subject":[{"name":"acme/b","digest":{"sha256":"` + sha256Hex("b") + `"}}]}`)), PublicKey: pem}, 0, ErrInvalid, []string{"duplicate", "subject"}},
		{"duplicate digest field", &Submission{Envelope: signed([]byte(`{"_type":"` + StatementV1 + `","predicateType":"p","subject":[{"name":"acme/a","digest":{"sha256":"` + sha256Hex("a") + `","sha256":"` + sha256Hex("b") + `"}}]}`)), PublicKey: pem}, 0, ErrInvalid, []string{"duplicate", "sha256"}},
		{"case-folded Subject field", &Submission{Envelope: rawStatement(map[string]any{"_type": StatementV1, "predicateType": SLSAProvenanceV1, "Subject": []testSubject{subj("m")}}), PublicKey: pem}, 0, ErrInvalid, []string{"no subjects"}},
		{"control character in subject name", &Submission{Envelope: withSubjects(subj("acme/m\x1b[2K")), PublicKey: pem}, 0, ErrInvalid, []string{"control"}},
		{"C1 control in subject name", &Submission{Envelope: withSubjects(subj("acme/m\u0085")), PublicKey: pem}, 0, ErrInvalid, []string{"control"}},
		{"no predicateType", &Submission{Envelope: signed(stmt(t, StatementV1, "", nil, subj("m"))), PublicKey: pem}, 0, ErrInvalid, []string{"predicateType"}},
		{"no subjects", &Submission{Envelope: withSubjects(), PublicKey: pem}, 0, ErrInvalid, []string{"no subjects"}},
		{"subject field missing", &Submission{Envelope: rawStatement(map[string]any{"_type": StatementV1, "predicateType": SLSAProvenanceV1}), PublicKey: pem}, 0, ErrInvalid, []string{"no subjects"}},
		{"subject only sha512", &Submission{Envelope: withDigest(map[string]string{"sha512": strings.Repeat("ab", 64)}), PublicKey: pem}, 0, ErrInvalid, []string{"no sha256 digest", "acme/m"}},
		{"subject without digest", &Submission{Envelope: withSubjects(testSubject{Name: "acme/m"}), PublicKey: pem}, 0, ErrInvalid, []string{"no sha256 digest"}},
		{"sha256 uppercase", &Submission{Envelope: withDigest(map[string]string{"sha256": strings.ToUpper(sha256Hex("x"))}), PublicKey: pem}, 0, ErrInvalid, []string{"64 lowercase hex"}},
		{"sha256 63 hex", &Submission{Envelope: withDigest(map[string]string{"sha256": sha256Hex("x")[:63]}), PublicKey: pem}, 0, ErrInvalid, []string{"64 lowercase hex"}},
		{"sha256 65 hex", &Submission{Envelope: withDigest(map[string]string{"sha256": sha256Hex("x") + "0"}), PublicKey: pem}, 0, ErrInvalid, []string{"64 lowercase hex"}},
		{"sha256 with prefix", &Submission{Envelope: withDigest(map[string]string{"sha256": "sha256:" + sha256Hex("x")}), PublicKey: pem}, 0, ErrInvalid, []string{"64 lowercase hex"}},
		{"sha256 not hex", &Submission{Envelope: withDigest(map[string]string{"sha256": strings.Repeat("g", 64)}), PublicKey: pem}, 0, ErrInvalid, []string{"64 lowercase hex"}},
		{"second subject bad", &Submission{Envelope: withSubjects(subj("ok"), testSubject{Name: "bad", Digest: map[string]string{"sha256": "00"}}), PublicKey: pem}, 0, ErrInvalid, []string{"subject 1", "bad"}},
		{"empty digest algorithm", &Submission{Envelope: withDigest(map[string]string{"sha256": sha256Hex("x"), "": "ab"}), PublicKey: pem}, 0, ErrInvalid, []string{"bad digest"}},
		{"empty extra digest value", &Submission{Envelope: withDigest(map[string]string{"sha256": sha256Hex("x"), "md5": ""}), PublicKey: pem}, 0, ErrInvalid, []string{"bad digest", "md5"}},
		{"subject name too long", &Submission{Envelope: withSubjects(subj(strings.Repeat("n", 1025))), PublicKey: pem}, 0, ErrInvalid, []string{"longer than 1024"}},
		{"model-signing without resources", &Submission{Envelope: signed(stmt(t, StatementV1, ModelSigningV1, map[string]any{"serialization": map[string]any{"method": "files"}}, subj("m"))), PublicKey: pem}, 0, ErrInvalid, []string{"resources"}},
		{"model-signing resources null", &Submission{Envelope: signed(stmt(t, StatementV1, ModelSigningV1, map[string]any{"resources": nil}, subj("m"))), PublicKey: pem}, 0, ErrInvalid, []string{"resources"}},
		{"model-signing resources object", &Submission{Envelope: signed(stmt(t, StatementV1, ModelSigningV1, map[string]any{"resources": map[string]any{}}, subj("m"))), PublicKey: pem}, 0, ErrInvalid, []string{"resources"}},
		{"model-signing without predicate", &Submission{Envelope: signed(stmt(t, StatementV1, ModelSigningV1, nil, subj("m"))), PublicKey: pem}, 0, ErrInvalid, []string{"resources"}},

		// Submission shape and keys.
		{"envelope and bundle", &Submission{Envelope: good, Bundle: bundleJSON(t, bundleV03, good, keyHint("")), PublicKey: pem}, 0, ErrInvalid, []string{"not both"}},
		{"neither envelope nor bundle", &Submission{PublicKey: pem}, 0, ErrInvalid, []string{"envelope or a bundle"}},
		{"envelope without key", &Submission{Envelope: good}, 0, ErrInvalid, []string{"public_key or certificate"}},
		{"public_key and certificate", &Submission{Envelope: good, PublicKey: pem, Certificate: cert.pem()}, 0, ErrInvalid, []string{"not both"}},
		{"public_key not PEM", &Submission{Envelope: good, PublicKey: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"}, 0, ErrInvalid, []string{"public_key", "PEM"}},
		{"public_key is a certificate", &Submission{Envelope: good, PublicKey: cert.pem()}, 0, ErrInvalid, []string{"public_key"}},
		{"public_key PEM with bad DER", &Submission{Envelope: good, PublicKey: string(pemBlock("PUBLIC KEY", []byte("not DER")))}, 0, ErrInvalid, []string{"public_key"}},
		{"certificate not PEM", &Submission{Envelope: good, Certificate: "not a certificate"}, 0, ErrInvalid, []string{"certificate"}},
		{"certificate PEM with bad DER", &Submission{Envelope: good, Certificate: string(pemBlock("CERTIFICATE", []byte("garbage")))}, 0, ErrInvalid, []string{"certificate"}},

		// Bundles.
		{"bundle with certificate field", &Submission{Bundle: bundleJSON(t, bundleV03, good, keyHint("")), Certificate: cert.pem()}, 0, ErrInvalid, []string{"bundle carries its own certificate"}},
		{"bundle unknown mediaType", &Submission{Bundle: bundleJSON(t, "application/vnd.dev.sigstore.bundle.v0.4+json", good, keyHint("")), PublicKey: pem}, 0, ErrInvalid, []string{"mediaType", "v0.4"}},
		{"bundle without mediaType", &Submission{Bundle: bundleJSON(t, "", good, keyHint("")), PublicKey: pem}, 0, ErrInvalid, []string{"mediaType"}},
		{"bundle mediaType case", &Submission{Bundle: bundleJSON(t, strings.ToUpper(bundleV03), good, keyHint("")), PublicKey: pem}, 0, ErrInvalid, []string{"mediaType"}},
		{"bundle not an object", &Submission{Bundle: []byte(`[1,2]`), PublicKey: pem}, 0, ErrInvalid, []string{"bundle"}},
		{"bundle messageSignature", &Submission{Bundle: mustJSON(t, map[string]any{
			"mediaType":            bundleV03,
			"verificationMaterial": keyHint(""),
			"messageSignature": map[string]any{
				"messageDigest": map[string]any{"algorithm": "SHA2_256", "digest": b64(make([]byte, 32))},
				"signature":     goodSig,
			},
		}), PublicKey: pem}, 0, ErrInvalid, []string{"message signature"}},
		{"bundle without content", &Submission{Bundle: mustJSON(t, map[string]any{"mediaType": bundleV03, "verificationMaterial": keyHint("")}), PublicKey: pem}, 0, ErrInvalid, []string{"dsseEnvelope"}},
		{"bundle dsseEnvelope null", &Submission{Bundle: mustJSON(t, map[string]any{"mediaType": bundleV03, "verificationMaterial": keyHint(""), "dsseEnvelope": nil}), PublicKey: pem}, 0, ErrInvalid, []string{"dsseEnvelope"}},
		{"key-hint bundle without public_key", &Submission{Bundle: bundleJSON(t, bundleV03, good, keyHint("k"))}, 0, ErrInvalid, []string{"public_key"}},
		{"bundle without verificationMaterial", &Submission{Bundle: bundleJSON(t, bundleV03, good, nil), PublicKey: pem}, 0, ErrInvalid, []string{"verificationMaterial"}},
		{"bundle empty certificate chain", &Submission{Bundle: bundleJSON(t, "application/vnd.dev.sigstore.bundle+json;version=0.2", good, chainMaterial()), PublicKey: pem}, 0, ErrInvalid, []string{"verificationMaterial"}},
		{"bundle certificate not base64", &Submission{Bundle: bundleJSON(t, bundleV03, good, map[string]any{"certificate": map[string]any{"rawBytes": "***"}})}, 0, ErrInvalid, []string{"rawBytes"}},
		{"bundle certificate URL-safe base64", &Submission{Bundle: bundleJSON(t, bundleV03, good, map[string]any{"certificate": map[string]any{"rawBytes": base64.RawURLEncoding.EncodeToString(cert.der)}})}, 0, ErrInvalid, []string{"rawBytes"}},
		{"bundle certificate not DER", &Submission{Bundle: bundleJSON(t, bundleV03, good, certMaterial([]byte("not a certificate")))}, 0, ErrInvalid, []string{"certificate"}},
		{"public_key differs from bundle certificate", &Submission{Bundle: bundleJSON(t, bundleV03, good, certMaterial(cert.der)), PublicKey: ks.p256b.pem(t)}, 0, ErrInvalid, []string{"not the bundle certificate's key"}},
		{"bundle certificate of another key", &Submission{Bundle: bundleJSON(t, bundleV03, good, certMaterial(otherCert.der))}, 0, ErrSignature, []string{ks.p256b.fp(t)}},
		{"bundle envelope with unknown field", &Submission{Bundle: bytes.Replace(bundleJSON(t, bundleV03, good, keyHint("")), []byte(`"payloadType":`), []byte(`"extra":1,"payloadType":`), 1), PublicKey: pem}, 0, ErrInvalid, []string{"unknown field"}},

		// Size.
		{"too many subjects", &Submission{Envelope: withSubjects(many...), PublicKey: pem}, 4096, ErrTooLarge, []string{"4096", "60 subjects"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.maxEntry
			if max == 0 {
				max = maxEntry
			}
			rel, err := Admit(tc.sub, nil, max)
			if rel != nil {
				t.Errorf("returned a release with the error: %s", rel.Entry)
			}
			wantErr(t, err, tc.err, tc.msg...)
			// An error wraps exactly one sentinel: the API maps each to
			// one status.
			for _, s := range []error{ErrInvalid, ErrSignature, ErrForbidden, ErrTooLarge} {
				if s != tc.err && errors.Is(err, s) {
					t.Errorf("error %q also wraps %q", err, s)
				}
			}
		})
	}
}

// TestAdmitRejectsControls: each awkward envelope above differs from an
// admitted one only in the tested respect.
func TestAdmitRejectsControls(t *testing.T) {
	ks := keys(t)
	edPayload, edSig := base64Awkward(t, ks.ed)
	b64 := base64.StdEncoding.EncodeToString
	admit(t, &Submission{Envelope: envJSON(t, InTotoPayloadType, b64(edPayload), b64(edSig)), PublicKey: ks.ed.pem(t)}, nil)
	many := make([]testSubject, 60)
	for i := range many {
		many[i] = subj(fmt.Sprintf("acme/shard-%03d", i))
	}
	admit(t, &Submission{Envelope: ks.p256.sign(t, slsaStatement(t, many...)), PublicKey: ks.p256.pem(t)}, nil)
}

// TestAdmitEntryLimit: an entry of exactly maxEntry bytes is taken, one
// byte over is ErrTooLarge with the limit and the size in the message.
func TestAdmitEntryLimit(t *testing.T) {
	ks := keys(t)
	subjects := make([]testSubject, 20)
	for i := range subjects {
		subjects[i] = subj(fmt.Sprintf("acme/part-%d", i))
	}
	s := &Submission{Envelope: ks.p256.sign(t, slsaStatement(t, subjects...)), PublicKey: ks.p256.pem(t)}
	rel := admit(t, s, nil)
	n := len(rel.Entry)
	if r, err := Admit(s, nil, n); err != nil || !bytes.Equal(r.Entry, rel.Entry) {
		t.Fatalf("Admit with maxEntry = len(entry) = %d: %v", n, err)
	}
	_, err := Admit(s, nil, n-1)
	wantErr(t, err, ErrTooLarge, fmt.Sprint(n-1), fmt.Sprint(n), "20 subjects")
}

// TestAdmitSignatures: the envelope is admitted if any of its signatures
// verifies; 16 are checked at most.
func TestAdmitSignatures(t *testing.T) {
	ks := keys(t)
	payload := slsaStatement(t, subj("acme/multi-sig"))
	mine := decodeEnv(t, ks.p256.sign(t, payload)).Signatures[0].Sig
	theirs := decodeEnv(t, ks.p256b.sign(t, payload)).Signatures[0].Sig
	edSig := decodeEnv(t, ks.ed.sign(t, payload)).Signatures[0].Sig
	p := base64.StdEncoding.EncodeToString(payload)
	for _, sigs := range [][]string{
		{theirs, mine},
		{mine, theirs},
		{edSig, theirs, mine},
		slices.Repeat([]string{mine}, 16),
		append(slices.Repeat([]string{theirs}, 15), mine),
	} {
		env := envJSON(t, InTotoPayloadType, p, sigs...)
		rel := admit(t, &Submission{Envelope: env, PublicKey: ks.p256.pem(t)}, nil)
		checkRelease(t, rel, env, want{key: ks.p256, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: []testSubject{subj("acme/multi-sig")}})
	}
	_, err := Admit(&Submission{Envelope: envJSON(t, InTotoPayloadType, p, theirs, edSig), PublicKey: ks.p256.pem(t)}, nil, maxEntry)
	wantErr(t, err, ErrSignature)
}

// TestAdmitKeyIDHint: DSSE's keyid is an optional, unauthenticated hint
// ("KEYID: Optional, unauthenticated hint indicating what key and
// algorithm was used"); a valid signature must verify whatever keyid it
// carries; the keyid is not kept in the envelope blob (it is not signed,
// so anyone could change it and log the same release again).
func TestAdmitKeyIDHint(t *testing.T) {
	ks := keys(t)
	subjects := []testSubject{subj("acme/keyid")}
	payload := slsaStatement(t, subjects...)
	for _, k := range []*testKey{ks.p256, ks.ed, ks.rsa} {
		e := decodeEnv(t, k.sign(t, payload))
		for _, keyid := range []string{"release-key-1", k.fp(t), "SHA256:not-the-ssh-fingerprint"} {
			e.Signatures[0].KeyID = keyid
			env := mustJSON(t, e)
			rel, err := Admit(&Submission{Envelope: env, PublicKey: k.pem(t)}, nil, maxEntry)
			if err != nil {
				t.Errorf("%s: signature with keyid %q rejected: %v", k.name, keyid, err)
				continue
			}
			checkRelease(t, rel, env, want{key: k, statementType: StatementV1, predicateType: SLSAProvenanceV1, subjects: subjects})
		}
	}
}

// TestAdmitBase64LineBreaks: Go's strict base64 decoder skips CR and LF,
// so an envelope whose base64 carries line breaks decodes to the same
// payload and signature as one without. The log must not record two
// different entries for the same signed statement: either reject the
// line breaks (RFC 4648 §3.3) or log the same entry.
func TestAdmitBase64LineBreaks(t *testing.T) {
	ks := keys(t)
	k := ks.p256
	env := k.sign(t, slsaStatement(t, subj("acme/line-breaks")))
	clean := admit(t, &Submission{Envelope: env, PublicKey: k.pem(t)}, nil)
	e := decodeEnv(t, env)
	for name, mod := range map[string]func(*testEnvelope){
		"payload": func(e *testEnvelope) { e.Payload = e.Payload[:8] + "\n" + e.Payload[8:] },
		"sig": func(e *testEnvelope) {
			e.Signatures[0].Sig = e.Signatures[0].Sig[:4] + "\r\n" + e.Signatures[0].Sig[4:]
		},
	} {
		e2 := e
		e2.Signatures = slices.Clone(e.Signatures)
		mod(&e2)
		rel, err := Admit(&Submission{Envelope: mustJSON(t, e2), PublicKey: k.pem(t)}, nil, maxEntry)
		switch {
		case err != nil:
			wantErr(t, err, ErrInvalid, "base64")
		case !bytes.Equal(rel.Entry, clean.Entry):
			t.Errorf("line break in the %s base64: admitted as a second, different entry for the same signed statement:\n%s\n%s", name, rel.Entry, clean.Entry)
		}
	}
}

func TestParseSubmission(t *testing.T) {
	ks := keys(t)
	env := ks.p256.sign(t, slsaStatement(t, subj("acme/m")))
	body := mustJSON(t, map[string]any{"envelope": json.RawMessage(env), "public_key": ks.p256.pem(t)})
	s, err := ParseSubmission(body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Envelope, env) || s.PublicKey != ks.p256.pem(t) || s.Bundle != nil || s.Certificate != "" {
		t.Errorf("ParseSubmission = %+v", s)
	}
	admit(t, s, nil)

	for _, tc := range []struct{ name, body, msg string }{
		{"empty", ``, "EOF"},
		{"not JSON", `envelope=1`, "invalid character"},
		{"array", `[]`, "cannot unmarshal"},
		{"unknown field", `{"envelope":{},"signature":"x"}`, `unknown field "signature"`},
		{"unknown field camelCase", `{"publicKey":"x"}`, `unknown field "publicKey"`},
		{"public_key not a string", `{"public_key":1}`, "cannot unmarshal"},
		{"trailing object", `{"public_key":"x"} {}`, "trailing"},
		{"trailing garbage", `{"public_key":"x"}x`, "trailing"},
		{"trailing string", `{"public_key":"x"}"x"`, "trailing"},
		// encoding/json alone matches field names case-insensitively.
		{"upper-case envelope", `{"ENVELOPE":{},"public_key":"x"}`, `unknown field "ENVELOPE"`},
		{"mixed-case public_key", `{"envelope":{},"Public_Key":"x"}`, `unknown field "Public_Key"`},
		{"title-case certificate", `{"Certificate":"x"}`, `unknown field "Certificate"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSubmission([]byte(tc.body))
			if s != nil {
				t.Errorf("returned %+v with the error", s)
			}
			wantErr(t, err, ErrInvalid, tc.msg)
		})
	}
}

// TestParseSubmissionTrailingCloser: strictUnmarshal finds trailing data
// with json.Decoder.More, which reports false for a following '}' or ']'
// — so those trailing bytes are accepted.
func TestParseSubmissionTrailingCloser(t *testing.T) {
	for _, body := range []string{`{"public_key":"x"}}`, `{"public_key":"x"}]`, `{"public_key":"x"} ]]]}`} {
		if _, err := ParseSubmission([]byte(body)); err == nil {
			t.Errorf("ParseSubmission(%s) accepted trailing data", body)
		}
	}
	// The same reader decodes DSSE envelopes.
	ks := keys(t)
	env := ks.p256.sign(t, slsaStatement(t, subj("acme/m")))
	if _, err := Admit(&Submission{Envelope: append(bytes.Clone(env), '}'), PublicKey: ks.p256.pem(t)}, nil, maxEntry); err == nil {
		t.Errorf("envelope with a trailing '}' admitted")
	}
}

func TestParsePublicKey(t *testing.T) {
	ks := keys(t)
	for _, k := range ks.all() {
		pub, err := ParsePublicKey([]byte(k.pem(t)))
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		if fp, _ := Fingerprint(pub); fp != k.fp(t) {
			t.Errorf("%s: round trip changed the key", k.name)
		}
	}
	// PKCS #1 "RSA PUBLIC KEY".
	der := x509.MarshalPKCS1PublicKey(ks.rsa.pub().(*rsa.PublicKey))
	pub, err := ParsePublicKey(pemBlock("RSA PUBLIC KEY", der))
	if err != nil {
		t.Fatal(err)
	}
	if fp, _ := Fingerprint(pub); fp != ks.rsa.fp(t) {
		t.Errorf("RSA PUBLIC KEY parsed to another key")
	}
	for _, bad := range []string{"", "hello", "-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----\n"} {
		_, err := ParsePublicKey([]byte(bad))
		wantErr(t, err, ErrInvalid, "public_key")
	}
	if _, err := Fingerprint(nil); err == nil {
		t.Errorf("Fingerprint(nil) succeeded")
	}
}

func TestParseDigest(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	good := "sha256:" + hex.EncodeToString(h[:])
	got, err := ParseDigest(good)
	if err != nil || got != h {
		t.Errorf("ParseDigest(%s) = %x, %v", good, got, err)
	}
	for _, bad := range []string{"", "sha256:", hex.EncodeToString(h[:]), "SHA256:" + hex.EncodeToString(h[:]), strings.ToUpper(good), good[:len(good)-1], good + "0", "sha512:" + hex.EncodeToString(h[:]), " " + good} {
		_, err := ParseDigest(bad)
		wantErr(t, err, ErrInvalid)
	}
}

func TestDecodeBase64(t *testing.T) {
	for in, ok := range map[string]bool{"": true, "YQ==": true, "YQ": false, "YQ=": false, "-_8=": false, "+/8=": true, "YR==": false, "YQ\n==": false, "Y\rQ==": false} {
		if _, err := decodeBase64(in); (err == nil) != ok {
			t.Errorf("decodeBase64(%q): %v, want ok=%v", in, err, ok)
		}
	}
}

// TestParseSubmissionNullMeansAbsent: JSON null for an optional field
// means "not given", as it already does for public_key and certificate;
// json.RawMessage keeps a null as the 4 bytes "null", so Admit takes
// {"envelope": null, "bundle": {...}} for a submission with both.
func TestParseSubmissionNullMeansAbsent(t *testing.T) {
	ks := keys(t)
	env := ks.p256.sign(t, slsaStatement(t, subj("acme/null")))
	bare := admit(t, &Submission{Envelope: env, PublicKey: ks.p256.pem(t)}, nil)
	for name, body := range map[string]map[string]any{
		"certificate null": {"envelope": json.RawMessage(env), "public_key": ks.p256.pem(t), "certificate": nil, "bundle": nil},
		"envelope null":    {"envelope": nil, "bundle": json.RawMessage(bundleJSON(t, bundleV03, env, keyHint(""))), "public_key": ks.p256.pem(t)},
	} {
		s, err := ParseSubmission(mustJSON(t, body))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		rel, err := Admit(s, nil, maxEntry)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(rel.Entry, bare.Entry) {
			t.Errorf("%s: entry %s, want %s", name, rel.Entry, bare.Entry)
		}
	}
}

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		entry, want string
	}{
		{`{"kind":"decision/v1","system":"s"}`, KindDecision},
		{`{"kind":"model-release/v1"}`, KindRelease},
		{`{"Kind":"decision/v1"}`, ""},
		{`{"kind":"other/v1"}`, ""},
		{`{"kind":1}`, ""},
		{`["kind"]`, ""},
		{`model acme released`, ""},
		{``, ""},
		{`{"kind":"decision/v1"`, ""},
	} {
		if got := KindOf([]byte(tc.entry)); got != tc.want {
			t.Errorf("KindOf(%q) = %q, want %q", tc.entry, got, tc.want)
		}
	}
}

func TestClaimsKind(t *testing.T) {
	for _, tc := range []struct {
		entry string
		want  bool
	}{
		{`{"kind":"decision/v1"}`, true},
		{`{"kind":"model-release/v1","x":1}`, true},
		{`{"kind":"decision/v2"}`, true},
		{` {"kind":"decision/v1"}`, true},
		{"\ufeff{\"kind\":\"decision/v1\"}", true},
		{`{"\u006bind":"decision/v1"}`, true},
		{`{"Kind":"decision/v1"}`, true},
		{`{"KIND":"decision/v1"}`, true},
		{"{\"\u212aind\":\"decision/v1\"}", true},
		{`{"kind":"decision/v1","kind":"other"}`, true},
		{`{"kind":"other","kind":"decision/v1"}`, true},
		{`{"a":{"kind":"decision/v1"},"kind":"x"}`, false},
		{`{"kind":"other/v1"}`, false},
		{`{"kind":1}`, false},
		{`["kind","decision/v1"]`, false},
		{`model acme released`, false},
		{``, false},
		{`{"kind":"decision/v1"`, true},
	} {
		if got := ClaimsKind([]byte(tc.entry)); got != tc.want {
			t.Errorf("ClaimsKind(%q) = %v, want %v", tc.entry, got, tc.want)
		}
	}
}
