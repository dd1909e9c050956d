package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// InTotoPayloadType is the only DSSE payload type the log admits.
const InTotoPayloadType = "application/vnd.in-toto+json"

// Envelope is a DSSE envelope (github.com/secure-systems-lab/dsse):
// signatures over PAE(payloadType, payload).
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"` // standard base64
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string `json:"keyid,omitempty"`
	Sig   string `json:"sig"` // standard base64
}

// maxSignatures bounds the signatures checked per envelope.
const maxSignatures = 16

// parseEnvelope decodes and checks the shape of a DSSE envelope: strict
// JSON, standard padded base64, at least one signature. It returns the
// envelope and its decoded payload.
func parseEnvelope(raw []byte) (*Envelope, []byte, error) {
	var env Envelope
	if err := checkJSON(raw); err != nil {
		return nil, nil, fmt.Errorf("%w: DSSE envelope: %v", ErrInvalid, err)
	}
	if err := strictUnmarshal(raw, &env); err != nil {
		return nil, nil, fmt.Errorf("%w: DSSE envelope: %v", ErrInvalid, err)
	}
	if env.PayloadType != InTotoPayloadType {
		return nil, nil, fmt.Errorf("%w: DSSE payloadType is %q, want %q", ErrInvalid, env.PayloadType, InTotoPayloadType)
	}
	payload, err := decodeBase64(env.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: DSSE payload is not standard base64: %v", ErrInvalid, err)
	}
	if len(payload) == 0 {
		return nil, nil, fmt.Errorf("%w: DSSE payload is empty", ErrInvalid)
	}
	switch n := len(env.Signatures); {
	case n == 0:
		return nil, nil, fmt.Errorf("%w: DSSE envelope has no signatures", ErrInvalid)
	case n > maxSignatures:
		return nil, nil, fmt.Errorf("%w: DSSE envelope has %d signatures, at most %d are accepted", ErrInvalid, n, maxSignatures)
	}
	for i, s := range env.Signatures {
		if _, err := decodeBase64(s.Sig); err != nil || s.Sig == "" {
			return nil, nil, fmt.Errorf("%w: DSSE signature %d is not standard base64", ErrInvalid, i)
		}
	}
	return &env, payload, nil
}

// decodeBase64 decodes standard, padded base64 with nothing else in it:
// Go's decoder skips line breaks, which would let one signed envelope be
// written (and logged) in many ways.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("line break in base64")
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

// canonical returns the envelope's canonical JSON: the bytes the log keeps
// as a blob and whose SHA-256 the entry records.
func (e *Envelope) canonical() []byte {
	sigs := make([]any, len(e.Signatures))
	for i, s := range e.Signatures {
		m := map[string]any{"sig": s.Sig}
		if s.KeyID != "" {
			m["keyid"] = s.KeyID
		}
		sigs[i] = m
	}
	b, err := appendCanonical(nil, map[string]any{
		"payloadType": e.PayloadType,
		"payload":     e.Payload,
		"signatures":  sigs,
	})
	if err != nil {
		// Base64 strings and a checked payload type are ASCII.
		panic(fmt.Sprintf("attest: canonical envelope: %v", err))
	}
	return b
}

// verifyEnvelope checks that at least one of env's signatures verifies
// over the DSSE PAE with pub, through sigstore's DSSE verifier. RSA keys
// are tried with PKCS #1 v1.5 and PSS, ECDSA keys with the hash that
// matches their curve (then SHA-256, which some signers use for every
// curve).
//
// It returns the envelope the log keeps: the payload and the first
// signature that verifies, without its keyid (an unauthenticated hint),
// an ECDSA signature in its low-S form. Anything else a third party could
// change without the publisher's key — keyids, signatures that do not
// verify, extra signatures, the sign of an ECDSA s — would otherwise make
// one signed release into many different entries.
func verifyEnvelope(env *Envelope, pub crypto.PublicKey) (*Envelope, error) {
	verifiers, err := loadVerifiers(pub)
	if err != nil {
		return nil, err
	}
	for _, sig := range env.Signatures {
		raw, err := decodeBase64(sig.Sig)
		if err != nil {
			continue // parseEnvelope checked; unreachable
		}
		one := &Envelope{
			PayloadType: env.PayloadType,
			Payload:     env.Payload,
			Signatures:  []Signature{{Sig: base64.StdEncoding.EncodeToString(lowS(pub, raw))}},
		}
		canonical := one.canonical()
		for _, v := range verifiers {
			dv := dsse.WrapVerifier(v, dsse.WithExpectedPayloadType(InTotoPayloadType))
			if dv.VerifySignature(bytes.NewReader(canonical), nil) == nil {
				return one, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: no signature of the envelope verifies with key %s", ErrSignature, mustFingerprint(pub))
}

// lowS returns an ECDSA signature (ASN.1 DER) with s ≤ n/2: (r, s) and
// (r, n−s) both verify, so either could be logged for one signing. Other
// signatures, and ones that do not parse, are returned as they are.
func lowS(pub crypto.PublicKey, sig []byte) []byte {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return sig
	}
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &v)
	if err != nil || len(rest) > 0 || v.R.Sign() <= 0 || v.S.Sign() <= 0 {
		return sig
	}
	n := k.Curve.Params().N
	if v.S.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		v.S = new(big.Int).Sub(n, v.S)
	}
	out, err := asn1.Marshal(v)
	if err != nil {
		return sig
	}
	return out
}

func loadVerifiers(pub crypto.PublicKey) ([]signature.Verifier, error) {
	if err := cryptoutils.ValidatePubKey(pub); err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrInvalid, err)
	}
	var hashes []crypto.Hash
	var opts [][]signature.LoadOption
	switch k := pub.(type) {
	case *rsa.PublicKey:
		opts = [][]signature.LoadOption{
			{options.WithHash(crypto.SHA256)},
			{options.WithHash(crypto.SHA256), options.WithRSAPSS(&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256})},
			{options.WithHash(crypto.SHA512)},
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P384():
			hashes = []crypto.Hash{crypto.SHA384, crypto.SHA256}
		case elliptic.P521():
			hashes = []crypto.Hash{crypto.SHA512, crypto.SHA256}
		default:
			hashes = []crypto.Hash{crypto.SHA256}
		}
	default:
		hashes = []crypto.Hash{crypto.SHA256}
	}
	for _, h := range hashes {
		opts = append(opts, []signature.LoadOption{options.WithHash(h)})
	}
	var out []signature.Verifier
	for _, o := range opts {
		v, err := signature.LoadVerifierWithOpts(pub, o...)
		if err != nil {
			return nil, fmt.Errorf("%w: public key: %v", ErrInvalid, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Fingerprint returns a public key's fingerprint as the log records it:
// "sha256:" and the hex SHA-256 of its DER SubjectPublicKeyInfo.
func Fingerprint(pub crypto.PublicKey) (string, error) {
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return "", fmt.Errorf("%w: public key: %v", ErrInvalid, err)
	}
	return digestString(der), nil
}

func mustFingerprint(pub crypto.PublicKey) string {
	fp, err := Fingerprint(pub)
	if err != nil {
		return "(unencodable key)"
	}
	return fp
}

func digestString(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParsePublicKey reads one PEM public key (PKIX "PUBLIC KEY"; also "RSA
// PUBLIC KEY" through sigstore's cryptoutils).
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: public_key is not a PEM public key: %v", ErrInvalid, err)
	}
	return pub, nil
}

// parseCertificatePEM reads a PEM certificate chain, leaf first, and
// returns the leaf.
func parseCertificatePEM(pemBytes []byte) (*x509.Certificate, error) {
	certs, err := cryptoutils.UnmarshalCertificatesFromPEMLimited(pemBytes, 10)
	if err != nil || len(certs) == 0 {
		if err == nil {
			err = fmt.Errorf("no certificate")
		}
		return nil, fmt.Errorf("%w: certificate is not a PEM certificate chain: %v", ErrInvalid, err)
	}
	return certs[0], nil
}

// strictUnmarshal decodes JSON into v, rejecting unknown fields, field
// names that match only case-insensitively (encoding/json would take
// "ENVELOPE" for "envelope") and trailing data.
func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n")) > 0 {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return exactKeys(raw, reflect.TypeOf(v))
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// exactKeys checks that every object key of raw, which decoded into a
// value of type t, is spelled exactly as its field's JSON name. Below a
// json.RawMessage field nothing is checked: that value is decoded (and
// checked) on its own later.
func exactKeys(raw []byte, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == rawMessageType:
		return nil
	case t.Kind() == reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil // not an object: null, which decoding accepted
		}
		for k, v := range obj {
			f, ok := jsonField(t, k)
			if !ok {
				return fmt.Errorf("json: unknown field %q (field names are case-sensitive)", k)
			}
			if err := exactKeys(v, f.Type); err != nil {
				return err
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8:
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return nil
		}
		for _, e := range elems {
			if err := exactKeys(e, t.Elem()); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map:
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return nil
		}
		for _, e := range m {
			if err := exactKeys(e, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonField finds the field of struct t whose JSON name is exactly name.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// Sigstore bundle media types whose DSSE content the log accepts.
var bundleMediaTypes = map[string]bool{
	"application/vnd.dev.sigstore.bundle.v0.3+json":        true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.2": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.1": true,
}

// bundle is the part of a Sigstore bundle (protobuf-specs, JSON form) the
// log reads. Other fields (transparency log entries, timestamps) are
// neither checked nor kept.
type bundle struct {
	MediaType            string `json:"mediaType"`
	VerificationMaterial struct {
		PublicKey *struct {
			Hint string `json:"hint"`
		} `json:"publicKey"`
		Certificate *struct {
			RawBytes string `json:"rawBytes"`
		} `json:"certificate"`
		X509CertificateChain *struct {
			Certificates []struct {
				RawBytes string `json:"rawBytes"`
			} `json:"certificates"`
		} `json:"x509CertificateChain"`
	} `json:"verificationMaterial"`
	DSSEEnvelope     json.RawMessage `json:"dsseEnvelope"`
	MessageSignature json.RawMessage `json:"messageSignature"`
}

// parseBundle returns the DSSE envelope of a Sigstore bundle and its leaf
// certificate, if the bundle carries one.
func parseBundle(raw []byte) (envRaw []byte, cert *x509.Certificate, err error) {
	var b bundle
	if err := checkJSON(raw); err != nil {
		return nil, nil, fmt.Errorf("%w: bundle: %v", ErrInvalid, err)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, nil, fmt.Errorf("%w: bundle is not JSON: %v", ErrInvalid, err)
	}
	if !bundleMediaTypes[b.MediaType] {
		return nil, nil, fmt.Errorf("%w: unknown bundle mediaType %q (accepted: application/vnd.dev.sigstore.bundle.v0.3+json and …+json;version=0.1 to 0.3)", ErrInvalid, b.MediaType)
	}
	if len(b.DSSEEnvelope) == 0 || bytes.Equal(b.DSSEEnvelope, []byte("null")) {
		if len(b.MessageSignature) > 0 {
			return nil, nil, fmt.Errorf("%w: bundle holds a message signature, not a DSSE envelope with an in-toto statement", ErrInvalid)
		}
		return nil, nil, fmt.Errorf("%w: bundle has no dsseEnvelope", ErrInvalid)
	}
	vm := b.VerificationMaterial
	var der string
	switch {
	case vm.Certificate != nil:
		der = vm.Certificate.RawBytes
	case vm.X509CertificateChain != nil && len(vm.X509CertificateChain.Certificates) > 0:
		der = vm.X509CertificateChain.Certificates[0].RawBytes
	case vm.PublicKey != nil:
		return b.DSSEEnvelope, nil, nil
	default:
		return nil, nil, fmt.Errorf("%w: bundle verificationMaterial has neither a public key hint nor a certificate", ErrInvalid)
	}
	raw, err = base64.StdEncoding.Strict().DecodeString(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bundle certificate rawBytes is not standard base64", ErrInvalid)
	}
	c, err := x509.ParseCertificate(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bundle certificate: %v", ErrInvalid, err)
	}
	return b.DSSEEnvelope, c, nil
}
