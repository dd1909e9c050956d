// Package signer holds the log's keys and what they sign: signed notes
// (c2sp.org/signed-note) and checkpoints (c2sp.org/tlog-checkpoint).
//
// Signing goes through github.com/sigstore/sigstore's signature.Signer and
// signature.Verifier, so a file key, an encrypted PEM or a KMS-backed key
// (FromKMS) can stand behind the same note signer. Keys are read and written in the
// standard note key strings,
//
//	PRIVATE+KEY+<name>+<hex key ID>+<base64(type || private key)>
//	<name>+<hex key ID>+<base64(type || public key)>
//
// so keys made by golang.org/x/mod/sumdb/note work unchanged. This package is
// our own implementation of the formats; tests check it against x/mod.
package signer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sigstore/sigstore/pkg/signature"
)

// Key types of c2sp.org/signed-note.
const (
	// AlgEd25519 is a plain Ed25519 signature over the note text.
	AlgEd25519 byte = 0x01
)

// ErrMalformedKey is returned (wrapped) for a key string that does not parse.
var ErrMalformedKey = errors.New("malformed note key")

// Signer signs notes under one key name. It satisfies the Signer interface of
// golang.org/x/mod/sumdb/note. It is safe for concurrent use if the underlying
// signature.Signer is (the Ed25519 one is).
type Signer struct {
	name    string
	keyHash uint32
	s       signature.Signer
	vkey    string
	v       *Verifier
}

// Verifier checks note signatures of one key. It satisfies the Verifier
// interface of golang.org/x/mod/sumdb/note and is safe for concurrent use.
type Verifier struct {
	name    string
	keyHash uint32
	v       signature.Verifier
	vkey    string
}

// GenerateKey makes a new Ed25519 key pair for name, as the strings
// golang.org/x/mod/sumdb/note.GenerateKey makes.
func GenerateKey(rand io.Reader, name string) (skey, vkey string, err error) {
	if !isValidName(name) {
		return "", "", fmt.Errorf("%w: invalid key name %q (non-empty, no spaces, no '+')", ErrMalformedKey, name)
	}
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return "", "", fmt.Errorf("couldn't generate Ed25519 key: %w", err)
	}
	pubkey := append([]byte{AlgEd25519}, pub...)
	privkey := append([]byte{AlgEd25519}, priv.Seed()...)
	h := KeyHash(name, pubkey)
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(privkey))
	vkey = fmt.Sprintf("%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(pubkey))
	return skey, vkey, nil
}

// KeyHash is the key ID of c2sp.org/signed-note:
// the first four bytes of SHA-256(name || "\n" || type || public key), big-endian.
func KeyHash(name string, typedKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(typedKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// NewSigner parses a signer key string (PRIVATE+KEY+...).
func NewSigner(skey string) (*Signer, error) {
	skey = strings.TrimSpace(skey)
	priv, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	if !ok {
		return nil, fmt.Errorf("%w: signer key must start with PRIVATE+KEY+", ErrMalformedKey)
	}
	name, hash, key, err := splitKey(priv)
	if err != nil {
		return nil, err
	}
	if len(key) == 0 || key[0] != AlgEd25519 {
		return nil, fmt.Errorf("%w: unsupported key type (only Ed25519, 0x01, is supported)", ErrMalformedKey)
	}
	if len(key) != 1+ed25519.SeedSize {
		return nil, fmt.Errorf("%w: Ed25519 seed is %d bytes, want %d", ErrMalformedKey, len(key)-1, ed25519.SeedSize)
	}
	sk := ed25519.NewKeyFromSeed(key[1:])
	sv, err := signature.LoadED25519SignerVerifier(sk)
	if err != nil {
		return nil, fmt.Errorf("couldn't load Ed25519 key: %w", err)
	}
	s, err := FromSigstore(name, sv)
	if err != nil {
		return nil, err
	}
	if s.keyHash != hash {
		return nil, fmt.Errorf("%w: key ID %08x does not match the key (want %08x)", ErrMalformedKey, hash, s.keyHash)
	}
	return s, nil
}

// FromSigstore makes a note signer named name from any sigstore signer whose
// public key has a signed-note key type (today: Ed25519). This is where other
// key backends (encrypted PEM, KMS) plug in.
func FromSigstore(name string, s signature.Signer) (*Signer, error) {
	if !isValidName(name) {
		return nil, fmt.Errorf("%w: invalid key name %q (non-empty, no spaces, no '+')", ErrMalformedKey, name)
	}
	pub, err := s.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("couldn't get public key: %w", err)
	}
	edpub, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported public key type %T (only Ed25519)", ErrMalformedKey, pub)
	}
	v, err := newEd25519Verifier(name, edpub)
	if err != nil {
		return nil, err
	}
	return &Signer{name: name, keyHash: v.keyHash, s: s, vkey: v.vkey, v: v}, nil
}

// Name returns the key name.
func (s *Signer) Name() string { return s.name }

// KeyHash returns the key ID.
func (s *Signer) KeyHash() uint32 { return s.keyHash }

// Sign signs msg (the note text).
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	return s.s.SignMessage(bytes.NewReader(msg))
}

// Verifier returns the verifier of this signer's key.
func (s *Signer) Verifier() *Verifier { return s.v }

// VerifierKey returns the verifier key string, <name>+<id>+<base64>.
func (s *Signer) VerifierKey() string { return s.vkey }

// NewVerifier parses a verifier key string (<name>+<hex id>+<base64>).
func NewVerifier(vkey string) (*Verifier, error) {
	name, hash, key, err := splitKey(strings.TrimSpace(vkey))
	if err != nil {
		return nil, err
	}
	if len(key) == 0 || key[0] != AlgEd25519 {
		return nil, fmt.Errorf("%w: unsupported key type (only Ed25519, 0x01, is supported)", ErrMalformedKey)
	}
	if len(key) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: Ed25519 public key is %d bytes, want %d", ErrMalformedKey, len(key)-1, ed25519.PublicKeySize)
	}
	v, err := newEd25519Verifier(name, ed25519.PublicKey(key[1:]))
	if err != nil {
		return nil, err
	}
	if v.keyHash != hash {
		return nil, fmt.Errorf("%w: key ID %08x does not match the key (want %08x)", ErrMalformedKey, hash, v.keyHash)
	}
	return v, nil
}

func newEd25519Verifier(name string, pub ed25519.PublicKey) (*Verifier, error) {
	sv, err := signature.LoadED25519Verifier(pub)
	if err != nil {
		return nil, fmt.Errorf("couldn't load Ed25519 public key: %w", err)
	}
	typed := append([]byte{AlgEd25519}, pub...)
	h := KeyHash(name, typed)
	return &Verifier{
		name:    name,
		keyHash: h,
		v:       sv,
		vkey:    fmt.Sprintf("%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(typed)),
	}, nil
}

// Name returns the key name.
func (v *Verifier) Name() string { return v.name }

// KeyHash returns the key ID.
func (v *Verifier) KeyHash() uint32 { return v.keyHash }

// Verify reports whether sig is a valid signature of msg by this key.
func (v *Verifier) Verify(msg, sig []byte) bool {
	return v.v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)) == nil
}

// String returns the verifier key string.
func (v *Verifier) String() string { return v.vkey }

// splitKey parses "<name>+<hex id>+<base64 key>".
func splitKey(s string) (name string, hash uint32, key []byte, err error) {
	name, rest, ok1 := strings.Cut(s, "+")
	hexID, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 {
		return "", 0, nil, fmt.Errorf("%w: want <name>+<key ID>+<key>", ErrMalformedKey)
	}
	if !isValidName(name) {
		return "", 0, nil, fmt.Errorf("%w: invalid key name %q", ErrMalformedKey, name)
	}
	if len(hexID) != 8 {
		return "", 0, nil, fmt.Errorf("%w: key ID %q is not 8 hex digits", ErrMalformedKey, hexID)
	}
	h, err := strconv.ParseUint(hexID, 16, 32)
	if err != nil {
		return "", 0, nil, fmt.Errorf("%w: key ID %q is not 8 hex digits", ErrMalformedKey, hexID)
	}
	key, err = base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", 0, nil, fmt.Errorf("%w: key is not valid base64", ErrMalformedKey)
	}
	return name, uint32(h), key, nil
}

// isValidName reports whether name is a valid signed-note key name:
// non-empty, valid UTF-8, no Unicode spaces and no '+'.
func isValidName(name string) bool {
	if name == "" || !utf8.ValidString(name) || strings.Contains(name, "+") {
		return false
	}
	for _, r := range name {
		if unicode.IsSpace(r) || r < 0x20 {
			return false
		}
	}
	return true
}
