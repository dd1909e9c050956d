package signer_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/signer"
)

// testKey is one key pair, as both implementations read it.
type testKey struct {
	skey, vkey string
	s          *signer.Signer
	v          *signer.Verifier
	xs         note.Signer
	xv         note.Verifier
}

// newTestKey makes a deterministic key for name from seed byte b, with the
// key strings built from the spec (see specKeys) and parsed by both sides.
func newTestKey(t testing.TB, name string, b byte) testKey {
	t.Helper()
	skey, vkey := specKeys(name, bytes.Repeat([]byte{b}, ed25519.SeedSize))
	k := testKey{skey: skey, vkey: vkey}
	var err error
	if k.s, err = signer.NewSigner(skey); err != nil {
		t.Fatalf("NewSigner(%q): %v", skey, err)
	}
	if k.v, err = signer.NewVerifier(vkey); err != nil {
		t.Fatalf("NewVerifier(%q): %v", vkey, err)
	}
	if k.xs, err = note.NewSigner(skey); err != nil {
		t.Fatalf("note.NewSigner(%q): %v", skey, err)
	}
	if k.xv, err = note.NewVerifier(vkey); err != nil {
		t.Fatalf("note.NewVerifier(%q): %v", vkey, err)
	}
	return k
}

// specSigLine is a signature line as the spec writes it:
// "— <name> <base64(key ID || signature)>\n".
func specSigLine(name string, id uint32, sig []byte) string {
	raw := binary.BigEndian.AppendUint32(nil, id)
	raw = append(raw, sig...)
	return "\u2014 " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}

func TestSignNoteMatchesXMod(t *testing.T) {
	log := newTestKey(t, "example.com/log", 1)
	wit := newTestKey(t, "witness.example/w1", 2)
	texts := []string{
		"hello\n",
		"\n",
		"two\nlines\n",
		"unicode ✓ — em dash inside text\n",
		"example.com/log\n12345\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"ends in blank line\n\n",
	}
	for _, text := range texts {
		msg, err := signer.SignNote(text, log.s, wit.s)
		if err != nil {
			t.Fatalf("SignNote(%q): %v", text, err)
		}
		// Ed25519 is deterministic, so x/mod's note.Sign with the same keys
		// must produce exactly the same bytes.
		xmsg, err := note.Sign(&note.Note{Text: text}, log.xs, wit.xs)
		if err != nil {
			t.Fatalf("note.Sign(%q): %v", text, err)
		}
		if !bytes.Equal(msg, xmsg) {
			t.Errorf("SignNote(%q) =\n%q\nx/mod note.Sign =\n%q", text, msg, xmsg)
		}
		// And the spec's layout, built by hand.
		want := text + "\n" +
			specSigLine(log.s.Name(), specKeyID(log.s.Name(), mustTypedPub(t, log.vkey)), ed25519.Sign(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)), []byte(text))) +
			specSigLine(wit.s.Name(), specKeyID(wit.s.Name(), mustTypedPub(t, wit.vkey)), ed25519.Sign(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)), []byte(text)))
		if string(msg) != want {
			t.Errorf("SignNote(%q) =\n%q\nspec layout =\n%q", text, msg, want)
		}

		n, err := note.Open(msg, note.VerifierList(log.xv, wit.xv))
		if err != nil {
			t.Fatalf("x/mod note.Open of our note %q: %v", msg, err)
		}
		if n.Text != text {
			t.Errorf("x/mod opened text %q, want %q", n.Text, text)
		}
		if len(n.Sigs) != 2 || n.Sigs[0].Name != log.s.Name() || n.Sigs[0].Hash != log.s.KeyHash() ||
			n.Sigs[1].Name != wit.s.Name() || n.Sigs[1].Hash != wit.s.KeyHash() {
			t.Errorf("x/mod verified signatures %+v", n.Sigs)
		}
	}
}

// mustTypedPub returns the typed public key (type byte || key) of a vkey.
func mustTypedPub(t testing.TB, vkey string) []byte {
	t.Helper()
	b64 := vkey[strings.LastIndex(vkey, "+")+1:]
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestXModSignOpensWithOpenNote(t *testing.T) {
	log := newTestKey(t, "example.com/log", 1)
	wit := newTestKey(t, "witness.example/w1", 2)
	text := "example.com/log\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	xmsg, err := note.Sign(&note.Note{Text: text}, log.xs, wit.xs)
	if err != nil {
		t.Fatal(err)
	}
	xn, err := note.Open(xmsg, note.VerifierList(log.xv))
	if err != nil {
		t.Fatal(err)
	}

	n, err := signer.OpenNote(xmsg, log.v)
	if err != nil {
		t.Fatalf("OpenNote(x/mod note): %v", err)
	}
	if n.Text != text || n.Text != xn.Text {
		t.Errorf("OpenNote text %q, x/mod %q, signed %q", n.Text, xn.Text, text)
	}
	checkSigs(t, "verified", n.Sigs, xn.Sigs)
	checkSigs(t, "unverified", n.UnverifiedSigs, xn.UnverifiedSigs)

	// With both keys known, both verify.
	n, err = signer.OpenNote(xmsg, log.v, wit.v)
	if err != nil {
		t.Fatalf("OpenNote(x/mod note, both keys): %v", err)
	}
	xn, err = note.Open(xmsg, note.VerifierList(log.xv, wit.xv))
	if err != nil {
		t.Fatal(err)
	}
	checkSigs(t, "verified", n.Sigs, xn.Sigs)
	if len(n.UnverifiedSigs) != 0 {
		t.Errorf("UnverifiedSigs = %+v, want none", n.UnverifiedSigs)
	}

	// x/mod's verifiers satisfy NoteVerifier, and x/mod's signers NoteSigner.
	if _, err := signer.OpenNote(xmsg, log.xv); err != nil {
		t.Errorf("OpenNote with an x/mod verifier: %v", err)
	}
	msg, err := signer.SignNote(text, log.xs, wit.xs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, xmsg) {
		t.Errorf("SignNote with x/mod signers =\n%q\nnote.Sign =\n%q", msg, xmsg)
	}
}

// checkSigs compares our signatures with x/mod's, field by field.
func checkSigs(t *testing.T, what string, ours []signer.Signature, xmod []note.Signature) {
	t.Helper()
	if len(ours) != len(xmod) {
		t.Errorf("%s signatures: %d, x/mod %d (%+v vs %+v)", what, len(ours), len(xmod), ours, xmod)
		return
	}
	for i := range ours {
		raw, err := base64.StdEncoding.DecodeString(xmod[i].Base64)
		if err != nil {
			t.Fatal(err)
		}
		if ours[i].Name != xmod[i].Name || ours[i].KeyHash != xmod[i].Hash || !bytes.Equal(ours[i].Sig, raw[4:]) {
			t.Errorf("%s signature %d: %s %08x %x, x/mod %s %08x %x", what, i,
				ours[i].Name, ours[i].KeyHash, ours[i].Sig, xmod[i].Name, xmod[i].Hash, raw[4:])
		}
		// Line re-encodes the signature, so it reproduces the parsed line
		// only when that line's base64 was canonical.
		if base64.StdEncoding.EncodeToString(raw) == xmod[i].Base64 {
			if got := ours[i].Line(); got != "— "+xmod[i].Name+" "+xmod[i].Base64+"\n" {
				t.Errorf("%s signature %d: Line() = %q, x/mod's line has %q", what, i, got, xmod[i].Base64)
			}
		}
	}
}

func TestSignatureLine(t *testing.T) {
	sig := []byte{0xde, 0xad, 0xbe, 0xef, 0x01}
	got := signer.Signature{Name: "example.com/log", KeyHash: 0x01020304, Sig: sig}.Line()
	want := specSigLine("example.com/log", 0x01020304, sig)
	if got != want {
		t.Errorf("Line() = %q, want %q", got, want)
	}
	if !strings.HasPrefix(got, "\xe2\x80\x94 ") {
		t.Errorf("Line() = %q does not start with U+2014 and a space", got)
	}
}

func TestSignNoteRejects(t *testing.T) {
	k := newTestKey(t, "example.com/log", 1)
	for _, text := range []string{
		"",
		"no newline",
		"newline not last\nx",
		"tab\there\n",
		"carriage return\r\n",
		"nul\x00\n",
		"escape \x1b[0m\n",
		"invalid \xff UTF-8\n",
		"truncated \xe2\x80 rune\n",
	} {
		msg, err := signer.SignNote(text, k.s)
		if err == nil {
			t.Errorf("SignNote(%q) = %q, want error", text, msg)
		} else if !errors.Is(err, signer.ErrMalformedNote) {
			t.Errorf("SignNote(%q) error %v is not ErrMalformedNote", text, err)
		}
	}
	// x/mod agrees that a text without a final newline cannot be signed.
	if _, err := note.Sign(&note.Note{Text: "no newline"}, k.xs); err == nil {
		t.Error("x/mod note.Sign accepts text without a final newline")
	}
}

// badSigner is a NoteSigner with an arbitrary name.
type badSigner struct{ name string }

func (b badSigner) Name() string                    { return b.name }
func (b badSigner) KeyHash() uint32                 { return 1 }
func (b badSigner) Sign(msg []byte) ([]byte, error) { return []byte("sig!!"), nil }

func TestSignNoteRejectsInvalidSignerName(t *testing.T) {
	for _, name := range []string{"", "a b", "a+b", "a\nb"} {
		if msg, err := signer.SignNote("text\n", badSigner{name}); err == nil {
			t.Errorf("SignNote with signer named %q = %q, want error", name, msg)
		}
		if _, err := note.Sign(&note.Note{Text: "text\n"}, badSigner{name}); err == nil {
			t.Errorf("x/mod signs with signer named %q; the case is not invalid", name)
		}
	}
}

// noteCase is one input of the OpenNote table.
type noteCase struct {
	desc    string
	msg     string
	known   []testKey
	wantErr error // nil: accept
}

func noteCases(t testing.TB) []noteCase {
	log := newTestKey(t, "example.com/log", 1)
	wit := newTestKey(t, "witness.example/w1", 2)
	other := newTestKey(t, "example.com/log", 3) // same name, other key
	text := "example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	sign := func(text string, keys ...testKey) string {
		var ss []note.Signer
		for _, k := range keys {
			ss = append(ss, k.xs)
		}
		msg, err := note.Sign(&note.Note{Text: text}, ss...)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	good := sign(text, log)
	logLine := good[len(text)+1:]
	otherLine := sign(text, other)[len(text)+1:]
	// A well-formed line by an unknown key, with a 5-byte signature.
	unknownLine := func(i int) string {
		return specSigLine(fmt.Sprintf("unknown%d.example", i), uint32(i), []byte{1, 2, 3, 4, 5})
	}
	manyUnknown := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(unknownLine(i))
		}
		return b.String()
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] ^= 0x01
		return string(b)
	}
	// Flip a bit inside the signature bytes (not the key ID) of logLine.
	sigFlipped := func() string {
		name, b64, _ := strings.Cut(strings.TrimPrefix(strings.TrimSuffix(logLine, "\n"), "— "), " ")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		raw[10] ^= 0x80
		return "— " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
	}()
	// The log line with its key ID but a truncated signature.
	shortSig := func(n int) string {
		return specSigLine(log.s.Name(), log.s.KeyHash(), bytes.Repeat([]byte{9}, n))
	}
	idOnly := "— example.com/log " + base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, log.s.KeyHash())) + "\n"

	return []noteCase{
		{"valid", good, []testKey{log}, nil},
		{"valid, two known keys", sign(text, log, wit), []testKey{log, wit}, nil},
		{"valid, cosignature by unknown key", sign(text, log, wit), []testKey{log}, nil},
		{"valid, text is a single newline", sign("\n", log), []testKey{log}, nil},
		{"valid, text ends in a blank line", sign(text+"\n", log), []testKey{log}, nil},
		{"valid, unknown line before known", text + "\n" + unknownLine(1) + logLine, []testKey{log}, nil},
		{"valid, same line twice", good + logLine, []testKey{log}, nil},
		{"valid, 100 signature lines", good + manyUnknown(99), []testKey{log}, nil},
		{"valid, known key of same name but other ID is unknown", text + "\n" + otherLine + logLine, []testKey{log}, nil},
		// x/mod ignores later signatures by a key it has already verified;
		// the two implementations must agree.
		{"valid, second different signature by the same key after a good one", good + sigFlipped, []testKey{log}, nil},

		{"empty", "", []testKey{log}, signer.ErrMalformedNote},
		{"text only", text, []testKey{log}, signer.ErrMalformedNote},
		{"no blank line", text + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"text without final newline, then signatures", "hello" + "\n" + strings.TrimSuffix(logLine, "\n"), []testKey{log}, signer.ErrMalformedNote},
		{"no signature lines", text + "\n", []testKey{log}, signer.ErrMalformedNote},
		{"signatures not ending in newline", strings.TrimSuffix(good, "\n"), []testKey{log}, signer.ErrMalformedNote},
		{"blank line after the signatures", good + "\n", []testKey{log}, signer.ErrMalformedNote},
		{"hyphen instead of em dash", text + "\n- " + strings.TrimPrefix(logLine, "— "), []testKey{log}, signer.ErrMalformedNote},
		{"en dash instead of em dash", text + "\n\u2013 " + strings.TrimPrefix(logLine, "— "), []testKey{log}, signer.ErrMalformedNote},
		{"em dash without space", text + "\n—" + strings.TrimPrefix(logLine, "— "), []testKey{log}, signer.ErrMalformedNote},
		{"em dash with two spaces", text + "\n—  " + strings.TrimPrefix(logLine, "— "), []testKey{log}, signer.ErrMalformedNote},
		{"leading space", text + "\n " + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"bad base64", text + "\n— example.com/log AAAA!AAA\n", []testKey{log}, signer.ErrMalformedNote},
		{"unpadded base64", text + "\n— example.com/log " + strings.TrimRight(base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4, 5}), "=") + "\n", []testKey{log}, signer.ErrMalformedNote},
		{"empty base64", text + "\n— example.com/log \n", []testKey{log}, signer.ErrMalformedNote},
		{"no base64", text + "\n— example.com/log\n", []testKey{log}, signer.ErrMalformedNote},
		{"signature of 4 bytes (key ID only)", text + "\n" + idOnly, []testKey{log}, signer.ErrMalformedNote},
		{"signature of 3 bytes", text + "\n— example.com/log AQID\n", []testKey{log}, signer.ErrMalformedNote},
		{"trailing space after base64", strings.TrimSuffix(good, "\n") + " \n", []testKey{log}, signer.ErrMalformedNote},
		{"name with +", text + "\n" + specSigLine("a+b", 1, []byte{1, 2, 3, 4, 5}) + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"name with space", text + "\n" + specSigLine("a b", 1, []byte{1, 2, 3, 4, 5}) + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"name with NBSP", text + "\n" + specSigLine("a\u00a0b", 1, []byte{1, 2, 3, 4, 5}) + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"empty name", text + "\n" + specSigLine("", 1, []byte{1, 2, 3, 4, 5}) + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"invalid UTF-8 in text", "caf\xe9\n\n" + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"invalid UTF-8 in signature name", text + "\n" + specSigLine("a\xffb", 1, []byte{1, 2, 3, 4, 5}) + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"overlong UTF-8 encoding", "\xc0\xaf\n\n" + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"UTF-16 surrogate in UTF-8", "\xed\xa0\x80\n\n" + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"tab in text", "a\tb\n\n" + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"CR in text", "a\r\n\n" + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"NUL in text", "a\x00\n\n" + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"DEL-adjacent control 0x1f in text", "a\x1f\n\n" + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"CRLF signature line", strings.TrimSuffix(good, "\n") + "\r\n", []testKey{log}, signer.ErrMalformedNote},
		{"101 signature lines", good + manyUnknown(100), []testKey{log}, signer.ErrMalformedNote},
		{"101 signature lines, known one last", text + "\n" + manyUnknown(100) + logLine, []testKey{log}, signer.ErrMalformedNote},
		{"101 identical lines", text + "\n" + strings.Repeat(logLine, 101), []testKey{log}, signer.ErrMalformedNote},
		{"malformed line after a good one", good + "— x\n", []testKey{log}, signer.ErrMalformedNote},

		{"one byte of the text flipped", flip(good, 2), []testKey{log}, signer.ErrInvalidSignature},
		{"size digit changed", strings.Replace(good, "\n1\n", "\n2\n", 1), []testKey{log}, signer.ErrInvalidSignature},
		{"signature flipped", text + "\n" + sigFlipped, []testKey{log}, signer.ErrInvalidSignature},
		{"bad known signature before a good one", text + "\n" + sigFlipped + logLine, []testKey{log}, signer.ErrInvalidSignature},
		{"good log signature, bad known witness signature", good + specSigLine(wit.s.Name(), wit.s.KeyHash(), bytes.Repeat([]byte{7}, 64)), []testKey{log, wit}, signer.ErrInvalidSignature},
		{"signature truncated to 5 bytes", text + "\n" + shortSig(1), []testKey{log}, signer.ErrInvalidSignature},
		{"signature truncated to 63 bytes", text + "\n" + shortSig(63), []testKey{log}, signer.ErrInvalidSignature},
		{"signature 65 bytes", text + "\n" + shortSig(65), []testKey{log}, signer.ErrInvalidSignature},

		{"only unknown keys", sign(text, wit), []testKey{log}, signer.ErrUnverifiedNote},
		{"no verifiers", good, nil, signer.ErrUnverifiedNote},
		{"same name, other key ID", text + "\n" + otherLine, []testKey{log}, signer.ErrUnverifiedNote},
		{"100 unknown lines", text + "\n" + manyUnknown(100), []testKey{log}, signer.ErrUnverifiedNote},
	}
}

func TestOpenNoteTable(t *testing.T) {
	for _, tc := range noteCases(t) {
		t.Run(tc.desc, func(t *testing.T) {
			var vs []signer.NoteVerifier
			var xvs []note.Verifier
			for _, k := range tc.known {
				vs = append(vs, k.v)
				xvs = append(xvs, k.xv)
			}
			n, err := signer.OpenNote([]byte(tc.msg), vs...)
			xn, xerr := note.Open([]byte(tc.msg), note.VerifierList(xvs...))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("OpenNote(%q) = %v, want success", tc.msg, err)
				}
			} else if !errors.Is(err, tc.wantErr) {
				t.Fatalf("OpenNote(%q) error = %v, want %v", tc.msg, err, tc.wantErr)
			}
			// x/mod must agree on accept vs. reject, and on which kind.
			if (err == nil) != (xerr == nil) {
				t.Fatalf("OpenNote error %v, x/mod note.Open error %v: they disagree", err, xerr)
			}
			var xInvalid *note.InvalidSignatureError
			var xUnverified *note.UnverifiedNoteError
			switch {
			case errors.Is(err, signer.ErrInvalidSignature) && !errors.As(xerr, &xInvalid):
				t.Errorf("x/mod error %v, want InvalidSignatureError like ours", xerr)
			case errors.Is(err, signer.ErrUnverifiedNote) && !errors.As(xerr, &xUnverified):
				t.Errorf("x/mod error %v, want UnverifiedNoteError like ours", xerr)
			case errors.Is(err, signer.ErrMalformedNote) && (errors.As(xerr, &xInvalid) || errors.As(xerr, &xUnverified)):
				t.Errorf("x/mod error %v, but ours says the note is malformed", xerr)
			}
			if err == nil {
				if n.Text != xn.Text {
					t.Errorf("text %q, x/mod %q", n.Text, xn.Text)
				}
				checkSigs(t, "verified", n.Sigs, xn.Sigs)
				checkSigs(t, "unverified", n.UnverifiedSigs, xn.UnverifiedSigs)
			}

			// ParseNote fails exactly on the malformed ones, whatever the keys.
			pn, perr := signer.ParseNote([]byte(tc.msg))
			if errors.Is(tc.wantErr, signer.ErrMalformedNote) {
				if !errors.Is(perr, signer.ErrMalformedNote) {
					t.Errorf("ParseNote(%q) error = %v, want ErrMalformedNote", tc.msg, perr)
				}
			} else {
				if perr != nil {
					t.Fatalf("ParseNote(%q): %v", tc.msg, perr)
				}
				if len(pn.Sigs) != 0 {
					t.Errorf("ParseNote returned verified signatures %+v", pn.Sigs)
				}
				// With no known keys, x/mod lists every distinct line as unverified.
				_, xerr := note.Open([]byte(tc.msg), nil)
				var ue *note.UnverifiedNoteError
				if !errors.As(xerr, &ue) {
					t.Fatalf("x/mod note.Open with no keys: %v", xerr)
				}
				if pn.Text != ue.Note.Text {
					t.Errorf("ParseNote text %q, x/mod %q", pn.Text, ue.Note.Text)
				}
				checkSigs(t, "parsed", pn.UnverifiedSigs, ue.Note.UnverifiedSigs)
			}
		})
	}
}

func TestOpenNoteUnknownAndDuplicates(t *testing.T) {
	log := newTestKey(t, "example.com/log", 1)
	wit := newTestKey(t, "witness.example/w1", 2)
	wit2 := newTestKey(t, "witness.example/w2", 4)
	text := "hello\n"
	msg, err := signer.SignNote(text, log.s, wit.s, wit2.s)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(msg[len(text)+1:]), "\n")[:3]
	// Repeat every line: identical lines are dropped.
	dup := text + "\n" + lines[0] + lines[1] + lines[1] + lines[0] + lines[2] + lines[1]
	n, err := signer.OpenNote([]byte(dup), log.v)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != log.s.Name() || n.Sigs[0].KeyHash != log.s.KeyHash() {
		t.Errorf("Sigs = %+v, want the log's signature once", n.Sigs)
	}
	if len(n.UnverifiedSigs) != 2 {
		t.Fatalf("UnverifiedSigs = %+v, want the two witness signatures once each", n.UnverifiedSigs)
	}
	for i, k := range []testKey{wit, wit2} {
		u := n.UnverifiedSigs[i]
		if u.Name != k.s.Name() || u.KeyHash != k.s.KeyHash() || !k.v.Verify([]byte(text), u.Sig) {
			t.Errorf("UnverifiedSigs[%d] = %s %08x %x, want a valid signature by %s", i, u.Name, u.KeyHash, u.Sig, k.vkey)
		}
	}
	xn, err := note.Open([]byte(dup), note.VerifierList(log.xv))
	if err != nil {
		t.Fatal(err)
	}
	checkSigs(t, "verified", n.Sigs, xn.Sigs)
	checkSigs(t, "unverified", n.UnverifiedSigs, xn.UnverifiedSigs)
}

// FuzzOpenNote checks that OpenNote and x/mod's note.Open agree on accept vs.
// reject and on what they return, for arbitrary bytes and a fixed key set.
func FuzzOpenNote(f *testing.F) {
	for _, tc := range noteCases(f) {
		f.Add([]byte(tc.msg))
	}
	log := newTestKey(f, "example.com/log", 1)
	wit := newTestKey(f, "witness.example/w1", 2)
	f.Fuzz(func(t *testing.T, msg []byte) {
		if nonCanonicalSig(msg) {
			// The one place we are stricter than x/mod: a signature whose
			// base64 sets unused bits of its last character.
			if _, err := signer.ParseNote(msg); err == nil {
				t.Fatalf("ParseNote accepted non-canonical base64 in %q", msg)
			}
			return
		}
		n, err := signer.OpenNote(msg, log.v, wit.v)
		xn, xerr := note.Open(msg, note.VerifierList(log.xv, wit.xv))
		if (err == nil) != (xerr == nil) {
			t.Fatalf("OpenNote(%q) error %v, x/mod %v", msg, err, xerr)
		}
		if err == nil {
			if n.Text != xn.Text {
				t.Errorf("text %q, x/mod %q", n.Text, xn.Text)
			}
			checkSigs(t, "verified", n.Sigs, xn.Sigs)
			checkSigs(t, "unverified", n.UnverifiedSigs, xn.UnverifiedSigs)
		}
		_, perr := signer.ParseNote(msg)
		_, xperr := note.Open(msg, nil)
		var ue *note.UnverifiedNoteError
		if (perr == nil) != errors.As(xperr, &ue) {
			t.Fatalf("ParseNote(%q) error %v, x/mod with no keys %v", msg, perr, xperr)
		}
	})
}

// nonCanonicalSig reports whether a signature line of msg has base64 that
// decodes (leniently, as x/mod does) but does not re-encode to itself.
func nonCanonicalSig(msg []byte) bool {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return false
	}
	for _, line := range strings.Split(string(msg[i+2:]), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			continue
		}
		_, b64, _ := strings.Cut(rest, " ")
		b, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && base64.StdEncoding.EncodeToString(b) != b64 {
			return true
		}
	}
	return false
}

// A signature line whose last base64 character differs only in unused bits
// decodes to the same bytes; x/mod accepts it, we reject it, so that no
// one-byte change of a signed note verifies.
func TestOpenNoteRejectsNonCanonicalSignature(t *testing.T) {
	k := newTestKey(t, "example.com/log", 1)
	msg, err := note.Sign(&note.Note{Text: "hello\n"}, k.xs)
	if err != nil {
		t.Fatal(err)
	}
	// 68 bytes of key ID and signature: the base64 ends in one data
	// character and "=", and the low 2 bits of that character are unused.
	i := bytes.LastIndex(msg, []byte("=\n"))
	if i < 1 {
		t.Fatalf("unexpected signature encoding in %q", msg)
	}
	alt := bytes.Clone(msg)
	c := strings.IndexByte(b64Alphabet, msg[i-1])
	alt[i-1] = b64Alphabet[c^1] // flip an unused bit
	if _, err := note.Open(alt, note.VerifierList(k.xv)); err != nil {
		t.Fatalf("x/mod rejects the variant, so it does not exercise the case: %v", err)
	}
	if _, err := signer.OpenNote(alt, k.v); !errors.Is(err, signer.ErrMalformedNote) {
		t.Fatalf("OpenNote accepted a non-canonical signature encoding: %v", err)
	}
	if _, err := signer.OpenNote(msg, k.v); err != nil {
		t.Fatalf("canonical note: %v", err)
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
