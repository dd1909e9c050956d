// Package wire holds the JSON types of tlog's /api/v1: what the server
// (package api) writes and what clients (package client) read. It imports
// nothing but the standard library, so that a client of the log does not
// pull in the server's store or HTTP framework.
//
// Byte fields ([]byte) are standard base64 in JSON, as encoding/json writes
// them. Every type here is a contract with deployed clients: add optional
// fields, never rename or retype one.
package wire

import "encoding/json"

// Receipt is what a submission answers for each entry: where it is in the
// log and, unless compact receipts were asked for, the proof of it.
type Receipt struct {
	Index    uint64 `json:"index"`
	LeafHash []byte `json:"leaf_hash"`
	// Duplicate is true when the same entry was already logged: Index is
	// the original's.
	Duplicate bool `json:"duplicate,omitempty"`
	// Entry is the logged entry (canonical JSON), whose SHA-256 leaf hash
	// the proof is about.
	Entry []byte `json:"entry,omitempty"`
	// Checkpoint is the signed checkpoint the proofs are against: the
	// log's latest, or with ?wait=witnessed one that meets the witness
	// policy, with its cosignatures.
	Checkpoint string `json:"checkpoint,omitempty"`
	// InclusionProof proves Entry in Checkpoint's tree.
	InclusionProof *InclusionProof `json:"inclusion_proof,omitempty"`
	// TlogProof is the same proof as a c2sp.org/tlog-proof@v1 file, for
	// tlog verify.
	TlogProof string `json:"tlog_proof,omitempty"`
	// Witnessed says, with ?wait=witnessed, whether Checkpoint meets the
	// witness policy. False (status 202) when no witnessed checkpoint
	// covered the entry within the wait; the entry is logged all the same.
	Witnessed *bool `json:"witnessed,omitempty"`
	// LoggedNoLaterThan (RFC 3339, UTC) is the time bound the log can
	// prove: the earliest witness cosignature on Checkpoint, a tree that
	// includes the entry. Set only when Checkpoint carries cosignatures of
	// the log's witness policy (?wait=witnessed, witnessed true); without
	// them only the writer vouches for the record's time.
	LoggedNoLaterThan string `json:"logged_no_later_than,omitempty"`
}

// InclusionProof is the JSON of GET /api/v1/proofs/inclusion.
type InclusionProof struct {
	Index    uint64   `json:"index"`
	TreeSize uint64   `json:"tree_size"`
	LeafHash []byte   `json:"leaf_hash"`
	Hashes   [][]byte `json:"hashes"`
	// Checkpoint is the signed checkpoint of TreeSize, when the log has
	// it (always for the latest size).
	Checkpoint string `json:"checkpoint,omitempty"`
}

// ConsistencyProof is the JSON of GET /api/v1/proofs/consistency.
type ConsistencyProof struct {
	OldSize uint64   `json:"old_size"`
	NewSize uint64   `json:"new_size"`
	Hashes  [][]byte `json:"hashes"`
	// Checkpoint is the signed checkpoint of NewSize, when the log has it.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// Entry is the JSON of GET /api/v1/entries/<index>.
type Entry struct {
	Index    uint64 `json:"index"`
	LeafHash []byte `json:"leaf_hash"`
	Entry    []byte `json:"entry"`
	// Record is the entry decoded, for the AI entry kinds (release
	// attestations, decision records): the same canonical JSON as Entry.
	Record         json.RawMessage `json:"record,omitempty"`
	InclusionProof InclusionProof  `json:"inclusion_proof"`
}

// SearchResult is the JSON of GET /api/v1/search.
type SearchResult struct {
	Results []SearchHit `json:"results"`
	// NextCursor, when set, fetches the next (older) page as ?cursor=.
	NextCursor string `json:"next_cursor,omitempty"`
}

// SearchHit is one entry found; prove it with its index.
type SearchHit struct {
	Index uint64 `json:"index"`
}

// Error is the JSON body of every error answer of /api/v1: a one-line
// reason and, for a refused NDJSON batch, every refused line (nothing of
// the batch was logged).
type Error struct {
	Error string       `json:"error"`
	Lines []LineReason `json:"lines,omitempty"`
}

// LineReason is a refused line of an NDJSON batch; Line counts from 1 in
// the request's body.
type LineReason struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ContentTypeNDJSON is the media type of a batch of records.
const ContentTypeNDJSON = "application/x-ndjson"
