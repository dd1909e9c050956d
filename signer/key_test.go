package signer_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/signer"
)

// The oracles in this file are the signed-note spec (c2sp.org/signed-note,
// summarised in SPECS.md §2), transcribed below as specKeyID and the key
// string layouts, and golang.org/x/mod/sumdb/note, an independent
// implementation of the same key strings.

// specKeyID is the key ID of c2sp.org/signed-note, written from the spec:
// SHA-256(name || 0x0A || type byte || public key)[:4], big-endian.
func specKeyID(name string, typedPub []byte) uint32 {
	var msg []byte
	msg = append(msg, name...)
	msg = append(msg, 0x0A)
	msg = append(msg, typedPub...)
	sum := sha256.Sum256(msg)
	return binary.BigEndian.Uint32(sum[:4])
}

// seedReader returns a reader that yields a fixed 32-byte Ed25519 seed, so
// that signer.GenerateKey and note.GenerateKey make the same key.
func seedReader(b byte) io.Reader {
	return bytes.NewReader(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// specKeys builds the verifier and signer key strings for seed from the
// spec's layouts, independently of both implementations.
func specKeys(name string, seed []byte) (skey, vkey string) {
	priv := ed25519.NewKeyFromSeed(seed)
	typedPub := append([]byte{0x01}, priv.Public().(ed25519.PublicKey)...)
	typedSeed := append([]byte{0x01}, seed...)
	id := specKeyID(name, typedPub)
	vkey = fmt.Sprintf("%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(typedPub))
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(typedSeed))
	return skey, vkey
}

// keyNames are valid key names of several shapes.
var keyNames = []string{
	"example.com/log",
	"a",
	"log.example.org/path/to/log-1",
	"ünïcödé.example/✓",
	"name_with-punct.!$%&()*,;=@[]^`{|}~",
}

func TestKeysFromXModParse(t *testing.T) {
	for _, name := range keyNames {
		xskey, xvkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			t.Fatalf("note.GenerateKey(%q): %v", name, err)
		}
		s, err := signer.NewSigner(xskey)
		if err != nil {
			t.Fatalf("NewSigner(x/mod key for %q): %v", name, err)
		}
		v, err := signer.NewVerifier(xvkey)
		if err != nil {
			t.Fatalf("NewVerifier(x/mod key for %q): %v", name, err)
		}
		xs, err := note.NewSigner(xskey)
		if err != nil {
			t.Fatal(err)
		}
		xv, err := note.NewVerifier(xvkey)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.VerifierKey(); got != xvkey {
			t.Errorf("%q: Signer.VerifierKey() = %q, x/mod vkey %q", name, got, xvkey)
		}
		if got := s.Verifier().String(); got != xvkey {
			t.Errorf("%q: Signer.Verifier().String() = %q, x/mod vkey %q", name, got, xvkey)
		}
		if got := v.String(); got != xvkey {
			t.Errorf("%q: Verifier.String() = %q, x/mod vkey %q", name, got, xvkey)
		}
		if s.Name() != xs.Name() || v.Name() != xv.Name() {
			t.Errorf("%q: names %q/%q, x/mod %q/%q", name, s.Name(), v.Name(), xs.Name(), xv.Name())
		}
		if s.KeyHash() != xs.KeyHash() || v.KeyHash() != xv.KeyHash() || s.Verifier().KeyHash() != xv.KeyHash() {
			t.Errorf("%q: key IDs %08x/%08x, x/mod %08x/%08x", name, s.KeyHash(), v.KeyHash(), xs.KeyHash(), xv.KeyHash())
		}

		// Signatures cross over in both directions.
		msg := []byte("hello, " + name + "\n")
		sig, err := s.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !xv.Verify(msg, sig) {
			t.Errorf("%q: x/mod verifier rejects our signature", name)
		}
		xsig, err := xs.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Verify(msg, xsig) || !s.Verifier().Verify(msg, xsig) {
			t.Errorf("%q: our verifier rejects x/mod's signature", name)
		}
		if v.Verify(append(msg, 'x'), xsig) {
			t.Errorf("%q: our verifier accepts a signature over other bytes", name)
		}
		// Ed25519 is deterministic: the same key signs the same bytes.
		if !bytes.Equal(sig, xsig) {
			t.Errorf("%q: signatures differ:\n ours  %x\n x/mod %x", name, sig, xsig)
		}
	}
}

func TestGenerateKeyParsesWithXMod(t *testing.T) {
	for _, name := range keyNames {
		skey, vkey, err := signer.GenerateKey(rand.Reader, name)
		if err != nil {
			t.Fatalf("GenerateKey(%q): %v", name, err)
		}
		xs, err := note.NewSigner(skey)
		if err != nil {
			t.Fatalf("note.NewSigner(%q): %v", skey, err)
		}
		xv, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatalf("note.NewVerifier(%q): %v", vkey, err)
		}
		if xs.Name() != name || xv.Name() != name || xs.KeyHash() != xv.KeyHash() {
			t.Errorf("%q: x/mod reads name %q/%q, IDs %08x/%08x", name, xs.Name(), xv.Name(), xs.KeyHash(), xv.KeyHash())
		}
		s, err := signer.NewSigner(skey)
		if err != nil {
			t.Fatalf("NewSigner(own key): %v", err)
		}
		if s.VerifierKey() != vkey {
			t.Errorf("%q: VerifierKey() = %q, GenerateKey gave %q", name, s.VerifierKey(), vkey)
		}
		msg := []byte("text\n")
		sig, err := xs.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Verifier().Verify(msg, sig) {
			t.Errorf("%q: x/mod signature with our generated key does not verify", name)
		}
	}
}

// With the same randomness, both GenerateKeys must make byte-identical key
// strings, and both must equal the strings the spec's layout gives.
func TestGenerateKeyMatchesXModAndSpec(t *testing.T) {
	for i, name := range keyNames {
		seed := bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize)
		skey, vkey, err := signer.GenerateKey(seedReader(byte(i+1)), name)
		if err != nil {
			t.Fatal(err)
		}
		xskey, xvkey, err := note.GenerateKey(seedReader(byte(i+1)), name)
		if err != nil {
			t.Fatal(err)
		}
		wantS, wantV := specKeys(name, seed)
		if skey != xskey || skey != wantS {
			t.Errorf("%q: signer key\n ours  %q\n x/mod %q\n spec  %q", name, skey, xskey, wantS)
		}
		if vkey != xvkey || vkey != wantV {
			t.Errorf("%q: verifier key\n ours  %q\n x/mod %q\n spec  %q", name, vkey, xvkey, wantV)
		}
	}
}

func TestKeyHashSpec(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)
	for _, name := range keyNames {
		typed := append([]byte{signer.AlgEd25519}, pub...)
		if got, want := signer.KeyHash(name, typed), specKeyID(name, typed); got != want {
			t.Errorf("KeyHash(%q) = %08x, spec %08x", name, got, want)
		}
		vkey, err := note.NewEd25519VerifierKey(name, pub)
		if err != nil {
			t.Fatal(err)
		}
		xv, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		if got := signer.KeyHash(name, typed); got != xv.KeyHash() {
			t.Errorf("KeyHash(%q) = %08x, x/mod %08x", name, got, xv.KeyHash())
		}
	}
	if signer.AlgEd25519 != 0x01 {
		t.Errorf("AlgEd25519 = %#x, the spec's Ed25519 type byte is 0x01", signer.AlgEd25519)
	}
}

// keyVariant builds a key string from parts so that a single field can be
// wrong while the others (in particular the key ID) stay consistent.
type keyVariant struct {
	prefix string // "PRIVATE+KEY+" for signer keys
	name   string
	typ    byte
	key    []byte // raw key after the type byte
	id     *uint32
	b64    *string // overrides the base64 part
	hexID  *string // overrides the hex key ID
}

func (k keyVariant) String() string {
	typed := append([]byte{k.typ}, k.key...)
	var id uint32
	if k.id != nil {
		id = *k.id
	} else {
		// The key ID is always of the public key, also for signer keys.
		pubTyped := typed
		if k.prefix != "" && len(k.key) == ed25519.SeedSize {
			pubTyped = append([]byte{k.typ}, ed25519.NewKeyFromSeed(k.key).Public().(ed25519.PublicKey)...)
		}
		id = specKeyID(k.name, pubTyped)
	}
	hexID := fmt.Sprintf("%08x", id)
	if k.hexID != nil {
		hexID = *k.hexID
	}
	b64 := base64.StdEncoding.EncodeToString(typed)
	if k.b64 != nil {
		b64 = *k.b64
	}
	return k.prefix + k.name + "+" + hexID + "+" + b64
}

func ptr[T any](v T) *T { return &v }

// shortIDName finds a name whose key ID for typedPub starts with a zero hex
// digit, so that the ID can also be written (wrongly) with 7 digits.
func shortIDName(typedPub []byte) (string, uint32) {
	for i := 0; ; i++ {
		name := fmt.Sprintf("log%d.example", i)
		if id := specKeyID(name, typedPub); id < 1<<28 {
			return name, id
		}
	}
}

func TestNewVerifierRejects(t *testing.T) {
	seed := bytes.Repeat([]byte{3}, 32)
	pub := []byte(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	good := keyVariant{name: "example.com/log", typ: 0x01, key: pub}
	if _, err := signer.NewVerifier(good.String()); err != nil {
		t.Fatalf("NewVerifier(%q) of the well-formed base case: %v", good, err)
	}
	if _, err := note.NewVerifier(good.String()); err != nil {
		t.Fatalf("x/mod rejects the well-formed base case: %v", err)
	}
	wrongID := specKeyID(good.name, append([]byte{0x01}, pub...)) ^ 1
	with := func(f func(k *keyVariant)) string { k := good; f(&k); return k.String() }
	cases := []struct {
		desc string
		vkey string
	}{
		{"wrong key ID", with(func(k *keyVariant) { k.id = &wrongID })},
		{"key ID of another name", with(func(k *keyVariant) { k.id = ptr(specKeyID("other", append([]byte{0x01}, pub...))) })},
		{"key ID 7 hex digits", with(func(k *keyVariant) { k.hexID = ptr("1234567") })},
		{"right key ID without its leading zero", with(func(k *keyVariant) {
			name, id := shortIDName(append([]byte{0x01}, pub...))
			k.name, k.hexID = name, ptr(fmt.Sprintf("%07x", id))
		})},
		{"right key ID with an extra leading zero", with(func(k *keyVariant) {
			name, id := shortIDName(append([]byte{0x01}, pub...))
			k.name, k.hexID = name, ptr(fmt.Sprintf("0%08x", id))
		})},
		{"key ID 9 hex digits", with(func(k *keyVariant) { k.hexID = ptr("123456789") })},
		{"key ID not hex", with(func(k *keyVariant) { k.hexID = ptr("zzzzzzzz") })},
		{"key ID with sign", with(func(k *keyVariant) { k.hexID = ptr("+1234567") })},
		{"key ID 0x", with(func(k *keyVariant) { k.hexID = ptr("0x123456") })},
		{"type byte 0x02 (ID matches)", with(func(k *keyVariant) { k.typ = 0x02 })},
		{"type byte 0x04 (ID matches)", with(func(k *keyVariant) { k.typ = 0x04 })},
		{"type byte 0xff (ID matches)", with(func(k *keyVariant) { k.typ = 0xff })},
		{"type byte 0x00 (ID matches)", with(func(k *keyVariant) { k.typ = 0x00 })},
		{"public key 31 bytes (ID matches)", with(func(k *keyVariant) { k.key = pub[:31] })},
		{"public key 33 bytes (ID matches)", with(func(k *keyVariant) { k.key = append(append([]byte{}, pub...), 0) })},
		{"public key 64 bytes (ID matches)", with(func(k *keyVariant) { k.key = append(append([]byte{}, pub...), pub...) })},
		{"type byte only (ID matches)", with(func(k *keyVariant) { k.key = nil })},
		{"empty key", with(func(k *keyVariant) { k.b64 = ptr("") })},
		{"bad base64", with(func(k *keyVariant) { k.b64 = ptr("!!!!") })},
		{"truncated base64", with(func(k *keyVariant) {
			s := base64.StdEncoding.EncodeToString(append([]byte{1}, pub...))
			k.b64 = ptr(s[:len(s)-1])
		})},
		{"base64url", with(func(k *keyVariant) {
			k.b64 = ptr(strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(append([]byte{1}, pub...))) + "-_")
		})},
		{"empty name", with(func(k *keyVariant) { k.name = "" })},
		{"name with space", with(func(k *keyVariant) { k.name = "a b" })},
		{"name with tab", with(func(k *keyVariant) { k.name = "a\tb" })},
		{"name with newline", with(func(k *keyVariant) { k.name = "a\nb" })},
		{"name with NBSP", with(func(k *keyVariant) { k.name = "a\u00a0b" })},
		{"name with ideographic space", with(func(k *keyVariant) { k.name = "a\u3000b" })},
		{"name invalid UTF-8", with(func(k *keyVariant) { k.name = "a\xffb" })},
		{"name with +", "a+b+" + with(func(k *keyVariant) { k.name = "c" })},
		{"missing key", good.name + "+" + fmt.Sprintf("%08x", specKeyID(good.name, append([]byte{1}, pub...)))},
		{"name only", good.name},
		{"empty string", ""},
		{"signer key given as verifier", keyVariant{prefix: "PRIVATE+KEY+", name: "example.com/log", typ: 1, key: seed}.String()},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, xerr := note.NewVerifier(tc.vkey)
			v, err := signer.NewVerifier(tc.vkey)
			if err == nil {
				t.Errorf("NewVerifier(%q) = %v, want error (x/mod: %v)", tc.vkey, v, xerr)
			} else if !errors.Is(err, signer.ErrMalformedKey) {
				t.Errorf("NewVerifier(%q) error %v is not ErrMalformedKey", tc.vkey, err)
			}
			if xerr == nil {
				t.Errorf("x/mod accepts %q, so this case does not test what it says", tc.vkey)
			}
		})
	}
}

func TestNewSignerRejects(t *testing.T) {
	seed := bytes.Repeat([]byte{5}, 32)
	good := keyVariant{prefix: "PRIVATE+KEY+", name: "example.com/log", typ: 0x01, key: seed}
	if _, err := signer.NewSigner(good.String()); err != nil {
		t.Fatalf("NewSigner(%q) of the well-formed base case: %v", good, err)
	}
	if _, err := note.NewSigner(good.String()); err != nil {
		t.Fatalf("x/mod rejects the well-formed base case: %v", err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	wrongID := specKeyID(good.name, append([]byte{0x01}, pub...)) + 1
	seedID := specKeyID(good.name, append([]byte{0x01}, seed...)) // ID of the seed, not the public key
	with := func(f func(k *keyVariant)) string { k := good; f(&k); return k.String() }
	cases := []struct {
		desc string
		skey string
	}{
		{"wrong key ID", with(func(k *keyVariant) { k.id = &wrongID })},
		{"key ID computed over the seed", with(func(k *keyVariant) { k.id = &seedID })},
		{"key ID not hex", with(func(k *keyVariant) { k.hexID = ptr("gggggggg") })},
		{"key ID 10 hex digits", with(func(k *keyVariant) { k.hexID = ptr("0012345678") })},
		{"right key ID without its leading zero", with(func(k *keyVariant) {
			name, id := shortIDName(append([]byte{0x01}, pub...))
			k.name, k.hexID = name, ptr(fmt.Sprintf("%07x", id))
		})},
		{"type byte 0x02", with(func(k *keyVariant) { k.typ = 0x02; k.id = ptr(specKeyID(good.name, append([]byte{0x02}, pub...))) })},
		{"type byte 0xff", with(func(k *keyVariant) { k.typ = 0xff; k.id = ptr(specKeyID(good.name, append([]byte{0xff}, pub...))) })},
		{"seed 31 bytes", with(func(k *keyVariant) { k.key = seed[:31] })},
		{"seed 33 bytes", with(func(k *keyVariant) { k.key = append(append([]byte{}, seed...), 0) })},
		{"64-byte private key instead of seed", with(func(k *keyVariant) {
			k.key = ed25519.NewKeyFromSeed(seed)
			k.id = ptr(specKeyID(good.name, append([]byte{0x01}, pub...)))
		})},
		{"empty key", with(func(k *keyVariant) { k.b64 = ptr("") })},
		{"bad base64", with(func(k *keyVariant) { k.b64 = ptr("AQ*=") })},
		{"missing PRIVATE+KEY+ prefix", with(func(k *keyVariant) { k.prefix = "" })},
		{"lower-case prefix", with(func(k *keyVariant) { k.prefix = "private+key+" })},
		{"PRIVATE+ only", with(func(k *keyVariant) { k.prefix = "PRIVATE+" })},
		{"PRIVATE-KEY+", with(func(k *keyVariant) { k.prefix = "PRIVATE-KEY+" })},
		{"empty name", with(func(k *keyVariant) { k.name = "" })},
		{"name with space", with(func(k *keyVariant) { k.name = "x y" })},
		{"name with NBSP", with(func(k *keyVariant) { k.name = "x\u00a0y" })},
		{"name invalid UTF-8", with(func(k *keyVariant) { k.name = "\xc3" })},
		{"verifier key given as signer", keyVariant{name: "example.com/log", typ: 1, key: pub}.String()},
		{"empty string", ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, xerr := note.NewSigner(tc.skey)
			s, err := signer.NewSigner(tc.skey)
			if err == nil {
				t.Errorf("NewSigner(%q) = %v, want error (x/mod: %v)", tc.skey, s.VerifierKey(), xerr)
			} else if !errors.Is(err, signer.ErrMalformedKey) {
				t.Errorf("NewSigner(%q) error %v is not ErrMalformedKey", tc.skey, err)
			}
			if xerr == nil {
				t.Errorf("x/mod accepts %q, so this case does not test what it says", tc.skey)
			}
		})
	}
}

func TestGenerateKeyRejectsInvalidNames(t *testing.T) {
	for _, name := range []string{"", "a b", "a+b", "+", "a\tb", "a\nb", "\xff", "a\u2028b"} {
		skey, vkey, err := signer.GenerateKey(rand.Reader, name)
		if err == nil {
			t.Errorf("GenerateKey(%q) = %q, %q; want error", name, skey, vkey)
			continue
		}
		if !errors.Is(err, signer.ErrMalformedKey) {
			t.Errorf("GenerateKey(%q) error %v is not ErrMalformedKey", name, err)
		}
		// x/mod's GenerateKey does not check names, but its parsers must
		// refuse what it makes: the name really is invalid.
		xskey, xvkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.NewVerifier(xvkey); err == nil {
			t.Errorf("x/mod accepts verifier key named %q; the case is not invalid", name)
		}
		if _, err := note.NewSigner(xskey); err == nil {
			t.Errorf("x/mod accepts signer key named %q; the case is not invalid", name)
		}
	}
}

func TestGenerateKeyRandError(t *testing.T) {
	if _, _, err := signer.GenerateKey(bytes.NewReader([]byte{1, 2, 3}), "example.com/log"); err == nil {
		t.Error("GenerateKey with a short random source succeeded")
	}
}
