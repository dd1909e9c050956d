package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/internal/keyfile"
)

// decide's request shaping: a request carries at most attest.MaxBatch
// records and maxChunkBytes of them (half the server's default body
// limit), so that it is never refused for its size.
const (
	maxChunkBytes = 16 << 20
	// maxBatchAnswer bounds an NDJSON answer: full receipts are a few KiB
	// each.
	maxBatchAnswer = 256 << 20
	// decideAttempts is how often one request is tried on transient
	// failures (503 pushback, lost connections) before decide gives up.
	decideAttempts = 20
)

type decideFlags struct {
	logURL, file, receipts string
	batch, parallel        int
}

func decideCmd() *cobra.Command {
	var f decideFlags
	cmd := &cobra.Command{
		Use:   "decide --log URL --file records.ndjson [--receipts FILE]",
		Short: "Log decision records in bulk, resumably",
		Long: `Streams an NDJSON file of decision records (one JSON record per line; "-"
reads stdin) to the log in requests of up to --batch records, --parallel at a
time, and shows progress (records, rate, ETA) on stderr. Every request is
validated whole by the log: a bad line stops the run with its line number
and reason, and nothing of that request is logged.

Resumable: run it again after an interruption and the records already
logged come back as duplicates with their original indices (the log
deduplicates identical entries); only the rest are added.

By default the log answers compact receipts (index and leaf hash); with
--receipts FILE, full receipts (entry, checkpoint, inclusion proof,
tlog-proof) are written to FILE, one JSON line per record, in the order
the requests complete (each receipt carries its entry and index).`,
		Example: `  tlog decide --log http://127.0.0.1:8080 --file decisions.ndjson
  tlog decide --log http://127.0.0.1:8080 --file decisions.ndjson --receipts receipts.ndjson`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return decide(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.logURL, "log", "", "log URL (required)")
	fl.StringVar(&f.file, "file", "", "NDJSON file of decision records, or - for stdin (required)")
	fl.StringVar(&f.receipts, "receipts", "", "write full receipts here (NDJSON); slower: every record gets its proof")
	fl.IntVar(&f.batch, "batch", attest.MaxBatch, "records per request (1…10000)")
	fl.IntVar(&f.parallel, "parallel", 4, "requests in flight")
	return cmd
}

// chunk is one request's worth of records.
type chunk struct {
	body  []byte
	lines []int // file line number of each record
}

func decide(cmd *cobra.Command, f decideFlags) error {
	c, err := newLogClient(f.logURL)
	if err != nil {
		return err
	}
	// Bulk requests may wait behind others' commits; the per-request
	// timeout of the other commands is too short for 10,000 records with
	// full receipts.
	c.hc.Timeout = 5 * time.Minute
	if f.file == "" {
		return errors.New("--file is required")
	}
	if f.batch < 1 || f.batch > attest.MaxBatch {
		return fmt.Errorf("--batch must be 1…%d", attest.MaxBatch)
	}
	if f.parallel < 1 || f.parallel > 64 {
		return errors.New("--parallel must be 1…64")
	}
	in := io.Reader(os.Stdin)
	var total int64
	if f.file != "-" {
		file, err := os.Open(f.file)
		if err != nil {
			return err
		}
		defer file.Close()
		if st, err := file.Stat(); err == nil && st.Mode().IsRegular() {
			total = st.Size()
		}
		in = file
	}
	var receipts *os.File
	if f.receipts != "" {
		if receipts, err = os.OpenFile(f.receipts, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
			return err
		}
		defer receipts.Close()
	}

	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		outMu    sync.Mutex
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	// Ctrl-C or SIGTERM: stop sending, let the progress line go, and say
	// how far it got and how to resume (requests in flight may or may not
	// have been logged; the rerun sorts that out through dedup).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		select {
		case s := <-sig:
			// A second Ctrl-C kills the process the default way.
			signal.Stop(sig)
			fail(fmt.Errorf("interrupted (%v)", s))
		case <-ctx.Done():
		}
	}()

	p := newProgress(cmd.ErrOrStderr(), total)
	chunks := make(chan chunk, f.parallel)
	q := url.Values{}
	if receipts == nil {
		q.Set("receipts", "compact")
	}
	for range f.parallel {
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
					return // stopping
				}
				p.inFlight.Add(int64(len(ch.lines)))
				rs, err := sendChunk(ctx, c, q, ch)
				if err != nil {
					if errors.As(err, new(refusedError)) {
						// A definite answer: nothing of it was logged.
						p.inFlight.Add(-int64(len(ch.lines)))
					}
					fail(err)
					continue // otherwise its records may have been logged
				}
				p.inFlight.Add(-int64(len(ch.lines)))
				var dup int
				for _, r := range rs {
					if r.Duplicate {
						dup++
					}
				}
				if receipts != nil {
					outMu.Lock()
					enc := json.NewEncoder(receipts)
					for i := range rs {
						if err := enc.Encode(&rs[i]); err != nil {
							fail(fmt.Errorf("couldn't write receipts: %w", err))
							break
						}
					}
					outMu.Unlock()
				}
				p.done(len(rs), dup, len(ch.body))
			}
		}()
	}

	// The reader owns chunks and closes it at the end of the input. When
	// the run stops early, the workers return at once and the reader may
	// stay blocked in a read (a pipe or terminal that sends nothing): it
	// is abandoned, the process is about to exit.
	readDone := make(chan error, 1)
	go func() {
		readDone <- readChunks(ctx, in, f.batch, chunks)
		close(chunks)
	}()
	wg.Wait()
	p.stop()
	select {
	case readErr := <-readDone:
		if firstErr == nil && readErr != nil {
			firstErr = readErr
		}
	default:
	}
	if receipts != nil && firstErr == nil {
		if err := receipts.Sync(); err != nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		unsure := ""
		if n := p.inFlight.Load(); n > 0 {
			unsure = fmt.Sprintf("; %s more were sent without an answer and may be logged", commas(n))
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "stopped: %v\n%s%s\nrun the same command again to resume (records already logged are skipped)\n", firstErr, p.summary(), unsure)
		return exitError{1}
	}
	fmt.Fprintln(cmd.ErrOrStderr(), p.summary())
	return nil
}

// readChunks splits in into chunks of at most batch records and
// maxChunkBytes, skipping empty lines, until EOF or ctx ends.
func readChunks(ctx context.Context, in io.Reader, batch int, out chan<- chunk) error {
	r := bufio.NewReaderSize(in, 1<<20)
	cur := chunk{body: make([]byte, 0, maxChunkBytes/4)}
	send := func() bool {
		if len(cur.lines) == 0 {
			return true
		}
		select {
		case out <- cur:
		case <-ctx.Done():
			return false
		}
		cur = chunk{body: make([]byte, 0, maxChunkBytes/4)}
		return true
	}
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("line %d is longer than %d bytes (a record is at most %d)", n, r.Size(), attest.MaxDecisionSize)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			if len(cur.body)+len(line)+1 > maxChunkBytes && !send() {
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

// refusedError is a definite refusal (a 4xx): nothing of the request was
// logged.
type refusedError struct{ error }

func (e refusedError) Unwrap() error { return e.error }

// sendChunk posts one chunk, retrying transient failures, and returns its
// receipts. A 400 is final: its reasons are reported with file line
// numbers.
func sendChunk(ctx context.Context, c *logClient, q url.Values, ch chunk) ([]api.Receipt, error) {
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		code, h, body, err := c.post(ctx, "/api/v1/decisions", q, "application/x-ndjson", ch.body, maxBatchAnswer)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		switch {
		case err == nil && code == http.StatusOK:
			return parseReceipts(body, len(ch.lines))
		case err == nil && code == http.StatusBadRequest:
			return nil, refusedError{batchRejection(body, ch.lines)}
		case err == nil && code == http.StatusRequestEntityTooLarge:
			return nil, refusedError{fmt.Errorf("the log refused the request starting at line %d as too large (%s): lower --batch", ch.lines[0], reason(body))}
		case err == nil && code != http.StatusServiceUnavailable && code != http.StatusTooManyRequests && code < 500:
			return nil, refusedError{fmt.Errorf("the log refused records from line %d: %d %s: %s", ch.lines[0], code, http.StatusText(code), reason(body))}
		}
		if attempt == decideAttempts {
			if err == nil {
				err = fmt.Errorf("%d %s: %s", code, http.StatusText(code), reason(body))
			}
			return nil, fmt.Errorf("giving up on records from line %d after %d attempts: %w", ch.lines[0], attempt, err)
		}
		// Pushback clears as soon as the log commits a batch (a few
		// milliseconds): retry soon, backing off, but never later than
		// the log's Retry-After.
		wait := backoff
		if s, perr := strconv.Atoi(h.Get("Retry-After")); err == nil && perr == nil && s > 0 {
			wait = min(wait, time.Duration(s)*time.Second)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func parseReceipts(body []byte, want int) ([]api.Receipt, error) {
	rs := make([]api.Receipt, 0, want)
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		var r api.Receipt
		err := dec.Decode(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the log answered malformed receipts: %w", err)
		}
		rs = append(rs, r)
	}
	if len(rs) != want {
		return nil, fmt.Errorf("the log answered %d receipts for %d records", len(rs), want)
	}
	return rs, nil
}

// batchRejection turns a 400 answer into an error naming file lines.
func batchRejection(body []byte, lines []int) error {
	var e struct {
		Error string `json:"error"`
		Lines []struct {
			Line   int    `json:"line"`
			Reason string `json:"reason"`
		} `json:"lines"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Lines) == 0 {
		return fmt.Errorf("the log refused records from line %d: %s", lines[0], reason(body))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the log refused %d record(s) of the request starting at line %d, nothing of it was logged:", len(e.Lines), lines[0])
	for i, l := range e.Lines {
		if i == 20 {
			fmt.Fprintf(&b, "\n  … and %d more", len(e.Lines)-i)
			break
		}
		n := l.Line
		if l.Line >= 1 && l.Line <= len(lines) {
			n = lines[l.Line-1] // the request's line l.Line is this file line
		}
		fmt.Fprintf(&b, "\n  line %d: %s", n, l.Reason)
	}
	return errors.New(b.String())
}

// progress prints a progress line on stderr: a redrawn line on a terminal,
// a line every few seconds otherwise.
type progress struct {
	w       io.Writer
	tty     bool
	total   int64
	start   time.Time
	records atomic.Int64
	dups    atomic.Int64
	// inFlight counts records sent without an answer yet.
	inFlight atomic.Int64
	bytes    atomic.Int64
	quit     chan struct{}
	stopped  chan struct{}
}

func newProgress(w io.Writer, total int64) *progress {
	p := &progress{w: w, total: total, start: time.Now(), quit: make(chan struct{}), stopped: make(chan struct{})}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	go p.run()
	return p
}

func (p *progress) done(records, dups, bytes int) {
	p.records.Add(int64(records))
	p.dups.Add(int64(dups))
	p.bytes.Add(int64(bytes))
}

func (p *progress) run() {
	defer close(p.stopped)
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			if p.tty {
				fmt.Fprint(p.w, "\r\033[K")
			}
			return
		case <-t.C:
			if p.tty {
				fmt.Fprintf(p.w, "\r\033[K%s", p.line())
			} else {
				fmt.Fprintln(p.w, p.line())
			}
		}
	}
}

func (p *progress) line() string {
	n := p.records.Load()
	el := time.Since(p.start).Seconds()
	rate := float64(n) / max(el, 1e-9)
	s := fmt.Sprintf("%s records  %s/s", commas(n), commas(int64(rate)))
	if p.total > 0 {
		b := p.bytes.Load()
		frac := float64(b) / float64(p.total)
		s += fmt.Sprintf("  %3.0f%%", 100*frac)
		if b > 0 && frac < 1 {
			eta := time.Duration(el * (1/frac - 1) * float64(time.Second)).Round(time.Second)
			s += fmt.Sprintf("  ETA %s", eta)
		}
	}
	return s
}

func (p *progress) stop() {
	close(p.quit)
	<-p.stopped
}

func (p *progress) summary() string {
	n, d := p.records.Load(), p.dups.Load()
	el := time.Since(p.start)
	return fmt.Sprintf("logged %s records (%s new, %s already logged) in %s: %s records/s",
		commas(n), commas(n-d), commas(d), el.Round(time.Millisecond), commas(int64(float64(n)/max(el.Seconds(), 1e-9))))
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + commas(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func decisionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "decision",
		Short: "Make and open salted commitments for decision records",
		Long: `A decision record never holds personal data: it holds commitments to the
input, output, rationale and data accessed. A commitment is

  sha256:<hex of SHA-256("tlog/commitment/v1" || 0x00 || salt || content)>

with a fresh 32-byte random salt. Without the salt nobody can test guesses
of the content against the public log; with content and salt, an auditor
recomputes it. Keep the salt with the content, as private as the content.`,
	}
	cmd.AddCommand(commitCmd(), openCmd())
	return cmd
}

func commitCmd() *cobra.Command {
	var in, saltOut string
	cmd := &cobra.Command{
		Use:   "commit --in FILE [--salt-out FILE.salt]",
		Short: "Print the commitment to a file's content, writing a new salt",
		Long: `Prints the commitment to FILE's exact bytes (for a decision record's
commitments) and writes its new random salt, in hex, to --salt-out (default
FILE.salt; never overwritten).`,
		Example: "  tlog decision commit --in prompt.txt",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" {
				return errors.New("--in FILE is required")
			}
			content, err := os.ReadFile(in)
			if err != nil {
				return err
			}
			if saltOut == "" {
				saltOut = in + ".salt"
			}
			salt := attest.NewSalt()
			commitment, err := attest.Commit(salt, content)
			if err != nil {
				return err
			}
			if err := keyfile.WriteSynced(saltOut, []byte(hex.EncodeToString(salt)+"\n"), os.O_EXCL, 0o600); err != nil {
				return fmt.Errorf("couldn't write the salt (an existing salt file is never replaced): %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), commitment)
			fmt.Fprintf(cmd.ErrOrStderr(), "salt written to %s: keep it with the content; without it the commitment cannot be opened\n", saltOut)
			return nil
		},
	}
	cmd.Flags().StringVar(&in, "in", "", "the content (required)")
	cmd.Flags().StringVar(&saltOut, "salt-out", "", "where to write the salt (default FILE.salt)")
	return cmd
}

func openCmd() *cobra.Command {
	var in, commitment, saltArg string
	cmd := &cobra.Command{
		Use:   "open --commitment sha256:HEX --salt HEX|FILE --in FILE",
		Short: "Check that a file's content opens a logged commitment",
		Long: `Recomputes the commitment from FILE and the salt (64 hex digits, or a file
holding them) and compares. Exits 0 and prints "opened" if they match,
exits 1 if they do not.`,
		Example: "  tlog decision open --commitment sha256:3a7c… --salt prompt.txt.salt --in prompt.txt",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" || commitment == "" || saltArg == "" {
				return errors.New("--commitment, --salt and --in are required")
			}
			content, err := os.ReadFile(in)
			if err != nil {
				return err
			}
			// A file by that name wins; otherwise the value is the salt.
			saltHex := strings.TrimSpace(saltArg)
			if b, err := os.ReadFile(saltArg); err == nil {
				saltHex = strings.TrimSpace(string(b))
			} else if len(saltHex) != 2*attest.SaltSize {
				return fmt.Errorf("--salt is neither %d hex digits nor a readable file: %w", 2*attest.SaltSize, err)
			}
			salt, err := hex.DecodeString(saltHex)
			if err != nil || len(salt) != attest.SaltSize {
				return fmt.Errorf("the salt must be %d hex digits", 2*attest.SaltSize)
			}
			if err := attest.Open(commitment, salt, content); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "NOT opened: %v\n", strings.TrimPrefix(err.Error(), attest.ErrInvalid.Error()+": "))
				return exitError{1}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "opened: %s is the content of %s\n", in, commitment)
			return nil
		},
	}
	cmd.Flags().StringVar(&in, "in", "", "the content (required)")
	cmd.Flags().StringVar(&commitment, "commitment", "", "the commitment, sha256:<hex> (required)")
	cmd.Flags().StringVar(&saltArg, "salt", "", "the salt: 64 hex digits, or a file holding them (required)")
	return cmd
}
