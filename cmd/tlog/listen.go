package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/internal/serving"
)

// reloadable is what SIGHUP reloads: the writers and publishers files, the
// trusted root and the TLS certificate. A file that does not load keeps the old value.
type reloadable struct {
	writersFile, publishersFile string
	trustedRootFile             string
	cert                        *serving.Cert // nil without TLS
	srv                         *api.Server
	logger                      *slog.Logger
}

// readWritersFile reads a --write-tokens file, which must be private.
func readWritersFile(path string) (*api.Writers, error) {
	text, err := keyfile.ReadPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("--write-tokens: %w", err)
	}
	ws, err := api.ParseWriters(text)
	if err != nil {
		return nil, fmt.Errorf("--write-tokens %s: %w", path, err)
	}
	return ws, nil
}

// loadPublishers reads a --publishers file.
func loadPublishers(path string) (*attest.Policy, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--publishers: %w", err)
	}
	p, err := attest.ParsePolicy(text)
	if err != nil {
		return nil, fmt.Errorf("--publishers %s: %w", path, err)
	}
	return p, nil
}

// loadTrustedRoot reads a --trusted-root file.
func loadTrustedRoot(path string) (*root.TrustedRoot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--trusted-root: %w", err)
	}
	tr, err := attest.LoadTrustedRoot(b)
	if err != nil {
		return nil, fmt.Errorf("--trusted-root %s: %w", path, err)
	}
	return tr, nil
}

// reload is SIGHUP: every file again, each kept as it was if it fails.
// Requests in flight finish under what they started with; none is dropped.
func (r *reloadable) reload() {
	if r.writersFile != "" {
		if ws, err := readWritersFile(r.writersFile); err != nil {
			r.logger.Error("writers not reloaded; keeping the previous ones", "err", err)
		} else {
			r.srv.SetWriters(ws)
			r.logger.Info("writers reloaded", "file", r.writersFile, "writers", ws.Len())
		}
	}
	if r.publishersFile != "" {
		if p, err := loadPublishers(r.publishersFile); err != nil {
			r.logger.Error("publisher policy not reloaded; keeping the previous one", "err", err)
		} else {
			r.srv.SetPublishers(p)
			r.logger.Info("publisher policy reloaded", "file", r.publishersFile, "rules", p.Rules())
		}
	}
	if r.trustedRootFile != "" {
		if tr, err := loadTrustedRoot(r.trustedRootFile); err != nil {
			r.logger.Error("trusted root not reloaded; keeping the previous one", "err", err)
		} else {
			r.srv.SetTrustedRoot(tr)
			r.logger.Info("trusted root reloaded", "file", r.trustedRootFile, "fulcio_cas", len(tr.FulcioCertificateAuthorities()))
		}
	}
	if r.cert != nil {
		if err := r.cert.Load(); err != nil {
			r.logger.Error("TLS certificate not reloaded; keeping the previous one", "err", err)
		} else {
			r.logger.Info("TLS certificate reloaded", "file", r.cert.CertFile)
		}
	}
}
