package vectors

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/tlogai/tlog/signer"
)

// CheckpointFile is checkpoints.json: the log's verifier key, the
// witnesses' verifier keys, a c2sp.org/tlog-policy naming them with a
// quorum of two, and signed checkpoint notes. ValidWithKey is the verdict
// of signer.OpenCheckpoint with the log key alone (cosignatures are not
// checked), ValidWithPolicy that of the policy's Check (log signature,
// origin, and a quorum of valid cosignatures; a bad cosignature of a
// policy witness rejects the note).
type CheckpointFile struct {
	LogKey      string           `json:"log_key"`
	WitnessKeys []string         `json:"witness_keys"`
	Policy      string           `json:"policy"`
	Cases       []CheckpointCase `json:"cases"`
}

// CheckpointCase is one signed note of checkpoints.json. Error is a
// substring of every failing verdict's Go error.
type CheckpointCase struct {
	Name            string `json:"name"`
	Note            string `json:"note"`
	ValidWithKey    bool   `json:"valid_with_key"`
	ValidWithPolicy bool   `json:"valid_with_policy"`
	Error           string `json:"error,omitempty"`
}

// sig signs text with s and returns the signature (line).
func sig(s signer.NoteSigner, text string) (signer.Signature, error) {
	b, err := s.Sign([]byte(text))
	if err != nil {
		return signer.Signature{}, fmt.Errorf("%s: %w", s.Name(), err)
	}
	return signer.Signature{Name: s.Name(), KeyHash: s.KeyHash(), Sig: b}, nil
}

// note is a signed note: text, a blank line, the signature lines.
func note(text string, sigs ...signer.Signature) string {
	var b strings.Builder
	b.WriteString(text)
	b.WriteString("\n")
	for _, s := range sigs {
		b.WriteString(s.Line())
	}
	return b.String()
}

// flipSig returns s with a bit of its last byte flipped.
func flipSig(s signer.Signature) signer.Signature {
	s.Sig = append([]byte(nil), s.Sig...)
	s.Sig[len(s.Sig)-1] ^= 1
	return s
}

// nonCanonical rewrites the base64 of a signature line so that the
// unused low bits of its last character are set: the same bytes to a
// lenient decoder, refused by a strict one.
func nonCanonical(line string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	body := strings.TrimSuffix(line, "\n")
	trimmed := strings.TrimRight(body, "=")
	last := strings.IndexByte(alphabet, trimmed[len(trimmed)-1])
	return trimmed[:len(trimmed)-1] + string(alphabet[last|1]) + body[len(trimmed):] + "\n"
}

// checkpointText is the checkpoint of the tree of the given size.
func checkpointText(t *tree, size uint64, extensions ...string) (string, error) {
	root, err := t.root(size)
	if err != nil {
		return "", err
	}
	return signer.Checkpoint{Origin: LogName, Size: size, Hash: root, Extensions: extensions}.Text(), nil
}

// signers of a checkpoint note: the log, a, b, c, the stranger witness,
// the impostor with the log's name.
type signers struct{ L, A, B, C, S, I signer.Signature }

func signAll(k *keys, text string) (signers, error) {
	var s signers
	var err error
	for _, x := range []struct {
		out *signer.Signature
		by  signer.NoteSigner
	}{
		{&s.L, k.log}, {&s.A, k.witnesses[0]}, {&s.B, k.witnesses[1]}, {&s.C, k.witnesses[2]},
		{&s.S, k.stranger}, {&s.I, k.impostor},
	} {
		if *x.out, err = sig(x.by, text); err != nil {
			return s, err
		}
	}
	return s, nil
}

func checkpoints(k *keys, t *tree) (*CheckpointFile, error) {
	text, err := checkpointText(t, treeSize)
	if err != nil {
		return nil, err
	}
	s, err := signAll(k, text)
	if err != nil {
		return nil, err
	}
	older, err := checkpointText(t, treeSize-1)
	if err != nil {
		return nil, err
	}
	so, err := signAll(k, older)
	if err != nil {
		return nil, err
	}
	good := note(text, s.L, s.A, s.B)
	lines := strings.SplitAfter(good, "\n")
	// lines: origin, size, root, "", L, A, B, "".
	type cc struct{ name, note, err string }
	var cases []cc
	add := func(name, note, err string) { cases = append(cases, cc{name, note, err}) }

	// Signed by the log alone, with 0…3 cosignatures.
	const quorum, unknown, invalid = "witness quorum not met", "note has no signature by a known key", "invalid signature"
	add("log-signature-only", note(text, s.L), quorum)
	add("cosigned-by-1-witness", note(text, s.L, s.A), quorum)
	add("cosigned-by-2-witnesses", good, "")
	add("cosigned-by-3-witnesses", note(text, s.L, s.A, s.B, s.C), "")
	add("cosigned-by-b-and-c", note(text, s.L, s.B, s.C), "")
	add("cosignatures-before-log-signature", note(text, s.A, s.B, s.L), "")
	add("cosigned-by-1-witness-and-a-stranger", note(text, s.L, s.A, s.S), quorum)
	add("cosigned-by-2-witnesses-and-a-stranger", note(text, s.S, s.L, s.A, s.B), "")
	add("duplicate-cosignature-counts-once", note(text, s.L, s.A, s.A), quorum)
	add("duplicate-log-signature-line", note(text, s.L, s.L, s.A, s.B), "")

	// Other keys.
	add("signed-by-another-key-with-the-log-name", note(text, s.I), unknown)
	add("signed-by-another-key-with-the-log-name-and-cosigned", note(text, s.I, s.A, s.B), unknown)
	add("another-key-with-the-log-name-beside-the-log", note(text, s.I, s.L, s.A, s.B), "")
	add("cosignatures-only", note(text, s.A, s.B), unknown)

	// Bad signatures.
	add("log-signature-wrong", note(text, flipSig(s.L), s.A, s.B), invalid)
	add("first-of-two-log-signatures-wrong", note(text, flipSig(s.L), s.L, s.A, s.B), invalid)
	// Like x/mod's note.Open, only the first signature of a key is checked.
	add("second-of-two-log-signatures-wrong-ignored", note(text, s.L, flipSig(s.L), s.A, s.B), "")
	add("cosignature-with-wrong-signature", note(text, s.L, s.A, flipSig(s.B), s.C), invalid)
	badTime := s.B
	badTime.Sig = append([]byte(nil), s.B.Sig...)
	badTime.Sig[7]++
	add("cosignature-with-wrong-timestamp", note(text, s.L, s.A, badTime, s.C), invalid)
	add("cosignature-of-another-checkpoint", note(text, s.L, s.A, so.B, s.C), invalid)
	short := s.B
	short.Sig = s.B.Sig[8:] // a plain Ed25519 signature, no timestamp
	add("cosignature-without-timestamp", note(text, s.L, s.A, short), invalid)
	add("stranger-cosignature-wrong-ignored", note(text, s.L, s.A, s.B, flipSig(s.S)), "")

	// A text other than the one signed.
	for _, m := range []struct{ name, from, to string }{
		{"modified-root", lines[2], base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"},
		{"modified-size", lines[1], "38\n"},
		{"modified-origin", lines[0], "vectors.tlog.example/other\n"},
	} {
		add(m.name, strings.Replace(good, m.from, m.to, 1), invalid)
	}

	// Texts that are not checkpoints of the log, correctly signed.
	signed := func(name, text, err string, cosign bool) error {
		sigs := []signer.Signature{}
		l, e := sig(k.log, text)
		if e != nil {
			return e
		}
		sigs = append(sigs, l)
		if cosign {
			for _, w := range k.witnesses[:2] {
				c, e := sig(w, text)
				if e != nil {
					return e
				}
				sigs = append(sigs, c)
			}
		}
		add(name, note(text, sigs...), err)
		return nil
	}
	root := strings.TrimSuffix(lines[2], "\n")
	root31 := base64.StdEncoding.EncodeToString(make([]byte, 31))
	ext, err := checkpointText(t, treeSize, "vectors.example/extension 1", "— not a signature, an extension line")
	if err != nil {
		return nil, err
	}
	empty, err := checkpointText(t, 0)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name, text, err string
		cosign          bool
	}{
		{"extension-lines", ext, "", true},
		{"empty-tree", empty, "", true},
		{"origin-is-not-the-key-name", "vectors.tlog.example/other\n37\n" + root + "\n", `origin "vectors.tlog.example/other"`, true},
		{"empty-extension-line", text + "\nafter an empty line\n", "empty extension line", false},
		{"size-with-leading-zero", LogName + "\n037\n" + root + "\n", "tree size", false},
		{"size-with-plus-sign", LogName + "\n+37\n" + root + "\n", "tree size", false},
		{"size-negative", LogName + "\n-1\n" + root + "\n", "tree size", false},
		{"size-2^64", LogName + "\n18446744073709551616\n" + root + "\n", "tree size", false},
		{"root-31-bytes", LogName + "\n37\n" + root31 + "\n", "root hash", false},
		{"root-non-canonical-base64", LogName + "\n37\n" + strings.TrimSuffix(nonCanonical(root+"\n"), "\n") + "\n", "root hash", false},
		{"root-unpadded-base64", LogName + "\n37\n" + strings.TrimRight(root, "=") + "\n", "root hash", false},
		{"no-root-line", LogName + "\n37\n", "want origin, size and root hash lines", false},
		{"empty-origin", "\n37\n" + root + "\n", "empty origin", false},
	} {
		if err := signed(c.name, c.text, c.err, c.cosign); err != nil {
			return nil, err
		}
	}

	// Malformed notes.
	const malformed = "malformed signed note"
	add("no-blank-line", strings.Replace(good, "\n\n", "\n", 1), malformed)
	add("no-signatures", text+"\n", malformed)
	add("missing-final-newline", strings.TrimSuffix(good, "\n"), malformed)
	add("extra-blank-line-at-end", good+"\n", malformed)
	add("bad-base64-in-signature", strings.Replace(good, lines[4], "— "+LogName+" !!!!"+"\n", 1), malformed)
	add("non-canonical-base64-in-log-signature", strings.Replace(good, lines[4], nonCanonical(lines[4]), 1), malformed)
	add("non-canonical-base64-in-cosignature", strings.Replace(good, lines[5], nonCanonical(lines[5]), 1), malformed)
	add("signature-line-with-hyphen", strings.Replace(good, lines[4], "-"+strings.TrimPrefix(lines[4], "—"), 1), malformed)
	add("signature-line-trailing-space", strings.Replace(good, lines[4], strings.TrimSuffix(lines[4], "\n")+" \n", 1), malformed)
	add("signature-too-short", strings.Replace(good, lines[4], "— "+LogName+" AAAAAA==\n", 1), malformed)
	add("crlf-line-endings", strings.ReplaceAll(good, "\n", "\r\n"), malformed)
	add("nul-in-text", strings.Replace(good, lines[0], LogName+"\x00\n", 1), malformed)
	many := []signer.Signature{s.L}
	for range signer.MaxNoteSignatures {
		many = append(many, s.S)
	}
	add("101-signature-lines", note(text, many...), "more than 100 signatures")

	pol, err := signer.ParsePolicy([]byte(k.policy))
	if err != nil {
		return nil, err
	}
	f := &CheckpointFile{LogKey: k.log.VerifierKey(), WitnessKeys: k.witnessVkeys[:], Policy: k.policy}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			return nil, fmt.Errorf("two cases named %q", c.name)
		}
		seen[c.name] = true
		_, _, errKey := signer.OpenCheckpoint([]byte(c.note), k.log.Verifier())
		_, _, errPol := pol.Check([]byte(c.note))
		v := CheckpointCase{Name: c.name, Note: c.note, ValidWithKey: errKey == nil, ValidWithPolicy: errPol == nil}
		if v.Error, err = verdict(c.name, c.err, errKey, errPol); err != nil {
			return nil, err
		}
		f.Cases = append(f.Cases, v)
	}
	return f, nil
}
