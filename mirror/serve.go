package mirror

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/wire"
)

const (
	contentTypeText   = "text/plain; charset=utf-8"
	contentTypeBinary = "application/octet-stream"
	cacheImmutable    = "public, max-age=31536000, immutable"
	cacheNone         = "no-cache"
)

// Handler serves the mirror's read API (see the package doc). Before the
// first sync every endpoint answers 503. Errors are plain text. Each
// request sees one kept tree: a sync commits only between requests.
func (m *Mirror) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkpoint", m.serveCheckpoint)
	mux.HandleFunc("GET /tile/", m.serveTile)
	mux.HandleFunc("GET /api/v1/proofs/inclusion", m.serveInclusion)
	mux.HandleFunc("GET /api/v1/proofs/consistency", m.serveConsistency)
	mux.HandleFunc("GET /api/v1/entries/{index}/tlog-proof", m.serveTlogProof)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.RLock()
		defer m.mu.RUnlock()
		mux.ServeHTTP(w, r)
	})
}

// state returns the kept checkpoint, or writes 503. The caller holds
// mu.RLock.
func (m *Mirror) state(w http.ResponseWriter) (signer.Checkpoint, []byte, bool) {
	if m.note == nil {
		http.Error(w, "the mirror has not synced yet", http.StatusServiceUnavailable)
		return signer.Checkpoint{}, nil, false
	}
	return m.cp, m.note, true
}

func (m *Mirror) serveCheckpoint(w http.ResponseWriter, r *http.Request) {
	_, note, ok := m.state(w)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", cacheNone)
	w.Header().Set("Content-Type", contentTypeText)
	w.Write(note)
}

func (m *Mirror) serveTile(w http.ResponseWriter, r *http.Request) {
	cp, _, ok := m.state(w)
	if !ok {
		return
	}
	t, entries, err := proofs.ParseTileURL(r.URL)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !proofs.TileInTree(t, cp.Size) {
		http.Error(w, fmt.Sprintf("%s is not in the tree of size %d", r.URL.Path, cp.Size), http.StatusNotFound)
		return
	}
	b, err := m.readTile(cp, t, entries)
	if err != nil {
		m.serverError(w, err)
		return
	}
	w.Header().Set("Cache-Control", cacheImmutable)
	w.Header().Set("Content-Type", contentTypeBinary)
	w.Write(b)
}

func (m *Mirror) serverError(w http.ResponseWriter, err error) {
	m.log.Error("serving", "err", err)
	http.Error(w, "the mirror could not read its store", http.StatusInternalServerError)
}

// badRequest is an error answered with 400; notFound with 404.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func (m *Mirror) fail(w http.ResponseWriter, err error) {
	var he *httpError
	if errors.As(err, &he) {
		http.Error(w, he.msg, he.code)
		return
	}
	m.serverError(w, err)
}

// params parses the query strictly, as tlog serve does: only the named
// parameters, once each.
func params(r *http.Request, names ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, "malformed query: " + err.Error()}
	}
	for k, v := range q {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("unknown parameter %q (want %s)", k, strings.Join(names, ", "))}
		}
		if len(v) != 1 {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("parameter %q given %d times", k, len(v))}
		}
	}
	return q, nil
}

func decimal(q url.Values, name string) (uint64, error) {
	n, err := signer.ParseDecimal(q.Get(name))
	if err != nil {
		return 0, &httpError{http.StatusBadRequest, name + ": " + err.Error()}
	}
	return n, nil
}

// treeSize reads an optional size parameter (default the kept size) and
// returns it with its note: the mirror keeps only the latest checkpoint,
// so an older size has none.
func treeSize(q url.Values, name string, cp signer.Checkpoint, note []byte) (uint64, string, error) {
	if !q.Has(name) {
		return cp.Size, string(note), nil
	}
	size, err := decimal(q, name)
	switch {
	case err != nil:
		return 0, "", err
	case size == 0:
		return 0, "", &httpError{http.StatusBadRequest, name + " must be at least 1: the empty tree has no proofs"}
	case size > cp.Size:
		return 0, "", &httpError{http.StatusNotFound, fmt.Sprintf("%s %d is beyond the latest tree size %d", name, size, cp.Size)}
	case size == cp.Size:
		return size, string(note), nil
	}
	return size, "", nil
}

// prove builds the inclusion proof of index in the tree of size from the
// stored tiles of the kept tree cp.
func (m *Mirror) prove(cp signer.Checkpoint, index, size uint64, note string) (*wire.InclusionProof, error) {
	if index >= size {
		return nil, &httpError{http.StatusNotFound, fmt.Sprintf("index %d is not in the tree of size %d", index, size)}
	}
	th := m.storedHashes(cp)
	hashes, err := proofs.ProveInclusion(index, size, th)
	if err != nil {
		return nil, err
	}
	leaf, err := th.ReadHashes([]proofs.NodeID{{Level: 0, Index: index}})
	if err != nil {
		return nil, err
	}
	return &wire.InclusionProof{Index: index, TreeSize: size, LeafHash: leaf[0], Hashes: nonNil(hashes), Checkpoint: note}, nil
}

func (m *Mirror) serveInclusion(w http.ResponseWriter, r *http.Request) {
	cp, note, ok := m.state(w)
	if !ok {
		return
	}
	p, err := func() (*wire.InclusionProof, error) {
		q, err := params(r, "index", "leaf_hash", "size")
		if err != nil {
			return nil, err
		}
		if q.Has("leaf_hash") {
			return nil, &httpError{http.StatusBadRequest, "a mirror has no leaf-hash index: give index=N"}
		}
		if !q.Has("index") {
			return nil, &httpError{http.StatusBadRequest, "give index=N"}
		}
		index, err := decimal(q, "index")
		if err != nil {
			return nil, err
		}
		size, n, err := treeSize(q, "size", cp, note)
		if err != nil {
			return nil, err
		}
		return m.prove(cp, index, size, n)
	}()
	if err != nil {
		m.fail(w, err)
		return
	}
	writeJSON(w, p)
}

func (m *Mirror) serveConsistency(w http.ResponseWriter, r *http.Request) {
	cp, note, ok := m.state(w)
	if !ok {
		return
	}
	p, err := func() (*wire.ConsistencyProof, error) {
		q, err := params(r, "old", "new")
		if err != nil {
			return nil, err
		}
		if !q.Has("old") {
			return nil, &httpError{http.StatusBadRequest, "give old=A (and new=B, default the latest size)"}
		}
		oldSize, err := decimal(q, "old")
		if err != nil {
			return nil, err
		}
		newSize, n, err := treeSize(q, "new", cp, note)
		if err != nil {
			return nil, err
		}
		switch {
		case oldSize == 0:
			return nil, &httpError{http.StatusBadRequest, "old must be at least 1: there is no consistency proof from the empty tree"}
		case oldSize > newSize:
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("old %d is larger than new %d", oldSize, newSize)}
		}
		hashes, err := proofs.ProveConsistency(oldSize, newSize, m.storedHashes(cp))
		if err != nil {
			return nil, err
		}
		return &wire.ConsistencyProof{OldSize: oldSize, NewSize: newSize, Hashes: nonNil(hashes), Checkpoint: n}, nil
	}()
	if err != nil {
		m.fail(w, err)
		return
	}
	writeJSON(w, p)
}

func (m *Mirror) serveTlogProof(w http.ResponseWriter, r *http.Request) {
	cp, note, ok := m.state(w)
	if !ok {
		return
	}
	index, err := signer.ParseDecimal(r.PathValue("index"))
	if err != nil {
		http.Error(w, "index: "+err.Error(), http.StatusBadRequest)
		return
	}
	p, err := m.prove(cp, index, cp.Size, string(note))
	if err != nil {
		m.fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", cacheNone)
	w.Header().Set("Content-Type", contentTypeText)
	w.Write(proofs.TlogProof{Index: p.Index, Hashes: p.Hashes, Checkpoint: note}.Format())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func nonNil(h [][]byte) [][]byte {
	if h == nil {
		return [][]byte{}
	}
	return h
}
