package attest

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

// One signed release is one entry: nothing a third party can change
// without the publisher's key — the keyid, extra or broken signatures, the
// sign of an ECDSA s, the order of signatures — changes the entry.
func TestAdmitOneEntryPerSignature(t *testing.T) {
	ks := keys(t)
	k := ks.p256
	payload := slsaStatement(t, subj("acme/one-entry"))
	e := decodeEnv(t, k.sign(t, payload))
	sig := e.Signatures[0].Sig
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	// The other valid form of the same ECDSA signature: (r, n−s).
	var v struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	v.S.Sub(k.pub().(*ecdsa.PublicKey).Curve.Params().N, v.S)
	flipped, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	flippedB64 := base64.StdEncoding.EncodeToString(flipped)
	junk := base64.StdEncoding.EncodeToString([]byte("not a signature"))
	other := decodeEnv(t, ks.ed.sign(t, payload)).Signatures[0].Sig // valid, another key

	base := admit(t, &Submission{Envelope: envJSON(t, e.PayloadType, e.Payload, sig), PublicKey: k.pem(t)}, nil)
	variants := map[string][]byte{
		"keyid":             mustJSON(t, testEnvelope{PayloadType: e.PayloadType, Payload: e.Payload, Signatures: []testSig{{KeyID: "anything", Sig: sig}}}),
		"s flipped":         envJSON(t, e.PayloadType, e.Payload, flippedB64),
		"junk first":        envJSON(t, e.PayloadType, e.Payload, junk, sig),
		"junk after":        envJSON(t, e.PayloadType, e.Payload, sig, junk),
		"other key first":   envJSON(t, e.PayloadType, e.Payload, other, sig),
		"twice":             envJSON(t, e.PayloadType, e.Payload, sig, sig),
		"flipped and plain": envJSON(t, e.PayloadType, e.Payload, flippedB64, sig),
	}
	for name, env := range variants {
		rel := admit(t, &Submission{Envelope: env, PublicKey: k.pem(t)}, nil)
		if string(rel.Entry) != string(base.Entry) || string(rel.Blobs[0]) != string(base.Blobs[0]) {
			t.Errorf("%s: another entry for the same signature:\n%s\n%s", name, rel.Entry, base.Entry)
		}
	}
}

// Field names that differ only in case, in the statement, the envelope or
// the submission, are refused: Go's encoding/json would match either.
func TestAdmitRejectsCaseVariantFields(t *testing.T) {
	ks := keys(t)
	k := ks.p256
	good := subj("acme/model")
	for name, payload := range map[string]string{
		"Subject":        `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[` + string(mustJSON(t, subj("attacker/x"))) + `],"Subject":[` + string(mustJSON(t, good)) + `]}`,
		"Name":           `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[{"name":"a/x","Name":"acme/model","digest":{"sha256":"` + good.Digest["sha256"] + `"}}]}`,
		"PredicateType":  `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","PREDICATETYPE":"y","subject":[` + string(mustJSON(t, good)) + `]}`,
		"digest SHA256":  `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[{"name":"acme/model","digest":{"sha256":"` + good.Digest["sha256"] + `","SHA256":"` + strings.Repeat("0", 64) + `"}}]}`,
		"duplicate name": `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[{"name":"a/x","name":"acme/model","digest":{"sha256":"` + good.Digest["sha256"] + `"}}]}`,
	} {
		env := k.sign(t, []byte(payload))
		_, err := Admit(&Submission{Envelope: env, PublicKey: k.pem(t)}, nil, maxEntry)
		wantErr(t, err, ErrInvalid, "duplicate field")
		_ = name
	}
	e := decodeEnv(t, k.sign(t, slsaStatement(t, good)))
	env := `{"payloadType":"` + e.PayloadType + `","payload":"` + e.Payload + `","PAYLOAD":"` + e.Payload + `","signatures":[{"sig":"` + e.Signatures[0].Sig + `"}]}`
	_, err := Admit(&Submission{Envelope: []byte(env), PublicKey: k.pem(t)}, nil, maxEntry)
	wantErr(t, err, ErrInvalid, "duplicate field")
	_, err = ParseSubmission([]byte(`{"public_key":"a","Public_Key":"b"}`))
	wantErr(t, err, ErrInvalid, "duplicate field")
}

// Deeply nested JSON is refused early and cheaply, signed or not.
func TestAdmitRejectsDeepNesting(t *testing.T) {
	ks := keys(t)
	k := ks.p256
	deep := `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[` + string(mustJSON(t, subj("acme/deep"))) + `],"predicate":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	_, err := Admit(&Submission{Envelope: k.sign(t, []byte(deep)), PublicKey: k.pem(t)}, nil, maxEntry)
	wantErr(t, err, ErrInvalid, "nested more than")

	// 6 MiB of '[' in an unsigned payload: refused by the signature check
	// before anything parses it.
	huge := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("[", 6<<20)))
	env := envJSON(t, InTotoPayloadType, huge, base64.StdEncoding.EncodeToString([]byte("sig")))
	start := time.Now()
	_, err = Admit(&Submission{Envelope: env, PublicKey: k.pem(t)}, nil, maxEntry)
	wantErr(t, err, ErrSignature)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing a 6 MiB unsigned payload took %v", d)
	}
	// And a deeply nested submission body.
	_, err = ParseSubmission([]byte(`{"envelope":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`))
	wantErr(t, err, ErrInvalid, "nested more than")
}

// Field names that Go's encoding/json matches with Unicode case folding
// ("ſ" U+017F with "s", the Kelvin sign with "k") are duplicates too: a
// Go verifier decoding into a struct would read the second one.
func TestCheckJSONFoldsLikeEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		`{"subject":1,"ſubject":2}`,
		`{"kind":1,"\u212aind":2}`,
		`{"a":{"Name":1,"name":2}}`,
		`[{"x":1},{"x":1,"X":2}]`,
	} {
		if err := checkJSON([]byte(doc)); err == nil || !strings.Contains(err.Error(), "duplicate field") {
			t.Errorf("checkJSON(%s) = %v, want a duplicate field", doc, err)
		}
	}
	for _, doc := range []string{
		`{"subject":1,"subjects":2}`,
		`[{"x":1},{"x":2}]`,
		`{"a":{"x":1},"b":{"x":1}}`,
		`"scalar"`, `1`, `[]`, `{}`, `{"a":[[],{}]}`,
	} {
		if err := checkJSON([]byte(doc)); err != nil {
			t.Errorf("checkJSON(%s) = %v, want nil", doc, err)
		}
	}
}

// FuzzCheckJSON: whatever checkJSON accepts is valid JSON, and it accepts
// no document in which encoding/json's case-insensitive matching sees two
// fields as one (checked on the top-level object).
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,{"b":[true,null]}]`, `{"a":{"A":1}}`, `{"ſ":1,"S":2}`, `"x"`, `{} x`, `[[[[]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkJSON(b) != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("checkJSON accepted invalid JSON %q", b)
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if bytes.EqualFold([]byte(keys[i]), []byte(keys[j])) {
					t.Fatalf("checkJSON accepted fields %q and %q, which encoding/json matches alike", keys[i], keys[j])
				}
			}
		}
	})
}

// A certificate is not part of the entry: anyone can mint certificates for
// a publisher's public key, with any identity, and each would otherwise
// log the same signed release again.
func TestAdmitCertificatesDoNotMultiplyEntries(t *testing.T) {
	ks := keys(t)
	k := ks.p256
	env := k.sign(t, slsaStatement(t, subj("acme/certs")))
	base := admit(t, &Submission{Envelope: env, PublicKey: k.pem(t)}, nil)
	for _, cn := range []string{"release-bot@acme.example", "sigstore-intermediate", "anyone"} {
		c := newCert(t, cn, k, nil, false)
		rel := admit(t, &Submission{Envelope: env, Certificate: c.pem()}, nil)
		if string(rel.Entry) != string(base.Entry) {
			t.Errorf("certificate %q: another entry\n%s\n%s", cn, rel.Entry, base.Entry)
		}
		if len(rel.Blobs) != 3 || string(rel.Blobs[2]) != string(c.der) || rel.Certificate == nil {
			t.Errorf("certificate %q is not kept beside the entry", cn)
		}
	}
}
