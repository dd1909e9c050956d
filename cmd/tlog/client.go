package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/signer"
)

// tokenEnv names the environment variable the client commands take a
// writer token from: a token on the command line would show in ps.
const tokenEnv = "TLOG_TOKEN"

// bulkTimeout bounds one request of tlog decide: a batch of 10,000
// records with full receipts may wait behind others' commits.
const bulkTimeout = 5 * time.Minute

// newClient returns a client of the log at logURL with the writer token
// of TLOG_TOKEN and, when keyFile is set, the log's key.
func newClient(logURL, keyFile string, opts ...client.Option) (*client.Client, error) {
	if logURL == "" {
		return nil, errors.New("--log URL is required")
	}
	opts = append([]client.Option{client.WithToken(os.Getenv(tokenEnv)), client.WithUserAgent("tlog-cli")}, opts...)
	if keyFile != "" {
		v, err := readVerifier(keyFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithLogKey(v))
	}
	c, err := client.New(logURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("--log: %w", err)
	}
	return c, nil
}

// withTimeout is a client option for commands whose requests take long.
func withTimeout(d time.Duration) client.Option {
	return client.WithHTTPClient(&http.Client{Timeout: d})
}

// readVerifier reads a log's verifier key file (<name>+<id>+<base64>).
func readVerifier(path string) (*signer.Verifier, error) {
	if path == "" {
		return nil, errors.New("--key LOG.pub is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := signer.NewVerifier(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
