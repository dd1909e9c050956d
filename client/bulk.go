package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/wire"
)

// BulkOptions shape UploadDecisions.
type BulkOptions struct {
	// Path is the records endpoint (default DecisionsPath; AccessPath,
	// EvaluationsPath).
	Path string
	// Batch is the most records per request (default and at most
	// 10,000).
	Batch int
	// Parallel is the requests in flight (default 4, at most 64).
	Parallel int
	// FullReceipts asks for full receipts: a proof per record, slower.
	FullReceipts bool
	// Retry is how each request rides out pushback and lost connections
	// (zero: DefaultAttempts).
	Retry RetryPolicy
	// OnSend, when set, is called as each request is sent, with its
	// record count.
	OnSend func(records int)
	// OnBatch, when set, is called for each request the log answered, one
	// call at a time; an error stops the upload.
	OnBatch func(BulkBatch) error
}

// BulkBatch is one answered request of UploadDecisions.
type BulkBatch struct {
	// Lines are the input lines (from 1) of the records, Receipts the
	// log's receipts for them, in the same order (not checked: see
	// CheckReceipt).
	Lines    []int
	Receipts []wire.Receipt
	// Bytes is the size of the request's records in the input.
	Bytes int
}

// BulkResult counts what an upload got answers for.
type BulkResult struct {
	Records, Duplicates int64
	// Unanswered counts records sent in requests that had no answer when
	// the upload stopped: they may or may not be logged. Uploading the same
	// input again settles it (the log deduplicates).
	Unanswered int64
}

// RefusedError is a request of an upload that the log refused: nothing of
// it was logged. Lines name the refused records by input line.
type RefusedError struct {
	// FirstLine is the input line of the request's first record.
	FirstLine int
	Lines     []wire.LineReason
	Status    *StatusError
}

func (e *RefusedError) Error() string {
	se := e.Status
	switch {
	case se.Code == http.StatusRequestEntityTooLarge:
		return fmt.Sprintf("the log refused the request starting at line %d as too large (%s): lower the batch size", e.FirstLine, se.Reason)
	case len(e.Lines) == 0 && se.Code == http.StatusBadRequest:
		return fmt.Sprintf("the log refused records from line %d: %s", e.FirstLine, se.Reason)
	case len(e.Lines) == 0:
		return fmt.Sprintf("the log refused records from line %d: %d %s: %s", e.FirstLine, se.Code, http.StatusText(se.Code), se.Reason)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the log refused %d record(s) of the request starting at line %d, nothing of it was logged:", len(e.Lines), e.FirstLine)
	for i, l := range e.Lines {
		if i == 20 {
			fmt.Fprintf(&b, "\n  … and %d more", len(e.Lines)-i)
			break
		}
		fmt.Fprintf(&b, "\n  line %d: %s", l.Line, l.Reason)
	}
	return b.String()
}

func (e *RefusedError) Unwrap() error { return e.Status }

// UploadDecisions streams NDJSON records (decision records, or the kind
// of BulkOptions.Path) from in (one record per
// line, empty lines skipped) to the log, in requests of up to Batch
// records and MaxBatchBytes, Parallel at a time, as the log validates
// them: a refused request stops the upload with a *RefusedError naming
// input lines. It is resumable: records already logged come back as
// duplicates with their first index. It returns when in is exhausted and
// every request answered, or at the first failure, or when ctx ends.
//
// When the upload stops early, a reader blocked in a read that never ends
// (a terminal, a pipe that sends nothing) is abandoned: the caller is
// expected to exit or drop in.
func (c *Client) UploadDecisions(ctx context.Context, in io.Reader, opts BulkOptions) (BulkResult, error) {
	if opts.Batch == 0 {
		opts.Batch = attest.MaxBatch
	}
	if opts.Path == "" {
		opts.Path = DecisionsPath
	}
	if opts.Parallel == 0 {
		opts.Parallel = 4
	}
	if opts.Batch < 1 || opts.Batch > attest.MaxBatch {
		return BulkResult{}, fmt.Errorf("batch size must be 1…%d", attest.MaxBatch)
	}
	if opts.Parallel < 1 || opts.Parallel > 64 {
		return BulkResult{}, errors.New("parallel requests must be 1…64")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg         sync.WaitGroup
		errOnce    sync.Once
		firstErr   error
		outMu      sync.Mutex
		records    atomic.Int64
		dups       atomic.Int64
		unanswered atomic.Int64
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	sopts := SubmitOptions{Compact: !opts.FullReceipts, Retry: opts.Retry}
	chunks := make(chan chunk, opts.Parallel)
	for range opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var ch chunk
				select {
				case c, ok := <-chunks:
					if !ok {
						return
					}
					ch = c
				case <-ctx.Done():
					return
				}
				n := int64(len(ch.lines))
				unanswered.Add(n)
				if opts.OnSend != nil {
					opts.OnSend(len(ch.lines))
				}
				rs, err := c.PostRecords(ctx, opts.Path, ch.body, len(ch.lines), sopts)
				if err != nil {
					var se *StatusError
					if errors.As(err, &se) && !se.Temporary() {
						unanswered.Add(-n) // a definite answer: nothing of it was logged
						fail(refused(se, ch.lines))
					} else if ctx.Err() == nil {
						fail(fmt.Errorf("giving up on records from line %d: %w", ch.lines[0], err))
					}
					continue // otherwise its records may have been logged
				}
				unanswered.Add(-n)
				var d int64
				for _, r := range rs {
					if r.Duplicate {
						d++
					}
				}
				records.Add(n)
				dups.Add(d)
				if opts.OnBatch != nil {
					outMu.Lock()
					err := opts.OnBatch(BulkBatch{Lines: ch.lines, Receipts: rs, Bytes: len(ch.body)})
					outMu.Unlock()
					if err != nil {
						fail(err)
					}
				}
			}
		}()
	}
	readDone := make(chan error, 1)
	go func() {
		readDone <- readChunks(ctx, in, opts.Batch, chunks)
		close(chunks)
	}()
	wg.Wait()
	select {
	case err := <-readDone:
		if firstErr == nil && err != nil {
			firstErr = err
		}
	default:
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return BulkResult{Records: records.Load(), Duplicates: dups.Load(), Unanswered: unanswered.Load()}, firstErr
}

// refused maps a refusal's request lines to input lines.
func refused(se *StatusError, lines []int) *RefusedError {
	e := &RefusedError{FirstLine: lines[0], Status: se}
	for _, l := range se.Lines {
		if l.Line >= 1 && l.Line <= len(lines) {
			l.Line = lines[l.Line-1] // the request's line l.Line is this input line
		}
		e.Lines = append(e.Lines, l)
	}
	return e
}

// chunk is one request's worth of records.
type chunk struct {
	body  []byte
	lines []int // input line number of each record
}

// readChunks splits in into chunks of at most batch records and
// MaxBatchBytes, skipping empty lines, until EOF or ctx ends.
func readChunks(ctx context.Context, in io.Reader, batch int, out chan<- chunk) error {
	r := bufio.NewReaderSize(in, 1<<20)
	cur := chunk{body: make([]byte, 0, MaxBatchBytes/4)}
	send := func() bool {
		if len(cur.lines) == 0 {
			return true
		}
		select {
		case out <- cur:
		case <-ctx.Done():
			return false
		}
		cur = chunk{body: make([]byte, 0, MaxBatchBytes/4)}
		return true
	}
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("line %d is longer than %d bytes (a record is at most %d)", n, r.Size(), attest.MaxDecisionSize)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			if len(cur.body)+len(line)+1 > MaxBatchBytes && !send() {
				return nil
			}
			cur.body = append(cur.body, line...)
			if line[len(line)-1] != '\n' {
				cur.body = append(cur.body, '\n')
			}
			cur.lines = append(cur.lines, n)
			if len(cur.lines) == batch && !send() {
				return nil
			}
		}
		if err == io.EOF {
			send()
			return nil
		}
		if err != nil {
			return err
		}
	}
}
