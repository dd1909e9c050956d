package api

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/wire"
)

// GET /api/v1/proofs/inclusion?index=N[&size=S] or ?leaf_hash=H[&size=S].
func (s *server) inclusion(c echo.Context) error {
	q, err := query(c, "index", "leaf_hash", "size")
	if err != nil {
		return err
	}
	size, note, err := s.treeSize(q, "size")
	if err != nil {
		return err
	}
	var index uint64
	switch {
	case q.Has("index") && q.Has("leaf_hash"):
		return badRequest("give index or leaf_hash, not both")
	case q.Has("index"):
		if index, err = decimalParam(q, "index"); err != nil {
			return err
		}
	case q.Has("leaf_hash"):
		leaf, err := hashParam(q, "leaf_hash")
		if err != nil {
			return err
		}
		if index, err = s.log.LeafIndex(leaf); err != nil {
			return notFoundOr(err, "no entry with that leaf hash")
		}
	default:
		return badRequest("give index=N or leaf_hash=H")
	}
	p, err := s.prove(index, size, note)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// GET /api/v1/proofs/consistency?old=A[&new=B].
func (s *server) consistency(c echo.Context) error {
	q, err := query(c, "old", "new")
	if err != nil {
		return err
	}
	if !q.Has("old") {
		return badRequest("give old=A (and new=B, default the latest size)")
	}
	oldSize, err := decimalParam(q, "old")
	if err != nil {
		return err
	}
	newSize, note, err := s.treeSize(q, "new")
	if err != nil {
		return err
	}
	switch {
	case oldSize == 0:
		return badRequest("old must be at least 1: there is no consistency proof from the empty tree")
	case oldSize > newSize:
		return badRequest(fmt.Sprintf("old %d is larger than new %d", oldSize, newSize))
	}
	hashes, err := proofs.ProveConsistency(oldSize, newSize, s.log)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, wire.ConsistencyProof{OldSize: oldSize, NewSize: newSize, Hashes: nonNil(hashes), Checkpoint: note})
}

// GET /api/v1/entries/<index>: the entry and its inclusion proof in the
// latest tree.
func (s *server) entry(c echo.Context) error {
	p, err := s.latestProof(c)
	if err != nil {
		return err
	}
	e, err := s.log.ReadEntry(c.Request().Context(), p.Index)
	if err != nil {
		return err
	}
	out := wire.Entry{Index: p.Index, LeafHash: p.LeafHash, Entry: e, InclusionProof: *p}
	if attest.KindOf(e) != "" {
		out.Record = e
	}
	return c.JSON(http.StatusOK, out)
}

// GET /api/v1/entries/<index>/tlog-proof: the c2sp.org/tlog-proof@v1 file
// of the entry against the latest checkpoint — the latest witnessed one,
// with its cosignatures, when the log has a witness policy.
func (s *server) tlogProof(c echo.Context) error {
	index, err := pathIndex(c)
	if err != nil {
		return err
	}
	pub := s.log.Published()
	size, note := pub.Size, pub.Note
	if s.cfg.Witnessed != nil {
		var ok bool
		if size, note, ok = s.cfg.Witnessed(); !ok || index >= size {
			return notWitnessedYet(index, size, ok)
		}
	}
	p, err := s.prove(index, size, string(note))
	if err != nil {
		return err
	}
	file := proofs.TlogProof{Index: p.Index, Hashes: p.Hashes, Checkpoint: note}.Format()
	c.Response().Header().Set(echo.HeaderCacheControl, cacheNone)
	return c.Blob(http.StatusOK, contentTypeText, file)
}

// latestProof proves the entry named by the path's index in the latest
// published tree.
func (s *server) latestProof(c echo.Context) (*wire.InclusionProof, error) {
	index, err := pathIndex(c)
	if err != nil {
		return nil, err
	}
	pub := s.log.Published()
	return s.prove(index, pub.Size, string(pub.Note))
}

func pathIndex(c echo.Context) (uint64, error) {
	index, err := signer.ParseDecimal(c.Param("index"))
	if err != nil {
		return 0, badRequest("index: " + err.Error())
	}
	return index, nil
}

// prove builds the inclusion proof of index in the tree of size.
func (s *server) prove(index, size uint64, note string) (*wire.InclusionProof, error) {
	if index >= size {
		return nil, notFound(fmt.Sprintf("index %d is not in the tree of size %d", index, size))
	}
	hashes, err := proofs.ProveInclusion(index, size, s.log)
	if err != nil {
		return nil, err
	}
	leaf, err := s.log.ReadHashes([]proofs.NodeID{{Level: 0, Index: index}})
	if err != nil {
		return nil, err
	}
	return &wire.InclusionProof{Index: index, TreeSize: size, LeafHash: leaf[0], Hashes: nonNil(hashes), Checkpoint: note}, nil
}

// treeSize reads an optional tree size parameter: absent means the latest
// published size. It returns the size and its signed checkpoint, or "" when
// the log did not keep the checkpoint of that size.
func (s *server) treeSize(q url.Values, name string) (uint64, string, error) {
	pub := s.log.Published()
	if !q.Has(name) {
		return pub.Size, string(pub.Note), nil
	}
	size, err := decimalParam(q, name)
	if err != nil {
		return 0, "", err
	}
	switch {
	case size == 0:
		return 0, "", badRequest(name + " must be at least 1: the empty tree has no proofs")
	case size > pub.Size:
		return 0, "", notFound(fmt.Sprintf("%s %d is beyond the latest tree size %d", name, size, pub.Size))
	}
	note, err := s.log.CheckpointAt(size)
	if err != nil {
		return size, "", notFoundOr(err, "")
	}
	return size, string(note), nil
}

// notFoundOr turns log.ErrNotFound into a 404 with msg (or nil when msg is
// empty), and passes other errors through.
func notFoundOr(err error, msg string) error {
	if errors.Is(err, log.ErrNotFound) {
		if msg == "" {
			return nil
		}
		return notFound(msg)
	}
	return err
}

// query parses the query string strictly: a piece that does not parse (a
// bad escape, a ";") is an error, not silently dropped as Echo's
// QueryParams would, and only the named parameters, once each, are allowed.
func query(c echo.Context, names ...string) (url.Values, error) {
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, badRequest("malformed query: " + err.Error())
	}
	return q, onlyParams(q, names...)
}

func onlyParams(q url.Values, names ...string) error {
	for k, v := range q {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return badRequest(fmt.Sprintf("unknown parameter %q (want %s)", k, strings.Join(names, ", ")))
		}
		if len(v) != 1 {
			return badRequest(fmt.Sprintf("parameter %q given %d times", k, len(v)))
		}
	}
	return nil
}

func decimalParam(q url.Values, name string) (uint64, error) {
	n, err := signer.ParseDecimal(q.Get(name))
	if err != nil {
		return 0, badRequest(name + ": " + err.Error())
	}
	return n, nil
}

// hashParam reads a SHA-256 hash in hex (64 digits) or standard base64.
func hashParam(q url.Values, name string) (proofs.Hash, error) {
	var h proofs.Hash
	// A "+" of base64 in an unescaped query reads as a space.
	v := strings.ReplaceAll(q.Get(name), " ", "+")
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != proofs.HashSize {
		b, err = base64.StdEncoding.Strict().DecodeString(v)
	}
	if err != nil || len(b) != proofs.HashSize {
		return h, badRequest(name + ": want a SHA-256 hash in hex or base64")
	}
	copy(h[:], b)
	return h, nil
}

func nonNil(h [][]byte) [][]byte {
	if h == nil {
		return [][]byte{}
	}
	return h
}
