package api

import (
	"bufio"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/wire"
)

// receiptOptions are the query parameters of submissions.
type receiptOptions struct {
	compact   bool // ?receipts=compact: index, leaf hash, duplicate only
	witnessed bool // ?wait=witnessed
}

func (s *server) receiptOptions(c echo.Context) (receiptOptions, error) {
	var o receiptOptions
	q, err := query(c, "wait", "receipts")
	if err != nil {
		return o, err
	}
	switch q.Get("receipts") {
	case "", "full":
	case "compact":
		o.compact = true
	default:
		return o, badRequest(`receipts: want "full" or "compact"`)
	}
	switch q.Get("wait") {
	case "", "logged":
	case "witnessed":
		if s.cfg.Witnessed == nil {
			return o, badRequest("wait=witnessed: this log has no witness policy")
		}
		o.witnessed = true
	default:
		return o, badRequest(`wait: want "logged" or "witnessed"`)
	}
	if o.compact && o.witnessed {
		return o, badRequest("wait=witnessed needs full receipts")
	}
	return o, nil
}

// POST /api/v1/attestations: a model release attestation, verified and
// logged; answers its receipt.
func (s *server) attestation(c echo.Context) error {
	ropts, err := s.receiptOptions(c)
	if err != nil {
		return err
	}
	if err := jsonContent(c, "application/json"); err != nil {
		return err
	}
	if err := s.gate(); err != nil {
		return err
	}
	release, err := s.reserve(c, s.cfg.AttestationBodyLimit, attestationMemoryFactor)
	if err != nil {
		return err
	}
	defer release()
	body, err := readBody(c.Request(), s.cfg.AttestationBodyLimit)
	if err != nil {
		return err
	}
	sub, err := attest.ParseSubmission(body)
	if err != nil {
		return err
	}
	opts := attest.AdmitOptions{
		Policy: s.publishers.Load(), MaxEntry: log.MaxEntrySize,
		AcceptUnverifiedCertificates: s.cfg.AcceptUnverifiedCertificates, Now: s.cfg.Now,
	}
	if tr := s.trust.Load(); tr != nil {
		opts.TrustedRoot = tr.TrustedMaterial
	}
	rel, err := attest.AdmitWith(sub, opts)
	if err != nil {
		return err
	}
	res, err := s.log.AddEntry(log.Entry{Data: rel.Entry, Terms: rel.Terms, Blobs: rel.Blobs}).Wait(c.Request().Context())
	if err != nil {
		return err
	}
	if !res.Duplicate {
		s.releasesLogged.Add(1)
		args := []any{"index", res.Index, "subjects", rel.Subjects, "signer", rel.Signer}
		if id := rel.Identity; id != nil {
			args = append(args, "identity", id.Identity, "issuer", id.Issuer, "time_source", id.TimeSource)
		}
		s.cfg.Logger.Info("model release logged", append(args,
			"writer", writerName(c), "client", clientAddr(c.Request()), "request_id", c.Get(ctxRequestID))...)
	}
	rs, code, err := s.receipts(c.Request().Context(), [][]byte{rel.Entry}, []log.Result{res}, ropts)
	if err != nil {
		return err
	}
	return c.JSON(code, rs[0])
}

// receipts builds the receipts of logged entries. With opts.witnessed it
// waits, up to Config.WitnessWait, for a witnessed checkpoint covering them
// all; if none comes it answers 202 with proofs against the log's own
// checkpoint and witnessed false.
func (s *server) receipts(ctx context.Context, data [][]byte, results []log.Result, opts receiptOptions) ([]wire.Receipt, int, error) {
	rs := make([]wire.Receipt, len(results))
	var last uint64
	for i, r := range results {
		rs[i] = wire.Receipt{Index: r.Index, Duplicate: r.Duplicate}
		last = max(last, r.Index)
	}
	if opts.compact {
		for i := range rs {
			h := proofs.HashLeaf(data[i])
			rs[i].LeafHash = h[:]
		}
		return rs, http.StatusOK, nil
	}
	pub := s.log.Published()
	size, note := pub.Size, pub.Note
	code := http.StatusOK
	var witnessed *bool
	if opts.witnessed {
		ok := s.waitWitnessed(ctx, last)
		witnessed = &ok
		if ok {
			size, note, _ = s.cfg.Witnessed()
		} else {
			code = http.StatusAccepted
		}
	}
	var bound string
	if witnessed != nil && *witnessed {
		// The witnessed note carries only cosignatures the collector
		// verified with the policy's witness keys (the log's own signature
		// is no cosignature): the earliest is when the entries were logged
		// at the latest.
		if n, err := signer.ParseNote(note); err == nil {
			var t time.Time
			for _, sig := range n.UnverifiedSigs {
				if ct, err := signer.CosignatureTime(sig); err == nil && (t.IsZero() || ct.Before(t)) {
					t = ct
				}
			}
			if !t.IsZero() {
				bound = t.UTC().Format(time.RFC3339)
			}
		}
	}
	for i := range rs {
		p, err := s.prove(rs[i].Index, size, "")
		if err != nil {
			return nil, 0, err
		}
		rs[i].LeafHash = p.LeafHash
		rs[i].Entry = data[i]
		rs[i].Checkpoint = string(note)
		rs[i].InclusionProof = p
		rs[i].TlogProof = string(proofs.TlogProof{Index: p.Index, Hashes: p.Hashes, Checkpoint: note}.Format())
		rs[i].Witnessed = witnessed
		rs[i].LoggedNoLaterThan = bound
	}
	return rs, code, nil
}

// witnessPoll is how often a ?wait=witnessed request looks for a new
// witnessed checkpoint: witnessing rounds take about a second, so this
// adds little latency and costs nothing.
const witnessPoll = 25 * time.Millisecond

// waitWitnessed waits until a witnessed checkpoint covers index, for at
// most Config.WitnessWait.
func (s *server) waitWitnessed(ctx context.Context, index uint64) bool {
	deadline := time.NewTimer(s.cfg.WitnessWait)
	defer deadline.Stop()
	tick := time.NewTicker(witnessPoll)
	defer tick.Stop()
	for {
		if size, _, ok := s.cfg.Witnessed(); ok && size > index {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

// reserve takes memory for a submission of at most limit bytes before its
// body is read: factor times its announced length, or its limit when it
// announces none (chunked).
func (s *server) reserve(c echo.Context, limit, factor int) (func(), error) {
	n := int64(limit)
	if cl := c.Request().ContentLength; cl >= 0 && cl < n {
		n = cl
	}
	return s.subs.reserve(c.Request().Context(), n*int64(factor))
}

// gate refuses submissions while AddGate does.
func (s *server) gate() error {
	if s.cfg.AddGate != nil {
		return s.cfg.AddGate()
	}
	return nil
}

// GET /api/v1/blobs/sha256:<hex>: a document kept beside an entry (an
// attestation's envelope, a signer's public key, a certificate).
func (s *server) blob(c echo.Context) error {
	sum, err := attest.ParseDigest(c.Param("digest"))
	if err != nil {
		return badRequest("blob name: want sha256:<64 lowercase hex digits>")
	}
	b, err := s.log.Blob(c.Request().Context(), sum)
	if err != nil {
		return notFoundOr(err, "no blob with that digest")
	}
	c.Response().Header().Set(echo.HeaderCacheControl, cacheImmutable)
	return c.Blob(http.StatusOK, contentTypeBinary, b)
}

// Search limits: a page is small enough to answer fast and large enough
// that following every hit is a few requests.
const (
	defaultSearchLimit = 100
	maxSearchLimit     = 1000
)

// GET /api/v1/search?digest=sha256:<hex> | model=<name> | signer=sha256:<hex>
// | identity=<certificate SAN> | system=<name> | actor=<id> | resource=<id>
// | purpose=<text> | event=<id> [&kind=<kind>][&limit=N][&cursor=C]:
// indices of entries indexed under that term, newest first. Not
// authenticated: only each hit's inclusion proof is.
func (s *server) search(c echo.Context) error {
	q, err := query(c, append(slices.Clone(attest.SearchFieldNames), "kind", "limit", "cursor")...)
	if err != nil {
		return err
	}
	var field string
	for _, f := range attest.SearchFieldNames {
		if q.Has(f) {
			if field != "" {
				return badRequest("give one of " + strings.Join(attest.SearchFieldNames, ", "))
			}
			field = f
		}
	}
	if field == "" {
		return badRequest("give one of digest=sha256:<hex>, model=<name>, signer=sha256:<hex>, identity=<certificate identity>, system=<name>, actor=<id>, resource=<id>, purpose=<text>, event=<id>")
	}
	value := q.Get(field)
	switch field {
	case "digest", "signer":
		if !strings.HasPrefix(value, "sha256:") && len(value) == 64 {
			value = "sha256:" + value
		}
		if _, err := attest.ParseDigest(value); err != nil {
			return badRequest(field + ": want sha256:<64 lowercase hex digits>")
		}
	default:
		// The longest term of the field is "<longest kind> <field>=<value>".
		if maxValue := log.MaxTermSize - len(attest.Term(attest.KindRelease, field, "")); value == "" || len(value) > maxValue {
			return badRequest(fmt.Sprintf("%s: want 1…%d bytes", field, maxValue))
		}
	}
	limit := uint64(defaultSearchLimit)
	if q.Has("limit") {
		if limit, err = decimalParam(q, "limit"); err != nil {
			return err
		}
		if limit == 0 || limit > maxSearchLimit {
			return badRequest(fmt.Sprintf("limit: want 1…%d", maxSearchLimit))
		}
	}
	before := uint64(math.MaxUint64)
	if q.Has("cursor") {
		if before, err = decimalParam(q, "cursor"); err != nil {
			return err
		}
	}
	terms, err := attest.SearchTerms(q.Get("kind"), field, value)
	if err != nil {
		return err
	}
	// Each kind has its own terms: merge their newest-first lists. Each
	// list is cut at limit, so the first limit of the merge are exact.
	var idx []uint64
	for _, term := range terms {
		got, err := s.log.Search(c.Request().Context(), term, before, int(limit))
		if err != nil {
			return err
		}
		idx = append(idx, got...)
	}
	slices.SortFunc(idx, func(a, b uint64) int { return cmp.Compare(b, a) })
	idx = slices.Compact(idx)
	idx = idx[:min(len(idx), int(limit))]
	out := wire.SearchResult{Results: make([]wire.SearchHit, len(idx))}
	for i, v := range idx {
		out.Results[i] = wire.SearchHit{Index: v}
	}
	if uint64(len(idx)) == limit && idx[len(idx)-1] > 0 {
		out.NextCursor = strconv.FormatUint(idx[len(idx)-1], 10)
	}
	c.Response().Header().Set(echo.HeaderCacheControl, cacheNone)
	return c.JSON(http.StatusOK, out)
}

// jsonContent checks the request's Content-Type against the allowed
// media types; a missing one is taken as the first.
func jsonContent(c echo.Context, allowed ...string) error {
	mt := mediaType(c)
	if mt == "" {
		return nil
	}
	for _, a := range allowed {
		if mt == a {
			return nil
		}
	}
	return &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: want %s", mt, strings.Join(allowed, " or "))}
}

func mediaType(c echo.Context) string {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "invalid"
	}
	return mt
}

// lineEncoder writes JSON values one per line through a buffer.
type lineEncoder struct {
	w   *bufio.Writer
	enc *json.Encoder
	buf []byte
}

func newLineEncoder(w io.Writer) *lineEncoder {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &lineEncoder{w: bw, enc: json.NewEncoder(bw)}
}

func (e *lineEncoder) encode(v any) error { return e.enc.Encode(v) }

// compact writes a compact receipt: {"index":N,"leaf_hash":"B64"} and
// ,"duplicate":true when set.
func (e *lineEncoder) compact(r *wire.Receipt) error {
	b := e.buf[:0]
	b = append(b, `{"index":`...)
	b = strconv.AppendUint(b, r.Index, 10)
	b = append(b, `,"leaf_hash":"`...)
	b = base64.StdEncoding.AppendEncode(b, r.LeafHash)
	b = append(b, '"')
	if r.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	b = append(b, "}\n"...)
	e.buf = b
	_, err := e.w.Write(b)
	return err
}

func (e *lineEncoder) flush() error { return e.w.Flush() }
