package vectors_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/internal/vectors"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// dir is testdata/vectors, from this package's directory.
var dir = filepath.Join("..", "..", filepath.FromSlash(vectors.Dir))

// load decodes a vector file strictly: a field the types do not know is
// a schema change this test has not caught up with.
func load(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func hash32(t *testing.T, s string) [32]byte {
	t.Helper()
	var h [32]byte
	if b := unhex(t, s); len(b) != 32 {
		t.Fatalf("hash %q is %d bytes", s, len(b))
	} else {
		copy(h[:], b)
	}
	return h
}

// checkVerdict checks a verdict and, when it is a refusal, that the
// error holds the vector's substring.
func checkVerdict(t *testing.T, name, what string, valid bool, err error, substr string) {
	t.Helper()
	switch {
	case valid && err != nil:
		t.Errorf("%s: %s: want valid, got %v", name, what, err)
	case !valid && err == nil:
		t.Errorf("%s: %s: want invalid, got valid", name, what)
	case !valid && !strings.Contains(err.Error(), substr):
		t.Errorf("%s: %s: error %q does not contain %q", name, what, err, substr)
	}
}

func TestVectorsUpToDate(t *testing.T) {
	files, err := vectors.Generate()
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := vectors.Diff(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("%s/%s", vectors.Dir, d)
	}
	if len(diffs) > 0 {
		t.Log("regenerate: go run ./internal/tools/genvectors -out testdata/vectors")
	}
	again, err := vectors.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if !bytes.Equal(b, again[name]) {
			t.Errorf("%s: two runs of Generate differ", name)
		}
	}
}

func TestNamesUnique(t *testing.T) {
	for _, f := range []string{vectors.CommitmentsFile, vectors.DecisionsFile, vectors.ReleasesFile, vectors.InclusionFile, vectors.ConsistencyFile, vectors.CheckpointsFile, vectors.TlogProofsFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		var cases []struct{ Name string }
		var obj struct{ Cases []struct{ Name string } }
		if json.Unmarshal(b, &cases) != nil {
			if err := json.Unmarshal(b, &obj); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			cases = obj.Cases
		}
		if len(cases) == 0 {
			t.Errorf("%s: no vectors", f)
		}
		seen := map[string]bool{}
		for _, c := range cases {
			if c.Name == "" || seen[c.Name] {
				t.Errorf("%s: empty or repeated name %q", f, c.Name)
			}
			seen[c.Name] = true
		}
	}
}

// ---------------------------------------------------------------------
// Commitments.

func TestCommitments(t *testing.T) {
	var vs []vectors.Commitment
	load(t, vectors.CommitmentsFile, &vs)
	reasons := map[string]string{
		"salt": "do not open", "content": "do not open",
		"salt_length": "salt is", "malformed": "is not a commitment",
	}
	for _, v := range vs {
		salt, content := unhex(t, v.Salt), unb64(t, v.Content)
		err := attest.Open(v.Commitment, salt, content)
		checkVerdict(t, v.Name, "attest.Open", v.Valid, err, reasons[v.Reason])
		if !v.Valid && reasons[v.Reason] == "" {
			t.Errorf("%s: unknown reason %q", v.Name, v.Reason)
		}
		// Written out from the definition.
		h := sha256.New()
		h.Write([]byte("tlog/commitment/v1\x00"))
		h.Write(salt)
		h.Write(content)
		indep := len(salt) == 32 && v.Commitment == "sha256:"+hex.EncodeToString(h.Sum(nil))
		if indep != v.Valid {
			t.Errorf("%s: the definition says valid=%v", v.Name, indep)
		}
		if v.Valid {
			if c, err := attest.Commit(salt, content); err != nil || c != v.Commitment {
				t.Errorf("%s: attest.Commit = %q, %v; want %q", v.Name, c, err, v.Commitment)
			}
		}
	}
}

// ---------------------------------------------------------------------
// Decision records.

// jcs is RFC 8785 for the values of decoded JSON without numbers: keys
// sorted by UTF-16 code units, minimal string escapes. Written here from
// the RFC, apart from attest's encoder.
func jcs(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case string:
		b.WriteByte('"')
		for _, r := range v {
			switch {
			case r == '"' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r == '\b':
				b.WriteString(`\b`)
			case r == '\f':
				b.WriteString(`\f`)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r == '\t':
				b.WriteString(`\t`)
			case r < 0x20:
				fmt.Fprintf(b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := jcs(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y string) int {
			return slices.Compare(utf16.Encode([]rune(x)), utf16.Encode([]rune(y)))
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := jcs(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := jcs(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("no canonical form here for %T", v)
	}
	return nil
}

// pruneEmpty drops the fields whose value is "", {} or [] (the optional
// fields of a decision entry are omitted when empty; required ones are
// never empty in a valid record). Label values are kept: a label may have
// an empty value.
func pruneEmpty(m map[string]any, labels bool) {
	for k, v := range m {
		switch v := v.(type) {
		case string:
			if v == "" && !labels {
				delete(m, k)
			}
		case []any:
			if len(v) == 0 {
				delete(m, k)
			}
		case map[string]any:
			pruneEmpty(v, k == "labels")
			if len(v) == 0 {
				delete(m, k)
			}
		}
	}
}

// decisionEntry is the entry of a valid record, built with encoding/json
// and jcs.
func decisionEntry(record string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(record), &m); err != nil {
		return nil, err
	}
	pruneEmpty(m, false)
	m["kind"] = "decision/v1"
	var b bytes.Buffer
	err := jcs(&b, m)
	return b.Bytes(), err
}

func TestDecisions(t *testing.T) {
	var vs []vectors.DecisionCase
	load(t, vectors.DecisionsFile, &vs)
	valid := 0
	for _, v := range vs {
		_, entry, err := attest.ParseDecision([]byte(v.Record))
		checkVerdict(t, v.Name, "attest.ParseDecision", v.Valid, err, v.Error)
		if err != nil {
			if !errors.Is(err, attest.ErrInvalid) {
				t.Errorf("%s: error %v does not wrap attest.ErrInvalid", v.Name, err)
			}
			if v.Entry != "" || v.LeafHash != "" {
				t.Errorf("%s: an invalid record with an entry", v.Name)
			}
			continue
		}
		valid++
		want := unb64(t, v.Entry)
		if !bytes.Equal(entry, want) {
			t.Errorf("%s: entry\n got %s\nwant %s", v.Name, entry, want)
		}
		leaf := proofs.HashLeaf(want)
		if xleaf := tlog.RecordHash(want); hex.EncodeToString(leaf[:]) != v.LeafHash || hex.EncodeToString(xleaf[:]) != v.LeafHash {
			t.Errorf("%s: leaf hash %x (x/mod %x), file has %s", v.Name, leaf, xleaf, v.LeafHash)
		}
		indep, err := decisionEntry(v.Record)
		if err != nil || !bytes.Equal(indep, want) {
			t.Errorf("%s: entry from encoding/json and RFC 8785 (%v)\n got %s\nwant %s", v.Name, err, indep, want)
		}
	}
	if valid == 0 || valid == len(vs) {
		t.Errorf("%d of %d records valid; want both kinds", valid, len(vs))
	}
}

// ---------------------------------------------------------------------
// Releases.

func TestReleases(t *testing.T) {
	var vs []vectors.Release
	load(t, vectors.ReleasesFile, &vs)
	entries := map[string]string{}
	for _, v := range vs {
		var entry []byte
		sub, err := attest.ParseSubmission([]byte(v.Submission))
		if err == nil {
			var r *attest.Release
			if r, err = attest.Admit(sub, nil, proofs.MaxEntrySize); err == nil {
				entry = r.Entry
			}
		}
		checkVerdict(t, v.Name, "attest.Admit", v.Valid, err, v.Error)
		if err != nil {
			continue
		}
		want := unb64(t, v.Entry)
		if !bytes.Equal(entry, want) {
			t.Errorf("%s: entry\n got %s\nwant %s", v.Name, entry, want)
		}
		if leaf := tlog.RecordHash(want); hex.EncodeToString(leaf[:]) != v.LeafHash {
			t.Errorf("%s: leaf hash %x, file has %s", v.Name, leaf, v.LeafHash)
		}
		entries[v.Name] = v.Entry
		checkReleaseEntry(t, v.Name, v.Submission, want)
	}
	for _, n := range []string{"keyid-and-failing-signature-dropped", "submission-reordered-and-indented"} {
		if entries[n] == "" || entries[n] != entries["slsa-provenance-v1"] {
			t.Errorf("%s: want the entry of slsa-provenance-v1", n)
		}
	}
}

// checkReleaseEntry checks, without attest, the parts of a release entry
// that come from the envelope: envelope_digest is the SHA-256 of the
// canonical envelope with only the first signature that verifies (no
// keyid), signers the fingerprint of the key, subjects those of the
// statement.
func checkReleaseEntry(t *testing.T, name, submission string, entry []byte) {
	t.Helper()
	var sub struct {
		Envelope struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
			Signatures  []struct {
				Sig string `json:"sig"`
			} `json:"signatures"`
		} `json:"envelope"`
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(submission), &sub); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	blk, _ := pem.Decode([]byte(sub.PublicKey))
	if blk == nil {
		t.Fatalf("%s: no PEM key", name)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	env := sub.Envelope
	payload := unb64(t, env.Payload)
	pae := fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(env.PayloadType), env.PayloadType, len(payload), payload)
	var kept string
	for _, s := range env.Signatures {
		if ed25519.Verify(pub.(ed25519.PublicKey), pae, unb64(t, s.Sig)) {
			kept = s.Sig
			break
		}
	}
	var canonical bytes.Buffer
	if err := jcs(&canonical, map[string]any{"payloadType": env.PayloadType, "payload": env.Payload, "signatures": []any{map[string]any{"sig": kept}}}); err != nil {
		t.Fatal(err)
	}
	var e struct {
		EnvelopeDigest string   `json:"envelope_digest"`
		Signers        []string `json:"signers"`
		Subjects       []any    `json:"subjects"`
	}
	if err := json.Unmarshal(entry, &e); err != nil {
		t.Fatalf("%s: entry: %v", name, err)
	}
	if d := sha256.Sum256(canonical.Bytes()); e.EnvelopeDigest != "sha256:"+hex.EncodeToString(d[:]) {
		t.Errorf("%s: envelope_digest %s, want sha256:%x of %s", name, e.EnvelopeDigest, d, canonical.Bytes())
	}
	if fp := sha256.Sum256(blk.Bytes); len(e.Signers) != 1 || e.Signers[0] != "sha256:"+hex.EncodeToString(fp[:]) {
		t.Errorf("%s: signers %v, want [sha256:%x]", name, e.Signers, fp)
	}
	var st struct {
		Subject []any `json:"subject"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatalf("%s: statement: %v", name, err)
	}
	var got, want bytes.Buffer
	if jcs(&got, e.Subjects) != nil || jcs(&want, st.Subject) != nil || got.String() != want.String() {
		t.Errorf("%s: subjects %s, statement has %s", name, got.Bytes(), want.Bytes())
	}
}

// ---------------------------------------------------------------------
// Checkpoints, independently: x/mod's note.Open, torchwood's checkpoint
// parser, and a cosignature verifier written here from
// c2sp.org/tlog-cosignature.

// cosigVerifier verifies cosignature/v1 signatures of a witness key.
type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func newCosigVerifier(t *testing.T, vkey string) *cosigVerifier {
	t.Helper()
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		t.Fatalf("witness key %q", vkey)
	}
	h, err := strconv.ParseUint(parts[1], 16, 32)
	key := unb64(t, parts[2])
	if err != nil || len(key) != 33 || key[0] != 0x04 {
		t.Fatalf("witness key %q: not a cosignature/v1 key", vkey)
	}
	sum := sha256.Sum256(append([]byte(parts[0]+"\n"), key...))
	if uint32(h) != binary.BigEndian.Uint32(sum[:]) {
		t.Fatalf("witness key %q: wrong key ID", vkey)
	}
	return &cosigVerifier{parts[0], uint32(h), ed25519.PublicKey(key[1:])}
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", binary.BigEndian.Uint64(sig), msg)
	return ed25519.Verify(v.pub, m, sig[8:])
}

// independent opens checkpoints with x/mod: with the log key alone, or
// with a policy of the log and the witnesses and a threshold.
type independent struct {
	log       note.Verifier
	witnesses []note.Verifier
	threshold int
}

func newIndependent(t *testing.T, logKey string, witnessKeys []string, policy string) *independent {
	t.Helper()
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		t.Fatal(err)
	}
	ind := &independent{log: lv}
	// The policy is read here only as far as this test needs: its log,
	// its witnesses, and a single group of k of them as the quorum.
	var groups = map[string]int{}
	for _, line := range strings.Split(policy, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case f[0] == "log" && len(f) == 2 && f[1] == logKey:
		case f[0] == "witness" && len(f) == 3:
			ind.witnesses = append(ind.witnesses, newCosigVerifier(t, f[2]))
			if !slices.Contains(witnessKeys, f[2]) {
				t.Fatalf("policy witness %s is not among the witness keys", f[2])
			}
		case f[0] == "group" && len(f) == 3+len(ind.witnesses):
			k, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("policy line %q: this test reads only k-of-all groups", line)
			}
			groups[f[1]] = k
		case f[0] == "quorum" && len(f) == 2 && groups[f[1]] > 0:
			ind.threshold = groups[f[1]]
		default:
			t.Fatalf("policy line %q: not one this test reads", line)
		}
	}
	if ind.threshold == 0 {
		t.Fatal("policy has no quorum this test reads")
	}
	return ind
}

// open returns the checkpoint of a note verified by the log key, and with
// witnessed also cosigned by a quorum of the witnesses.
func (ind *independent) open(msg []byte, witnessed bool) (torchwood.Checkpoint, error) {
	vs := []note.Verifier{ind.log}
	if witnessed {
		vs = append(vs, ind.witnesses...)
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return torchwood.Checkpoint{}, err
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return torchwood.Checkpoint{}, err
	}
	if c.Origin != ind.log.Name() {
		return torchwood.Checkpoint{}, fmt.Errorf("origin %q is not the log's", c.Origin)
	}
	logSigned, cosigs := false, 0
	for _, s := range n.Sigs {
		if s.Name == ind.log.Name() && s.Hash == ind.log.KeyHash() {
			logSigned = true
		} else {
			cosigs++ // note.Open keeps one signature per known key
		}
	}
	if !logSigned {
		return torchwood.Checkpoint{}, errors.New("no log signature")
	}
	if witnessed && cosigs < ind.threshold {
		return torchwood.Checkpoint{}, fmt.Errorf("%d cosignatures, quorum %d", cosigs, ind.threshold)
	}
	return c, nil
}

// laxer are the vectors x/mod's note.Open and torchwood accept and the Go
// code refuses: both decode base64 without insisting on the canonical
// encoding (unused bits of the last character set).
var laxer = map[string]bool{
	"non-canonical-base64-in-log-signature": true,
	"non-canonical-base64-in-cosignature":   true,
	"root-non-canonical-base64":             true,
}

func TestCheckpoints(t *testing.T) {
	var f vectors.CheckpointFile
	load(t, vectors.CheckpointsFile, &f)
	v, err := signer.NewVerifier(f.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := signer.ParsePolicy([]byte(f.Policy))
	if err != nil {
		t.Fatal(err)
	}
	ind := newIndependent(t, f.LogKey, f.WitnessKeys, f.Policy)
	for _, c := range f.Cases {
		_, _, errKey := signer.OpenCheckpoint([]byte(c.Note), v)
		checkVerdict(t, c.Name, "signer.OpenCheckpoint", c.ValidWithKey, errKey, c.Error)
		_, _, errPol := pol.Check([]byte(c.Note))
		checkVerdict(t, c.Name, "Policy.Check", c.ValidWithPolicy, errPol, c.Error)
		if c.ValidWithPolicy && !c.ValidWithKey {
			t.Errorf("%s: valid with the policy but not with the key", c.Name)
		}
		if laxer[c.Name] {
			continue
		}
		_, errKey = ind.open([]byte(c.Note), false)
		if (errKey == nil) != c.ValidWithKey {
			t.Errorf("%s: x/mod with the log key: %v, want valid=%v", c.Name, errKey, c.ValidWithKey)
		}
		_, errPol = ind.open([]byte(c.Note), true)
		if (errPol == nil) != c.ValidWithPolicy {
			t.Errorf("%s: x/mod with the policy: %v, want valid=%v", c.Name, errPol, c.ValidWithPolicy)
		}
	}
}

// ---------------------------------------------------------------------
// tlog-proof files.

// parseProof reads a c2sp.org/tlog-proof@v1 file, written here from the
// spec: canonical decimal and base64, at most 64 hashes.
func parseProof(file []byte) (index int64, hashes tlog.RecordProof, checkpoint []byte, err error) {
	canonical := func(s string) ([]byte, error) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || base64.StdEncoding.EncodeToString(b) != s {
			return nil, fmt.Errorf("%q is not canonical base64", s)
		}
		return b, nil
	}
	rest := string(file)
	next := func() (string, error) {
		l, r, ok := strings.Cut(rest, "\n")
		if !ok {
			return "", errors.New("unterminated line")
		}
		rest = r
		return l, nil
	}
	l, err := next()
	if err != nil || l != "c2sp.org/tlog-proof@v1" {
		return 0, nil, nil, errors.New("bad header")
	}
	if l, err = next(); err != nil {
		return 0, nil, nil, err
	}
	if e, ok := strings.CutPrefix(l, "extra "); ok {
		if _, err := canonical(e); err != nil {
			return 0, nil, nil, err
		}
		if l, err = next(); err != nil {
			return 0, nil, nil, err
		}
	}
	idx, ok := strings.CutPrefix(l, "index ")
	n, err := strconv.ParseUint(idx, 10, 63)
	if !ok || err != nil || strconv.FormatUint(n, 10) != idx {
		return 0, nil, nil, fmt.Errorf("bad index line %q", l)
	}
	for {
		if l, err = next(); err != nil {
			return 0, nil, nil, err
		}
		if l == "" {
			break
		}
		h, err := canonical(l)
		if err != nil || len(h) != 32 || len(hashes) == 64 {
			return 0, nil, nil, fmt.Errorf("bad proof line %q", l)
		}
		hashes = append(hashes, tlog.Hash(h))
	}
	return int64(n), hashes, []byte(rest), nil
}

func (ind *independent) verifyProof(file, entry []byte, witnessed bool) error {
	index, hashes, cp, err := parseProof(file)
	if err != nil {
		return err
	}
	c, err := ind.open(cp, witnessed)
	if err != nil {
		return err
	}
	if index >= c.N {
		return fmt.Errorf("index %d not below size %d", index, c.N)
	}
	return tlog.CheckRecord(hashes, c.N, c.Hash, index, tlog.RecordHash(entry))
}

func TestTlogProofs(t *testing.T) {
	var f vectors.TlogProofFile
	load(t, vectors.TlogProofsFile, &f)
	var cf vectors.CheckpointFile
	load(t, vectors.CheckpointsFile, &cf)
	if f.LogKey != cf.LogKey || f.Policy != cf.Policy {
		t.Errorf("the log key and policy differ from checkpoints.json's")
	}
	v, err := signer.NewVerifier(f.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := signer.ParsePolicy([]byte(f.Policy))
	if err != nil {
		t.Fatal(err)
	}
	ind := newIndependent(t, f.LogKey, cf.WitnessKeys, f.Policy)
	for _, c := range f.Cases {
		entry := unb64(t, c.Entry)
		_, errKey := proofs.VerifyTlogProof([]byte(c.Proof), entry, v)
		checkVerdict(t, c.Name, "proofs.VerifyTlogProof", c.ValidWithKey, errKey, c.Error)
		_, errPol := proofs.VerifyTlogProofWith([]byte(c.Proof), entry, pol.Check)
		checkVerdict(t, c.Name, "proofs.VerifyTlogProofWith(policy)", c.ValidWithPolicy, errPol, c.Error)
		if err := ind.verifyProof([]byte(c.Proof), entry, false); (err == nil) != c.ValidWithKey {
			t.Errorf("%s: x/mod with the log key: %v, want valid=%v", c.Name, err, c.ValidWithKey)
		}
		if err := ind.verifyProof([]byte(c.Proof), entry, true); (err == nil) != c.ValidWithPolicy {
			t.Errorf("%s: x/mod with the policy: %v, want valid=%v", c.Name, err, c.ValidWithPolicy)
		}
	}
}

// ---------------------------------------------------------------------
// Merkle proofs.

// xtree is the vectors' tree (entry i is "tlog test vector entry <i>\n",
// as the README says) in x/mod's stored hashes.
func xtree(t *testing.T) tlog.HashReaderFunc {
	t.Helper()
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i := range int64(37) {
		hs, err := tlog.StoredHashes(i, fmt.Appendf(nil, "tlog test vector entry %d\n", i), r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	return r
}

func hashes(t *testing.T, hs []string) (raw [][]byte, x []tlog.Hash) {
	for _, s := range hs {
		h := hash32(t, s)
		raw = append(raw, h[:])
		x = append(x, h)
	}
	return raw, x
}

func TestInclusion(t *testing.T) {
	var vs []vectors.Inclusion
	load(t, vectors.InclusionFile, &vs)
	xt := xtree(t)
	for _, v := range vs {
		raw, xp := hashes(t, v.Proof)
		leaf, root := hash32(t, v.LeafHash), hash32(t, v.Root)
		err := proofs.CheckInclusion(raw, v.Index, v.Size, leaf, root)
		checkVerdict(t, v.Name, "proofs.CheckInclusion", v.Valid, err, "")
		if err := tlog.CheckRecord(xp, int64(v.Size), root, int64(v.Index), leaf); (err == nil) != v.Valid {
			t.Errorf("%s: x/mod tlog.CheckRecord: %v, want valid=%v", v.Name, err, v.Valid)
		}
		if !strings.HasPrefix(v.Name, "index-") || !strings.Contains(v.Name, "-size-") {
			continue
		}
		// An untampered proof: the same leaf, root and proof from x/mod.
		n, s := int64(v.Index), int64(v.Size)
		xleaf := tlog.RecordHash(fmt.Appendf(nil, "tlog test vector entry %d\n", n))
		xroot, err := tlog.TreeHash(s, xt)
		if err != nil {
			t.Fatal(err)
		}
		xproof, err := tlog.ProveRecord(s, n, xt)
		if err != nil {
			t.Fatal(err)
		}
		if xleaf != leaf || xroot != root || !slices.Equal(xproof, xp) {
			t.Errorf("%s: x/mod computes another leaf, root or proof", v.Name)
		}
	}
}

func TestConsistency(t *testing.T) {
	var vs []vectors.Consistency
	load(t, vectors.ConsistencyFile, &vs)
	xt := xtree(t)
	for _, v := range vs {
		raw, xp := hashes(t, v.Proof)
		oldRoot, newRoot := hash32(t, v.OldRoot), hash32(t, v.NewRoot)
		err := proofs.CheckConsistency(raw, v.OldSize, v.NewSize, oldRoot, newRoot)
		checkVerdict(t, v.Name, "proofs.CheckConsistency", v.Valid, err, "")
		if err := tlog.CheckTree(xp, int64(v.NewSize), newRoot, int64(v.OldSize), oldRoot); (err == nil) != v.Valid {
			t.Errorf("%s: x/mod tlog.CheckTree: %v, want valid=%v", v.Name, err, v.Valid)
		}
		if !strings.HasPrefix(v.Name, "old-") || !strings.Contains(v.Name, "-new-") {
			continue
		}
		o, n := int64(v.OldSize), int64(v.NewSize)
		xold, err1 := tlog.TreeHash(o, xt)
		xnew, err2 := tlog.TreeHash(n, xt)
		xproof, err3 := tlog.ProveTree(n, o, xt)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		if xold != oldRoot || xnew != newRoot || !slices.Equal(xproof, xp) {
			t.Errorf("%s: x/mod computes other roots or another proof", v.Name)
		}
	}
}
