package attest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
)

// SaltSize is the size of a commitment salt.
const SaltSize = 32

// commitDomain separates commitments from every other use of SHA-256.
const commitDomain = "tlog/commitment/v1\x00"

// Commit returns the commitment to content under salt:
//
//	"sha256:" || hex(SHA-256("tlog/commitment/v1" || 0x00 || salt || content))
//
// with a 32-byte uniformly random salt. The salt hides the content (a log
// reader cannot test guesses of it without the salt), the hash binds it
// (opening to other content needs a SHA-256 collision; the salt has a
// fixed length, so salt and content cannot trade bytes). The operator keeps
// content and salt; to open, it hands both to an auditor, who recomputes
// the commitment (tlog decision open).
func Commit(salt, content []byte) (string, error) {
	if len(salt) != SaltSize {
		return "", fmt.Errorf("%w: salt is %d bytes, want %d", ErrInvalid, len(salt), SaltSize)
	}
	h := sha256.New()
	h.Write([]byte(commitDomain))
	h.Write(salt)
	h.Write(content)
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// NewSalt returns a fresh random salt.
func NewSalt() []byte {
	salt := make([]byte, SaltSize)
	rand.Read(salt) // never fails (crypto/rand)
	return salt
}

// Open checks that commitment commits to content under salt.
func Open(commitment string, salt, content []byte) error {
	if !isCommitment(commitment) {
		return fmt.Errorf("%w: %q is not a commitment (sha256:<64 lowercase hex>)", ErrInvalid, truncate(commitment))
	}
	got, err := Commit(salt, content)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(commitment)) != 1 {
		return fmt.Errorf("%w: the content and salt do not open commitment %s", ErrInvalid, commitment)
	}
	return nil
}
