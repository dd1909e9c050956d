package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"iter"
	"net/url"
	"strconv"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/wire"
)

// Entry is an entry fetched from the log with its inclusion proof,
// checked.
type Entry struct {
	Index uint64
	// Data is the entry's bytes; LeafHash is computed from them here.
	Data     []byte
	LeafHash proofs.Hash
	// Record is the log's decoding of an AI entry (canonical JSON), nil
	// for raw entries.
	Record []byte
	// Proof is the inclusion proof in Checkpoint's tree.
	Proof [][]byte
	// Checkpoint is the tree the proof leads to and Note its signed note.
	Checkpoint signer.Checkpoint
	Note       []byte
	// Verified is true when Checkpoint was verified with the log's key
	// (and proven consistent with the kept state); false for a client
	// without a key, for which only the proof's path to the root was
	// checked.
	Verified bool
}

// TlogProof returns the entry's offline proof file
// (c2sp.org/tlog-proof@v1).
func (e *Entry) TlogProof() []byte {
	return proofs.TlogProof{Index: e.Index, Hashes: e.Proof, Checkpoint: e.Note}.Format()
}

// Entry fetches the entry at index and checks its inclusion proof against
// the checkpoint it comes with, after verifying that checkpoint.
func (c *Client) Entry(ctx context.Context, index uint64) (*Entry, error) {
	var we wire.Entry
	if err := c.getJSON(ctx, "/api/v1/entries/"+strconv.FormatUint(index, 10), nil, &we); err != nil {
		return nil, err
	}
	if we.Index != index || we.InclusionProof.Index != index {
		return nil, fmt.Errorf("the log answered entry %d for %d", we.Index, index)
	}
	if c.policy != nil {
		// This answer's proof is against the log's own checkpoint, which
		// the quorum may not have cosigned yet; the tlog-proof is against
		// one it has.
		e, err := c.proveIndex(ctx, index, we.Entry)
		if err != nil {
			return nil, err
		}
		e.Record = we.Record
		return e, nil
	}
	e := &Entry{Index: index, Data: we.Entry, LeafHash: proofs.HashLeaf(we.Entry), Record: we.Record, Proof: we.InclusionProof.Hashes}
	if err := c.checkInclusion(ctx, e, []byte(we.InclusionProof.Checkpoint)); err != nil {
		return nil, err
	}
	return e, nil
}

// checkInclusion verifies note and e's proof in it, filling e's
// checkpoint fields.
func (c *Client) checkInclusion(ctx context.Context, e *Entry, note []byte) error {
	cp, _, verified, err := c.checkpoint(ctx, note)
	if err != nil {
		return err
	}
	if err := proofs.CheckInclusion(e.Proof, e.Index, cp.Size, e.LeafHash, cp.Hash); err != nil {
		return fmt.Errorf("the log's inclusion proof for index %d does not verify: %w", e.Index, err)
	}
	e.Checkpoint, e.Note, e.Verified = cp, note, verified
	return nil
}

// Prove finds entry (its exact bytes) by its leaf hash and returns it with
// its checked inclusion proof in the log's latest tree; Entry.TlogProof
// is then its offline proof. The tlog-proof file the log serves is used,
// so that it carries the log's witness cosignatures.
func (c *Client) Prove(ctx context.Context, entry []byte) (*Entry, error) {
	leaf := proofs.HashLeaf(entry)
	var p wire.InclusionProof
	if err := c.getJSON(ctx, "/api/v1/proofs/inclusion", url.Values{"leaf_hash": {hex.EncodeToString(leaf[:])}}, &p); err != nil {
		return nil, err
	}
	if !bytes.Equal(p.LeafHash, leaf[:]) {
		return nil, fmt.Errorf("the log answered a proof for leaf hash %x, not %x", p.LeafHash, leaf)
	}
	return c.proveIndex(ctx, p.Index, entry)
}

// ProveIndex is Prove for the entry at index, whose bytes it fetches.
func (c *Client) ProveIndex(ctx context.Context, index uint64) (*Entry, error) {
	// Not Entry: its proof is against the log's own checkpoint, which a
	// witness policy refuses. The tlog-proof authenticates the bytes.
	var we wire.Entry
	if err := c.getJSON(ctx, "/api/v1/entries/"+strconv.FormatUint(index, 10), nil, &we); err != nil {
		return nil, err
	}
	if we.Index != index {
		return nil, fmt.Errorf("the log answered entry %d for %d", we.Index, index)
	}
	return c.proveIndex(ctx, index, we.Entry)
}

func (c *Client) proveIndex(ctx context.Context, index uint64, entry []byte) (*Entry, error) {
	file, err := c.get(ctx, "/api/v1/entries/"+strconv.FormatUint(index, 10)+"/tlog-proof", nil)
	if err != nil {
		return nil, err
	}
	p, err := proofs.ParseTlogProof(file)
	if err != nil {
		return nil, fmt.Errorf("the log's tlog-proof: %w", err)
	}
	if p.Index != index {
		return nil, fmt.Errorf("the log's tlog-proof is for index %d, not %d", p.Index, index)
	}
	e := &Entry{Index: index, Data: entry, LeafHash: proofs.HashLeaf(entry), Proof: p.Hashes}
	if err := c.checkInclusion(ctx, e, p.Checkpoint); err != nil {
		return nil, err
	}
	return e, nil
}

// Query is a search of the log's index: exactly one of Digest, Model,
// Signer, Identity and System, optionally narrowed to one Kind. Identity
// is a certificate identity (the subject alternative name of a Fulcio
// certificate), matched exactly: releases signed keyless, whose
// certificate the log validated.
type Query struct {
	Digest, Model, Signer, Identity, System string
	// Actor, Resource, Purpose and Event search access records (Event
	// also evaluations' evaluation_id).
	Actor, Resource, Purpose, Event string
	Kind                            string
	// Limit is the page size asked of the log (0: the log's default).
	Limit int
}

func (q Query) values() (url.Values, error) {
	v := url.Values{}
	for _, f := range []struct{ name, value string }{{"digest", q.Digest}, {"model", q.Model}, {"signer", q.Signer}, {"identity", q.Identity}, {"system", q.System},
		{"actor", q.Actor}, {"resource", q.Resource}, {"purpose", q.Purpose}, {"event", q.Event}} {
		if f.value != "" {
			v.Set(f.name, f.value)
		}
	}
	if len(v) != 1 {
		return nil, fmt.Errorf("a search names exactly one of digest, model, signer, identity, system, actor, resource, purpose and event")
	}
	if q.Kind != "" {
		v.Set("kind", q.Kind)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v, nil
}

// SearchPage fetches one page of results, newest first, from cursor (""
// for the first page), and the cursor of the next page ("" at the end).
// Search results are not authenticated: a log could leave entries out
// (Entries reads everything); each hit can be proven with Entry.
func (c *Client) SearchPage(ctx context.Context, q Query, cursor string) (indices []uint64, next string, err error) {
	v, err := q.values()
	if err != nil {
		return nil, "", err
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	var res wire.SearchResult
	if err := c.getJSON(ctx, "/api/v1/search", v, &res); err != nil {
		return nil, "", err
	}
	indices = make([]uint64, len(res.Results))
	for i, h := range res.Results {
		indices[i] = h.Index
	}
	return indices, res.NextCursor, nil
}

// Search iterates over every result, following the pages; the first error
// ends it.
func (c *Client) Search(ctx context.Context, q Query) iter.Seq2[uint64, error] {
	return func(yield func(uint64, error) bool) {
		cursor := ""
		for {
			page, next, err := c.SearchPage(ctx, q, cursor)
			if err != nil {
				yield(0, err)
				return
			}
			for _, i := range page {
				if !yield(i, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			cursor = next
		}
	}
}
