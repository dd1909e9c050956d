package monitor

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/tlogai/tlog/attest"
)

// KindRaw is the Report.Kind of an entry that is not an AI entry (added
// with POST /add).
const KindRaw = "raw"

// Watch is what a monitor looks for. An entry is reported when any
// criterion matches it (they are alternatives, not conditions that must
// all hold), and, with Allowed, when it is a release the list does not
// allow (see Report.Unexpected).
type Watch struct {
	// Models are model names, matched ignoring case (Unicode simple case
	// folding, as the log's publisher policy covers names) against release
	// subject names and model-signing model names, and against decision
	// and evaluation model.name. A name ending in '/' matches every name
	// that starts with it ("acme/" watches all of acme's models).
	Models []string
	// Digests are "sha256:<64 hex>" digests, matched exactly against
	// release subject digests, decision and evaluation model.digest,
	// evaluation dataset.digest and, for raw entries, the SHA-256 of the
	// entry's bytes.
	Digests []string
	// Identities are certificate identities (SANs), matched exactly
	// against keyless releases whose certificate the log validated.
	Identities []string
	// Systems are system names, matched exactly against decision, access
	// and evaluation records.
	Systems []string
	// Allowed, when set, are the signers allowed to sign releases: of the
	// watched Models, or of any model when Models is empty. A release
	// they do not allow is reported as unexpected.
	Allowed *attest.Signers
}

// Validate checks the watch: at least one criterion, each well formed. It
// normalizes digests to lower case.
func (w *Watch) Validate() error {
	if len(w.Models)+len(w.Digests)+len(w.Identities)+len(w.Systems) == 0 && w.Allowed == nil {
		return errors.New("nothing to watch: give at least one model, digest, identity or system, or the allowed signers")
	}
	check := func(what string, vs []string) error {
		for _, v := range vs {
			switch {
			case strings.TrimSpace(v) == "":
				return fmt.Errorf("empty %s", what)
			case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
				return fmt.Errorf("%s %q holds control characters or invalid UTF-8", what, v)
			}
		}
		return nil
	}
	for _, c := range []struct {
		what string
		vs   []string
	}{{"model", w.Models}, {"identity", w.Identities}, {"system", w.Systems}} {
		if err := check(c.what, c.vs); err != nil {
			return err
		}
	}
	for i, d := range w.Digests {
		d = strings.ToLower(strings.TrimSpace(d))
		if _, err := attest.ParseDigest(d); err != nil {
			return fmt.Errorf("digest %q is not sha256:<64 hex digits>", w.Digests[i])
		}
		w.Digests[i] = d
	}
	return nil
}

func (w *Watch) releases() bool {
	return len(w.Models)+len(w.Digests)+len(w.Identities) > 0 || w.Allowed != nil
}

func (w *Watch) records() bool { return len(w.Models)+len(w.Digests)+len(w.Systems) > 0 }

// Report is one line of a monitor's output: an entry that matched, as
// JSON. Fields that do not apply to the entry's kind are left out.
type Report struct {
	Index uint64 `json:"index"`
	// Kind is the entry's kind (model-release/v1, decision/v1, access/v1,
	// evaluation/v1), "raw", or for an entry in the form of an AI entry
	// that does not decode, the kind it claims.
	Kind string `json:"kind"`
	// Matched lists the criteria that matched, as "model=NAME",
	// "digest=D", "identity=X", "system=S", or "allowed-signers" for a
	// release reported only because the allowed signers do not list its
	// signer.
	Matched []string `json:"matched,omitempty"`

	// Releases.
	Subjects       []Subject `json:"subjects,omitempty"`
	ModelSigning   string    `json:"model_signing_model,omitempty"`
	PredicateType  string    `json:"predicate_type,omitempty"`
	Signers        []string  `json:"signers,omitempty"`
	Identity       string    `json:"identity,omitempty"`
	Issuer         string    `json:"issuer,omitempty"`
	EnvelopeDigest string    `json:"envelope_digest,omitempty"`
	// Signature says whether the release was re-verified from the
	// envelope and key the log keeps beside it: "verified", "does not
	// verify" (then Unexpected), or "not re-checked: …" (keyless).
	Signature string `json:"signature,omitempty"`

	// Records: the system, the record's id (decision_id, event_id or
	// evaluation_id) and time, the model (decisions, evaluations).
	System  string `json:"system,omitempty"`
	ID      string `json:"id,omitempty"`
	Time    string `json:"time,omitempty"`
	Model   string `json:"model,omitempty"`
	Version string `json:"version,omitempty"`
	// Digest is the model's digest (decisions, evaluations) or the SHA-256
	// of a raw entry.
	Digest string `json:"digest,omitempty"`
	// Dataset and DatasetDigest: evaluations.
	Dataset       string `json:"dataset,omitempty"`
	DatasetDigest string `json:"dataset_digest,omitempty"`
	// Actor, Action, Resource and Purpose: access records.
	Actor    string `json:"actor,omitempty"`
	Action   string `json:"action,omitempty"`
	Resource string `json:"resource,omitempty"`
	Purpose  string `json:"purpose,omitempty"`

	// Unexpected is set for a release of a watched model (of any model
	// when no model is watched) signed by a signer the allowed signers do
	// not list, and for an entry in the form of an AI entry of a watched
	// kind that does not decode (the log should never have taken it);
	// Reason says which.
	Unexpected bool   `json:"unexpected,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Subject is a release subject: its name and sha256 digest.
type Subject struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// kindMarkers find the kind of a canonical AI entry without parsing it.
var kindMarkers = func() map[string][]byte {
	m := map[string][]byte{}
	for _, k := range attest.Kinds {
		m[k] = []byte(`"kind":"` + k + `"`)
	}
	return m
}()

// sniff returns the AI kind an entry names, or "".
func sniff(data []byte) string {
	if len(data) == 0 || data[0] != '{' {
		return ""
	}
	for _, k := range attest.Kinds {
		if bytes.Contains(data, kindMarkers[k]) {
			return k
		}
	}
	return ""
}

// match decodes an entry and returns its report, or nil when nothing
// matches.
func (w *Watch) match(index uint64, data []byte) *Report {
	kind := sniff(data)
	var (
		r   *Report
		err error
	)
	switch kind {
	case attest.KindRelease:
		if !w.releases() {
			return nil
		}
		r, err = w.matchRelease(data)
	case attest.KindDecision, attest.KindAccess, attest.KindEvaluation:
		if !w.records() {
			return nil
		}
		r, err = w.matchRecord(kind, data)
	}
	if kind == "" || err != nil {
		if !attest.ClaimsKind(data) {
			return w.matchRaw(index, data)
		}
		return w.undecodable(index, data, kind, err)
	}
	if r != nil {
		r.Index, r.Kind = index, kind
	}
	return r
}

// undecodable reports an entry in the form of an AI entry that does not
// decode, when the watch looks at its kind.
func (w *Watch) undecodable(index uint64, data []byte, kind string, err error) *Report {
	claimed := kind
	if claimed == "" {
		claimed = claimedKind(data)
	}
	watched := w.releases()
	if !strings.HasPrefix(claimed, "model-release/") {
		watched = w.records()
	}
	if !watched {
		return nil
	}
	reason := fmt.Sprintf("the entry is in the form of a %s entry but does not decode as one", claimed)
	if err != nil {
		reason += ": " + err.Error()
	}
	return &Report{Index: index, Kind: claimed, Unexpected: true, Reason: reason}
}

// claimedKind is the "kind" an entry's top-level object gives, as well
// as encoding/json reads it.
func claimedKind(data []byte) string {
	var m struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(data, &m) != nil || m.Kind == "" || len(m.Kind) > 64 || !utf8.ValidString(m.Kind) {
		return "unknown"
	}
	return m.Kind
}

func (w *Watch) matchRaw(index uint64, data []byte) *Report {
	if len(w.Digests) == 0 {
		return nil
	}
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	for _, want := range w.Digests {
		if d == want {
			return &Report{Index: index, Kind: KindRaw, Matched: []string{"digest=" + want}, Digest: d}
		}
	}
	return nil
}

// modelMatches reports whether name is watched by pattern (see
// Watch.Models).
func modelMatches(pattern, name string) bool {
	if strings.HasSuffix(pattern, "/") {
		return hasPrefixFold(name, pattern)
	}
	return strings.EqualFold(pattern, name)
}

// hasPrefixFold is strings.HasPrefix under simple case folding, rune by
// rune (a folded rune may differ in length).
func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		_, n := utf8.DecodeRuneInString(s)
		_, m := utf8.DecodeRuneInString(prefix)
		if !strings.EqualFold(s[:n], prefix[:m]) {
			return false
		}
		s, prefix = s[n:], prefix[m:]
	}
	return true
}

// matched collects the criteria that matched, each once.
type matched []string

func (m *matched) add(field, value string) {
	s := field + "=" + value
	for _, x := range *m {
		if x == s {
			return
		}
	}
	*m = append(*m, s)
}

func (w *Watch) matchModel(m *matched, names ...string) bool {
	hit := false
	for _, p := range w.Models {
		for _, n := range names {
			if n != "" && modelMatches(p, n) {
				m.add("model", p)
				hit = true
			}
		}
	}
	return hit
}

func (w *Watch) matchDigest(m *matched, digests ...string) {
	for _, d := range w.Digests {
		for _, x := range digests {
			if x == d {
				m.add("digest", d)
			}
		}
	}
}

func (w *Watch) matchExact(m *matched, field string, watched []string, value string) {
	for _, v := range watched {
		if value == v {
			m.add(field, v)
		}
	}
}

// release is the part of a model-release/v1 entry the monitor reads.
type release struct {
	Subjects       []Subject
	Model          string
	PredicateType  string
	Signers        []string
	Identity       string
	Issuer         string
	EnvelopeDigest string
}

func (w *Watch) matchRelease(data []byte) (*Report, error) {
	rel, err := parseRelease(data)
	if err != nil {
		return nil, err
	}
	var m matched
	names := []string{rel.Model}
	digests := make([]string, 0, len(rel.Subjects))
	for _, s := range rel.Subjects {
		names = append(names, s.Name)
		digests = append(digests, s.Digest)
	}
	watchedModel := w.matchModel(&m, names...)
	w.matchDigest(&m, digests...)
	if rel.Identity != "" {
		w.matchExact(&m, "identity", w.Identities, rel.Identity)
	}
	r := &Report{Subjects: rel.Subjects, ModelSigning: rel.Model, PredicateType: rel.PredicateType,
		Signers: rel.Signers, Identity: rel.Identity, Issuer: rel.Issuer, EnvelopeDigest: rel.EnvelopeDigest}
	if w.Allowed != nil && (watchedModel || len(w.Models) == 0) && !allowed(w.Allowed, rel) {
		r.Unexpected = true
		who := "signing key " + strings.Join(rel.Signers, ", ")
		if rel.Identity != "" {
			who = fmt.Sprintf("%s (identity %q of issuer %q)", who, rel.Identity, rel.Issuer)
		}
		r.Reason = "the " + who + " is not on the allowed signers list"
		if len(m) == 0 {
			m = append(m, "allowed-signers")
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	r.Matched = m
	return r, nil
}

// allowed reports whether the list allows one of the release's signers.
func allowed(s *attest.Signers, rel *release) bool {
	for _, k := range rel.Signers {
		if s.Allows(attest.Signer{Key: k, Identity: rel.Identity, Issuer: rel.Issuer}) {
			return true
		}
	}
	return false
}

// parseRelease reads a model-release/v1 entry strictly: every object's
// field names exactly as the log writes them, none twice, none unknown,
// so that no two readers see different releases in one entry.
func parseRelease(data []byte) (*release, error) {
	top, err := strictObject(data, "kind", "statement_type", "predicate_type", "subjects", "envelope_digest",
		"signers", "identity", "issuer", "time_source", "model_signing")
	if err != nil {
		return nil, err
	}
	rel := &release{}
	var kind string
	for _, f := range []struct {
		name     string
		out      *string
		required bool
	}{{"kind", &kind, true}, {"predicate_type", &rel.PredicateType, true}, {"envelope_digest", &rel.EnvelopeDigest, true},
		{"identity", &rel.Identity, false}, {"issuer", &rel.Issuer, false}} {
		raw, ok := top[f.name]
		if !ok {
			if f.required {
				return nil, fmt.Errorf("no %s", f.name)
			}
			continue
		}
		if err := json.Unmarshal(raw, f.out); err != nil {
			return nil, fmt.Errorf("%s is not a string", f.name)
		}
	}
	if kind != attest.KindRelease {
		return nil, fmt.Errorf("kind %q", kind)
	}
	if (rel.Identity == "") != (rel.Issuer == "") {
		return nil, errors.New("an identity without an issuer, or an issuer without an identity")
	}
	if err := json.Unmarshal(top["signers"], &rel.Signers); err != nil || len(rel.Signers) == 0 {
		return nil, errors.New("signers is not a non-empty list of strings")
	}
	for _, s := range rel.Signers {
		if _, err := attest.ParseDigest(s); err != nil {
			return nil, fmt.Errorf("signer %q is not a key fingerprint", s)
		}
	}
	var subs []json.RawMessage
	if err := json.Unmarshal(top["subjects"], &subs); err != nil || len(subs) == 0 {
		return nil, errors.New("subjects is not a non-empty list")
	}
	for i, raw := range subs {
		so, err := strictObject(raw, "name", "digest")
		if err != nil {
			return nil, fmt.Errorf("subject %d: %v", i, err)
		}
		var s Subject
		if err := json.Unmarshal(so["name"], &s.Name); err != nil {
			return nil, fmt.Errorf("subject %d: name is not a string", i)
		}
		d, err := strictStrings(so["digest"])
		if err != nil {
			return nil, fmt.Errorf("subject %d: digest: %v", i, err)
		}
		if s.Digest = "sha256:" + d["sha256"]; d["sha256"] == "" {
			return nil, fmt.Errorf("subject %d has no sha256 digest", i)
		}
		rel.Subjects = append(rel.Subjects, s)
	}
	if raw, ok := top["model_signing"]; ok {
		ms, err := strictObject(raw, "model", "resources")
		if err != nil {
			return nil, fmt.Errorf("model_signing: %v", err)
		}
		if err := json.Unmarshal(ms["model"], &rel.Model); err != nil {
			return nil, errors.New("model_signing.model is not a string")
		}
	}
	return rel, nil
}

// strictObject reads a JSON object whose field names must be among
// known, each at most once.
func strictObject(data []byte, known ...string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		if !containsString(known, key) {
			return nil, fmt.Errorf("unknown field %q", key)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("field %q twice", key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the object")
	}
	return out, nil
}

// strictStrings reads a JSON object of strings, no name twice.
func strictStrings(data []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	out := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%q twice", key)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%q is not a string", key)
		}
		out[key] = v
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// matchRecord decodes a decision, access or evaluation entry with the
// attest package's parser and matches it.
func (w *Watch) matchRecord(kind string, data []byte) (*Report, error) {
	r := &Report{}
	var m matched
	switch kind {
	case attest.KindDecision:
		d, err := attest.ReadDecisionEntry(data)
		if err != nil {
			return nil, err
		}
		r.System, r.ID, r.Time, r.Model, r.Version, r.Digest = d.System, d.DecisionID, d.Time, d.Model.Name, d.Model.Version, d.Model.Digest
		w.matchModel(&m, r.Model)
		w.matchDigest(&m, r.Digest)
	case attest.KindEvaluation:
		e, err := attest.ReadEvaluationEntry(data)
		if err != nil {
			return nil, err
		}
		r.System, r.ID, r.Time, r.Model, r.Version, r.Digest = e.System, e.EvaluationID, e.Time, e.Model.Name, e.Model.Version, e.Model.Digest
		r.Dataset, r.DatasetDigest = e.Dataset.Name, e.Dataset.Digest
		w.matchModel(&m, r.Model)
		w.matchDigest(&m, r.Digest, r.DatasetDigest)
	case attest.KindAccess:
		a, err := attest.ReadAccessEntry(data)
		if err != nil {
			return nil, err
		}
		r.System, r.ID, r.Time = a.System, a.EventID, a.Time
		r.Actor, r.Action, r.Resource, r.Purpose = a.Actor.ID, a.Action, a.Resource.ID, a.Purpose
	}
	w.matchExact(&m, "system", w.Systems, r.System)
	if len(m) == 0 {
		return nil, nil
	}
	r.Matched = m
	return r, nil
}
