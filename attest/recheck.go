package attest

import (
	"bytes"
	"crypto/x509"
	"fmt"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// RecheckRelease checks a logged key-signed release entry against the
// documents the log keeps beside it: envelope (the canonical DSSE envelope
// its envelope_digest names) and keyDER (the DER public key its signers
// names). The envelope's signature is verified with the key and the entry
// rebuilt as the log builds it; any difference is an error. It is what a
// monitor that does not trust the log runs: without it, a log could log a
// release entry naming a key that never signed it.
// An entry that names an identity (a keyless release, validated against
// a trusted root at admission) cannot be rebuilt from its blobs — the
// bundle's timestamps are not kept — and does not match.
func RecheckRelease(entry, envelope, keyDER []byte) error {
	pub, err := x509.ParsePKIXPublicKey(keyDER)
	if err != nil {
		return fmt.Errorf("the signer key the log keeps does not parse: %v", err)
	}
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return fmt.Errorf("the signer key the log keeps: %v", err)
	}
	rel, err := AdmitWith(&Submission{Envelope: envelope, PublicKey: string(pemKey)}, AdmitOptions{MaxEntry: len(entry) + 1})
	if err != nil {
		return fmt.Errorf("the envelope the log keeps does not verify with the signer key: %v", err)
	}
	if !bytes.Equal(rel.Entry, entry) {
		return fmt.Errorf("the entry is not the one its envelope and signer key make")
	}
	return nil
}
