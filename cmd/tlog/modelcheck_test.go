package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlogai/tlog/attest"
)

// modelSigningStatement is the statement model_signing writes for the
// model at dir (files serialization, sha256), built from the files.
func modelSigningStatement(t *testing.T, name, dir string) (stmt []byte, resources []attest.ModelResource) {
	t.Helper()
	rs, err := attest.HashModel(dir, attest.ModelHashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	for _, r := range rs {
		items = append(items, fmt.Sprintf(`{"name":%q,"algorithm":"sha256","digest":%q}`, r.Name, hex.EncodeToString(r.Digest)))
	}
	subject := strings.TrimPrefix(attest.ModelSubjectDigest(rs), "sha256:")
	stmt = fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{"sha256":%q}}],"predicateType":"https://model_signing/signature/v1.0","predicate":{"serialization":{"method":"files","hash_type":"sha256","allow_symlinks":false,"ignore_paths":[]},"resources":[%s]}}`,
		name, subject, strings.Join(items, ","))
	return stmt, rs
}

// TestVerifyModel: a model-signing release is found by the digest of one
// of its files, and tlog verify --model passes for the right directory
// and fails, naming the file, when one byte of one file changes (or a
// file goes missing or is added).
func TestVerifyModel(t *testing.T) {
	l := startAILog(t, "model log")
	model := filepath.Join(l.dir, "acme-llm")
	files := map[string]string{
		"config.json":                     `{"layers":2}`,
		"weights/model-00001.safetensors": strings.Repeat("w", 4096),
		"weights/model-00002.safetensors": strings.Repeat("v", 4096),
		"tokenizer/vocab.txt":             "a\nb\n",
		".git/HEAD":                       "ref: refs/heads/main\n", // ignored, as model_signing ignores it
	}
	for name, content := range files {
		p := filepath.Join(model, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stmt, rs := modelSigningStatement(t, "acme-llm", model)
	if len(rs) != 4 {
		t.Fatalf("hashed %d files, want 4 (.git ignored)", len(rs))
	}
	pub := newPublisher(t, "ed25519")
	env := l.file("model.sig.json", pub.sign(t, stmt))
	key := l.file("publisher.pub", pub.pemPub)
	proof := filepath.Join(l.dir, "model.tlog-proof")
	r := runTlogFor(t, time.Minute, nil, "attest", "--log", l.url(), "--envelope", env, "--key", key, "--out", proof)
	expectOK(t, "attest of a model-signing release", r)
	o := parseAttest(t, "attest", r)

	// Found by the digest of a file, not only by the subject's.
	var weights string
	for _, res := range rs {
		if res.Name == "weights/model-00002.safetensors" {
			weights = "sha256:" + hex.EncodeToString(res.Digest)
		}
	}
	if got := searchIndices(t, l, "--digest", weights); !slices.Equal(got, []int64{o.index}) {
		t.Errorf("search --digest of weights/model-00002.safetensors = %v, want [%d]", got, o.index)
	}
	if got := searchIndices(t, l, "--digest", attest.ModelSubjectDigest(rs)); !slices.Equal(got, []int64{o.index}) {
		t.Errorf("search --digest of the subject = %v, want [%d]", got, o.index)
	}

	verify := func(what string, wantOK bool, want ...string) result {
		t.Helper()
		r := runTlogFor(t, time.Minute, nil, "verify", "--key", l.pub, "--attestation", env, "--publisher-key", key, "--proof", proof, "--model", model)
		if (r.code == 0) != wantOK {
			logResult(t, what, r)
			t.Fatalf("%s: exit %d, want ok=%v", what, r.code, wantOK)
		}
		for _, w := range want {
			if !strings.Contains(r.stdout+r.stderr, w) {
				logResult(t, what, r)
				t.Errorf("%s: output lacks %q", what, w)
			}
		}
		return r
	}
	subject := attest.ModelSubjectDigest(rs)
	verify("verify --model of the right directory", true, "verified: index", "model subject digest: "+subject+" in the release, "+subject+" from", "model files: all 4 match the release")

	// One byte of one file.
	w2 := filepath.Join(model, "weights", "model-00002.safetensors")
	if err := os.WriteFile(w2, []byte(strings.Repeat("v", 4095)+"x"), 0o644); err != nil {
		t.Fatal(err)
	}
	verify("verify --model after one byte changed", false, "not verified: model", "weights/model-00002.safetensors: digest differs", "model subject digest: "+subject+" in the release")
	if err := os.WriteFile(w2, []byte(strings.Repeat("v", 4096)), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file missing, a file added.
	vocab := filepath.Join(model, "tokenizer", "vocab.txt")
	if err := os.Rename(vocab, vocab+".bak"); err != nil {
		t.Fatal(err)
	}
	verify("verify --model with a file renamed", false, "tokenizer/vocab.txt: missing", "(and 1 more difference)")
	if err := os.Rename(vocab+".bak", vocab); err != nil {
		t.Fatal(err)
	}
	// The attestation file inside the model (where model_signing writes
	// model.sig) is not taken for a model file.
	inside := filepath.Join(model, "model.sig")
	if err := os.WriteFile(inside, mustRead(t, env), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runTlogFor(t, time.Minute, nil, "verify", "--key", l.pub, "--attestation", inside, "--publisher-key", key, "--proof", proof, "--model", model)
	expectOK(t, "verify --model with the attestation inside the model", r)

	// --model needs --attestation, and a release that is not model-signing.
	r = runTlog(t, "verify", "--key", l.pub, "--entry", env, "--proof", proof, "--model", model)
	if r.code == 0 || !strings.Contains(r.stderr, "--model goes with --attestation") {
		logResult(t, "verify --model without --attestation", r)
		t.Errorf("verify --model without --attestation: exit %d", r.code)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
