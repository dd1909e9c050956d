package api

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/internal/sigstoretest"
)

const (
	keylessID     = "release-bot@acme.example"
	keylessIssuer = "https://accounts.acme.example"
)

func bundleBody(t *testing.T, b []byte) []byte {
	t.Helper()
	body, err := json.Marshal(map[string]any{"bundle": json.RawMessage(b)})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// keylessEntry decodes the identity fields of a release entry.
type keylessEntry struct {
	Identity   *string  `json:"identity"`
	Issuer     *string  `json:"issuer"`
	TimeSource *string  `json:"time_source"`
	Signers    []string `json:"signers"`
}

// Keyless bundles of the test Sigstore — with a Rekor entry, with a TSA
// timestamp, with neither, and a bare envelope with its certificate — are
// admitted under a publisher policy naming the identity: each entry names
// the certificate's identity, issuer and time source beside the key, and
// search by identity finds them all. One signing is one entry: the same
// bundle with the whole chain and extra certificates, with a TSA
// timestamp beside its Rekor entry, with another log's entry or another
// TSA's timestamp added, answers the same index as a duplicate (a TSA-only
// bundle given a log entry that does not verify is refused instead).
func TestKeylessAdmitted(t *testing.T) {
	vs := newTestSigstore(t)
	other := newTestSigstore(t)
	policy, err := attest.ParsePolicy([]byte("acme/ identity=" + keylessID + " issuer=" + keylessIssuer + "\n" +
		"acme/ci/ identity=~https://ci\\.acme\\.example/.* issuer=~https://(token|accounts)\\.acme\\.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.TrustedRoot, c.Publishers = vs.root, policy })
	rc := newReceiptChecker(t, ts)
	var indices []uint64
	for _, tc := range []struct {
		name, model, identity, source string
		opts                          sigstoretest.BundleOptions
		envelope                      bool
	}{
		{"rekor", "acme/rekor", keylessID, "rekor", sigstoretest.BundleOptions{Rekor: true}, false},
		{"tsa", "acme/tsa", keylessID, "tsa", sigstoretest.BundleOptions{Timestamp: true}, false},
		{"none", "acme/none", keylessID, "log", sigstoretest.BundleOptions{}, false},
		{"envelope", "acme/envelope", keylessID, "log", sigstoretest.BundleOptions{}, true},
		{"regexp rule", "acme/ci/model", "https://ci.acme.example/workflows/release.yml", "rekor", sigstoretest.BundleOptions{Rekor: true, Timestamp: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sg := vs.attest(t, tc.identity, keylessIssuer, statementJSON(t, slsaV1, slsaPredicate(), subjectFor(tc.model)))
			var body []byte
			if tc.envelope {
				chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sg.Leaf.Raw})
				for _, c := range sg.Intermediates {
					chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
				}
				body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(sg.Envelope()), "certificate": string(chain)})
			} else {
				body = bundleBody(t, sg.bundle(t, tc.opts))
			}
			resp, rb := ts.post(t, attestationsPath, "application/json", body)
			r := receiptOK(t, resp, rb)
			rc.check(t, r, nil)
			var e keylessEntry
			if err := json.Unmarshal(r.Entry, &e); err != nil {
				t.Fatal(err)
			}
			if e.Identity == nil || *e.Identity != tc.identity || e.Issuer == nil || *e.Issuer != keylessIssuer || e.TimeSource == nil || *e.TimeSource != tc.source {
				t.Fatalf("entry %s: want identity %q issuer %q time_source %q", r.Entry, tc.identity, keylessIssuer, tc.source)
			}
			fp, _ := attest.Fingerprint(sg.Leaf.PublicKey)
			if len(e.Signers) != 1 || e.Signers[0] != fp {
				t.Fatalf("entry %s: want signer %s", r.Entry, fp)
			}
			if got := ts.searchAll(t, "identity", tc.identity); !slices.Contains(got, r.Index) {
				t.Fatalf("search identity=%s: %v, want %d among them", tc.identity, got, r.Index)
			}
			indices = append(indices, r.Index)
			if tc.name != "rekor" && tc.name != "tsa" {
				return
			}
			// Variants of the same signing: the same entry.
			tsa2, err := other.TimestampResponse(sg.Sig)
			if err != nil {
				t.Fatal(err)
			}
			otherSg := other.attest(t, tc.identity, keylessIssuer, statementJSON(t, slsaV1, slsaPredicate(), subjectFor(tc.model)))
			variants := map[string]sigstoretest.BundleOptions{
				"chain and extra certificates": {Rekor: tc.opts.Rekor, Timestamp: tc.opts.Timestamp, Chain: true, Extra: append(otherSg.Intermediates, otherSg.Leaf)},
				"another TSA's timestamp":      {Rekor: tc.opts.Rekor, Timestamp: tc.opts.Timestamp, Timestamps: [][]byte{tsa2}},
				"another log's entry":          {Rekor: tc.opts.Rekor, Timestamp: tc.opts.Timestamp, Entries: []*protorekor.TransparencyLogEntry{otherSg.Rekor}},
			}
			if tc.opts.Rekor {
				variants["a TSA timestamp beside the Rekor entry"] = sigstoretest.BundleOptions{Rekor: true, Timestamp: true}
			}
			for name, o := range variants {
				if name == "another log's entry" && !tc.opts.Rekor {
					// A bundle whose only log entries do not verify is
					// refused: nothing logged either.
					before := ts.size()
					resp, rb := ts.post(t, attestationsPath, "application/json", bundleBody(t, sg.bundle(t, o)))
					apiError(t, resp, rb, 400, "not enough verified log entries")
					if ts.size() != before {
						t.Errorf("%s: the tree grew", name)
					}
					continue
				}
				resp, rb := ts.post(t, attestationsPath, "application/json", bundleBody(t, sg.bundle(t, o)))
				d := receiptOK(t, resp, rb)
				if !d.Duplicate || d.Index != r.Index {
					t.Errorf("%s: index %d duplicate %v entry %s; want the duplicate of %d", name, d.Index, d.Duplicate, d.Entry, r.Index)
				}
			}
		})
	}
	if got := ts.searchAll(t, "identity", keylessID); len(got) != 4 {
		t.Errorf("search identity=%s: %v, want 4 entries", keylessID, got)
	}
}

// Certificate-signed submissions the log must refuse, each with a
// one-line reason, and none changes the tree.
func TestKeylessRefused(t *testing.T) {
	vs := newTestSigstore(t)
	other := newTestSigstore(t)
	policy, err := attest.ParsePolicy([]byte("acme/ identity=someone-else@acme.example issuer=" + keylessIssuer + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	withCT, err := vs.TrustedRoot(true)
	if err != nil {
		t.Fatal(err)
	}
	// The certificate is valid for 10 minutes; the CA for an hour.
	later := func() time.Time { return time.Now().Add(20 * time.Minute) }
	stmt := func(model string) []byte { return statementJSON(t, slsaV1, slsaPredicate(), subjectFor(model)) }

	sg := vs.attest(t, keylessID, keylessIssuer, stmt("acme/model"))
	foreign := other.attest(t, keylessID, keylessIssuer, stmt("acme/model"))
	foreignTSA, err := other.TimestampResponse(sg.Sig)
	if err != nil {
		t.Fatal(err)
	}
	// The leaf of another signing: a valid certificate of another key.
	swapped := *sg.Signed
	swapped.Leaf = vs.attest(t, keylessID, keylessIssuer, stmt("acme/other")).Leaf
	garbage := []byte(strings.Replace(string(sg.bundle(t, sigstoretest.BundleOptions{Rekor: true})), `"canonicalizedBody":"`, `"canonicalizedBody":"AAAA`, 1))

	for _, tc := range []struct {
		name   string
		cfg    func(c *Config)
		body   []byte
		status int
		reason string
	}{
		{"no trusted root", nil, bundleBody(t, sg.bundle(t, sigstoretest.BundleOptions{Rekor: true})), 400, "this log has no --trusted-root to validate certificates"},
		{"untrusted CA with its timestamps", nil, bundleBody(t, foreign.bundle(t, sigstoretest.BundleOptions{Rekor: true, Timestamp: true})), 400, "certificate not accepted"},
		{"untrusted CA without timestamp", nil, bundleBody(t, foreign.bundle(t, sigstoretest.BundleOptions{})), 400, "does not verify against a trusted Fulcio CA"},
		{"expired certificate without timestamp", func(c *Config) { c.Now = later }, bundleBody(t, sg.bundle(t, sigstoretest.BundleOptions{})), 400, "expired"},
		{"timestamp of an untrusted TSA", nil, bundleBody(t, sg.bundle(t, sigstoretest.BundleOptions{Timestamps: [][]byte{foreignTSA}})), 400, "certificate not accepted"},
		{"certificate of another key", nil, bundleBody(t, testSigned{&swapped}.bundle(t, sigstoretest.BundleOptions{Rekor: true})), 400, "no signature of the envelope verifies"},
		{"policy naming another identity", func(c *Config) { c.Publishers = policy }, bundleBody(t, sg.bundle(t, sigstoretest.BundleOptions{Rekor: true})), 403, `nor the identity "` + keylessID + `"`},
		{"garbage tlog entry", nil, bundleBody(t, garbage), 400, "bundle"},
		{"CT logs and no SCT", func(c *Config) { c.TrustedRoot = withCT }, bundleBody(t, sg.bundle(t, sigstoretest.BundleOptions{})), 400, "certificate not accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newAIServer(t, func(_ *testServer, c *Config) {
				if tc.name != "no trusted root" {
					c.TrustedRoot = vs.root
				}
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			before := ts.size()
			resp, rb := ts.post(t, attestationsPath, "application/json", tc.body)
			e := apiError(t, resp, rb, tc.status, tc.reason)
			if strings.ContainsAny(e.Error, "\r\n") {
				t.Errorf("reason of %d bytes is not one line: %q", len(e.Error), e.Error)
			}
			t.Logf("%d %s", resp.StatusCode, e.Error)
			if ts.size() != before {
				t.Errorf("tree grew from %d to %d", before, ts.size())
			}
		})
	}
}

// With AcceptUnverifiedCertificates and no trusted root, a certificate is
// taken on its key, as before trusted roots: the entry names no identity.
func TestKeylessUnverifiedAccepted(t *testing.T) {
	vs := newTestSigstore(t)
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.AcceptUnverifiedCertificates = true })
	sg := vs.attest(t, keylessID, keylessIssuer, statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/unverified")))
	resp, rb := ts.post(t, attestationsPath, "application/json", bundleBody(t, sg.bundle(t, sigstoretest.BundleOptions{Rekor: true})))
	r := receiptOK(t, resp, rb)
	var e keylessEntry
	if err := json.Unmarshal(r.Entry, &e); err != nil || e.Identity != nil || e.Issuer != nil || e.TimeSource != nil {
		t.Fatalf("entry %s (%v): want no identity fields", r.Entry, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.StatusCode)
	}
}
