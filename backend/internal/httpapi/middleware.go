package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// Context keys set by the middleware.
const (
	keyRequestID = "request_id"
	keyClaims    = "claims"
	keyUser      = "user"
)

// requestID takes a sane X-Request-Id from the client or makes one, and
// echoes it.
func requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if !saneRequestID(id) {
		b := make([]byte, 12)
		rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set(keyRequestID, id)
	c.Header("X-Request-Id", id)
	c.Next()
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' ||
			r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// observe logs each request once and feeds the HTTP metrics. Paths are
// labelled by route pattern, never by the raw path.
func (a *API) observe(c *gin.Context) {
	start := time.Now()
	c.Next()

	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	elapsed := time.Since(start)
	a.metrics.HTTPRequests.WithLabelValues(route, c.Request.Method, strconv.Itoa(status)).Inc()
	a.metrics.HTTPDuration.WithLabelValues(route).Observe(elapsed.Seconds())

	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("request_id", c.GetString(keyRequestID)),
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
	}
	if claims, ok := c.Get(keyClaims); ok {
		attrs = append(attrs, slog.String("user_id", claims.(*clerkapi.Claims).UserID))
	}
	a.logger.LogAttrs(c.Request.Context(), level, "httpapi: request", attrs...)
}

// recoverPanic turns a panic into a logged 500 with the error shape.
func (a *API) recoverPanic(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.logger.ErrorContext(c.Request.Context(), "httpapi: panic",
				"request_id", c.GetString(keyRequestID), "panic", p)
			abort(c, http.StatusInternalServerError, "internal_error",
				"Something went wrong on our side.")
		}
	}()
	c.Next()
}

// sessionToken reads the token from "Authorization: Bearer" or, when
// that header is absent, from the __session cookie.
func sessionToken(r *http.Request) (token string, fromCookie bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", false, errors.New("authorization header is not a Bearer token")
		}
		return strings.TrimSpace(token), false, nil
	}
	if c, err := r.Cookie("__session"); err == nil {
		return c.Value, true, nil
	}
	return "", false, nil
}

// trustedWrite guards writes authenticated by the __session cookie
// against cross-site request forgery: browsers send Origin with every
// POST, PUT, PATCH and DELETE, and it must be this server's own origin or
// an allowed front end. Reads pass.
func (a *API) trustedWrite(c *gin.Context) bool {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	origin := strings.ToLower(c.GetHeader("Origin"))
	if origin == "" {
		return false
	}
	if origin == ownOrigin(c) {
		return true
	}
	return slices.Contains(a.config.CORSAllowedOrigins, origin) ||
		slices.Contains(a.config.ClerkAuthorizedParties, origin)
}

// authenticate verifies the Clerk session token. Every refusal is a 401
// with the reason as its code, except keys that cannot be fetched at all
// (503: the token may be fine).
func (a *API) authenticate(c *gin.Context) {
	token, fromCookie, err := sessionToken(c.Request)
	if err != nil {
		a.refuse(c, clerkapi.ReasonMalformed)
		return
	}

	if token == "" {
		claims, status := a.opsSession(c)
		switch status {
		case opsValid:
			if !csrfSafe(c) {
				abort(c, http.StatusForbidden, "csrf_check_failed",
					"Requests with the ops cookie must send the X-Clerksync-Ops header.")
				return
			}
			c.Set(keyClaims, claims)
			return
		case opsExpired:
			a.metrics.AuthFailures.WithLabelValues("ops_session_expired").Inc()
			abort(c, http.StatusUnauthorized, "ops_session_expired",
				"The ops session has expired or is invalid; sign in again.")
			return
		}
	}
	if fromCookie && !a.trustedWrite(c) {
		abort(c, http.StatusForbidden, "csrf_check_failed",
			"A write authenticated by the __session cookie must come from an allowed origin.")
		return
	}

	claims, err := a.verifier.Verify(c.Request.Context(), token)
	if err != nil {
		var tokErr *clerkapi.TokenError
		if !errors.As(err, &tokErr) {
			a.abortErr(c, err)
			return
		}
		a.refuse(c, tokErr.Reason)
		return
	}
	c.Set(keyClaims, claims)
}

var refusalMessages = map[string]string{
	clerkapi.ReasonMissing:      "A Clerk session token is required (Authorization: Bearer or the __session cookie).",
	clerkapi.ReasonTooLarge:     "The session token is too large.",
	clerkapi.ReasonMalformed:    "The session token is malformed.",
	clerkapi.ReasonBadAlgorithm: "The session token is not signed with RS256.",
	clerkapi.ReasonUnknownKey:   "The session token is signed with an unknown key.",
	clerkapi.ReasonBadSignature: "The session token's signature is invalid.",
	clerkapi.ReasonExpired:      "The session token has expired.",
	clerkapi.ReasonNotYetValid:  "The session token is not valid yet.",
	clerkapi.ReasonBadIssuer:    "The session token was not issued by Clerk.",
	clerkapi.ReasonBadParty:     "The session token was issued for another origin.",
}

func (a *API) refuse(c *gin.Context, reason string) {
	a.metrics.AuthFailures.WithLabelValues(reason).Inc()
	if reason == clerkapi.ReasonKeysUnavailable {
		abortRetry(c, 5*time.Second, reason,
			"Clerk's signing keys could not be fetched; retry later.")
		return
	}
	c.Header("WWW-Authenticate", `Bearer error="invalid_token"`)
	abort(c, http.StatusUnauthorized, reason, refusalMessages[reason])
}

// loadUser resolves the verified caller to its stored row, syncing it from
// Clerk as the phase says.
func (a *API) loadUser(c *gin.Context) {
	claims := c.MustGet(keyClaims).(*clerkapi.Claims)
	u, err := a.syncer.Resolve(c.Request.Context(), claims.UserID)
	if err != nil {
		a.abortErr(c, err)
		return
	}
	c.Set(keyUser, u)
	if a.activity != nil {
		a.activity.Seen(c.Request.Context(), claims.UserID)
	}
}

func currentUser(c *gin.Context) user.User {
	return c.MustGet(keyUser).(user.User)
}
