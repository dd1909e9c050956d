package log

import (
	"errors"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// StoredVerifierKey returns the verifier key string the store in cfg.Dir
// was created with: the key every checkpoint of that log is signed with,
// whose name is the log's origin. It reads the store without opening the
// log (nothing is written, nothing is verified) and holds the store's lock
// while it reads, so it fails while the log is open (with ErrLocked when
// another process has it open). A store
// created but never initialised answers ("", nil); a directory that holds
// no store is an error.
//
// Only cfg.Dir, cfg.FS and cfg.Logger are used. Callers use it to name the
// key of a log whose key lives elsewhere (a KMS) before opening it; Open
// still checks the key it is given against the store.
func StoredVerifierKey(cfg Config) (string, error) {
	if cfg.Dir == "" {
		return "", errors.New("log: Config.Dir is required")
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger
	}
	db, err := openPebble(cfg, true)
	if err != nil {
		return "", err
	}
	defer db.Close()
	v, err := getKey(db, keyVKey)
	if err != nil {
		return "", err
	}
	return string(v), nil
}
