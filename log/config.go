package log

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tlogai/tlog/signer"
)

// Config configures a Log. The zero value of every optional field selects
// the documented default. Flags and files that fill it live in cmd/.
type Config struct {
	// Dir is the directory of the Pebble store. It is created if missing.
	// Required.
	Dir string

	// FS is the filesystem the store lives on. Nil means the operating
	// system's. Tests inject vfs.NewCrashableMem() to simulate crashes.
	FS vfs.FS

	// Signer signs checkpoints. Its key name is the log's origin. A store
	// remembers the verifier key it was created with and refuses to open
	// with another one. Required.
	Signer *signer.Signer

	// BatchMaxSize is the most entries integrated in one batch, that is
	// in one Pebble commit and one fsync. Default 16384 (bulk decision
	// requests bring 10,000 at once; larger batches mean fewer fsyncs).
	BatchMaxSize int

	// BatchMaxAge is how long the sequencer waits for more entries after
	// the first entry of a batch arrives, before it commits a batch smaller
	// than BatchMaxSize. Under load, batches also form on their own while
	// the previous one is being committed. Zero selects the default of
	// 1ms; a negative value means do not wait.
	BatchMaxAge time.Duration

	// CommitTimeout is how long a batch (dedup lookups, signing, the
	// commit with fsync) may take before the adds waiting on it give up
	// with ErrTimeout. A healthy batch takes milliseconds; this only fires
	// on a stuck disk or signing backend. The batch itself is not
	// abandoned: its entries may still be logged. Default 30s.
	CommitTimeout time.Duration

	// PoolSize is the most entries that may wait for the sequencer. When
	// the pool is full, Add fails with ErrPushback (HTTP 503) and no index
	// is consumed. Default 65536: six bulk requests of 10,000 decision
	// records, with room for single adds.
	PoolSize int

	// PoolBytes is the most bytes (entries and their blobs) that may
	// wait for the sequencer; beyond, Add fails with ErrPushback, and an
	// AddAll larger than this with ErrTooMany. With PoolSize it bounds
	// the memory of pending work. Default 512 MiB.
	PoolBytes int64

	// CheckpointHistoryInterval is the least time between two signed
	// checkpoints kept in the checkpoint history (for proofs against older
	// tree sizes). The latest checkpoint is always kept; a checkpoint is
	// signed for every batch. Zero selects the default of 1s; a negative
	// value keeps every checkpoint.
	CheckpointHistoryInterval time.Duration

	// TileCacheSize is the number of full hash tiles and full entry bundles
	// kept in memory (each hash tile is 8 KiB; bundles are as large as
	// their 256 entries). Default 4096.
	TileCacheSize int

	// TileCacheBytes bounds the bytes of the cached tiles and bundles
	// (bundles of large entries run to megabytes). Default 64 MiB.
	TileCacheBytes int64

	// NodeCacheSize is the number of node hashes kept in memory for
	// serving proofs (about 40 bytes each). Upper tree levels, shared by
	// every proof, stay cached. Default 1<<20 (about 40 MiB); negative
	// disables the cache.
	NodeCacheSize int

	// CacheSize is the size in bytes of Pebble's block cache. Default
	// 128 MiB.
	CacheSize int64

	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger

	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// OnBatch, if set, is called once for every committed batch (one that
	// signed a new checkpoint; batches of duplicates only commit nothing
	// and are not reported), in commit order, on the committer goroutine,
	// after the batch's checkpoint is published and before its adds are
	// answered. It must return quickly (a histogram observation) and must
	// not call the log's write methods. Metrics use it; the log itself
	// stays free of any metrics library.
	OnBatch func(BatchInfo)
}

// BatchInfo describes a committed batch, for Config.OnBatch.
type BatchInfo struct {
	// Entries is the number of adds the batch answered, duplicates
	// included; New of them were new entries.
	Entries int
	New     uint64
	// Size is the tree size of the checkpoint the batch published.
	Size uint64
	// Duration is the time from the start of the batch's integration
	// (dedup lookups, hashing, signing) to the publication of its
	// checkpoint after the fsync: how long the commit held its adds.
	Duration time.Duration
}

// Defaults of Config.
const (
	DefaultBatchMaxSize              = 16384
	DefaultBatchMaxAge               = time.Millisecond
	DefaultPoolSize                  = 65536
	DefaultPoolBytes                 = 512 << 20
	DefaultCheckpointHistoryInterval = time.Second
	DefaultTileCacheSize             = 4096
	DefaultTileCacheBytes            = 64 << 20
	DefaultCacheSize                 = 128 << 20
	DefaultNodeCacheSize             = 1 << 20
	DefaultCommitTimeout             = 30 * time.Second
)

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("log: Config.Dir is required")
	}
	if c.Signer == nil {
		return c, errors.New("log: Config.Signer is required")
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.BatchMaxSize <= 0 {
		c.BatchMaxSize = DefaultBatchMaxSize
	}
	switch {
	case c.BatchMaxAge == 0:
		c.BatchMaxAge = DefaultBatchMaxAge
	case c.BatchMaxAge < 0:
		c.BatchMaxAge = 0
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.PoolSize <= 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.PoolBytes <= 0 {
		c.PoolBytes = DefaultPoolBytes
	}
	switch {
	case c.CheckpointHistoryInterval == 0:
		c.CheckpointHistoryInterval = DefaultCheckpointHistoryInterval
	case c.CheckpointHistoryInterval < 0:
		c.CheckpointHistoryInterval = 0
	}
	if c.TileCacheSize <= 0 {
		c.TileCacheSize = DefaultTileCacheSize
	}
	if c.TileCacheBytes <= 0 {
		c.TileCacheBytes = DefaultTileCacheBytes
	}
	if c.NodeCacheSize == 0 {
		c.NodeCacheSize = DefaultNodeCacheSize
	}
	if c.CacheSize <= 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.Logger == nil {
		c.Logger = discardLogger
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))
