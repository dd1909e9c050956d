package attest

import (
	"fmt"
	"strconv"
	"strings"
)

// Access is an access/v1 record: which person or service did what with
// which resource, for what purpose, under which legal basis — the
// data-access strand of the audit trail (an analyst opens a customer's
// KYC file; a recommender reads a patient record). Names that are
// themselves personal data go in as commitments (see Commit).
type Access struct {
	// System names the system the access went through; writer
	// systems= scopes apply to it.
	System string `json:"system"`
	// EventID is the operator's identifier of the access event.
	EventID string `json:"event_id"`
	// Time is when the access happened, RFC 3339, kept as given.
	Time string `json:"time"`
	// Actor is who accessed.
	Actor Actor `json:"actor"`
	// Action is one of AccessActions.
	Action string `json:"action"`
	// Resource is what was accessed.
	Resource Resource `json:"resource"`
	// Records are commitments to the record contents seen, optional.
	Records []string `json:"records,omitempty"`
	// Purpose is why (free text), e.g. "kyc-review".
	Purpose string `json:"purpose"`
	// LegalBasis is under which legal basis (free text), e.g.
	// "GDPR Art. 6(1)(c)" or "HIPAA treatment".
	LegalBasis string `json:"legal_basis"`
	// Decision is the decision the access served, optional.
	Decision *DecisionRef `json:"decision,omitempty"`
	// Labels are small public key/value annotations, optional.
	Labels map[string]string `json:"labels,omitempty"`
}

// Actor is who accessed: a person or a service, by an opaque id or by a
// commitment to the id ("sha256:<64 hex>") when the id itself is
// personal data.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Resource is what was accessed: its type (free text: "customer-file",
// "patient-record") and id, an opaque id or a commitment to one.
type Resource struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// DecisionRef names a decision record: exactly one of its log index
// ({"index":N}) or its decision_id ({"decision_id":"…"}).
type DecisionRef struct {
	Index      *uint64 `json:"index,omitempty"`
	DecisionID string  `json:"decision_id,omitempty"`
}

// MaxDecisionIndex is the largest decision.index: 2^53-1, the largest
// integer a JSON reader that reads numbers as doubles (RFC 8785, and
// JavaScript) reads exactly, so the entry stays canonical for them too.
const MaxDecisionIndex = 1<<53 - 1

// AccessActions are the actions of an access record.
var AccessActions = []string{"read", "export", "update", "delete", "query"}

// ActorTypes are the types of an actor.
var ActorTypes = []string{"person", "service"}

// MaxAccessSize is the longest access record (one NDJSON line).
const MaxAccessSize = 16 << 10

// MaxRecords is the most record commitments of an access record.
const MaxRecords = MaxDataAccessed

// ParseAccess decodes and validates one access record (a JSON object;
// unknown and duplicate fields and nulls refused) and returns it with its
// entry: canonical JSON of kind access/v1.
func ParseAccess(line []byte) (*Access, []byte, error) {
	a := &Access{}
	if err := readRecord(line, MaxAccessSize, "an access", a.read); err != nil {
		return nil, nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, nil, err
	}
	return a, a.Canonical(), nil
}

// ParseAccessEntry parses one access record into its RecordEntry.
func ParseAccessEntry(line []byte) (RecordEntry, error) {
	a, entry, err := ParseAccess(line)
	if err != nil {
		return RecordEntry{}, err
	}
	return RecordEntry{Entry: entry, Terms: a.Terms(), System: a.System, Time: a.Time}, nil
}

func (a *Access) read(r *jsonReader) error {
	return r.object("record", func(key string) (err error) {
		switch key {
		case "system":
			a.System, err = r.str(key)
		case "event_id":
			a.EventID, err = r.str(key)
		case "time":
			a.Time, err = r.str(key)
		case "action":
			a.Action, err = r.str(key)
		case "purpose":
			a.Purpose, err = r.str(key)
		case "legal_basis":
			a.LegalBasis, err = r.str(key)
		case "actor":
			err = r.object("actor", func(k string) (err error) {
				switch k {
				case "type":
					a.Actor.Type, err = r.str("actor.type")
				case "id":
					a.Actor.ID, err = r.str("actor.id")
				default:
					err = unknownField(" in actor", k)
				}
				return err
			})
		case "resource":
			err = r.object("resource", func(k string) (err error) {
				switch k {
				case "type":
					a.Resource.Type, err = r.str("resource.type")
				case "id":
					a.Resource.ID, err = r.str("resource.id")
				default:
					err = unknownField(" in resource", k)
				}
				return err
			})
		case "records":
			a.Records, err = r.strArray("records")
		case "decision":
			ref := &DecisionRef{}
			a.Decision = ref
			err = r.object("decision", func(k string) (err error) {
				switch k {
				case "index":
					var s string
					if s, err = r.number("decision.index"); err != nil {
						return err
					}
					n, perr := strconv.ParseUint(s, 10, 64)
					if perr != nil || n > MaxDecisionIndex {
						return fmt.Errorf("decision.index %s is not a log index (an integer 0…%d)", s, uint64(MaxDecisionIndex))
					}
					ref.Index = &n
				case "decision_id":
					ref.DecisionID, err = r.str("decision.decision_id")
				default:
					err = unknownField(" in decision", k)
				}
				return err
			})
		case "labels":
			a.Labels, err = r.labels()
		default:
			err = unknownField("", key)
		}
		return err
	})
}

// checkIDOrCommitment checks an id that may be a commitment: anything
// starting "sha256:", in any case, must be one.
func checkIDOrCommitment(name, v string) error {
	if err := checkText(name, v, true); err != nil {
		return err
	}
	if len(v) >= 7 && strings.EqualFold(v[:7], "sha256:") && !isCommitment(v) {
		return fmt.Errorf("%w: %s %q starts with sha256: but is not a commitment (sha256:<64 lowercase hex>)", ErrInvalid, name, truncate(v))
	}
	return nil
}

// Validate checks every field; the error names the first bad one.
func (a *Access) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	for _, f := range []struct {
		name, value string
	}{
		{"system", a.System},
		{"event_id", a.EventID},
	} {
		if err := checkText(f.name, f.value, true); err != nil {
			return err
		}
	}
	if err := checkTime(a.Time); err != nil {
		return err
	}
	if a.Actor.Type == "" {
		return bad("actor.type is required (person or service)")
	}
	if !contains(ActorTypes, a.Actor.Type) {
		return bad("actor.type %q: want person or service", truncate(a.Actor.Type))
	}
	if err := checkIDOrCommitment("actor.id", a.Actor.ID); err != nil {
		return err
	}
	if a.Action == "" {
		return bad("action is required (%s)", strings.Join(AccessActions, ", "))
	}
	if !contains(AccessActions, a.Action) {
		return bad("action %q: want one of %s", truncate(a.Action), strings.Join(AccessActions, ", "))
	}
	if err := checkText("resource.type", a.Resource.Type, true); err != nil {
		return err
	}
	if err := checkIDOrCommitment("resource.id", a.Resource.ID); err != nil {
		return err
	}
	if len(a.Records) > MaxRecords {
		return bad("records has %d commitments, at most %d", len(a.Records), MaxRecords)
	}
	for i, v := range a.Records {
		if !isCommitment(v) {
			return bad("records[%d] %q is not sha256:<64 lowercase hex>", i, truncate(v))
		}
	}
	for _, f := range []struct{ name, value string }{{"purpose", a.Purpose}, {"legal_basis", a.LegalBasis}} {
		if err := checkText(f.name, f.value, true); err != nil {
			return err
		}
	}
	if d := a.Decision; d != nil {
		switch {
		case d.Index == nil && d.DecisionID == "":
			return bad(`decision: give {"index":N} or {"decision_id":"…"}`)
		case d.Index != nil && d.DecisionID != "":
			return bad("decision: give index or decision_id, not both")
		case d.Index == nil:
			if err := checkText("decision.decision_id", d.DecisionID, true); err != nil {
				return err
			}
		}
	}
	return checkLabels(a.Labels)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Canonical returns the record's entry: canonical JSON with "kind":
// "access/v1", keys sorted, optional fields omitted when empty. a must be
// valid.
func (a *Access) Canonical() []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"action":`...)
	b = appendString(b, a.Action)
	b = append(b, `,"actor":{"id":`...)
	b = appendString(b, a.Actor.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, a.Actor.Type)
	b = append(b, '}')
	if d := a.Decision; d != nil {
		if d.Index != nil {
			b = append(b, `,"decision":{"index":`...)
			b = strconv.AppendUint(b, *d.Index, 10)
		} else {
			b = append(b, `,"decision":{"decision_id":`...)
			b = appendString(b, d.DecisionID)
		}
		b = append(b, '}')
	}
	b = append(b, `,"event_id":`...)
	b = appendString(b, a.EventID)
	b = append(b, `,"kind":"`+KindAccess+`"`...)
	b = appendLabels(b, a.Labels)
	b = append(b, `,"legal_basis":`...)
	b = appendString(b, a.LegalBasis)
	b = append(b, `,"purpose":`...)
	b = appendString(b, a.Purpose)
	if len(a.Records) > 0 {
		b = append(b, `,"records":[`...)
		for i, v := range a.Records {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, v)
		}
		b = append(b, ']')
	}
	b = append(b, `,"resource":{"id":`...)
	b = appendString(b, a.Resource.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, a.Resource.Type)
	b = append(b, `},"system":`...)
	b = appendString(b, a.System)
	b = append(b, `,"time":`...)
	b = appendString(b, a.Time)
	return append(b, '}')
}

// Terms returns the search terms of an access record: system, actor id,
// resource id (each as given, commitment or not), purpose and event id.
func (a *Access) Terms() [][]byte {
	return [][]byte{
		Term(KindAccess, "system", a.System),
		Term(KindAccess, "actor", a.Actor.ID),
		Term(KindAccess, "resource", a.Resource.ID),
		Term(KindAccess, "purpose", a.Purpose),
		Term(KindAccess, "event", a.EventID),
	}
}
