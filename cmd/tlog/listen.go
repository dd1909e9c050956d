package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"

	"golang.org/x/net/netutil"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/internal/keyfile"
)

// reloadable is what SIGHUP reloads: the writers and publishers files and
// the TLS certificate. A file that does not load keeps the old value.
type reloadable struct {
	writersFile, publishersFile string
	certFile, keyFile           string
	cert                        atomic.Pointer[tls.Certificate]
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

// loadCert reads the TLS certificate and its (private) key.
func (r *reloadable) loadCert() error {
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return fmt.Errorf("--tls-cert: %w", err)
	}
	keyPEM, err := keyfile.ReadPrivate(r.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-key: %w", err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	r.cert.Store(&c)
	return nil
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
	if r.certFile != "" {
		if err := r.loadCert(); err != nil {
			r.logger.Error("TLS certificate not reloaded; keeping the previous one", "err", err)
		} else {
			r.logger.Info("TLS certificate reloaded", "file", r.certFile)
		}
	}
}

// tlsConfig is TLS 1.2 or later with Go's default suites, the certificate
// read at each handshake (so a reload takes effect for new connections),
// and client certificates verified against clientCA when given.
func (r *reloadable) tlsConfig(clientCA string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.cert.Load(), nil },
	}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, fmt.Errorf("--client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--client-ca %s: no PEM certificate in it", clientCA)
		}
		// Readers need no certificate; writers may prove who they are
		// with one instead of a token.
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		cfg.ClientCAs = pool
	}
	return cfg, nil
}

// listen opens the listener: capped at maxConns connections (beyond, new
// ones wait in the kernel's backlog until one closes), TLS when configured.
func listen(addr string, maxConns int, tlsCfg *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("couldn't listen: %w", err)
	}
	ln = netutil.LimitListener(ln, maxConns)
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	return ln, nil
}

// isLoopback reports whether a listen address binds loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
