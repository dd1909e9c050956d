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
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
)

// ---------------------------------------------------------------------
// A reference RFC 8785 encoder, written independently of canonical.go
// (rune-wise escaping through fmt, key order through unicode/utf16), used
// as the oracle for appendCanonical and for every entry the package emits.

func refCanonical(v any) (string, error) {
	var b strings.Builder
	if err := refEncode(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

func refEncode(b *strings.Builder, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int:
		fmt.Fprintf(b, "%d", v)
	case int64:
		fmt.Fprintf(b, "%d", v)
	case uint64:
		fmt.Fprintf(b, "%d", v)
	case json.Number:
		i, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return fmt.Errorf("reference encoder: number %s: %v", v, err)
			}
			return refEncode(b, f)
		}
		fmt.Fprintf(b, "%d", i)
	case float64:
		// encoding/json writes floats as ECMAScript does (RFC 8785's
		// number form), but for -0: a second implementation of it.
		if v == 0 {
			v = 0
		}
		out, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(out)
	case string:
		return refString(b, v)
	case []string:
		a := make([]any, len(v))
		for i, s := range v {
			a[i] = s
		}
		return refEncode(b, a)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := refEncode(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]string:
		m := map[string]any{}
		for k, s := range v {
			m[k] = s
		}
		return refEncode(b, m)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := refString(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := refEncode(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("reference encoder: unexpected %T", v)
	}
	return nil
}

// refString writes s with exactly the escapes of RFC 8785 §3.2.2.2.
func refString(b *strings.Builder, s string) error {
	if !utf8ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return nil
}

func utf8ValidString(s string) bool {
	// Not utf8.ValidString on purpose: decode rune by rune and re-encode,
	// a second route to the same answer.
	return string([]rune(s)) == s
}

// parseGeneric decodes JSON with numbers kept as json.Number.
func parseGeneric(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	if dec.More() || dec.InputOffset() != int64(len(b)) {
		t.Fatalf("trailing data after JSON value:\n%s", b)
	}
	return v
}

// assertCanonical checks that b is canonical JSON, byte for byte, by
// re-encoding its parse with the reference encoder.
func assertCanonical(t testing.TB, b []byte) {
	t.Helper()
	want, err := refCanonical(parseGeneric(t, b))
	if err != nil {
		t.Fatalf("reference encoder: %v", err)
	}
	if string(b) != want {
		t.Fatalf("not canonical JSON:\n got %s\nwant %s", b, want)
	}
}

// ---------------------------------------------------------------------
// Errors.

// wantErr checks that err wraps sentinel and mentions every substring
// (case-insensitively).
func wantErr(t testing.TB, err, sentinel error, substrs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q does not wrap %q", err, sentinel)
	}
	for _, s := range substrs {
		if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(s)) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// ---------------------------------------------------------------------
// Keys. Generated once per test binary: RSA key generation is the slow
// part of these tests.

type testKey struct {
	name string
	priv crypto.Signer
	sv   signature.SignerVerifier
}

func (k *testKey) pub() crypto.PublicKey { return k.priv.Public() }

func (k *testKey) pem(t testing.TB) string {
	t.Helper()
	p, err := cryptoutils.MarshalPublicKeyToPEM(k.pub())
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

func (k *testKey) der(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.pub())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// fp is the key's fingerprint computed here, not through Fingerprint.
func (k *testKey) fp(t testing.TB) string {
	t.Helper()
	sum := sha256.Sum256(k.der(t))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// sign signs payload as a DSSE envelope through sigstore's DSSE signer
// and returns the envelope JSON.
func (k *testKey) sign(t testing.TB, payload []byte) []byte {
	t.Helper()
	env, err := sigdsse.WrapSigner(k.sv, InTotoPayloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("%s: sign: %v", k.name, err)
	}
	return env
}

type testKeys struct {
	p256, p256b, p384, p521, ed, ed2, rsa, rsaPSS *testKey
}

func (ks *testKeys) all() []*testKey {
	return []*testKey{ks.p256, ks.p384, ks.p521, ks.ed, ks.rsa, ks.rsaPSS}
}

var keysOnce = sync.OnceValues(func() (*testKeys, error) {
	ec := func(name string, c elliptic.Curve, h crypto.Hash) (*testKey, error) {
		priv, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			return nil, err
		}
		sv, err := signature.LoadSignerVerifier(priv, h)
		if err != nil {
			return nil, err
		}
		return &testKey{name, priv, sv}, nil
	}
	ed := func(name string) (*testKey, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		sv, err := signature.LoadED25519SignerVerifier(priv)
		if err != nil {
			return nil, err
		}
		return &testKey{name, priv, sv}, nil
	}
	var ks testKeys
	var err error
	if ks.p256, err = ec("ecdsa-p256-sha256", elliptic.P256(), crypto.SHA256); err != nil {
		return nil, err
	}
	if ks.p256b, err = ec("ecdsa-p256-other", elliptic.P256(), crypto.SHA256); err != nil {
		return nil, err
	}
	if ks.p384, err = ec("ecdsa-p384-sha384", elliptic.P384(), crypto.SHA384); err != nil {
		return nil, err
	}
	if ks.p521, err = ec("ecdsa-p521-sha512", elliptic.P521(), crypto.SHA512); err != nil {
		return nil, err
	}
	if ks.ed, err = ed("ed25519"); err != nil {
		return nil, err
	}
	if ks.ed2, err = ed("ed25519-other"); err != nil {
		return nil, err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	sv, err := signature.LoadRSAPKCS1v15SignerVerifier(rsaKey, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	ks.rsa = &testKey{"rsa2048-pkcs1v15-sha256", rsaKey, sv}
	pssKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pss, err := signature.LoadRSAPSSSignerVerifier(pssKey, crypto.SHA256, nil)
	if err != nil {
		return nil, err
	}
	ks.rsaPSS = &testKey{"rsa2048-pss-sha256", pssKey, pss}
	return &ks, nil
})

func keys(t testing.TB) *testKeys {
	t.Helper()
	ks, err := keysOnce()
	if err != nil {
		t.Fatalf("generating test keys: %v", err)
	}
	return ks
}

// ---------------------------------------------------------------------
// Statements and envelopes.

type testSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func subj(name string) testSubject {
	return testSubject{Name: name, Digest: map[string]string{"sha256": sha256Hex("content of " + name)}}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stmt returns an in-toto statement.
func stmt(t testing.TB, typ, predicateType string, predicate any, subjects ...testSubject) []byte {
	t.Helper()
	m := map[string]any{"_type": typ, "predicateType": predicateType, "subject": subjects}
	if predicate != nil {
		m["predicate"] = predicate
	}
	return mustJSON(t, m)
}

func slsaStatement(t testing.TB, subjects ...testSubject) []byte {
	t.Helper()
	return stmt(t, StatementV1, SLSAProvenanceV1, map[string]any{
		"buildDefinition": map[string]any{"buildType": "https://example.com/train@v1", "externalParameters": map[string]any{"epochs": 3}},
		"runDetails":      map[string]any{"builder": map[string]any{"id": "https://example.com/builder"}},
	}, subjects...)
}

// modelSigningPredicate is an OpenSSF model-signing predicate listing n
// resources.
func modelSigningPredicate(n int) map[string]any {
	res := make([]any, n)
	for i := range res {
		name := fmt.Sprintf("weights-%05d.safetensors", i)
		res[i] = map[string]any{"name": name, "algorithm": "sha256", "digest": sha256Hex(name)}
	}
	return map[string]any{
		"serialization": map[string]any{"method": "files", "hash_type": "sha256", "allow_symlinks": false, "ignore_paths": []string{".git"}},
		"resources":     res,
	}
}

// testEnvelope mirrors a DSSE envelope for tests that alter one.
type testEnvelope struct {
	PayloadType string    `json:"payloadType"`
	Payload     string    `json:"payload"`
	Signatures  []testSig `json:"signatures"`
}

type testSig struct {
	KeyID string `json:"keyid,omitempty"`
	Sig   string `json:"sig"`
}

func decodeEnv(t testing.TB, raw []byte) testEnvelope {
	t.Helper()
	var e testEnvelope
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("test envelope: %v\n%s", err, raw)
	}
	return e
}

// pae is DSSE's pre-authentication encoding, written out from the spec.
func pae(payloadType string, body []byte) []byte {
	return []byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(body), body))
}

// ---------------------------------------------------------------------
// Certificates.

type testCert struct {
	der  []byte
	cert *x509.Certificate
	key  *testKey
}

func (c *testCert) pem() string {
	return string(pemBlock("CERTIFICATE", c.der))
}

func pemBlock(typ string, der []byte) []byte {
	var b bytes.Buffer
	b.WriteString("-----BEGIN " + typ + "-----\n")
	enc := base64.StdEncoding.EncodeToString(der)
	for len(enc) > 64 {
		b.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	b.WriteString(enc + "\n-----END " + typ + "-----\n")
	return b.Bytes()
}

// newCert issues a certificate for key, self-signed if parent is nil.
func newCert(t testing.TB, cn string, key *testKey, parent *testCert, isCA bool) *testCert {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	}
	parentCert, signer := tmpl, key.priv
	if parent != nil {
		parentCert, signer = parent.cert, parent.key.priv
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.pub(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{der: der, cert: c, key: key}
}

// ---------------------------------------------------------------------
// Sigstore bundles, in the protobuf-specs JSON form.

const bundleV03 = "application/vnd.dev.sigstore.bundle.v0.3+json"

// bundleJSON wraps a DSSE envelope in a bundle; material is the
// verificationMaterial's key ("publicKey", "certificate",
// "x509CertificateChain") with its value.
func bundleJSON(t testing.TB, mediaType string, envRaw []byte, material map[string]any) []byte {
	t.Helper()
	e := decodeEnv(t, envRaw)
	sigs := make([]any, len(e.Signatures))
	for i, s := range e.Signatures {
		// protobuf-specs JSON writes keyid even when empty.
		sigs[i] = map[string]any{"sig": s.Sig, "keyid": s.KeyID}
	}
	vm := map[string]any{"tlogEntries": []any{}}
	for k, v := range material {
		vm[k] = v
	}
	return mustJSON(t, map[string]any{
		"mediaType":            mediaType,
		"verificationMaterial": vm,
		"dsseEnvelope": map[string]any{
			"payload":     e.Payload,
			"payloadType": e.PayloadType,
			"signatures":  sigs,
		},
	})
}

func keyHint(hint string) map[string]any {
	return map[string]any{"publicKey": map[string]any{"hint": hint}}
}

func certMaterial(der []byte) map[string]any {
	return map[string]any{"certificate": map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(der)}}
}

func chainMaterial(ders ...[]byte) map[string]any {
	certs := make([]any, len(ders))
	for i, d := range ders {
		certs[i] = map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(d)}
	}
	return map[string]any{"x509CertificateChain": map[string]any{"certificates": certs}}
}
