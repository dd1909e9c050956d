package attest

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The record kinds (decision/v1, access/v1, evaluation/v1) share their
// transport: one record as JSON, or an NDJSON batch of up to MaxBatch
// taken whole or not at all, each record parsed by the strict jsonReader
// (decisionjson.go) and logged as canonical JSON with its "kind".

// RecordEntry is a parsed record of a batch: its entry, its search terms,
// the system it is logged for (which writer scopes are checked against)
// and its time as given (which the log checks against its clock).
type RecordEntry struct {
	Entry  []byte
	Terms  [][]byte
	System string
	Time   string
}

// DecisionEntry is a parsed decision record of a batch.
type DecisionEntry = RecordEntry

// RecordParser parses and validates one record of a kind.
type RecordParser func(line []byte) (RecordEntry, error)

// Record kinds other than decisions.
const (
	KindAccess     = "access/v1"
	KindEvaluation = "evaluation/v1"
)

// ParseRecords parses an NDJSON batch of records with parse: one record
// per line, empty lines skipped, at most MaxBatch records. It validates
// every line, and checks each valid one with check when check is not nil;
// if any line is bad it returns a *BatchError naming all of them, so the
// batch is taken whole or not at all.
func ParseRecords(body []byte, parse RecordParser, check func(*RecordEntry) error) ([]RecordEntry, error) {
	if n := bytes.Count(body, []byte{'\n'}) + 1; n > MaxBatch {
		// Cheap upper bound first; count the real records only if needed.
		records := 0
		for line := range bytes.Lines(body) {
			if len(bytes.TrimSpace(line)) > 0 {
				records++
			}
		}
		if records > MaxBatch {
			return nil, fmt.Errorf("%w: %d records in one request, at most %d", ErrInvalid, records, MaxBatch)
		}
	}
	out := make([]RecordEntry, 0, 64)
	var bad []LineError
	n, records := 0, 0
	for line := range bytes.Lines(body) {
		n++
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		records++
		e, err := parse(line)
		if err == nil && check != nil {
			err = check(&e)
		}
		if err != nil {
			bad = append(bad, LineError{n, err})
			continue
		}
		out = append(out, e)
	}
	if len(bad) > 0 {
		return nil, &BatchError{Lines: bad, Records: records}
	}
	if records == 0 {
		return nil, fmt.Errorf("%w: no records in the body", ErrInvalid)
	}
	return out, nil
}

// ParseDecisionEntry parses one decision record into its RecordEntry.
func ParseDecisionEntry(line []byte) (RecordEntry, error) {
	d, entry, err := ParseDecision(line)
	if err != nil {
		return RecordEntry{}, err
	}
	return RecordEntry{Entry: entry, Terms: d.Terms(), System: d.System, Time: d.Time}, nil
}

// TimeBounds are the bounds the log puts on the time a record states,
// against its own clock.
type TimeBounds struct {
	// Now is the log's clock.
	Now time.Time
	// MaxSkew is how far ahead of Now a record's time may be; negative:
	// any time ahead is taken.
	MaxSkew time.Duration
	// MaxAge is how far behind Now it may be; 0 or negative: any age.
	MaxAge time.Duration
}

// Check refuses a record time (valid RFC 3339) outside the bounds, with
// a one-line reason naming the bound and the serve flag that sets it.
// Exactly at a bound is inside.
func (b TimeBounds) Check(recordTime string) error {
	t, err := time.Parse(time.RFC3339Nano, recordTime)
	if err != nil {
		return fmt.Errorf("%w: time %q is not an RFC 3339 timestamp", ErrInvalid, recordTime)
	}
	d := t.Sub(b.Now)
	if b.MaxSkew >= 0 && d > b.MaxSkew {
		return fmt.Errorf("%w: time %s is %s ahead of the log's clock (--max-clock-skew %s)", ErrInvalid, recordTime, beyond(d, b.MaxSkew), FormatDuration(b.MaxSkew))
	}
	if b.MaxAge > 0 && -d > b.MaxAge {
		return fmt.Errorf("%w: time %s is %s older than the log's clock (--max-record-age %s)", ErrInvalid, recordTime, beyond(-d, b.MaxAge), FormatDuration(b.MaxAge))
	}
	return nil
}

// beyond formats d, which exceeds bound, precisely enough to show it does.
func beyond(d, bound time.Duration) string {
	if s := FormatDuration(d); s != FormatDuration(bound) {
		return s
	}
	return d.String()
}

// FormatDuration writes d to the second (at least the millisecond below
// one second) without trailing zero units: 26h, 1h30m, 24h0m1s, 500ms.
func FormatDuration(d time.Duration) string {
	if d < time.Second && d > -time.Second {
		return d.Round(time.Millisecond).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Numbers (evaluation metrics). A number is read as JSON (RFC 8259)
// number text, at most maxNumber bytes, converted to the nearest float64
// (strconv.ParseFloat), and refused when that is not finite; its
// canonical form is RFC 8785's (§3.2.2.3): ECMAScript's
// Number.prototype.toString of the float64.

// maxNumber bounds the text of a JSON number: room for every float64's
// shortest form (-2.2250738585072014e-308 is 24 bytes) and then some.
const maxNumber = 40

// isJSONNumber reports whether s is exactly a JSON number: -? (0 |
// [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		digits()
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// parseNumber converts JSON number text to a finite float64.
func parseNumber(s string) (float64, error) {
	if len(s) > maxNumber {
		return 0, fmt.Errorf("number of %d bytes, at most %d", len(s), maxNumber)
	}
	if !isJSONNumber(s) {
		return 0, fmt.Errorf("%q is not a JSON number", truncate(s))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%s is out of the range of a 64-bit float", s)
	}
	return v, nil
}

// AppendNumber appends v (finite) as RFC 8785 writes numbers, which is
// ECMAScript's Number.prototype.toString: the shortest digits that read
// back as v; -0 as 0; positional notation for 1e-6 ≤ |v| < 1e21
// (integers without a fraction), else d[.ddd]e±n.
func AppendNumber(b []byte, v float64) []byte {
	if v == 0 {
		return append(b, '0')
	}
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	// Shortest round-trip digits and exponent: d.ddde±x.
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], v, 'e', -1, 64)
	mant, exp, _ := bytes.Cut(e, []byte{'e'})
	x, _ := strconv.Atoi(string(exp))
	digits := make([]byte, 0, 17)
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	k, n := len(digits), x+1 // v = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		for range n - k {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, '0', '.')
		for range -n {
			b = append(b, '0')
		}
		b = append(b, digits...)
	default:
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return b
}

// number reads a JSON number, returning its text.
func (r *jsonReader) number(field string) (string, error) {
	c, err := r.peek()
	if err != nil {
		return "", err
	}
	if c == 'n' {
		return "", r.fail("%s must be a number, not null", field)
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			r.i++
			continue
		}
		break
	}
	s := r.s[start:r.i]
	if s == "" {
		return "", r.fail("%s must be a number", field)
	}
	if len(s) > maxNumber {
		r.i = start
		return "", r.fail("%s: number of %d bytes, at most %d", field, len(s), maxNumber)
	}
	if !isJSONNumber(s) {
		r.i = start
		return "", r.fail("%s: %q is not a JSON number", field, s)
	}
	return s, nil
}

// checkText checks the usual string fields: required, bounded, no
// control characters.
func checkText(name, value string, required bool) error {
	switch {
	case value == "" && required:
		return fmt.Errorf("%w: %s is required", ErrInvalid, name)
	case len(value) > maxField:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, name, maxField)
	case hasControl(value):
		return fmt.Errorf("%w: %s contains control characters", ErrInvalid, name)
	}
	return nil
}

// checkTime checks a record's time field.
func checkTime(t string) error {
	if t == "" {
		return fmt.Errorf("%w: time is required", ErrInvalid)
	}
	if !isRFC3339(t) {
		return fmt.Errorf("%w: time %q is not an RFC 3339 timestamp", ErrInvalid, t)
	}
	return nil
}

// checkLabels checks the labels of a record.
func checkLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%w: %d labels, at most %d", ErrInvalid, len(labels), MaxLabels)
	}
	for k, v := range labels {
		switch {
		case k == "" || len(k) > maxLabelKey || hasControl(k):
			return fmt.Errorf("%w: label key %q must be 1…%d bytes without control characters", ErrInvalid, k, maxLabelKey)
		case len(v) > maxField || hasControl(v):
			return fmt.Errorf("%w: label %q: value must be at most %d bytes without control characters", ErrInvalid, k, maxField)
		}
	}
	return nil
}

// appendLabels appends ,"labels":{…} (keys in UTF-16 order) when there
// are labels.
func appendLabels(b []byte, labels map[string]string) []byte {
	if len(labels) == 0 {
		return b
	}
	b = append(b, `,"labels":`...)
	return appendStringMap(b, labels)
}

// parseLabels reads a labels object.
func (r *jsonReader) labels() (map[string]string, error) {
	m := map[string]string{}
	err := r.object("labels", func(k string) (err error) {
		m[k], err = r.str("label " + strconv.Quote(k))
		return err
	})
	return m, err
}

// readRecord checks size and UTF-8 of a record line and runs parse on it,
// then requires the end of the input.
func readRecord(line []byte, maxSize int, what string, parse func(r *jsonReader) error) error {
	if len(line) > maxSize {
		return fmt.Errorf("%w: record is %d bytes, longer than the limit of %d", ErrInvalid, len(line), maxSize)
	}
	if !utf8.Valid(line) {
		return fmt.Errorf("%w: record is not valid UTF-8", ErrInvalid)
	}
	r := &jsonReader{b: line, s: string(line)}
	err := parse(r)
	if err == nil {
		if r.ws(); r.i != len(r.b) {
			err = r.fail("trailing data after the record")
		}
	}
	if err != nil {
		return fmt.Errorf("%w: record is not %s JSON object: %v", ErrInvalid, what, err)
	}
	return nil
}

// canonicalKeys returns m's keys in the order RFC 8785 writes them (by
// UTF-16 code units).
func canonicalKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareUTF16)
	return keys
}

// appendStringMap appends a JSON object of strings, keys in UTF-16 order.
func appendStringMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	for i, k := range canonicalKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}
