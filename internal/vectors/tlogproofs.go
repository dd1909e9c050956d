package vectors

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// TlogProofFile is tlog_proofs.json: the log key and policy of
// checkpoints.json, and c2sp.org/tlog-proof@v1 files for entries of the
// vectors' tree (37 entries, "tlog test vector entry <i>\n").
// ValidWithKey is the verdict of proofs.VerifyTlogProof with the log key,
// ValidWithPolicy that of proofs.VerifyTlogProofWith with the policy's
// Check.
type TlogProofFile struct {
	LogKey string          `json:"log_key"`
	Policy string          `json:"policy"`
	Cases  []TlogProofCase `json:"cases"`
}

// TlogProofCase is one proof file and the entry it is checked for. Error
// is a substring of every failing verdict's Go error.
type TlogProofCase struct {
	Name            string `json:"name"`
	Entry           string `json:"entry_b64"`
	Proof           string `json:"proof"`
	ValidWithKey    bool   `json:"valid_with_key"`
	ValidWithPolicy bool   `json:"valid_with_policy"`
	Error           string `json:"error,omitempty"`
}

func tlogProofs(k *keys, t *tree) (*TlogProofFile, error) {
	// Signed checkpoints of the tree at several sizes.
	type cps struct{ good, threeWitnesses, oneWitness, badCosig, impostor, modifiedRoot string }
	at := map[uint64]cps{}
	for _, size := range []uint64{0, 1, 20, treeSize} {
		text, err := checkpointText(t, size)
		if err != nil {
			return nil, err
		}
		s, err := signAll(k, text)
		if err != nil {
			return nil, err
		}
		good := note(text, s.L, s.A, s.B)
		lines := strings.SplitAfter(text, "\n")
		at[size] = cps{
			good:           good,
			threeWitnesses: note(text, s.L, s.A, s.B, s.C),
			oneWitness:     note(text, s.L, s.A),
			badCosig:       note(text, s.L, s.A, flipSig(s.B)),
			impostor:       note(text, s.I, s.A, s.B),
			modifiedRoot:   strings.Replace(good, lines[2], base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n", 1),
		}
	}
	extText, err := checkpointText(t, treeSize, "vectors.example/extension 1")
	if err != nil {
		return nil, err
	}
	es, err := signAll(k, extText)
	if err != nil {
		return nil, err
	}
	withExtensions := note(extText, es.L, es.A, es.B)
	badText := LogName + "\n037\n" + strings.Split(at[treeSize].good, "\n")[2] + "\n"
	bl, err := sig(k.log, badText) // witnesses cosign only checkpoints
	if err != nil {
		return nil, err
	}
	notACheckpoint := note(badText, bl)

	prove := func(index, size uint64) ([][]byte, error) { return proofs.ProveInclusion(index, size, t) }
	file := func(index uint64, hashes [][]byte, cp string, extra []byte) string {
		return string(proofs.TlogProof{Extra: extra, Index: index, Hashes: hashes, Checkpoint: []byte(cp)}.Format())
	}
	type pc struct {
		name  string
		entry []byte
		proof string
		err   string
	}
	var cases []pc
	add := func(name string, entry int, proof, err string) {
		cases = append(cases, pc{name, t.entries[entry], proof, err})
	}
	addEntry := func(name string, entry []byte, proof, err string) {
		cases = append(cases, pc{name, entry, proof, err})
	}
	good := map[uint64]string{}
	for _, c := range [][2]uint64{{0, treeSize}, {1, treeSize}, {7, treeSize}, {17, treeSize}, {31, treeSize}, {32, treeSize}, {36, treeSize}, {5, 20}, {0, 1}} {
		p, err := prove(c[0], c[1])
		if err != nil {
			return nil, err
		}
		f := file(c[0], p, at[c[1]].good, nil)
		if c[1] == treeSize {
			good[c[0]] = f
		}
		add(fmt.Sprintf("index-%d-size-%d", c[0], c[1]), int(c[0]), f, "")
	}
	p17, err := prove(17, treeSize)
	if err != nil {
		return nil, err
	}
	p5, err := prove(5, 20)
	if err != nil {
		return nil, err
	}
	p5new, err := prove(5, treeSize)
	if err != nil {
		return nil, err
	}
	p36, err := prove(36, treeSize)
	if err != nil {
		return nil, err
	}
	f17 := good[17]
	lines17 := strings.SplitAfter(f17, "\n")
	// lines17: header, "index 17", 6 hashes, "", checkpoint lines.
	hash1 := lines17[2]
	const bad, malformed = "proof does not verify", "malformed tlog-proof"
	const quorum, unknown, invalidSig = "witness quorum not met", "note has no signature by a known key", "invalid signature"

	add("with-extra-data", 17, file(17, p17, at[treeSize].good, []byte("opaque, unauthenticated data")), "")
	add("with-empty-extra-data", 17, file(17, p17, at[treeSize].good, []byte{}), "")
	add("checkpoint-with-extension-lines", 17, file(17, p17, withExtensions, nil), "")
	add("checkpoint-cosigned-by-3-witnesses", 17, file(17, p17, at[treeSize].threeWitnesses, nil), "")

	// Wrong entry, index or hashes.
	add("wrong-entry", 18, f17, bad)
	addEntry("entry-without-its-final-newline", t.entries[17][:len(t.entries[17])-1], f17, bad)
	addEntry("empty-entry", []byte{}, f17, bad)
	add("flipped-hash-bit", 17, file(17, flip(p17, 2), at[treeSize].good, nil), bad)
	add("wrong-index", 17, strings.Replace(f17, "index 17\n", "index 18\n", 1), bad)
	add("index-and-entry-of-another-leaf", 18, strings.Replace(f17, "index 17\n", "index 18\n", 1), bad)
	add("missing-hash-line", 17, file(17, p17[:len(p17)-1], at[treeSize].good, nil), bad)
	add("extra-hash-line", 17, file(17, append(append([][]byte(nil), p17...), p17[0]), at[treeSize].good, nil), bad)
	add("hash-lines-swapped", 17, file(17, append([][]byte{p17[1], p17[0]}, p17[2:]...), at[treeSize].good, nil), bad)
	add("proof-for-an-older-tree", 5, file(5, p5, at[treeSize].good, nil), bad)
	add("proof-for-a-newer-tree", 5, file(5, p5new, at[20].good, nil), bad)

	// Malformed files.
	add("non-canonical-base64-hash", 17, strings.Replace(f17, hash1, nonCanonical(hash1), 1), malformed)
	add("unpadded-base64-hash", 17, strings.Replace(f17, hash1, strings.TrimRight(hash1, "=\n")+"\n", 1), malformed)
	add("hash-31-bytes", 17, strings.Replace(f17, hash1, base64.StdEncoding.EncodeToString(p17[0][:31])+"\n", 1), malformed)
	add("hash-with-trailing-space", 17, strings.Replace(f17, hash1, strings.TrimSuffix(hash1, "\n")+" \n", 1), malformed)
	add("non-canonical-decimal-index", 7, strings.Replace(good[7], "index 7\n", "index 07\n", 1), malformed)
	add("index-with-plus-sign", 7, strings.Replace(good[7], "index 7\n", "index +7\n", 1), malformed)
	add("index-with-two-spaces", 7, strings.Replace(good[7], "index 7\n", "index  7\n", 1), malformed)
	add("index-2^64", 7, strings.Replace(good[7], "index 7\n", "index 18446744073709551616\n", 1), malformed)
	add("bad-header", 17, strings.Replace(f17, proofs.TlogProofHeader, "c2sp.org/tlog-proof@v2", 1), malformed)
	add("header-with-trailing-space", 17, strings.Replace(f17, proofs.TlogProofHeader+"\n", proofs.TlogProofHeader+" \n", 1), malformed)
	add("no-header", 17, strings.TrimPrefix(f17, proofs.TlogProofHeader+"\n"), malformed)
	add("no-index-line", 17, strings.Replace(f17, "index 17\n", "", 1), malformed)
	add("extra-after-index", 17, strings.Replace(file(17, p17, at[treeSize].good, nil), "index 17\n", "index 17\nextra AAAA\n", 1), malformed)
	add("two-extra-lines", 17, strings.Replace(file(17, p17, at[treeSize].good, []byte("x")), "index 17\n", "extra AAAA\nindex 17\n", 1), malformed)
	add("extra-non-canonical-base64", 17, strings.Replace(f17, "index 17\n", "extra eB==\nindex 17\n", 1), malformed)
	add("no-blank-line-before-checkpoint", 17, strings.Replace(f17, "\n\n", "\n", 1), malformed)
	many := make([][]byte, proofs.MaxProofHashes+1)
	for i := range many {
		many[i] = p17[i%len(p17)]
	}
	add("65-hash-lines", 17, file(17, many, at[treeSize].good, nil), malformed)
	add("trailing-newline-after-the-file", 17, f17+"\n", malformed)
	add("crlf-line-endings", 17, strings.ReplaceAll(f17, "\n", "\r\n"), malformed)
	add("empty-file", 17, "", malformed)
	add("header-only", 17, proofs.TlogProofHeader+"\n", malformed)
	add("checkpoint-text-not-a-checkpoint", 17, file(17, p17, notACheckpoint, nil), malformed)

	// The checkpoint.
	add("checkpoint-signed-by-another-key", 17, file(17, p17, at[treeSize].impostor, nil), unknown)
	add("checkpoint-modified-root", 17, file(17, p17, at[treeSize].modifiedRoot, nil), invalidSig)
	add("no-witness-quorum", 17, file(17, p17, at[treeSize].oneWitness, nil), quorum)
	add("bad-cosignature", 17, file(17, p17, at[treeSize].badCosig, nil), invalidSig)

	// Index and size.
	add("size-0-tree", 0, file(0, nil, at[0].good, nil), "not below the checkpoint's tree size 0")
	add("index-equals-size", 36, file(treeSize, p36, at[treeSize].good, nil), "not below the checkpoint's tree size 37")
	add("index-beyond-size", 36, file(1000, p36, at[treeSize].good, nil), "not below the checkpoint's tree size 37")
	add("size-1-tree-with-a-hash", 0, file(0, [][]byte{p17[0]}, at[1].good, nil), bad)

	pol, err := signer.ParsePolicy([]byte(k.policy))
	if err != nil {
		return nil, err
	}
	out := &TlogProofFile{LogKey: k.log.VerifierKey(), Policy: k.policy}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			return nil, fmt.Errorf("two cases named %q", c.name)
		}
		seen[c.name] = true
		_, errKey := proofs.VerifyTlogProof([]byte(c.proof), c.entry, k.log.Verifier())
		_, errPol := proofs.VerifyTlogProofWith([]byte(c.proof), c.entry, pol.Check)
		v := TlogProofCase{
			Name: c.name, Entry: base64.StdEncoding.EncodeToString(c.entry), Proof: c.proof,
			ValidWithKey: errKey == nil, ValidWithPolicy: errPol == nil,
		}
		if v.Error, err = verdict(c.name, c.err, errKey, errPol); err != nil {
			return nil, err
		}
		out.Cases = append(out.Cases, v)
	}
	return out, nil
}
