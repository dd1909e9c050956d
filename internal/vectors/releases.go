package vectors

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/proofs"
)

// Release is a vector of releases.json: the body of POST
// /api/v1/attestations (a DSSE envelope and the publisher's PEM public
// key) and the model-release/v1 entry attest.Admit makes of it, with no
// publisher policy and the log's entry size limit.
type Release struct {
	Name       string `json:"name"`
	Submission string `json:"submission"`
	Valid      bool   `json:"valid"`
	Entry      string `json:"entry_b64,omitempty"`
	LeafHash   string `json:"leaf_hash_hex,omitempty"`
	Error      string `json:"error,omitempty"`
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// pae is the DSSE pre-authentication encoding.
func pae(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

type dsseSig struct {
	KeyID string `json:"keyid,omitempty"`
	Sig   string `json:"sig"`
}

type dsseEnvelope struct {
	PayloadType string    `json:"payloadType"`
	Payload     string    `json:"payload"`
	Signatures  []dsseSig `json:"signatures"`
}

// sign is an Ed25519 DSSE signature of payload (deterministic).
func sign(key ed25519.PrivateKey, payloadType string, payload []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, pae(payloadType, payload)))
}

func publicKeyPEM(key ed25519.PrivateKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// submission is the compact JSON of {"envelope": env, "public_key": pem}.
func submission(env any, publicKey string) (string, error) {
	b, err := json.Marshal(struct {
		Envelope  any    `json:"envelope"`
		PublicKey string `json:"public_key,omitempty"`
	}{env, publicKey})
	return string(b), err
}

func releases(k *keys) ([]Release, error) {
	pub, err := publicKeyPEM(k.publisher)
	if err != nil {
		return nil, err
	}
	const pt = attest.InTotoPayloadType
	slsa := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"acme/fraud-detector-v3","digest":{"sha256":"` + sha256Hex("fraud-detector-v3 weights") + `"}}],` +
		`"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://example.com/train@v1","externalParameters":{"epochs":3}},` +
		`"runDetails":{"builder":{"id":"https://example.com/builder"}}}}`
	var res []string
	for _, f := range []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		res = append(res, `{"name":"`+f+`","algorithm":"sha256","digest":"`+sha256Hex(f)+`"}`)
	}
	modelSigning := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"acme/assistant","digest":{"sha256":"` + sha256Hex("acme/assistant manifest") + `"}}],` +
		`"predicateType":"https://model_signing/signature/v1.0","predicate":{"serialization":{"method":"files","hash_type":"sha256","allow_symlinks":false,"ignore_paths":[".git"]},` +
		`"resources":[` + strings.Join(res, ",") + `]}}`
	v01 := `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://example.com/evaluation/v1","subject":[` +
		`{"name":"acme/assistant/model.safetensors","digest":{"sha512":"` + sha256Hex("a") + sha256Hex("b") + `","sha256":"` + sha256Hex("model.safetensors") + `"}},` +
		`{"name":"","digest":{"sha256":"` + sha256Hex("unnamed") + `"}}],"predicate":{"score":0.93}}`
	noSHA256 := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"acme/x","digest":{"sha512":"` + sha256Hex("a") + sha256Hex("b") + `"}}],"predicateType":"https://slsa.dev/provenance/v1"}`

	env := func(payload string, sigs ...dsseSig) dsseEnvelope {
		return dsseEnvelope{PayloadType: pt, Payload: base64.StdEncoding.EncodeToString([]byte(payload)), Signatures: sigs}
	}
	good := func(payload string) dsseSig { return dsseSig{Sig: sign(k.publisher, pt, []byte(payload))} }
	other := func(payload string) dsseSig { return dsseSig{Sig: sign(k.publisher2, pt, []byte(payload))} }

	type rc struct {
		name string
		body string
		err  string
	}
	var cases []rc
	add := func(name string, envelope any, publicKey, wantErr string) error {
		body, err := submission(envelope, publicKey)
		if err != nil {
			return err
		}
		cases = append(cases, rc{name, body, wantErr})
		return nil
	}
	changed := env(slsa, good(slsa))
	changed.Payload = base64.StdEncoding.EncodeToString([]byte(strings.Replace(slsa, `"epochs":3`, `"epochs":4`, 1)))
	wrongType := env(slsa, dsseSig{Sig: sign(k.publisher, "application/json", []byte(slsa))})
	wrongType.PayloadType = "application/json"
	unpadded := env(slsa, good(slsa))
	unpadded.Payload = strings.TrimRight(unpadded.Payload, "=")
	for _, c := range []struct {
		name      string
		envelope  any
		publicKey string
		err       string
	}{
		{"slsa-provenance-v1", env(slsa, good(slsa)), pub, ""},
		{"model-signing-v1", env(modelSigning, good(modelSigning)), pub, ""},
		{"statement-v0.1-two-subjects", env(v01, good(v01)), pub, ""},
		// The entry keeps only the first signature that verifies, without
		// its keyid: the same entry as slsa-provenance-v1.
		{"keyid-and-failing-signature-dropped", env(slsa, dsseSig{KeyID: "other", Sig: other(slsa).Sig}, dsseSig{KeyID: "publisher", Sig: good(slsa).Sig}), pub, ""},
		{"signature-by-another-key", env(slsa, other(slsa)), pub, "signature does not verify"},
		{"payload-changed-after-signing", changed, pub, "signature does not verify"},
		{"wrong-payload-type", wrongType, pub, "DSSE payloadType"},
		{"payload-unpadded-base64", unpadded, pub, "not standard base64"},
		{"subject-without-sha256", env(noSHA256, good(noSHA256)), pub, "has no sha256 digest"},
		{"no-signatures", env(slsa), pub, "no signatures"},
		{"no-public-key", env(slsa, good(slsa)), "", "needs public_key or certificate"},
	} {
		if err := add(c.name, c.envelope, c.publicKey, c.err); err != nil {
			return nil, err
		}
	}
	// The same submission as slsa-provenance-v1, its fields in another
	// order and spaced out: the same entry.
	envJSON, err := json.MarshalIndent(env(slsa, good(slsa)), "  ", "  ")
	if err != nil {
		return nil, err
	}
	pubJSON, _ := json.Marshal(pub)
	cases = append(cases,
		rc{"submission-reordered-and-indented", "{\n  \"public_key\": " + string(pubJSON) + ",\n  \"envelope\": " + string(envJSON) + "\n}\n", ""},
		rc{"unknown-submission-field", strings.TrimSuffix(cases[0].body, "}") + `,"comment":"x"}`, "unknown field"},
		rc{"duplicate-submission-field", strings.TrimSuffix(cases[0].body, "}") + `,"public_key":` + string(pubJSON) + `}`, "duplicate field"},
	)

	var out []Release
	for _, c := range cases {
		var entry []byte
		sub, err := attest.ParseSubmission([]byte(c.body))
		if err == nil {
			var r *attest.Release
			if r, err = attest.Admit(sub, nil, proofs.MaxEntrySize); err == nil {
				entry = r.Entry
			}
		}
		v := Release{Name: c.name, Submission: c.body, Valid: err == nil}
		if v.Error, err = verdict(c.name, c.err, err); err != nil {
			return nil, err
		}
		if v.Valid {
			h := proofs.HashLeaf(entry)
			v.Entry = base64.StdEncoding.EncodeToString(entry)
			v.LeafHash = hex.EncodeToString(h[:])
		}
		out = append(out, v)
	}
	return out, nil
}
