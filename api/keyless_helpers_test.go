package api

import (
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/tlogai/tlog/internal/sigstoretest"
)

// testSigstore is sigstore-go's in-memory Sigstore and its trusted root.
type testSigstore struct {
	*sigstoretest.Sigstore
	root *root.TrustedRoot
}

func newTestSigstore(t *testing.T) *testSigstore {
	t.Helper()
	s, err := sigstoretest.New()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := s.TrustedRoot(false)
	if err != nil {
		t.Fatal(err)
	}
	return &testSigstore{s, tr}
}

type testSigned struct{ *sigstoretest.Signed }

// attest signs statement keyless as identity of issuer.
func (s *testSigstore) attest(t *testing.T, identity, issuer string, statement []byte) testSigned {
	t.Helper()
	sg, err := s.Attest(identity, issuer, statement)
	if err != nil {
		t.Fatal(err)
	}
	return testSigned{sg}
}

func (sg testSigned) bundle(t *testing.T, o sigstoretest.BundleOptions) []byte {
	t.Helper()
	b, err := sg.Bundle(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
