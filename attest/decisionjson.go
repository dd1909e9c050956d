package attest

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A decision record is parsed by this small, strict JSON reader rather than
// encoding/json: it is the hot path of bulk submissions (encoding/json
// scans every record twice and allocates a decoder per line), and the
// schema is fixed — objects of strings, one array of strings. It accepts
// exactly the JSON (RFC 8259) encoding/json accepts for the schema, except
// that it is stricter: unknown fields, duplicate fields, null values and
// lone surrogate escapes (\ud800 not followed by a low surrogate, or a
// low one alone: encoding/json reads them as U+FFFD) are errors. A fuzz
// test checks it against encoding/json.

type jsonReader struct {
	b []byte
	// s is b as a string: strings without escapes are substrings of it,
	// so a record costs one string allocation, not one per field.
	s string
	i int
}

var errJSONEnd = errors.New("unexpected end of JSON")

func (r *jsonReader) fail(format string, args ...any) error {
	return fmt.Errorf(format+" (at byte %d)", append(args, r.i)...)
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte.
func (r *jsonReader) peek() (byte, error) {
	r.ws()
	if r.i >= len(r.b) {
		return 0, errJSONEnd
	}
	return r.b[r.i], nil
}

func (r *jsonReader) expect(c byte) error {
	got, err := r.peek()
	if err != nil {
		return err
	}
	if got != c {
		return r.fail("want %q, found %q", c, got)
	}
	r.i++
	return nil
}

// str reads a JSON string. The input is valid UTF-8 (checked by the
// caller); escapes decode as encoding/json does, except that a lone
// (unpaired) surrogate escape is an error, where encoding/json would
// read U+FFFD.
func (r *jsonReader) str(field string) (string, error) {
	c, err := r.peek()
	if err != nil {
		return "", err
	}
	if c != '"' {
		if c == 'n' {
			return "", r.fail("%s must be a string, not null", field)
		}
		return "", r.fail("%s must be a string", field)
	}
	r.i++
	start := r.i
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			s := r.s[start:r.i]
			r.i++
			return s, nil
		case c == '\\':
			return r.escaped(start, field)
		case c < 0x20:
			return "", r.fail("%s: control character in string", field)
		}
		r.i++
	}
	return "", errJSONEnd
}

// escaped finishes a string holding escapes, from its first backslash.
func (r *jsonReader) escaped(start int, field string) (string, error) {
	out := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return string(out), nil
		case c < 0x20:
			return "", r.fail("%s: control character in string", field)
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			return "", errJSONEnd
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r1, ok := r.hex4()
			if !ok {
				return "", r.fail("%s: bad \\u escape", field)
			}
			if utf16.IsSurrogate(r1) {
				// A pair decodes to one rune. A lone surrogate is an
				// error: encoding/json would read it as U+FFFD, storing
				// a character the writer never sent.
				at := r.i - 6
				if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					r.i += 2
					r2, ok := r.hex4()
					if !ok {
						return "", r.fail("%s: bad \\u escape", field)
					}
					if dec := utf16.DecodeRune(r1, r2); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						continue
					}
				}
				r.i = at
				return "", r.fail("%s: %v", field, loneSurrogateError(r1))
			}
			out = utf8.AppendRune(out, r1)
		default:
			return "", r.fail("%s: bad escape \\%c", field, e)
		}
	}
	return "", errJSONEnd
}

func (r *jsonReader) hex4() (rune, bool) {
	if r.i+4 > len(r.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	r.i += 4
	return rune(v), true
}

// object reads an object, calling fn for each key with the reader at its
// value; fn must consume the value. Duplicate keys are errors.
func (r *jsonReader) object(name string, fn func(key string) error) error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	if c != '{' {
		return r.fail("%s must be an object", name)
	}
	r.i++
	if c, err := r.peek(); err != nil {
		return err
	} else if c == '}' {
		r.i++
		return nil
	}
	seen := make([]string, 0, 16)
	for {
		key, err := r.str(name + " key")
		if err != nil {
			return err
		}
		for _, k := range seen {
			if k == key {
				return r.fail("%s: duplicate field %q", name, key)
			}
		}
		seen = append(seen, key)
		if err := r.expect(':'); err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
		c, err := r.peek()
		if err != nil {
			return err
		}
		r.i++
		switch c {
		case ',':
		case '}':
			return nil
		default:
			r.i--
			return r.fail("%s: want ',' or '}', found %q", name, c)
		}
	}
}

func (r *jsonReader) strArray(name string) ([]string, error) {
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c != '[' {
		return nil, r.fail("%s must be an array of strings", name)
	}
	r.i++
	out := []string{}
	if c, err := r.peek(); err != nil {
		return nil, err
	} else if c == ']' {
		r.i++
		return out, nil
	}
	for {
		s, err := r.str(name + " element")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		c, err := r.peek()
		if err != nil {
			return nil, err
		}
		r.i++
		switch c {
		case ',':
		case ']':
			return out, nil
		default:
			r.i--
			return nil, r.fail("%s: want ',' or ']', found %q", name, c)
		}
	}
}

func unknownField(name, key string) error {
	return fmt.Errorf("unknown field %q%s", key, name)
}

// parseDecisionJSON reads one decision record (valid UTF-8).
func parseDecisionJSON(b []byte) (*Decision, error) {
	r := &jsonReader{b: b, s: string(b)}
	d := &Decision{}
	err := r.object("record", func(key string) (err error) {
		switch key {
		case "system":
			d.System, err = r.str(key)
		case "decision_id":
			d.DecisionID, err = r.str(key)
		case "time":
			d.Time, err = r.str(key)
		case "actor":
			d.Actor, err = r.str(key)
		case "outcome":
			d.Outcome, err = r.str(key)
		case "model":
			err = r.object("model", func(k string) (err error) {
				switch k {
				case "name":
					d.Model.Name, err = r.str("model.name")
				case "version":
					d.Model.Version, err = r.str("model.version")
				case "digest":
					d.Model.Digest, err = r.str("model.digest")
				default:
					err = unknownField(" in model", k)
				}
				return err
			})
		case "labels":
			d.Labels = map[string]string{}
			err = r.object("labels", func(k string) (err error) {
				d.Labels[k], err = r.str("label " + strconv.Quote(k))
				return err
			})
		case "commitments":
			c := &d.Commitments
			err = r.object("commitments", func(k string) (err error) {
				switch k {
				case "input":
					c.Input, err = r.str("commitments.input")
				case "output":
					c.Output, err = r.str("commitments.output")
				case "rationale":
					c.Rationale, err = r.str("commitments.rationale")
				case "data_accessed":
					c.DataAccessed, err = r.strArray("commitments.data_accessed")
				default:
					err = unknownField(" in commitments", k)
				}
				return err
			})
		default:
			err = unknownField("", key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if r.ws(); r.i != len(r.b) {
		return nil, r.fail("trailing data after the record")
	}
	return d, nil
}
