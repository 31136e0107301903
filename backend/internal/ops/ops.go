// Package ops serves the operations page: one static HTML page with its
// script and style sheet, embedded in the binary. The page holds no data
// of its own; it signs in through POST /ops/session and reads and acts
// through the admin JSON API under /api/admin.
//
// The router mounts the one handler on both routes and hands it the full
// request path:
//
//	r.GET("/ops", gin.WrapH(ops.Handler()))
//	r.GET("/ops/assets/*file", gin.WrapH(ops.Handler()))
package ops

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets/*
var assets embed.FS

// Paths the handler answers.
const (
	// IndexPath is the page itself.
	IndexPath = "/ops"
	// AssetsPrefix is followed by an asset's file name.
	AssetsPrefix = "/ops/assets/"
)

// ContentSecurityPolicy allows the page only its own script, style sheet
// and API calls, and no framing.
const ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; " +
	"script-src 'self'; connect-src 'self'; frame-ancestors 'none'"

// contentTypes lists the served extensions; any other file is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
}

// file is one embedded asset, read once.
type file struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// handler serves the embedded files.
type handler struct {
	index *file
	files map[string]*file
}

// Handler returns the http.Handler of GET (and HEAD) /ops and
// /ops/assets/{file}. Every answer carries the security headers; unknown
// paths get a 404 in the API's error shape.
func Handler() http.Handler {
	h, err := newHandler(assets)
	if err != nil {
		// The assets are compiled in: this only fails on a broken build.
		panic("ops: " + err.Error())
	}
	return h
}

func newHandler(fsys fs.FS) (*handler, error) {
	entries, err := fs.ReadDir(fsys, "assets")
	if err != nil {
		return nil, err
	}
	h := &handler{files: map[string]*file{}}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		ct, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			continue
		}
		body, err := fs.ReadFile(fsys, "assets/"+e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		h.files[e.Name()] = &file{
			name:        e.Name(),
			body:        body,
			contentType: ct,
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
		}
	}
	h.index = h.files["index.html"]
	if h.index == nil {
		return nil, fs.ErrNotExist
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")

	f := h.lookup(r.URL.Path)
	if f == nil {
		writeError(w, http.StatusNotFound, "not_found", "No such route.")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			"This route does not accept that method.")
		return
	}

	hdr.Set("Content-Type", f.contentType)
	// The names carry no version, so every use revalidates; the ETag
	// makes that a 304 while the build is the same.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}

// lookup maps a full request path to its file, or nil.
func (h *handler) lookup(p string) *file {
	if p == IndexPath || p == IndexPath+"/" {
		return h.index
	}
	name, ok := strings.CutPrefix(p, AssetsPrefix)
	if !ok || name == "" || strings.ContainsAny(name, `/\`) {
		return nil
	}
	return h.files[name]
}

// writeError writes the API's error shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// code and message are constants of this package: no escaping needed.
	w.Write([]byte(`{"error":{"code":"` + code + `","message":"` + message + `"}}` + "\n"))
}
