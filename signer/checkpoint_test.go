package signer_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/signer"
)

// The oracle here is c2sp.org/tlog-checkpoint (SPECS.md §3): the note text is
// "<origin>\n<decimal size, no leading zeros>\n<base64 root>\n[ext\n...]".
// specCheckpointText transcribes it.
func specCheckpointText(origin string, size uint64, root [32]byte, ext ...string) string {
	s := origin + "\n" + strconv.FormatUint(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
	for _, e := range ext {
		s += e + "\n"
	}
	return s
}

func testRoot(s string) [32]byte { return sha256.Sum256([]byte(s)) }

var checkpoints = []signer.Checkpoint{
	{Origin: "example.com/log", Size: 0, Hash: sha256.Sum256(nil)},
	{Origin: "example.com/log", Size: 1, Hash: testRoot("one")},
	{Origin: "example.com/log", Size: 70000, Hash: testRoot("70000")},
	{Origin: "example.com/log", Size: math.MaxUint64, Hash: testRoot("max")},
	{Origin: "example.com/log", Size: 10, Hash: [32]byte{0xff, 0xfe, 0xfb}},
	{Origin: "ünïcödé.example/✓", Size: 123456789, Hash: testRoot("u")},
	{Origin: "go.sum database tree", Size: 42, Hash: testRoot("sumdb")},
	{Origin: "example.com/log", Size: 5, Hash: testRoot("ext"), Extensions: []string{"ext one", "— not a signature", "x"}},
}

func TestCheckpointTextSpec(t *testing.T) {
	for _, c := range checkpoints {
		want := specCheckpointText(c.Origin, c.Size, c.Hash, c.Extensions...)
		if got := c.Text(); got != want {
			t.Errorf("Text() = %q, spec %q", got, want)
		}
	}
}

func TestParseCheckpointRoundTrip(t *testing.T) {
	for _, c := range checkpoints {
		text := specCheckpointText(c.Origin, c.Size, c.Hash, c.Extensions...)
		got, err := signer.ParseCheckpoint(text)
		if err != nil {
			t.Errorf("ParseCheckpoint(%q): %v", text, err)
			continue
		}
		if got.Origin != c.Origin || got.Size != c.Size || got.Hash != c.Hash || !slices.Equal(got.Extensions, c.Extensions) {
			t.Errorf("ParseCheckpoint(%q) = %+v, want %+v", text, got, c)
		}
		if got.Text() != text {
			t.Errorf("ParseCheckpoint(%q).Text() = %q", text, got.Text())
		}
	}
}

// x/mod's tlog.FormatTree/ParseTree are the go.sum database's checkpoint
// format: a checkpoint with origin "go.sum database tree". They must agree
// with ours byte for byte.
func TestCheckpointMatchesXModTree(t *testing.T) {
	for _, n := range []int64{0, 1, 2, 255, 256, 70000, 1 << 40, math.MaxInt64} {
		h := tlog.Hash(testRoot(strconv.FormatInt(n, 10)))
		xtext := tlog.FormatTree(tlog.Tree{N: n, Hash: h})
		c := signer.Checkpoint{Origin: "go.sum database tree", Size: uint64(n), Hash: h}
		if got := c.Text(); got != string(xtext) {
			t.Errorf("Text() = %q, x/mod FormatTree %q", got, xtext)
		}
		got, err := signer.ParseCheckpoint(string(xtext))
		if err != nil {
			t.Fatalf("ParseCheckpoint(x/mod %q): %v", xtext, err)
		}
		if got.Origin != "go.sum database tree" || got.Size != uint64(n) || got.Hash != [32]byte(h) || len(got.Extensions) != 0 {
			t.Errorf("ParseCheckpoint(x/mod %q) = %+v", xtext, got)
		}
		tree, err := tlog.ParseTree([]byte(c.Text()))
		if err != nil {
			t.Fatalf("x/mod ParseTree(%q): %v", c.Text(), err)
		}
		if tree.N != n || tree.Hash != h {
			t.Errorf("x/mod ParseTree(%q) = %+v", c.Text(), tree)
		}
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	root := testRoot("r")
	b64 := base64.StdEncoding.EncodeToString(root[:])
	allFF := [32]byte{}
	for i := range allFF {
		allFF[i] = 0xff
	}
	b64FF := base64.StdEncoding.EncodeToString(allFF[:]) // has '/' characters
	zero := strings.Repeat("A", 43) + "="
	cases := []struct{ desc, text string }{
		{"empty", ""},
		{"only newline", "\n"},
		{"origin only", "example.com/log\n"},
		{"origin and size only", "example.com/log\n1\n"},
		{"root line missing final newline", "example.com/log\n1\n" + b64},
		{"extension line missing final newline", "example.com/log\n1\n" + b64 + "\next"},
		{"empty origin", "\n1\n" + b64 + "\n"},
		{"size empty", "example.com/log\n\n" + b64 + "\n"},
		{"size with leading zero", "example.com/log\n01\n" + b64 + "\n"},
		{"size 00", "example.com/log\n00\n" + b64 + "\n"},
		{"size with sign", "example.com/log\n+1\n" + b64 + "\n"},
		{"negative size", "example.com/log\n-1\n" + b64 + "\n"},
		{"size with space", "example.com/log\n 1\n" + b64 + "\n"},
		{"size with trailing space", "example.com/log\n1 \n" + b64 + "\n"},
		{"size 2^64", "example.com/log\n18446744073709551616\n" + b64 + "\n"},
		{"size 2^64 with 21 digits", "example.com/log\n100000000000000000000\n" + b64 + "\n"},
		{"size hex", "example.com/log\n0x10\n" + b64 + "\n"},
		{"size with underscore", "example.com/log\n1_000\n" + b64 + "\n"},
		{"size in non-ASCII digits", "example.com/log\n١\n" + b64 + "\n"},
		{"root not base64", "example.com/log\n1\n" + strings.Repeat("!", 44) + "\n"},
		{"root 31 bytes", "example.com/log\n1\n" + base64.StdEncoding.EncodeToString(root[:31]) + "\n"},
		{"root 33 bytes", "example.com/log\n1\n" + base64.StdEncoding.EncodeToString(append(root[:], 0)) + "\n"},
		{"root empty", "example.com/log\n1\n\n"},
		{"root unpadded", "example.com/log\n1\n" + strings.TrimSuffix(b64, "=") + "\n"},
		{"root base64url", "example.com/log\n1\n" + strings.NewReplacer("/", "_", "+", "-").Replace(b64FF) + "\n"},
		{"root with nonzero padding bits", "example.com/log\n1\n" + zero[:42] + "B=\n"},
		{"root hex", "example.com/log\n1\n" + strings.Repeat("ab", 32) + "\n"},
		{"root with trailing space", "example.com/log\n1\n" + b64 + " \n"},
		// Go's base64 decoders skip '\r' and '\n'; the line is still not
		// the base64 of the root, and it would not round-trip.
		{"root with trailing CR", "example.com/log\n1\n" + b64 + "\r\n"},
		{"root with CR inside", "example.com/log\n1\n" + b64[:20] + "\r" + b64[20:] + "\n"},
		{"size and root swapped", "example.com/log\n" + b64 + "\n1\n"},
		{"empty extension line", "example.com/log\n1\n" + b64 + "\n\n"},
		{"empty extension line before another", "example.com/log\n1\n" + b64 + "\n\next\n"},
		{"empty extension line after another", "example.com/log\n1\n" + b64 + "\next\n\n"},
	}
	for _, tc := range cases {
		c, err := signer.ParseCheckpoint(tc.text)
		if err == nil {
			t.Errorf("%s: ParseCheckpoint(%q) = %+v, want error", tc.desc, tc.text, c)
		} else if !errors.Is(err, signer.ErrMalformedCheckpoint) {
			t.Errorf("%s: ParseCheckpoint(%q) error %v is not ErrMalformedCheckpoint", tc.desc, tc.text, err)
		}
	}
}

// specDecimal is the canonical-decimal rule written from the spec: ASCII
// digits only, no leading zeros except "0", value below 2^64.
func specDecimal(s string) (uint64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func TestParseDecimal(t *testing.T) {
	cases := []struct {
		s    string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"10", 10, true},
		{"256", 256, true},
		{"18446744073709551615", math.MaxUint64, true},
		{"18446744073709551614", math.MaxUint64 - 1, true},
		{"9223372036854775808", 1 << 63, true},
		{"", 0, false},
		{"00", 0, false},
		{"01", 0, false},
		{"007", 0, false},
		{"-0", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1\n", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"1_000", 0, false},
		{"١٢", 0, false},
		{"１", 0, false},
		{"18446744073709551616", 0, false},
		{"18446744073709551625", 0, false},
		{"99999999999999999999", 0, false},
		{"100000000000000000000", 0, false},
		{"000000000000000000001", 0, false},
	}
	for _, tc := range cases {
		if n, ok := specDecimal(tc.s); n != tc.want || ok != tc.ok {
			t.Fatalf("test table disagrees with the spec transcription on %q", tc.s)
		}
		got, err := signer.ParseDecimal(tc.s)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseDecimal(%q) = %d, %v; want %d", tc.s, got, err, tc.want)
		}
		if !tc.ok && err == nil {
			t.Errorf("ParseDecimal(%q) = %d, want error", tc.s, got)
		}
	}
	// Every canonical decimal round-trips.
	for _, n := range []uint64{0, 9, 99, 1000, 1<<32 - 1, 1 << 32, 1<<63 - 1, math.MaxUint64} {
		s := strconv.FormatUint(n, 10)
		if got, err := signer.ParseDecimal(s); err != nil || got != n {
			t.Errorf("ParseDecimal(%q) = %d, %v", s, got, err)
		}
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "01", "18446744073709551615", "18446744073709551616", "-1", "+1", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, ok := specDecimal(s)
		got, err := signer.ParseDecimal(s)
		if ok != (err == nil) || (ok && got != want) {
			t.Fatalf("ParseDecimal(%q) = %d, %v; spec says %d, %v", s, got, err, want, ok)
		}
	})
}

func TestSignCheckpointOpensWithXMod(t *testing.T) {
	log := newTestKey(t, "example.com/log", 1)
	wit := newTestKey(t, "witness.example/w1", 2)
	for _, c := range checkpoints {
		c.Origin = log.s.Name()
		msg, err := signer.SignCheckpoint(c, log.s)
		if err != nil {
			t.Fatalf("SignCheckpoint(%+v): %v", c, err)
		}
		want := specCheckpointText(c.Origin, c.Size, c.Hash, c.Extensions...)
		n, err := note.Open(msg, note.VerifierList(log.xv))
		if err != nil {
			t.Fatalf("x/mod note.Open(%q): %v", msg, err)
		}
		if n.Text != want {
			t.Errorf("x/mod opened text %q, spec text %q", n.Text, want)
		}
		parsed, err := signer.ParseCheckpoint(n.Text)
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Origin != c.Origin || parsed.Size != c.Size || parsed.Hash != c.Hash || !slices.Equal(parsed.Extensions, c.Extensions) {
			t.Errorf("ParseCheckpoint(%q) = %+v, want %+v", n.Text, parsed, c)
		}

		// Add a witness cosignature with x/mod, then open with ours.
		cosigned, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, wit.xs)
		if err != nil {
			t.Fatal(err)
		}
		got, gn, err := signer.OpenCheckpoint(cosigned, log.v)
		if err != nil {
			t.Fatalf("OpenCheckpoint(%q): %v", cosigned, err)
		}
		if got.Text() != want || got.Size != c.Size || got.Hash != c.Hash {
			t.Errorf("OpenCheckpoint = %+v, want %+v", got, c)
		}
		if len(gn.Sigs) != 1 || gn.Sigs[0].KeyHash != log.s.KeyHash() {
			t.Errorf("OpenCheckpoint verified %+v, want the log's signature", gn.Sigs)
		}
		if len(gn.UnverifiedSigs) != 1 || gn.UnverifiedSigs[0].Name != wit.s.Name() ||
			!wit.v.Verify([]byte(want), gn.UnverifiedSigs[0].Sig) {
			t.Errorf("OpenCheckpoint unverified %+v, want the witness cosignature", gn.UnverifiedSigs)
		}
		if _, _, err := signer.OpenCheckpoint(cosigned, wit.v); err == nil {
			t.Error("OpenCheckpoint with the witness key as log key succeeded (origin is not its name)")
		}
	}
}

func TestSignCheckpointRefusesOtherOrigin(t *testing.T) {
	log := newTestKey(t, "example.com/log", 1)
	for _, origin := range []string{"example.com/other", "example.com/log/", "Example.com/log", "example.com/lo"} {
		c := signer.Checkpoint{Origin: origin, Size: 1, Hash: testRoot("x")}
		if msg, err := signer.SignCheckpoint(c, log.s); err == nil {
			t.Errorf("SignCheckpoint with origin %q and key %q = %q, want error", origin, log.s.Name(), msg)
		}
	}
}

func TestOpenCheckpointRejects(t *testing.T) {
	log := newTestKey(t, "example.com/log", 1)
	other := newTestKey(t, "example.com/other", 2)
	good, err := signer.SignCheckpoint(signer.Checkpoint{Origin: log.s.Name(), Size: 3, Hash: testRoot("3")}, log.s)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(text string) []byte {
		msg, err := note.Sign(&note.Note{Text: text}, log.xs)
		if err != nil {
			t.Fatal(err)
		}
		// The note itself is fine; only the checkpoint inside is wrong.
		if _, err := note.Open(msg, note.VerifierList(log.xv)); err != nil {
			t.Fatal(err)
		}
		return msg
	}
	root := testRoot("3")
	cases := []struct {
		desc    string
		msg     []byte
		v       signer.NoteVerifier
		wantErr error
	}{
		{"origin differs from key name", sign(specCheckpointText("example.com/other", 3, root)), log.v, signer.ErrMalformedCheckpoint},
		{"origin is a prefix of key name", sign(specCheckpointText("example.com/lo", 3, root)), log.v, signer.ErrMalformedCheckpoint},
		{"body is not a checkpoint", sign("hello\n"), log.v, signer.ErrMalformedCheckpoint},
		{"size with leading zero", sign("example.com/log\n03\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"), log.v, signer.ErrMalformedCheckpoint},
		{"empty extension line", sign(specCheckpointText("example.com/log", 3, root) + "\n"), log.v, signer.ErrMalformedCheckpoint},
		{"signed by another key", good, other.v, signer.ErrUnverifiedNote},
		{"tampered size", []byte(strings.Replace(string(good), "\n3\n", "\n4\n", 1)), log.v, signer.ErrInvalidSignature},
		{"not a note", []byte(specCheckpointText("example.com/log", 3, root)), log.v, signer.ErrMalformedNote},
	}
	for _, tc := range cases {
		c, n, err := signer.OpenCheckpoint(tc.msg, tc.v)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: OpenCheckpoint(%q) = %+v, %v; want %v", tc.desc, tc.msg, c, err, tc.wantErr)
		}
		if err != nil && n != nil {
			t.Errorf("%s: OpenCheckpoint returned a note with an error", tc.desc)
		}
	}
}

// FuzzParseCheckpoint: whatever ParseCheckpoint accepts, Text formats back to
// the same bytes, and the fields are what the spec's layout says.
func FuzzParseCheckpoint(f *testing.F) {
	for _, c := range checkpoints {
		f.Add(c.Text())
	}
	f.Add("example.com/log\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	f.Add("example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n")
	f.Add("example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := signer.ParseCheckpoint(text)
		if err != nil {
			return
		}
		if got := c.Text(); got != text {
			t.Fatalf("ParseCheckpoint(%q).Text() = %q", text, got)
		}
		if want := specCheckpointText(c.Origin, c.Size, c.Hash, c.Extensions...); want != text {
			t.Fatalf("ParseCheckpoint(%q) = %+v, whose spec text is %q", text, c, want)
		}
		if _, ok := specDecimal(strings.Split(text, "\n")[1]); !ok {
			t.Fatalf("ParseCheckpoint(%q) accepted a non-canonical size", text)
		}
	})
}
