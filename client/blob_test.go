package client_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/signer"
)

// Blob answers only bytes that hash to the digest asked for.
func TestBlob(t *testing.T) {
	good := []byte("a canonical envelope")
	sum := sha256.Sum256(good)
	digest := fmt.Sprintf("sha256:%x", sum)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/blobs/" + digest:
			w.Write(good)
		case "/api/v1/blobs/sha256:" + strings.Repeat("ab", 32):
			w.Write([]byte("other bytes"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	_, vkey, err := signer.GenerateKey(nil, "example.com/blobs")
	if err != nil {
		t.Fatal(err)
	}
	v, err := signer.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(srv.URL, client.WithLogKey(v))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if b, err := c.Blob(ctx, digest); err != nil || string(b) != string(good) {
		t.Fatalf("Blob(good) = %q, %v", b, err)
	}
	if _, err := c.Blob(ctx, "sha256:"+strings.Repeat("ab", 32)); err == nil || !strings.Contains(err.Error(), "whose SHA-256 is") {
		t.Fatalf("Blob answered with other bytes: %v", err)
	}
	if _, err := c.Blob(ctx, "sha256:"+strings.Repeat("cd", 32)); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Blob of a missing digest: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "sha256:", "sha512:" + strings.Repeat("ab", 32), "sha256:" + strings.Repeat("AB", 32), "sha256:" + strings.Repeat("ab", 31), "sha256:../../checkpoint"} {
		if _, err := c.Blob(ctx, bad); err == nil || !strings.Contains(err.Error(), "want sha256:<64 lowercase hex>") {
			t.Errorf("Blob(%q): %v", bad, err)
		}
	}
}
