package app_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// Writes authenticated by the __session cookie must come from this
// server's origin or an allowed front end: a sibling subdomain or any
// other site cannot make them.
func TestCookieWritesNeedAnAllowedOrigin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseMVP)
	_, token := h.createUser(t, clerkemu.UserParams{Email: ptr("c@example.com")})

	post := func(origin string, cookie bool) response {
		return h.do(t, http.MethodPost, "/api/me/onboarding/steps/create_project", func(r *http.Request) {
			if cookie {
				r.AddCookie(&http.Cookie{Name: "__session", Value: token})
			} else {
				bearer(token)(r)
			}
			if origin != "" {
				r.Header.Set("Origin", origin)
			}
		})
	}

	requireError(t, post("https://evil.example.com", true), http.StatusForbidden, "origin_not_allowed")
	requireError(t, post("", true), http.StatusForbidden, "csrf_check_failed")
	require.Equal(t, http.StatusOK, post(frontendOrigin, true).Status)
	require.Equal(t, http.StatusOK, post(h.url, true).Status, "the server's own origin")
	require.Equal(t, http.StatusOK, post(frontendOrigin, false).Status, "a Bearer token needs no Origin check")

	status, _ := h.get(t, "/api/me", "") // reads with the cookie are fine
	require.Equal(t, http.StatusUnauthorized, status)
}

func TestHostileQueriesAreRefused(t *testing.T) {
	t.Parallel()
	o := newOpsHarness(t)

	requireError(t, o.getResp(t, "/api/admin/webhooks?status=failed';DROP+TABLE+users;--", o.admin),
		http.StatusBadRequest, "invalid_query")
	requireError(t, o.getResp(t, "/api/admin/webhooks?cursor=%ZZ", o.admin),
		http.StatusBadRequest, "invalid_query")
	requireError(t, o.getResp(t, "/api/admin/webhooks?type=a%00b", o.admin),
		http.StatusBadRequest, "invalid_input")
	requireError(t, o.getResp(t, "/api/admin/webhooks/%00", o.admin),
		http.StatusBadRequest, "invalid_input")
	require.Equal(t, 2, o.count(t, `SELECT count(*) FROM users WHERE clerk_id LIKE 'user_ops%'`),
		"nothing was dropped or written")
}

func TestTokenSubjectMustBeAClerkID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseMVP)

	for _, sub := range []string{"../users/count", "user_a/b", "user\x00x", string(make([]byte, 200))} {
		claims := sessionClaims(sub)
		tok := h.sign(t, claims, h.emu.KeyID(), nil)
		requireError(t, h.getResp(t, "/api/me", tok), http.StatusUnauthorized, "token_malformed")
	}
	require.Zero(t, h.emu.Requests(clerkemu.RouteGetUser))
}

// Without CORS settings the cookie check alone stops a cross-site write.
func TestCookieWritesWithoutCORS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseMVP, func(c *config.Config) { c.CORSAllowedOrigins = nil })
	_, token := h.createUser(t, clerkemu.UserParams{Email: ptr("n@example.com")})

	r := h.do(t, http.MethodDelete, "/api/me", func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "__session", Value: token})
		r.Header.Set("Origin", "https://attacker.example.net")
	})
	requireError(t, r, http.StatusForbidden, "csrf_check_failed")
	require.Zero(t, h.emu.Requests("delete_user"), "nothing was deleted")
}
