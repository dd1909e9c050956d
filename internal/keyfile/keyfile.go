// Package keyfile writes key and state files durably, for the commands:
// a key must be on disk, file and directory entry, before anything is
// signed with it.
package keyfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WritePair writes PREFIX.key (0600) and PREFIX.pub (0644), each ending in
// a newline, refusing to overwrite either.
func WritePair(prefix, skey, vkey string) error {
	if err := WriteNew(prefix+".key", skey+"\n", 0o600); err != nil {
		return err
	}
	if err := WriteNew(prefix+".pub", vkey+"\n", 0o644); err != nil {
		os.Remove(prefix + ".key")
		return err
	}
	return nil
}

// WriteNew writes a file that must not exist yet, durably.
func WriteNew(path, content string, mode os.FileMode) error {
	err := WriteSynced(path, []byte(content), os.O_EXCL, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; not overwriting a key", path)
	}
	return err
}

// Replace atomically replaces path with data: a synced temporary file
// renamed over it, then the directory synced.
func Replace(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := WriteSynced(tmp, data, os.O_TRUNC, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// WriteSynced writes a file (opened with os.O_WRONLY|os.O_CREATE|flag) and
// makes it durable: the file is synced, and so is its directory entry.
func WriteSynced(path string, data []byte, flag int, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, mode)
	if err != nil {
		return err
	}
	// The mode exactly, whatever the umask (a server runs with 077).
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory, making the entries created in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadPrivate reads a secret file (a signer key, a TLS key, a writer tokens
// file), refusing one that its group or others may read or write: a secret
// readable by other users of the machine is not secret, and the operator
// should know before the server runs with it. The error names the chmod
// that fixes it.
func ReadPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible to other users (mode %04o): it holds a secret; run: chmod 600 %s", path, perm, path)
	}
	return io.ReadAll(f)
}
