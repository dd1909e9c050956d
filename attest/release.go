package attest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Kinds of entries.
const (
	KindRelease  = "model-release/v1"
	KindDecision = "decision/v1"
)

// In-toto statement types and predicates the log understands.
const (
	StatementV1          = "https://in-toto.io/Statement/v1"
	StatementV01         = "https://in-toto.io/Statement/v0.1"
	ModelSigningV1       = "https://model_signing/signature/v1.0"
	SLSAProvenanceV1     = "https://slsa.dev/provenance/v1"
	maxSubjectNameLength = 1024
)

// Submission is the body of POST /api/v1/attestations: an envelope or a
// Sigstore bundle, with the key or certificate to verify it.
type Submission struct {
	// Envelope is a DSSE envelope; it needs PublicKey or Certificate.
	Envelope json.RawMessage `json:"envelope,omitempty"`
	// Bundle is a Sigstore bundle (v0.1 to v0.3) holding a DSSE
	// envelope; it needs PublicKey unless it carries a certificate.
	Bundle json.RawMessage `json:"bundle,omitempty"`
	// PublicKey is a PEM public key (ECDSA, Ed25519 or RSA).
	PublicKey string `json:"public_key,omitempty"`
	// Certificate is a PEM certificate chain, leaf first; the leaf's key
	// verifies the envelope. A log with a trusted root validates the leaf
	// (the chain comes from the trusted root; the rest of the PEM is
	// ignored) and the entry names its identity and issuer; the leaf is
	// kept as a blob beside the entry.
	Certificate string `json:"certificate,omitempty"`
}

// ParseSubmission decodes a submission body strictly.
func ParseSubmission(body []byte) (*Submission, error) {
	var s Submission
	if err := checkJSON(body); err != nil {
		return nil, fmt.Errorf("%w: body is not a JSON submission: %v", ErrInvalid, err)
	}
	if err := strictUnmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("%w: body is not a JSON submission: %v", ErrInvalid, err)
	}
	return &s, nil
}

// Release is an admitted model release attestation.
type Release struct {
	// Entry is the log entry: canonical JSON of kind model-release/v1.
	Entry []byte
	// Terms are the search terms of the entry (see Terms).
	Terms [][]byte
	// Blobs are kept content-addressed beside the entry: the canonical
	// envelope, the signer's DER public key, the certificate (DER) when
	// one was given.
	Blobs [][]byte
	// Subjects lists the subject names (for messages and logs).
	Subjects []string
	// Statement is the in-toto statement the signature verified (the
	// envelope's payload), e.g. for ParseModelSigning.
	Statement []byte
	// Signer is the fingerprint of the key that verified.
	Signer string
	// Certificate is the leaf certificate whose key verified, if any.
	// Unless Identity is set and Validated, it was not validated against
	// any root.
	Certificate *x509.Certificate
	// Identity is the certificate's identity the entry names: set for a
	// certificate-signed release admitted with a trusted root (Validated)
	// or rebuilt with AdmitOptions.UnvalidatedIdentity.
	Identity *Identity
}

// Admit verifies a submission and builds its entry: the envelope must be a
// DSSE envelope of an in-toto statement (v1 or v0.1) with at least one
// subject, every subject with a sha256 digest, and a signature that
// verifies with the given key or the certificate's. policy may be nil (an
// open log). maxEntry is the largest entry the log takes.
//
// The same submission always yields the same entry bytes, so tlog verify
// --attestation can rebuild the entry offline.
//
// Admit is AdmitWith without a trusted root, accepting unverified
// certificates (AdmitOptions.AcceptUnverifiedCertificates).
func Admit(s *Submission, policy *Policy, maxEntry int) (*Release, error) {
	return AdmitWith(s, AdmitOptions{Policy: policy, MaxEntry: maxEntry, AcceptUnverifiedCertificates: true})
}

// AdmitWith is Admit with options: a trusted root to validate
// certificates with, and the log's clock (see AdmitOptions). A
// certificate-signed release whose certificate validated names its
// identity, issuer and time source in the entry; a key-signed one is the
// entry Admit makes.
func AdmitWith(s *Submission, opts AdmitOptions) (*Release, error) {
	policy, maxEntry := opts.Policy, opts.MaxEntry
	var (
		envRaw []byte
		cert   *x509.Certificate
		pub    crypto.PublicKey
		err    error
	)
	// null means absent, as for the string fields.
	if isNull(s.Envelope) {
		s.Envelope = nil
	}
	if isNull(s.Bundle) {
		s.Bundle = nil
	}
	switch {
	case len(s.Envelope) > 0 && len(s.Bundle) > 0:
		return nil, fmt.Errorf("%w: give either envelope or bundle, not both", ErrInvalid)
	case len(s.Envelope) > 0:
		envRaw = s.Envelope
		switch {
		case s.PublicKey != "" && s.Certificate != "":
			return nil, fmt.Errorf("%w: give either public_key or certificate with an envelope, not both", ErrInvalid)
		case s.Certificate != "":
			if cert, err = parseCertificatePEM([]byte(s.Certificate)); err != nil {
				return nil, err
			}
		case s.PublicKey == "":
			return nil, fmt.Errorf("%w: an envelope needs public_key or certificate to verify it", ErrInvalid)
		}
	case len(s.Bundle) > 0:
		if s.Certificate != "" {
			return nil, fmt.Errorf("%w: a bundle carries its own certificate; give public_key for a key-hint bundle", ErrInvalid)
		}
		if envRaw, cert, err = parseBundle(s.Bundle); err != nil {
			return nil, err
		}
		if cert == nil && s.PublicKey == "" {
			return nil, fmt.Errorf("%w: the bundle has only a key hint: give its public_key", ErrInvalid)
		}
	default:
		return nil, fmt.Errorf("%w: body needs an envelope or a bundle", ErrInvalid)
	}
	if s.PublicKey != "" {
		if pub, err = ParsePublicKey([]byte(s.PublicKey)); err != nil {
			return nil, err
		}
	}
	if cert != nil {
		if pub != nil {
			if err := cryptoutils.EqualKeys(pub, cert.PublicKey); err != nil {
				return nil, fmt.Errorf("%w: public_key is not the bundle certificate's key", ErrInvalid)
			}
		}
		pub = cert.PublicKey
	}

	env, payload, err := parseEnvelope(envRaw)
	if err != nil {
		return nil, err
	}
	// Verify first: nothing of an unsigned payload is parsed.
	if env, err = verifyEnvelope(env, pub); err != nil {
		return nil, err
	}
	st, err := parseStatement(payload)
	if err != nil {
		return nil, err
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrInvalid, err)
	}
	signer := digestString(der)
	var id *Identity
	if cert != nil {
		switch {
		case opts.TrustedRoot != nil || opts.UnvalidatedIdentity:
			if id, err = keylessIdentity(s, env, cert, &opts); err != nil {
				return nil, err
			}
		case !opts.AcceptUnverifiedCertificates:
			return nil, errNoTrustedRoot
		}
	}
	principal := Signer{Key: signer}
	if id != nil {
		principal.Identity, principal.Issuer = id.Identity, id.Issuer
	}
	if err := policy.CheckSigner(st.names(), principal); err != nil {
		return nil, err
	}

	envBytes := env.canonical()
	record := map[string]any{
		"kind":            KindRelease,
		"statement_type":  st.Type,
		"predicate_type":  st.PredicateType,
		"subjects":        st.subjectValues(),
		"envelope_digest": digestString(envBytes),
		"signers":         []string{signer},
	}
	blobs := [][]byte{envBytes, der}
	if cert != nil {
		// The certificate is kept beside the entry, not in it. Unvalidated
		// (no trusted root), the entry names only the key: anyone can mint
		// a certificate for the publisher's public key, so naming it would
		// let anyone log one signed release again and again, each time
		// under another made-up identity. Validated, the entry names what
		// the certificate proves — identity and issuer — and how its time
		// was proven; not the certificate bytes, the chain or the
		// timestamps, which others could vary.
		blobs = append(blobs, cert.Raw)
	}
	if id != nil {
		record["identity"] = id.Identity
		record["issuer"] = id.Issuer
		record["time_source"] = id.TimeSource
	}
	if st.model != nil {
		record["model_signing"] = map[string]any{"model": st.model.name, "resources": st.model.resources}
	}
	entry, err := appendCanonical(nil, record)
	if err != nil {
		return nil, err
	}
	if len(entry) > maxEntry {
		return nil, fmt.Errorf("%w: the entry for this statement is %d bytes, the log's limit is %d bytes (%d subjects; split the release into several statements)",
			ErrTooLarge, len(entry), maxEntry, len(st.Subjects))
	}

	r := &Release{Entry: entry, Blobs: blobs, Subjects: st.names(), Signer: signer, Certificate: cert, Identity: id, Statement: payload}
	r.Terms = append(r.Terms, Term(KindRelease, "signer", signer))
	if id != nil {
		r.Terms = append(r.Terms, Term(KindRelease, "identity", id.Identity))
	}
	seen := map[string]bool{} // terms, as strings
	add := func(field, value string) {
		t := Term(KindRelease, field, value)
		if k := string(t); !seen[k] {
			seen[k] = true
			r.Terms = append(r.Terms, t)
		}
	}
	for _, sub := range st.Subjects {
		add("digest", "sha256:"+sub.Digest["sha256"])
		if sub.Name != "" {
			add("model", sub.Name)
		}
	}
	if st.model != nil && st.model.name != "" {
		add("model", st.model.name)
	}
	if st.PredicateType == ModelSigningV1 {
		// Every file the manifest names is findable by its digest. A
		// manifest this package cannot read (another hash, a malformed
		// list) is still admitted, findable by its subject only.
		if m, err := ParseModelSigning(payload); err == nil {
			for _, t := range ResourceTerms(m.Resources) {
				if k := string(t); !seen[k] {
					seen[k] = true
					r.Terms = append(r.Terms, t)
				}
			}
		}
	}
	return r, nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// KindOf returns the kind of an AI entry (KindRelease, KindDecision) from
// its "kind" field, or "" for any other entry. Entries added with POST /add
// can look like anything: this is for display, not trust.
func KindOf(entry []byte) string {
	if t := bytes.TrimLeft(entry, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(entry, &m) != nil {
		return ""
	}
	var kind string
	if json.Unmarshal(m["kind"], &kind) != nil {
		return ""
	}
	if slices.Contains(Kinds, kind) {
		return kind
	}
	return ""
}

// Kinds are the kinds of AI entries, each logged by its own endpoint.
var Kinds = []string{KindRelease, KindDecision, KindAccess, KindEvaluation}

// claimedPrefixes are the kind values POST /add refuses: every version of
// every kind.
var claimedPrefixes = []string{"model-release/", "decision/", "access/", "evaluation/"}

// ClaimsKind reports whether entry could be read as an AI entry by any
// JSON reader: a JSON object (after whitespace or a byte order mark) with
// a top-level field whose name folds to "kind" (exactly, or as Go matches
// names) and whose value names one of this log's kinds or versions of
// them ("model-release/…", "decision/…", "access/…", "evaluation/…"), in
// any of its occurrences. The
// log refuses such entries on its raw POST /add, so that every entry of an
// AI kind in the log went through verification.
func ClaimsKind(entry []byte) bool {
	t := bytes.TrimPrefix(bytes.TrimLeft(entry, " \t\r\n"), []byte("\xef\xbb\xbf"))
	t = bytes.TrimLeft(t, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	kindKey := foldKey("kind")
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
		if foldKey(key) != kindKey {
			continue
		}
		var kind string
		if json.Unmarshal(v, &kind) == nil {
			for _, p := range claimedPrefixes {
				if strings.HasPrefix(kind, p) {
					return true
				}
			}
		}
	}
	return false
}

// Term is the search term the log stores for a field of an entry of a
// kind: "<kind> <field>=<value>". Each kind has its own terms, so that a
// search can ask for releases only: anyone may log decision records
// naming any model, and those must not bury a model's releases.
func Term(kind, field, value string) []byte {
	return []byte(kind + " " + field + "=" + value)
}

// SearchFields maps each search field to the kinds that index it.
var SearchFields = map[string][]string{
	"digest":   {KindRelease, KindDecision, KindEvaluation},
	"model":    {KindRelease, KindDecision, KindEvaluation},
	"signer":   {KindRelease},
	"identity": {KindRelease},
	"system":   {KindDecision, KindAccess, KindEvaluation},
	"actor":    {KindAccess},
	"resource": {KindAccess},
	"purpose":  {KindAccess},
	"event":    {KindAccess, KindEvaluation},
}

// SearchFieldNames are the search fields in the order the API lists them.
var SearchFieldNames = []string{"digest", "model", "signer", "identity", "system", "actor", "resource", "purpose", "event"}

// SearchTerms returns the terms to search for field=value: the one of
// kind, or with kind "" those of every kind that indexes the field.
func SearchTerms(kind, field, value string) ([][]byte, error) {
	kinds, ok := SearchFields[field]
	if !ok {
		return nil, fmt.Errorf("%w: unknown search field %q", ErrInvalid, field)
	}
	if kind == "" {
		out := make([][]byte, len(kinds))
		for i, k := range kinds {
			out[i] = Term(k, field, value)
		}
		return out, nil
	}
	if !slices.Contains(Kinds, kind) {
		return nil, fmt.Errorf("%w: kind: want one of %s", ErrInvalid, strings.Join(Kinds, ", "))
	}
	for _, k := range kinds {
		if k == kind {
			return [][]byte{Term(kind, field, value)}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s entries are not indexed by %s", ErrInvalid, kind, field)
}

// statement is the part of an in-toto statement the log records.
type statement struct {
	Type          string
	Subjects      []subject
	PredicateType string
	Predicate     json.RawMessage

	model *modelSigning
}

type subject struct {
	Name   string
	Digest map[string]string
}

type modelSigning struct {
	name      string
	resources int
}

// parseStatement reads an in-toto statement the way a careful verifier
// does: field names match exactly (encoding/json alone would also take
// "Subject" for "subject", and the last of two), and a payload with a
// duplicate field name anywhere is refused, so no two parsers can read
// two different statements out of one signed payload.
func parseStatement(payload []byte) (*statement, error) {
	if !utf8.Valid(payload) {
		return nil, fmt.Errorf("%w: statement is not valid UTF-8", ErrInvalid)
	}
	if err := checkJSON(payload); err != nil {
		return nil, fmt.Errorf("%w: payload is not an in-toto statement: %v", ErrInvalid, err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		return nil, fmt.Errorf("%w: payload is not an in-toto statement: %v", ErrInvalid, err)
	}
	var st statement
	if err := exactString(top, "_type", &st.Type); err != nil {
		return nil, err
	}
	if st.Type != StatementV1 && st.Type != StatementV01 {
		return nil, fmt.Errorf("%w: statement _type is %q, want %q or %q", ErrInvalid, st.Type, StatementV1, StatementV01)
	}
	if err := exactString(top, "predicateType", &st.PredicateType); err != nil {
		return nil, err
	}
	if st.PredicateType == "" {
		return nil, fmt.Errorf("%w: statement has no predicateType", ErrInvalid)
	}
	st.Predicate = top["predicate"]
	var subs []map[string]json.RawMessage
	if raw, ok := top["subject"]; ok {
		if err := json.Unmarshal(raw, &subs); err != nil {
			return nil, fmt.Errorf("%w: statement subject is not a list of objects", ErrInvalid)
		}
	}
	if len(subs) == 0 {
		return nil, fmt.Errorf("%w: statement has no subjects", ErrInvalid)
	}
	for i, m := range subs {
		var sub subject
		if err := exactString(m, "name", &sub.Name); err != nil {
			return nil, fmt.Errorf("subject %d: %w", i, err)
		}
		if raw, ok := m["digest"]; ok {
			if err := json.Unmarshal(raw, &sub.Digest); err != nil {
				return nil, fmt.Errorf("%w: subject %d (%q): digest is not an object of strings", ErrInvalid, i, sub.Name)
			}
		}
		switch {
		case len(sub.Name) > maxSubjectNameLength:
			return nil, fmt.Errorf("%w: subject %d: name is longer than %d bytes", ErrInvalid, i, maxSubjectNameLength)
		default:
			// Names that read as other names are refused (see
			// checkSubjectName and Policy).
			if err := checkSubjectName(sub.Name); err != nil {
				return nil, fmt.Errorf("%w: subject %d: name %q %v", ErrInvalid, i, sub.Name, err)
			}
		}
		d, ok := sub.Digest["sha256"]
		if !ok {
			return nil, fmt.Errorf("%w: subject %d (%q) has no sha256 digest; every subject needs one", ErrInvalid, i, sub.Name)
		}
		if !isHex(d, 64) {
			return nil, fmt.Errorf("%w: subject %d (%q): sha256 digest is not 64 lowercase hex digits", ErrInvalid, i, sub.Name)
		}
		for alg, v := range sub.Digest {
			if alg == "" || len(alg) > 32 || len(v) == 0 || len(v) > 256 || hasControlRune(alg) || hasControlRune(v) {
				return nil, fmt.Errorf("%w: subject %d (%q): bad digest %q", ErrInvalid, i, sub.Name, alg)
			}
		}
		st.Subjects = append(st.Subjects, sub)
	}
	if st.PredicateType == ModelSigningV1 {
		var p map[string]json.RawMessage
		var resources []json.RawMessage
		if err := json.Unmarshal(st.Predicate, &p); err != nil || json.Unmarshal(p["resources"], &resources) != nil || resources == nil {
			return nil, fmt.Errorf("%w: model-signing predicate has no resources list", ErrInvalid)
		}
		st.model = &modelSigning{name: st.Subjects[0].Name, resources: len(resources)}
	}
	return &st, nil
}

// exactString reads the string field name of an object, if present.
func exactString(m map[string]json.RawMessage, name string, out *string) error {
	raw, ok := m[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%w: statement field %q is not a string", ErrInvalid, name)
	}
	return nil
}

// maxJSONDepth bounds the nesting of the JSON the log reads before it has
// verified a signature, so that a small body cannot make it allocate much.
const maxJSONDepth = 64

// maxJSONStructure bounds the separators ({ [ , :) of a submission, an
// envelope or a statement: about the values it holds. A model-signing
// manifest of a 10,000-file model has about 70,000.
const maxJSONStructure = 250000

// structuralBytes counts { [ , : outside strings, in one pass over b
// without allocating.
func structuralBytes(b []byte) int {
	n := 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{', c == '[', c == ',', c == ':':
			n++
		}
	}
	return n
}

// checkJSON checks that b is one JSON value, nested at most maxJSONDepth
// deep, in which no object has two field names that are equal ignoring
// case: such a document reads differently in parsers that take the first
// or the last of two names, or match names case-insensitively (Go's
// encoding/json), or exactly. b must also be UTF-8 without lone surrogate
// escapes (checkJSONText), which decoders silently read as U+FFFD.
func checkJSON(b []byte) error {
	if err := checkJSONText(b); err != nil {
		return err
	}
	// Bound the work first: a document of a few MiB could otherwise hold
	// a million keys, each costing the tokenizer below an allocation.
	if n := structuralBytes(b); n > maxJSONStructure {
		return fmt.Errorf("%d JSON separators ({ [ , :), at most %d", n, maxJSONStructure)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		keys   map[string]bool
		object bool
		key    bool // an object expecting a key next
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return io.ErrUnexpectedEOF // an empty document, or one cut short
		}
		if err != nil {
			return err
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].object && stack[top].key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:top]
				// The object ended: it was a value (below).
			} else {
				k := foldKey(tok.(string)) // the decoder yields only keys here
				if stack[top].keys[k] {
					return fmt.Errorf("duplicate field %q (field names must differ in more than case)", tok)
				}
				stack[top].keys[k] = true
				stack[top].key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxJSONDepth {
				return fmt.Errorf("nested more than %d deep", maxJSONDepth)
			}
			f := frame{object: tok == json.Delim('{'), key: true}
			if f.object {
				f.keys = map[string]bool{}
			}
			stack = append(stack, f)
			continue
		case json.Delim(']'):
			stack = stack[:top]
		}
		// A value ended: the enclosing object expects a key again, or
		// the document is complete.
		if top = len(stack) - 1; top >= 0 && stack[top].object {
			stack[top].key = true
		}
		if len(stack) == 0 {
			if len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) > 0 {
				return fmt.Errorf("trailing data after the JSON value")
			}
			return nil
		}
	}
}

// foldKey maps a field name to the same string as every name Go's
// encoding/json would match it with (bytes.EqualFold: Unicode simple case
// folding, so "ſubject" and "subject" fold alike, as do "K" and the Kelvin
// sign), by taking the smallest rune of each rune's fold set.
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		for {
			f := unicode.SimpleFold(r)
			if f <= r {
				r = f
				break
			}
			r = f
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hasControlRune reports C0 and C1 control characters and DEL, which
// could rewrite a terminal line when a name is printed.
func hasControlRune(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

func (st *statement) names() []string {
	out := make([]string, len(st.Subjects))
	for i, s := range st.Subjects {
		out[i] = s.Name
	}
	return out
}

func (st *statement) subjectValues() []any {
	out := make([]any, len(st.Subjects))
	for i, s := range st.Subjects {
		out[i] = map[string]any{"name": s.Name, "digest": s.Digest}
	}
	return out
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseDigest checks a "sha256:<64 lowercase hex>" string and returns the
// 32 bytes.
func ParseDigest(s string) ([32]byte, error) {
	var out [32]byte
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || !isHex(h, 64) {
		return out, fmt.Errorf("%w: %q is not sha256:<64 lowercase hex digits>", ErrInvalid, s)
	}
	hex.Decode(out[:], []byte(h))
	return out, nil
}
