package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// maxBlob bounds a blob answer: the log keeps at most an attestation's
// body (8 MiB) beside an entry.
const maxBlob = 8<<20 + 1<<16

// Blob returns a document the log keeps beside an entry — a release's
// canonical DSSE envelope, its signer's DER public key, a certificate —
// by its SHA-256, digest being "sha256:<64 hex>" as entries name them
// (envelope_digest, signers). The bytes are checked against the digest, so
// a log (or anything between) cannot answer other bytes; a blob the log
// does not have is ErrNotFound.
func (c *Client) Blob(ctx context.Context, digest string) ([]byte, error) {
	hexSum, ok := strings.CutPrefix(digest, "sha256:")
	want, err := hex.DecodeString(hexSum)
	if !ok || err != nil || len(want) != sha256.Size || hexSum != strings.ToLower(hexSum) {
		return nil, fmt.Errorf("blob digest %q: want sha256:<64 lowercase hex>", digest)
	}
	b, err := httpGet(ctx, c.hc, c.userAgent, c.endpoint("/api/v1/blobs/"+digest, nil), maxBlob)
	if err != nil {
		return nil, err
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != hexSum {
		return nil, fmt.Errorf("the log answered a blob for %s whose SHA-256 is sha256:%x", digest, got)
	}
	return b, nil
}
