package app_test

// The end-to-end harness: one clerksync App per test, started through
// app.New and app.Serve (so the real http.Server limits apply) on a
// loopback port, against its own migrated PostgreSQL database and its own
// Clerk stand-in served over real HTTP.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/app"
	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/pgtest"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// frontendOrigin is the Next.js app's origin: the authorized party of
// minted tokens and the one CORS origin allowed.
const frontendOrigin = "http://localhost:3000"

// harness is one running clerksync with its database and Clerk stand-in.
type harness struct {
	cfg *config.Config
	app *app.App
	// emu is the Clerk stand-in; its counters show what clerksync asked.
	emu *clerkemu.Server
	// url is the base URL of clerksync.
	url string
	// pool inspects the test database directly, bypassing clerksync.
	pool   *pgxpool.Pool
	client *http.Client
}

// newHarness starts clerksync in phase, with the defaults below changed
// by mutate, and stops everything when t ends.
func newHarness(t *testing.T, phase user.Phase, mutate ...func(*config.Config)) *harness {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)

	secretKey := "sk_test_" + randomString(t, 24)
	emu, err := clerkemu.New(clerkemu.Options{SecretKey: secretKey})
	require.NoError(t, err)
	emuSrv := newLoopbackServer(t, emu.Handler())
	t.Cleanup(emu.Close)

	cfg := &config.Config{
		DatabaseURL:            dbURL,
		Phase:                  phase,
		MigrateOnStart:         true,
		ClerkSecretKey:         secretKey,
		ClerkAPIURL:            emuSrv + "/v1",
		ClerkAuthorizedParties: []string{frontendOrigin},
		ClerkJWTLeeway:         5 * time.Second,
		UserSyncTTL:            time.Minute,
		SyncFallbackFetch:      true,
		WebhookMaxBodyBytes:    1 << 20,
		CORSAllowedOrigins:     []string{frontendOrigin},
		LogLevel:               slog.LevelInfo,
		LogFormat:              "text",
	}
	if phase.WebhooksEnabled() {
		cfg.WebhookSigningSecrets = []string{"whsec_" + randomString(t, 32)}
	}
	for _, m := range mutate {
		m(cfg)
	}

	logger := newTestLogger(t, cfg.LogLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := app.New(ctx, cfg, logger)
	require.NoError(t, err)
	t.Cleanup(a.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveCtx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(serveCtx, ln) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("app.Serve: %v", err)
			}
		case <-time.After(25 * time.Second):
			t.Errorf("app.Serve did not return after shutdown")
		}
	})

	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	client := &http.Client{
		Timeout:   20 * time.Second,
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
	}
	t.Cleanup(client.CloseIdleConnections)

	return &harness{
		cfg:    cfg,
		app:    a,
		emu:    emu,
		url:    "http://" + ln.Addr().String(),
		pool:   pool,
		client: client,
	}
}

// newLoopbackServer serves h on a loopback port until t ends and returns
// its base URL.
func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// --- HTTP ---------------------------------------------------------------

// response is a finished HTTP exchange with its body read.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrorCode returns error.code of the API's error shape, or "".
func (r response) ErrorCode() string {
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(r.Body, &body) != nil {
		return ""
	}
	return body.Error.Code
}

// do sends a request built by method and path, after edit changes it.
func (h *harness) do(t testing.TB, method, path string, edit func(*http.Request)) response {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, nil)
	require.NoError(t, err)
	if edit != nil {
		edit(req)
	}
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// get sends GET path with the token as Bearer (none when empty) and
// returns the status and body.
func (h *harness) get(t testing.TB, path, token string) (int, []byte) {
	t.Helper()
	r := h.getResp(t, path, token)
	return r.Status, r.Body
}

// getResp is get returning the whole response.
func (h *harness) getResp(t testing.TB, path, token string) response {
	t.Helper()
	return h.do(t, http.MethodGet, path, bearer(token))
}

// bearer sets "Authorization: Bearer token" unless token is empty.
func bearer(token string) func(*http.Request) {
	return func(r *http.Request) {
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
}

// meJSON is GET /api/me's body, by its snake_case names.
type meJSON struct {
	ID             int64           `json:"id"`
	ClerkID        string          `json:"clerk_id"`
	Email          *string         `json:"email"`
	EmailVerified  bool            `json:"email_verified"`
	FirstName      *string         `json:"first_name"`
	LastName       *string         `json:"last_name"`
	Username       *string         `json:"username"`
	PublicMetadata json.RawMessage `json:"public_metadata"`
	SyncedVia      string          `json:"synced_via"`
}

// me sends GET /api/me, requires a 200 and decodes the body.
func (h *harness) me(t testing.TB, token string) meJSON {
	t.Helper()
	status, body := h.get(t, "/api/me", token)
	require.Equal(t, http.StatusOK, status, "GET /api/me: %s", body)
	var m meJSON
	require.NoError(t, json.Unmarshal(body, &m), "body: %s", body)
	return m
}

// requireError requires status and error.code from r.
func requireError(t testing.TB, r response, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Body)
	require.Equal(t, code, r.ErrorCode(), "body: %s", r.Body)
}

// metric reads one sample from GET /metrics: name with labels written as
// Prometheus prints them (sorted: `a="x",b="y"`); 0 when absent.
func (h *harness) metric(t testing.TB, name, labels string) float64 {
	t.Helper()
	status, body := h.get(t, "/metrics", "")
	require.Equal(t, http.StatusOK, status)
	series := name
	if labels != "" {
		series += "{" + labels + "}"
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			require.NoError(t, err, "metric line %q", line)
			return f
		}
	}
	return 0
}

// --- Clerk stand-in -----------------------------------------------------

// createUser adds a user to the stand-in and mints a session token for it.
func (h *harness) createUser(t testing.TB, p clerkemu.UserParams) (*clerk.User, string) {
	t.Helper()
	u := h.emu.CreateUser(p)
	return u, h.token(t, u.ID)
}

// token mints a valid session token for userID from the front end.
func (h *harness) token(t testing.TB, userID string) string {
	t.Helper()
	tok, err := h.emu.MintToken(userID, clerkemu.TokenOptions{AuthorizedParty: frontendOrigin})
	require.NoError(t, err)
	return tok
}

// mint mints a token with options.
func (h *harness) mint(t testing.TB, userID string, o clerkemu.TokenOptions) string {
	t.Helper()
	tok, err := h.emu.MintToken(userID, o)
	require.NoError(t, err)
	return tok
}

// sessionClaims are valid claims of a Clerk v2 session token, for forging.
func sessionClaims(userID string) map[string]any {
	now := time.Now()
	return map[string]any{
		"sub": userID,
		"sid": "sess_forged",
		"iss": clerkemu.DefaultIssuer,
		"azp": frontendOrigin,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Minute).Unix(),
		"v":   2,
	}
}

// sign signs claims with key under kid through the stand-in's SignWith.
func (h *harness) sign(t testing.TB, claims map[string]any, kid string, key *rsa.PrivateKey) string {
	t.Helper()
	tok, err := h.emu.SignWith(claims, kid, key)
	require.NoError(t, err)
	return tok
}

// rsaKey returns a fresh RSA key, one the stand-in does not know.
func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k
}

// --- Database -----------------------------------------------------------

// countUsers counts the rows of users.
func (h *harness) countUsers(t testing.TB) int {
	t.Helper()
	var n int
	require.NoError(t, h.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM users`).Scan(&n))
	return n
}

// userRow is what the database holds for one user.
type userRow struct {
	Xmin           string
	Email          *string
	EmailVerified  bool
	FirstName      *string
	SyncedAt       time.Time
	SyncedVia      string
	ClerkUpdatedAt time.Time
}

// row reads a user's row straight from the database; ok is false when
// there is none.
func (h *harness) row(t testing.TB, clerkID string) (userRow, bool) {
	t.Helper()
	var r userRow
	err := h.pool.QueryRow(context.Background(), `
		SELECT xmin::text, email, email_verified, first_name, synced_at,
		       synced_via, clerk_updated_at
		FROM users WHERE clerk_id = $1`, clerkID).Scan(
		&r.Xmin, &r.Email, &r.EmailVerified, &r.FirstName, &r.SyncedAt,
		&r.SyncedVia, &r.ClerkUpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return userRow{}, false
	}
	require.NoError(t, err)
	return r, true
}

// mustRow is row requiring that the row exists.
func (h *harness) mustRow(t testing.TB, clerkID string) userRow {
	t.Helper()
	r, ok := h.row(t, clerkID)
	require.True(t, ok, "no users row for %s", clerkID)
	return r
}

// tombstone returns deleted_via of the user's tombstone, ok false when
// there is none.
func (h *harness) tombstone(t testing.TB, clerkID string) (string, bool) {
	t.Helper()
	var via string
	err := h.pool.QueryRow(context.Background(),
		`SELECT deleted_via FROM user_tombstones WHERE clerk_id = $1`, clerkID).Scan(&via)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false
	}
	require.NoError(t, err)
	return via, true
}

// databaseName returns the name of the harness's database.
func (h *harness) databaseName(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(h.cfg.DatabaseURL)
	require.NoError(t, err)
	return strings.TrimPrefix(u.Path, "/")
}

// --- Misc ---------------------------------------------------------------

// randomString returns base64 of n random bytes.
func randomString(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }

// newTestLogger logs through t.Log, so a failing test shows what the
// service said; it falls silent once the test's cleanups are done.
func newTestLogger(t *testing.T, level slog.Level) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered early, so it runs after the servers stop
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu      sync.Mutex
	t       *testing.T
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}
