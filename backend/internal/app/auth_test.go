package app_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// TestAuthRefusals sends every kind of bad session token for a user who
// exists in Clerk, so that a token wrongly accepted would create a row.
// Each must be a 401 with its reason as code, write nothing, ask Clerk
// for no user, and count in clerksync_auth_failures_total.
func TestAuthRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta)
	u := h.emu.CreateUser(clerkemu.UserParams{FirstName: ptr("Ada")})
	now := time.Now()
	otherKey := rsaKey(t)

	withClaims := func(edit func(map[string]any)) map[string]any {
		c := sessionClaims(u.ID)
		edit(c)
		return c
	}
	authz := func(value string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", value) }
	}
	bearerFn := func(token func() string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token()) }
	}

	cases := []struct {
		name string
		edit func(*http.Request)
		code string
	}{
		{"missing token", nil, clerkapi.ReasonMissing},
		{"empty bearer", authz("Bearer "), clerkapi.ReasonMalformed},
		{"basic scheme", authz("Basic x"), clerkapi.ReasonMalformed},
		{"bearer without token", authz("Bearer"), clerkapi.ReasonMalformed},
		{"garbage", authz("Bearer garbage"), clerkapi.ReasonMalformed},
		{"three dots", authz("Bearer a.b.c"), clerkapi.ReasonMalformed},
		{"garbage cookie", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "__session", Value: "not-a-jwt"})
		}, clerkapi.ReasonMalformed},
		{"expired beyond leeway", bearerFn(func() string {
			return h.mint(t, u.ID, clerkemu.TokenOptions{
				AuthorizedParty: frontendOrigin,
				IssuedAt:        now.Add(-time.Hour),
				TTL:             60 * time.Second,
			})
		}), clerkapi.ReasonExpired},
		{"expired just beyond leeway", bearerFn(func() string {
			// exp 10s ago, leeway 5s.
			return h.mint(t, u.ID, clerkemu.TokenOptions{
				AuthorizedParty: frontendOrigin,
				IssuedAt:        now.Add(-70 * time.Second),
				TTL:             60 * time.Second,
			})
		}), clerkapi.ReasonExpired},
		{"not yet valid", bearerFn(func() string {
			return h.mint(t, u.ID, clerkemu.TokenOptions{
				AuthorizedParty: frontendOrigin,
				NotBefore:       ptr(now.Add(time.Hour)),
			})
		}), clerkapi.ReasonNotYetValid},
		{"signed by another key under the real kid", bearerFn(func() string {
			return h.sign(t, sessionClaims(u.ID), h.emu.KeyID(), otherKey)
		}), clerkapi.ReasonBadSignature},
		{"unknown kid", bearerFn(func() string {
			return h.sign(t, sessionClaims(u.ID), "ins_unknown", otherKey)
		}), clerkapi.ReasonUnknownKey},
		{"no kid", bearerFn(func() string {
			return h.sign(t, sessionClaims(u.ID), "", nil)
		}), clerkapi.ReasonMalformed},
		{"alg none", bearerFn(func() string {
			return unsignedToken(t, h.emu.KeyID(), sessionClaims(u.ID))
		}), clerkapi.ReasonBadAlgorithm},
		{"wrong issuer", bearerFn(func() string {
			return h.mint(t, u.ID, clerkemu.TokenOptions{
				AuthorizedParty: frontendOrigin,
				Issuer:          "https://evil.example.com",
			})
		}), clerkapi.ReasonBadIssuer},
		{"issuer only prefixed like clerk's", bearerFn(func() string {
			return h.mint(t, u.ID, clerkemu.TokenOptions{
				AuthorizedParty: frontendOrigin,
				Issuer:          "http://clerk.evil.example.com",
			})
		}), clerkapi.ReasonBadIssuer},
		{"foreign azp", bearerFn(func() string {
			return h.mint(t, u.ID, clerkemu.TokenOptions{
				AuthorizedParty: "https://evil.example.com",
			})
		}), clerkapi.ReasonBadParty},
		{"no sub", bearerFn(func() string {
			return h.sign(t, withClaims(func(c map[string]any) { delete(c, "sub") }), h.emu.KeyID(), nil)
		}), clerkapi.ReasonMalformed},
		{"no exp", bearerFn(func() string {
			return h.sign(t, withClaims(func(c map[string]any) { delete(c, "exp") }), h.emu.KeyID(), nil)
		}), clerkapi.ReasonMalformed},
		{"token too large", bearerFn(func() string {
			// Validly signed, but 20 KB.
			return h.sign(t, withClaims(func(c map[string]any) {
				c["pad"] = strings.Repeat("x", 20<<10)
			}), h.emu.KeyID(), nil)
		}), clerkapi.ReasonTooLarge},
	}

	want := map[string]float64{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, http.MethodGet, "/api/me", tc.edit)
			requireError(t, r, http.StatusUnauthorized, tc.code)
			require.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
			require.Zero(t, h.countUsers(t), "a refused token wrote a users row")
		})
		want[tc.code]++
	}

	require.Zero(t, h.countUsers(t))
	_, ok := h.tombstone(t, u.ID)
	require.False(t, ok)
	require.Zero(t, h.emu.Requests(clerkemu.RouteGetUser),
		"a refused token made clerksync ask Clerk for the user")
	for reason, n := range want {
		require.Equal(t, n,
			h.metric(t, "clerksync_auth_failures_total", `reason="`+reason+`"`),
			"clerksync_auth_failures_total{reason=%q}", reason)
	}

	// The unknown kid must not refetch the JWKS on every request.
	jwksBefore := h.emu.Requests(clerkemu.RouteJWKS)
	require.NotZero(t, jwksBefore)
	unknown := h.sign(t, sessionClaims(u.ID), "ins_unknown", otherKey)
	for range 5 {
		requireError(t, h.getResp(t, "/api/me", unknown), http.StatusUnauthorized, clerkapi.ReasonUnknownKey)
	}
	require.LessOrEqual(t, h.emu.Requests(clerkemu.RouteJWKS)-jwksBefore, int64(1),
		"unknown kids refetch the JWKS on every request")

	// After all that, the same user's valid token still works.
	m := h.me(t, h.token(t, u.ID))
	require.Equal(t, u.ID, m.ClerkID)
	require.Equal(t, 1, h.countUsers(t))
}

// TestAuthAccepted covers tokens that must pass: without azp, in the
// __session cookie, and expired within the leeway.
func TestAuthAccepted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta)
	u := h.emu.CreateUser(clerkemu.UserParams{FirstName: ptr("Grace")})

	t.Run("no azp", func(t *testing.T) {
		tok := h.mint(t, u.ID, clerkemu.TokenOptions{})
		require.Equal(t, u.ID, h.me(t, tok).ClerkID)
	})
	t.Run("session cookie", func(t *testing.T) {
		tok := h.token(t, u.ID)
		r := h.do(t, http.MethodGet, "/api/me", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "__session", Value: tok})
		})
		require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
		var m meJSON
		require.NoError(t, json.Unmarshal(r.Body, &m))
		require.Equal(t, u.ID, m.ClerkID)
	})
	t.Run("bearer wins over a bad cookie", func(t *testing.T) {
		tok := h.token(t, u.ID)
		r := h.do(t, http.MethodGet, "/api/me", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+tok)
			r.AddCookie(&http.Cookie{Name: "__session", Value: "garbage"})
		})
		require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	})
	t.Run("azp with a trailing slash or other case", func(t *testing.T) {
		for _, azp := range []string{frontendOrigin + "/", "HTTP://LOCALHOST:3000"} {
			tok := h.mint(t, u.ID, clerkemu.TokenOptions{AuthorizedParty: azp})
			require.Equal(t, u.ID, h.me(t, tok).ClerkID, azp)
		}
	})
	t.Run("expired within leeway", func(t *testing.T) {
		// exp 2s ago, leeway 5s.
		tok := h.mint(t, u.ID, clerkemu.TokenOptions{
			AuthorizedParty: frontendOrigin,
			IssuedAt:        time.Now().Add(-62 * time.Second),
			TTL:             60 * time.Second,
		})
		require.Equal(t, u.ID, h.me(t, tok).ClerkID)
	})

	require.Equal(t, 1, h.countUsers(t))
	require.Equal(t, int64(1), h.emu.Requests(clerkemu.RouteGetUser))
	require.Zero(t, h.metric(t, "clerksync_auth_failures_total", `reason="token_malformed"`))
}

// TestOversizedHeaders: a 20 KB token is refused by the verifier; a
// 200 KB header is refused by the HTTP server itself, which keeps
// serving.
func TestOversizedHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, user.PhaseBeta)
	u, tok := h.createUser(t, clerkemu.UserParams{})

	r := h.getResp(t, "/api/me", strings.Repeat("a", 20<<10))
	requireError(t, r, http.StatusUnauthorized, clerkapi.ReasonTooLarge)

	r = h.getResp(t, "/api/me", strings.Repeat("a", 200<<10))
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, r.Status, "body: %s", r.Body)

	m := h.me(t, tok)
	require.Equal(t, u.ID, m.ClerkID)
	require.Equal(t, 1, h.countUsers(t))
}

// unsignedToken hand-crafts an "alg": "none" JWT under a real kid.
func unsignedToken(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	header, err := json.Marshal(map[string]any{"alg": "none", "typ": "JWT", "kid": kid})
	require.NoError(t, err)
	payload, err := json.Marshal(claims)
	require.NoError(t, err)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(header) + "." + enc(payload) + "."
}
