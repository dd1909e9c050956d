package attest

// Artifact binding for model-signing releases.
//
// What model-signing (github.com/sigstore/model-transparency, Python
// package model_signing v1.x) writes, read from its source at commit
// e3430730 (March 2026; releases 1.0.0 to 1.1.1 write the same):
//
//   - The DSSE payload (application/vnd.in-toto+json) is an in-toto
//     Statement v1 with exactly one subject and predicateType
//     https://model_signing/signature/v1.0 (src/model_signing/_signing/
//     signing.py, Payload). The predicate has two fields: "serialization"
//     and "resources"; verifiers of v1.0 ignore any other field. The JSON
//     is protobuf's MessageToJson of the statement, indented by two
//     spaces; object keys come in no fixed order (they differ between the
//     signed fixtures of scripts/tests/v1.1.0-*), and numbers inside the
//     predicate are doubles, so a shard size is written 1000000000.0.
//   - "resources" is a list of {"name", "algorithm", "digest"}, one per
//     manifest item. With the default serialization, method "files", an
//     item is a file: name is its path relative to the model root as a
//     POSIX path (pathlib.PurePosixPath of path.relative_to(model_path):
//     "/"-separated, no "." or ".." parts, no trailing slash; manifest.py
//     FileManifestItem); algorithm is the hash's name ("sha256", the
//     default; "blake2b" and "blake3" when chosen, hashing.py and
//     _hashing/memory.py); digest is the lowercase hex of the hash of the
//     whole file (bytes.hex()). A model that is a single file has one
//     resource, named "." (relative_to of the file to itself); see
//     scripts/tests/v1.0.0-elliptic-key and the sample_model_file golden.
//     With method "shards", an item is a byte range of a file: name is
//     "<path>:<start>:<end>" (end exclusive), ranges of shard_size bytes
//     from 0 with a shorter last one, empty files have none; algorithm is
//     "sha256-sharded-<shard_size>" and digest the sha256 of the range
//     (_serialization/file_shard.py, _hashing/io.py ShardedFileHasher).
//   - Resources are sorted by manifest key (Manifest.resource_descriptors:
//     sorted() over _File or _Shard dataclasses): by path compared part by
//     part (PurePath ordering compares the lists of "/"-separated parts,
//     so "a/b" sorts before "a.txt"), then, for shards, by start and end
//     as integers.
//   - "serialization" records how to hash again: {"method": "files" or
//     "shards", "hash_type": "sha256", "allow_symlinks": bool, and for
//     shards "shard_size": int}, plus "ignore_paths" (model-root-relative
//     paths left out, from 1.1.0; 1.0.x did not record them) when some were
//     ignored.
//   - The subject is {"name": <the model directory's or file's base name,
//     informative only>, "digest": {"sha256": <hex>}}, where the digest is
//     sha256 over the concatenated raw digest bytes of the resources in
//     the order listed (signing.py Payload; the verifier,
//     dsse_payload_to_manifest, recomputes it in listed order and refuses
//     a mismatch). `model_signing digest PATH` prints it as sha256:<hex>.
//
// What is hashed (hashing.py Config, _serialization/file.py,
// serialization.py): the model path and everything under it
// (model_path.glob("**/*"), which includes dot files and does not descend
// into symlinked directories); paths under an ignored path are skipped
// (lexically: the path is the ignored path or below it); then every
// remaining path must be a regular file or a directory, and a symbolic
// link is an error unless allow_symlinks, in which case a link to a file
// is hashed as its target and a link to a directory is skipped; other file
// types are errors; directories contribute nothing (an empty directory
// leaves no trace). By default .git, .gitattributes, .github and
// .gitignore at the model root (only there) are ignored; the CLI also
// ignores the signature file (model.sig) when it lies in the model, and
// verification adds the statement's ignore_paths. Files are read whole in
// 1 MiB chunks; there is no normalisation of contents.
//
// The old experimental format (predicateType
// https://model_signing/Digests/v0.1, model_signing 0.2) lists every file
// as a subject; the log already indexes those digests as subjects, so
// nothing here handles it.

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrModelHashUnsupported is wrapped by the errors for model-signing
// statements that are well formed but hashed in a way this package cannot
// recompute: another hash than sha256 (model-signing also offers blake2b
// and blake3) or an unknown serialization method. A caller that only
// indexes resources may skip such a statement rather than refuse it.
var ErrModelHashUnsupported = errors.New("unsupported model-signing hashing")

// Model-signing formats.
const (
	// ModelSigningFiles is the serialization method hashing whole files.
	ModelSigningFiles = "files"
	// ModelSigningShards is the serialization method hashing byte ranges.
	ModelSigningShards = "shards"

	modelHashSHA256 = "sha256"
	shardedPrefix   = "sha256-sharded-"
)

// Bounds on what a model-signing statement may hold.
var (
	// maxModelResources bounds the resources of one statement. (The
	// statement parser's bound on JSON separators, maxJSONStructure,
	// refuses statements of more than about 35,000 resources first.)
	maxModelResources = 100000
	// maxModelIgnorePaths bounds serialization.ignore_paths.
	maxModelIgnorePaths = 10000
)

// maxModelPathLength bounds a resource name or an ignored path (PATH_MAX).
const maxModelPathLength = 4096

// ModelResource is one item of a model-signing manifest: a file (method
// files) or a byte range of a file (method shards, named
// "<path>:<start>:<end>"), with its digest.
type ModelResource struct {
	// Name is the path relative to the model root, "/"-separated; "." for
	// a model that is a single file.
	Name string
	// Algorithm is "sha256" for a file, "sha256-sharded-<size>" for a
	// shard.
	Algorithm string
	// Digest is the raw sha256 digest (32 bytes).
	Digest []byte
}

// ModelManifest is a parsed model-signing v1.0 statement.
type ModelManifest struct {
	// Model is the subject name: the model directory's or file's base
	// name when signed; informative only.
	Model string
	// SubjectDigest is the subject's sha256 digest, checked to be
	// ModelSubjectDigest(Resources).
	SubjectDigest string
	// Method is ModelSigningFiles or ModelSigningShards.
	Method string
	// HashType is the hash of every resource: "sha256".
	HashType string
	// ShardSize is the shard size in bytes, for method shards.
	ShardSize int64
	// AllowSymlinks records whether symbolic links were followed.
	AllowSymlinks bool
	// IgnorePaths are the model-root-relative paths left out when signing,
	// as recorded (model-signing 1.1 and later).
	IgnorePaths []string
	// Resources are in the order the statement lists them (model-signing
	// writes them sorted).
	Resources []ModelResource
}

// HashOptions are the options to hash a local copy of the model the way
// it was hashed for this manifest: the same method and shard size, the
// same symlink rule, the recorded ignored paths and the default git ones
// (as model_signing verify does).
func (m *ModelManifest) HashOptions() ModelHashOptions {
	o := ModelHashOptions{AllowSymlinks: m.AllowSymlinks, IgnorePaths: slices.Clone(m.IgnorePaths)}
	if m.Method == ModelSigningShards {
		o.ShardSize = m.ShardSize
	}
	return o
}

// ModelSigningResources returns the resources of a model-signing v1.0
// statement (see ParseModelSigning), or nil and no error for a statement
// of another predicate type.
func ModelSigningResources(statement []byte) ([]ModelResource, error) {
	m, err := ParseModelSigning(statement)
	if m == nil || err != nil {
		return nil, err
	}
	return m.Resources, nil
}

// ParseModelSigning parses an in-toto statement whose predicateType is
// model-signing's v1.0 and checks it strictly: one subject, whose sha256
// digest is the digest of the resources; a serialization of method files
// or shards with hash_type sha256; resources with clean relative POSIX
// names (no "..", no "." part, no leading or trailing "/"; "." alone only
// as the one file of a single-file model), no name twice, the algorithm
// the serialization implies, and digests of 64 lowercase hex digits (as
// model-signing writes them); at most 100,000 resources. It returns nil
// and no error for a statement of any other predicate type. Fields of the
// predicate other than serialization and resources are ignored, as
// model-signing's v1.0 verifiers do.
func ParseModelSigning(statement []byte) (*ModelManifest, error) {
	st, err := parseStatement(statement)
	if err != nil {
		return nil, err
	}
	if st.PredicateType != ModelSigningV1 {
		return nil, nil
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: model-signing statement: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if len(st.Subjects) != 1 {
		return nil, bad("has %d subjects, model-signing writes exactly one", len(st.Subjects))
	}
	m := &ModelManifest{Model: st.Subjects[0].Name, SubjectDigest: "sha256:" + st.Subjects[0].Digest["sha256"]}

	var pred struct {
		Serialization map[string]json.RawMessage `json:"serialization"`
		Resources     []json.RawMessage          `json:"resources"`
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(st.Predicate, &top); err != nil || top == nil {
		return nil, bad("predicate is not an object")
	}
	if err := json.Unmarshal(top["serialization"], &pred.Serialization); err != nil || pred.Serialization == nil {
		return nil, bad("predicate has no serialization object")
	}
	if raw, ok := top["resources"]; !ok || json.Unmarshal(raw, &pred.Resources) != nil || pred.Resources == nil {
		return nil, bad("predicate has no resources list")
	}
	if err := m.readSerialization(pred.Serialization, bad); err != nil {
		return nil, err
	}
	if len(pred.Resources) > maxModelResources {
		return nil, bad("%d resources, at most %d", len(pred.Resources), maxModelResources)
	}

	algorithm := modelHashSHA256
	if m.Method == ModelSigningShards {
		algorithm = shardedPrefix + strconv.FormatInt(m.ShardSize, 10)
	}
	m.Resources = make([]ModelResource, 0, len(pred.Resources))
	seen := make(map[string]bool, len(pred.Resources))
	paths := map[string]bool{}
	for i, raw := range pred.Resources {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
			return nil, bad("resource %d is not an object", i)
		}
		var r struct{ name, algorithm, digest string }
		for _, f := range []struct {
			key string
			out *string
		}{{"name", &r.name}, {"algorithm", &r.algorithm}, {"digest", &r.digest}} {
			v, ok := fields[f.key]
			if !ok || json.Unmarshal(v, f.out) != nil {
				return nil, bad("resource %d has no %s string", i, f.key)
			}
		}
		p, err := m.checkResourceName(r.name)
		if err != nil {
			return nil, bad("resource %d: name %s %v", i, quoteName(r.name), err)
		}
		if seen[r.name] {
			return nil, bad("resource %d: name %s is listed twice", i, quoteName(r.name))
		}
		seen[r.name] = true
		paths[p] = true
		if r.algorithm != algorithm {
			if isOtherModelHash(r.algorithm) {
				return nil, fmt.Errorf("%w: model-signing resource %s is hashed with %s; only sha256 is supported", ErrModelHashUnsupported, quoteName(r.name), quoteName(r.algorithm))
			}
			return nil, bad("resource %s: algorithm %s, want %s (serialization %s, hash_type %s)", quoteName(r.name), quoteName(r.algorithm), algorithm, m.Method, m.HashType)
		}
		if !isHex(r.digest, 64) {
			return nil, bad("resource %s: digest is not 64 lowercase hex digits", quoteName(r.name))
		}
		d, _ := hex.DecodeString(r.digest)
		m.Resources = append(m.Resources, ModelResource{Name: r.name, Algorithm: r.algorithm, Digest: d})
	}
	if paths["."] && len(paths) > 1 {
		return nil, bad(`resource "." (a single-file model) is listed with other files`)
	}
	if got := ModelSubjectDigest(m.Resources); got != m.SubjectDigest {
		return nil, bad("subject digest %s is not the digest of the resources, %s", m.SubjectDigest, got)
	}
	return m, nil
}

// readSerialization reads and checks predicate.serialization.
func (m *ModelManifest) readSerialization(s map[string]json.RawMessage, bad func(string, ...any) error) error {
	str := func(key string) (string, error) {
		var v string
		raw, ok := s[key]
		if !ok || json.Unmarshal(raw, &v) != nil {
			return "", bad("serialization has no %s string", key)
		}
		return v, nil
	}
	var err error
	if m.Method, err = str("method"); err != nil {
		return err
	}
	if m.HashType, err = str("hash_type"); err != nil {
		return err
	}
	if raw, ok := s["allow_symlinks"]; !ok || json.Unmarshal(raw, &m.AllowSymlinks) != nil {
		return bad("serialization has no allow_symlinks boolean")
	}
	switch m.Method {
	case ModelSigningFiles:
	case ModelSigningShards:
		var n json.Number
		raw := bytes.TrimSpace(s["shard_size"])
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		// (json.Number would also take a string holding a number.)
		if len(raw) == 0 || raw[0] == '"' || dec.Decode(&n) != nil {
			return bad("serialization has no shard_size number")
		}
		// model-signing writes it as a double: 1000000000.0.
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil || f < 1 || f > 1<<53 || f != math.Trunc(f) {
			return bad("shard_size %s is not a positive whole number", n)
		}
		m.ShardSize = int64(f)
	default:
		if hasControlRune(m.Method) || len(m.Method) > 64 {
			return bad("unknown serialization method")
		}
		return fmt.Errorf("%w: model-signing serialization method %q (this log knows files and shards)", ErrModelHashUnsupported, m.Method)
	}
	if m.HashType != modelHashSHA256 {
		if isOtherModelHash(m.HashType) {
			return fmt.Errorf("%w: model-signing hash_type %s; only sha256 is supported", ErrModelHashUnsupported, quoteName(m.HashType))
		}
		return bad("hash_type %s is not a model-signing hash", quoteName(m.HashType))
	}
	if raw, ok := s["ignore_paths"]; ok {
		var ps []string
		if json.Unmarshal(raw, &ps) != nil {
			return bad("serialization ignore_paths is not a list of strings")
		}
		if len(ps) > maxModelIgnorePaths {
			return bad("%d ignore_paths, at most %d", len(ps), maxModelIgnorePaths)
		}
		for _, p := range ps {
			// Recorded as str(pathlib.Path): a signer on Windows writes
			// backslashes. Only bounded here: HashModel drops paths that
			// leave the model.
			if p == "" || len(p) > maxModelPathLength || hasControlRune(p) {
				return bad("ignore_paths entry %s is empty, too long or has control characters", quoteName(p))
			}
		}
		m.IgnorePaths = ps
	}
	return nil
}

// isOtherModelHash reports the hash names model-signing can write besides
// sha256 (and their sharded forms).
func isOtherModelHash(alg string) bool {
	for _, h := range []string{"blake2b", "blake3"} {
		if alg == h || strings.HasPrefix(alg, h+"-sharded-") {
			return true
		}
	}
	return false
}

// checkResourceName checks a resource name of m's method and returns its
// file path.
func (m *ModelManifest) checkResourceName(name string) (string, error) {
	p := name
	if m.Method == ModelSigningShards {
		parts := strings.Split(name, ":")
		if len(parts) != 3 {
			return "", errors.New(`is not "<path>:<start>:<end>"`)
		}
		p = parts[0]
		start, ok1 := parseOffset(parts[1])
		end, ok2 := parseOffset(parts[2])
		switch {
		case !ok1 || !ok2:
			return "", errors.New("has a shard offset that is not a decimal integer")
		case end <= start:
			return "", errors.New("has a shard that ends before it starts")
		case start%m.ShardSize != 0 || end-start > m.ShardSize:
			return "", fmt.Errorf("is not a shard of %d bytes", m.ShardSize)
		}
	}
	if err := checkModelPath(p); err != nil {
		return "", err
	}
	return p, nil
}

// parseOffset reads a non-negative decimal integer as Python's str(int)
// writes it: no sign, no leading zero.
func parseOffset(s string) (int64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') || s[0] == '+' || s[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// checkModelPath checks a file path of a manifest: "." or a clean
// relative POSIX path without "..".
func checkModelPath(p string) error {
	switch {
	case p == "":
		return errors.New("is empty")
	case len(p) > maxModelPathLength:
		return fmt.Errorf("is longer than %d bytes", maxModelPathLength)
	case strings.ContainsRune(p, 0) || hasControlRune(p):
		return errors.New("has control characters")
	case p == ".":
		return nil
	case strings.HasPrefix(p, "/"):
		return errors.New("is an absolute path")
	case path.Clean(p) != p:
		return errors.New(`is not a clean relative path (no ".", empty parts or trailing "/")`)
	case p == ".." || strings.HasPrefix(p, "../"):
		return errors.New(`leaves the model root ("..")`)
	}
	return nil
}

// quoteName quotes a name for a message.
func quoteName(s string) string {
	return strconv.Quote(s)
}

// displayName shows a file name in a message: as it is, unless it has
// characters that would garble a terminal line.
func displayName(s string) string {
	if s == "" || hasControlRune(s) || strings.TrimSpace(s) != s {
		return strconv.Quote(s)
	}
	return s
}

// ResourceTerms returns the search terms that make each file digest of a
// model-signing manifest findable, as the release's subject digests are:
// Term(KindRelease, "digest", "sha256:<hex>"), so that
// GET /api/v1/search?digest=sha256:<file hex> finds the release. Each
// digest is given once, in the order of the resources (a caller adding
// them to a release's terms should still drop those equal to a subject's
// term). Shards are byte ranges, not files: only a file held in one shard
// starting at 0 (a file no larger than the shard size), whose shard digest
// is the file's sha256, is indexed.
func ResourceTerms(resources []ModelResource) [][]byte {
	shards := map[string]int{}
	for _, r := range resources {
		if strings.HasPrefix(r.Algorithm, shardedPrefix) {
			if p, _, _, ok := splitShard(r.Name); ok {
				shards[p]++
			}
		}
	}
	var out [][]byte
	seen := map[string]bool{}
	for _, r := range resources {
		if len(r.Digest) != sha256.Size {
			continue
		}
		switch {
		case r.Algorithm == modelHashSHA256:
		case strings.HasPrefix(r.Algorithm, shardedPrefix):
			p, start, _, ok := splitShard(r.Name)
			if !ok || start != 0 || shards[p] != 1 {
				continue
			}
		default:
			continue
		}
		v := "sha256:" + hex.EncodeToString(r.Digest)
		if !seen[v] {
			seen[v] = true
			out = append(out, Term(KindRelease, "digest", v))
		}
	}
	return out
}

// splitShard splits a shard name "<path>:<start>:<end>".
func splitShard(name string) (p string, start, end int64, ok bool) {
	parts := strings.Split(name, ":")
	if len(parts) != 3 {
		return "", 0, 0, false
	}
	start, ok1 := parseOffset(parts[1])
	end, ok2 := parseOffset(parts[2])
	return parts[0], start, end, ok1 && ok2
}

// ModelSubjectDigest is the digest model-signing puts in its statement's
// subject and `model_signing digest` prints: sha256 over the raw digests
// of the resources, in the order given, as "sha256:<hex>". For the
// resources of a release, that is the order listed (ParseModelSigning
// checks it is the subject's digest); for HashModel's, the order
// model-signing writes, so the digest is the one it would sign.
func ModelSubjectDigest(resources []ModelResource) string {
	h := sha256.New()
	for _, r := range resources {
		h.Write(r.Digest)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// ModelHashOptions says how HashModel hashes, as model-signing's hashing
// configuration does. The zero value is model-signing's default: whole
// files with sha256, git files at the root ignored, symbolic links
// refused.
type ModelHashOptions struct {
	// IgnorePaths are paths relative to the model root to leave out; an
	// ignored directory leaves out everything under it (model_signing
	// --ignore-paths, and the statement's serialization.ignore_paths when
	// verifying). An absolute path counts if it lies in the model; paths
	// outside the model are dropped, as model-signing drops them.
	IgnorePaths []string
	// IncludeGitPaths hashes .git, .gitattributes, .github and .gitignore
	// at the root too (model_signing --no-ignore-git-paths).
	IncludeGitPaths bool
	// AllowSymlinks hashes a symbolic link to a file as its target and
	// skips one to a directory; without it a symbolic link is an error
	// (model_signing --allow-symlinks).
	AllowSymlinks bool
	// ShardSize, if positive, hashes by shards of that many bytes
	// (serialization method shards) instead of whole files.
	ShardSize int64
}

// defaultGitPaths are the paths model-signing ignores by default, at the
// model root (hashing.py Config.hash).
var defaultGitPaths = []string{".git", ".gitattributes", ".github", ".gitignore"}

// HashModel hashes a local model, a file or a directory, as model-signing
// does with opts, and returns its resources in the order model-signing
// writes them. Unlike the rest of the package, it reads the file system.
func HashModel(root string, opts ModelHashOptions) ([]ModelResource, error) {
	if opts.ShardSize < 0 {
		return nil, fmt.Errorf("shard size %d is negative", opts.ShardSize)
	}
	given := root
	info, err := os.Lstat(root)
	if err != nil {
		return nil, err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		if !opts.AllowSymlinks {
			return nil, fmt.Errorf("%s is a symbolic link; hashing one needs symbolic links allowed", root)
		}
		if root, err = filepath.EvalSymlinks(root); err != nil {
			return nil, err
		}
		if info, err = os.Stat(root); err != nil {
			return nil, err
		}
	}
	ignore := modelIgnorer(opts, given, root)
	var files []modelFile
	switch {
	case ignore("."):
	case info.Mode().IsRegular():
		files = append(files, modelFile{name: ".", path: root, size: info.Size()})
	case info.IsDir():
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == root {
				return nil
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if ignore(rel) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			mode := d.Type()
			if mode&fs.ModeSymlink != 0 {
				if !opts.AllowSymlinks {
					return fmt.Errorf("%s is a symbolic link; hashing one needs symbolic links allowed", rel)
				}
				fi, err := os.Stat(p)
				if err != nil {
					return fmt.Errorf("%s: %w", rel, err)
				}
				if fi.IsDir() {
					return nil // model-signing does not descend into it
				}
				mode = fi.Mode().Type()
			}
			switch {
			case mode.IsDir():
				return nil
			case mode.IsRegular():
				fi, err := os.Stat(p) // the target's size, for a link
				if err != nil {
					return fmt.Errorf("%s: %w", rel, err)
				}
				files = append(files, modelFile{name: rel, path: p, size: fi.Size()})
				return nil
			}
			return fmt.Errorf("%s is neither a file nor a directory", rel)
		})
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s is neither a file nor a directory", root)
	}

	type job struct {
		out        *ModelResource
		path       string
		start, end int64
	}
	var jobs []job
	var out []ModelResource
	if opts.ShardSize == 0 {
		out = make([]ModelResource, len(files))
		for i, f := range files {
			out[i] = ModelResource{Name: f.name, Algorithm: modelHashSHA256}
			jobs = append(jobs, job{out: &out[i], path: f.path, start: 0, end: -1})
		}
	} else {
		alg := shardedPrefix + strconv.FormatInt(opts.ShardSize, 10)
		for _, f := range files {
			for start := int64(0); start < f.size; start += opts.ShardSize {
				end := min(start+opts.ShardSize, f.size)
				out = append(out, ModelResource{Name: fmt.Sprintf("%s:%d:%d", f.name, start, end), Algorithm: alg})
			}
		}
		i := 0
		for _, f := range files {
			for start := int64(0); start < f.size; start += opts.ShardSize {
				jobs = append(jobs, job{out: &out[i], path: f.path, start: start, end: min(start+opts.ShardSize, f.size)})
				i++
			}
		}
	}

	// Hash in parallel, as model-signing does.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan job)
	)
	workers := min(runtime.GOMAXPROCS(0), max(len(jobs), 1))
	for range workers {
		wg.Go(func() {
			for j := range next {
				d, err := hashRange(j.path, j.start, j.end)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				j.out.Digest = d
			}
		})
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	slices.SortFunc(out, compareModelResources)
	return out, nil
}

type modelFile struct {
	name, path string
	size       int64
}

// modelIgnorer returns whether a model-relative POSIX path is ignored.
// roots are the model path as given and as resolved: an absolute ignored
// path counts if it lies under either.
func modelIgnorer(opts ModelHashOptions, roots ...string) func(string) bool {
	var ignored []string
	add := func(p string) {
		if filepath.IsAbs(p) {
			for _, r := range roots {
				abs, err := filepath.Abs(r)
				if err != nil {
					continue
				}
				if rel, err := filepath.Rel(abs, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
					ignored = append(ignored, path.Clean(filepath.ToSlash(rel)))
					return
				}
			}
			return // outside the model: model-signing drops it
		}
		p = path.Clean(filepath.ToSlash(p))
		if strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") {
			return
		}
		ignored = append(ignored, p)
	}
	for _, p := range opts.IgnorePaths {
		add(p)
	}
	if !opts.IncludeGitPaths {
		for _, p := range defaultGitPaths {
			add(p)
		}
	}
	return func(rel string) bool {
		for _, p := range ignored {
			if p == "." || rel == p || strings.HasPrefix(rel, p+"/") {
				return true
			}
		}
		return false
	}
}

// hashRange returns the sha256 of a file, or of its bytes [start, end)
// when end >= 0.
func hashRange(p string, start, end int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	var r io.Reader = f
	if end >= 0 {
		r = io.NewSectionReader(f, start, end-start)
	}
	n, err := io.Copy(h, r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if end >= 0 && n != end-start {
		return nil, fmt.Errorf("%s: changed while being hashed", p)
	}
	return h.Sum(nil), nil
}

// compareModelResources orders resources as model-signing's manifest
// does: by path, part by part, then by shard start and end.
func compareModelResources(a, b ModelResource) int {
	ka, kb := modelKey(a), modelKey(b)
	if c := slices.Compare(ka.parts, kb.parts); c != 0 {
		return c
	}
	if c := cmp.Compare(ka.start, kb.start); c != 0 {
		return c
	}
	if c := cmp.Compare(ka.end, kb.end); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

type modelSortKey struct {
	parts      []string
	start, end int64
}

func modelKey(r ModelResource) modelSortKey {
	name := r.Name
	var k modelSortKey
	if strings.HasPrefix(r.Algorithm, shardedPrefix) {
		if p, s, e, ok := splitShard(name); ok {
			name, k.start, k.end = p, s, e
		}
	}
	k.parts = strings.Split(name, "/")
	return k
}

// ModelMismatchError is CompareModel's error: the first resource, in
// model-signing's order, where the local model differs from the release.
type ModelMismatchError struct {
	// Name is the resource: a file path, or a shard "<path>:<start>:<end>".
	Name string
	// Release is the digest the release names, nil if it does not name
	// the resource.
	Release []byte
	// Local is the digest of the local file, nil if there is no such
	// file.
	Local []byte
	// More counts the further differences.
	More int
	// Detail replaces the message, when the two sides were not hashed
	// alike.
	Detail string
}

func (e *ModelMismatchError) Error() string {
	name := displayName(e.Name)
	if e.Name == "." {
		name = "the model file"
	}
	var msg string
	switch {
	case e.Detail != "":
		msg = e.Detail
	case e.Release == nil:
		msg = fmt.Sprintf("%s: not in the release (file sha256:%x)", name, e.Local)
	case e.Local == nil:
		msg = fmt.Sprintf("%s: missing (release sha256:%x, no such file)", name, e.Release)
	default:
		msg = fmt.Sprintf("%s: digest differs (release sha256:%x, file sha256:%x)", name, e.Release, e.Local)
	}
	switch e.More {
	case 0:
	case 1:
		msg += " (and 1 more difference)"
	default:
		msg += fmt.Sprintf(" (and %d more differences)", e.More)
	}
	return msg
}

// CompareModel checks that the local resources (from HashModel) are
// exactly the release's: the same names with the same digests, none
// missing, none extra. The error, a *ModelMismatchError, names the first
// difference in model-signing's order and counts the others.
func CompareModel(release, local []ModelResource) error {
	relAlgs, locAlgs := algorithms(release), algorithms(local)
	if len(release) > 0 && len(local) > 0 && !slices.Equal(relAlgs, locAlgs) {
		return &ModelMismatchError{Detail: fmt.Sprintf("the release hashed the model with %s, the local files were hashed with %s: hash them as the release's serialization says",
			strings.Join(relAlgs, ", "), strings.Join(locAlgs, ", "))}
	}
	rel := make(map[string][]byte, len(release))
	for _, r := range release {
		if _, dup := rel[r.Name]; dup {
			return &ModelMismatchError{Detail: fmt.Sprintf("%s: named twice by the release", displayName(r.Name))}
		}
		rel[r.Name] = r.Digest
	}
	loc := make(map[string][]byte, len(local))
	for _, r := range local {
		if _, dup := loc[r.Name]; dup {
			return &ModelMismatchError{Detail: fmt.Sprintf("%s: hashed twice", displayName(r.Name))}
		}
		loc[r.Name] = r.Digest
	}
	all := slices.Concat(release, local)
	slices.SortStableFunc(all, compareModelResources)
	var first *ModelMismatchError
	done := map[string]bool{}
	for _, r := range all {
		if done[r.Name] {
			continue
		}
		done[r.Name] = true
		rd, inRel := rel[r.Name]
		ld, inLoc := loc[r.Name]
		if inRel && inLoc && bytes.Equal(rd, ld) {
			continue
		}
		if first != nil {
			first.More++
			continue
		}
		first = &ModelMismatchError{Name: r.Name}
		if inRel {
			first.Release = append([]byte{}, rd...)
		}
		if inLoc {
			first.Local = append([]byte{}, ld...)
		}
	}
	if first != nil {
		return first
	}
	return nil
}

// algorithms lists the distinct algorithms of resources, sorted.
func algorithms(rs []ModelResource) []string {
	var out []string
	for _, r := range rs {
		if !slices.Contains(out, r.Algorithm) {
			out = append(out, r.Algorithm)
		}
	}
	slices.Sort(out)
	return out
}
