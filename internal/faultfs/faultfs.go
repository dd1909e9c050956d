// Package faultfs wraps a Pebble filesystem so that tests can stall every
// file sync on demand: a commit with fsync then blocks inside Pebble, as it
// would on a stuck disk, while everything else keeps running.
package faultfs

import (
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FS is a vfs.FS whose syncs can be stalled. Safe for concurrent use.
type FS struct {
	vfs.FS

	mu      sync.Mutex
	gate    chan struct{} // nil: syncs pass; else closed by Resume
	stalled int           // syncs waiting at the gate
	waiters chan struct{} // signalled when stalled grows
}

// New wraps fs.
func New(fs vfs.FS) *FS {
	return &FS{FS: fs, waiters: make(chan struct{}, 1)}
}

// Stall makes later syncs block until Resume.
func (f *FS) Stall() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate == nil {
		f.gate = make(chan struct{})
	}
}

// Resume releases stalled syncs and lets later ones pass.
func (f *FS) Resume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
}

// WaitStalled blocks until at least one sync is waiting at the gate.
func (f *FS) WaitStalled() {
	for {
		f.mu.Lock()
		n := f.stalled
		f.mu.Unlock()
		if n > 0 {
			return
		}
		<-f.waiters
	}
}

func (f *FS) wait() {
	f.mu.Lock()
	gate := f.gate
	if gate != nil {
		f.stalled++
		select {
		case f.waiters <- struct{}{}:
		default:
		}
	}
	f.mu.Unlock()
	if gate == nil {
		return
	}
	<-gate
	f.mu.Lock()
	f.stalled--
	f.mu.Unlock()
}

// Create wraps vfs.FS.Create.
func (f *FS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return f.wrap(f.FS.Create(name, c))
}

// OpenReadWrite wraps vfs.FS.OpenReadWrite.
func (f *FS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return f.wrap(f.FS.OpenReadWrite(name, c, opts...))
}

// ReuseForWrite wraps vfs.FS.ReuseForWrite.
func (f *FS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return f.wrap(f.FS.ReuseForWrite(oldname, newname, c))
}

func (f *FS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &syncFile{File: file, fs: f}, nil
}

type syncFile struct {
	vfs.File
	fs *FS
}

func (s *syncFile) Sync() error {
	s.fs.wait()
	return s.File.Sync()
}

func (s *syncFile) SyncData() error {
	s.fs.wait()
	return s.File.SyncData()
}

func (s *syncFile) SyncTo(length int64) (bool, error) {
	s.fs.wait()
	return s.File.SyncTo(length)
}
