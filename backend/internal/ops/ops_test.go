package ops_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/ops"
)

const wantCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; " +
	"script-src 'self'; connect-src 'self'; frame-ancestors 'none'"

func serve(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(ops.Handler())
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status int
	header http.Header
	body   string
}

func request(t *testing.T, method, url string, edit func(*http.Request)) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header, string(body)}
}

func requireSecurityHeaders(t *testing.T, a answer) {
	t.Helper()
	require.Equal(t, wantCSP, a.header.Get("Content-Security-Policy"))
	require.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-referrer", a.header.Get("Referrer-Policy"))
}

func TestIndexServedWithSecurityHeaders(t *testing.T) {
	srv := serve(t)
	for _, path := range []string{"/ops", "/ops/"} {
		a := request(t, http.MethodGet, srv.URL+path, nil)
		require.Equal(t, http.StatusOK, a.status, path)
		requireSecurityHeaders(t, a)
		require.Equal(t, "text/html; charset=utf-8", a.header.Get("Content-Type"))
		require.Equal(t, "no-cache", a.header.Get("Cache-Control"))
		require.Contains(t, a.body, `<script src="/ops/assets/app.js" defer></script>`)
		require.Contains(t, a.body, `<link rel="stylesheet" href="/ops/assets/app.css">`)
	}

	head := request(t, http.MethodHead, srv.URL+"/ops", nil)
	require.Equal(t, http.StatusOK, head.status)
	require.Empty(t, head.body)
}

func TestAssetsServedWithTheirTypes(t *testing.T) {
	srv := serve(t)
	for path, ct := range map[string]string{
		"/ops/assets/app.js":     "text/javascript; charset=utf-8",
		"/ops/assets/app.css":    "text/css; charset=utf-8",
		"/ops/assets/index.html": "text/html; charset=utf-8",
	} {
		a := request(t, http.MethodGet, srv.URL+path, nil)
		require.Equal(t, http.StatusOK, a.status, path)
		require.Equal(t, ct, a.header.Get("Content-Type"), path)
		requireSecurityHeaders(t, a)
		require.NotEmpty(t, a.body, path)

		etag := a.header.Get("ETag")
		require.NotEmpty(t, etag, path)
		again := request(t, http.MethodGet, srv.URL+path, func(r *http.Request) {
			r.Header.Set("If-None-Match", etag)
		})
		require.Equal(t, http.StatusNotModified, again.status, path)
	}
}

func TestUnknownPathsAreNotFound(t *testing.T) {
	srv := serve(t)
	for _, path := range []string{
		"/ops/assets/nope.js",
		"/ops/assets/",
		"/ops/assets/../ops.go",
		"/ops/assets/%2e%2e%2fops.go",
		"/ops/assets/sub/app.js",
		"/ops/other",
		"/",
	} {
		a := request(t, http.MethodGet, srv.URL+path, nil)
		require.Equal(t, http.StatusNotFound, a.status, path)
		requireSecurityHeaders(t, a)
		require.Contains(t, a.body, `"code":"not_found"`, path)
	}

	a := request(t, http.MethodPost, srv.URL+"/ops/assets/app.js", nil)
	require.Equal(t, http.StatusMethodNotAllowed, a.status)
	require.Equal(t, "GET, HEAD", a.header.Get("Allow"))
}

// The policy forbids inline script and style: the page must need none,
// and must put data in the page only as text.
func TestPageFitsThePolicy(t *testing.T) {
	srv := serve(t)
	index := request(t, http.MethodGet, srv.URL+"/ops", nil).body
	js := request(t, http.MethodGet, srv.URL+"/ops/assets/app.js", nil).body
	css := request(t, http.MethodGet, srv.URL+"/ops/assets/app.css", nil).body

	require.NotRegexp(t, regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`), index, "inline script")
	require.NotRegexp(t, regexp.MustCompile(`(?i)<style|\sstyle=`), index, "inline style")
	require.NotRegexp(t, regexp.MustCompile(`(?i)\son[a-z]+=`), index, "inline event handler")
	for _, src := range []string{index, js, css} {
		require.NotRegexp(t, regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`), src, "external resource")
		require.NotContains(t, src, "@import")
	}
	for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		require.False(t, strings.Contains(js, banned), "app.js uses %s", banned)
	}
	require.NotContains(t, js, `setAttribute('style'`)
	require.Contains(t, js, "'X-Clerksync-Ops'")
	require.Contains(t, js, "credentials: 'same-origin'")
}
