package signer

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
)

// AlgCosignatureV1 is the signed-note key type of a timestamped Ed25519
// witness cosignature (c2sp.org/tlog-cosignature).
const AlgCosignatureV1 byte = 0x04

// cosignatureSize is timestamp (8) + Ed25519 signature (64).
const cosignatureSize = 8 + ed25519.SignatureSize

// Cosigner makes witness cosignatures: Ed25519 over
// "cosignature/v1\ntime <unix seconds>\n" and the checkpoint text. It
// implements NoteSigner (and x/mod's note.Signer): Sign returns the
// timestamp and the signature. Safe for concurrent use.
type Cosigner struct {
	name    string
	keyHash uint32
	s       signature.Signer
	v       *CosignatureVerifier
	now     func() time.Time
}

// CosignatureVerifier checks witness cosignatures of one key. It
// implements NoteVerifier (and x/mod's note.Verifier).
type CosignatureVerifier struct {
	name    string
	keyHash uint32
	pub     ed25519.PublicKey
}

// GenerateWitnessKey makes a new witness key pair: the signer string
// PRIVATE+KEY+<name>+<id>+<base64(0x04 || seed)> and the verifier string
// <name>+<id>+<base64(0x04 || public key)>, whose key ID is that of the
// cosignature key type.
func GenerateWitnessKey(rand io.Reader, name string) (skey, vkey string, err error) {
	if !isValidName(name) {
		return "", "", fmt.Errorf("%w: invalid key name %q", ErrMalformedKey, name)
	}
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return "", "", fmt.Errorf("couldn't generate Ed25519 key: %w", err)
	}
	typed := append([]byte{AlgCosignatureV1}, pub...)
	h := KeyHash(name, typed)
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(append([]byte{AlgCosignatureV1}, priv.Seed()...)))
	vkey = fmt.Sprintf("%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(typed))
	return skey, vkey, nil
}

// NewCosigner parses a witness signer key string (see GenerateWitnessKey).
// now is the clock of the timestamps; nil means time.Now.
func NewCosigner(skey string, now func() time.Time) (*Cosigner, error) {
	priv, ok := strings.CutPrefix(strings.TrimSpace(skey), "PRIVATE+KEY+")
	if !ok {
		return nil, fmt.Errorf("%w: signer key must start with PRIVATE+KEY+", ErrMalformedKey)
	}
	name, hash, key, err := splitKey(priv)
	if err != nil {
		return nil, err
	}
	if len(key) != 1+ed25519.SeedSize || key[0] != AlgCosignatureV1 {
		return nil, fmt.Errorf("%w: not a witness cosignature key (type 0x04, 32-byte seed)", ErrMalformedKey)
	}
	sv, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(key[1:]))
	if err != nil {
		return nil, fmt.Errorf("couldn't load Ed25519 key: %w", err)
	}
	c, err := CosignerFromSigstore(name, sv, now)
	if err != nil {
		return nil, err
	}
	if c.keyHash != hash {
		return nil, fmt.Errorf("%w: key ID %08x does not match the key (want %08x)", ErrMalformedKey, hash, c.keyHash)
	}
	return c, nil
}

// CosignerFromSigstore makes a cosigner from any sigstore signer with an
// Ed25519 public key (a file key, a KMS key).
func CosignerFromSigstore(name string, s signature.Signer, now func() time.Time) (*Cosigner, error) {
	if !isValidName(name) {
		return nil, fmt.Errorf("%w: invalid key name %q", ErrMalformedKey, name)
	}
	pub, err := s.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("couldn't get public key: %w", err)
	}
	edpub, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: cosignatures need an Ed25519 key, not %T", ErrMalformedKey, pub)
	}
	if now == nil {
		now = time.Now
	}
	v := newCosignatureVerifier(name, edpub)
	return &Cosigner{name: name, keyHash: v.keyHash, s: s, v: v, now: now}, nil
}

func newCosignatureVerifier(name string, pub ed25519.PublicKey) *CosignatureVerifier {
	return &CosignatureVerifier{name: name, keyHash: KeyHash(name, append([]byte{AlgCosignatureV1}, pub...)), pub: pub}
}

// Name returns the witness's key name.
func (c *Cosigner) Name() string { return c.name }

// KeyHash returns the key ID.
func (c *Cosigner) KeyHash() uint32 { return c.keyHash }

// Verifier returns the verifier of this key.
func (c *Cosigner) Verifier() *CosignatureVerifier { return c.v }

// Sign cosigns msg, which must be a checkpoint's note text, at the current
// time: it returns the 8-byte big-endian timestamp and the signature.
func (c *Cosigner) Sign(msg []byte) ([]byte, error) {
	t := c.now().Unix()
	if t < 0 {
		return nil, errors.New("clock before 1970")
	}
	m, err := cosignedMessage(uint64(t), msg)
	if err != nil {
		return nil, err
	}
	sig, err := c.s.SignMessage(bytes.NewReader(m))
	if err != nil {
		return nil, fmt.Errorf("couldn't cosign: %w", err)
	}
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, cosignatureSize), uint64(t)), sig...), nil
}

// cosignedMessage is the message of c2sp.org/tlog-cosignature v1. The text
// must be a checkpoint: cosigning anything else would let a cosignature be
// reused out of context.
func cosignedMessage(t uint64, text []byte) ([]byte, error) {
	if _, err := ParseCheckpoint(string(text)); err != nil {
		return nil, fmt.Errorf("cosigned text is not a checkpoint: %w", err)
	}
	m := make([]byte, 0, 40+len(text))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, t, 10)
	m = append(m, '\n')
	return append(m, text...), nil
}

// NewCosignatureVerifier parses a witness verifier key string
// (<name>+<id>+<base64(0x04 || public key)>).
func NewCosignatureVerifier(vkey string) (*CosignatureVerifier, error) {
	name, hash, key, err := splitKey(strings.TrimSpace(vkey))
	if err != nil {
		return nil, err
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != AlgCosignatureV1 {
		return nil, fmt.Errorf("%w: not a witness cosignature key (type 0x04, 32-byte Ed25519 key)", ErrMalformedKey)
	}
	v := newCosignatureVerifier(name, ed25519.PublicKey(key[1:]))
	if v.keyHash != hash {
		return nil, fmt.Errorf("%w: key ID %08x does not match the key (want %08x)", ErrMalformedKey, hash, v.keyHash)
	}
	return v, nil
}

// Name returns the witness's key name.
func (v *CosignatureVerifier) Name() string { return v.name }

// KeyHash returns the key ID.
func (v *CosignatureVerifier) KeyHash() uint32 { return v.keyHash }

// Verify reports whether sig (timestamp and signature) is a cosignature of
// the checkpoint text msg by this key.
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != cosignatureSize {
		return false
	}
	m, err := cosignedMessage(binary.BigEndian.Uint64(sig), msg)
	if err != nil {
		return false
	}
	return ed25519.Verify(v.pub, m, sig[8:])
}

// String returns the verifier key string.
func (v *CosignatureVerifier) String() string {
	return fmt.Sprintf("%s+%08x+%s", v.name, v.keyHash, base64.StdEncoding.EncodeToString(append([]byte{AlgCosignatureV1}, v.pub...)))
}

// CosignatureTime returns the time a cosignature was made (its signed
// timestamp).
func CosignatureTime(s Signature) (time.Time, error) {
	if len(s.Sig) != cosignatureSize {
		return time.Time{}, fmt.Errorf("%w: a cosignature is %d bytes, not %d", ErrMalformedNote, cosignatureSize, len(s.Sig))
	}
	t := binary.BigEndian.Uint64(s.Sig)
	if t > math.MaxInt64 {
		return time.Time{}, fmt.Errorf("%w: cosignature timestamp %d exceeds 2^63-1", ErrMalformedNote, t)
	}
	return time.Unix(int64(t), 0), nil
}
