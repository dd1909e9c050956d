package vectors

import (
	"fmt"
	"strings"
)

// readme is testdata/vectors/README.md, with the number of vectors of each
// file.
func readme(counts map[string]int) []byte {
	var b strings.Builder
	b.WriteString(readmeHead)
	b.WriteString("| file | vectors |\n|---|---|\n")
	total := 0
	for _, f := range []string{CommitmentsFile, DecisionsFile, ReleasesFile, CheckpointsFile, TlogProofsFile, InclusionFile, ConsistencyFile} {
		fmt.Fprintf(&b, "| [`%s`](%s) | %d |\n", f, f, counts[f])
		total += counts[f]
	}
	fmt.Fprintf(&b, "| total | %d |\n", total)
	b.WriteString(readmeBody)
	return []byte(b.String())
}

const readmeHead = `# Test vectors

Cross-language test vectors: what the Go code of this repository decides
for commitments, decision records, model releases, signed checkpoints,
tlog-proof files and Merkle proofs. Every other implementation (the
Python SDK, a verifier in another language) must reach the same verdict
on every vector.

**Generated — do not edit.** The files, this README included, are written
by ` + "`internal/vectors`" + ` from the project's own code (` + "`attest`, `signer`, `proofs`" + `):

    go run ./internal/tools/genvectors -out testdata/vectors          # regenerate
    go run ./internal/tools/genvectors -out testdata/vectors -check   # exit 1 naming any stale file

Generation is deterministic: every key comes from a fixed seed
(SHA-256 of a label), salts are fixed, witness cosignatures carry fixed
timestamps, and Ed25519 signatures are deterministic, so two runs give
byte-identical files. ` + "`go test ./internal/vectors/`" + ` checks every verdict
against the Go code (and, where one exists, against
` + "`golang.org/x/mod/sumdb/note`" + ` and ` + "`golang.org/x/mod/sumdb/tlog`" + `), and
fails if the checked-in files are not what the generator makes today. The
keys are test keys: never trust them for anything.

`

const readmeBody = `
## Conventions

- JSON, 2-space indented, UTF-8. A field ending in ` + "`_b64`" + ` is standard
  padded base64 (RFC 4648 §4), one ending in ` + "`_hex`" + ` lowercase hex. Other
  string fields (a record, a note, a proof file, a policy) hold the
  bytes themselves as text.
- ` + "`name`" + ` is unique within a file: report failures by it.
- ` + "`valid`" + ` (or ` + "`valid_with_key`" + ` / ` + "`valid_with_policy`" + `) is the verdict to
  reproduce. ` + "`error`" + `, when present, is a substring of the Go error of every
  failing verdict of the vector: a hint of why, not something another
  implementation has to print. ` + "`reason`" + ` (commitments) is one word saying
  how the vector was spoiled.
- Hashes are RFC 6962 over SHA-256: a leaf hash is SHA-256(0x00 ||
  entry), an interior node SHA-256(0x01 || left || right).

## commitments.json

An array of:

| field | |
|---|---|
| ` + "`name`" + ` | |
| ` + "`salt_hex`" + ` | the salt (32 bytes, or not, in the salt_length vectors) |
| ` + "`content_b64`" + ` | the committed content |
| ` + "`commitment`" + ` | ` + "`sha256:`" + ` and 64 lowercase hex digits, or a malformed string |
| ` + "`valid`" + ` | whether ` + "`attest.Open(commitment, salt, content)`" + ` accepts; when true, ` + "`attest.Commit(salt, content)`" + ` returns ` + "`commitment`" + ` |
| ` + "`reason`" + ` | invalid only: ` + "`salt`" + ` (another salt), ` + "`content`" + ` (other content), ` + "`salt_length`" + ` (not 32 bytes), ` + "`malformed`" + ` (the commitment string) |

A commitment is ` + "`\"sha256:\" || hex(SHA-256(\"tlog/commitment/v1\" || 0x00 || salt || content))`" + `
with a 32-byte salt.

## decisions.json

An array of:

| field | |
|---|---|
| ` + "`name`" + ` | |
| ` + "`record`" + ` | the decision record exactly as a client sends it (one NDJSON line of ` + "`POST /api/v1/decisions`" + `, or the body of one) |
| ` + "`valid`" + ` | whether ` + "`attest.ParseDecision`" + ` accepts it |
| ` + "`entry_b64`" + ` | valid only: the log entry, canonical JSON (RFC 8785) of kind ` + "`decision/v1`" + ` |
| ` + "`leaf_hash_hex`" + ` | valid only: the entry's RFC 6962 leaf hash |
| ` + "`error`" + ` | invalid only: a substring of the Go error |

The entry adds ` + "`\"kind\":\"decision/v1\"`" + `, drops empty optional fields
(actor, outcome, labels, model.digest, commitments.rationale,
commitments.data_accessed), sorts object keys by UTF-16 code units and
writes strings with RFC 8785's minimal escapes (only ` + "`\\\"`" + `, ` + "`\\\\`" + ` and control
characters are escaped; U+2028, U+2029, ` + "`<`" + `, ` + "`>`" + `, ` + "`&`" + `, ` + "`/`" + ` and non-ASCII
are written literally). The reader is stricter than most JSON parsers:
unknown fields, duplicate keys (compared after unescaping), null values
and lone UTF-16 surrogate escapes are refused; C0 controls and DEL are
refused in every field, C1 controls (U+0080…U+009F) are not; lengths are
counted in UTF-8 bytes. The vectors include records at and just over each
limit. (Invalid UTF-8 cannot be written in a JSON file, so it is not
covered here.)

## releases.json

An array of:

| field | |
|---|---|
| ` + "`name`" + ` | |
| ` + "`submission`" + ` | the body of ` + "`POST /api/v1/attestations`" + `: a DSSE envelope of an in-toto statement and the publisher's PEM public key (Ed25519) |
| ` + "`valid`" + ` | whether ` + "`attest.ParseSubmission`" + ` and ` + "`attest.Admit`" + ` (no publisher policy, the log's entry size limit) accept it |
| ` + "`entry_b64`" + `, ` + "`leaf_hash_hex`" + ` | valid only: the ` + "`model-release/v1`" + ` entry and its leaf hash |
| ` + "`error`" + ` | invalid only |

The entry records the canonical envelope's digest: the envelope with the
payload and only the first signature that verifies, without its keyid.
So ` + "`keyid-and-failing-signature-dropped`" + ` and
` + "`submission-reordered-and-indented`" + ` have the entry of ` + "`slsa-provenance-v1`" + `.

## checkpoints.json

An object:

| field | |
|---|---|
| ` + "`log_key`" + ` | the log's verifier key (c2sp.org/signed-note, ` + "`<name>+<key ID>+<base64(0x01 ‖ Ed25519 key)>`" + `); its name is the checkpoints' origin |
| ` + "`witness_keys`" + ` | the verifier keys of witnesses a, b and c (cosignature keys, type 0x04, c2sp.org/tlog-cosignature) |
| ` + "`policy`" + ` | a c2sp.org/tlog-policy file: the log, the three witnesses, a quorum of any two |
| ` + "`cases`" + ` | an array of the fields below |

| case field | |
|---|---|
| ` + "`name`" + ` | |
| ` + "`note`" + ` | a signed note (c2sp.org/tlog-checkpoint text, a blank line, signature lines) |
| ` + "`valid_with_key`" + ` | whether ` + "`signer.OpenCheckpoint(note, log key)`" + ` accepts it: a valid log signature, a checkpoint text whose origin is the key name; cosignatures are not checked |
| ` + "`valid_with_policy`" + ` | whether ` + "`signer.ParsePolicy(policy).Check(note)`" + ` accepts it: also valid cosignatures of a quorum of the policy's witnesses, and no invalid one from a witness of the policy |
| ` + "`error`" + ` | when a verdict is false: a substring of the Go error of each false verdict |

Signature lines must use canonical base64 (the Go code, unlike
x/mod's note.Open, refuses set padding bits), signatures of unknown keys
are ignored, only the first signature of a known key is checked, exact
repeated lines are dropped, and a note may carry at most 100 signature
lines. Some notes also carry a cosignature of
` + "`stranger.vectors.example`" + `, a witness the policy does not name: it is
ignored, even when it does not verify.

## tlog_proofs.json

An object:

| field | |
|---|---|
| ` + "`log_key`" + `, ` + "`policy`" + ` | as in checkpoints.json |
| ` + "`cases`" + ` | an array of the fields below |

| case field | |
|---|---|
| ` + "`name`" + ` | |
| ` + "`entry_b64`" + ` | the entry the proof is checked for |
| ` + "`proof`" + ` | a c2sp.org/tlog-proof@v1 file: header, optional ` + "`extra`" + ` line, ` + "`index`" + ` line, inclusion proof hashes (base64, one a line), a blank line, the signed checkpoint |
| ` + "`valid_with_key`" + ` | whether ` + "`proofs.VerifyTlogProof(proof, entry, log key)`" + ` accepts it |
| ` + "`valid_with_policy`" + ` | whether ` + "`proofs.VerifyTlogProofWith(proof, entry, policy.Check)`" + ` accepts it |
| ` + "`error`" + ` | when a verdict is false |

The tree holds 37 entries, entry i being the bytes
` + "`\"tlog test vector entry <i>\\n\"`" + `; the checkpoints are of its first 0, 1,
20 or 37 entries.

## inclusion.json

An array of RFC 6962 inclusion proofs in the same tree (or tampered ones):

| field | |
|---|---|
| ` + "`name`" + ` | |
| ` + "`index`" + `, ` + "`size`" + ` | the leaf's index, the tree size |
| ` + "`leaf_hash_hex`" + `, ` + "`root_hex`" + ` | the leaf hash, the root of the tree of ` + "`size`" + ` entries |
| ` + "`proof_hex`" + ` | the proof, leaf sibling first |
| ` + "`valid`" + ` | whether ` + "`proofs.CheckInclusion`" + ` accepts it |

` + "`same-shape-other-size-verifies`" + ` (and ` + "`same-shape-other-new-size-verifies`" + `
in consistency.json) is valid: a proof has the same shape for a range of
tree sizes, and RFC 6962 verification binds the size only through it.
Verifiers take the size from a signed checkpoint.

## consistency.json

An array of RFC 6962 consistency proofs in the same tree:

| field | |
|---|---|
| ` + "`name`" + ` | |
| ` + "`old_size`" + `, ` + "`new_size`" + ` | the tree sizes |
| ` + "`old_root_hex`" + `, ` + "`new_root_hex`" + ` | their roots |
| ` + "`proof_hex`" + ` | the proof (RFC 6962 §2.1.2; empty between equal sizes) |
| ` + "`valid`" + ` | whether ` + "`proofs.CheckConsistency`" + ` accepts it (it needs 0 < old_size ≤ new_size) |
`
