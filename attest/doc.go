// Package attest holds the typed entries of the AI audit trail and turns
// submissions into log entries:
//
//   - model release attestations: a DSSE envelope (alone or in a Sigstore
//     bundle) holding an in-toto statement, verified on admission with
//     github.com/sigstore/sigstore and logged as a canonical JSON record of
//     kind model-release/v1 (see Admit);
//   - decision records of AI systems, with salted commitments instead of
//     personal data, logged as canonical JSON of kind decision/v1 (see
//     ParseDecision, Commit).
//
// Entries are canonical JSON (RFC 8785: sorted keys, no insignificant
// whitespace, minimal string escapes), so the same record always has the
// same bytes, the same leaf hash and, through the log's dedup, the same
// index. Each entry comes with the search terms the log indexes it under.
//
// The package is pure — no I/O, no logging, and no clock but the one
// AdmitOptions.Now gives (time.Now when nil) — but for HashModel, which
// reads a local copy of a model to check it against its release.
package attest

import "errors"

// Errors wrapped by everything the package rejects; the api package maps
// them to HTTP statuses. The wrapping message says what is wrong.
var (
	// ErrInvalid: malformed or unacceptable input (400).
	ErrInvalid = errors.New("invalid")
	// ErrSignature: no signature verifies with the given key (400).
	ErrSignature = errors.New("signature does not verify")
	// ErrForbidden: the publisher policy does not allow the signer for a
	// subject (403).
	ErrForbidden = errors.New("not allowed by the publisher policy")
	// ErrTooLarge: the entry would exceed the log's entry limit (413).
	ErrTooLarge = errors.New("too large")
	// ErrCertificate: a certificate-signed submission whose certificate
	// does not validate against the trusted root, or was not valid when it
	// signed, or that the log cannot validate at all (400).
	ErrCertificate = errors.New("certificate not accepted")
)
