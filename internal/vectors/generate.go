package vectors

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tlogai/tlog/signer"
)

// Dir is where the vectors live, relative to the repository root.
const Dir = "testdata/vectors"

// The files Generate writes, in the order the README lists them.
const (
	CommitmentsFile = "commitments.json"
	DecisionsFile   = "decisions.json"
	ReleasesFile    = "releases.json"
	CheckpointsFile = "checkpoints.json"
	TlogProofsFile  = "tlog_proofs.json"
	InclusionFile   = "inclusion.json"
	ConsistencyFile = "consistency.json"
	ReadmeFile      = "README.md"
)

// Generate builds every vector file in memory: file name → contents. The
// output depends on nothing but this code and the code it calls (keys
// come from fixed seeds, cosignatures from a fixed clock), so two runs
// give the same bytes.
func Generate() (map[string][]byte, error) {
	k, err := newKeys()
	if err != nil {
		return nil, err
	}
	t, err := newTree(treeSize)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	counts := map[string]int{}
	for _, f := range []struct {
		name string
		make func() (any, int, error)
	}{
		{CommitmentsFile, func() (any, int, error) { v, err := commitments(); return v, len(v), err }},
		{DecisionsFile, func() (any, int, error) { v, err := decisions(); return v, len(v), err }},
		{ReleasesFile, func() (any, int, error) { v, err := releases(k); return v, len(v), err }},
		{CheckpointsFile, func() (any, int, error) {
			v, err := checkpoints(k, t)
			if err != nil {
				return nil, 0, err
			}
			return v, len(v.Cases), nil
		}},
		{TlogProofsFile, func() (any, int, error) {
			v, err := tlogProofs(k, t)
			if err != nil {
				return nil, 0, err
			}
			return v, len(v.Cases), nil
		}},
		{InclusionFile, func() (any, int, error) { v, err := inclusion(t); return v, len(v), err }},
		{ConsistencyFile, func() (any, int, error) { v, err := consistency(t); return v, len(v), err }},
	} {
		v, n, err := f.make()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		b, err := encode(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		files[f.name] = b
		counts[f.name] = n
	}
	files[ReadmeFile] = readme(counts)
	return files, nil
}

// Diff compares files with the ones in dir and returns one line per
// difference: a file that differs, is missing, or is a .json file of dir
// that Generate does not make.
func Diff(dir string, files map[string][]byte) ([]string, error) {
	var out []string
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case errors.Is(err, os.ErrNotExist):
			out = append(out, name+": missing")
		case err != nil:
			return nil, err
		case !bytes.Equal(got, files[name]):
			out = append(out, name+": differs from the generated file")
		}
	}
	stale, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, p := range stale {
		if _, ok := files[filepath.Base(p)]; !ok {
			out = append(out, filepath.Base(p)+": not generated (stale)")
		}
	}
	return out, nil
}

// Write writes files into dir, creating it if needed.
func Write(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// encode is JSON, 2-space indented, '<', '>' and '&' literal, with a final
// newline.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// seed derives 32 fixed bytes from a label: every key and salt of the
// vectors comes from one.
func seed(label string) []byte {
	s := sha256.Sum256([]byte("tlog test vectors/" + label))
	return s[:]
}

// Key names and the fixed clock of the witnesses.
const (
	LogName      = "vectors.tlog.example/log"
	witnessClock = 1767225600 // 2026-01-01T00:00:00Z
)

// keys are the vectors' keys, all from fixed seeds.
type keys struct {
	log      *signer.Signer // the log
	impostor *signer.Signer // another key with the log's name
	// witnesses a, b and c of the policy, and a stranger it does not name.
	witnesses [3]*signer.Cosigner
	stranger  *signer.Cosigner
	// witnessVkeys are the verifier keys of a, b and c.
	witnessVkeys [3]string
	policy       string
	// publisher signs releases; publisher2 is another key.
	publisher, publisher2 ed25519.PrivateKey
}

func newKeys() (*keys, error) {
	k := &keys{}
	logKey := func(label, name string) (*signer.Signer, error) {
		// signer.GenerateKey reads the 32-byte Ed25519 seed from the
		// reader, so a fixed seed makes a fixed key in its format.
		skey, _, err := signer.GenerateKey(bytes.NewReader(seed(label)), name)
		if err != nil {
			return nil, err
		}
		return signer.NewSigner(skey)
	}
	var err error
	if k.log, err = logKey("log key", LogName); err != nil {
		return nil, err
	}
	if k.impostor, err = logKey("impostor log key", LogName); err != nil {
		return nil, err
	}
	witness := func(label, name string, offset int64) (*signer.Cosigner, string, error) {
		skey, vkey, err := signer.GenerateWitnessKey(bytes.NewReader(seed(label)), name)
		if err != nil {
			return nil, "", err
		}
		t := time.Unix(witnessClock+offset, 0)
		c, err := signer.NewCosigner(skey, func() time.Time { return t })
		return c, vkey, err
	}
	for i, n := range []string{"a", "b", "c"} {
		if k.witnesses[i], k.witnessVkeys[i], err = witness("witness key "+n, "witness-"+n+".vectors.example", int64(i)); err != nil {
			return nil, err
		}
	}
	if k.stranger, _, err = witness("witness key stranger", "stranger.vectors.example", 10); err != nil {
		return nil, err
	}
	var p strings.Builder
	p.WriteString("# tlog test vectors: the log, three witnesses, a quorum of any two.\n")
	p.WriteString("log " + k.log.VerifierKey() + "\n")
	for i, n := range []string{"a", "b", "c"} {
		p.WriteString("witness " + n + " " + k.witnessVkeys[i] + "\n")
	}
	p.WriteString("group two-of-three 2 a b c\n")
	p.WriteString("quorum two-of-three\n")
	k.policy = p.String()
	if _, err := signer.ParsePolicy([]byte(k.policy)); err != nil {
		return nil, err
	}
	k.publisher = ed25519.NewKeyFromSeed(seed("publisher key"))
	k.publisher2 = ed25519.NewKeyFromSeed(seed("other publisher key"))
	return k, nil
}

// verdict checks the error substring want against the errors of the
// failing verdicts of a case: a failing verdict needs a substring, and
// every failing verdict must contain it. It returns the substring to
// record ("" when every verdict passed).
func verdict(name, want string, errs ...error) (string, error) {
	failed := false
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed = true
		if want == "" {
			return "", fmt.Errorf("case %q is refused (%v), but has no error substring", name, err)
		}
		if !strings.Contains(err.Error(), want) {
			return "", fmt.Errorf("case %q: error %q does not contain %q", name, err, want)
		}
	}
	if !failed {
		return "", nil
	}
	return want, nil
}
