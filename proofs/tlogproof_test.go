package proofs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// The oracles here are the c2sp.org/tlog-proof@v1 text (specTlogProof
// writes a file line by line as the spec lays it out), x/mod's note.Open
// and tlog.CheckRecord (xmodVerify), and the trees of prove_test.go.

// The test log's key is generated deterministically, so that the fuzz
// corpus in testdata/fuzz/FuzzParseTlogProof (made by a generator that is not
// committed, with the same name, seed and entries) holds proofs that verify.
const (
	proofLogName  = "example.com/tlog-proof-test"
	proofKeyLabel = "tlogai/tlog proofs test key 1"
)

// mustKey returns the signer and verifier key string generated for name from
// the seed SHA-256(label).
func mustKey(tb testing.TB, name, label string) (*signer.Signer, string) {
	tb.Helper()
	seed := sha256.Sum256([]byte(label))
	skey, vkey, err := signer.GenerateKey(bytes.NewReader(seed[:]), name)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := signer.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return s, vkey
}

// releaseEntry is the entry at index i of the test logs.
func releaseEntry(i uint64) []byte { return fmt.Appendf(nil, "model release %d\n", i) }

// signedLog is a log of releaseEntry(0…n-1) whose checkpoints s signs.
type signedLog struct {
	store *levelStore
	s     *signer.Signer
}

func newSignedLog(n int, s *signer.Signer) *signedLog {
	leaves := make([][32]byte, n)
	for i := range leaves {
		leaves[i] = rfcLeaf(releaseEntry(uint64(i)))
	}
	return &signedLog{store: newLevelStore(leaves), s: s}
}

// root is x/mod's TreeHash of the tree of the given size.
func (l *signedLog) root(tb testing.TB, size uint64) [32]byte {
	tb.Helper()
	r, err := tlog.TreeHash(int64(size), l.store.xmod(size))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func (l *signedLog) checkpoint(tb testing.TB, size uint64) []byte {
	tb.Helper()
	cp, err := signer.SignCheckpoint(signer.Checkpoint{Origin: l.s.Name(), Size: size, Hash: l.root(tb, size)}, l.s)
	if err != nil {
		tb.Fatal(err)
	}
	return cp
}

func (l *signedLog) proof(tb testing.TB, index, size uint64) proofs.TlogProof {
	tb.Helper()
	hashes, err := proofs.ProveInclusion(index, size, sizedReader{l.store, size})
	if err != nil {
		tb.Fatal(err)
	}
	return proofs.TlogProof{Index: index, Hashes: hashes, Checkpoint: l.checkpoint(tb, size)}
}

// specTlogProof writes a c2sp.org/tlog-proof@v1 file as the spec lays it
// out: the header, an optional "extra <base64>" line, "index <decimal>",
// one base64 hash per line, an empty line, the checkpoint verbatim.
func specTlogProof(extra *[]byte, index uint64, hashes [][]byte, checkpoint []byte) []byte {
	lines := []string{"c2sp.org/tlog-proof@v1"}
	if extra != nil {
		lines = append(lines, "extra "+base64.StdEncoding.EncodeToString(*extra))
	}
	lines = append(lines, "index "+strconv.FormatUint(index, 10))
	for _, h := range hashes {
		lines = append(lines, base64.StdEncoding.EncodeToString(h))
	}
	lines = append(lines, "", "")
	return append([]byte(strings.Join(lines, "\n")), checkpoint...)
}

// xmodVerify verifies a parsed proof with x/mod only: note.Open for the
// checkpoint, a transcription of the checkpoint body, tlog.CheckRecord.
func xmodVerify(p proofs.TlogProof, e []byte, v note.Verifier) error {
	n, err := note.Open(p.Checkpoint, note.VerifierList(v))
	if err != nil {
		return err
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != v.Name() {
		return fmt.Errorf("checkpoint body %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || strconv.FormatInt(size, 10) != lines[1] {
		return fmt.Errorf("checkpoint size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return err
	}
	if p.Index > math.MaxInt64 || int64(p.Index) >= size {
		return fmt.Errorf("index %d, size %d", p.Index, size)
	}
	return tlog.CheckRecord(toXMod(p.Hashes), size, root, int64(p.Index), tlog.RecordHash(e))
}

func xmodVerifier(tb testing.TB, vkey string) note.Verifier {
	tb.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// cosignLine is a c2sp.org/tlog-cosignature line by an unknown witness:
// key ID, 8-byte timestamp and 64-byte signature, made up from seed.
func cosignLine(name string, seed byte) string {
	sig := make([]byte, 4+8+64)
	for i := range sig {
		sig[i] = seed + byte(i)*7
	}
	return "— " + name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

// TestTlogProofFormatRoundTrip: Format writes the spec's layout byte for
// byte, with and without extra, with 0…64 hashes, and ParseTlogProof gives
// back the same proof, which formats to the same bytes.
func TestTlogProofFormatRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := mustKey(t, proofLogName, proofKeyLabel)
	l := newSignedLog(40, s)
	cps := [][]byte{
		l.checkpoint(t, 1),
		l.checkpoint(t, 40),
		append(l.checkpoint(t, 17), cosignLine("witness.example/w1", 1)+cosignLine("witness.example/w2", 2)...),
	}
	extras := []*[]byte{nil, {}, {0}, {0xff, 0xfe}, {'a', 'b', 'c'}, func() *[]byte { b := bytes.Repeat([]byte{0xa5, 0x5a, 0x00}, 100); return &b }()}
	indexes := []uint64{0, 1, 9, 10, 73894, 1 << 63, math.MaxUint64}
	for nh := 0; nh <= proofs.MaxProofHashes; nh++ {
		hashes := make([][]byte, nh)
		for i := range hashes {
			h := sha256.Sum256(fmt.Appendf(nil, "hash %d of %d", i, nh))
			hashes[i] = h[:]
		}
		for k, extra := range extras {
			p := proofs.TlogProof{
				Index:      indexes[(nh+k)%len(indexes)],
				Hashes:     hashes,
				Checkpoint: cps[(nh+k)%len(cps)],
			}
			if extra != nil {
				p.Extra = *extra
			}
			got := p.Format()
			want := specTlogProof(extra, p.Index, p.Hashes, p.Checkpoint)
			if !bytes.Equal(got, want) {
				t.Fatalf("Format(%d hashes, extra %v) =\n%s\nwant\n%s", nh, extra != nil, got, want)
			}
			back, err := proofs.ParseTlogProof(got)
			if err != nil {
				t.Fatalf("ParseTlogProof(Format(%d hashes, extra %v)): %v\n%s", nh, extra != nil, err, got)
			}
			if (back.Extra == nil) != (extra == nil) || !bytes.Equal(back.Extra, p.Extra) ||
				back.Index != p.Index || !sameProof(back.Hashes, p.Hashes) || !bytes.Equal(back.Checkpoint, p.Checkpoint) {
				t.Fatalf("round trip of %+v gave %+v", p, back)
			}
			if again := back.Format(); !bytes.Equal(again, got) {
				t.Fatalf("Format(Parse(b)) != b:\n%s\n%s", again, got)
			}
		}
	}
}

// TestParseTlogProofAccepts: spec-conforming files at the edges parse.
func TestParseTlogProofAccepts(t *testing.T) {
	t.Parallel()
	s, _ := mustKey(t, proofLogName, proofKeyLabel)
	cp := newSignedLog(3, s).checkpoint(t, 3)
	h := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)) // has '/'
	for _, c := range []struct {
		name  string
		file  string
		index uint64
		nh    int
	}{
		{"no proof lines", "c2sp.org/tlog-proof@v1\nindex 0\n\n" + string(cp), 0, 0},
		{"largest index", "c2sp.org/tlog-proof@v1\nindex 18446744073709551615\n" + h + "\n\n" + string(cp), math.MaxUint64, 1},
		{"64 hashes", "c2sp.org/tlog-proof@v1\nindex 7\n" + strings.Repeat(h+"\n", 64) + "\n" + string(cp), 7, 64},
		{"extra", "c2sp.org/tlog-proof@v1\nextra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6\nindex 73894\n" + h + "\n\n" + string(cp), 73894, 1},
		{"cosigned checkpoint", "c2sp.org/tlog-proof@v1\nindex 2\n" + h + "\n\n" + string(cp) + cosignLine("witness.example/w", 9), 2, 1},
	} {
		p, err := proofs.ParseTlogProof([]byte(c.file))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Index != c.index || len(p.Hashes) != c.nh {
			t.Errorf("%s: parsed index %d, %d hashes; want %d, %d", c.name, p.Index, len(p.Hashes), c.index, c.nh)
		}
		if got := p.Format(); string(got) != c.file {
			t.Errorf("%s: Format(Parse(b)) =\n%s\nwant\n%s", c.name, got, c.file)
		}
	}
}

// TestParseTlogProofRejects: bytes that are not a tlog-proof@v1 file are
// rejected with ErrMalformedProof.
func TestParseTlogProofRejects(t *testing.T) {
	t.Parallel()
	s, _ := mustKey(t, proofLogName, proofKeyLabel)
	l := newSignedLog(40, s)
	p := l.proof(t, 5, 40)
	cp := string(p.Checkpoint)
	const hdr = "c2sp.org/tlog-proof@v1\n"
	const idx = "index 5\n"
	var hs string
	for _, h := range p.Hashes {
		hs += base64.StdEncoding.EncodeToString(h) + "\n"
	}
	if good := hdr + idx + hs + "\n" + cp; string(p.Format()) != good {
		t.Fatalf("the base file does not match the spec:\n%s", p.Format())
	}
	if _, err := proofs.ParseTlogProof([]byte(hdr + idx + hs + "\n" + cp)); err != nil {
		t.Fatalf("the base file does not parse: %v", err)
	}
	b64 := base64.StdEncoding.EncodeToString
	h31, h33 := b64(bytes.Repeat([]byte{7}, 31)), b64(bytes.Repeat([]byte{7}, 33))
	ff := b64(bytes.Repeat([]byte{0xff}, 32)) // "//////…/8=", canonical
	// A hash whose last digit carries non-zero pad bits: "…/8=" → "…/9=".
	nonCanonical := ff[:len(ff)-2] + "9="
	cpText := cp[:strings.Index(cp, "\n\n")+1]
	cpSigs := cp[strings.Index(cp, "\n\n")+2:]

	for _, c := range []struct{ name, file string }{
		{"empty", ""},
		{"only a newline", "\n"},
		{"header without newline", "c2sp.org/tlog-proof@v1"},
		{"header only", hdr},
		{"missing header", idx + hs + "\n" + cp},
		{"wrong header version", "c2sp.org/tlog-proof@v2\n" + idx + hs + "\n" + cp},
		{"header with https scheme", "https://c2sp.org/tlog-proof@v1\n" + idx + hs + "\n" + cp},
		{"header upper case", "C2SP.ORG/TLOG-PROOF@V1\n" + idx + hs + "\n" + cp},
		{"header with trailing space", "c2sp.org/tlog-proof@v1 \n" + idx + hs + "\n" + cp},
		{"header with BOM", "\ufeff" + hdr + idx + hs + "\n" + cp},
		{"header with CR", "c2sp.org/tlog-proof@v1\r\n" + idx + hs + "\n" + cp},
		{"blank line before header", "\n" + hdr + idx + hs + "\n" + cp},
		{"CRLF line endings", strings.ReplaceAll(hdr+idx+hs+"\n"+cp, "\n", "\r\n")},
		{"CRLF line endings before the checkpoint", strings.ReplaceAll(hdr+idx+hs+"\n", "\n", "\r\n") + cp},
		{"CRLF line endings in the checkpoint", hdr + idx + hs + "\n" + strings.ReplaceAll(cp, "\n", "\r\n")},
		{"no index line", hdr + hs + "\n" + cp},
		{"no index line, nothing else", hdr + "\n" + cp},
		{"index leading zero", hdr + "index 05\n" + hs + "\n" + cp},
		{"index 00", hdr + "index 00\n" + hs + "\n" + cp},
		{"index plus sign", hdr + "index +5\n" + hs + "\n" + cp},
		{"index minus sign", hdr + "index -5\n" + hs + "\n" + cp},
		{"index 2^64", hdr + "index 18446744073709551616\n" + hs + "\n" + cp},
		{"index 10^20", hdr + "index 100000000000000000000\n" + hs + "\n" + cp},
		{"index 21 digits", hdr + "index 999999999999999999999\n" + hs + "\n" + cp},
		{"index hex", hdr + "index 0x5\n" + hs + "\n" + cp},
		{"index exponent", hdr + "index 5e0\n" + hs + "\n" + cp},
		{"index decimal point", hdr + "index 5.0\n" + hs + "\n" + cp},
		{"index underscore", hdr + "index 1_0\n" + hs + "\n" + cp},
		{"index non-ASCII digit", hdr + "index ٥\n" + hs + "\n" + cp},
		{"index empty", hdr + "index \n" + hs + "\n" + cp},
		{"index without value", hdr + "index\n" + hs + "\n" + cp},
		{"index two spaces", hdr + "index  5\n" + hs + "\n" + cp},
		{"index tab", hdr + "index\t5\n" + hs + "\n" + cp},
		{"index trailing space", hdr + "index 5 \n" + hs + "\n" + cp},
		{"index with CR", hdr + "index 5\r\n" + hs + "\n" + cp},
		{"index upper case", hdr + "Index 5\n" + hs + "\n" + cp},
		{"index twice", hdr + idx + idx + hs + "\n" + cp},
		{"extra bad base64", hdr + "extra !!!!\n" + idx + hs + "\n" + cp},
		{"extra unpadded", hdr + "extra QQ\n" + idx + hs + "\n" + cp},
		{"extra non-canonical pad bits", hdr + "extra QR==\n" + idx + hs + "\n" + cp},
		{"extra with CR", hdr + "extra QQ==\r\n" + idx + hs + "\n" + cp},
		{"extra with inner CR", hdr + "extra QU\rFB\n" + idx + hs + "\n" + cp},
		{"extra with space", hdr + "extra QU FB\n" + idx + hs + "\n" + cp},
		{"extra URL-safe alphabet", hdr + "extra " + strings.ReplaceAll(ff, "/", "_") + "\n" + idx + hs + "\n" + cp},
		{"extra without space", hdr + "extraQUFB\n" + idx + hs + "\n" + cp},
		{"extra without value or space", hdr + "extra\n" + idx + hs + "\n" + cp},
		{"extra twice", hdr + "extra QUFB\nextra QUFB\n" + idx + hs + "\n" + cp},
		{"extra after index", hdr + idx + "extra QUFB\n" + hs + "\n" + cp},
		{"extra but no index", hdr + "extra QUFB\n"},
		{"31-byte hash", hdr + idx + h31 + "\n" + hs + "\n" + cp},
		{"33-byte hash", hdr + idx + hs + h33 + "\n\n" + cp},
		{"non-canonical hash", hdr + idx + nonCanonical + "\n" + hs + "\n" + cp},
		{"hash with CR", hdr + idx + ff + "\r\n" + hs + "\n" + cp},
		{"hash with inner CR", hdr + idx + ff[:20] + "\r" + ff[20:] + "\n" + hs + "\n" + cp},
		{"hash unpadded", hdr + idx + strings.TrimSuffix(ff, "=") + "\n" + hs + "\n" + cp},
		{"hash URL-safe alphabet", hdr + idx + strings.ReplaceAll(ff, "/", "_") + "\n" + hs + "\n" + cp},
		{"hash with leading space", hdr + idx + " " + ff + "\n" + hs + "\n" + cp},
		{"hash with trailing space", hdr + idx + ff + " \n" + hs + "\n" + cp},
		{"hash in hex", hdr + idx + strings.Repeat("ff", 32) + "\n" + hs + "\n" + cp},
		{"two hashes on a line", hdr + idx + ff + " " + ff + "\n\n" + cp},
		{"65 hashes", hdr + idx + strings.Repeat(ff+"\n", 65) + "\n" + cp},
		{"missing blank line", hdr + idx + hs + cp},
		{"missing blank line, no checkpoint", hdr + idx + hs},
		{"no checkpoint", hdr + idx + hs + "\n"},
		{"checkpoint text only", hdr + idx + hs + "\n" + cpText},
		{"checkpoint with no signatures", hdr + idx + hs + "\n" + cpText + "\n"},
		{"checkpoint without blank line", hdr + idx + hs + "\n" + cpText + cpSigs},
		{"checkpoint without final newline", hdr + idx + hs + "\n" + strings.TrimSuffix(cp, "\n")},
		{"checkpoint with trailing blank line", hdr + idx + hs + "\n" + cp + "\n"},
		{"checkpoint with trailing garbage", hdr + idx + hs + "\n" + cp + "garbage"},
		{"signature with hyphen", hdr + idx + hs + "\n" + cpText + "\n" + strings.Replace(cpSigs, "—", "-", 1)},
		{"signature not base64", hdr + idx + hs + "\n" + cpText + "\n— " + proofLogName + " !!!!\n"},
		{"signature too short", hdr + idx + hs + "\n" + cpText + "\n— " + proofLogName + " AAAA\n"},
		{"signature without key name", hdr + idx + hs + "\n" + cpText + "\n— " + b64(make([]byte, 68)) + "\n"},
		{"NUL in checkpoint", hdr + idx + hs + "\n" + strings.Replace(cp, "\n", "\x00\n", 1)},
		{"invalid UTF-8 in checkpoint", hdr + idx + hs + "\n" + "\xff" + cp},
	} {
		got, err := proofs.ParseTlogProof([]byte(c.file))
		if !errors.Is(err, proofs.ErrMalformedProof) {
			t.Errorf("%s: ParseTlogProof = %+v, %v; want ErrMalformedProof", c.name, got, err)
		}
	}
}

// flipRegion names the part of a tlog-proof file that byte i is in.
func flipRegion(file []byte, i int) string {
	cpStart := bytes.Index(file, []byte("\n\n")) + 2
	sigStart := bytes.LastIndex(file, []byte("\n\n")) + 2
	switch {
	case i < len(proofs.TlogProofHeader)+1:
		return "header"
	case i < cpStart:
		return "proof lines"
	case i < sigStart:
		return "checkpoint text"
	default:
		return "signature"
	}
}

// TestVerifyTlogProof: real proofs, built from a tree in memory with a
// checkpoint signed by signer.SignCheckpoint, verify with our verifier and
// with x/mod's, and agree with x/mod's note.Open and tlog.CheckRecord.
func TestVerifyTlogProof(t *testing.T) {
	t.Parallel()
	s, vkey := mustKey(t, proofLogName, proofKeyLabel)
	xv := xmodVerifier(t, vkey)
	l := newSignedLog(300, s)
	for _, size := range []uint64{1, 2, 3, 7, 8, 64, 65, 300} {
		for index := range size {
			if size > 70 && index%7 != 0 && index != size-1 {
				continue
			}
			p := l.proof(t, index, size)
			file := p.Format()
			for _, v := range []signer.NoteVerifier{s.Verifier(), xv} {
				vp, err := proofs.VerifyTlogProof(file, releaseEntry(index), v)
				if err != nil {
					t.Fatalf("VerifyTlogProof(index %d, size %d): %v\n%s", index, size, err, file)
				}
				if vp.Index != index || vp.Checkpoint.Size != size || vp.Checkpoint.Origin != proofLogName ||
					vp.Checkpoint.Hash != l.root(t, size) || len(vp.Note.Sigs) != 1 || vp.Note.Sigs[0].Name != proofLogName {
					t.Errorf("VerifyTlogProof(index %d, size %d) = %+v", index, size, vp)
				}
			}
			if err := xmodVerify(p, releaseEntry(index), xv); err != nil {
				t.Errorf("x/mod rejects the proof of index %d in size %d: %v", index, size, err)
			}
		}
	}
}

// TestVerifyTlogProofByteFlips: no single-byte change (XOR 0x01 at each
// position) of a proof file verifies, wherever it falls: header, index,
// proof lines, checkpoint text or signature line. One of the checkpoints is
// chosen so that its signature ends in a base64 digit (0, 4 or 8) whose low
// bit a lenient decoder drops.
func TestVerifyTlogProofByteFlips(t *testing.T) {
	t.Parallel()
	s, vkey := mustKey(t, proofLogName, proofKeyLabel)
	xv := xmodVerifier(t, vkey)
	l := newSignedLog(300, s)
	type tc struct {
		name        string
		index, size uint64
	}
	cases := []tc{{"size 1 (no proof lines)", 0, 1}, {"size 300, index 123", 123, 300}, {"size 300, last index", 299, 300}}
	for size := uint64(2); size <= 300; size++ {
		sig := strings.TrimSuffix(strings.TrimRight(string(l.checkpoint(t, size)), "\n"), "=")
		if c := sig[len(sig)-1]; c == '0' || c == '4' || c == '8' {
			cases = append(cases, tc{fmt.Sprintf("size %d, signature ends in %q", size, c), size / 2, size})
			break
		}
		if size == 300 {
			t.Fatal("no checkpoint signature ends in 0, 4 or 8")
		}
	}
	for _, c := range cases {
		file := l.proof(t, c.index, c.size).Format()
		e := releaseEntry(c.index)
		if _, err := proofs.VerifyTlogProof(file, e, s.Verifier()); err != nil {
			t.Fatalf("%s: the unaltered proof does not verify: %v", c.name, err)
		}
		var verified []string
		for i := range file {
			flipped := bytes.Clone(file)
			flipped[i] ^= 0x01
			for _, v := range []signer.NoteVerifier{s.Verifier(), xv} {
				if _, err := proofs.VerifyTlogProof(flipped, e, v); err == nil {
					verified = append(verified, fmt.Sprintf("byte %d in the %s (%q → %q) with %T", i, flipRegion(file, i), file[i], flipped[i], v))
				}
			}
		}
		if len(verified) > 0 {
			t.Errorf("%s: altered files still verify:\n\t%s\nfile:\n%s", c.name, strings.Join(verified, "\n\t"), file)
		}
	}
}

// TestVerifyTlogProofExtraByteFlips: "extra" is not authenticated (spec), so
// a change inside its base64 may verify, but then only the extra data may
// differ; a change anywhere else never verifies.
func TestVerifyTlogProofExtraByteFlips(t *testing.T) {
	t.Parallel()
	s, _ := mustKey(t, proofLogName, proofKeyLabel)
	l := newSignedLog(50, s)
	p := l.proof(t, 17, 50)
	p.Extra = []byte("age-v1.2.1-darwin-arm64.tar.gz")
	file := p.Format()
	payloadStart := len(proofs.TlogProofHeader) + 1 + len("extra ")
	payloadEnd := bytes.Index(file, []byte("\nindex "))
	for i := range file {
		flipped := bytes.Clone(file)
		flipped[i] ^= 0x01
		_, err := proofs.VerifyTlogProof(flipped, releaseEntry(17), s.Verifier())
		if err != nil {
			continue
		}
		if i < payloadStart || i >= payloadEnd {
			t.Errorf("byte %d (%q → %q, in the %s) changed and the proof still verifies", i, file[i], flipped[i], flipRegion(file, i))
			continue
		}
		q, err := proofs.ParseTlogProof(flipped)
		if err != nil || bytes.Equal(q.Extra, p.Extra) || q.Index != p.Index || !sameProof(q.Hashes, p.Hashes) || !bytes.Equal(q.Checkpoint, p.Checkpoint) {
			t.Errorf("byte %d of extra changed: parsed %+v, %v", i, q, err)
		}
	}
}

// TestVerifyTlogProofEntryChanges: the proof is for its entry only: any
// single-byte change, truncation or extension of the entry is rejected.
func TestVerifyTlogProofEntryChanges(t *testing.T) {
	t.Parallel()
	s, _ := mustKey(t, proofLogName, proofKeyLabel)
	l := newSignedLog(100, s)
	for _, c := range []struct{ index, size uint64 }{{0, 1}, {42, 100}, {99, 100}} {
		file := l.proof(t, c.index, c.size).Format()
		e := releaseEntry(c.index)
		bad := [][]byte{nil, {}, e[:len(e)-1], append(bytes.Clone(e), 0), append([]byte{0}, e...), releaseEntry(c.index + 1)}
		for i := range e {
			f := bytes.Clone(e)
			f[i] ^= 0x01
			bad = append(bad, f)
		}
		for _, b := range bad {
			if _, err := proofs.VerifyTlogProof(file, b, s.Verifier()); !errors.Is(err, proofs.ErrProofInvalid) {
				t.Errorf("proof of %q (index %d, size %d) with entry %q: %v, want ErrProofInvalid", e, c.index, c.size, b, err)
			}
		}
		// The leaf hash is not an entry.
		leaf := rfcLeaf(e)
		if _, err := proofs.VerifyTlogProof(file, leaf[:], s.Verifier()); err == nil {
			t.Errorf("proof of index %d verifies with the leaf hash as the entry", c.index)
		}
	}
}

// impostor claims the log's key name and ID but checks with another key, as
// a colliding key ID would (signed-note: the signature must then fail).
type impostor struct {
	name string
	id   uint32
	v    signer.NoteVerifier
}

func (i impostor) Name() string                { return i.name }
func (i impostor) KeyHash() uint32             { return i.id }
func (i impostor) Verify(msg, sig []byte) bool { return i.v.Verify(msg, sig) }

// TestVerifyTlogProofWrongKey: the log's key and no other: a key of another
// name, a key of the same name but other key material (other ID, or the same
// ID), and a checkpoint whose origin is not the key name are all rejected.
func TestVerifyTlogProofWrongKey(t *testing.T) {
	t.Parallel()
	s, _ := mustKey(t, proofLogName, proofKeyLabel)
	l := newSignedLog(21, s)
	file := l.proof(t, 11, 20).Format()
	e := releaseEntry(11)

	other, otherV := mustKey(t, "example.com/other-log", proofKeyLabel)
	if _, err := proofs.VerifyTlogProof(file, e, other.Verifier()); !errors.Is(err, signer.ErrUnverifiedNote) {
		t.Errorf("with a key of another name: %v, want ErrUnverifiedNote", err)
	}
	if _, err := proofs.VerifyTlogProof(file, e, xmodVerifier(t, otherV)); err == nil {
		t.Errorf("with x/mod's verifier of a key of another name: verifies")
	}
	same, _ := mustKey(t, proofLogName, "another seed")
	if same.KeyHash() == s.KeyHash() {
		t.Fatal("the two keys share an ID")
	}
	if _, err := proofs.VerifyTlogProof(file, e, same.Verifier()); !errors.Is(err, signer.ErrUnverifiedNote) {
		t.Errorf("with a key of the same name, other material: %v, want ErrUnverifiedNote", err)
	}
	imp := impostor{s.Name(), s.KeyHash(), same.Verifier()}
	if _, err := proofs.VerifyTlogProof(file, e, imp); !errors.Is(err, signer.ErrInvalidSignature) {
		t.Errorf("with a key of the same name and ID, other material: %v, want ErrInvalidSignature", err)
	}
	// Signed by the right key, but the checkpoint names another origin.
	root := l.root(t, 20)
	text := signer.Checkpoint{Origin: "example.com/not-the-key-name", Size: 20, Hash: root}.Text()
	cp, err := signer.SignNote(text, s)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := proofs.ParseTlogProof(file)
	p.Checkpoint = cp
	if _, err := proofs.VerifyTlogProof(p.Format(), e, s.Verifier()); err == nil {
		t.Errorf("a checkpoint of origin %q verifies under key %q", "example.com/not-the-key-name", s.Name())
	}
	// The log's own checkpoint, but of another size.
	p.Checkpoint = l.checkpoint(t, 21)
	if _, err := proofs.VerifyTlogProof(p.Format(), e, s.Verifier()); err == nil {
		t.Errorf("the proof of index 11 in size 20 verifies against the checkpoint of size 21")
	}
}

// TestVerifyTlogProofIndex: an index at or beyond the checkpoint's size, or
// other than the one the proof is for, is rejected.
func TestVerifyTlogProofIndex(t *testing.T) {
	t.Parallel()
	s, _ := mustKey(t, proofLogName, proofKeyLabel)
	l := newSignedLog(40, s)
	const size = 40
	for _, c := range []struct {
		proofOf, index uint64
	}{
		{39, 40}, {39, 41}, {39, 1 << 32}, {39, math.MaxUint64}, {0, size}, {32, size},
		{39, 38}, {38, 39}, {5, 4}, {5, 6}, {5, 7}, {0, 1},
	} {
		p := l.proof(t, c.proofOf, size)
		p.Index = c.index
		_, err := proofs.VerifyTlogProof(p.Format(), releaseEntry(c.proofOf), s.Verifier())
		if !errors.Is(err, proofs.ErrProofInvalid) {
			t.Errorf("proof of %d presented as index %d in size %d: %v, want ErrProofInvalid", c.proofOf, c.index, size, err)
		}
		if c.index < size {
			_, err = proofs.VerifyTlogProof(p.Format(), releaseEntry(c.index), s.Verifier())
			if !errors.Is(err, proofs.ErrProofInvalid) {
				t.Errorf("proof of %d presented as index %d with that index's entry: %v, want ErrProofInvalid", c.proofOf, c.index, err)
			}
		}
	}
}

// TestVerifyTlogProofCosigned: witness cosignatures by keys the verifier
// does not know are ignored and kept unverified; 16 of them too
// (signed-note: accept at least 16 signatures). Extension lines in the
// checkpoint are allowed (tlog-checkpoint).
func TestVerifyTlogProofCosigned(t *testing.T) {
	t.Parallel()
	s, vkey := mustKey(t, proofLogName, proofKeyLabel)
	xv := xmodVerifier(t, vkey)
	l := newSignedLog(30, s)
	for _, witnesses := range []int{1, 2, 15} {
		p := l.proof(t, 13, 30)
		for w := range witnesses {
			p.Checkpoint = append(p.Checkpoint, cosignLine(fmt.Sprintf("witness%d.example/w", w), byte(w))...)
		}
		vp, err := proofs.VerifyTlogProof(p.Format(), releaseEntry(13), s.Verifier())
		if err != nil {
			t.Errorf("with %d witness cosignatures: %v", witnesses, err)
			continue
		}
		if len(vp.Note.Sigs) != 1 || len(vp.Note.UnverifiedSigs) != witnesses || vp.Note.UnverifiedSigs[0].Name != "witness0.example/w" {
			t.Errorf("with %d witness cosignatures: verified %+v, unverified %+v", witnesses, vp.Note.Sigs, vp.Note.UnverifiedSigs)
		}
		if err := xmodVerify(p, releaseEntry(13), xv); err != nil {
			t.Errorf("x/mod rejects the proof with %d witness cosignatures: %v", witnesses, err)
		}
	}
	// A cosignature before the log's signature.
	p := l.proof(t, 13, 30)
	split := bytes.LastIndex(p.Checkpoint, []byte("\n\n")) + 2
	p.Checkpoint = append(append(bytes.Clone(p.Checkpoint[:split]), cosignLine("witness.example/first", 3)...), p.Checkpoint[split:]...)
	if _, err := proofs.VerifyTlogProof(p.Format(), releaseEntry(13), s.Verifier()); err != nil {
		t.Errorf("with a witness cosignature first: %v", err)
	}
	// Extension lines.
	text := signer.Checkpoint{Origin: s.Name(), Size: 30, Hash: l.root(t, 30), Extensions: []string{"ext one", "— ext two"}}.Text()
	cp, err := signer.SignNote(text, s)
	if err != nil {
		t.Fatal(err)
	}
	p = l.proof(t, 13, 30)
	p.Checkpoint = cp
	if _, err := proofs.VerifyTlogProof(p.Format(), releaseEntry(13), s.Verifier()); err != nil {
		t.Errorf("with checkpoint extension lines: %v", err)
	}
}

// TestFuzzCorpusProofsVerify: the real proofs of the committed seed corpus
// (files real_*) verify with the test key, so the fuzzer starts from proofs
// that reach the end of VerifyTlogProof.
func TestFuzzCorpusProofsVerify(t *testing.T) {
	t.Parallel()
	_, vkey := mustKey(t, proofLogName, proofKeyLabel)
	v, err := signer.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParseTlogProof", "real_*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no real proofs in the corpus (%v)", err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
		if !ok || !strings.HasSuffix(lit, ")") {
			t.Fatalf("%s: not a go test fuzz v1 []byte file", name)
		}
		file, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p, err := proofs.ParseTlogProof([]byte(file))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := proofs.VerifyTlogProof([]byte(file), releaseEntry(p.Index), v); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParseTlogProof: whenever ParseTlogProof accepts a file, Format gives
// back exactly its bytes; a rejection is ErrMalformedProof; VerifyTlogProof
// never panics, and what it accepts x/mod accepts too.
func FuzzParseTlogProof(f *testing.F) {
	s, vkey := mustKey(f, proofLogName, proofKeyLabel)
	xv := xmodVerifier(f, vkey)
	l := newSignedLog(40, s)
	for _, c := range []struct{ index, size uint64 }{{0, 1}, {5, 40}, {39, 40}} {
		f.Add(l.proof(f, c.index, c.size).Format())
	}
	p := l.proof(f, 3, 7)
	p.Extra = []byte("extra data")
	f.Add(p.Format())
	f.Fuzz(func(t *testing.T, file []byte) {
		p, err := proofs.ParseTlogProof(file)
		if err != nil {
			if !errors.Is(err, proofs.ErrMalformedProof) {
				t.Fatalf("ParseTlogProof error %v is not ErrMalformedProof", err)
			}
		} else {
			if got := p.Format(); !bytes.Equal(got, file) {
				t.Fatalf("Format(ParseTlogProof(b)) != b:\n%q\n%q", got, file)
			}
			if len(p.Hashes) > proofs.MaxProofHashes {
				t.Fatalf("parsed %d hashes", len(p.Hashes))
			}
			for _, h := range p.Hashes {
				if len(h) != 32 {
					t.Fatalf("parsed a %d-byte hash", len(h))
				}
			}
		}
		var index uint64
		if err == nil {
			index = p.Index
		}
		vp, verr := proofs.VerifyTlogProof(file, releaseEntry(index), s.Verifier())
		if verr != nil {
			return
		}
		if err != nil {
			t.Fatalf("VerifyTlogProof accepts a file ParseTlogProof rejects (%v)", err)
		}
		if vp.Index != p.Index {
			t.Fatalf("verified index %d, parsed %d", vp.Index, p.Index)
		}
		if xerr := xmodVerify(p, releaseEntry(index), xv); xerr != nil {
			t.Fatalf("VerifyTlogProof accepts what x/mod rejects: %v\n%q", xerr, file)
		}
	})
}
