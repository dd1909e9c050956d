package signer_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault" // the provider tlog compiles in
	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/internal/kmstest"
	"github.com/tlogai/tlog/signer"
)

// The oracles here: golang.org/x/mod/sumdb/note (verifier key strings and
// note signatures, an implementation independent of ours) and
// crypto/ed25519 over the key file the test KMS holds (Ed25519 is
// deterministic, so the exact signature bytes are known).

const kmsName = "example.com/kms-log"

// kmsCheckpoint is what the tests sign.
var kmsCheckpoint = signer.Checkpoint{Origin: kmsName, Size: 7, Hash: testRoot("kms")}

// checkKMSSigner checks that s signs as priv would, in the standard format.
func checkKMSSigner(t *testing.T, s *signer.Signer, priv ed25519.PrivateKey) {
	t.Helper()
	wantVKey, err := note.NewEd25519VerifierKey(kmsName, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifierKey() != wantVKey {
		t.Errorf("VerifierKey = %q, want x/mod's %q", s.VerifierKey(), wantVKey)
	}
	if s.Name() != kmsName {
		t.Errorf("Name = %q, want %q", s.Name(), kmsName)
	}
	msg, err := signer.SignCheckpoint(kmsCheckpoint, s)
	if err != nil {
		t.Fatalf("SignCheckpoint: %v", err)
	}
	xv, err := note.NewVerifier(wantVKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(xv))
	if err != nil {
		t.Fatalf("x/mod note.Open(%q): %v", msg, err)
	}
	if n.Text != kmsCheckpoint.Text() || len(n.Sigs) != 1 {
		t.Errorf("x/mod opened %q with %d signatures, want %q with 1", n.Text, len(n.Sigs), kmsCheckpoint.Text())
	}
	want := ed25519.Sign(priv, []byte(kmsCheckpoint.Text()))
	if got, err := s.Sign([]byte(kmsCheckpoint.Text())); err != nil || !bytes.Equal(got, want) {
		t.Errorf("Sign = %x, %v; want the pure Ed25519 signature of the text, %x", got, err, want)
	}
	v, err := signer.NewVerifier(wantVKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := signer.OpenCheckpoint(msg, v); err != nil {
		t.Errorf("OpenCheckpoint: %v", err)
	}
}

func writePEMKey(t *testing.T, dir, name string, priv crypto.PrivateKey) string {
	t.Helper()
	p := filepath.Join(dir, name)
	kmstest.WriteKey(t, p, priv)
	return p
}

// TestFromKMSPlugin runs FromKMS through sigstore's plugin mechanism with
// the test plugin on PATH: a working key, and each way a plugin can fail.
func TestFromKMSPlugin(t *testing.T) {
	kmstest.PrependPath(t, kmstest.BuildPlugin(t, "testkms"))
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edKey := writePEMKey(t, dir, "ed25519.pem", priv)
	ctx := context.Background()

	t.Run("ed25519", func(t *testing.T) {
		s, err := signer.FromKMS(ctx, kmsName, "testkms://"+edKey)
		if err != nil {
			t.Fatalf("FromKMS: %v", err)
		}
		checkKMSSigner(t, s, priv)
	})

	t.Run("key breaks after loading", func(t *testing.T) {
		s, err := signer.FromKMS(ctx, kmsName, "testkms://"+edKey)
		if err != nil {
			t.Fatalf("FromKMS: %v", err)
		}
		for _, fault := range []string{"badsig", "exit", "error"} {
			kmstest.SetFault(t, edKey, fault)
			if msg, err := signer.SignCheckpoint(kmsCheckpoint, s); err == nil {
				t.Errorf("%s: SignCheckpoint = %q, want an error", fault, msg)
			} else if fault == "badsig" && !errors.Is(err, signer.ErrKMSSignature) {
				t.Errorf("%s: SignCheckpoint error %v, want ErrKMSSignature", fault, err)
			}
		}
		kmstest.SetFault(t, edKey, "")
		if _, err := signer.SignCheckpoint(kmsCheckpoint, s); err != nil {
			t.Errorf("SignCheckpoint after the fault is gone: %v", err)
		}
	})

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc, fault string
		key         crypto.PrivateKey
		is          error
		want        []string // in the message
	}{
		{"wrong signature", "badsig", priv, signer.ErrKMSSignature, []string{"test signature", "does not verify"}},
		{"exits without answering", "exit", priv, nil, []string{"sigstore-kms-testkms gave no answer", "public key"}},
		{"answers an error", "error", priv, nil, []string{"sigstore-kms-testkms refused", "key disabled"}},
		{"ECDSA key", "", ecKey, signer.ErrKMSKeyType, []string{"ECDSA P-256", "Ed25519", "EC_SIGN_ED25519", "ECC_NIST_EDWARDS25519", "ed25519"}},
		{"RSA key", "", rsaKey, signer.ErrKMSKeyType, []string{"RSA-2048", "Ed25519"}},
	}
	for i, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			path := writePEMKey(t, dir, strings.ReplaceAll(tc.desc, " ", "-")+".pem", tc.key)
			if tc.fault != "" {
				kmstest.SetFault(t, path, tc.fault)
			}
			s, err := signer.FromKMS(ctx, kmsName, "testkms://"+path)
			if err == nil {
				t.Fatalf("case %d: FromKMS = %q, want an error", i, s.VerifierKey())
			}
			t.Logf("FromKMS: %v", err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("FromKMS error %q is not %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("FromKMS error %q does not say %q", err, w)
				}
			}
		})
	}

	t.Run("hangs", func(t *testing.T) {
		path := writePEMKey(t, dir, "hang.pem", priv)
		kmstest.SetFault(t, path, "hang")
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		s, err := signer.FromKMS(ctx, kmsName, "testkms://"+path)
		if err == nil {
			t.Fatalf("FromKMS = %q, want an error", s.VerifierKey())
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("FromKMS gave up after %v, want about the 1s of its context", el)
		}
		t.Logf("FromKMS: %v", err)
		if !strings.Contains(err.Error(), "sigstore-kms-testkms") {
			t.Errorf("FromKMS error %q does not name the plugin", err)
		}
	})
}

func TestFromKMSNoProvider(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no plugin anywhere
	for _, tc := range []struct{ ref, plugin, why string }{
		{"awskms:///arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "sigstore-kms-awskms", "ECC_NIST_EDWARDS25519"},
		{"awskms://localhost:4566/alias/tlog", "sigstore-kms-awskms", "ECC_NIST_EDWARDS25519"},
		{"gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", "sigstore-kms-gcpkms", "EC_SIGN_ED25519"},
		{"azurekms://tlog.vault.azure.net/log", "sigstore-kms-azurekms", "no Ed25519 keys"},
		{"mykms://key-7", "sigstore-kms-mykms", ""},
	} {
		s, err := signer.FromKMS(context.Background(), kmsName, tc.ref)
		if err == nil {
			t.Errorf("FromKMS(%q) = %q, want an error", tc.ref, s.VerifierKey())
			continue
		}
		msg := err.Error()
		t.Logf("FromKMS(%q): %v", tc.ref, err)
		if !errors.Is(err, signer.ErrKMSProvider) {
			t.Errorf("FromKMS(%q) error %q is not ErrKMSProvider", tc.ref, msg)
		}
		for _, w := range []string{tc.plugin, "on PATH", "hashivault://", tc.why} {
			if !strings.Contains(msg, w) {
				t.Errorf("FromKMS(%q) error %q does not say %q", tc.ref, msg, w)
			}
		}
		if strings.Contains(msg, "no such file") {
			t.Errorf("FromKMS(%q) error %q speaks of a file", tc.ref, msg)
		}
	}
}

func TestFromKMSRefusesBadInput(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, ref := range []string{"", "/etc/tlog/log.key", "log.key", "://key", "testkms://", "a/b://key", "../x://key", "-x://key"} {
		_, err := signer.FromKMS(context.Background(), kmsName, ref)
		if err == nil || !strings.Contains(err.Error(), "not a KMS key reference") {
			t.Errorf("FromKMS(%q) error %v, want \"not a KMS key reference\"", ref, err)
		}
	}
	for _, name := range []string{"", "has space", "a+b"} {
		_, err := signer.FromKMS(context.Background(), name, "mykms://key")
		if !errors.Is(err, signer.ErrMalformedKey) {
			t.Errorf("FromKMS(name %q) error %v, want ErrMalformedKey", name, err)
		}
	}
}

// fakeVault is the part of Vault's transit engine sigstore's hashivault
// provider uses, for one key, on 127.0.0.1.
type fakeVault struct {
	t      *testing.T
	token  string
	key    string
	priv   crypto.Signer // ed25519.PrivateKey or *ecdsa.PrivateKey
	mu     sync.Mutex
	signed [][]byte // inputs of sign requests
}

func (v *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Vault-Token") != v.token {
		http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
		return
	}
	reply := func(data any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/transit/keys/"+v.key:
		var typ, pub string
		switch p := v.priv.Public().(type) {
		case ed25519.PublicKey:
			typ, pub = "ed25519", base64.StdEncoding.EncodeToString(p)
		default:
			der, err := x509.MarshalPKIXPublicKey(p)
			if err != nil {
				v.t.Error(err)
			}
			typ, pub = "ecdsa-p256", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		}
		reply(map[string]any{
			"latest_version": 1,
			"keys":           map[string]any{"1": map[string]any{"name": typ, "public_key": pub}},
		})
	case (r.Method == http.MethodPut || r.Method == http.MethodPost) && r.URL.Path == "/v1/transit/sign/"+v.key:
		var req struct {
			Input     string `json:"input"`
			Prehashed bool   `json:"prehashed"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"errors":["bad request"]}`, http.StatusBadRequest)
			return
		}
		in, err := base64.StdEncoding.DecodeString(req.Input)
		if err != nil || req.Prehashed {
			// A checkpoint key must sign the message itself.
			http.Error(w, `{"errors":["want the raw message, not prehashed"]}`, http.StatusBadRequest)
			return
		}
		v.mu.Lock()
		v.signed = append(v.signed, in)
		v.mu.Unlock()
		sig, err := v.priv.Sign(rand.Reader, in, crypto.Hash(0))
		if err != nil {
			http.Error(w, `{"errors":["cannot sign"]}`, http.StatusBadRequest)
			return
		}
		reply(map[string]any{"signature": "vault:v1:" + base64.StdEncoding.EncodeToString(sig)})
	default:
		http.Error(w, `{"errors":["no handler"]}`, http.StatusNotFound)
	}
}

// TestFromKMSVault runs the hashivault provider compiled into tlog against
// a fake Vault transit engine on 127.0.0.1: an ed25519 transit key signs
// checkpoints as a file key would, and an ECDSA one is refused.
func TestFromKMSVault(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fv := &fakeVault{t: t, token: "test-token", key: "tlog-log", priv: priv}
	srv := httptest.NewServer(fv)
	defer srv.Close()
	t.Setenv("VAULT_ADDR", srv.URL)
	t.Setenv("VAULT_TOKEN", fv.token)
	t.Setenv("TRANSIT_SECRET_ENGINE_PATH", "")

	s, err := signer.FromKMS(context.Background(), kmsName, "hashivault://tlog-log")
	if err != nil {
		t.Fatalf("FromKMS: %v", err)
	}
	checkKMSSigner(t, s, priv)
	fv.mu.Lock()
	signed := fv.signed
	fv.mu.Unlock()
	// The probe, then the checkpoint text (twice: SignCheckpoint, Sign).
	if len(signed) != 3 || string(signed[1]) != kmsCheckpoint.Text() {
		t.Errorf("Vault was asked to sign %q, want a probe and the checkpoint text twice", signed)
	}
	if len(signed) > 0 {
		if _, err := signer.SignNote(string(signed[0]), s); err == nil {
			t.Errorf("the probe %q is valid note text: its signature could pass for a note's", signed[0])
		}
	}

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fvEC := httptest.NewServer(&fakeVault{t: t, token: "test-token", key: "ec-key", priv: ec})
	defer fvEC.Close()
	t.Setenv("VAULT_ADDR", fvEC.URL)
	if _, err := signer.FromKMS(context.Background(), kmsName, "hashivault://ec-key"); !errors.Is(err, signer.ErrKMSKeyType) {
		t.Errorf("FromKMS of an ECDSA transit key: error %v, want ErrKMSKeyType", err)
	}
}

// switchKMS is an in-process KMS provider whose key can start signing
// wrongly, registered as tlogtest-switch://.
type switchKMS struct {
	priv ed25519.PrivateKey
	bad  atomic.Bool
}

func (k *switchKMS) SignMessage(message io.Reader, _ ...signature.SignOption) ([]byte, error) {
	msg, err := io.ReadAll(message)
	if err != nil {
		return nil, err
	}
	if k.bad.Load() {
		msg = append(msg, 'x')
	}
	return ed25519.Sign(k.priv, msg), nil
}
func (k *switchKMS) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return k.priv.Public(), nil
}
func (k *switchKMS) VerifySignature(_, _ io.Reader, _ ...signature.VerifyOption) error {
	return errors.New("not used")
}
func (k *switchKMS) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return nil, errors.New("not used")
}
func (k *switchKMS) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("not used")
}
func (k *switchKMS) SupportedAlgorithms() []string { return []string{"ed25519"} }
func (k *switchKMS) DefaultAlgorithm() string      { return "ed25519" }

// TestFromKMSChecksEverySignature: a key that passes the load-time check
// and then returns bad signatures (a rotated key, a broken provider) makes
// signing fail instead of producing a note nobody can verify.
func TestFromKMSChecksEverySignature(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &switchKMS{priv: priv}
	var gotHash crypto.Hash = 99
	kms.AddProvider("tlogtest-switch://", func(_ context.Context, _ string, h crypto.Hash, _ ...signature.RPCOption) (kms.SignerVerifier, error) {
		gotHash = h
		return k, nil
	})
	s, err := signer.FromKMS(context.Background(), kmsName, "tlogtest-switch://key")
	if err != nil {
		t.Fatalf("FromKMS: %v", err)
	}
	if gotHash != crypto.Hash(0) {
		t.Errorf("FromKMS asked the provider for hash %v, want none (pure Ed25519 signs the message)", gotHash)
	}
	checkKMSSigner(t, s, priv)
	k.bad.Store(true)
	if msg, err := signer.SignCheckpoint(kmsCheckpoint, s); !errors.Is(err, signer.ErrKMSSignature) {
		t.Errorf("SignCheckpoint with a bad KMS = %q, %v; want ErrKMSSignature", msg, err)
	}
	if _, err := signer.FromKMS(context.Background(), kmsName, "tlogtest-switch://key"); !errors.Is(err, signer.ErrKMSSignature) {
		t.Errorf("FromKMS with a bad KMS: %v, want ErrKMSSignature", err)
	}
	k.bad.Store(false)
	if _, err := signer.SignCheckpoint(kmsCheckpoint, s); err != nil {
		t.Errorf("SignCheckpoint with the KMS good again: %v", err)
	}
}
