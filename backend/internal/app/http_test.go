package app_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/pgtest"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// TestCORS: the front end's preflight is answered before auth, with
// credentials allowed; a foreign origin is not allowed.
func TestCORS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseMVP)

	preflight := func(origin string) response {
		return h.do(t, http.MethodOptions, "/api/me", func(r *http.Request) {
			r.Header.Set("Origin", origin)
			r.Header.Set("Access-Control-Request-Method", "GET")
			r.Header.Set("Access-Control-Request-Headers", "authorization")
		})
	}

	r := preflight(frontendOrigin)
	require.GreaterOrEqual(t, r.Status, 200, "body: %s", r.Body)
	require.Less(t, r.Status, 300, "body: %s", r.Body)
	require.Equal(t, frontendOrigin, r.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "true", r.Header.Get("Access-Control-Allow-Credentials"))
	require.Contains(t, r.Header.Get("Access-Control-Allow-Methods"), "GET")
	require.Contains(t, http.CanonicalHeaderKey(r.Header.Get("Access-Control-Allow-Headers")), "Authorization")

	r = preflight("https://evil.example.com")
	require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
	require.Empty(t, r.Header.Get("Access-Control-Allow-Credentials"))

	// The actual call from the front end carries the CORS headers too,
	// also on a refusal, so the browser lets the app read the error.
	_, tok := h.createUser(t, clerkemu.UserParams{})
	r = h.do(t, http.MethodGet, "/api/me", func(r *http.Request) {
		r.Header.Set("Origin", frontendOrigin)
		r.Header.Set("Authorization", "Bearer "+tok)
	})
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, frontendOrigin, r.Header.Get("Access-Control-Allow-Origin"))
	r = h.do(t, http.MethodGet, "/api/me", func(r *http.Request) {
		r.Header.Set("Origin", frontendOrigin)
	})
	requireError(t, r, http.StatusUnauthorized, "token_missing")
	require.Equal(t, frontendOrigin, r.Header.Get("Access-Control-Allow-Origin"))

	require.Equal(t, 1, h.countUsers(t))
	require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser))
}

// TestReadiness: /readyz follows the database; /healthz does not.
func TestReadiness(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta)

	status, body := h.get(t, "/readyz", "")
	require.Equal(t, http.StatusOK, status, "body: %s", body)

	// Take the database away: refuse new connections, end the open ones.
	name := h.databaseName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, pgtest.ServerURL(t))
	require.NoError(t, err)
	defer admin.Close(context.Background())
	_, err = admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{name}.Sanitize()+` ALLOW_CONNECTIONS false`)
	require.NoError(t, err)
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
	require.NoError(t, err)

	start := time.Now()
	r := h.getResp(t, "/readyz", "")
	requireError(t, r, http.StatusServiceUnavailable, "database_unavailable")
	require.Less(t, time.Since(start), 5*time.Second, "/readyz took too long to answer")

	status, body = h.get(t, "/healthz", "")
	require.Equal(t, http.StatusOK, status, "body: %s", body)

	_, tok := h.createUser(t, clerkemu.UserParams{})
	t.Run("authenticated call during the outage", func(t *testing.T) {
		// It must be a retryable 503, not a 500.
		// The server refuses the connection with SQLSTATE 55000, which
		// must count as unavailable like any failed connect.
		r := h.getResp(t, "/api/me", tok)
		requireError(t, r, http.StatusServiceUnavailable, "database_unavailable")
		require.NotEmpty(t, r.Header.Get("Retry-After"))
	})

	// And back.
	_, err = admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{name}.Sanitize()+` ALLOW_CONNECTIONS true`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		status, _ := h.get(t, "/readyz", "")
		return status == http.StatusOK
	}, 10*time.Second, 100*time.Millisecond)
	h.me(t, tok)
}

// TestRoutingAndRequestID: unknown routes get the JSON error shape, and
// X-Request-Id is echoed when sane and made up otherwise.
func TestRoutingAndRequestID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseMVP)

	withID := func(id string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Request-Id", id) }
	}

	r := h.do(t, http.MethodGet, "/no/such/route", withID("req-123_abc.D"))
	requireError(t, r, http.StatusNotFound, "not_found")
	require.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))
	require.Equal(t, "req-123_abc.D", r.Header.Get("X-Request-Id"))

	r = h.do(t, http.MethodGet, "/api/nope", nil)
	requireError(t, r, http.StatusNotFound, "not_found")
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{24}$`), r.Header.Get("X-Request-Id"))

	r = h.do(t, http.MethodGet, "/healthz", withID("bad id\t<script>"))
	require.Equal(t, http.StatusOK, r.Status)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{24}$`), r.Header.Get("X-Request-Id"))

	r = h.do(t, http.MethodGet, "/healthz", withID(strings.Repeat("a", 65)))
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{24}$`), r.Header.Get("X-Request-Id"))

	r = h.do(t, http.MethodPost, "/healthz", nil)
	requireError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
	require.Equal(t, "GET", r.Header.Get("Allow"))

	// Under /api, where a preflight route matches every path, a real
	// route with another method is still a 405.
	r = h.do(t, http.MethodPut, "/api/me", nil)
	requireError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
	require.Contains(t, r.Header.Get("Allow"), "GET")

	// Unknown paths are not metric labels.
	_, metrics := h.get(t, "/metrics", "")
	require.NotContains(t, string(metrics), "/no/such/route")
	require.NotContains(t, string(metrics), "/api/nope")
	require.Equal(t, float64(2),
		h.metric(t, "clerksync_http_requests_total", `method="GET",route="unmatched",status="404"`))
}

func TestMetricsToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseMVP, func(c *config.Config) { c.MetricsToken = "scrape-me" })

	requireError(t, h.do(t, http.MethodGet, "/metrics", nil), http.StatusUnauthorized, "metrics_token_required")
	requireError(t, h.do(t, http.MethodGet, "/metrics", bearer("wrong")), http.StatusUnauthorized, "metrics_token_required")
	r := h.do(t, http.MethodGet, "/metrics", bearer("scrape-me"))
	require.Equal(t, http.StatusOK, r.Status)
	require.Contains(t, string(r.Body), "clerksync_http_requests_total")
}
