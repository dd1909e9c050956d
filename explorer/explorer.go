// Package explorer is the log explorer that tlog serve answers at GET /: one
// HTML page, one script and one style sheet, hand-written and embedded, that
// show the latest checkpoint with its witness cosignatures, the recent
// entries decoded per kind, search, and an entry page that verifies the
// entry's inclusion proof and the checkpoint's Ed25519 signature in the
// browser with WebCrypto.
//
// The page talks only to the API of the same log (relative URLs: the
// checkpoint, /api/v1/entries, /api/v1/proofs/inclusion, /api/v1/search).
// What it needs beyond the API, the log's verifier key, it reads from
// explorer/config.json, which this package serves from Config.
//
// Everything is served with a Content-Security-Policy that allows scripts,
// styles and connections to this origin only (no inline script or style,
// no frames, no other origin), X-Content-Type-Options: nosniff and an
// ETag. The page and the config are revalidated on every load (no-cache);
// the script and style sheet are named by a hash of their content and
// cached as immutable.
package explorer

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Config is what the page is told about the log besides the API.
type Config struct {
	// Origin is the log's origin, the first line of its checkpoints.
	Origin string
	// LogKey is the log's note verifier key, <name>+<hex id>+<base64>:
	// the key the page checks checkpoint signatures with, unless the
	// page's user pinned another one in their browser. Empty: the page
	// asks its user for the key.
	LogKey string
	// WitnessPolicy says the log has a witness policy, so that
	// GET /checkpoint serves the latest checkpoint meeting its quorum,
	// with the witnesses' cosignatures.
	WitnessPolicy bool
}

// Paths the handler answers; the asset names carry a hash of their content.
const (
	// PathConfig is the page's configuration (JSON, see configJSON).
	PathConfig = "/explorer/config.json"
	// assetPrefix is where the script and style sheet are.
	assetPrefix = "/explorer/"
)

// ContentSecurityPolicy is the policy every answer of the handler carries:
// scripts, styles and fetches from this origin only; nothing inline,
// nothing framed, no plugins, forms not submitted anywhere.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Cache policies.
const (
	cacheRevalidate = "no-cache"
	cacheImmutable  = "public, max-age=31536000, immutable"
)

//go:embed assets/index.html assets/app.js assets/style.css
var assets embed.FS

// file is one answer: its body, media type, ETag and cache policy.
type file struct {
	body        []byte
	contentType string
	etag        string
	cache       string
}

func newFile(body []byte, contentType, cache string) *file {
	return &file{body: body, contentType: contentType, etag: `"` + contentHash(body) + `"`, cache: cache}
}

// contentHash is the first 16 hex digits of the SHA-256 of b: the
// assets' names and every ETag.
func contentHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// site is the page and its hashed assets, built once from the embedded
// files.
type site struct {
	index  *file
	assets map[string]*file // by path, e.g. /explorer/app.<hash>.js
	// AppPath and StylePath are the hashed asset paths the page names.
	appPath, stylePath string
}

func mustRead(name string) []byte {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic("explorer: embedded asset missing: " + err.Error())
	}
	return b
}

func buildSite() *site {
	app := newFile(mustRead("assets/app.js"), "text/javascript; charset=utf-8", cacheImmutable)
	style := newFile(mustRead("assets/style.css"), "text/css; charset=utf-8", cacheImmutable)
	s := &site{
		appPath:   assetPrefix + "app." + contentHash(app.body) + ".js",
		stylePath: assetPrefix + "style." + contentHash(style.body) + ".css",
	}
	s.assets = map[string]*file{s.appPath: app, s.stylePath: style}
	// The page names the assets relative to itself (no leading slash), so
	// that it also works behind a proxy that serves the log under a path.
	html := mustRead("assets/index.html")
	for _, r := range []struct{ old, new string }{
		{`"explorer/app.js"`, `"` + strings.TrimPrefix(s.appPath, "/") + `"`},
		{`"explorer/style.css"`, `"` + strings.TrimPrefix(s.stylePath, "/") + `"`},
	} {
		if !bytes.Contains(html, []byte(r.old)) {
			panic("explorer: index.html does not name " + r.old)
		}
		html = bytes.ReplaceAll(html, []byte(r.old), []byte(r.new))
	}
	s.index = newFile(html, "text/html; charset=utf-8", cacheRevalidate)
	return s
}

var theSite = buildSite()

// configJSON is the body of GET /explorer/config.json.
type configJSON struct {
	Origin        string `json:"origin"`
	LogKey        string `json:"log_key"`
	WitnessPolicy bool   `json:"witness_policy"`
}

// Handler serves the explorer. Its zero value is not usable; make it
// with New.
type Handler struct {
	site   *site
	config *file
}

// New returns the explorer's handler. It answers GET and HEAD of
// "/" (the page), PathConfig and the hashed script and style sheet under
// /explorer/; other paths get 404 and other methods 405. Mount it at "/"
// and "/explorer/*".
func New(cfg Config) *Handler {
	b, err := json.Marshal(configJSON{Origin: cfg.Origin, LogKey: strings.TrimSpace(cfg.LogKey), WitnessPolicy: cfg.WitnessPolicy})
	if err != nil {
		panic("explorer: " + err.Error()) // strings and a bool always marshal
	}
	return &Handler{site: theSite, config: newFile(append(b, '\n'), "application/json", cacheRevalidate)}
}

// AssetPaths returns the paths of the script and the style sheet the page
// loads (named by a hash of their content).
func (h *Handler) AssetPaths() (app, style string) { return h.site.appPath, h.site.stylePath }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var f *file
	switch p := r.URL.Path; p {
	case "/":
		f = h.site.index
	case PathConfig:
		f = h.config
	default:
		f = h.site.assets[p]
	}
	if f == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", f.cache)
	hdr.Set("ETag", f.etag)
	// ServeContent answers If-None-Match with 304, ranges, and HEAD.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
