package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/wire"
)

// Request shaping of batches: at most attest.MaxBatch records and
// MaxBatchBytes of them (half the server's default body limit), so that a
// batch is never refused for its size.
const (
	MaxBatchBytes = 16 << 20
	// maxBatchAnswer bounds an NDJSON answer: full receipts are a few KiB
	// each.
	maxBatchAnswer = 256 << 20
	// maxReceipt bounds one receipt (a 64 KiB entry, base64, with its
	// proof and checkpoint).
	maxReceipt = 1 << 20
)

// Receipt is a submission's receipt, checked: its leaf hash is the hash of
// the entry this client built from what it sent, and, for a full receipt,
// its inclusion proof leads to Tree's root.
type Receipt struct {
	wire.Receipt
	// Proven is true for a full receipt, whose inclusion proof was
	// checked against Tree.
	Proven bool
	// Tree is the checkpoint of a full receipt's proof.
	Tree signer.Checkpoint
	// Verified is true when Tree was verified with the log's key (and
	// the witness quorum, with a policy) and proven consistent with the
	// kept state. Under a policy, a receipt the log answered 202
	// (Witnessed false: no cosigned checkpoint in time; the entry is
	// logged all the same) is Proven against the log's signature alone,
	// and not Verified.
	Verified bool
}

// RetryPolicy says how submissions ride out pushback (503), rate limits
// (429), other 5xx answers and lost connections. Retrying is safe: the log
// deduplicates, so a record sent twice is logged once (the second answer
// says duplicate, with the first index). A retry never comes before the
// log's Retry-After; without one, it backs off exponentially. Every wait
// is jittered.
type RetryPolicy struct {
	// Attempts is how often a request is tried: 0 means
	// DefaultAttempts, a negative number until the context ends.
	Attempts int
	// MinBackoff and MaxBackoff bound the waits without a Retry-After (0:
	// 100 ms and 10 s).
	MinBackoff, MaxBackoff time.Duration
	// OnRetry, when set, is called before each wait.
	OnRetry func(err error, wait time.Duration)
}

// DefaultAttempts is the attempts of a zero RetryPolicy.
const DefaultAttempts = 10

// NoRetry tries every request once.
var NoRetry = RetryPolicy{Attempts: 1}

// Retryable reports whether a submission that failed with err may succeed
// when sent again: a temporary status, or a failure to get an answer at
// all. A definite refusal (4xx but 429), a malformed answer and a
// canceled context are not.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Temporary()
	}
	var ae *answerError
	return !errors.As(err, &ae)
}

// answerError is a 2xx answer that makes no sense: not retried.
type answerError struct{ error }

func (e *answerError) Unwrap() error { return e.error }

func badAnswer(format string, args ...any) error {
	return &answerError{fmt.Errorf(format, args...)}
}

// wait returns how long to wait before attempt n+1 (n ≥ 1) after err.
func (p RetryPolicy) wait(n int, err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		// Never earlier than asked; up to a fifth later, so that clients
		// told the same time do not come back together.
		return se.RetryAfter + rand.N(se.RetryAfter/5+time.Millisecond)
	}
	lo, hi := p.MinBackoff, p.MaxBackoff
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi <= 0 {
		hi = 10 * time.Second
	}
	b := lo << min(n-1, 20)
	if b > hi || b <= 0 {
		b = hi
	}
	return b/2 + rand.N(b/2+1)
}

// do runs send until it succeeds, fails for good, or the policy gives up.
func (p RetryPolicy) do(ctx context.Context, send func() error) error {
	attempts := p.Attempts
	if attempts == 0 {
		attempts = DefaultAttempts
	}
	for n := 1; ; n++ {
		err := send()
		// With ctx alive, a deadline error is the http.Client's Timeout (net/http
		// makes it match context.DeadlineExceeded): no answer, so retry it.
		if err == nil || ctx.Err() != nil || !(Retryable(err) || errors.Is(err, context.DeadlineExceeded)) {
			if ctx.Err() != nil && err != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			}
			return err
		}
		if attempts > 0 && n >= attempts {
			return fmt.Errorf("giving up after %d attempts: %w", n, err)
		}
		d := p.wait(n, err)
		if p.OnRetry != nil {
			p.OnRetry(err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
	}
}

// SubmitOptions shape a submission.
type SubmitOptions struct {
	// Compact asks for compact receipts (index, leaf hash, duplicate):
	// their leaf hash is checked, but there is no proof.
	Compact bool
	// Witnessed asks the log to wait for a checkpoint its witness quorum
	// cosigned (?wait=witnessed); set by a client with a policy.
	Witnessed bool
	Retry     RetryPolicy
}

func (o SubmitOptions) query(c *Client) url.Values {
	q := url.Values{}
	if o.Compact {
		q.Set("receipts", "compact")
	} else if o.Witnessed || c.policy != nil {
		q.Set("wait", "witnessed")
	}
	return q
}

// Add logs a raw entry through POST /add and returns its index. The log
// refuses entries in the form of AI entries there (use LogDecision and
// Attest).
func (c *Client) Add(ctx context.Context, entry []byte, retry RetryPolicy) (uint64, error) {
	var index uint64
	err := retry.do(ctx, func() error {
		_, body, err := c.post(ctx, "/add", nil, "application/octet-stream", entry, 64)
		if err != nil {
			return err
		}
		line, _, _ := bytes.Cut(body, []byte("\n"))
		if index, err = signer.ParseDecimal(string(line)); err != nil {
			return badAnswer("the log answered %q, not an index", body)
		}
		return nil
	})
	return index, err
}

// LogDecision logs one decision record (its JSON) and returns its checked
// receipt. The record is validated here first, with the log's own rules.
func (c *Client) LogDecision(ctx context.Context, record []byte, opts SubmitOptions) (*Receipt, error) {
	rs, err := c.LogDecisions(ctx, [][]byte{record}, opts)
	if err != nil {
		return nil, err
	}
	return &rs[0], nil
}

// LogDecisions logs decision records (each one JSON record) in as few
// requests as the batch limits allow, and returns their checked receipts
// in order. Every record is validated here first: a bad one fails the
// call before anything is sent (an *attest.BatchError, lines numbered from
// 1 in records). Each request is all-or-nothing at the log; when a later
// request fails, the receipts of the earlier ones are returned with the
// error.
func (c *Client) LogDecisions(ctx context.Context, records [][]byte, opts SubmitOptions) ([]Receipt, error) {
	return c.logRecords(ctx, DecisionsPath, attest.ParseDecisionEntry, records, opts)
}

// LogAccess is LogDecisions for data-access records (access/v1).
func (c *Client) LogAccess(ctx context.Context, records [][]byte, opts SubmitOptions) ([]Receipt, error) {
	return c.logRecords(ctx, AccessPath, attest.ParseAccessEntry, records, opts)
}

// LogEvaluations is LogDecisions for evaluation records (evaluation/v1).
func (c *Client) LogEvaluations(ctx context.Context, records [][]byte, opts SubmitOptions) ([]Receipt, error) {
	return c.logRecords(ctx, EvaluationsPath, attest.ParseEvaluationEntry, records, opts)
}

// logRecords validates records with parse, sends them to path in batches
// and checks their receipts (see LogDecisions).
func (c *Client) logRecords(ctx context.Context, path string, parse attest.RecordParser, records [][]byte, opts SubmitOptions) ([]Receipt, error) {
	type batch struct {
		start   int
		body    []byte
		entries []attest.DecisionEntry
	}
	var batches []batch
	for start := 0; start < len(records); {
		end, size := start, 0
		for end < len(records) && end-start < attest.MaxBatch && (end == start || size+len(records[end])+1 <= MaxBatchBytes) {
			size += len(records[end]) + 1
			end++
		}
		body := make([]byte, 0, size)
		for _, r := range records[start:end] {
			body = appendLine(body, r)
		}
		entries, err := attest.ParseRecords(body, parse, nil)
		if err != nil {
			var be *attest.BatchError
			if errors.As(err, &be) {
				for i := range be.Lines {
					be.Lines[i].Line += start
				}
			}
			return nil, err
		}
		if len(entries) != end-start {
			return nil, fmt.Errorf("records %d…%d: empty records", start+1, end)
		}
		batches = append(batches, batch{start, body, entries})
		start = end
	}
	var out []Receipt
	for _, b := range batches {
		ws, err := c.PostRecords(ctx, path, b.body, len(b.entries), opts)
		if err != nil {
			return out, err
		}
		for i := range ws {
			r, err := c.CheckReceipt(ctx, &ws[i], b.entries[i].Entry)
			if err != nil {
				return out, fmt.Errorf("record %d: %w", b.start+i+1, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// PostDecisions sends one NDJSON batch of n records as it is (the log
// validates it) and returns the log's receipts, in order, unchecked (see
// CheckReceipt). A refused batch is a *StatusError whose Lines name the
// refused records by their line in body; nothing of it was logged.
func (c *Client) PostDecisions(ctx context.Context, body []byte, n int, opts SubmitOptions) ([]wire.Receipt, error) {
	return c.PostRecords(ctx, DecisionsPath, body, n, opts)
}

// Paths of the record endpoints, for PostRecords and BulkOptions.Path.
const (
	DecisionsPath   = "/api/v1/decisions"
	AccessPath      = "/api/v1/access"
	EvaluationsPath = "/api/v1/evaluations"
)

// PostRecords is PostDecisions for the records endpoint at path
// (DecisionsPath, AccessPath, EvaluationsPath).
func (c *Client) PostRecords(ctx context.Context, path string, body []byte, n int, opts SubmitOptions) ([]wire.Receipt, error) {
	var rs []wire.Receipt
	err := opts.Retry.do(ctx, func() error {
		_, answer, err := c.post(ctx, path, opts.query(c), wire.ContentTypeNDJSON, body, maxBatchAnswer)
		if err != nil {
			return err
		}
		rs, err = parseReceipts(answer, n)
		return err
	})
	return rs, err
}

// appendLine appends record and a newline to body; a record spread over
// several lines (pretty-printed JSON) is compacted first.
func appendLine(body, record []byte) []byte {
	if bytes.ContainsAny(record, "\n\r") {
		var b bytes.Buffer
		if json.Compact(&b, record) == nil {
			record = b.Bytes()
		}
	}
	return append(append(body, record...), '\n')
}

func parseReceipts(body []byte, want int) ([]wire.Receipt, error) {
	rs := make([]wire.Receipt, 0, want)
	for line := range bytes.Lines(body) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r wire.Receipt
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, badAnswer("the log answered a malformed receipt: %v", err)
		}
		rs = append(rs, r)
	}
	if len(rs) != want {
		return nil, badAnswer("the log answered %d receipts for %d records", len(rs), want)
	}
	return rs, nil
}

// CheckReceipt checks a receipt against the entry the client expects the
// log to have logged: the leaf hash, the entry itself when the receipt
// carries it, and a full receipt's inclusion proof, against its checkpoint
// verified like every other (VerifyCheckpoint).
func (c *Client) CheckReceipt(ctx context.Context, w *wire.Receipt, entry []byte) (Receipt, error) {
	r := Receipt{Receipt: *w}
	leaf := proofs.HashLeaf(entry)
	if !bytes.Equal(w.LeafHash, leaf[:]) {
		return r, badAnswer("the log's receipt (index %d) is for leaf hash %x, not this entry's %x", w.Index, w.LeafHash, leaf)
	}
	if w.Entry != nil && !bytes.Equal(w.Entry, entry) {
		return r, badAnswer("the log's receipt (index %d) carries another entry than this one", w.Index)
	}
	if w.InclusionProof == nil {
		if w.Checkpoint != "" || w.TlogProof != "" {
			return r, badAnswer("the log's receipt (index %d) has a checkpoint but no proof", w.Index)
		}
		return r, nil
	}
	p := w.InclusionProof
	if p.Index != w.Index {
		return r, badAnswer("the log's receipt is for index %d, its proof for %d", w.Index, p.Index)
	}
	e := &Entry{Index: w.Index, Data: entry, LeafHash: leaf, Proof: p.Hashes}
	if w.Witnessed != nil && !*w.Witnessed && c.policy != nil {
		// Logged (202), but no checkpoint met the quorum in time: the
		// proof is against the log's own checkpoint, checked with the
		// policy's log key, and not kept as the verified state.
		if err := c.checkLogSigned(e, []byte(w.Checkpoint)); err != nil {
			return r, err
		}
	} else if err := c.checkInclusion(ctx, e, []byte(w.Checkpoint)); err != nil {
		return r, err
	}
	if p.TreeSize != e.Checkpoint.Size {
		return r, badAnswer("the log's receipt proof is for size %d, its checkpoint for %d", p.TreeSize, e.Checkpoint.Size)
	}
	if w.TlogProof != "" && w.TlogProof != string(e.TlogProof()) {
		return r, badAnswer("the log's receipt (index %d) carries a tlog-proof other than its proof", w.Index)
	}
	r.Proven, r.Tree, r.Verified = true, e.Checkpoint, e.Verified
	return r, nil
}

// checkLogSigned checks e's proof against note signed by a log of the
// policy, quorum or not; e.Verified stays false.
func (c *Client) checkLogSigned(e *Entry, note []byte) error {
	var (
		cp  signer.Checkpoint
		err = errors.New("no log in the policy")
	)
	for _, l := range c.policy.Logs {
		if cp, _, err = signer.OpenCheckpoint(note, l.Verifier); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("the log's checkpoint does not verify: %w", err)
	}
	if err := proofs.CheckInclusion(e.Proof, e.Index, cp.Size, e.LeafHash, cp.Hash); err != nil {
		return fmt.Errorf("the log's inclusion proof for index %d does not verify: %w", e.Index, err)
	}
	e.Checkpoint, e.Note = cp, note
	return nil
}

// Attest logs a signed release attestation. The submission is admitted
// here first, with the log's own rules (signature, statement, subjects),
// so that the receipt is checked against the entry this client built: a
// log that logged anything else is caught. It returns the receipt and the
// admitted release.
//
// A certificate-signed release has two possible entries: a log with a
// trusted root names the certificate's identity, issuer and time source
// (rebuilt here from the certificate and bundle without validating them:
// validating is the log's part, and the receipt proves the log logged
// it), a log accepting unverified certificates names only the key. The
// receipt is checked against whichever of the two the log answered.
func (c *Client) Attest(ctx context.Context, sub *attest.Submission, opts SubmitOptions) (*Receipt, *attest.Release, error) {
	rel, err := attest.Admit(sub, nil, proofs.MaxEntrySize)
	if err != nil {
		return nil, nil, fmt.Errorf("the attestation would be refused: %w", err)
	}
	var keyless *attest.Release
	if rel.Certificate != nil {
		// A certificate no log with a trusted root would take (not a
		// Fulcio certificate) has only the key-only entry.
		keyless, _ = attest.AdmitWith(sub, attest.AdmitOptions{MaxEntry: proofs.MaxEntrySize, UnvalidatedIdentity: true})
	}
	body, err := json.Marshal(sub)
	if err != nil {
		return nil, nil, err
	}
	var w wire.Receipt
	err = opts.Retry.do(ctx, func() error {
		_, answer, err := c.post(ctx, "/api/v1/attestations", opts.query(c), "application/json", body, maxReceipt)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(answer, &w); err != nil {
			return badAnswer("the log answered a malformed receipt: %v", err)
		}
		return nil
	})
	if keyless != nil && !bytes.Equal(w.Entry, rel.Entry) {
		rel = keyless
	}
	if err != nil {
		return nil, rel, err
	}
	r, err := c.CheckReceipt(ctx, &w, rel.Entry)
	if err != nil {
		return nil, rel, err
	}
	return &r, rel, nil
}
