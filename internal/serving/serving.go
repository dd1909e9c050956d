// Package serving holds what the two servers (tlog serve, witness serve)
// share at the edge: TLS with a certificate reloaded on SIGHUP, a listener
// capped in connections, and the headers every answer carries.
package serving

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"

	"golang.org/x/net/netutil"

	"github.com/tlogai/tlog/internal/keyfile"
)

// Cert is a TLS certificate read from files, replaced whole by Load.
type Cert struct {
	CertFile, KeyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// Load reads the certificate chain and its private key (which must not be
// readable by group or others). On error the previous certificate stays.
func (c *Cert) Load() error {
	certPEM, err := os.ReadFile(c.CertFile)
	if err != nil {
		return fmt.Errorf("--tls-cert: %w", err)
	}
	keyPEM, err := keyfile.ReadPrivate(c.KeyFile)
	if err != nil {
		return fmt.Errorf("--tls-key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	c.cert.Store(&pair)
	return nil
}

// Config is TLS 1.2 or later with Go's default suites, the certificate
// read at each handshake (so a Load takes effect for new connections), and
// client certificates verified against the CAs in clientCA when given
// (optional for the client: readers need none).
func (c *Cert) Config(clientCA string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cert.Load(), nil },
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
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		cfg.ClientCAs = pool
	}
	return cfg, nil
}

// Listen opens a TCP listener capped at maxConns open connections (beyond,
// new ones wait in the kernel's backlog until one closes), with TLS when
// tlsCfg is set.
func Listen(addr string, maxConns int, tlsCfg *tls.Config) (net.Listener, error) {
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

// IsLoopback reports whether a listen address binds loopback only.
func IsLoopback(addr string) bool {
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

// Request ids: a random prefix per process and a counter, unique across
// restarts and free per request.
var (
	idPrefix = func() string {
		b := make([]byte, 6)
		rand.Read(b)
		return hex.EncodeToString(b)
	}()
	ids atomic.Uint64
)

// NewRequestID returns a fresh request id.
func NewRequestID() string { return idPrefix + "-" + strconv.FormatUint(ids.Add(1), 36) }

// Headers sets on every answer X-Content-Type-Options: nosniff and an
// X-Request-Id (a fresh one unless next's router sets its own first).
func Headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Request-Id", NewRequestID())
		next.ServeHTTP(w, r)
	})
}
