package api

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/log"
)

// recordKind is what differs between the record endpoints (decisions,
// access, evaluations): everything else — content types, body limits,
// memory, batches, writer scopes, checked time, receipts — is shared.
type recordKind struct {
	// parse parses one record.
	parse attest.RecordParser
	// maxRecord bounds one record (the body of a single JSON record, a
	// line of NDJSON).
	maxRecord int
	// logged counts the new records logged, for /metrics.
	logged func(*server) *atomic.Uint64
	// message is the log line of a request that logged new records.
	message string
}

var (
	decisionRecords = &recordKind{
		parse: attest.ParseDecisionEntry, maxRecord: attest.MaxDecisionSize,
		logged: func(s *server) *atomic.Uint64 { return &s.decisionsLogged }, message: "decisions logged",
	}
	accessRecords = &recordKind{
		parse: attest.ParseAccessEntry, maxRecord: attest.MaxAccessSize,
		logged: func(s *server) *atomic.Uint64 { return &s.accessLogged }, message: "access records logged",
	}
	evaluationRecords = &recordKind{
		parse: attest.ParseEvaluationEntry, maxRecord: attest.MaxEvaluationSize,
		logged: func(s *server) *atomic.Uint64 { return &s.evaluationsLogged }, message: "evaluations logged",
	}
)

// recordPaths are the record endpoints, for the rejection counter.
var recordPaths = map[string]bool{"/api/v1/decisions": true, "/api/v1/access": true, "/api/v1/evaluations": true}

// POST /api/v1/decisions, /api/v1/access, /api/v1/evaluations: one record
// (application/json) or up to attest.MaxBatch (application/x-ndjson), all
// validated before any is logged. Answers one receipt, or one receipt per
// line in input order.
func (s *server) records(kind *recordKind) echo.HandlerFunc {
	return func(c echo.Context) error { return s.submitRecords(c, kind) }
}

func (s *server) submitRecords(c echo.Context, kind *recordKind) error {
	opts, err := s.receiptOptions(c)
	if err != nil {
		return err
	}
	if err := jsonContent(c, "application/json", "application/x-ndjson"); err != nil {
		return err
	}
	ndjson := mediaType(c) == "application/x-ndjson"
	if err := s.gate(); err != nil {
		return err
	}
	limit := kind.maxRecord
	if ndjson {
		limit = s.cfg.DecisionBodyLimit
	}
	release, err := s.reserve(c, limit, decisionMemoryFactor)
	if err != nil {
		return err
	}
	defer release()
	body, err := readBody(c.Request(), limit)
	if err != nil {
		return err
	}
	check := s.timeCheck()
	var recs []attest.RecordEntry
	if ndjson {
		if recs, err = attest.ParseRecords(body, kind.parse, check); err != nil {
			return err
		}
	} else {
		r, err := kind.parse(body) // JSON whitespace only around it, as in NDJSON
		if err == nil && check != nil {
			err = check(&r)
		}
		if err != nil {
			return err
		}
		recs = []attest.RecordEntry{r}
	}
	if err := checkSystems(c, func(yield func(int, string) bool) {
		for i := range recs {
			if !yield(i, recs[i].System) {
				return
			}
		}
	}); err != nil {
		return err
	}
	entries := make([]log.Entry, len(recs))
	data := make([][]byte, len(recs))
	for i, r := range recs {
		entries[i] = log.Entry{Data: r.Entry, Terms: r.Terms}
		data[i] = r.Entry
	}
	fs, err := s.log.AddAll(entries)
	if err != nil {
		return err
	}
	results := make([]log.Result, len(fs))
	fresh := 0
	defer func() {
		if len(results) > 0 && fresh > 0 {
			s.cfg.Logger.Info(kind.message, "writer", writerName(c), "client", clientAddr(c.Request()),
				"count", len(results), "new", fresh, "first_index", results[0].Index, "request_id", c.Get(ctxRequestID))
		}
	}()
	logged := kind.logged(s)
	for i, f := range fs {
		// The futures of one AddAll resolve together: the first wait is
		// the only one that blocks.
		if results[i], err = f.Wait(c.Request().Context()); err != nil {
			if len(fs) > 1 {
				// The records may span batches, some of which committed.
				return fmt.Errorf("%w (records of this request in other batches may be logged: retry the whole request; logged records come back as duplicates)", err)
			}
			return err
		}
		if !results[i].Duplicate {
			logged.Add(1)
			fresh++
		}
	}
	rs, code, err := s.receipts(c.Request().Context(), data, results, opts)
	if err != nil {
		return err
	}
	if !ndjson {
		return c.JSON(code, rs[0])
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/x-ndjson")
	c.Response().WriteHeader(code)
	enc := newLineEncoder(c.Response())
	for i := range rs {
		var err error
		if opts.compact {
			// The bulk path: written by hand, byte for byte what
			// encoding/json writes for a compact Receipt.
			err = enc.compact(&rs[i])
		} else {
			err = enc.encode(&rs[i])
		}
		if err != nil {
			return nil // the client went away; the entries are logged
		}
	}
	return enc.flush()
}

// timeCheck is the check of records' times against the log's clock
// (Config.MaxClockSkew, Config.MaxRecordAge), read once a request; nil
// when both are off.
func (s *server) timeCheck() func(*attest.RecordEntry) error {
	if s.cfg.MaxClockSkew < 0 && s.cfg.MaxRecordAge <= 0 {
		return nil
	}
	b := attest.TimeBounds{Now: s.now(), MaxSkew: s.cfg.MaxClockSkew, MaxAge: s.cfg.MaxRecordAge}
	return func(r *attest.RecordEntry) error { return b.Check(r.Time) }
}

// now is the log's clock.
func (s *server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}
