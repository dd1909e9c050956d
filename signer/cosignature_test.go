package signer_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/signer"
)

// The oracles in this file are c2sp.org/tlog-cosignature (SPECS.md §5),
// transcribed below as specWitnessKeys and specCosignedMessage, and
// filippo.io/torchwood, an independent implementation of the same
// cosignature type (0x04): its CosignatureSigner and CosignatureVerifier are
// x/mod note.Signer and note.Verifier values.

// specWitnessKeys builds the signer and verifier key strings of a witness
// cosignature key from the spec: the type byte is 0x04 and the key ID is
// SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4].
func specWitnessKeys(name string, seed []byte) (skey, vkey string) {
	priv := ed25519.NewKeyFromSeed(seed)
	typedPub := append([]byte{0x04}, priv.Public().(ed25519.PublicKey)...)
	typedSeed := append([]byte{0x04}, seed...)
	id := specKeyID(name, typedPub)
	vkey = fmt.Sprintf("%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(typedPub))
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(typedSeed))
	return skey, vkey
}

// specCosignedMessage is the Ed25519 signed message of the spec: the header
// line "cosignature/v1", the line "time <decimal timestamp>" and the whole
// checkpoint note text.
func specCosignedMessage(ts uint64, text string) []byte {
	return []byte("cosignature/v1\n" + "time " + strconv.FormatUint(ts, 10) + "\n" + text)
}

// fixedClock is a NewCosigner clock that always reads t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// witnessKey is one witness key as both implementations hold it.
type witnessKey struct {
	name       string
	priv       ed25519.PrivateKey
	pub        ed25519.PublicKey
	skey, vkey string                         // from the spec
	c          *signer.Cosigner               // ours, with the clock given
	v          *signer.CosignatureVerifier    // ours, parsed from vkey
	tw         *torchwood.CosignatureSigner   // torchwood's, clock time.Now
	twv        *torchwood.CosignatureVerifier // torchwood's verifier
}

// newWitnessKey makes a deterministic witness key for name from seed byte b.
func newWitnessKey(t testing.TB, name string, b byte, now func() time.Time) witnessKey {
	t.Helper()
	seed := bytes.Repeat([]byte{b}, ed25519.SeedSize)
	k := witnessKey{name: name, priv: ed25519.NewKeyFromSeed(seed)}
	k.pub = k.priv.Public().(ed25519.PublicKey)
	k.skey, k.vkey = specWitnessKeys(name, seed)
	var err error
	if k.c, err = signer.NewCosigner(k.skey, now); err != nil {
		t.Fatalf("NewCosigner(%q): %v", k.skey, err)
	}
	if k.v, err = signer.NewCosignatureVerifier(k.vkey); err != nil {
		t.Fatalf("NewCosignatureVerifier(%q): %v", k.vkey, err)
	}
	if k.tw, err = torchwood.NewCosignatureSigner(name, k.priv); err != nil {
		t.Fatalf("torchwood.NewCosignatureSigner(%q): %v", name, err)
	}
	k.twv = k.tw.Verifier()
	return k
}

// cosignCheckpoints are checkpoints for cross-implementation tests: the
// shared table, minus sizes above 2^63-1 (torchwood, like x/mod's tlog,
// holds tree sizes in an int64 and refuses larger ones).
func cosignCheckpoints(origin string) []signer.Checkpoint {
	var out []signer.Checkpoint
	for _, c := range checkpoints {
		if c.Size > math.MaxInt64 {
			continue
		}
		c.Origin = origin
		out = append(out, c)
	}
	return out
}

// sigBytes decodes the base64 of a signature line: key ID || signature.
func sigBytes(t testing.TB, line string) []byte {
	t.Helper()
	f := strings.Fields(strings.TrimSuffix(line, "\n"))
	b, err := base64.StdEncoding.DecodeString(f[len(f)-1])
	if err != nil {
		t.Fatalf("signature line %q: %v", line, err)
	}
	return b
}

// sigLines returns the signature lines of a note, each ending in "\n".
func sigLines(msg []byte) []string {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	lines := strings.SplitAfter(string(msg[i+2:]), "\n")
	return lines[:len(lines)-1] // the empty string after the last "\n"
}

func TestWitnessKeyStrings(t *testing.T) {
	for i, name := range keyNames {
		b := byte(0x40 + i)
		seed := bytes.Repeat([]byte{b}, ed25519.SeedSize)
		wantS, wantV := specWitnessKeys(name, seed)
		skey, vkey, err := signer.GenerateWitnessKey(seedReader(b), name)
		if err != nil {
			t.Fatalf("GenerateWitnessKey(%q): %v", name, err)
		}
		if skey != wantS || vkey != wantV {
			t.Errorf("GenerateWitnessKey(%q) =\n %q\n %q\nspec:\n %q\n %q", name, skey, vkey, wantS, wantV)
		}
		k := newWitnessKey(t, name, b, nil)
		typedPub := append([]byte{0x04}, k.pub...)
		wantID := specKeyID(name, typedPub)
		if k.c.KeyHash() != wantID || k.v.KeyHash() != wantID || k.c.Verifier().KeyHash() != wantID {
			t.Errorf("%q: key IDs %08x (cosigner) %08x (verifier) %08x (cosigner's verifier), spec %08x",
				name, k.c.KeyHash(), k.v.KeyHash(), k.c.Verifier().KeyHash(), wantID)
		}
		if k.tw.KeyHash() != wantID {
			t.Errorf("%q: torchwood key ID %08x, spec %08x", name, k.tw.KeyHash(), wantID)
		}
		if k.c.Name() != name || k.v.Name() != name || k.tw.Name() != name {
			t.Errorf("names %q %q %q, want %q", k.c.Name(), k.v.Name(), k.tw.Name(), name)
		}
		// The vkey strings: ours (parsed, and from the cosigner) and torchwood's.
		if got := k.v.String(); got != wantV {
			t.Errorf("CosignatureVerifier.String() = %q, spec %q", got, wantV)
		}
		if got := k.c.Verifier().String(); got != wantV {
			t.Errorf("Cosigner.Verifier().String() = %q, spec %q", got, wantV)
		}
		if got := k.twv.String(); got != k.v.String() {
			t.Errorf("torchwood vkey %q, ours %q", got, k.v.String())
		}
		// The type byte is part of the key ID: the same key as a plain
		// Ed25519 (0x01) note key has another ID.
		if plain := specKeyID(name, append([]byte{0x01}, k.pub...)); plain == wantID {
			t.Errorf("%q: 0x01 and 0x04 key IDs coincide (%08x); pick another seed", name, plain)
		}
	}
}

func TestGenerateWitnessKeyRejects(t *testing.T) {
	for _, name := range []string{"", "a+b", "a b", "a\tb", "a\nb"} {
		if s, v, err := signer.GenerateWitnessKey(rand.Reader, name); err == nil {
			t.Errorf("GenerateWitnessKey(%q) = %q, %q, want error", name, s, v)
		}
	}
	if _, _, err := signer.GenerateWitnessKey(bytes.NewReader([]byte{1, 2, 3}), "w.example"); err == nil {
		t.Error("GenerateWitnessKey with a short random source succeeded")
	}
	// A generated key works end to end.
	skey, vkey, err := signer.GenerateWitnessKey(rand.Reader, "w.example")
	if err != nil {
		t.Fatal(err)
	}
	c, err := signer.NewCosigner(skey, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := signer.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	text := specCheckpointText("example.com/log", 3, testRoot("g"))
	sig, err := c.Sign([]byte(text))
	if err != nil || !v.Verify([]byte(text), sig) {
		t.Errorf("generated key: Sign err %v, Verify %v", err, err == nil && v.Verify([]byte(text), sig))
	}
}

// Our cosignatures, made through SignNote, open with x/mod's note.Open and
// torchwood's verifier, and torchwood's verifier accepts them directly.
func TestCosignerVerifiesWithTorchwood(t *testing.T) {
	log := newTestKey(t, "example.com/log", 1)
	clock := time.Unix(1679315147, 0)
	w := newWitnessKey(t, "witness.example.com/w1", 2, fixedClock(clock))
	for _, c := range cosignCheckpoints(log.s.Name()) {
		text := c.Text()
		msg, err := signer.SignNote(text, log.s, w.c)
		if err != nil {
			t.Fatalf("SignNote(%q): %v", text, err)
		}
		n, err := note.Open(msg, note.VerifierList(w.twv))
		if err != nil {
			t.Fatalf("x/mod note.Open with torchwood's verifier: %v\n%s", err, msg)
		}
		if n.Text != text || len(n.Sigs) != 1 || n.Sigs[0].Name != w.name || n.Sigs[0].Hash != w.tw.KeyHash() {
			t.Errorf("note.Open: text %q sigs %+v", n.Text, n.Sigs)
		}
		if len(n.UnverifiedSigs) != 1 || n.UnverifiedSigs[0].Name != log.s.Name() {
			t.Errorf("note.Open: unverified %+v, want the log signature", n.UnverifiedSigs)
		}
		// Both keys at once.
		if _, err := note.Open(msg, note.VerifierList(log.xv, w.twv)); err != nil {
			t.Errorf("note.Open with the log and witness verifiers: %v", err)
		}
		ts, err := torchwood.CosignatureTimestamp(n.Sigs[0])
		if err != nil || ts != clock.Unix() {
			t.Errorf("torchwood.CosignatureTimestamp = %d, %v; the clock says %d", ts, err, clock.Unix())
		}

		// Directly, on the signature bytes.
		sig, err := w.c.Sign([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if !w.twv.Verify([]byte(text), sig) {
			t.Errorf("torchwood Verify rejects our cosignature of %q", text)
		}
		if !w.v.Verify([]byte(text), sig) {
			t.Errorf("our Verify rejects our cosignature of %q", text)
		}

		// Our parse of the same note agrees on the timestamp.
		on, err := signer.OpenNote(msg, w.v)
		if err != nil {
			t.Fatalf("OpenNote: %v", err)
		}
		got, err := signer.CosignatureTime(on.Sigs[0])
		if err != nil || !got.Equal(clock) {
			t.Errorf("CosignatureTime = %v, %v; want %v", got, err, clock)
		}
	}
}

// torchwood's cosignatures open with our OpenNote and verify with our
// CosignatureVerifier; our CosignatureTime reads torchwood's timestamps.
func TestTorchwoodCosignatureVerifiesWithOurs(t *testing.T) {
	log := newTestKey(t, "example.com/log", 1)
	w := newWitnessKey(t, "witness.example.com/w1", 2, nil)
	for _, c := range cosignCheckpoints(log.s.Name()) {
		text := c.Text()
		before := time.Now().Unix()
		msg, err := note.Sign(&note.Note{Text: text}, log.xs, w.tw)
		after := time.Now().Unix()
		if err != nil {
			t.Fatalf("note.Sign with torchwood: %v", err)
		}
		n, err := signer.OpenNote(msg, w.v)
		if err != nil {
			t.Fatalf("OpenNote(torchwood note): %v\n%s", err, msg)
		}
		if n.Text != text || len(n.Sigs) != 1 || n.Sigs[0].Name != w.name || n.Sigs[0].KeyHash != w.v.KeyHash() {
			t.Errorf("OpenNote: text %q sigs %+v", n.Text, n.Sigs)
		}
		if len(n.UnverifiedSigs) != 1 || n.UnverifiedSigs[0].Name != log.s.Name() {
			t.Errorf("OpenNote: unverified %+v, want the log signature", n.UnverifiedSigs)
		}
		if _, err := signer.OpenNote(msg, log.v, w.v); err != nil {
			t.Errorf("OpenNote with the log and witness verifiers: %v", err)
		}
		if !w.v.Verify([]byte(text), n.Sigs[0].Sig) {
			t.Errorf("Verify rejects torchwood's cosignature of %q", text)
		}

		xn, err := note.Open(msg, note.VerifierList(w.twv))
		if err != nil {
			t.Fatal(err)
		}
		tts, err := torchwood.CosignatureTimestamp(xn.Sigs[0])
		if err != nil {
			t.Fatal(err)
		}
		got, err := signer.CosignatureTime(n.Sigs[0])
		if err != nil || got.Unix() != tts {
			t.Errorf("CosignatureTime = %v, %v; torchwood says %d", got, err, tts)
		}
		if tts < before || tts > after {
			t.Errorf("torchwood timestamp %d outside [%d, %d]", tts, before, after)
		}
	}
}

// The signature is Ed25519 over the message the spec defines, with the
// clock's time, and the note line carries key ID || timestamp || signature.
func TestCosignatureSpecMessage(t *testing.T) {
	clocks := []time.Time{
		time.Unix(1679315147, 0),
		time.Unix(1679315147, 999999999), // whole seconds: 1679315147
		time.Unix(0, 0),
		time.Unix(1<<40+5, 0),
		time.Unix(9, 0), // a one-digit decimal
	}
	for _, clock := range clocks {
		w := newWitnessKey(t, "witness.example.com/w1", 7, fixedClock(clock))
		ts := uint64(clock.Unix())
		for _, c := range checkpoints {
			text := c.Text()
			sig, err := w.c.Sign([]byte(text))
			if err != nil {
				t.Fatalf("Sign(%q): %v", text, err)
			}
			if len(sig) != 8+64 {
				t.Fatalf("Sign returned %d bytes, want 8 + 64", len(sig))
			}
			if got := binary.BigEndian.Uint64(sig[:8]); got != ts {
				t.Errorf("signed timestamp %d, clock %d", got, ts)
			}
			m := specCosignedMessage(ts, text)
			if !ed25519.Verify(w.pub, m, sig[8:]) {
				t.Errorf("signature does not verify over the spec message %q", m)
			}
			// Ed25519 is deterministic: the signature is exactly the spec's.
			if want := ed25519.Sign(w.priv, m); !bytes.Equal(sig[8:], want) {
				t.Errorf("signature %x, Ed25519 over the spec message %x", sig[8:], want)
			}

			msg, err := signer.SignNote(text, w.c)
			if err != nil {
				t.Fatal(err)
			}
			want := text + "\n" + specSigLine(w.name, specKeyID(w.name, append([]byte{0x04}, w.pub...)),
				append(binary.BigEndian.AppendUint64(nil, ts), ed25519.Sign(w.priv, m)...))
			if string(msg) != want {
				t.Errorf("SignNote =\n%q\nspec:\n%q", msg, want)
			}
			lines := sigLines(msg)
			raw := sigBytes(t, lines[0])
			if len(raw) != 76 {
				t.Errorf("signature line holds %d bytes, want 4 + 8 + 64 = 76", len(raw))
			}
		}
	}
}

// The example note of c2sp.org/tlog-cosignature carries a cosignature at
// time 1679315147; both implementations read that timestamp.
func TestCosignatureTimeSpecExample(t *testing.T) {
	const example = "example.com/behind-the-sofa\n" +
		"20852163\n" +
		"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n" +
		"\n" +
		"\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n" +
		"\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
	n, err := signer.ParseNote([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.UnverifiedSigs) != 2 {
		t.Fatalf("ParseNote: %d signatures", len(n.UnverifiedSigs))
	}
	got, err := signer.CosignatureTime(n.UnverifiedSigs[1])
	if err != nil || got.Unix() != 1679315147 {
		t.Errorf("CosignatureTime(spec example) = %v, %v; want 1679315147", got, err)
	}
	tts, err := torchwood.CosignatureTimestamp(note.Signature{
		Name:   "witness.example.com/w1",
		Base64: "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==",
	})
	if err != nil || tts != 1679315147 {
		t.Errorf("torchwood.CosignatureTimestamp(spec example) = %d, %v", tts, err)
	}
	// The log's signature is 64 bytes, not a cosignature.
	if _, err := signer.CosignatureTime(n.UnverifiedSigs[0]); err == nil {
		t.Error("CosignatureTime of a 64-byte Ed25519 signature succeeded")
	}
}

// CosignatureTime agrees with torchwood.CosignatureTimestamp on the
// timestamp field, including where torchwood refuses it: the spec says the
// timestamp MUST NOT exceed 2^63-1.
func TestCosignatureTimeMatchesTorchwood(t *testing.T) {
	for _, ts := range []uint64{0, 1, 1679315147, math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64} {
		t.Run(strconv.FormatUint(ts, 10), func(t *testing.T) {
			sig := binary.BigEndian.AppendUint64(nil, ts)
			sig = append(sig, bytes.Repeat([]byte{0xaa}, 64)...)
			ours := signer.Signature{Name: "w.example", KeyHash: 0x01020304, Sig: sig}
			raw := append([]byte{1, 2, 3, 4}, sig...)
			tts, terr := torchwood.CosignatureTimestamp(note.Signature{
				Name: "w.example", Hash: 0x01020304, Base64: base64.StdEncoding.EncodeToString(raw),
			})
			got, err := signer.CosignatureTime(ours)
			switch {
			case terr != nil && err == nil:
				t.Errorf("CosignatureTime(timestamp %d) = %v (Unix %d), want an error as torchwood's (%v): the spec caps timestamps at 2^63-1",
					ts, got, got.Unix(), terr)
			case terr == nil && err != nil:
				t.Errorf("CosignatureTime(timestamp %d): %v; torchwood reads %d", ts, err, tts)
			case terr == nil && got.Unix() != tts:
				t.Errorf("CosignatureTime(timestamp %d) = %d, torchwood %d", ts, got.Unix(), tts)
			}
		})
	}
	for _, n := range []int{0, 8, 64, 71, 73, 100} {
		if got, err := signer.CosignatureTime(signer.Signature{Sig: make([]byte, n)}); err == nil {
			t.Errorf("CosignatureTime of a %d-byte signature = %v, want error", n, got)
		}
	}
}

// Cosigning anything but a checkpoint's note text fails, on both sides.
func TestCosignerSignRejectsNonCheckpoint(t *testing.T) {
	w := newWitnessKey(t, "witness.example.com/w1", 2, fixedClock(time.Unix(1700000000, 0)))
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	texts := []string{
		"",
		"hello\n",
		"example.com/log\n",
		"example.com/log\n5\n",
		"example.com/log\n5\n" + root,           // no final newline
		"example.com/log\n05\n" + root + "\n",   // leading zero
		"example.com/log\n-5\n" + root + "\n",   // sign
		"example.com/log\n+5\n" + root + "\n",   // sign
		"example.com/log\nfive\n" + root + "\n", // not decimal
		"example.com/log\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n",
		"example.com/log\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 33)) + "\n",
		"example.com/log\n5\n" + root + "\n\n",         // empty extension line
		"example.com/log\n5\n" + root + "\next\n\nx\n", // empty extension line
		"example.com/log\n5\nnot base64!\n",
	}
	for _, text := range texts {
		if sig, err := w.c.Sign([]byte(text)); err == nil {
			t.Errorf("Cosigner.Sign(%q) = %x, want error", text, sig)
		}
		// The independent implementation refuses these too.
		if sig, err := w.tw.Sign([]byte(text)); err == nil {
			t.Errorf("torchwood Sign(%q) = %x; the test case is not a non-checkpoint", text, sig)
		}
		if strings.HasSuffix(text, "\n") {
			if msg, err := signer.SignNote(text, w.c); err == nil {
				t.Errorf("SignNote(%q, cosigner) = %q, want error", text, msg)
			}
		}
	}
}

func TestCosignerClockBefore1970(t *testing.T) {
	w := newWitnessKey(t, "witness.example.com/w1", 2, fixedClock(time.Unix(-1, 0)))
	text := specCheckpointText("example.com/log", 1, testRoot("x"))
	if sig, err := w.c.Sign([]byte(text)); err == nil {
		t.Errorf("Sign with a clock before 1970 = %x, want error (the timestamp is unsigned)", sig)
	}
}

// Verify rejects everything but a cosignature of this text by this key;
// torchwood's verifier, given the same bytes, agrees.
func TestCosignatureVerifyRejects(t *testing.T) {
	clock := time.Unix(1679315147, 0)
	w := newWitnessKey(t, "witness.example.com/w1", 2, fixedClock(clock))
	other := newWitnessKey(t, "witness.example.com/w1", 3, fixedClock(clock))
	text := specCheckpointText("example.com/log", 20852163, testRoot("sofa"))
	sig, err := w.c.Sign([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if !w.v.Verify([]byte(text), sig) || !w.twv.Verify([]byte(text), sig) {
		t.Fatal("the unmodified cosignature does not verify")
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(sig)) }
	// A valid Ed25519 cosignature whose header time differs from the
	// signature's timestamp field.
	lying := binary.BigEndian.AppendUint64(nil, uint64(clock.Unix()))
	lying = append(lying, ed25519.Sign(w.priv, specCosignedMessage(uint64(clock.Unix())+1, text))...)
	// Plain Ed25519 over the text (a 0x01 note signature).
	plain := ed25519.Sign(w.priv, []byte(text))
	// Ed25519 over the spec message, without the timestamp field.
	bare := ed25519.Sign(w.priv, specCosignedMessage(uint64(clock.Unix()), text))

	type tc struct {
		name string
		text string
		sig  []byte
		v    *signer.CosignatureVerifier
		tv   *torchwood.CosignatureVerifier
	}
	cases := []tc{
		{"empty", text, nil, w.v, w.twv},
		{"truncated to 71", text, sig[:71], w.v, w.twv},
		{"timestamp only", text, sig[:8], w.v, w.twv},
		{"73 bytes", text, append(bytes.Clone(sig), 0), w.v, w.twv},
		{"key ID prefixed (76 bytes)", text, append(binary.BigEndian.AppendUint32(nil, w.v.KeyHash()), sig...), w.v, w.twv},
		{"plain Ed25519 over the text", text, plain, w.v, w.twv},
		{"Ed25519 over the spec message, no timestamp field", text, bare, w.v, w.twv},
		{"timestamp field differs from signed time", text, lying, w.v, w.twv},
		{"different checkpoint: size", specCheckpointText("example.com/log", 20852164, testRoot("sofa")), sig, w.v, w.twv},
		{"different checkpoint: root", specCheckpointText("example.com/log", 20852163, testRoot("sofa2")), sig, w.v, w.twv},
		{"different checkpoint: origin", specCheckpointText("example.com/other", 20852163, testRoot("sofa")), sig, w.v, w.twv},
		{"different checkpoint: extension", specCheckpointText("example.com/log", 20852163, testRoot("sofa"), "ext"), sig, w.v, w.twv},
		{"text is the signed message", string(specCosignedMessage(uint64(clock.Unix()), text)), sig, w.v, w.twv},
		{"another key, same name", text, sig, other.v, other.twv},
	}
	for i := 0; i < 8; i++ {
		cases = append(cases, tc{fmt.Sprintf("timestamp byte %d flipped", i), text,
			mod(func(b []byte) []byte { b[i] ^= 0x01; return b }), w.v, w.twv})
	}
	for _, i := range []int{8, 9, 20, 39, 40, 41, 60, 70, 71} {
		cases = append(cases, tc{fmt.Sprintf("signature byte %d flipped", i), text,
			mod(func(b []byte) []byte { b[i] ^= 0x80; return b }), w.v, w.twv})
	}
	for _, c := range cases {
		if c.tv.Verify([]byte(c.text), c.sig) {
			t.Errorf("%s: torchwood accepts it; the case is not a bad cosignature", c.name)
		}
		if c.v.Verify([]byte(c.text), c.sig) {
			t.Errorf("%s: Verify(%q, %x) = true, want false", c.name, c.text, c.sig)
		}
	}

	// In a note: a known witness's bad cosignature rejects it.
	msg, err := signer.SignNote(text, w.c)
	if err != nil {
		t.Fatal(err)
	}
	raw := sigBytes(t, sigLines(msg)[0])
	for _, i := range []int{4, 11, 12, 75} {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x04
		badMsg := text + "\n" + "\u2014 " + w.name + " " + base64.StdEncoding.EncodeToString(bad) + "\n"
		if _, err := note.Open([]byte(badMsg), note.VerifierList(w.twv)); err == nil {
			t.Errorf("byte %d: x/mod + torchwood accept the note", i)
		}
		if _, err := signer.OpenNote([]byte(badMsg), w.v); !errors.Is(err, signer.ErrInvalidSignature) {
			t.Errorf("byte %d flipped: OpenNote error %v, want ErrInvalidSignature", i, err)
		}
	}
}

func TestNewCosignatureKeysReject(t *testing.T) {
	name := "witness.example.com/w1"
	seed := bytes.Repeat([]byte{5}, 32)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	good := keyVariant{name: name, typ: 0x04, key: pub}
	goodS := keyVariant{prefix: "PRIVATE+KEY+", name: name, typ: 0x04, key: seed}
	wantS, wantV := specWitnessKeys(name, seed)
	if good.String() != wantV || goodS.String() != wantS {
		t.Fatalf("keyVariant does not build the spec keys: %q %q", good.String(), goodS.String())
	}
	if _, err := signer.NewCosignatureVerifier(good.String()); err != nil {
		t.Fatalf("NewCosignatureVerifier(%q): %v", good, err)
	}
	if _, err := signer.NewCosigner(goodS.String(), nil); err != nil {
		t.Fatalf("NewCosigner(%q): %v", goodS, err)
	}
	// The key ID of the same key under type 0x01.
	id01 := specKeyID(name, append([]byte{0x01}, pub...))
	id01s := id01
	logS, logV := specKeys(name, seed)

	vkeys := map[string]string{
		"type 0x01 key":                   logV,
		"type 0x01 byte, 0x04 key ID":     keyVariant{name: name, typ: 0x01, key: pub, id: ptr(specKeyID(name, append([]byte{0x04}, pub...)))}.String(),
		"type 0x04 byte, 0x01 key ID":     keyVariant{name: name, typ: 0x04, key: pub, id: &id01}.String(),
		"type 0x02":                       keyVariant{name: name, typ: 0x02, key: pub}.String(),
		"type 0x05":                       keyVariant{name: name, typ: 0x05, key: pub}.String(),
		"wrong key ID":                    keyVariant{name: name, typ: 0x04, key: pub, id: ptr(specKeyID(name, append([]byte{0x04}, pub...)) ^ 1)}.String(),
		"key ID of another name":          keyVariant{name: name, typ: 0x04, key: pub, id: ptr(specKeyID("other", append([]byte{0x04}, pub...)))}.String(),
		"7-digit key ID":                  keyVariant{name: name, typ: 0x04, key: pub, hexID: ptr("1234567")}.String(),
		"9-digit key ID":                  keyVariant{name: name, typ: 0x04, key: pub, hexID: ptr("123456789")}.String(),
		"non-hex key ID":                  keyVariant{name: name, typ: 0x04, key: pub, hexID: ptr("1234567g")}.String(),
		"bad base64":                      keyVariant{name: name, typ: 0x04, key: pub, b64: ptr("not*base64")}.String(),
		"truncated base64":                keyVariant{name: name, typ: 0x04, key: pub, b64: ptr(base64.StdEncoding.EncodeToString(append([]byte{4}, pub...))[:40])}.String(),
		"31-byte key":                     keyVariant{name: name, typ: 0x04, key: pub[:31]}.String(),
		"33-byte key":                     keyVariant{name: name, typ: 0x04, key: append(bytes.Clone(pub), 0)}.String(),
		"64-byte key":                     keyVariant{name: name, typ: 0x04, key: ed25519.NewKeyFromSeed(seed)}.String(),
		"type byte only":                  keyVariant{name: name, typ: 0x04}.String(),
		"empty key":                       name + "+00000000+",
		"empty name":                      keyVariant{name: "", typ: 0x04, key: pub}.String(),
		"no key ID":                       name + "+" + base64.StdEncoding.EncodeToString(append([]byte{4}, pub...)),
		"only a name":                     name,
		"empty":                           "",
		"signer key":                      wantS,
		"name with a space":               keyVariant{name: "a b", typ: 0x04, key: pub}.String(),
		"seed in place of the public key": strings.TrimPrefix(wantS, "PRIVATE+KEY+"),
	}
	for what, vkey := range vkeys {
		if v, err := signer.NewCosignatureVerifier(vkey); err == nil {
			t.Errorf("%s: NewCosignatureVerifier(%q) = %v, want error", what, vkey, v)
		} else if !errors.Is(err, signer.ErrMalformedKey) {
			t.Errorf("%s: NewCosignatureVerifier error %v, want ErrMalformedKey", what, err)
		}
	}

	seedVariant := func(k keyVariant) string { k.prefix = "PRIVATE+KEY+"; return k.String() }
	skeys := map[string]string{
		"type 0x01 key":               logS,
		"type 0x04 byte, 0x01 key ID": seedVariant(keyVariant{name: name, typ: 0x04, key: seed, id: &id01s}),
		"type 0x02":                   seedVariant(keyVariant{name: name, typ: 0x02, key: seed}),
		"wrong key ID":                seedVariant(keyVariant{name: name, typ: 0x04, key: seed, id: ptr(specKeyID(name, append([]byte{0x04}, pub...)) ^ 0x80000000)}),
		"key ID of the seed":          seedVariant(keyVariant{name: name, typ: 0x04, key: seed, id: ptr(specKeyID(name, append([]byte{0x04}, seed...)))}),
		"bad base64":                  seedVariant(keyVariant{name: name, typ: 0x04, key: seed, b64: ptr("!!!!")}),
		"31-byte seed":                seedVariant(keyVariant{name: name, typ: 0x04, key: seed[:31], id: ptr(uint32(0))}),
		"33-byte seed":                seedVariant(keyVariant{name: name, typ: 0x04, key: append(bytes.Clone(seed), 1), id: ptr(uint32(0))}),
		"64-byte private key":         seedVariant(keyVariant{name: name, typ: 0x04, key: ed25519.NewKeyFromSeed(seed), id: ptr(specKeyID(name, append([]byte{0x04}, pub...)))}),
		"no PRIVATE+KEY+ prefix":      strings.TrimPrefix(wantS, "PRIVATE+KEY+"),
		"verifier key":                wantV,
		"lowercase prefix":            "private+key+" + strings.TrimPrefix(wantS, "PRIVATE+KEY+"),
		"empty name":                  seedVariant(keyVariant{name: "", typ: 0x04, key: seed}),
		"empty":                       "",
	}
	for what, skey := range skeys {
		if c, err := signer.NewCosigner(skey, nil); err == nil {
			t.Errorf("%s: NewCosigner(%q) = %v, want error", what, skey, c)
		} else if !errors.Is(err, signer.ErrMalformedKey) {
			t.Errorf("%s: NewCosigner error %v, want ErrMalformedKey", what, err)
		}
	}

	// The two key types do not mix: log-key parsers refuse witness keys
	// (as x/mod's do) and witness-key parsers refuse log keys.
	if v, err := signer.NewVerifier(wantV); err == nil {
		t.Errorf("NewVerifier(witness vkey %q) = %v, want error", wantV, v)
	}
	if _, err := note.NewVerifier(wantV); err == nil {
		t.Errorf("x/mod note.NewVerifier accepts the witness vkey; the case is wrong")
	}
	if s, err := signer.NewSigner(wantS); err == nil {
		t.Errorf("NewSigner(witness skey %q) = %v, want error", wantS, s)
	}
	if v, err := signer.NewCosignatureVerifier(logV); err == nil {
		t.Errorf("NewCosignatureVerifier(log vkey %q) = %v, want error", logV, v)
	}
	if c, err := signer.NewCosigner(logS, nil); err == nil {
		t.Errorf("NewCosigner(log skey %q) = %v, want error", logS, c)
	}
}

// A sigstore Ed25519 signer makes the same cosigner as the key string; other
// key types are refused.
func TestCosignerFromSigstore(t *testing.T) {
	name := "witness.example.com/w1"
	clock := time.Unix(1700000000, 0)
	w := newWitnessKey(t, name, 9, fixedClock(clock))
	sv, err := signature.LoadED25519SignerVerifier(w.priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := signer.CosignerFromSigstore(name, sv, fixedClock(clock))
	if err != nil {
		t.Fatalf("CosignerFromSigstore: %v", err)
	}
	if c.KeyHash() != w.tw.KeyHash() || c.Name() != name || c.Verifier().String() != w.twv.String() {
		t.Errorf("CosignerFromSigstore: %s %08x %s; torchwood %s %08x %s",
			c.Name(), c.KeyHash(), c.Verifier(), w.tw.Name(), w.tw.KeyHash(), w.twv)
	}
	text := specCheckpointText("example.com/log", 42, testRoot("sigstore"))
	sig, err := c.Sign([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if !w.twv.Verify([]byte(text), sig) {
		t.Error("torchwood rejects the sigstore-backed cosignature")
	}
	if want := append(binary.BigEndian.AppendUint64(nil, uint64(clock.Unix())),
		ed25519.Sign(w.priv, specCosignedMessage(uint64(clock.Unix()), text))...); !bytes.Equal(sig, want) {
		t.Errorf("sigstore-backed cosignature %x, spec %x", sig, want)
	}

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	esv, err := signature.LoadECDSASignerVerifier(ec, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := signer.CosignerFromSigstore(name, esv, nil); err == nil {
		t.Errorf("CosignerFromSigstore(ECDSA) = %v, want error", c)
	}
	for _, bad := range []string{"", "a+b", "a b"} {
		if c, err := signer.CosignerFromSigstore(bad, sv, nil); err == nil {
			t.Errorf("CosignerFromSigstore(%q) = %v, want error", bad, c)
		}
	}
}
