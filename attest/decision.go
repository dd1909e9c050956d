package attest

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Decision is a decision record of an AI system. Only what is safe to make
// public is in it: who decided (system, model, actor), when, the public
// outcome and labels, and salted commitments to the input, output,
// rationale and data accessed (see Commit), never the data itself.
type Decision struct {
	// System names the AI system, e.g. "support-bot" or "kyc-screening".
	System string `json:"system"`
	// DecisionID is the operator's identifier of the decision.
	DecisionID string `json:"decision_id"`
	// Time is when the decision was made, RFC 3339, kept as given.
	Time string `json:"time"`
	// Model is the model that decided.
	Model Model `json:"model"`
	// Actor is who or what asked (an opaque, pseudonymous id), optional.
	Actor string `json:"actor,omitempty"`
	// Outcome is the public outcome ("approved", "escalated"), optional.
	Outcome string `json:"outcome,omitempty"`
	// Labels are small public key/value annotations, optional.
	Labels map[string]string `json:"labels,omitempty"`
	// Commitments commit to what must stay private.
	Commitments Commitments `json:"commitments"`
}

// Model identifies a model: name and version, and optionally the digest of
// its release (which a model-release/v1 entry may name as a subject).
type Model struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest,omitempty"`
}

// Commitments are salted commitments, each "sha256:<64 hex>" (see Commit).
type Commitments struct {
	Input        string   `json:"input"`
	Output       string   `json:"output"`
	Rationale    string   `json:"rationale,omitempty"`
	DataAccessed []string `json:"data_accessed,omitempty"`
}

// Limits of a decision record.
const (
	// MaxDecisionSize is the longest decision record (one NDJSON line).
	MaxDecisionSize = 16 << 10
	// MaxLabels is the most labels a record may carry.
	MaxLabels = 32
	// MaxDataAccessed is the most data_accessed commitments.
	MaxDataAccessed = 256
	maxField        = 256
	maxLabelKey     = 64
)

// ParseDecision decodes and validates one decision record (a JSON object,
// unknown fields rejected) and returns it with its entry: canonical JSON
// of kind decision/v1.
func ParseDecision(line []byte) (*Decision, []byte, error) {
	if len(line) > MaxDecisionSize {
		return nil, nil, fmt.Errorf("%w: record is %d bytes, longer than the limit of %d", ErrInvalid, len(line), MaxDecisionSize)
	}
	if !utf8.Valid(line) {
		return nil, nil, fmt.Errorf("%w: record is not valid UTF-8", ErrInvalid)
	}
	d, err := parseDecisionJSON(line)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: record is not a decision JSON object: %v", ErrInvalid, err)
	}
	if err := d.Validate(); err != nil {
		return nil, nil, err
	}
	return d, d.Canonical(), nil
}

// Validate checks every field; the error names the first bad one.
func (d *Decision) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	for _, f := range []struct {
		name, value string
		required    bool
	}{
		{"system", d.System, true},
		{"decision_id", d.DecisionID, true},
		{"model.name", d.Model.Name, true},
		{"model.version", d.Model.Version, true},
		{"actor", d.Actor, false},
		{"outcome", d.Outcome, false},
	} {
		switch {
		case f.value == "" && f.required:
			return bad("%s is required", f.name)
		case len(f.value) > maxField:
			return bad("%s is longer than %d bytes", f.name, maxField)
		case hasControl(f.value):
			return bad("%s contains control characters", f.name)
		}
	}
	if d.Time == "" {
		return bad("time is required")
	}
	if !isRFC3339(d.Time) {
		return bad("time %q is not an RFC 3339 timestamp", d.Time)
	}
	if d.Model.Digest != "" {
		if _, err := ParseDigest(d.Model.Digest); err != nil {
			return bad("model.digest %q is not sha256:<64 lowercase hex>", d.Model.Digest)
		}
	}
	if len(d.Labels) > MaxLabels {
		return bad("%d labels, at most %d", len(d.Labels), MaxLabels)
	}
	for k, v := range d.Labels {
		switch {
		case k == "" || len(k) > maxLabelKey || hasControl(k):
			return bad("label key %q must be 1…%d bytes without control characters", k, maxLabelKey)
		case len(v) > maxField || hasControl(v):
			return bad("label %q: value must be at most %d bytes without control characters", k, maxField)
		}
	}
	c := d.Commitments
	for _, f := range []struct{ name, value string }{{"commitments.input", c.Input}, {"commitments.output", c.Output}} {
		if f.value == "" {
			return bad("%s is required", f.name)
		}
	}
	for _, f := range []struct{ name, value string }{{"commitments.input", c.Input}, {"commitments.output", c.Output}, {"commitments.rationale", c.Rationale}} {
		if f.value != "" && !isCommitment(f.value) {
			return bad("%s %q is not sha256:<64 lowercase hex>", f.name, truncate(f.value))
		}
	}
	if len(c.DataAccessed) > MaxDataAccessed {
		return bad("commitments.data_accessed has %d commitments, at most %d", len(c.DataAccessed), MaxDataAccessed)
	}
	for i, v := range c.DataAccessed {
		if !isCommitment(v) {
			return bad("commitments.data_accessed[%d] %q is not sha256:<64 lowercase hex>", i, truncate(v))
		}
	}
	return nil
}

// isRFC3339 reports whether s is an RFC 3339 date-time (§5.6): a full
// date, "T", a full time with optional fraction, and "Z" or an offset of
// at most 23:59 — stricter than time.Parse, which also takes a comma
// before the fraction and offsets up to 24:00 — that time.Parse accepts
// as a real instant (month and day ranges, leap years).
func isRFC3339(s string) bool {
	if len(s) < 20 || len(s) > 40 {
		return false
	}
	digits := func(t string) bool {
		for i := 0; i < len(t); i++ {
			if t[i] < '0' || t[i] > '9' {
				return false
			}
		}
		return true
	}
	// 2006-01-02T15:04:05
	if !digits(s[0:4]) || s[4] != '-' || !digits(s[5:7]) || s[7] != '-' || !digits(s[8:10]) ||
		(s[10] != 'T' && s[10] != 't') || !digits(s[11:13]) || s[13] != ':' || !digits(s[14:16]) || s[16] != ':' || !digits(s[17:19]) {
		return false
	}
	rest := s[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && digits(rest[1:3]) && rest[3] == ':' && digits(rest[4:6]):
		if rest[1:3] > "23" || rest[4:6] > "59" {
			return false
		}
	default:
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func isCommitment(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	return ok && isHex(h, 64)
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Canonical returns the record's entry: canonical JSON with "kind":
// "decision/v1", keys sorted, optional fields omitted when empty. d must
// be valid.
func (d *Decision) Canonical() []byte {
	b := make([]byte, 0, 512)
	b = append(b, '{')
	if d.Actor != "" {
		b = append(b, `"actor":`...)
		b = appendString(b, d.Actor)
		b = append(b, ',')
	}
	c := d.Commitments
	b = append(b, `"commitments":{`...)
	if len(c.DataAccessed) > 0 {
		b = append(b, `"data_accessed":[`...)
		for i, v := range c.DataAccessed {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, v)
		}
		b = append(b, "],"...)
	}
	b = append(b, `"input":`...)
	b = appendString(b, c.Input)
	b = append(b, `,"output":`...)
	b = appendString(b, c.Output)
	if c.Rationale != "" {
		b = append(b, `,"rationale":`...)
		b = appendString(b, c.Rationale)
	}
	b = append(b, `},"decision_id":`...)
	b = appendString(b, d.DecisionID)
	b = append(b, `,"kind":"`+KindDecision+`"`...)
	b = appendLabels(b, d.Labels)
	b = append(b, `,"model":{`...)
	if d.Model.Digest != "" {
		b = append(b, `"digest":`...)
		b = appendString(b, d.Model.Digest)
		b = append(b, ',')
	}
	b = append(b, `"name":`...)
	b = appendString(b, d.Model.Name)
	b = append(b, `,"version":`...)
	b = appendString(b, d.Model.Version)
	b = append(b, '}')
	if d.Outcome != "" {
		b = append(b, `,"outcome":`...)
		b = appendString(b, d.Outcome)
	}
	b = append(b, `,"system":`...)
	b = appendString(b, d.System)
	b = append(b, `,"time":`...)
	b = appendString(b, d.Time)
	return append(b, '}')
}

// Terms returns the search terms of a decision: its system, its model's
// name and, if given, its model's digest.
func (d *Decision) Terms() [][]byte {
	t := [][]byte{Term(KindDecision, "system", d.System), Term(KindDecision, "model", d.Model.Name)}
	if d.Model.Digest != "" {
		t = append(t, Term(KindDecision, "digest", d.Model.Digest))
	}
	return t
}

// MaxBatch is the most decision records in one NDJSON request.
const MaxBatch = 10000

// LineError is a rejected line of an NDJSON batch (lines count from 1).
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason()) }

// Reason is the line's error without the ErrInvalid prefix.
func (e LineError) Reason() string {
	return strings.TrimPrefix(e.Err.Error(), ErrInvalid.Error()+": ")
}

// BatchError lists every rejected line of a batch; it wraps ErrInvalid.
type BatchError struct {
	Lines []LineError
	// Records is the number of records in the batch.
	Records int
}

// maxLinesReported bounds the reasons a BatchError prints.
const maxLinesReported = 50

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d records rejected, nothing was logged:", len(e.Lines), e.Records)
	for i, l := range e.Lines {
		if i == maxLinesReported {
			fmt.Fprintf(&b, "\n… and %d more", len(e.Lines)-i)
			break
		}
		b.WriteString("\n")
		b.WriteString(l.Error())
	}
	return b.String()
}

func (e *BatchError) Unwrap() error { return ErrInvalid }

// ParseDecisions parses an NDJSON batch: one record per line, empty lines
// skipped, at most MaxBatch records. It validates every line and, if any is
// bad, returns a *BatchError naming all of them, so the batch is taken
// whole or not at all.
func ParseDecisions(body []byte) ([]DecisionEntry, error) {
	return ParseRecords(body, ParseDecisionEntry, nil)
}
