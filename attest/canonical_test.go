package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func TestAppendStringEscapes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain ascii", `"plain ascii"`},
		{"\x00", `"\u0000"`},
		{"\x01\x0f\x1f", `"\u0001\u000f\u001f"`},
		{"\x0b", `"\u000b"`}, // vertical tab has no short form
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{`"`, `"\""`},
		{`\`, `"\\"`},
		{"/", `"/"`}, // RFC 8785 does not escape the solidus
		{"</script>&'", `"</script>&'"`},
		{"\x7f", "\"\x7f\""}, // DEL is not a control character for JSON
		{"\u0080\u009f", "\"\u0080\u009f\""},
		{"\u2028\u2029", "\"\u2028\u2029\""}, // literal, unlike encoding/json
		{"\uFEFF\uFFFD\uFFFF", "\"\uFEFF\uFFFD\uFFFF\""},
		{"\U0001F600\U0010FFFF", "\"\U0001F600\U0010FFFF\""},
		// RFC 8785 §3.2.2.2's example, after parsing
		// "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/".
		{"€$\x0f\nA'B\"\\\\\"/", `"€$\u000f\nA'B\"\\\\\"/"`},
	} {
		if got := string(appendString(nil, tc.in)); got != tc.want {
			t.Errorf("appendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		// The same through appendCanonical, appended to existing bytes.
		got, err := appendCanonical([]byte("prefix:"), tc.in)
		if err != nil || string(got) != "prefix:"+tc.want {
			t.Errorf("appendCanonical(%q) = %s, %v; want prefix:%s", tc.in, got, err, tc.want)
		}
	}
}

// TestAppendStringEveryASCII checks every ASCII character, alone and
// between other characters, against the reference encoder and
// encoding/json's parse.
func TestAppendStringEveryASCII(t *testing.T) {
	for c := 0; c < 0x80; c++ {
		for _, s := range []string{string(rune(c)), "a" + string(rune(c)) + "é"} {
			got := appendString(nil, s)
			var want strings.Builder
			refString(&want, s)
			if string(got) != want.String() {
				t.Errorf("appendString(%q) = %s, want %s", s, got, want.String())
			}
			var back string
			if err := json.Unmarshal(got, &back); err != nil || back != s {
				t.Errorf("appendString(%q) = %s re-parses to %q, %v", s, got, back, err)
			}
			for _, b := range got {
				if b < 0x20 {
					t.Errorf("appendString(%q) = %q holds a raw control byte", s, got)
				}
			}
		}
	}
}

func TestAppendCanonicalScalars(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, "null"},
		{true, "true"},
		{false, "false"},
		{0, "0"},
		{-1, "-1"},
		{42, "42"},
		{int64(1) << 53, "9007199254740992"},
		{-(int64(1) << 53), "-9007199254740992"},
		{uint64(7), "7"},
		{[]string{}, "[]"},
		{[]any{}, "[]"},
		{map[string]any{}, "{}"},
		{map[string]string{}, "{}"},
		{[]any{nil, true, 1, "x", []any{}, map[string]any{}}, `[null,true,1,"x",[],{}]`},
		{map[string]string{"b": "2", "a": "1"}, `{"a":"1","b":"2"}`},
	} {
		got, err := appendCanonical(nil, tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("appendCanonical(%#v) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

// TestAppendCanonicalRFC8785SortExample is the object of RFC 8785
// §3.2.3, whose keys sort differently by UTF-16 code units than by
// UTF-8 bytes or code points.
func TestAppendCanonicalRFC8785SortExample(t *testing.T) {
	in := map[string]any{
		"\u20ac":     "Euro Sign",
		"\r":         "Carriage Return",
		"\ufb33":     "Hebrew Letter Dalet With Dagesh",
		"1":          "One",
		"\U0001F600": "Emoji: Grinning Face",
		"\u0080":     "Control",
		"\u00f6":     "Latin Small Letter O With Diaeresis",
	}
	want := `{"\r":"Carriage Return","1":"One","` + "\u0080" + `":"Control","ö":"Latin Small Letter O With Diaeresis",` +
		`"€":"Euro Sign","😀":"Emoji: Grinning Face","` + "\ufb33" + `":"Hebrew Letter Dalet With Dagesh"}`
	got, err := appendCanonical(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCompareUTF16(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int // sign
	}{
		{"", "", 0},
		{"", "a", -1},
		{"a", "ab", -1},
		{"abc", "abd", -1},
		{"B", "a", -1},
		{"é", "z", 1},
		// UTF-8 and code point order put U+FFFD first; UTF-16 puts the
		// emoji (surrogates D83D DE00) first.
		{"\U0001F600", "\uFFFD", -1},
		{"\U0001F600", "\uE000", -1},
		{"\uD7FF", "\U00010000", -1},
		{"\U00010000", "\U0001F600", -1},
		{"\U0001F600", "\U0001F601", -1},
		{"\U0001F600x", "\U0001F600", 1},
		{"\U0010FFFF", "\uFFFF", -1},
		{"\ufb33", "\U0001F600", 1},
		{"x\U0001F600", "x\uFFFD", -1},
	} {
		got := compareUTF16(tc.a, tc.b)
		if sign(got) != tc.want {
			t.Errorf("compareUTF16(%q, %q) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		}
		if back := compareUTF16(tc.b, tc.a); sign(back) != -tc.want {
			t.Errorf("compareUTF16(%q, %q) = %d, want sign %d", tc.b, tc.a, back, -tc.want)
		}
	}
}

func TestCompareUTF16Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		a, b := randString(rng, 4), randString(rng, 4)
		if rng.IntN(4) == 0 {
			b = a + randString(rng, 2)
		}
		want := slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
		if got := compareUTF16(a, b); sign(got) != want {
			t.Fatalf("compareUTF16(%q, %q) = %d, want sign %d", a, b, got, want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// TestAppendCanonicalRandom encodes random nested values and checks the
// output against the reference encoder, against encoding/json's parse,
// and for key order.
func TestAppendCanonicalRandom(t *testing.T) {
	seed := uint64(20260101)
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range 2000 {
		v := randValue(rng, 4)
		got, err := appendCanonical(nil, v)
		if err != nil {
			t.Fatalf("value %d (seed %d): %v", i, seed, err)
		}
		want, err := refCanonical(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("value %d (seed %d):\n got %s\nwant %s", i, seed, got, want)
		}
		if parsed := parseGeneric(t, got); !reflect.DeepEqual(parsed, jsonShape(v)) {
			t.Fatalf("value %d (seed %d): %s re-parses to %#v, want %#v", i, seed, got, parsed, jsonShape(v))
		}
		checkKeyOrder(t, got)
		if bytes.ContainsAny(got, " \n\t\r") && !bytes.Equal(compact(t, got), got) {
			t.Fatalf("value %d: insignificant whitespace in %s", i, got)
		}
	}
}

func compact(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkKeyOrder walks b's tokens and checks that each object's keys are
// strictly increasing in UTF-16 code unit order.
func checkKeyOrder(t *testing.T, b []byte) {
	t.Helper()
	type frame struct {
		obj, wantKey, hasPrev bool
		prev                  string
	}
	var stack []*frame
	done := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%v in %s", err, b)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			done()
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			f, k := stack[n-1], tok.(string)
			if f.hasPrev && slices.Compare(utf16.Encode([]rune(f.prev)), utf16.Encode([]rune(k))) >= 0 {
				t.Fatalf("key %q after %q: not in UTF-16 order in %s", k, f.prev, b)
			}
			f.prev, f.hasPrev, f.wantKey = k, true, false
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, &frame{obj: d == '{', wantKey: true})
			continue
		}
		done()
	}
}

// Runes chosen to be awkward: escapes, controls, characters encoding/json
// escapes but RFC 8785 does not, both sides of the surrogate range, and
// astral characters.
var awkwardRunes = []rune{
	'a', 'Z', '0', ' ', '"', '\\', '/', '<', '>', '&', '\'',
	0x00, 0x01, 0x0b, 0x1f, 0x7f, '\b', '\f', '\n', '\r', '\t',
	'é', 0x80, 0xff, 0x2028, 0x2029, 0x20ac, 0xd7ff, 0xe000, 0xfb33,
	0xfeff, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x1f601, 0x10ffff,
}

func randString(rng *rand.Rand, max int) string {
	var b strings.Builder
	for range rng.IntN(max + 1) {
		b.WriteRune(awkwardRunes[rng.IntN(len(awkwardRunes))])
	}
	return b.String()
}

func randValue(rng *rand.Rand, depth int) any {
	n := 6
	if depth > 0 {
		n = 10
	}
	switch rng.IntN(n) {
	case 0:
		return nil
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return rng.IntN(2000) - 1000
	case 3:
		return rng.Int64N(1<<54) - 1<<53
	case 4:
		return uint64(rng.Int64N(1 << 53))
	case 5:
		return randString(rng, 8)
	case 6:
		s := make([]string, rng.IntN(4))
		for i := range s {
			s[i] = randString(rng, 5)
		}
		return s
	case 7:
		a := make([]any, rng.IntN(4))
		for i := range a {
			a[i] = randValue(rng, depth-1)
		}
		return a
	case 8:
		m := map[string]string{}
		for range rng.IntN(5) {
			m[randString(rng, 3)] = randString(rng, 5)
		}
		return m
	default:
		m := map[string]any{}
		for range rng.IntN(6) {
			m[randString(rng, 3)] = randValue(rng, depth-1)
		}
		return m
	}
}

// jsonShape is what encoding/json (with UseNumber) parses v's JSON into.
func jsonShape(v any) any {
	switch v := v.(type) {
	case int:
		return json.Number(strconv.Itoa(v))
	case int64:
		return json.Number(strconv.FormatInt(v, 10))
	case uint64:
		return json.Number(strconv.FormatUint(v, 10))
	case []string:
		a := make([]any, len(v))
		for i, s := range v {
			a[i] = s
		}
		return a
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = jsonShape(e)
		}
		return a
	case map[string]string:
		m := map[string]any{}
		for k, s := range v {
			m[k] = s
		}
		return m
	case map[string]any:
		m := map[string]any{}
		for k, e := range v {
			m[k] = jsonShape(e)
		}
		return m
	}
	return v
}

func TestAppendCanonicalInvalidUTF8(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
	}{
		{"string", "ok\xff"},
		{"truncated rune", "\xe2\x82"},
		{"encoded surrogate", "\xed\xa0\x80"},
		{"overlong slash", "\xc0\xaf"},
		{"in []string", []string{"fine", "\x80"}},
		{"in []any", []any{1, []any{"\xfe"}}},
		{"map key", map[string]any{"a\xffb": 1}},
		{"map value", map[string]any{"k": "v\xff"}},
		{"map[string]string key", map[string]string{"\xff": "v"}},
		{"map[string]string value", map[string]string{"k": "\xc3"}},
		{"nested", map[string]any{"a": map[string]any{"b": []string{"\xf8\x88\x80\x80\x80"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := appendCanonical(nil, tc.in)
			wantErr(t, err, ErrInvalid, "UTF-8")
			if b != nil {
				t.Errorf("returned %q with the error", b)
			}
		})
	}
}

func TestAppendCanonicalPanicsOnUnsupportedType(t *testing.T) {
	for _, v := range []any{1.5, float32(1), []int{1}, map[int]string{}, struct{}{}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("appendCanonical(%T) did not panic", v)
				}
			}()
			appendCanonical(nil, v)
		}()
	}
}

// FuzzAppendString: every valid UTF-8 string encodes to the reference
// encoding, which encoding/json parses back to the same string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\x7f", "\u2028</>", "\U0001F600\uFFFD", "€$\x0f\nA'B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := appendCanonical(nil, s)
		if !utf8.ValidString(s) {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("appendCanonical(%q) = %q, %v; want ErrInvalid", s, got, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		refString(&want, s)
		if string(got) != want.String() {
			t.Fatalf("appendCanonical(%q) = %s, want %s", s, got, want.String())
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Fatalf("%s re-parses to %q, %v; want %q", got, back, err, s)
		}
	})
}

func ExampleTerm() {
	fmt.Println(string(Term(KindRelease, "model", "acme/llm-7b")))
	// Output: model-release/v1 model=acme/llm-7b
}
