package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
)

// An audit bundle is a directory an operator hands to an auditor: one log
// entry, its offline proof, and the contents and salts of the commitments
// it opens. tlog audit check verifies all of it with no network.
const (
	auditFormat    = "tlog-audit/v1"
	auditManifest  = "audit.json"
	auditEntryFile = "entry.json"
	auditProofFile = "entry.tlog-proof"
	auditOpenDir   = "open"
)

// auditBundle is audit.json. Nothing in it is trusted: the entry and the
// proof are verified, and each commitment is the one the entry holds at
// the field. The file digests only say which file changed when a check
// fails.
type auditBundle struct {
	Format     string       `json:"format"`
	Log        string       `json:"log"` // the checkpoint's origin
	URL        string       `json:"url,omitempty"`
	Index      uint64       `json:"index"`
	TreeSize   uint64       `json:"tree_size"`
	Checkpoint string       `json:"checkpoint"` // the signed note of the proof
	Entry      auditFile    `json:"entry"`
	Proof      auditFile    `json:"proof"`
	Opened     []auditOpen  `json:"opened"`
	Exported   string       `json:"exported,omitempty"` // RFC 3339, the exporter's clock
	files      []*auditFile // every file named, in order
}

type auditFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

type auditOpen struct {
	Field      string    `json:"field"`
	Commitment string    `json:"commitment"`
	Content    auditFile `json:"content"`
	Salt       auditFile `json:"salt"`
}

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Export and check an auditor's proof bundle",
		Long: `An audit bundle is a directory holding one log entry (entry.json, its exact
bytes), its offline proof (entry.tlog-proof, c2sp.org/tlog-proof@v1) and,
for each commitment opened, its content and salt (open/FIELD.content,
open/FIELD.salt), listed in audit.json. tlog audit export makes one from a
log; tlog audit check verifies one with no network.`,
	}
	cmd.AddCommand(auditExportCmd(), auditCheckCmd())
	return cmd
}

// openSpec is one --open FIELD=FILE[:SALTFILE].
type openSpec struct {
	field, content, salt string
}

func parseOpenSpec(s string) (openSpec, error) {
	field, files, ok := strings.Cut(s, "=")
	if !ok || field == "" || files == "" {
		return openSpec{}, fmt.Errorf("--open %q: want FIELD=FILE:SALTFILE", s)
	}
	if _, err := parseFieldPath(field); err != nil {
		return openSpec{}, fmt.Errorf("--open %q: %w", s, err)
	}
	o := openSpec{field: field, content: files, salt: files + ".salt"}
	if i := strings.LastIndexByte(files, ':'); i >= 0 {
		o.content, o.salt = files[:i], files[i+1:]
	}
	if o.content == "" || o.salt == "" {
		return openSpec{}, fmt.Errorf("--open %q: want FIELD=FILE:SALTFILE", s)
	}
	return o, nil
}

func auditExportCmd() *cobra.Command {
	var logURL, keyFile, policyFile, out string
	var index int64
	var opens []string
	cmd := &cobra.Command{
		Use:   "export --log URL --index N (--key LOG.pub | --policy FILE) [--open FIELD=FILE:SALTFILE ...] --out DIR",
		Short: "Write an auditor's proof bundle for one entry",
		Long: `Fetches the entry at --index and its tlog-proof (with --policy, the proof
against a checkpoint cosigned by the witness quorum), verifies both, and
writes them to DIR with, for each --open, the content and salt of the
commitment the entry holds at FIELD — checked to open it before anything is
written. FIELD is a path into the entry's JSON whose value is a sha256:
commitment: commitments.input, commitments.rationale,
commitments.data_accessed[2] (decisions), actor.id, records[0] (data
access). SALTFILE is a salt as tlog decision commit writes it (64 hex
digits); without :SALTFILE, FILE.salt. DIR must be new or empty. The
contents and salts are as private as the data they are: hand DIR only to
the auditor.`,
		Example: `  tlog audit export --log http://127.0.0.1:8080 --index 1 --key log.pub \
    --open commitments.input=input.txt:input.txt.salt --open commitments.output=output.txt --out audit-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if index < 0 {
				return errors.New("--index N is required")
			}
			if out == "" {
				return errors.New("--out DIR is required")
			}
			open, policy, err := checkpointOpener(keyFile, policyFile)
			if err != nil {
				return err
			}
			var specs []openSpec
			for _, s := range opens {
				o, err := parseOpenSpec(s)
				if err != nil {
					return err
				}
				if slices.ContainsFunc(specs, func(p openSpec) bool { return p.field == o.field }) {
					return fmt.Errorf("--open %s given twice", o.field)
				}
				specs = append(specs, o)
			}
			if err := emptyDir(out); err != nil {
				return err
			}
			var c *client.Client
			if policy != nil {
				c, err = newClient(logURL, "", client.WithPolicy(policy))
			} else {
				c, err = newClient(logURL, keyFile)
			}
			if err != nil {
				return err
			}
			e, err := c.ProveIndex(cmd.Context(), uint64(index))
			if err != nil {
				return err
			}
			proofFile := e.TlogProof()
			vp, err := proofs.VerifyTlogProofWith(proofFile, e.Data, open)
			if err != nil {
				return fmt.Errorf("the log's proof of index %d does not verify: %w", index, err)
			}
			b := &auditBundle{
				Format: auditFormat, Log: vp.Checkpoint.Origin, URL: c.URL(), Index: vp.Index, TreeSize: vp.Checkpoint.Size,
				Checkpoint: string(e.Note), Exported: time.Now().UTC().Format(time.RFC3339),
			}
			files := map[string][]byte{auditEntryFile: e.Data, auditProofFile: proofFile}
			b.Entry = auditFile{Path: auditEntryFile, SHA256: fileDigest(e.Data)}
			b.Proof = auditFile{Path: auditProofFile, SHA256: fileDigest(proofFile)}
			var doc any
			jsonErr := decodeEntry(e.Data, &doc)
			for _, o := range specs {
				if jsonErr != nil {
					return fmt.Errorf("--open %s: the entry is not JSON: %v", o.field, jsonErr)
				}
				commitment, err := commitmentAt(doc, o.field)
				if err != nil {
					return fmt.Errorf("--open %s: %w", o.field, err)
				}
				content, err := os.ReadFile(o.content)
				if err != nil {
					return fmt.Errorf("--open %s: %w", o.field, err)
				}
				saltBytes, err := os.ReadFile(o.salt)
				if err != nil {
					return fmt.Errorf("--open %s: %w", o.field, err)
				}
				salt, err := parseSalt(saltBytes)
				if err != nil {
					return fmt.Errorf("--open %s: %s: %w", o.field, o.salt, err)
				}
				if err := attest.Open(commitment, salt, content); err != nil {
					return fmt.Errorf("--open %s: %s and %s do not open %s (%s): nothing written", o.field, o.content, o.salt, o.field, commitment)
				}
				saltFile := []byte(hex.EncodeToString(salt) + "\n")
				cp, sp := openPaths(o.field)
				files[cp], files[sp] = content, saltFile
				b.Opened = append(b.Opened, auditOpen{
					Field: o.field, Commitment: commitment,
					Content: auditFile{Path: cp, SHA256: fileDigest(content)},
					Salt:    auditFile{Path: sp, SHA256: fileDigest(saltFile)},
				})
			}
			manifest, err := json.MarshalIndent(b, "", "  ")
			if err != nil {
				return err
			}
			files[auditManifest] = append(manifest, '\n')
			if err := os.MkdirAll(filepath.Join(out, auditOpenDir), 0o700); err != nil {
				return err
			}
			names := []string{auditEntryFile, auditProofFile}
			for _, o := range b.Opened {
				names = append(names, o.Content.Path, o.Salt.Path)
			}
			names = append(names, auditManifest) // last: a bundle without it is unfinished
			for _, name := range names {
				if err := keyfile.WriteSynced(filepath.Join(out, name), files[name], os.O_EXCL, 0o600); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "exported index %d (in tree of size %d signed by %s) to %s:\n", vp.Index, vp.Checkpoint.Size, vp.Checkpoint.Origin, out)
			fmt.Fprintf(w, "  %s\n  %s\n", auditEntryFile, auditProofFile)
			for _, o := range b.Opened {
				fmt.Fprintf(w, "  %s, %s: open %s\n", o.Content.Path, o.Salt.Path, o.Field)
			}
			fmt.Fprintf(w, "  %s\n", auditManifest)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&logURL, "log", "", "log URL (required)")
	fl.Int64Var(&index, "index", -1, "index of the entry (required)")
	fl.StringVar(&keyFile, "key", "", "log verifier key file")
	fl.StringVar(&policyFile, "policy", "", "c2sp.org/tlog-policy file: export the proof against a witnessed checkpoint")
	fl.StringArrayVar(&opens, "open", nil, "FIELD=FILE:SALTFILE: open the commitment at FIELD with FILE's content and the salt (repeatable)")
	fl.StringVar(&out, "out", "", "directory to write the bundle to, new or empty (required)")
	return cmd
}

func auditCheckCmd() *cobra.Command {
	var keyFile, policyFile string
	cmd := &cobra.Command{
		Use:   "check DIR (--key LOG.pub | --policy FILE)",
		Short: "Verify an auditor's proof bundle offline",
		Long: `Verifies an audit bundle with no network: the tlog-proof against the entry
(the log's signature with --key; with --policy, a policy log's signature
and the witness quorum), and each opened commitment (the content and salt
must open the commitment the entry holds at that field). Prints what was
logged, where, the time bound the log proves, and one line per opened
commitment, and exits 0; or prints each part that fails, naming its file,
and exits 1.`,
		Example: `  tlog audit check audit-1 --key log.pub
  tlog audit check audit-1 --policy policy.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			open, policy, err := checkpointOpener(keyFile, policyFile)
			if err != nil {
				return err
			}
			report, problems := checkBundle(args[0], open, policy)
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintf(cmd.ErrOrStderr(), "not verified: %s\n", p)
				}
				return exitError{1}
			}
			_, err = io.WriteString(cmd.OutOrStdout(), report)
			return err
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "log verifier key file")
	cmd.Flags().StringVar(&policyFile, "policy", "", "c2sp.org/tlog-policy file: requires the log's signature and the witness quorum, and proves a time bound")
	return cmd
}

// checkpointOpener is the checkpoint check of exactly one of --key and
// --policy.
func checkpointOpener(keyFile, policyFile string) (func([]byte) (signer.Checkpoint, *signer.Note, error), *signer.Policy, error) {
	if (keyFile == "") == (policyFile == "") {
		return nil, nil, errors.New("give exactly one of --key LOG.pub and --policy FILE")
	}
	if keyFile != "" {
		v, err := readVerifier(keyFile)
		if err != nil {
			return nil, nil, err
		}
		return func(note []byte) (signer.Checkpoint, *signer.Note, error) { return signer.OpenCheckpoint(note, v) }, nil, nil
	}
	b, err := os.ReadFile(policyFile)
	if err != nil {
		return nil, nil, err
	}
	p, err := signer.ParsePolicy(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", policyFile, err)
	}
	return p.Check, p, nil
}

// checkBundle verifies the bundle in dir and returns the report, or every
// problem found (each naming its file).
func checkBundle(dir string, open func([]byte) (signer.Checkpoint, *signer.Note, error), policy *signer.Policy) (string, []string) {
	raw, err := os.ReadFile(filepath.Join(dir, auditManifest))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", []string{fmt.Sprintf("%s: missing (%s is not an audit bundle, or an unfinished one)", auditManifest, dir)}
		}
		return "", []string{err.Error()}
	}
	b, err := parseAuditBundle(raw)
	if err != nil {
		return "", []string{fmt.Sprintf("%s: %v", auditManifest, err)}
	}
	// Every file named must be there, and no other in open/.
	var problems []string
	contents := map[string][]byte{}
	for _, f := range b.files {
		c, err := readRegular(filepath.Join(dir, f.Path))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s names %s, which is %v", auditManifest, f.Path, err))
			continue
		}
		contents[f.Path] = c
	}
	if des, err := os.ReadDir(filepath.Join(dir, auditOpenDir)); err == nil {
		for _, de := range des {
			p := auditOpenDir + "/" + de.Name()
			if !slices.ContainsFunc(b.files, func(f *auditFile) bool { return f.Path == p }) {
				problems = append(problems, fmt.Sprintf("%s: not listed in %s", p, auditManifest))
			}
		}
	}
	if len(problems) > 0 {
		return "", problems
	}
	changed := func(f auditFile) bool { return fileDigest(contents[f.Path]) != f.SHA256 }

	// The entry and its proof.
	entry, proofFile := contents[auditEntryFile], trimBlankTail(contents[auditProofFile])
	var vp *proofs.VerifiedProof
	p, err := proofs.ParseTlogProof(proofFile)
	if err != nil {
		problems = append(problems, fmt.Sprintf("%s: %v", auditProofFile, err))
	} else if cp, n, err := open(p.Checkpoint); err != nil {
		problems = append(problems, fmt.Sprintf("%s: its checkpoint does not verify: %v", auditProofFile, err))
	} else if p.Index >= cp.Size {
		problems = append(problems, fmt.Sprintf("%s: index %d is not below the checkpoint's tree size %d", auditProofFile, p.Index, cp.Size))
	} else if err := proofs.CheckInclusion(p.Hashes, p.Index, cp.Size, proofs.HashLeaf(entry), cp.Hash); err != nil {
		if changed(b.Entry) || !changed(b.Proof) {
			problems = append(problems, fmt.Sprintf("%s: not in the log (the proof does not lead from it to the checkpoint)", auditEntryFile))
		} else {
			problems = append(problems, fmt.Sprintf("%s: its inclusion proof does not lead from %s to the checkpoint's root", auditProofFile, auditEntryFile))
		}
	} else {
		vp = &proofs.VerifiedProof{Index: p.Index, Checkpoint: cp, Note: n}
		if b.Index != vp.Index {
			problems = append(problems, fmt.Sprintf("%s: says index %d; the proof is for index %d", auditManifest, b.Index, vp.Index))
		}
	}

	// The opened commitments, against the entry's own values.
	var doc any
	jsonErr := decodeEntry(entry, &doc)
	var opened []string
	for _, o := range b.Opened {
		if jsonErr != nil {
			problems = append(problems, fmt.Sprintf("%s: not JSON, so %s cannot be opened: %v", auditEntryFile, o.Field, jsonErr))
			continue
		}
		commitment, err := commitmentAt(doc, o.Field)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", auditEntryFile, err))
			continue
		}
		salt, err := parseSalt(contents[o.Salt.Path])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", o.Salt.Path, err))
			continue
		}
		if attest.Open(commitment, salt, contents[o.Content.Path]) != nil {
			switch {
			case changed(o.Content) || !changed(o.Salt):
				problems = append(problems, fmt.Sprintf("%s: does not open %s", o.Content.Path, o.Field))
			default:
				problems = append(problems, fmt.Sprintf("%s: does not open %s (with %s)", o.Salt.Path, o.Field, o.Content.Path))
			}
			continue
		}
		opened = append(opened, fmt.Sprintf("%s: opened, matches (%s)\n", o.Field, commitment))
	}
	if len(problems) > 0 {
		return "", problems
	}

	var r strings.Builder
	fmt.Fprintf(&r, "logged: %s\n", describeEntry(entry, doc, jsonErr))
	fmt.Fprintf(&r, "in the log: index %d in tree of size %d signed by %s", vp.Index, vp.Checkpoint.Size, vp.Checkpoint.Origin)
	if policy != nil {
		fmt.Fprintf(&r, " and cosigned by a witness quorum (%d cosignatures)", len(vp.Note.Sigs)-1)
	}
	r.WriteString("\n")
	recordTime := ""
	if m, ok := doc.(map[string]any); ok {
		if s, ok := m["time"].(string); ok {
			recordTime = strconv.Quote(s)
		}
	}
	if t, w, ok := signer.EarliestCosignature(vp.Note, policy); ok {
		fmt.Fprintf(&r, "logged no later than %s (the earliest witness cosignature on a checkpoint that includes it, by %s)", t.Format(time.RFC3339), w)
		if recordTime != "" {
			fmt.Fprintf(&r, "; the record says %s", recordTime)
		}
		r.WriteString("\n")
	} else {
		if recordTime == "" {
			recordTime = "(the entry names no time)"
		}
		why := "no witness cosignature"
		if policy == nil {
			why = "no witness policy given: check with --policy for a time bound"
		}
		fmt.Fprintf(&r, "time: only the writer vouches for the time: %s (%s)\n", recordTime, why)
	}
	for _, l := range opened {
		r.WriteString(l)
	}
	if len(b.Opened) == 0 {
		r.WriteString("no commitment opened\n")
	}
	r.WriteString("all verified\n")
	return r.String(), nil
}

// parseAuditBundle parses audit.json strictly and checks that every path
// in it is the one its role gives: nothing outside the bundle is read.
func parseAuditBundle(raw []byte) (*auditBundle, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var b auditBundle
	if err := dec.Decode(&b); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON object")
	}
	if b.Format != auditFormat {
		return nil, fmt.Errorf("format %q, want %q", b.Format, auditFormat)
	}
	if b.Entry.Path != auditEntryFile || b.Proof.Path != auditProofFile {
		return nil, fmt.Errorf("the entry and the proof must be %s and %s", auditEntryFile, auditProofFile)
	}
	b.files = []*auditFile{&b.Entry, &b.Proof}
	seen := map[string]bool{}
	for i := range b.Opened {
		o := &b.Opened[i]
		if _, err := parseFieldPath(o.Field); err != nil {
			return nil, err
		}
		if seen[o.Field] {
			return nil, fmt.Errorf("field %s opened twice", o.Field)
		}
		seen[o.Field] = true
		if cp, sp := openPaths(o.Field); o.Content.Path != cp || o.Salt.Path != sp {
			return nil, fmt.Errorf("field %s: its files must be %s and %s", o.Field, cp, sp)
		}
		b.files = append(b.files, &o.Content, &o.Salt)
	}
	return &b, nil
}

// openPaths are the bundle's files of an opened field.
func openPaths(field string) (content, salt string) {
	return auditOpenDir + "/" + field + ".content", auditOpenDir + "/" + field + ".salt"
}

// readRegular reads a regular file (not a link, a device or a directory).
func readRegular(path string) ([]byte, error) {
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, errors.New("missing")
	case err != nil:
		return nil, err
	case !st.Mode().IsRegular():
		return nil, errors.New("not a regular file")
	}
	return os.ReadFile(path)
}

// emptyDir checks that dir does not exist or is an empty directory.
func emptyDir(dir string) error {
	des, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("--out: %w", err)
	case len(des) > 0:
		return fmt.Errorf("--out %s is not empty: give a new directory", dir)
	}
	return nil
}

func fileDigest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// parseSalt reads a salt file as tlog decision commit writes it: 64 hex
// digits (and a newline).
func parseSalt(b []byte) ([]byte, error) {
	salt, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(salt) != attest.SaltSize {
		return nil, fmt.Errorf("not a salt (%d hex digits, as tlog decision commit writes)", 2*attest.SaltSize)
	}
	return salt, nil
}

// decodeEntry decodes an entry's JSON (numbers kept as written).
func decodeEntry(entry []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(entry))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// fieldPath is FIELD: object keys separated by dots, each with optional
// array indices, as in commitments.data_accessed[2].
var fieldPath = regexp.MustCompile(`^[A-Za-z0-9_-]+(\[(0|[1-9][0-9]{0,5})\])*(\.[A-Za-z0-9_-]+(\[(0|[1-9][0-9]{0,5})\])*)*$`)

type pathStep struct {
	key   string
	index int // -1 for a key
}

func parseFieldPath(s string) ([]pathStep, error) {
	if len(s) > 200 || !fieldPath.MatchString(s) {
		return nil, fmt.Errorf("field %q: want a path into the entry such as commitments.input or commitments.data_accessed[2]", s)
	}
	var steps []pathStep
	for _, part := range strings.Split(s, ".") {
		key, rest, _ := strings.Cut(part, "[")
		steps = append(steps, pathStep{key: key, index: -1})
		for rest != "" {
			n, tail, _ := strings.Cut(rest, "]")
			i, _ := strconv.Atoi(n)
			steps = append(steps, pathStep{index: i})
			rest = strings.TrimPrefix(tail, "[")
		}
	}
	return steps, nil
}

// commitmentAt returns the commitment the entry holds at field.
func commitmentAt(doc any, field string) (string, error) {
	steps, err := parseFieldPath(field)
	if err != nil {
		return "", err
	}
	v := doc
	for _, s := range steps {
		switch x := v.(type) {
		case map[string]any:
			if s.index >= 0 {
				return "", fmt.Errorf("no %s in the entry (not an array there)", field)
			}
			if v = x[s.key]; v == nil {
				return "", fmt.Errorf("no %s in the entry", field)
			}
		case []any:
			if s.index < 0 || s.index >= len(x) {
				return "", fmt.Errorf("no %s in the entry", field)
			}
			v = x[s.index]
		default:
			return "", fmt.Errorf("no %s in the entry", field)
		}
	}
	c, ok := v.(string)
	if !ok || !strings.HasPrefix(c, "sha256:") {
		return "", fmt.Errorf("%s in the entry is not a commitment (sha256:<hex>)", field)
	}
	return c, nil
}

// identifyingFields are the fields describeEntry prints, when present, in
// this order: the decision's, then those of other kinds.
var identifyingFields = []string{
	"system", "decision_id", "event_id", "model.name", "model.version", "model.digest",
	"actor", "actor.type", "actor.id", "action", "resource.type", "resource.id", "purpose", "legal_basis",
	"dataset.name", "evaluator", "outcome", "predicate_type", "subjects[0].name",
}

// describeEntry says what was logged: the kind and its main identifying
// fields, every string quoted (the entry is untrusted input).
func describeEntry(entry []byte, doc any, jsonErr error) string {
	m, ok := doc.(map[string]any)
	if jsonErr != nil || !ok {
		return fmt.Sprintf("a raw entry of %d bytes (not a JSON object)", len(entry))
	}
	kind, _ := m["kind"].(string)
	var parts []string
	if kind == "" {
		parts = append(parts, "a JSON entry without a kind")
	} else {
		parts = append(parts, strconv.Quote(kind))
	}
	for _, f := range identifyingFields {
		steps, _ := parseFieldPath(f)
		v := any(m)
		for _, s := range steps {
			switch x := v.(type) {
			case map[string]any:
				v = x[s.key]
			case []any:
				if s.index < len(x) {
					v = x[s.index]
				} else {
					v = nil
				}
			default:
				v = nil
			}
		}
		switch x := v.(type) {
		case string:
			parts = append(parts, f+" "+strconv.Quote(x))
		case json.Number:
			parts = append(parts, f+" "+x.String())
		}
	}
	return strings.Join(parts, ", ")
}
