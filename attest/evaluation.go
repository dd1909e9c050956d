package attest

import (
	"fmt"
	"math"
)

// Evaluation is an evaluation/v1 record: the measured performance of a
// model version on a dataset (a clinical recommender's sensitivity on a
// held-out cohort), so that the audit trail shows which evaluation stood
// behind the model that decided.
type Evaluation struct {
	// System names the AI system the evaluation is for; writer systems=
	// scopes apply to it.
	System string `json:"system"`
	// EvaluationID is the operator's identifier of the evaluation.
	EvaluationID string `json:"evaluation_id"`
	// Time is when the evaluation was made, RFC 3339, kept as given.
	Time string `json:"time"`
	// Model is the model evaluated.
	Model Model `json:"model"`
	// Dataset is what it was evaluated on.
	Dataset Dataset `json:"dataset"`
	// Metrics are the results: name → finite number.
	Metrics map[string]float64 `json:"metrics"`
	// Evaluator is who or what ran the evaluation.
	Evaluator string `json:"evaluator"`
	// Labels are small public key/value annotations, optional.
	Labels map[string]string `json:"labels,omitempty"`
}

// Dataset names a dataset and pins its content: exactly one of a
// digest (sha256 of the dataset file, when the dataset may be public) or
// a commitment (salted, when it is private; see Commit).
type Dataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest,omitempty"`
	Commitment string `json:"commitment,omitempty"`
}

// Limits of an evaluation record.
const (
	// MaxEvaluationSize is the longest evaluation record.
	MaxEvaluationSize = 16 << 10
	// MaxMetrics is the most metrics of an evaluation.
	MaxMetrics = 64
)

// ParseEvaluation decodes and validates one evaluation record and returns
// it with its entry: canonical JSON of kind evaluation/v1.
func ParseEvaluation(line []byte) (*Evaluation, []byte, error) {
	e := &Evaluation{}
	if err := readRecord(line, MaxEvaluationSize, "an evaluation", e.read); err != nil {
		return nil, nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, nil, err
	}
	return e, e.Canonical(), nil
}

// ParseEvaluationEntry parses one evaluation record into its RecordEntry.
func ParseEvaluationEntry(line []byte) (RecordEntry, error) {
	e, entry, err := ParseEvaluation(line)
	if err != nil {
		return RecordEntry{}, err
	}
	return RecordEntry{Entry: entry, Terms: e.Terms(), System: e.System, Time: e.Time}, nil
}

func (e *Evaluation) read(r *jsonReader) error {
	return r.object("record", func(key string) (err error) {
		switch key {
		case "system":
			e.System, err = r.str(key)
		case "evaluation_id":
			e.EvaluationID, err = r.str(key)
		case "time":
			e.Time, err = r.str(key)
		case "evaluator":
			e.Evaluator, err = r.str(key)
		case "model":
			err = r.object("model", func(k string) (err error) {
				switch k {
				case "name":
					e.Model.Name, err = r.str("model.name")
				case "version":
					e.Model.Version, err = r.str("model.version")
				case "digest":
					e.Model.Digest, err = r.str("model.digest")
				default:
					err = unknownField(" in model", k)
				}
				return err
			})
		case "dataset":
			err = r.object("dataset", func(k string) (err error) {
				switch k {
				case "name":
					e.Dataset.Name, err = r.str("dataset.name")
				case "digest":
					e.Dataset.Digest, err = r.str("dataset.digest")
				case "commitment":
					e.Dataset.Commitment, err = r.str("dataset.commitment")
				default:
					err = unknownField(" in dataset", k)
				}
				return err
			})
		case "metrics":
			e.Metrics = map[string]float64{}
			err = r.object("metrics", func(k string) error {
				name := "metric " + quoteKey(k)
				s, err := r.number(name)
				if err != nil {
					return err
				}
				v, err := parseNumber(s)
				if err != nil {
					return fmt.Errorf("%s: %v", name, err)
				}
				e.Metrics[k] = v
				return nil
			})
		case "labels":
			e.Labels, err = r.labels()
		default:
			err = unknownField("", key)
		}
		return err
	})
}

func quoteKey(k string) string { return fmt.Sprintf("%q", truncate(k)) }

// Validate checks every field; the error names the first bad one.
func (e *Evaluation) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	for _, f := range []struct{ name, value string }{
		{"system", e.System},
		{"evaluation_id", e.EvaluationID},
		{"model.name", e.Model.Name},
		{"model.version", e.Model.Version},
		{"dataset.name", e.Dataset.Name},
		{"evaluator", e.Evaluator},
	} {
		if err := checkText(f.name, f.value, true); err != nil {
			return err
		}
	}
	if err := checkTime(e.Time); err != nil {
		return err
	}
	if e.Model.Digest != "" {
		if _, err := ParseDigest(e.Model.Digest); err != nil {
			return bad("model.digest %q is not sha256:<64 lowercase hex>", truncate(e.Model.Digest))
		}
	}
	d := e.Dataset
	switch {
	case d.Digest == "" && d.Commitment == "":
		return bad("dataset: give digest (sha256 of the dataset) or commitment (salted, for a private dataset)")
	case d.Digest != "" && d.Commitment != "":
		return bad("dataset: give digest or commitment, not both")
	case d.Digest != "" && !isCommitment(d.Digest):
		return bad("dataset.digest %q is not sha256:<64 lowercase hex>", truncate(d.Digest))
	case d.Commitment != "" && !isCommitment(d.Commitment):
		return bad("dataset.commitment %q is not sha256:<64 lowercase hex>", truncate(d.Commitment))
	}
	if len(e.Metrics) == 0 {
		return bad("metrics: at least one is required")
	}
	if len(e.Metrics) > MaxMetrics {
		return bad("%d metrics, at most %d", len(e.Metrics), MaxMetrics)
	}
	for k, v := range e.Metrics {
		if k == "" || len(k) > maxLabelKey || hasControl(k) {
			return bad("metric name %q must be 1…%d bytes without control characters", truncate(k), maxLabelKey)
		}
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return bad("metric %q: not a finite number", truncate(k))
		}
	}
	return checkLabels(e.Labels)
}

// Canonical returns the record's entry: canonical JSON with "kind":
// "evaluation/v1", keys sorted, optional fields omitted when empty, and
// metrics as RFC 8785 numbers (AppendNumber). e must be valid.
func (e *Evaluation) Canonical() []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"dataset":{`...)
	if e.Dataset.Commitment != "" {
		b = append(b, `"commitment":`...)
		b = appendString(b, e.Dataset.Commitment)
	} else {
		b = append(b, `"digest":`...)
		b = appendString(b, e.Dataset.Digest)
	}
	b = append(b, `,"name":`...)
	b = appendString(b, e.Dataset.Name)
	b = append(b, `},"evaluation_id":`...)
	b = appendString(b, e.EvaluationID)
	b = append(b, `,"evaluator":`...)
	b = appendString(b, e.Evaluator)
	b = append(b, `,"kind":"`+KindEvaluation+`"`...)
	b = appendLabels(b, e.Labels)
	b = append(b, `,"metrics":{`...)
	for i, k := range canonicalKeys(e.Metrics) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = AppendNumber(b, e.Metrics[k])
	}
	b = append(b, `},"model":{`...)
	if e.Model.Digest != "" {
		b = append(b, `"digest":`...)
		b = appendString(b, e.Model.Digest)
		b = append(b, ',')
	}
	b = append(b, `"name":`...)
	b = appendString(b, e.Model.Name)
	b = append(b, `,"version":`...)
	b = appendString(b, e.Model.Version)
	b = append(b, `},"system":`...)
	b = appendString(b, e.System)
	b = append(b, `,"time":`...)
	b = appendString(b, e.Time)
	return append(b, '}')
}

// Terms returns the search terms of an evaluation: system, model name,
// model digest if given, and the evaluation id (as event).
func (e *Evaluation) Terms() [][]byte {
	t := [][]byte{
		Term(KindEvaluation, "system", e.System),
		Term(KindEvaluation, "model", e.Model.Name),
		Term(KindEvaluation, "event", e.EvaluationID),
	}
	if e.Model.Digest != "" {
		t = append(t, Term(KindEvaluation, "digest", e.Model.Digest))
	}
	return t
}
