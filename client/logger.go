package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/wire"
)

// LoggerConfig configures a DecisionLogger. The zero value is usable.
type LoggerConfig struct {
	// MaxBatch is the most records per request (default 1,000; at most
	// 10,000).
	MaxBatch int
	// MaxAge is how long a record waits for its batch to fill before the
	// batch is sent anyway (default 200 ms).
	MaxAge time.Duration
	// QueueSize bounds the records accepted and not yet sent (default
	// 100,000); Log blocks, and TryLog fails, while it is full.
	QueueSize int
	// InFlight is the requests sent at once (default 2).
	InFlight int
	// FullReceipts asks for full receipts, whose inclusion proofs are
	// checked against verified checkpoints (slower: a proof per record).
	// Compact receipts are checked by their leaf hash.
	FullReceipts bool
	// OnReceipt, when set, is called once for every confirmed record, one
	// call at a time, from the logger's goroutines: keep it short.
	OnReceipt func(Confirmed)
	// Receipts, when set, gets one JSON line per confirmed record: the
	// receipt's fields and "seq", the number Log returned.
	Receipts io.Writer
	// Retry is how a batch rides out pushback, rate limits and lost
	// connections. Its zero value retries until Close's context ends
	// (never before the log's Retry-After); a batch that is refused (4xx)
	// is not retried.
	Retry RetryPolicy
}

// Confirmed is a record the log confirmed, with its checked receipt.
type Confirmed struct {
	Seq     uint64
	Record  []byte
	Receipt Receipt
}

// Failed is a record that will not be logged: the log refused it (or the
// batch it was in, for a reason that was not another record's), or the
// logger could not queue it.
type Failed struct {
	Seq    uint64
	Record []byte
	Err    error
}

// Pending is a record not confirmed when a Flush or Close gave up. It may
// have been logged (its request was in flight): logging it again is safe,
// the log deduplicates.
type Pending struct {
	Seq    uint64
	Record []byte
}

// Report accounts for every record with a number in (From, To]: each one
// is confirmed, failed or pending, so the records confirmed are exactly
// those of (From, To] not listed in Failed or Pending. Confirmed counts
// them. A record reported Pending by a Flush is settled later: Failed of
// a later report lists it if it fails, OnReceipt and Receipts get it when
// it is confirmed, and Close lists it again if it is still pending.
type Report struct {
	From, To  uint64
	Confirmed int
	Failed    []Failed
	Pending   []Pending
}

// Err is nil when every record of the report was confirmed.
func (r Report) Err() error {
	if len(r.Failed) == 0 && len(r.Pending) == 0 {
		return nil
	}
	return fmt.Errorf("%d records confirmed, %d refused, %d unconfirmed", r.Confirmed, len(r.Failed), len(r.Pending))
}

// Errors of DecisionLogger.
var (
	ErrClosed    = errors.New("client: the decision logger is closed")
	ErrQueueFull = errors.New("client: the decision logger's queue is full")
)

// DecisionLogger logs decision records in the background, for serving
// stacks that must log one record per interaction without waiting for
// the log: Log validates a record and queues it; batches are sent by
// count (MaxBatch) or age (MaxAge), retried through pushback and outages
// (safe: the log deduplicates), and every confirmed record's receipt is
// checked and delivered (OnReceipt, Receipts). Flush and Close say exactly
// which records are confirmed. It is safe for concurrent use.
type DecisionLogger struct {
	c   *Client
	cfg LoggerConfig

	// slots bounds the queue: a slot is taken by Log before the record is
	// numbered and given back when the batcher takes the record.
	slots   chan struct{}
	queue   chan *item
	flushCh chan struct{}
	stop    chan struct{}
	batches chan []*item
	// ctx ends every request when Close gives up.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	outMu sync.Mutex // serializes OnReceipt and Receipts

	// mu guards the accounting; changed signals each settled record.
	mu        sync.Mutex
	changed   *sync.Cond
	closed    bool
	next      uint64           // numbers given so far
	unsettled map[uint64]*item // queued or in flight
	// low is the smallest record number that may be unsettled: every
	// number below it is settled (so a Flush need not scan the map).
	low      uint64
	failed   []Failed
	reported uint64 // Report.To of the last report
	flushMu  sync.Mutex
}

type item struct {
	seq    uint64
	record []byte
	entry  []byte // the canonical entry the log must log
}

// NewDecisionLogger starts a logger that sends through c.
func (c *Client) NewDecisionLogger(cfg LoggerConfig) *DecisionLogger {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	cfg.MaxBatch = min(cfg.MaxBatch, attest.MaxBatch)
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 200 * time.Millisecond
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 100_000
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 2
	}
	if cfg.Retry.Attempts == 0 {
		cfg.Retry.Attempts = -1
	}
	l := &DecisionLogger{
		c: c, cfg: cfg,
		slots:     make(chan struct{}, cfg.QueueSize),
		queue:     make(chan *item, cfg.QueueSize),
		flushCh:   make(chan struct{}, 1),
		stop:      make(chan struct{}),
		batches:   make(chan []*item),
		unsettled: map[uint64]*item{},
		low:       1,
	}
	l.changed = sync.NewCond(&l.mu)
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(1 + cfg.InFlight)
	go l.batcher()
	for range cfg.InFlight {
		go l.sender()
	}
	return l
}

// Log validates record (one decision record, JSON) with the log's rules
// and queues it, blocking while the queue is full until ctx ends. It
// returns the record's number, by which receipts and reports name it. An
// invalid record is an error and is not queued.
func (l *DecisionLogger) Log(ctx context.Context, record []byte) (uint64, error) {
	it, err := l.prepare(record)
	if err != nil {
		return 0, err
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-l.stop:
		return 0, ErrClosed
	}
	return l.enqueue(it)
}

// TryLog is Log that fails with ErrQueueFull instead of blocking.
func (l *DecisionLogger) TryLog(record []byte) (uint64, error) {
	it, err := l.prepare(record)
	if err != nil {
		return 0, err
	}
	select {
	case l.slots <- struct{}{}:
	default:
		return 0, ErrQueueFull
	}
	return l.enqueue(it)
}

func (l *DecisionLogger) prepare(record []byte) (*item, error) {
	record = bytes.TrimSpace(appendLine(nil, record))
	_, entry, err := attest.ParseDecision(record)
	if err != nil {
		return nil, err
	}
	return &item{record: record, entry: entry}, nil
}

func (l *DecisionLogger) enqueue(it *item) (uint64, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.slots
		return 0, ErrClosed
	}
	l.next++
	it.seq = l.next
	l.unsettled[it.seq] = it
	// Under mu, so that the queue's order is the numbers' order; never
	// blocks: a slot was taken.
	l.queue <- it
	l.mu.Unlock()
	return it.seq, nil
}

// batcher owns the batch being filled.
func (l *DecisionLogger) batcher() {
	defer l.wg.Done()
	defer close(l.batches)
	var (
		batch []*item
		size  int
		timer = time.NewTimer(time.Hour)
	)
	timer.Stop()
	send := func() {
		if len(batch) > 0 {
			l.batches <- batch
			batch, size = nil, 0
		}
		timer.Stop()
	}
	add := func(it *item) {
		<-l.slots
		if size+len(it.record)+1 > MaxBatchBytes {
			send()
		}
		if len(batch) == 0 {
			timer.Reset(l.cfg.MaxAge)
		}
		batch = append(batch, it)
		size += len(it.record) + 1
		if len(batch) >= l.cfg.MaxBatch {
			send()
		}
	}
	drain := func() {
		for {
			select {
			case it := <-l.queue:
				add(it)
			default:
				send()
				return
			}
		}
	}
	for {
		select {
		case it := <-l.queue:
			add(it)
		case <-timer.C:
			send()
		case <-l.flushCh:
			drain()
		case <-l.stop:
			drain()
			return
		}
	}
}

func (l *DecisionLogger) sender() {
	defer l.wg.Done()
	for b := range l.batches {
		l.send(b)
	}
}

// send logs one batch. A batch refused for some of its records is sent
// again without them.
func (l *DecisionLogger) send(b []*item) {
	for len(b) > 0 {
		body := make([]byte, 0, len(b)*256)
		for _, it := range b {
			body = append(append(body, it.record...), '\n')
		}
		opts := SubmitOptions{Compact: !l.cfg.FullReceipts, Retry: l.cfg.Retry}
		ws, err := l.c.PostDecisions(l.ctx, body, len(b), opts)
		if err == nil {
			for i, it := range b {
				r, err := l.c.CheckReceipt(l.ctx, &ws[i], it.entry)
				if err != nil {
					l.fail(it, err)
					continue
				}
				l.confirm(it, r)
			}
			return
		}
		if l.ctx.Err() != nil {
			return // Close gave up: the batch stays pending
		}
		var se *StatusError
		if !errors.As(err, &se) || len(se.Lines) == 0 {
			for _, it := range b {
				l.fail(it, err)
			}
			return
		}
		var rest []*item
		for i, it := range b {
			if j := slices.IndexFunc(se.Lines, func(lr wire.LineReason) bool { return lr.Line == i+1 }); j >= 0 {
				l.fail(it, fmt.Errorf("the log refused the record: %s", se.Lines[j].Reason))
			} else {
				rest = append(rest, it)
			}
		}
		if len(rest) == len(b) {
			for _, it := range b {
				l.fail(it, err)
			}
			return
		}
		b = rest
	}
}

func (l *DecisionLogger) confirm(it *item, r Receipt) {
	if l.cfg.OnReceipt != nil || l.cfg.Receipts != nil {
		l.outMu.Lock()
		if l.cfg.OnReceipt != nil {
			l.cfg.OnReceipt(Confirmed{Seq: it.seq, Record: it.record, Receipt: r})
		}
		if l.cfg.Receipts != nil {
			line, _ := json.Marshal(struct {
				Seq uint64 `json:"seq"`
				wire.Receipt
			}{it.seq, r.Receipt})
			_, _ = l.cfg.Receipts.Write(append(line, '\n'))
		}
		l.outMu.Unlock()
	}
	l.mu.Lock()
	delete(l.unsettled, it.seq)
	l.advanceLow()
	l.changed.Broadcast()
	l.mu.Unlock()
}

func (l *DecisionLogger) fail(it *item, err error) {
	l.mu.Lock()
	delete(l.unsettled, it.seq)
	l.advanceLow()
	l.failed = append(l.failed, Failed{Seq: it.seq, Record: it.record, Err: err})
	l.changed.Broadcast()
	l.mu.Unlock()
}

// Flush sends what is queued now and waits until every record logged
// before the call is confirmed or refused, or ctx ends. Its report covers
// the records numbered since the previous report up to the last one
// logged before the call; records still unconfirmed when ctx ended are
// listed as Pending (they stay queued or in flight, and a later report
// accounts for them again).
func (l *DecisionLogger) Flush(ctx context.Context) (Report, error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	to := l.next
	l.mu.Unlock()
	select {
	case l.flushCh <- struct{}{}:
	default:
	}
	err := l.wait(ctx, to)
	return l.report(to, false), err
}

// Close stops taking records, sends every queued one and waits for all to
// be confirmed or refused. When ctx ends first, it stops sending and
// reports what is unconfirmed as Pending. It returns the report of every
// record since the previous report; the logger cannot be used after.
func (l *DecisionLogger) Close(ctx context.Context) (Report, error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return Report{From: l.reported, To: l.reported}, ErrClosed
	}
	l.closed = true
	to := l.next
	l.mu.Unlock()
	close(l.stop)
	err := l.wait(ctx, to)
	l.cancel()
	l.wg.Wait()
	return l.report(to, true), err
}

// wait waits until no record numbered to or lower is unsettled.
func (l *DecisionLogger) wait(ctx context.Context, to uint64) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.changed.Broadcast()
			l.mu.Unlock()
		case <-done:
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.unsettledUpTo(to) && ctx.Err() == nil {
		l.changed.Wait()
	}
	if l.unsettledUpTo(to) {
		return ctx.Err()
	}
	return nil
}

func (l *DecisionLogger) unsettledUpTo(to uint64) bool {
	return l.low <= to && l.low <= l.next
}

// advanceLow moves low past the records settled; amortized O(1), as
// numbers only grow. l.mu is held.
func (l *DecisionLogger) advanceLow() {
	for l.low <= l.next {
		if _, ok := l.unsettled[l.low]; ok {
			return
		}
		l.low++
	}
}

// report accounts for the records numbered (l.reported, to]. Failed also
// lists records of an earlier report's Pending that have failed since;
// with all (Close), Pending lists every record still unsettled.
func (l *DecisionLogger) report(to uint64, all bool) Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Report{From: l.reported, To: to}
	var keep []Failed
	inWindow := 0
	for _, f := range l.failed {
		if f.Seq > to {
			keep = append(keep, f)
			continue
		}
		r.Failed = append(r.Failed, f)
		if f.Seq > l.reported {
			inWindow++
		}
	}
	l.failed = keep
	for seq, it := range l.unsettled {
		if seq <= to && (all || seq > l.reported) {
			r.Pending = append(r.Pending, Pending{Seq: seq, Record: it.record})
			if seq > l.reported {
				inWindow++
			}
		}
	}
	slices.SortFunc(r.Failed, func(a, b Failed) int { return cmp.Compare(a.Seq, b.Seq) })
	slices.SortFunc(r.Pending, func(a, b Pending) int { return cmp.Compare(a.Seq, b.Seq) })
	r.Confirmed = int(to-l.reported) - inWindow
	l.reported = to
	return r
}
