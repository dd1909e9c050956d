package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/internal/sigstoretest"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/wire"
)

// The OpenAPI document (openapi.json) against the real server: the
// document is loaded and validated with kin-openapi, and every endpoint is
// called over HTTP, for its successes and its errors, each request and each
// answer validated against the document with openapi3filter. A field
// renamed, a status or a header not in the document, a request the server
// refuses that the document takes (or the other way round) fails the test.

func init() {
	// kin-openapi's body decoders are a global map: registered here, before
	// any test runs, not while another validates.
	openapi3filter.RegisterBodyDecoder(wire.ContentTypeNDJSON, ndjsonBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/json", strictJSONBodyDecoder)
}

// strictJSONBodyDecoder decodes one JSON value and refuses anything after
// it but white space: kin-openapi's own decoder (encoding/json v1) reads
// the first value and ignores the rest, so that an NDJSON answer sent as
// application/json would pass as its first line.
func strictJSONBodyDecoder(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	dec := json.NewDecoder(body)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// ndjsonBodyDecoder decodes an application/x-ndjson body as the array of
// its lines' JSON values, blank lines skipped: how openapi.json describes
// NDJSON (as OpenAPI 3.2 models sequential media types).
func ndjsonBodyDecoder(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for n, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("line %d: more than one JSON value", n+1)
		}
		out = append(out, v)
	}
	return out, nil
}

// loadOpenAPI loads and validates the embedded document and makes its
// router. kin-openapi takes OpenAPI 3.1 from the document's "openapi"
// field: Validate then checks schemas as JSON Schema 2020-12, and
// openapi3filter validates values with its JSON Schema 2020-12 validator.
func loadOpenAPI(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPIMajorMinor() != "3.1" {
		t.Fatalf("openapi.json is OpenAPI %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.json does not validate: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, router
}

// operations lists the document's operations as "METHOD path".
func operations(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op
		}
	}
	return out
}

func TestOpenAPIDocument(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	// Every error answer is described, with its schema, and every answer
	// names the headers every answer carries.
	for name, op := range operations(doc) {
		if op.OperationID == "" {
			t.Errorf("%s has no operationId", name)
		}
		for code, r := range op.Responses.Map() {
			for _, h := range []string{"X-Request-Id", "X-Content-Type-Options"} {
				if hr := r.Value.Headers[h]; hr == nil || !hr.Value.Required {
					t.Errorf("%s %s: no required %s header", name, code, h)
				}
			}
			if code == "429" || code == "503" {
				if hr := r.Value.Headers["Retry-After"]; hr == nil || !hr.Value.Required {
					t.Errorf("%s %s: no required Retry-After header", name, code)
				}
			}
			if code == "401" && r.Value.Headers["WWW-Authenticate"] == nil {
				t.Errorf("%s 401: no WWW-Authenticate header", name)
			}
			if strings.HasPrefix(name, "HEAD ") && len(r.Value.Content) != 0 {
				t.Errorf("%s %s: a HEAD answer with content", name, code)
			}
		}
		for _, code := range []string{"421", "429", "500", "503"} {
			if op.Responses.Value(code) == nil {
				t.Errorf("%s: no %s answer (every route can answer it)", name, code)
			}
		}
	}
	// kin-openapi validates the examples of media types (and the OpenAPI
	// 3.0 "example" of schemas), not JSON Schema 2020-12's "examples":
	// those are checked here.
	n := 0
	for name, ref := range doc.Components.Schemas {
		for i, ex := range ref.Value.Examples {
			if err := ref.Value.VisitJSON(ex, openapi3.EnableJSONSchema2020()); err != nil {
				t.Errorf("schema %s: example %d does not match: %v", name, i, err)
			}
			n++
		}
	}
	if n == 0 {
		t.Error("no schema examples")
	}
	// Writes name their security; reads are public.
	for name, op := range operations(doc) {
		write := strings.HasPrefix(name, "POST ")
		if write != (op.Security != nil && len(*op.Security) > 0) {
			t.Errorf("%s: security %v", name, op.Security)
		}
		if write {
			for _, code := range []string{"400", "401", "403", "413", "415"} {
				if op.Responses.Value(code) == nil {
					t.Errorf("%s: no %s answer", name, code)
				}
			}
		}
	}
	t.Logf("openapi.json: OpenAPI %s, %d operations", doc.OpenAPI, len(operations(doc)))
}

// GET /api/v1/openapi.json serves the embedded file, byte for byte, to
// anyone (also on a log with writers), and HEAD its headers.
func TestOpenAPIServed(t *testing.T) {
	ts := newAIServer(t, func(_ *testServer, c *Config) { c.Writers = testWriters(t) })
	resp, body := ts.do(t, http.MethodGet, "/api/v1/openapi.json", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if !bytes.Equal(body, openAPIDocument) {
		t.Fatalf("served document (%d bytes) differs from openapi.json (%d bytes)", len(body), len(openAPIDocument))
	}
	if !json.Valid(body) {
		t.Fatal("served document is not JSON")
	}
	resp, body = ts.do(t, http.MethodHead, "/api/v1/openapi.json", nil)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HEAD /api/v1/openapi.json: %d, %d bytes, Content-Type %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}
}

// Every route Echo serves under /api/v1 is in the document and every
// operation of the document under /api/v1 is a route; outside /api/v1,
// every documented operation is served (tiles by /tile/*), and only
// /healthz, /readyz, /metrics and the explorer's web page (/ and /explorer/*, tested
// in package explorer) are left out of the document.
func TestOpenAPIRoutes(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	ts := newServer(t, nil)
	e, ok := New(Config{Log: ts.log}).Handler.(*echo.Echo)
	if !ok {
		t.Fatal("the handler is not Echo's")
	}
	param := regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)
	served := map[string]bool{}
	for _, r := range e.Routes() {
		served[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	documented := map[string]bool{}
	for k := range operations(doc) {
		method, path, _ := strings.Cut(k, " ")
		if strings.HasPrefix(path, "/tile/") {
			path = "/tile/*"
		}
		documented[method+" "+path] = true
	}
	const api = " /api/v1/"
	for k := range served {
		switch {
		case strings.Contains(k, api) && !documented[k]:
			t.Errorf("route %s is not in openapi.json", k)
		case !strings.Contains(k, api) && !documented[k] && !strings.HasSuffix(k, " /healthz") && !strings.HasSuffix(k, " /readyz") && !strings.HasSuffix(k, " /metrics") && !explorerRoute(k):
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("openapi.json describes %s, which the server does not route", k)
		}
	}
	if n := len(served); n < 20 {
		t.Fatalf("only %d routes: %v", n, served)
	}
}

// explorerRoute reports whether the "METHOD path" route k is the log
// explorer's: a page for people, not part of the API.
func explorerRoute(k string) bool {
	_, path, _ := strings.Cut(k, " ")
	return path == "/" || path == "/explorer/*"
}

// ---- conformance ----

// oaOptions validate requests and answers strictly: an answer with a
// status the operation does not list is an error.
var oaOptions = &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: oaAuthenticate}

// oaAuthenticate checks the shape of the credentials a security scheme
// names; the server decides whether they are a writer's.
func oaAuthenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	switch in.SecurityScheme.Type {
	case "http":
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || strings.TrimSpace(tok) == "" {
			return errors.New("no bearer token")
		}
		return nil
	case "mutualTLS":
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return errors.New("no client certificate")
		}
		return nil
	}
	return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
}

// oaChecker sends requests to test servers and validates each request and
// answer against the document.
type oaChecker struct {
	router routers.Router
	// pairs counts the validated request/answer pairs; statuses the
	// statuses validated per operation.
	pairs    int
	statuses map[string]map[int]int
}

// oaRequest is one request and what must come of it.
type oaRequest struct {
	method, path string // path with its query, as sent
	contentType  string
	body         []byte
	header       []string // name, value pairs
	host         string   // Host, when not the server's
	status       int      // the status the server must answer
	// docRejects: the document itself refuses the request (the server
	// refuses it too: status is a 4xx). Otherwise the document must take it.
	docRejects bool
}

func (r oaRequest) String() string { return r.method + " " + r.path }

func (c *oaChecker) send(t *testing.T, ts *testServer, r oaRequest) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(r.method, ts.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for i := 0; i+1 < len(r.header); i += 2 {
		req.Header.Set(r.header[i], r.header[i+1])
	}
	if r.host != "" {
		req.Host = r.host
	}

	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s: not in openapi.json: %v", r, err)
	}
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(r.body))
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: oaOptions}
	err = openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case r.docRejects && err == nil:
		t.Errorf("%s: openapi.json takes this request, which the server refuses with %d", r, r.status)
	case !r.docRejects && err != nil:
		t.Errorf("%s: openapi.json refuses this request: %v", r, err)
	}

	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.DisableCompression = true // see Content-Encoding as sent
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != r.status {
		t.Fatalf("%s: %d %s, want %d", r, resp.StatusCode, body, r.status)
	}
	if r.docRejects && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
		t.Fatalf("%s: the document refuses it, but the server answers %d", r, resp.StatusCode)
	}
	if err := c.validateResponse(in, resp.StatusCode, resp.Header, body); err != nil {
		t.Errorf("%s: the answer %d does not match openapi.json: %v\n%s", r, resp.StatusCode, err, body)
	}
	c.pairs++
	op := route.Operation.OperationID
	if c.statuses[op] == nil {
		c.statuses[op] = map[int]int{}
	}
	c.statuses[op][resp.StatusCode]++
	return resp, body
}

// validateResponse validates an answer. openapi3filter does not validate
// HEAD answers: their status and headers are validated as a GET's would be,
// against the HEAD operation, and they must have no body.
func (c *oaChecker) validateResponse(in *openapi3filter.RequestValidationInput, status int, h http.Header, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: h, Options: oaOptions}
	if in.Request.Method == http.MethodHead {
		if len(body) != 0 {
			return fmt.Errorf("HEAD answered %d bytes", len(body))
		}
		get := *in
		get.Request = in.Request.Clone(context.Background())
		get.Request.Method = http.MethodGet
		opts := *oaOptions
		opts.ExcludeResponseBody = true
		out.RequestValidationInput, out.Options = &get, &opts
	}
	out.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), out)
}

// read sends GET and HEAD, which must answer the same status.
func (c *oaChecker) read(t *testing.T, ts *testServer, path string, status int, docRejects bool, header ...string) []byte {
	t.Helper()
	c.send(t, ts, oaRequest{method: http.MethodHead, path: path, status: status, docRejects: docRejects, header: header})
	_, body := c.send(t, ts, oaRequest{method: http.MethodGet, path: path, status: status, docRejects: docRejects, header: header})
	return body
}

func (c *oaChecker) post(t *testing.T, ts *testServer, path, contentType string, body []byte, status int, docRejects bool, header ...string) []byte {
	t.Helper()
	_, b := c.send(t, ts, oaRequest{method: http.MethodPost, path: path, contentType: contentType, body: body, status: status, docRejects: docRejects, header: header})
	return b
}

// oaReceipt decodes a JSON receipt.
func oaReceipt(t *testing.T, b []byte) wire.Receipt {
	t.Helper()
	var r wire.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("receipt: %v: %s", err, b)
	}
	return r
}

const octets = "application/octet-stream"

func TestOpenAPIConformance(t *testing.T) {
	doc, router := loadOpenAPI(t)
	c := &oaChecker{router: router, statuses: map[string]map[int]int{}}

	k := newTestKey(t, "ecdsa")
	release := subjectFor("acme/fraud-v3")
	env := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), release))

	t.Run("open", func(t *testing.T) {
		vs := newTestSigstore(t)
		ts := newAIServer(t, func(_ *testServer, cfg *Config) {
			cfg.AttestationBodyLimit = 64 << 10
			cfg.DecisionBodyLimit = 64 << 10
			cfg.TrustedRoot = vs.root
		})
		// 300 entries: a full tile and bundle, a partial one of width 44.
		entries := make([]log.Entry, 300)
		for i := range entries {
			entries[i] = log.Entry{Data: testEntry(i)}
		}
		fs, err := ts.log.AddAll(entries)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if _, err := f.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}

		// C2SP reads.
		c.read(t, ts, "/checkpoint", 200, false)
		c.read(t, ts, "/tile/0/000", 200, false)
		c.read(t, ts, "/tile/0/001.p/44", 200, false)
		c.read(t, ts, "/tile/1/000.p/1", 200, false)
		c.read(t, ts, "/tile/0/001", 404, false)
		c.read(t, ts, "/tile/0/002.p/1", 404, false)
		c.read(t, ts, "/tile/0/01", 400, true)
		c.read(t, ts, "/tile/64/000", 400, true)
		c.read(t, ts, "/tile/00/000", 400, true)
		c.read(t, ts, "/tile/0/000.p/0", 400, true)
		c.read(t, ts, "/tile/0/000.p/256", 400, true)
		c.read(t, ts, "/tile/entries/000", 200, false)
		resp, _ := c.send(t, ts, oaRequest{method: http.MethodGet, path: "/tile/entries/000", header: []string{"Accept-Encoding", "gzip"}, status: 200})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("entry bundle for a client accepting gzip: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		c.read(t, ts, "/tile/entries/001.p/44", 200, false)
		c.read(t, ts, "/tile/entries/001", 404, false)
		c.read(t, ts, "/tile/entries/000.p/0", 400, true)

		// POST /add.
		first := c.post(t, ts, "/add", octets, []byte("model acme/fraud-v3 released"), 200, false)
		if again := c.post(t, ts, "/add", octets, []byte("model acme/fraud-v3 released"), 200, false); !bytes.Equal(again, first) {
			t.Errorf("POST /add of the same entry: %q, then %q", first, again)
		}
		c.post(t, ts, "/add", "application/vnd.example+bytes", []byte("an entry of any type"), 200, false)
		c.post(t, ts, "/add", octets, nil, 400, true)
		c.post(t, ts, "/add", octets, []byte(`{"kind":"decision/v1","system":"x"}`), 400, false)
		c.post(t, ts, "/add", octets, bytes.Repeat([]byte{'x'}, log.MaxEntrySize+1), 413, false)
		c.post(t, ts, "/add", "text/plain", []byte("a form's body"), 415, false)
		c.post(t, ts, "/add", "application/x-www-form-urlencoded", []byte("a=b"), 415, false)
		c.post(t, ts, "/add", octets, []byte("from a web page"), 403, false, "Sec-Fetch-Site", "cross-site")

		// Attestations.
		sub := submission(t, env, k.pem)
		rel := oaReceipt(t, c.post(t, ts, attestationsPath, "application/json", sub, 200, false))
		if dup := oaReceipt(t, c.post(t, ts, attestationsPath, "application/json; charset=utf-8", sub, 200, false)); !dup.Duplicate || dup.Index != rel.Index {
			t.Errorf("the same attestation again: %+v", dup)
		}
		c.post(t, ts, attestationsPath+"?receipts=compact", "application/json", sub, 200, false)
		c.post(t, ts, attestationsPath+"?receipts=full&wait=logged", "application/json", sub, 200, false)
		pred := map[string]any{"resources": []any{map[string]any{"name": "a.bin", "digest": "00"}, map[string]any{"name": "b.bin", "digest": "11"}}}
		msEnv := k.sign(t, attest.InTotoPayloadType, statementJSON(t, attest.ModelSigningV1, pred, subjectFor("acme/signed-model")))
		ms := oaReceipt(t, c.post(t, ts, attestationsPath, "application/json", submission(t, msEnv, k.pem), 200, false))
		bEnv := k.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/bundled")))
		bundle := map[string]any{
			"mediaType":            "application/vnd.dev.sigstore.bundle.v0.3+json",
			"verificationMaterial": map[string]any{"publicKey": map[string]any{"hint": k.fp}},
			"dsseEnvelope":         json.RawMessage(bEnv),
		}
		body, _ := json.Marshal(map[string]any{"bundle": bundle, "public_key": k.pem})
		c.post(t, ts, attestationsPath, "application/json", body, 200, false)
		ck, priv := newECDSATestKey(t)
		certPEM, certDER := selfSignedPEM(t, priv)
		cEnv := ck.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/certified")))
		// A self-signed certificate does not chain to the trusted root.
		body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(cEnv), "certificate": certPEM})
		c.post(t, ts, attestationsPath, "application/json", body, 400, false)
		body, _ = json.Marshal(map[string]any{"bundle": map[string]any{
			"mediaType":            "application/vnd.dev.sigstore.bundle+json;version=0.2",
			"verificationMaterial": map[string]any{"x509CertificateChain": map[string]any{"certificates": []any{map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(certDER)}}}},
			"dsseEnvelope":         json.RawMessage(cEnv),
		}})
		c.post(t, ts, attestationsPath, "application/json", body, 400, false)
		// Keyless bundles of the test Sigstore: entries with an identity.
		var keylessCert []byte
		for _, o := range []sigstoretest.BundleOptions{{Rekor: true}, {Timestamp: true}, {}} {
			sg := vs.attest(t, "release-bot@acme.example", "https://issuer.example", statementJSON(t, slsaV1, slsaPredicate(), subjectFor("acme/keyless")))
			body, _ = json.Marshal(map[string]any{"bundle": json.RawMessage(sg.bundle(t, o))})
			c.post(t, ts, attestationsPath, "application/json", body, 200, false)
			keylessCert = sg.Leaf.Raw
		}
		c.read(t, ts, "/api/v1/search?identity=release-bot@acme.example", 200, false)
		c.read(t, ts, "/api/v1/search?identity=", 400, true)

		c.post(t, ts, attestationsPath, "application/json", []byte(`{"envelope":`), 400, true)
		c.post(t, ts, attestationsPath, "application/json", nil, 400, true)
		body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(env), "public_key": k.pem, "comment": "hi"})
		c.post(t, ts, attestationsPath, "application/json", body, 400, true)
		body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(env)})
		c.post(t, ts, attestationsPath, "application/json", body, 400, true)
		body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(env), "bundle": bundle, "public_key": k.pem})
		c.post(t, ts, attestationsPath, "application/json", body, 400, true)
		body, _ = json.Marshal(map[string]any{"envelope": map[string]any{"payloadType": "text/plain", "payload": "aGk=", "signatures": []any{map[string]any{"sig": "aGk="}}}, "public_key": k.pem})
		c.post(t, ts, attestationsPath, "application/json", body, 400, true)
		other := newTestKey(t, "ed25519")
		c.post(t, ts, attestationsPath, "application/json", submission(t, env, other.pem), 400, false)
		c.post(t, ts, attestationsPath, "application/json", submission(t, other.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate())), other.pem), 400, false)
		c.post(t, ts, attestationsPath+"?wait=soon", "application/json", sub, 400, true)
		c.post(t, ts, attestationsPath+"?wait=witnessed", "application/json", sub, 400, false)
		c.post(t, ts, attestationsPath+"?wait=witnessed&receipts=compact", "application/json", sub, 400, false)
		c.post(t, ts, attestationsPath+"?force=1", "application/json", sub, 400, false)
		c.post(t, ts, attestationsPath, "text/plain", sub, 415, true)
		body, _ = json.Marshal(map[string]any{"envelope": json.RawMessage(env), "public_key": strings.Repeat("A", 70<<10)})
		c.post(t, ts, attestationsPath, "application/json", body, 413, false)

		// Decisions.
		dec := oaReceipt(t, c.post(t, ts, decisionsPath, "application/json", []byte(decisionRecord("support-bot", 1)), 200, false))
		c.post(t, ts, decisionsPath+"?receipts=compact", "application/json", []byte(decisionRecord("support-bot", 1)), 200, false)
		c.post(t, ts, decisionsPath, wire.ContentTypeNDJSON, ndjson(decisionRecord("support-bot", 2), "", decisionRecord("loan-eu", 3)), 200, false)
		c.post(t, ts, decisionsPath+"?receipts=compact", wire.ContentTypeNDJSON, ndjson(decisionRecord("support-bot", 2), decisionRecord("support-bot", 4)), 200, false)
		full := `{"system":"kyc","decision_id":"k-1","time":"2026-11-27T09:14:03+01:00","model":{"name":"acme/kyc","version":"2","digest":"sha256:` + release.Digest["sha256"] + `"},` +
			`"actor":"user-7f3a","outcome":"escalated","labels":{"region":"eu","tier":"2"},"commitments":{"input":"` + commitment("i") + `","output":"` + commitment("o") + `","rationale":"` + commitment("r") + `","data_accessed":["` + commitment("d1") + `","` + commitment("d2") + `"]}}`
		kyc := oaReceipt(t, c.post(t, ts, decisionsPath, "application/json", []byte(full), 200, false))
		bad := ndjson(decisionRecord("support-bot", 5), strings.Replace(decisionRecord("support-bot", 6), `"time":"2026-11-27T08:00:06.123Z"`, `"time":"yesterday"`, 1), `{"system":"support-bot"}`)
		var be wire.Error
		if err := json.Unmarshal(c.post(t, ts, decisionsPath, wire.ContentTypeNDJSON, bad, 400, true), &be); err != nil || len(be.Lines) != 2 || be.Lines[0].Line != 2 || be.Lines[1].Line != 3 {
			t.Errorf("refused batch: %+v (%v)", be, err)
		}
		c.post(t, ts, decisionsPath, "application/json", []byte(`{"system":"support-bot"}`), 400, true)
		c.post(t, ts, decisionsPath, "application/json", []byte(strings.Replace(decisionRecord("support-bot", 7), `"d-7"`, `"`+strings.Repeat("é", 200)+`"`, 1)), 400, false)
		c.post(t, ts, decisionsPath, "application/json", nil, 400, true)
		c.post(t, ts, decisionsPath, wire.ContentTypeNDJSON, []byte("\n\n"), 400, true)
		c.post(t, ts, decisionsPath, "application/json", []byte(strings.TrimSuffix(decisionRecord("support-bot", 8), "}")+`,"x-extra":1}`), 400, true)
		c.post(t, ts, decisionsPath+"?receipts=short", "application/json", []byte(decisionRecord("support-bot", 1)), 400, true)
		c.post(t, ts, decisionsPath+"?wait=witnessed", "application/json", []byte(decisionRecord("support-bot", 1)), 400, false)
		c.post(t, ts, decisionsPath+"?receipts=compact&receipts=full", "application/json", []byte(decisionRecord("support-bot", 1)), 400, false)
		c.post(t, ts, decisionsPath, "application/json", []byte(strings.Replace(decisionRecord("support-bot", 9), `"answered"`, `"`+strings.Repeat("x", 17<<10)+`"`, 1)), 413, true)
		var big []string
		for i := 0; len(strings.Join(big, "\n")) < 65<<10; i++ {
			big = append(big, decisionRecord("bulk", 100+i))
		}
		c.post(t, ts, decisionsPath, wire.ContentTypeNDJSON, ndjson(big...), 413, false)
		c.post(t, ts, decisionsPath, "text/plain", []byte(decisionRecord("support-bot", 1)), 415, true)
		c.post(t, ts, decisionsPath, "application/x-www-form-urlencoded", []byte("a=b"), 415, true)
		c.post(t, ts, decisionsPath, "application/json", []byte(decisionRecord("support-bot", 10)), 403, false, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")

		// Access and evaluation records.
		for _, k := range []struct {
			path   string
			record func(string, int) string
		}{{accessPath, accessRecord}, {evaluationsPath, evaluationRecord}} {
			oaReceipt(t, c.post(t, ts, k.path, "application/json", []byte(k.record("support-bot", 1)), 200, false))
			c.post(t, ts, k.path+"?receipts=compact", "application/json", []byte(k.record("support-bot", 1)), 200, false)
			c.post(t, ts, k.path, wire.ContentTypeNDJSON, ndjson(k.record("support-bot", 2), "", k.record("loan-eu", 3)), 200, false)
			c.post(t, ts, k.path+"?receipts=compact", wire.ContentTypeNDJSON, ndjson(k.record("support-bot", 2), k.record("support-bot", 4)), 200, false)
			c.post(t, ts, k.path, wire.ContentTypeNDJSON, ndjson(k.record("support-bot", 5), `{"system":"support-bot"}`), 400, true)
			c.post(t, ts, k.path, "application/json", []byte(`{"system":"support-bot"}`), 400, true)
			c.post(t, ts, k.path, "application/json", []byte(strings.TrimSuffix(k.record("support-bot", 8), "}")+`,"x-extra":1}`), 400, true)
			c.post(t, ts, k.path, "application/json", []byte(strings.Replace(k.record("support-bot", 9), "2026-11-", "2099-11-", 1)), 400, false)
			c.post(t, ts, k.path, "application/json", nil, 400, true)
			c.post(t, ts, k.path+"?receipts=short", "application/json", []byte(k.record("support-bot", 1)), 400, true)
			c.post(t, ts, k.path+"?wait=witnessed", "application/json", []byte(k.record("support-bot", 1)), 400, false)
			c.post(t, ts, k.path, "application/json", []byte(strings.Replace(k.record("support-bot", 9), `"system":"support-bot"`, `"system":"`+strings.Repeat("x", 17<<10)+`"`, 1)), 413, true)
			var bigK []string
			for i := 0; len(strings.Join(bigK, "\n")) < 65<<10; i++ {
				bigK = append(bigK, k.record("bulk", 100+i))
			}
			c.post(t, ts, k.path, wire.ContentTypeNDJSON, ndjson(bigK...), 413, false)
			c.post(t, ts, k.path, "text/plain", []byte(k.record("support-bot", 1)), 415, true)
			c.post(t, ts, k.path, "application/json", []byte(k.record("support-bot", 10)), 403, false, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		}
		c.post(t, ts, accessPath, "application/json", []byte(strings.Replace(accessRecord("support-bot", 11), `"action":"read"`, `"action":"peek"`, 1)), 400, true)
		c.post(t, ts, accessPath, "application/json", []byte(strings.Replace(accessRecord("support-bot", 12), `{"decision_id":"d-12"}`, `{"index":7}`, 1)), 200, false)
		c.post(t, ts, evaluationsPath, "application/json", []byte(strings.Replace(evaluationRecord("support-bot", 11), `"auroc":0.912`, `"auroc":"high"`, 1)), 400, true)
		c.read(t, ts, "/api/v1/search?actor=svc-0", 200, false)
		c.read(t, ts, "/api/v1/search?resource="+commitment("customer1")+"&kind=access/v1", 200, false)
		c.read(t, ts, "/api/v1/search?purpose=kyc-review&limit=1", 200, false)
		c.read(t, ts, "/api/v1/search?event=ev-1&kind=evaluation/v1", 200, false)
		c.read(t, ts, "/api/v1/search?event=ev-1&kind=decision/v1", 400, false)
		c.read(t, ts, "/api/v1/search?actor=", 400, true)
		c.read(t, ts, "/api/v1/search?purpose=x&kind=access/v9", 400, true)

		// Proofs.
		size := ts.size()
		leaf := leafHash(testEntry(7))
		c.read(t, ts, "/api/v1/proofs/inclusion?index=0", 200, false)
		c.read(t, ts, "/api/v1/proofs/inclusion?index=7&size=300", 200, false)
		c.read(t, ts, fmt.Sprintf("/api/v1/proofs/inclusion?index=%d&size=%d", size-1, size), 200, false)
		c.read(t, ts, "/api/v1/proofs/inclusion?leaf_hash="+hex.EncodeToString(leaf[:]), 200, false)
		c.read(t, ts, "/api/v1/proofs/inclusion?size=8&leaf_hash="+url.QueryEscape(base64.StdEncoding.EncodeToString(leaf[:])), 200, false)
		c.read(t, ts, "/api/v1/proofs/inclusion?index=0&size=1", 200, false)
		c.read(t, ts, fmt.Sprintf("/api/v1/proofs/inclusion?index=%d", size), 404, false)
		c.read(t, ts, fmt.Sprintf("/api/v1/proofs/inclusion?index=0&size=%d", size+1), 404, false)
		c.read(t, ts, "/api/v1/proofs/inclusion?leaf_hash="+strings.Repeat("ab", 32), 404, false)
		c.read(t, ts, "/api/v1/proofs/inclusion", 400, false)
		c.read(t, ts, "/api/v1/proofs/inclusion?index=0&leaf_hash="+hex.EncodeToString(leaf[:]), 400, false)
		c.read(t, ts, "/api/v1/proofs/inclusion?index=abc", 400, true)
		c.read(t, ts, "/api/v1/proofs/inclusion?index=01", 400, true)
		c.read(t, ts, "/api/v1/proofs/inclusion?index=-1", 400, true)
		c.read(t, ts, "/api/v1/proofs/inclusion?index=0&size=0", 400, true)
		c.read(t, ts, "/api/v1/proofs/inclusion?leaf_hash=abcd", 400, true)
		c.read(t, ts, "/api/v1/proofs/inclusion?index=0&verbose=1", 400, false)
		c.read(t, ts, "/api/v1/proofs/inclusion?index=0&index=1", 400, false)
		c.read(t, ts, "/api/v1/proofs/inclusion?index=0;size=1", 400, false)
		c.read(t, ts, "/api/v1/proofs/consistency?old=1", 200, false)
		c.read(t, ts, "/api/v1/proofs/consistency?old=1&new=300", 200, false)
		c.read(t, ts, "/api/v1/proofs/consistency?old=300&new=300", 200, false)
		c.read(t, ts, fmt.Sprintf("/api/v1/proofs/consistency?old=7&new=%d", size+1), 404, false)
		c.read(t, ts, "/api/v1/proofs/consistency", 400, true)
		c.read(t, ts, "/api/v1/proofs/consistency?new=5", 400, true)
		c.read(t, ts, "/api/v1/proofs/consistency?old=0", 400, true)
		c.read(t, ts, "/api/v1/proofs/consistency?old=5&new=3", 400, false)
		c.read(t, ts, "/api/v1/proofs/consistency?old=x", 400, true)
		c.read(t, ts, "/api/v1/proofs/consistency?old=1&size=2", 400, false)

		// Entries, tlog-proof files, blobs.
		c.read(t, ts, "/api/v1/entries/0", 200, false)
		for _, i := range []uint64{rel.Index, ms.Index, dec.Index, kyc.Index} {
			var e wire.Entry
			if err := json.Unmarshal(c.read(t, ts, fmt.Sprintf("/api/v1/entries/%d", i), 200, false), &e); err != nil || len(e.Record) == 0 {
				t.Errorf("entry %d: no record (%v)", i, err)
			}
		}
		c.read(t, ts, fmt.Sprintf("/api/v1/entries/%d", size+100), 404, false)
		c.read(t, ts, "/api/v1/entries/18446744073709551615", 404, false)
		c.read(t, ts, "/api/v1/entries/01", 400, true)
		c.read(t, ts, "/api/v1/entries/x", 400, true)
		c.read(t, ts, "/api/v1/entries/18446744073709551616", 400, false)
		c.read(t, ts, "/api/v1/entries/0/tlog-proof", 200, false)
		c.read(t, ts, fmt.Sprintf("/api/v1/entries/%d/tlog-proof", rel.Index), 200, false)
		c.read(t, ts, fmt.Sprintf("/api/v1/entries/%d/tlog-proof", size+100), 404, false)
		c.read(t, ts, "/api/v1/entries/-1/tlog-proof", 400, true)
		var re releaseEntry
		if err := json.Unmarshal(rel.Entry, &re); err != nil {
			t.Fatal(err)
		}
		certSum := fmt.Sprintf("%x", sha256.Sum256(keylessCert))
		c.read(t, ts, "/api/v1/blobs/"+re.EnvelopeDigest, 200, false)
		c.read(t, ts, "/api/v1/blobs/"+k.fp, 200, false)
		c.read(t, ts, "/api/v1/blobs/sha256:"+certSum, 200, false)
		c.read(t, ts, "/api/v1/blobs/sha256:"+strings.Repeat("0", 64), 404, false)
		c.read(t, ts, "/api/v1/blobs/sha256:xyz", 400, true)
		c.read(t, ts, "/api/v1/blobs/"+certSum, 400, true)
		c.read(t, ts, "/api/v1/blobs/sha256:"+strings.ToUpper(certSum), 400, true)

		// Search.
		c.read(t, ts, "/api/v1/search?system=support-bot", 200, false)
		c.read(t, ts, "/api/v1/search?system=nobody", 200, false)
		c.read(t, ts, "/api/v1/search?digest=sha256:"+release.Digest["sha256"], 200, false)
		c.read(t, ts, "/api/v1/search?digest="+release.Digest["sha256"]+"&kind=decision/v1", 200, false)
		c.read(t, ts, "/api/v1/search?model=acme/fraud-v3&kind=model-release/v1", 200, false)
		c.read(t, ts, "/api/v1/search?signer="+k.fp, 200, false)
		var page wire.SearchResult
		if err := json.Unmarshal(c.read(t, ts, "/api/v1/search?system=support-bot&limit=1", 200, false), &page); err != nil || page.NextCursor == "" {
			t.Fatalf("search page of 1: %+v (%v)", page, err)
		}
		c.read(t, ts, "/api/v1/search?system=support-bot&limit=1000&cursor="+page.NextCursor, 200, false)
		c.read(t, ts, "/api/v1/search", 400, false)
		c.read(t, ts, "/api/v1/search?system=a&model=b", 400, false)
		c.read(t, ts, "/api/v1/search?digest=sha256:abc", 400, true)
		c.read(t, ts, "/api/v1/search?system=", 400, true)
		c.read(t, ts, "/api/v1/search?system=a&limit=0", 400, true)
		c.read(t, ts, "/api/v1/search?system=a&limit=1001", 400, true)
		c.read(t, ts, "/api/v1/search?system=a&kind=release", 400, true)
		c.read(t, ts, "/api/v1/search?system=a&cursor=-1", 400, true)
		c.read(t, ts, "/api/v1/search?signer="+k.fp+"&kind=decision/v1", 400, false)
		c.read(t, ts, "/api/v1/search?system=a&page=2", 400, false)
		c.read(t, ts, "/api/v1/search?system="+strings.Repeat("s", 4073), 400, true)

		c.read(t, ts, "/api/v1/openapi.json", 200, false)

		// A path the document does not describe: 404 with a JSON error.
		req := oaRequest{method: http.MethodGet, path: "/api/v1/nothing"}
		hr, _ := http.NewRequest(req.method, ts.URL+req.path, nil)
		if _, _, err := router.FindRoute(hr); err == nil {
			t.Errorf("%s is in openapi.json", req)
		}
		resp, b := ts.do(t, req.method, req.path, nil)
		apiError(t, resp, b, 404, "Not Found")
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", req)
		}
	})

	t.Run("writers", func(t *testing.T) {
		owner := newTestKey(t, "ecdsa")
		policy, err := attest.ParsePolicy([]byte("acme/ " + owner.fp + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		ts := newAIServer(t, func(_ *testServer, cfg *Config) {
			cfg.Writers = testWriters(t)
			cfg.Publishers = policy
			cfg.AllowedHosts = []string{"127.0.0.1"}
		})
		entry := []byte("a raw entry of a log with writers")
		c.post(t, ts, "/add", octets, entry, 401, false)
		c.post(t, ts, "/add", octets, entry, 401, false, bearer(strings.Repeat("z", 43))...)
		c.post(t, ts, "/add", octets, entry, 401, false, "Authorization", "Basic b3BzOnNlY3JldA==")
		c.post(t, ts, "/add", octets, entry, 403, false, bearer(tokLoans)...)
		c.post(t, ts, "/add", octets, entry, 200, false, bearer(tokRaw)...)
		c.post(t, ts, "/add", "text/plain", []byte("curl --data-binary"), 200, false, bearer(tokAll)...)
		c.post(t, ts, "/add", octets, entry, 403, false, append(bearer(tokAll), "Sec-Fetch-Site", "cross-site")...)

		c.post(t, ts, attestationsPath, "application/json", submission(t, env, k.pem), 401, false)
		c.post(t, ts, attestationsPath, "application/json", submission(t, env, k.pem), 403, false, bearer(tokRaw)...)
		c.post(t, ts, attestationsPath, "application/json", submission(t, env, k.pem), 403, false, bearer(tokAll)...)
		owned := owner.sign(t, attest.InTotoPayloadType, statementJSON(t, slsaV1, slsaPredicate(), release))
		c.post(t, ts, attestationsPath, "application/json", submission(t, owned, owner.pem), 200, false, bearer(tokAll)...)

		c.post(t, ts, decisionsPath, "application/json", []byte(decisionRecord("loan-eu", 1)), 401, false)
		c.post(t, ts, decisionsPath, "application/json", []byte(decisionRecord("support-bot", 1)), 403, false, bearer(tokLoans)...)
		c.post(t, ts, decisionsPath, wire.ContentTypeNDJSON, ndjson(decisionRecord("loan-eu", 1), decisionRecord("support-bot", 2)), 403, false, bearer(tokLoans)...)
		c.post(t, ts, decisionsPath, "application/json", []byte(decisionRecord("loan-eu", 1)), 200, false, bearer(tokLoans)...)
		c.post(t, ts, accessPath, "application/json", []byte(accessRecord("loan-eu", 1)), 401, false)
		c.post(t, ts, accessPath, "application/json", []byte(accessRecord("loan-eu", 1)), 403, false, bearer(tokLoans)...)
		c.post(t, ts, accessPath, "application/json", []byte(accessRecord("loan-eu", 1)), 200, false, bearer(tokAll)...)
		c.post(t, ts, evaluationsPath, wire.ContentTypeNDJSON, ndjson(evaluationRecord("loan-eu", 1)), 403, false, bearer(tokRaw)...)
		c.post(t, ts, evaluationsPath, wire.ContentTypeNDJSON, ndjson(evaluationRecord("loan-eu", 1)), 200, false, bearer(tokAll)...)

		// Reads stay public.
		c.read(t, ts, "/checkpoint", 200, false)
		c.read(t, ts, "/api/v1/search?system=loan-eu", 200, false)
		c.read(t, ts, "/api/v1/entries/0", 200, false)
	})
	// The Host check answers before anything else.
	t.Run("hosts", func(t *testing.T) {
		ts := newAIServer(t, func(_ *testServer, cfg *Config) {
			cfg.Writers = testWriters(t)
			cfg.AllowedHosts = []string{"log.example.com"}
		})
		for _, r := range oneOfEach() {
			r.status, r.docRejects, r.host = 421, false, "evil.example"
			c.send(t, ts, r)
		}
	})
	// A rate limit of one request in 100 s: the first request passes, every
	// other gets 429 with Retry-After.
	t.Run("rate-limited", func(t *testing.T) {
		ts := newAIServer(t, func(_ *testServer, cfg *Config) { cfg.RateLimit, cfg.RateBurst = 0.01, 1 })
		c.send(t, ts, oaRequest{method: http.MethodGet, path: "/checkpoint", status: 200})
		for _, r := range oneOfEach() {
			r.status, r.docRejects = 429, false
			resp, _ := c.send(t, ts, r)
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 100 {
				t.Errorf("%s: Retry-After %q", r, resp.Header.Get("Retry-After"))
			}
		}
	})
	// A log waiting for its witnesses (AddGate): writes get 503 with
	// Retry-After: 1, reads go on.
	t.Run("gated", func(t *testing.T) {
		ts := newAIServer(t, func(_ *testServer, cfg *Config) { cfg.AddGate = func() error { return ErrWaitingForWitnesses } })
		for _, r := range oneOfEach() {
			if r.method != http.MethodPost {
				continue
			}
			r.status = 503
			if resp, _ := c.send(t, ts, r); resp.Header.Get("Retry-After") != "1" {
				t.Errorf("%s: Retry-After %q", r, resp.Header.Get("Retry-After"))
			}
		}
		c.read(t, ts, "/checkpoint", 200, false)
	})
	// A log with a witness policy: ?wait=witnessed, 202 when no witnessed
	// checkpoint comes in time, tlog-proof files only once witnessed.
	t.Run("witnessed", func(t *testing.T) {
		var on atomic.Bool
		ts := newAIServer(t, func(ts *testServer, cfg *Config) {
			cfg.WitnessWait = 100 * time.Millisecond
			cfg.Witnessed = func() (uint64, []byte, bool) {
				if !on.Load() {
					return 0, nil, false
				}
				p := ts.log.Published()
				return p.Size, p.Note, true
			}
		})
		r := oaReceipt(t, c.post(t, ts, decisionsPath+"?wait=witnessed", "application/json", []byte(decisionRecord("support-bot", 1)), 202, false))
		if r.Witnessed == nil || *r.Witnessed {
			t.Errorf("202 receipt: witnessed %v", r.Witnessed)
		}
		c.post(t, ts, decisionsPath+"?wait=witnessed", wire.ContentTypeNDJSON, ndjson(decisionRecord("support-bot", 2), decisionRecord("support-bot", 3)), 202, false)
		c.post(t, ts, attestationsPath+"?wait=witnessed", "application/json", submission(t, env, k.pem), 202, false)
		c.read(t, ts, "/api/v1/entries/0/tlog-proof", 404, false)
		c.read(t, ts, "/checkpoint", 200, false)
		on.Store(true)
		r = oaReceipt(t, c.post(t, ts, decisionsPath+"?wait=witnessed", "application/json", []byte(decisionRecord("support-bot", 4)), 200, false))
		if r.Witnessed == nil || !*r.Witnessed {
			t.Errorf("200 receipt: witnessed %v", r.Witnessed)
		}
		c.post(t, ts, decisionsPath+"?wait=witnessed", wire.ContentTypeNDJSON, ndjson(decisionRecord("support-bot", 5)), 200, false)
		c.post(t, ts, attestationsPath+"?wait=witnessed", "application/json", submission(t, env, k.pem), 200, false)
		c.post(t, ts, decisionsPath+"?wait=witnessed&receipts=compact", "application/json", []byte(decisionRecord("support-bot", 6)), 400, false)
		c.read(t, ts, "/api/v1/entries/0/tlog-proof", 200, false)
		c.read(t, ts, "/api/v1/entries/99/tlog-proof", 404, false)
		c.read(t, ts, "/checkpoint", 200, false)
	})

	// Every operation of the document was validated with a 2xx answer.
	var names []string
	for name, op := range operations(doc) {
		ok := false
		for code := range c.statuses[op.OperationID] {
			ok = ok || code/100 == 2
		}
		if !ok {
			t.Errorf("%s (%s): no 2xx answer validated", name, op.OperationID)
		}
		names = append(names, op.OperationID)
	}
	sort.Strings(names)
	var summary strings.Builder
	for _, n := range names {
		codes := make([]int, 0, len(c.statuses[n]))
		for code := range c.statuses[n] {
			codes = append(codes, code)
		}
		slices.Sort(codes)
		fmt.Fprintf(&summary, "\n  %-24s %v", n, codes)
	}
	t.Logf("%d operations, %d request/answer pairs validated:%s", len(names), c.pairs, summary.String())
}

// oneOfEach is a request the document takes for every operation (no
// credentials: give them per test).
func oneOfEach() []oaRequest {
	var out []oaRequest
	for _, path := range []string{
		"/checkpoint", "/tile/0/000", "/tile/0/000.p/1", "/tile/entries/000", "/tile/entries/000.p/1",
		"/api/v1/proofs/inclusion?index=0", "/api/v1/proofs/consistency?old=1", "/api/v1/entries/0", "/api/v1/entries/0/tlog-proof",
		"/api/v1/blobs/sha256:" + strings.Repeat("0", 64), "/api/v1/search?system=x", "/api/v1/openapi.json",
	} {
		out = append(out, oaRequest{method: http.MethodGet, path: path}, oaRequest{method: http.MethodHead, path: path})
	}
	return append(out,
		oaRequest{method: http.MethodPost, path: "/add", contentType: octets, body: []byte("an entry")},
		oaRequest{method: http.MethodPost, path: attestationsPath, contentType: "application/json",
			body: []byte(`{"envelope":{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AAAA"}]},"public_key":"-"}`)},
		oaRequest{method: http.MethodPost, path: decisionsPath, contentType: "application/json", body: []byte(decisionRecord("support-bot", 1))},
		oaRequest{method: http.MethodPost, path: decisionsPath, contentType: wire.ContentTypeNDJSON, body: ndjson(decisionRecord("support-bot", 1))},
		oaRequest{method: http.MethodPost, path: accessPath, contentType: "application/json", body: []byte(accessRecord("support-bot", 1))},
		oaRequest{method: http.MethodPost, path: evaluationsPath, contentType: wire.ContentTypeNDJSON, body: ndjson(evaluationRecord("support-bot", 1))},
	)
}

// ---- the checks catch what they must ----

// Answers that differ from the document in a field, a type, a header, a
// status or a media type fail validation; the real answers pass.
func TestOpenAPIDetectsMismatch(t *testing.T) {
	_, router := loadOpenAPI(t)
	c := &oaChecker{router: router, statuses: map[string]map[int]int{}}
	ts := newAIServer(t, nil)
	ts.add(t, []byte("entry 0"))
	ts.add(t, []byte("entry 1"))

	type answer struct {
		method, path, contentType string
		body                      []byte
		status                    int
		header                    http.Header
		resp                      []byte
	}
	record := func(method, path, contentType string, body []byte) answer {
		t.Helper()
		resp, b := c.send(t, ts, oaRequest{method: method, path: path, contentType: contentType, body: body, status: 200})
		return answer{method, path, contentType, body, resp.StatusCode, resp.Header.Clone(), b}
	}
	validate := func(a answer) error {
		req, err := http.NewRequest(a.method, ts.URL+a.path, bytes.NewReader(a.body))
		if err != nil {
			t.Fatal(err)
		}
		if a.contentType != "" {
			req.Header.Set("Content-Type", a.contentType)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		return c.validateResponse(&openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: oaOptions}, a.status, a.header, a.resp)
	}
	proof := record(http.MethodGet, "/api/v1/proofs/inclusion?index=0", "", nil)
	head := record(http.MethodHead, "/api/v1/proofs/inclusion?index=0", "", nil)
	receipts := record(http.MethodPost, decisionsPath, wire.ContentTypeNDJSON, ndjson(decisionRecord("s", 1), decisionRecord("s", 2)))
	compact := record(http.MethodPost, decisionsPath+"?receipts=compact", wire.ContentTypeNDJSON, ndjson(decisionRecord("s", 1), decisionRecord("s", 2)))
	tlogProof := record(http.MethodGet, "/api/v1/entries/1/tlog-proof", "", nil)
	added := record(http.MethodPost, "/add", octets, []byte("entry 2"))
	entry := record(http.MethodGet, "/api/v1/entries/2", "", nil)
	for _, a := range []answer{proof, head, receipts, compact, tlogProof, added, entry} {
		if err := validate(a); err != nil {
			t.Fatalf("%s %s: the real answer fails: %v", a.method, a.path, err)
		}
	}

	with := func(a answer, f func(a *answer)) answer {
		a.header = a.header.Clone()
		a.resp = bytes.Clone(a.resp)
		f(&a)
		return a
	}
	replace := func(old, new string) func(a *answer) {
		return func(a *answer) {
			if !bytes.Contains(a.resp, []byte(old)) {
				t.Fatalf("%q not in %s", old, a.resp)
			}
			a.resp = bytes.Replace(a.resp, []byte(old), []byte(new), 1)
		}
	}
	errorAnswer := func(path string, status int, h ...string) answer {
		a := answer{method: http.MethodGet, path: path, status: status, header: http.Header{}, resp: []byte(`{"error":"x"}` + "\n")}
		if path == "/add" {
			a.method, a.contentType, a.body, a.resp = http.MethodPost, octets, []byte("x"), []byte("x\n")
			a.header.Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			a.header.Set("Content-Type", "application/json")
		}
		a.header.Set("X-Request-Id", "abc-1")
		a.header.Set("X-Content-Type-Options", "nosniff")
		for i := 0; i+1 < len(h); i += 2 {
			a.header.Set(h[i], h[i+1])
		}
		return a
	}
	// Controls: made-up error answers as the server writes them pass.
	for _, a := range []answer{
		errorAnswer("/api/v1/search?system=x", 429, "Retry-After", "3"),
		errorAnswer("/api/v1/search?system=x", 503, "Retry-After", "300"),
		errorAnswer("/add", 401, "WWW-Authenticate", `Bearer realm="tlog writers"`),
		errorAnswer("/api/v1/entries/9", 404),
	} {
		if err := validate(a); err != nil {
			t.Fatalf("%s %d: the control fails: %v", a.path, a.status, err)
		}
	}

	for _, tc := range []struct {
		name string
		a    answer
	}{
		{"field renamed", with(proof, replace(`"tree_size"`, `"treeSize"`))},
		{"required field missing", with(proof, replace(`"hashes":`, `"x_hashes":`))},
		{"unknown field", with(proof, replace(`{"index"`, `{"extra":1,"index"`))},
		{"integer as a string", with(proof, replace(`"tree_size":2`, `"tree_size":"2"`))},
		{"negative index", with(proof, replace(`"index":0`, `"index":-1`))},
		{"hash not base64", with(proof, replace(`"leaf_hash":"`, `"leaf_hash":"!`))},
		{"checkpoint without a signature", with(proof, func(a *answer) {
			var m map[string]any
			if err := json.Unmarshal(a.resp, &m); err != nil {
				t.Fatal(err)
			}
			cp := m["checkpoint"].(string)
			m["checkpoint"] = cp[:strings.Index(cp, "\n\n")+2]
			a.resp, _ = json.Marshal(m)
		})},
		{"status not documented", with(proof, func(a *answer) { a.status = http.StatusTeapot })},
		{"success body under an error status", with(proof, func(a *answer) { a.status = http.StatusNotFound })},
		{"media type", with(proof, func(a *answer) { a.header.Set("Content-Type", "text/html") })},
		{"no X-Request-Id", with(proof, func(a *answer) { a.header.Del("X-Request-Id") })},
		{"X-Content-Type-Options changed", with(proof, func(a *answer) { a.header.Set("X-Content-Type-Options", "sniff") })},
		{"HEAD with a body", with(head, func(a *answer) { a.resp = []byte("{}") })},
		{"HEAD status not documented", with(head, func(a *answer) { a.status = http.StatusAccepted })},
		{"HEAD without X-Request-Id", with(head, func(a *answer) { a.header.Del("X-Request-Id") })},
		{"NDJSON receipt without leaf_hash", with(receipts, replace(`"leaf_hash"`, `"leafhash"`))},
		{"NDJSON line not JSON", with(receipts, func(a *answer) { a.resp = append(a.resp, "{\n"...) })},
		{"NDJSON answer as JSON", with(receipts, func(a *answer) { a.header.Set("Content-Type", "application/json") })},
		{"compact receipt with a proof field", with(compact, replace(`"leaf_hash"`, `"tlog_proof":"x","leaf_hash"`))},
		{"duplicate not boolean", with(compact, replace(`"duplicate":true`, `"duplicate":"yes"`))},
		{"202 with a compact receipt", with(compact, func(a *answer) { a.status = http.StatusAccepted })},
		{"tlog-proof without its header line", with(tlogProof, func(a *answer) { a.resp = a.resp[len("c2sp.org/tlog-proof@v1\n"):] })},
		{"tlog-proof with a short hash", with(tlogProof, func(a *answer) {
			lines := bytes.SplitN(a.resp, []byte("\n"), 4)
			lines[2] = lines[2][:20]
			a.resp = bytes.Join(lines, []byte("\n"))
		})},
		{"add without its newline", with(added, func(a *answer) { a.resp = bytes.TrimSuffix(a.resp, []byte("\n")) })},
		{"add as JSON", with(added, func(a *answer) { a.header.Set("Content-Type", "application/json"); a.resp = []byte(`{"index":2}`) })},
		{"entry without inclusion_proof", with(entry, replace(`"inclusion_proof"`, `"proof"`))},
		{"raw entry with a record", with(entry, replace(`"inclusion_proof"`, `"record":{"kind":"decision/v1"},"inclusion_proof"`))},
		{"429 without Retry-After", errorAnswer("/api/v1/search?system=x", 429)},
		{"503 with Retry-After 0", errorAnswer("/api/v1/search?system=x", 503, "Retry-After", "0")},
		{"401 without WWW-Authenticate", errorAnswer("/add", 401)},
		{"error with another field", with(errorAnswer("/api/v1/entries/9", 404), replace(`"error"`, `"message"`))},
		{"error with an empty lines", with(errorAnswer("/api/v1/entries/9", 404), replace(`"x"}`, `"x","lines":[]}`))},
		{"plain error of two lines", with(errorAnswer("/add", 401, "WWW-Authenticate", `Bearer realm="tlog writers"`), func(a *answer) { a.resp = []byte("a\nb\n") })},
		{"plain error as JSON", with(errorAnswer("/add", 400), func(a *answer) { a.header.Set("Content-Type", "application/json"); a.resp = []byte(`{"error":"x"}`) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(tc.a)
			if err == nil {
				t.Fatalf("the answer passes validation:\n%d %v\n%s", tc.a.status, tc.a.header, tc.a.resp)
			}
			t.Logf("refused: %v", firstLine(err.Error()))
		})
	}
}
