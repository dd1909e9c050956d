package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ---------------------------------------------------------------------
// Helpers: model directories and statements in model-signing's shape.

// msWriteModel writes files (model-relative "/" paths to contents) under
// dir.
func msWriteModel(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// msSerialization is predicate.serialization in the order model-signing's
// _FileSerialization and _ShardSerialization build it.
type msSerialization struct {
	Method        string          `json:"method"`
	HashType      string          `json:"hash_type"`
	ShardSize     json.RawMessage `json:"shard_size,omitempty"`
	AllowSymlinks bool            `json:"allow_symlinks"`
	IgnorePaths   []string        `json:"ignore_paths,omitempty"`
}

type msResource struct {
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"`
	Name      string `json:"name"`
}

type msStatement struct {
	Type    string `json:"_type"`
	Subject []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string `json:"predicateType"`
	Predicate     struct {
		Serialization msSerialization `json:"serialization"`
		Resources     []msResource    `json:"resources"`
	} `json:"predicate"`
}

// msStatementJSON writes the statement model-signing's signing.Payload
// builds for these resources, the way it serializes it
// (json_format.MessageToJson: two-space indent, doubles for numbers, no
// HTML escaping): one subject named model whose digest is sha256 over the
// resource digests in order, and the resources as
// {algorithm, digest, name} objects.
func msStatementJSON(t testing.TB, model string, ser msSerialization, resources []ModelResource) []byte {
	t.Helper()
	var st msStatement
	st.Type = StatementV1
	st.PredicateType = ModelSigningV1
	st.Subject = append(st.Subject, struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	}{model, map[string]string{"sha256": strings.TrimPrefix(ModelSubjectDigest(resources), "sha256:")}})
	st.Predicate.Serialization = ser
	st.Predicate.Resources = []msResource{}
	for _, r := range resources {
		st.Predicate.Resources = append(st.Predicate.Resources, msResource{r.Algorithm, hex.EncodeToString(r.Digest), r.Name})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func msFiles() msSerialization {
	return msSerialization{Method: "files", HashType: "sha256"}
}

func msShards(n int) msSerialization {
	return msSerialization{Method: "shards", HashType: "sha256", ShardSize: json.RawMessage(fmt.Sprintf("%d.0", n))}
}

func msHash(t testing.TB, root string, opts ModelHashOptions) []ModelResource {
	t.Helper()
	rs, err := HashModel(root, opts)
	if err != nil {
		t.Fatalf("HashModel(%s): %v", root, err)
	}
	return rs
}

func msNames(rs []ModelResource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

func msSum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func msEqual(a, b []ModelResource) bool {
	return slices.EqualFunc(a, b, func(x, y ModelResource) bool {
		return x.Name == y.Name && x.Algorithm == y.Algorithm && bytes.Equal(x.Digest, y.Digest)
	})
}

// ---------------------------------------------------------------------
// Known answers from the model-signing project itself.

// TestModelSigningKnownAnswers rebuilds models whose model-signing
// signatures are in github.com/sigstore/model-transparency and checks the
// digests it signed: the signed fixtures of scripts/tests (made by
// releases 1.0.0 and 1.1.0: the signme-* files and the decoded payloads
// of their model.sig) and the payload goldens of
// tests/_signing/testdata/signing/TestPayload (made from the models of
// tests/conftest.py).
func TestModelSigningKnownAnswers(t *testing.T) {
	const (
		signme1NL = "bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc" // "signme-1\n"
		signme1   = "f6310066c7320497ea554260c32c43660bff648cb2a61194832cc086077085e1" // "signme-1"
		signme2   = "32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028" // "signme-2"
	)
	sampleFolder := map[string]string{}
	for i := range 2 {
		for j := range 3 {
			sampleFolder[fmt.Sprintf("d%d/f%d%d", i, i, j)] = fmt.Sprintf("This is file f%d%d in d%d.", i, j, i)
		}
	}
	for i := range 4 {
		sampleFolder[fmt.Sprintf("f%d", i)] = fmt.Sprintf("This is file f%d in root.", i)
	}
	deepFolder := map[string]string{}
	for i := range 4 {
		deepFolder[fmt.Sprintf("d0/d1/d2/d3/d4/f%d", i)] = fmt.Sprintf("This is file f%d.", i)
	}
	const known = "This is a simple model" // tests/test_support.py KNOWN_MODEL_TEXT

	for _, tc := range []struct {
		name    string
		files   map[string]string // nil: a single-file model
		single  string
		opts    ModelHashOptions
		ser     msSerialization
		subject string
		first   []string // the first resource names, in order
		digests []string // the first resource digests
	}{
		{
			// scripts/tests/v1.1.0-elliptic-key (and -sigstore,
			// -certificate): signed with --ignore-paths ignore-me, the
			// signature model.sig in the model.
			name:  "v1.1.0 key",
			files: map[string]string{"signme-1": "signme-1\n", "signme-2": "signme-2", "ignore-me": "", "model.sig": "{}"},
			opts:  ModelHashOptions{IgnorePaths: []string{"model.sig", "ignore-me"}},
			ser: msSerialization{Method: "files", HashType: "sha256",
				IgnorePaths: []string{".git", "model.sig", "ignore-me", ".gitattributes", ".gitignore", ".github"}},
			subject: "92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4",
			first:   []string{"signme-1", "signme-2"},
			digests: []string{signme1NL, signme2},
		},
		{
			// scripts/tests/v1.0.0-sigstore and v1.1.0-sigstore.
			name:    "v1.0.0 sigstore",
			files:   map[string]string{"signme-1": "signme-1", "signme-2": "signme-2"},
			ser:     msFiles(),
			subject: "61d4849d9d90076d6215f4d525f13d6574af8e3f67aef3e6f36fc40a14fdd226",
			first:   []string{"signme-1", "signme-2"},
			digests: []string{signme1, signme2},
		},
		{
			// scripts/tests/v1.0.0-elliptic-key: the file signme-1 signed
			// alone; its one resource is named ".".
			name:    "v1.0.0 single file",
			single:  "signme-1\n",
			ser:     msFiles(),
			subject: "afa48c8674afe334b8a7dea34f7b46ab256e9255edf8da2132792341b667a45b",
			first:   []string{"."},
			digests: []string{signme1NL},
		},
		{
			name:    "golden sample_model_folder",
			files:   sampleFolder,
			ser:     msFiles(),
			subject: "143cc682e555951649f18e2761c3d526d2502996f5e32dc187ef7f8a614f8df7",
			first:   []string{"d0/f00", "d0/f01", "d0/f02", "d1/f10", "d1/f11", "d1/f12", "f0", "f1", "f2", "f3"},
		},
		{
			// Shards of 1 GB: every file is one shard, so the subject is
			// the same as by files.
			name:    "golden sample_model_folder_shard",
			files:   sampleFolder,
			opts:    ModelHashOptions{ShardSize: 1000000000},
			ser:     msShards(1000000000),
			subject: "143cc682e555951649f18e2761c3d526d2502996f5e32dc187ef7f8a614f8df7",
			first:   []string{"d0/f00:0:23", "d0/f01:0:23"},
		},
		{
			name:    "golden sample_model_folder_small_shards",
			files:   sampleFolder,
			opts:    ModelHashOptions{ShardSize: 8},
			ser:     msShards(8),
			subject: "2139af57fd2a4f324ac7cd0fc04898cce73d0871b363c8eb3fc07ab7da4c8445",
			first:   []string{"d0/f00:0:8", "d0/f00:8:16", "d0/f00:16:23", "d0/f01:0:8"},
			digests: []string{"a37010c994067764d86540bf479d93b4d0c3bb3955de7b61f951caf2fd0301b0", "03d5bb235fbf6771da18a650a7d01c1d6b85ada9de9cc62d27752a1c2a05548b"},
		},
		{
			name:    "golden deep_model_folder",
			files:   deepFolder,
			ser:     msFiles(),
			subject: "18b5a45fe7983f7194e8ffd96c80f5f0ec53191bf4a32b6aff293f043e816d7a",
			first:   []string{"d0/d1/d2/d3/d4/f0", "d0/d1/d2/d3/d4/f1", "d0/d1/d2/d3/d4/f2", "d0/d1/d2/d3/d4/f3"},
			digests: []string{"6efa14bb03544fcb76045c55f25b9315b6eb5be2d8a85f703193a76b7874c6ff"},
		},
		{
			name:    "golden deep_model_folder_small_shards",
			files:   deepFolder,
			opts:    ModelHashOptions{ShardSize: 8},
			ser:     msShards(8),
			subject: "fe81b684c60474cea9b27ba1de9993e54bb19806664613758aa4d335ee398497",
			first:   []string{"d0/d1/d2/d3/d4/f0:0:8", "d0/d1/d2/d3/d4/f0:8:16", "d0/d1/d2/d3/d4/f1:0:8"},
		},
		{
			name:    "golden sample_model_file",
			single:  known,
			ser:     msFiles(),
			subject: "002d162f867c5eee944e5080d25829b6625be0e3f081f6fbafc7dd655ca2e178",
			first:   []string{"."},
			digests: []string{"3aab065c7181a173b5dd9e9d32a9f79923440b413be1e1ffcdba26a7365f719b"},
		},
		{
			name:    "golden sample_model_file_small_shards",
			single:  known,
			opts:    ModelHashOptions{ShardSize: 8},
			ser:     msShards(8),
			subject: "57d54248751a51781ac2bed647670df0c45d3926e337021585c34a82384b6573",
			first:   []string{".:0:8", ".:8:16", ".:16:22"},
		},
		{
			name:    "golden empty_model_file",
			single:  "",
			ser:     msFiles(),
			subject: "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456",
			first:   []string{"."},
		},
		{
			// An empty file has no shards: no resources at all.
			name:    "golden empty_model_file_small_shards",
			single:  "",
			opts:    ModelHashOptions{ShardSize: 8},
			ser:     msShards(8),
			subject: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		},
		{
			name:    "golden model_folder_with_empty_file",
			files:   map[string]string{"empty_file": ""},
			ser:     msFiles(),
			subject: "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456",
			first:   []string{"empty_file"},
		},
		{
			name:    "golden empty_model_folder",
			files:   map[string]string{},
			ser:     msFiles(),
			subject: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "model")
			if tc.files != nil {
				if err := os.Mkdir(root, 0o755); err != nil {
					t.Fatal(err)
				}
				msWriteModel(t, root, tc.files)
			} else if err := os.WriteFile(root, []byte(tc.single), 0o644); err != nil {
				t.Fatal(err)
			}
			local := msHash(t, root, tc.opts)
			if got := ModelSubjectDigest(local); got != "sha256:"+tc.subject {
				t.Errorf("subject digest %s, model-signing signed sha256:%s (resources %v)", got, tc.subject, msNames(local))
			}
			if len(local) < len(tc.first) || !slices.Equal(msNames(local)[:len(tc.first)], tc.first) {
				t.Errorf("resources %v, want them to start with %v", msNames(local), tc.first)
			}
			for i, d := range tc.digests {
				if got := hex.EncodeToString(local[i].Digest); got != d {
					t.Errorf("resource %s: digest %s, model-signing wrote %s", local[i].Name, got, d)
				}
			}
			// The statement model-signing writes for it reads back to
			// the same resources, and hashing again with the options it
			// records finds the model unchanged.
			st := msStatementJSON(t, "model", tc.ser, local)
			m, err := ParseModelSigning(st)
			if err != nil {
				t.Fatalf("ParseModelSigning: %v\n%s", err, st)
			}
			if m.SubjectDigest != "sha256:"+tc.subject || !msEqual(m.Resources, local) {
				t.Errorf("parsed %s %v, want sha256:%s %v", m.SubjectDigest, msNames(m.Resources), tc.subject, msNames(local))
			}
			again, err := HashModel(root, m.HashOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := CompareModel(m.Resources, again); err != nil {
				t.Errorf("CompareModel with the recorded options: %v", err)
			}
		})
	}
}

// TestModelSigningResourcesReadsModelSigningJSON reads a statement
// written out by hand in the shape of the decoded payload of
// scripts/tests/v1.1.0-elliptic-key/model.sig (keys in the order that
// payload has them, predicate before subject digest checks), not built
// by this file's encoder.
func TestModelSigningResourcesReadsModelSigningJSON(t *testing.T) {
	st := `{
  "_type": "https://in-toto.io/Statement/v1",
  "subject": [
    {
      "name": "v1.1.0-elliptic-key",
      "digest": {
        "sha256": "92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4"
      }
    }
  ],
  "predicateType": "https://model_signing/signature/v1.0",
  "predicate": {
    "resources": [
      {
        "algorithm": "sha256",
        "name": "signme-1",
        "digest": "bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc"
      },
      {
        "algorithm": "sha256",
        "name": "signme-2",
        "digest": "32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028"
      }
    ],
    "serialization": {
      "allow_symlinks": false,
      "method": "files",
      "hash_type": "sha256",
      "ignore_paths": [
        ".git",
        "model.sig",
        "ignore-me",
        ".gitattributes",
        ".gitignore",
        ".github"
      ]
    }
  }
}`
	m, err := ParseModelSigning([]byte(st))
	if err != nil {
		t.Fatal(err)
	}
	if m.Model != "v1.1.0-elliptic-key" || m.Method != "files" || m.HashType != "sha256" || m.AllowSymlinks || len(m.IgnorePaths) != 6 {
		t.Errorf("manifest %+v", m)
	}
	rs, err := ModelSigningResources([]byte(st))
	if err != nil {
		t.Fatal(err)
	}
	want := []ModelResource{
		{"signme-1", "sha256", msSum("signme-1\n")},
		{"signme-2", "sha256", msSum("signme-2")},
	}
	if !msEqual(rs, want) {
		t.Errorf("resources %v", rs)
	}

	// The model as the fixture directory holds it: the recorded ignore
	// paths leave out model.sig and ignore-me.
	dir := filepath.Join(t.TempDir(), "v1.1.0-elliptic-key")
	msWriteModel(t, dir, map[string]string{"signme-1": "signme-1\n", "signme-2": "signme-2", "ignore-me": "", "model.sig": st})
	if err := CompareModel(rs, msHash(t, dir, m.HashOptions())); err != nil {
		t.Error(err)
	}
	// Without them, both are extra files.
	err = CompareModel(rs, msHash(t, dir, ModelHashOptions{}))
	if err == nil || err.Error() != "ignore-me: not in the release (file sha256:"+hex.EncodeToString(msSum(""))+") (and 1 more difference)" {
		t.Errorf("CompareModel without ignore paths: %v", err)
	}

	// A shard size as model-signing writes it, a double.
	sh := strings.Replace(st, `"hash_type": "sha256",`, `"hash_type": "sha256", "shard_size": 1000000000.0,`, 1)
	sh = strings.Replace(sh, `"method": "files"`, `"method": "shards"`, 1)
	sh = strings.ReplaceAll(sh, `"algorithm": "sha256"`, `"algorithm": "sha256-sharded-1000000000"`)
	sh = strings.Replace(sh, `"name": "signme-1"`, `"name": "signme-1:0:9"`, 1)
	sh = strings.Replace(sh, `"name": "signme-2"`, `"name": "signme-2:0:8"`, 1)
	m, err = ParseModelSigning([]byte(sh))
	if err != nil {
		t.Fatal(err)
	}
	if m.ShardSize != 1000000000 || m.HashOptions().ShardSize != 1000000000 {
		t.Errorf("shard size %d", m.ShardSize)
	}
	if err := CompareModel(m.Resources, msHash(t, dir, m.HashOptions())); err != nil {
		t.Error(err)
	}
}

// ---------------------------------------------------------------------
// Round trip, and CompareModel naming what differs.

func TestModelHashRoundTrip(t *testing.T) {
	root := filepath.Join(t.TempDir(), "llm-7b")
	msWriteModel(t, root, map[string]string{
		"config.json":                      `{"layers": 2}`,
		"weights/model-00001.safetensors":  strings.Repeat("A", 3000),
		"weights/model-00002.safetensors":  strings.Repeat("B", 2000),
		"tokenizer/tokenizer.json":         `{}`,
		".hidden":                          "dot files are hashed",
		".git/HEAD":                        "ref: refs/heads/main\n",
		".git/objects/ab/cdef":             "object",
		".gitattributes":                   "*.safetensors filter=lfs",
		".gitignore":                       "*.tmp",
		".github/workflows/release.yml":    "on: push",
		"docs/.git/kept":                   "only the root's .git is ignored",
		"docs/.gitignore":                  "kept too",
		"weights/.gitattributes-not-a-git": "kept",
	})
	if err := os.MkdirAll(filepath.Join(root, "empty/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	local := msHash(t, root, ModelHashOptions{})
	wantNames := []string{".hidden", "config.json", "docs/.git/kept", "docs/.gitignore", "tokenizer/tokenizer.json",
		"weights/.gitattributes-not-a-git", "weights/model-00001.safetensors", "weights/model-00002.safetensors"}
	if !slices.Equal(msNames(local), wantNames) {
		t.Fatalf("resources %v, want %v", msNames(local), wantNames)
	}
	for _, r := range local {
		if r.Algorithm != "sha256" || len(r.Digest) != 32 {
			t.Errorf("resource %+v", r)
		}
	}
	if !bytes.Equal(local[6].Digest, msSum(strings.Repeat("A", 3000))) {
		t.Errorf("digest of %s is not its sha256", local[6].Name)
	}

	st := msStatementJSON(t, "llm-7b", msSerialization{Method: "files", HashType: "sha256", IgnorePaths: []string{".git", ".gitattributes", ".github", ".gitignore"}}, local)
	release, err := ModelSigningResources(st)
	if err != nil {
		t.Fatalf("%v\n%s", err, st)
	}
	if !msEqual(release, local) {
		t.Fatalf("ModelSigningResources %v != HashModel %v", msNames(release), msNames(local))
	}
	var sub msStatement
	if err := json.Unmarshal(st, &sub); err != nil {
		t.Fatal(err)
	}
	if got := ModelSubjectDigest(release); got != "sha256:"+sub.Subject[0].Digest["sha256"] || got != ModelSubjectDigest(local) {
		t.Errorf("subject digest %s", got)
	}
	if err := CompareModel(release, local); err != nil {
		t.Fatal(err)
	}

	// One byte of one file.
	weights := filepath.Join(root, "weights", "model-00001.safetensors")
	changed := []byte(strings.Repeat("A", 3000))
	changed[1234] = 'a'
	if err := os.WriteFile(weights, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	err = CompareModel(release, msHash(t, root, ModelHashOptions{}))
	want := fmt.Sprintf("weights/model-00001.safetensors: digest differs (release sha256:%x, file sha256:%x)", msSum(strings.Repeat("A", 3000)), msSum(string(changed)))
	if err == nil || err.Error() != want {
		t.Errorf("one byte changed:\n got %v\nwant %s", err, want)
	}
	var mm *ModelMismatchError
	if !errors.As(err, &mm) || mm.Name != "weights/model-00001.safetensors" || mm.More != 0 {
		t.Errorf("error %#v", err)
	}
	if err := os.WriteFile(weights, []byte(strings.Repeat("A", 3000)), 0o644); err != nil {
		t.Fatal(err)
	}

	// A file removed.
	tok := filepath.Join(root, "tokenizer", "tokenizer.json")
	if err := os.Remove(tok); err != nil {
		t.Fatal(err)
	}
	err = CompareModel(release, msHash(t, root, ModelHashOptions{}))
	if want := fmt.Sprintf("tokenizer/tokenizer.json: missing (release sha256:%x, no such file)", msSum("{}")); err == nil || err.Error() != want {
		t.Errorf("file removed:\n got %v\nwant %s", err, want)
	}
	msWriteModel(t, root, map[string]string{"tokenizer/tokenizer.json": "{}"})

	// A file added, and one in an ignored directory (not seen).
	msWriteModel(t, root, map[string]string{"weights/adapter.bin": "extra", ".git/index": "ignored"})
	err = CompareModel(release, msHash(t, root, ModelHashOptions{}))
	if want := fmt.Sprintf("weights/adapter.bin: not in the release (file sha256:%x)", msSum("extra")); err == nil || err.Error() != want {
		t.Errorf("file added:\n got %v\nwant %s", err, want)
	}

	// Several differences: the first, in model-signing's order, and a
	// count of the rest.
	if err := os.WriteFile(filepath.Join(root, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = CompareModel(release, msHash(t, root, ModelHashOptions{}))
	if err == nil || !strings.HasPrefix(err.Error(), "config.json: digest differs") || !strings.HasSuffix(err.Error(), "(and 1 more difference)") {
		t.Errorf("two differences: %v", err)
	}
	if err := os.Remove(filepath.Join(root, "weights", "adapter.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "config.json")); err != nil {
		t.Fatal(err)
	}

	// The git paths count when asked for, as model-signing
	// --no-ignore-git-paths.
	withGit := msHash(t, root, ModelHashOptions{IncludeGitPaths: true})
	if !slices.Contains(msNames(withGit), ".git/HEAD") || !slices.Contains(msNames(withGit), ".github/workflows/release.yml") {
		t.Errorf("IncludeGitPaths: %v", msNames(withGit))
	}
	// Ignored paths: a file, a directory, an absolute path in the model,
	// and ones outside it (dropped).
	ig := msHash(t, root, ModelHashOptions{IgnorePaths: []string{"docs", "./.hidden", filepath.Join(root, "weights", "model-00002.safetensors"), "../llm-7b/tokenizer", "/etc"}})
	if want := []string{"tokenizer/tokenizer.json", "weights/.gitattributes-not-a-git", "weights/model-00001.safetensors"}; !slices.Equal(msNames(ig), want) {
		t.Errorf("ignored paths: %v, want %v", msNames(ig), want)
	}
}

func TestModelSingleFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(file, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	local := msHash(t, file, ModelHashOptions{IgnorePaths: []string{".git"}})
	if len(local) != 1 || local[0].Name != "." || !bytes.Equal(local[0].Digest, msSum("weights")) {
		t.Fatalf("single file: %+v", local)
	}
	st := msStatementJSON(t, "model.safetensors", msFiles(), local)
	release, err := ModelSigningResources(st)
	if err != nil || !msEqual(release, local) {
		t.Fatalf("ModelSigningResources: %v %v", release, err)
	}
	if want := "sha256:" + hex.EncodeToString(msSum(string(msSum("weights")))); ModelSubjectDigest(release) != want {
		t.Errorf("subject digest %s, want %s", ModelSubjectDigest(release), want)
	}
	if err := os.WriteFile(file, []byte("weightz"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = CompareModel(release, msHash(t, file, ModelHashOptions{}))
	if err == nil || !strings.HasPrefix(err.Error(), "the model file: digest differs (release sha256:") {
		t.Errorf("single file changed: %v", err)
	}
	// A directory where a file was signed: "." is missing, the files
	// are extra.
	dir := t.TempDir()
	msWriteModel(t, dir, map[string]string{"model.safetensors": "weights"})
	if err := CompareModel(release, msHash(t, dir, ModelHashOptions{})); err == nil || !strings.HasPrefix(err.Error(), "the model file: missing") {
		t.Errorf("directory for a file: %v", err)
	}
}

// TestModelResourceOrder checks model-signing's order: paths compared
// part by part (Python's PurePosixPath ordering), so "a/b" comes before
// "a b" and "a.txt", and shard offsets compared as numbers.
func TestModelResourceOrder(t *testing.T) {
	root := t.TempDir()
	msWriteModel(t, root, map[string]string{"a.txt": "1", "a/b": "2", "a-b": "3", "ab/x": "4", "B": "5", "a b": "6", "a/c/d": "7", "é": "8", "z": "9"})
	want := []string{"B", "a/b", "a/c/d", "a b", "a-b", "a.txt", "ab/x", "z", "é"}
	if got := msNames(msHash(t, root, ModelHashOptions{})); !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	msWriteModel(t, root, map[string]string{"a/b": strings.Repeat("x", 20)})
	var got []string
	for _, n := range msNames(msHash(t, root, ModelHashOptions{ShardSize: 8})) {
		if strings.HasPrefix(n, "a/b:") {
			got = append(got, n)
		}
	}
	if want := []string{"a/b:0:8", "a/b:8:16", "a/b:16:20"}; !slices.Equal(got, want) {
		t.Errorf("shard order %v, want %v", got, want)
	}

	// A release listing the same resources in another order still reads
	// (the subject digest is over the listed order) and compares equal.
	local := msHash(t, root, ModelHashOptions{})
	rev := slices.Clone(local)
	slices.Reverse(rev)
	release, err := ModelSigningResources(msStatementJSON(t, "m", msFiles(), rev))
	if err != nil {
		t.Fatal(err)
	}
	if ModelSubjectDigest(release) == ModelSubjectDigest(local) {
		t.Error("the subject digest does not depend on the order")
	}
	if err := CompareModel(release, local); err != nil {
		t.Error(err)
	}
}

func TestModelSymlinks(t *testing.T) {
	outside := t.TempDir()
	msWriteModel(t, outside, map[string]string{"target.bin": "target", "dir/inner": "inner"})
	root := t.TempDir()
	msWriteModel(t, root, map[string]string{"real.bin": "real"})
	if err := os.Symlink(filepath.Join(outside, "target.bin"), filepath.Join(root, "link.bin")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if err := os.Symlink(filepath.Join(outside, "dir"), filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	if _, err := HashModel(root, ModelHashOptions{}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("symbolic link without AllowSymlinks: %v", err)
	}
	rs := msHash(t, root, ModelHashOptions{AllowSymlinks: true})
	if !slices.Equal(msNames(rs), []string{"link.bin", "real.bin"}) || !bytes.Equal(rs[0].Digest, msSum("target")) {
		t.Errorf("AllowSymlinks: %v", msNames(rs))
	}
	// Ignored links need no permission.
	if rs := msHash(t, root, ModelHashOptions{IgnorePaths: []string{"link.bin", "linkdir"}}); !slices.Equal(msNames(rs), []string{"real.bin"}) {
		t.Errorf("ignored links: %v", msNames(rs))
	}
	// A broken link is an error even when links are allowed.
	if err := os.Symlink(filepath.Join(outside, "gone"), filepath.Join(root, "broken")); err != nil {
		t.Fatal(err)
	}
	if _, err := HashModel(root, ModelHashOptions{AllowSymlinks: true}); err == nil {
		t.Error("broken link hashed")
	}
	// A model path that is a link.
	link := filepath.Join(t.TempDir(), "model")
	if err := os.Symlink(filepath.Join(outside, "dir"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := HashModel(link, ModelHashOptions{}); err == nil {
		t.Error("model path that is a link hashed without AllowSymlinks")
	}
	if rs := msHash(t, link, ModelHashOptions{AllowSymlinks: true}); !slices.Equal(msNames(rs), []string{"inner"}) {
		t.Errorf("linked model: %v", msNames(rs))
	}
	if _, err := HashModel(filepath.Join(outside, "none"), ModelHashOptions{}); err == nil {
		t.Error("missing model hashed")
	}
}

// ---------------------------------------------------------------------
// Search terms.

func TestModelResourceTerms(t *testing.T) {
	root := t.TempDir()
	msWriteModel(t, root, map[string]string{"a.bin": "same", "b.bin": "same", "c.json": "{}"})
	local := msHash(t, root, ModelHashOptions{})
	terms := termStrings(ResourceTerms(local))
	want := []string{
		"model-release/v1 digest=sha256:" + hex.EncodeToString(msSum("same")),
		"model-release/v1 digest=sha256:" + hex.EncodeToString(msSum("{}")),
	}
	if !slices.Equal(terms, want) {
		t.Errorf("terms %q, want %q", terms, want)
	}
	// The same terms a search for digest=sha256:<file hex> looks up.
	q, err := SearchTerms(KindRelease, "digest", "sha256:"+hex.EncodeToString(msSum("{}")))
	if err != nil || !slices.Contains(terms, string(q[0])) {
		t.Errorf("SearchTerms %q (%v) not among %q", q, err, terms)
	}

	// Shards: a file in one shard is indexed by its digest; the shards
	// of a larger file are not file digests.
	msWriteModel(t, root, map[string]string{"big.bin": strings.Repeat("z", 20)})
	sharded := msHash(t, root, ModelHashOptions{ShardSize: 8})
	terms = termStrings(ResourceTerms(sharded))
	want = []string{
		"model-release/v1 digest=sha256:" + hex.EncodeToString(msSum("same")),
		"model-release/v1 digest=sha256:" + hex.EncodeToString(msSum("{}")),
	}
	if !slices.Equal(terms, want) {
		t.Errorf("shard terms %q, want %q", terms, want)
	}
	if ResourceTerms(nil) != nil {
		t.Error("terms for no resources")
	}
}

// TestModelSigningAdmitted checks that a release of a model-signing
// statement is admitted as before, and that its file digests give terms
// a search finds.
func TestModelSigningAdmitted(t *testing.T) {
	root := t.TempDir()
	msWriteModel(t, root, map[string]string{"weights/model-00001.safetensors": "w1", "config.json": "c"})
	local := msHash(t, root, ModelHashOptions{})
	st := msStatementJSON(t, "acme/llm", msFiles(), local)
	s, err := parseStatement(st)
	if err != nil {
		t.Fatalf("parseStatement: %v", err)
	}
	if s.model == nil || s.model.resources != 2 {
		t.Errorf("statement model %+v", s.model)
	}
	rs, err := ModelSigningResources(st)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	q, _ := SearchTerms("", "digest", "sha256:"+hex.EncodeToString(msSum("w1")))
	for _, term := range ResourceTerms(rs) {
		for _, w := range q {
			found = found || bytes.Equal(term, w)
		}
	}
	if !found {
		t.Error("a search for the weights digest finds none of the terms")
	}

	// Admitted, the release carries them: found by each file's digest,
	// once, beside its subject's.
	k := keys(t).ed
	rel, err := Admit(&Submission{Envelope: k.sign(t, st), PublicKey: k.pem(t)}, nil, maxEntry)
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	terms := termStrings(rel.Terms)
	for _, content := range []string{"w1", "c"} {
		want := "model-release/v1 digest=sha256:" + hex.EncodeToString(msSum(content))
		if n := strings.Count(strings.Join(terms, "\n")+"\n", want+"\n"); n != 1 {
			t.Errorf("the release has the term %q %d times, want once; terms %q", want, n, terms)
		}
	}
	if want := "model-release/v1 digest=" + ModelSubjectDigest(local); !slices.Contains(terms, want) {
		t.Errorf("the release lacks its subject's term %q: %q", want, terms)
	}
}

// ---------------------------------------------------------------------
// Malformed statements.

func TestModelSigningOtherPredicate(t *testing.T) {
	st, _ := json.Marshal(map[string]any{
		"_type":         StatementV1,
		"subject":       []any{map[string]any{"name": "m", "digest": map[string]string{"sha256": sha256Hex("m")}}},
		"predicateType": SLSAProvenanceV1,
		"predicate":     map[string]any{"resources": "not model-signing"},
	})
	rs, err := ModelSigningResources(st)
	if rs != nil || err != nil {
		t.Errorf("SLSA statement: %v %v", rs, err)
	}
	if _, err := ModelSigningResources([]byte("{")); err == nil {
		t.Error("not JSON")
	}
}

func TestModelSigningMalformed(t *testing.T) {
	d := func(s string) string { return hex.EncodeToString(msSum(s)) }
	res := func(pairs ...string) []any {
		var out []any
		for i := 0; i < len(pairs); i += 3 {
			out = append(out, map[string]any{"name": pairs[i], "algorithm": pairs[i+1], "digest": pairs[i+2]})
		}
		return out
	}
	files := map[string]any{"method": "files", "hash_type": "sha256", "allow_symlinks": false}
	shards := map[string]any{"method": "shards", "hash_type": "sha256", "allow_symlinks": false, "shard_size": 8.0}
	// build writes a statement whose subject digest is right for the
	// listed digests (unless subject is given), to test one thing each.
	build := func(ser any, resources any, subject ...string) []byte {
		h := sha256.New()
		if rl, ok := resources.([]any); ok {
			for _, r := range rl {
				if m, ok := r.(map[string]any); ok {
					if s, ok := m["digest"].(string); ok {
						b, _ := hex.DecodeString(s)
						h.Write(b)
					}
				}
			}
		}
		sub := []any{map[string]any{"name": "m", "digest": map[string]string{"sha256": hex.EncodeToString(h.Sum(nil))}}}
		if len(subject) > 0 {
			sub = nil
			for _, s := range subject {
				sub = append(sub, map[string]any{"name": "m" + s[:4], "digest": map[string]string{"sha256": s}})
			}
		}
		pred := map[string]any{"resources": resources}
		if ser != nil {
			pred["serialization"] = ser
		}
		b, err := json.Marshal(map[string]any{"_type": StatementV1, "subject": sub, "predicateType": ModelSigningV1, "predicate": pred})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	with := func(m map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for kk, vv := range m {
			out[kk] = vv
		}
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}

	// The well-formed one each case alters.
	if _, err := ModelSigningResources(build(files, res("a", "sha256", d("a"), "b/c", "sha256", d("c")))); err != nil {
		t.Fatalf("well-formed: %v", err)
	}
	if _, err := ModelSigningResources(build(shards, res("a:0:8", "sha256-sharded-8", d("a"), "a:8:9", "sha256-sharded-8", d("b")))); err != nil {
		t.Fatalf("well-formed shards: %v", err)
	}
	if rs, err := ModelSigningResources(build(files, []any{})); err != nil || rs == nil || len(rs) != 0 {
		t.Fatalf("empty model: %v %v", rs, err)
	}

	for _, tc := range []struct {
		name        string
		st          []byte
		unsupported bool
		msg         string
	}{
		{"uppercase hex", build(files, res("a", "sha256", strings.ToUpper(d("a")))), false, "64 lowercase hex"},
		{"short digest", build(files, res("a", "sha256", d("a")[:62])), false, "64 lowercase hex"},
		{"not hex", build(files, res("a", "sha256", "zz"+d("a")[2:])), false, "64 lowercase hex"},
		{"spaced hex", build(files, res("a", "sha256", d("a")[:2]+" "+d("a")[3:])), false, "64 lowercase hex"},
		{"digest not a string", build(files, []any{map[string]any{"name": "a", "algorithm": "sha256", "digest": 1}}), false, "no digest string"},
		{"no name", build(files, []any{map[string]any{"algorithm": "sha256", "digest": d("a")}}), false, "no name string"},
		{"dot dot", build(files, res("..", "sha256", d("a"))), false, "leaves the model root"},
		{"dot dot prefix", build(files, res("../etc/passwd", "sha256", d("a"))), false, "leaves the model root"},
		{"dot dot inside", build(files, res("a/../b", "sha256", d("a"))), false, "not a clean relative path"},
		{"dot part", build(files, res("./a", "sha256", d("a"))), false, "not a clean relative path"},
		{"empty part", build(files, res("a//b", "sha256", d("a"))), false, "not a clean relative path"},
		{"trailing slash", build(files, res("a/", "sha256", d("a"))), false, "not a clean relative path"},
		{"absolute", build(files, res("/etc/passwd", "sha256", d("a"))), false, "absolute"},
		{"empty name", build(files, res("", "sha256", d("a"))), false, "is empty"},
		{"control character", build(files, res("a\nb", "sha256", d("a"))), false, "control characters"},
		{"too long", build(files, res(strings.Repeat("a/", 2100), "sha256", d("a"))), false, "longer than"},
		{"duplicate", build(files, res("a", "sha256", d("a"), "b", "sha256", d("b"), "a", "sha256", d("a"))), false, "listed twice"},
		{"dot with others", build(files, res(".", "sha256", d("a"), "b", "sha256", d("b"))), false, "single-file"},
		{"wrong algorithm", build(files, res("a", "sha512", d("a"))), false, "algorithm"},
		{"sharded algorithm by files", build(files, res("a", "sha256-sharded-8", d("a"))), false, "algorithm"},
		{"blake3 resource", build(files, res("a", "blake3", d("a"))), true, "blake3"},
		{"blake2b hash_type", build(with(files, "hash_type", "blake2b"), res("a", "blake2b", d("a"))), true, "blake2b"},
		{"unknown hash_type", build(with(files, "hash_type", "md5"), res("a", "md5", d("a"))), false, "hash_type"},
		{"unknown method", build(with(files, "method", "tensors"), res("a", "sha256", d("a"))), true, "tensors"},
		{"no method", build(with(files, "method", nil), res("a", "sha256", d("a"))), false, "no method"},
		{"no hash_type", build(with(files, "hash_type", nil), res("a", "sha256", d("a"))), false, "no hash_type"},
		{"no allow_symlinks", build(with(files, "allow_symlinks", nil), res("a", "sha256", d("a"))), false, "allow_symlinks"},
		{"allow_symlinks string", build(with(files, "allow_symlinks", "false"), res("a", "sha256", d("a"))), false, "allow_symlinks"},
		{"ignore_paths not strings", build(with(files, "ignore_paths", []any{1}), res("a", "sha256", d("a"))), false, "ignore_paths"},
		{"no serialization", build(nil, res("a", "sha256", d("a"))), false, "no serialization"},
		{"no resources", build(files, nil), false, "no resources"},
		{"resources not a list", build(files, map[string]any{}), false, "no resources"},
		{"resource not an object", build(files, []any{"a"}), false, "not an object"},
		{"subject digest", build(files, res("a", "sha256", d("a")), d("b")), false, "not the digest of the resources"},
		{"two subjects", build(files, res("a", "sha256", d("a")), d("a"), d("b")), false, "exactly one"},
		{"no shard_size", build(with(shards, "shard_size", nil), res("a:0:8", "sha256-sharded-8", d("a"))), false, "shard_size"},
		{"fractional shard_size", build(with(shards, "shard_size", 8.5), res("a:0:8", "sha256-sharded-8", d("a"))), false, "shard_size"},
		{"shard_size string", build(with(shards, "shard_size", "8"), res("a:0:8", "sha256-sharded-8", d("a"))), false, "shard_size"},
		{"zero shard_size", build(with(shards, "shard_size", 0), res("a:0:8", "sha256-sharded-0", d("a"))), false, "shard_size"},
		{"shard algorithm size", build(shards, res("a:0:8", "sha256-sharded-9", d("a"))), false, "algorithm"},
		{"shard not a range", build(shards, res("a", "sha256-sharded-8", d("a"))), false, "<path>:<start>:<end>"},
		{"shard colon in path", build(shards, res("a:b:0:8", "sha256-sharded-8", d("a"))), false, "<path>:<start>:<end>"},
		{"shard leading zero", build(shards, res("a:00:8", "sha256-sharded-8", d("a"))), false, "decimal integer"},
		{"shard negative", build(shards, res("a:-8:0", "sha256-sharded-8", d("a"))), false, "decimal integer"},
		{"shard backwards", build(shards, res("a:8:8", "sha256-sharded-8", d("a"))), false, "ends before"},
		{"shard too long", build(shards, res("a:0:9", "sha256-sharded-8", d("a"))), false, "shard of 8 bytes"},
		{"shard misaligned", build(shards, res("a:4:8", "sha256-sharded-8", d("a"))), false, "shard of 8 bytes"},
		{"shard dot dot", build(shards, res("../a:0:8", "sha256-sharded-8", d("a"))), false, "leaves the model root"},
		{"shard duplicate", build(shards, res("a:0:8", "sha256-sharded-8", d("a"), "a:0:8", "sha256-sharded-8", d("a"))), false, "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := ModelSigningResources(tc.st)
			if err == nil {
				t.Fatalf("accepted: %v\n%s", rs, tc.st)
			}
			if rs != nil {
				t.Errorf("resources with an error: %v", rs)
			}
			if tc.unsupported != errors.Is(err, ErrModelHashUnsupported) || tc.unsupported == errors.Is(err, ErrInvalid) {
				t.Errorf("error %v: unsupported %v, invalid %v; want unsupported %v", err, errors.Is(err, ErrModelHashUnsupported), errors.Is(err, ErrInvalid), tc.unsupported)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestModelSigningTooManyResources(t *testing.T) {
	resources := func(n int) []ModelResource {
		rs := make([]ModelResource, n)
		for i := range rs {
			rs[i] = ModelResource{Name: fmt.Sprintf("f%06d", i), Algorithm: "sha256", Digest: msSum(fmt.Sprint(i))}
		}
		return rs
	}
	// At the real bound: refused (by the statement's own size bound,
	// maxJSONStructure, before this one).
	if _, err := ModelSigningResources(msStatementJSON(t, "m", msFiles(), resources(maxModelResources+1))); err == nil || !errors.Is(err, ErrInvalid) {
		t.Errorf("%d resources: %v", maxModelResources+1, err)
	}
	// This bound itself, lowered for the test.
	defer func(n int) { maxModelResources = n }(maxModelResources)
	maxModelResources = 10
	if _, err := ModelSigningResources(msStatementJSON(t, "m", msFiles(), resources(10))); err != nil {
		t.Errorf("10 resources: %v", err)
	}
	_, err := ModelSigningResources(msStatementJSON(t, "m", msFiles(), resources(11)))
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "11 resources, at most 10") {
		t.Errorf("11 resources: %v", err)
	}
}

func TestCompareModelHashedDifferently(t *testing.T) {
	root := t.TempDir()
	msWriteModel(t, root, map[string]string{"a": strings.Repeat("a", 20)})
	release := msHash(t, root, ModelHashOptions{ShardSize: 8})
	err := CompareModel(release, msHash(t, root, ModelHashOptions{}))
	if err == nil || !strings.Contains(err.Error(), "the release hashed the model with sha256-sharded-8, the local files were hashed with sha256") {
		t.Errorf("shards against files: %v", err)
	}
	if err := CompareModel(nil, nil); err != nil {
		t.Errorf("two empty models: %v", err)
	}
	if err := CompareModel(release, append(slices.Clone(release), release[0])); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a resource twice: %v", err)
	}
	// A name with control characters is quoted in the message.
	e := &ModelMismatchError{Name: "a\x1b[2Kb", Local: msSum("x")}
	if !strings.HasPrefix(e.Error(), `"a\x1b[2Kb": not in the release`) {
		t.Errorf("message %q", e.Error())
	}
	if _, err := HashModel(root, ModelHashOptions{ShardSize: -1}); err == nil {
		t.Error("negative shard size")
	}
}
