package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tlogai/tlog/client"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/internal/keyfile"
)

const (
	// decideAttempts is how often one request is tried on transient
	// failures (503 pushback, lost connections) before decide gives up.
	decideAttempts = 20
)

type decideFlags struct {
	logURL, file, receipts string
	batch, parallel        int
	path                   string // the records endpoint
}

// bulkKind is a kind of record that tlog decide, tlog access and tlog
// evaluate log in bulk.
type bulkKind struct {
	command, noun, path, example string
}

var (
	decisionsBulk   = bulkKind{"decide", "decision records", client.DecisionsPath, "decisions"}
	accessBulk      = bulkKind{"access", "data-access records (access/v1)", client.AccessPath, "access"}
	evaluationsBulk = bulkKind{"evaluate", "evaluation records (evaluation/v1)", client.EvaluationsPath, "evaluations"}
)

func decideCmd() *cobra.Command { return bulkCmd(decisionsBulk) }

func accessCmd() *cobra.Command { return bulkCmd(accessBulk) }

func evaluateCmd() *cobra.Command { return bulkCmd(evaluationsBulk) }

func bulkCmd(k bulkKind) *cobra.Command {
	f := decideFlags{path: k.path}
	cmd := &cobra.Command{
		Use:   k.command + " --log URL --file records.ndjson [--receipts FILE]",
		Short: "Log " + k.noun + " in bulk, resumably",
		Long: `Streams an NDJSON file of ` + k.noun + ` (one JSON record per line; "-"
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
		Example: `  tlog ` + k.command + ` --log http://127.0.0.1:8080 --file ` + k.example + `.ndjson
  tlog ` + k.command + ` --log http://127.0.0.1:8080 --file ` + k.example + `.ndjson --receipts receipts.ndjson`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return decide(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.logURL, "log", "", "log URL (required)")
	fl.StringVar(&f.file, "file", "", "NDJSON file of "+k.noun+", or - for stdin (required)")
	fl.StringVar(&f.receipts, "receipts", "", "write full receipts here (NDJSON); slower: every record gets its proof")
	fl.IntVar(&f.batch, "batch", attest.MaxBatch, "records per request (1…10000)")
	fl.IntVar(&f.parallel, "parallel", 4, "requests in flight")
	return cmd
}

func decide(cmd *cobra.Command, f decideFlags) error {
	// Bulk requests may wait behind others' commits; the per-request
	// timeout of the other commands is too short for 10,000 records with
	// full receipts.
	c, err := newClient(f.logURL, "", withTimeout(bulkTimeout))
	if err != nil {
		return err
	}
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

	// Ctrl-C or SIGTERM: stop sending, let the progress line go, and say
	// how far it got and how to resume (requests in flight may or may not
	// have been logged; the rerun sorts that out through dedup).
	ctx, cancel := context.WithCancelCause(cmd.Context())
	defer cancel(nil)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		select {
		case s := <-sig:
			// A second Ctrl-C kills the process the default way.
			signal.Stop(sig)
			cancel(fmt.Errorf("interrupted (%v)", s))
		case <-ctx.Done():
		}
	}()

	p := newProgress(cmd.ErrOrStderr(), total)
	opts := client.BulkOptions{
		Path:  f.path,
		Batch: f.batch, Parallel: f.parallel, FullReceipts: receipts != nil,
		Retry: client.RetryPolicy{Attempts: decideAttempts, MinBackoff: 50 * time.Millisecond, MaxBackoff: 5 * time.Second},
		OnBatch: func(b client.BulkBatch) error {
			var dups int
			for _, r := range b.Receipts {
				if r.Duplicate {
					dups++
				}
			}
			p.done(len(b.Receipts), dups, b.Bytes)
			if receipts == nil {
				return nil
			}
			enc := json.NewEncoder(receipts)
			for i := range b.Receipts {
				if err := enc.Encode(&b.Receipts[i]); err != nil {
					return fmt.Errorf("couldn't write receipts: %w", err)
				}
			}
			return nil
		},
	}
	res, err := c.UploadDecisions(ctx, in, opts)
	p.stop()
	if cause := context.Cause(ctx); cause != nil && cmd.Context().Err() == nil {
		err = cause // the signal, not "context canceled"
	}
	if receipts != nil && err == nil {
		err = receipts.Sync()
	}
	if re := (*client.RefusedError)(nil); errors.As(err, &re) && re.Status.Code == http.StatusRequestEntityTooLarge {
		err = fmt.Errorf("%w; lower --batch", err)
	}
	if err != nil {
		unsure := ""
		if n := res.Unanswered; n > 0 {
			unsure = fmt.Sprintf("; %s more were sent without an answer and may be logged", commas(n))
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "stopped: %v\n%s%s\nrun the same command again to resume (records already logged are skipped)\n", err, p.summary(), unsure)
		return exitError{1}
	}
	fmt.Fprintln(cmd.ErrOrStderr(), p.summary())
	return nil
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
	bytes   atomic.Int64
	quit    chan struct{}
	stopped chan struct{}
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
			salt, err := parseSalt([]byte(saltHex))
			if err != nil {
				return fmt.Errorf("--salt: %w", err)
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
