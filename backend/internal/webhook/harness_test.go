package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/clerksync/clerksync/backend/internal/app"
	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/pgtest"
	"github.com/clerksync/clerksync/backend/internal/user"
	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// emuSecretKey is the Clerk secret key shared by the app and the stand-in.
const emuSecretKey = "sk_test_x"

// testMaxBody is the webhook body limit of every harness.
const testMaxBody = 4096

// harness is one clerksync instance served over real HTTP against its own
// migrated database (or a shared one), with a Clerk stand-in behind it.
type harness struct {
	t       *testing.T
	App     *app.App
	Server  *httptest.Server
	Emu     *clerkemu.Server
	Secrets []string
	DBURL   string
	DBName  string
	// check reads the database directly, beside the app's own pool.
	check *pgxpool.Pool
}

type harnessOptions struct {
	Phase user.Phase // beta when empty
	// Secrets is how many signing secrets to configure; 1 when zero.
	Secrets int
	// DBURL shares a database (and secrets) with another harness.
	DBURL      string
	SecretList []string
}

// newHarness starts an app with a fresh database unless o.DBURL is set.
func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	if o.Phase == "" {
		o.Phase = user.PhaseBeta
	}
	if o.Secrets == 0 {
		o.Secrets = 1
	}
	dbURL := o.DBURL
	if dbURL == "" {
		dbURL = pgtest.NewDatabase(t)
	}
	secrets := o.SecretList
	if secrets == nil && o.Phase.WebhooksEnabled() {
		for range o.Secrets {
			secrets = append(secrets, newSecret(t))
		}
	}

	emu, err := clerkemu.New(clerkemu.Options{SecretKey: emuSecretKey})
	require.NoError(t, err)
	emuSrv := httptest.NewServer(emu.Handler())
	t.Cleanup(func() {
		emuSrv.Close()
		emu.Close()
	})

	cfg := &config.Config{
		Port:                  8080,
		DatabaseURL:           dbURL,
		Phase:                 o.Phase,
		MigrateOnStart:        false, // pgtest's databases are migrated
		ClerkSecretKey:        emuSecretKey,
		ClerkAPIURL:           emuSrv.URL + "/v1",
		ClerkJWTLeeway:        5 * time.Second,
		UserSyncTTL:           5 * time.Minute,
		SyncFallbackFetch:     true,
		WebhookSigningSecrets: secrets,
		WebhookMaxBodyBytes:   testMaxBody,
		LogLevel:              slog.LevelInfo,
		LogFormat:             "text",
	}
	a := newApp(t, cfg)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})

	check, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(check.Close)

	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	return &harness{
		t: t, App: a, Server: srv, Emu: emu, Secrets: secrets,
		DBURL: dbURL, DBName: strings.TrimPrefix(u.Path, "/"), check: check,
	}
}

// with returns the harness reporting to t, for subtests.
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// newApp is app.New, turning a panic (a bad route table, say) into this
// test's failure instead of the whole package's crash.
func newApp(t *testing.T, cfg *config.Config) (a *app.App) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("app.New panicked in phase %s: %v", cfg.Phase, p)
		}
	}()
	// Warnings and errors go to the test's output, shown on failure.
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := app.New(context.Background(), cfg, logger)
	require.NoError(t, err)
	return a
}

// newSecret returns a fresh Svix signing secret.
func newSecret(t testing.TB) string {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// newMsgID returns a fresh Svix message id.
func newMsgID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "msg_" + hex.EncodeToString(b)
}

// newUserID returns a fresh Clerk-like user id.
func newUserID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "user_" + hex.EncodeToString(b)
}

// signHeaders signs body with the Svix library, the way Svix does.
func signHeaders(t testing.TB, secret, msgID string, ts time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := svix.NewWebhook(secret)
	require.NoError(t, err)
	sig, err := wh.Sign(msgID, ts, body)
	require.NoError(t, err)
	h := http.Header{}
	h.Set("svix-id", msgID)
	h.Set("svix-timestamp", fmt.Sprint(ts.Unix()))
	h.Set("svix-signature", sig)
	h.Set("Content-Type", "application/json")
	return h
}

// sign signs body under msgID with the first secret, now.
func (h *harness) sign(msgID string, body []byte) http.Header {
	return signHeaders(h.t, h.Secrets[0], msgID, time.Now(), body)
}

func (h *harness) webhookURL() string { return h.Server.URL + "/api/webhooks/clerk" }

// post sends body with exactly these headers (raw keys, as given) to the
// webhook route and returns the status and the response body.
func (h *harness) post(body []byte, headers http.Header) (int, []byte) {
	h.t.Helper()
	status, resp, err := postTo(h.webhookURL(), bytes.NewReader(body), headers)
	require.NoError(h.t, err)
	return status, resp
}

// postTo is post without a testing.T, for use from goroutines.
func postTo(u string, body io.Reader, headers http.Header) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, u, body)
	if err != nil {
		return 0, nil, err
	}
	for k, vs := range headers {
		req.Header[k] = vs // raw keys: no canonicalisation on our side
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// send signs body under a fresh id and posts it; it returns the id too.
func (h *harness) send(body []byte) (int, []byte, string) {
	h.t.Helper()
	id := newMsgID()
	status, resp := h.post(body, h.sign(id, body))
	return status, resp, id
}

// sendAs signs body under msgID and posts it.
func (h *harness) sendAs(msgID string, body []byte) (int, []byte) {
	h.t.Helper()
	return h.post(body, h.sign(msgID, body))
}

// get fetches a path of the app.
func (h *harness) get(path string, header http.Header) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.Server.URL+path, nil)
	require.NoError(h.t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return resp.StatusCode, out
}

// answer is the JSON of a webhook response.
type answer struct {
	Status string `json:"status"`
	SvixID string `json:"svix_id"`
	Error  struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func parseAnswer(t testing.TB, body []byte) answer {
	t.Helper()
	var a answer
	require.NoError(t, json.Unmarshal(body, &a), "response is not JSON: %s", body)
	return a
}

// requireAccepted asserts a 200 whose status is want.
func requireAccepted(t testing.TB, status int, body []byte, want string) answer {
	t.Helper()
	require.Equal(t, http.StatusOK, status, "body: %s", body)
	a := parseAnswer(t, body)
	require.Equal(t, want, a.Status, "body: %s", body)
	return a
}

// requireError asserts an error answer with this status and code.
func requireError(t testing.TB, status int, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	require.Equal(t, wantStatus, status, "body: %s", body)
	a := parseAnswer(t, body)
	require.Equal(t, wantCode, a.Error.Code, "body: %s", body)
}

// userRow is the part of a users row the tests look at.
type userRow struct {
	ClerkID        string
	Email          *string
	EmailVerified  bool
	FirstName      *string
	LastName       *string
	Username       *string
	PublicMetadata string
	UpdatedAtMS    int64
	SyncedVia      string
}

// user reads a users row straight from the database.
func (h *harness) user(id string) (userRow, bool) {
	h.t.Helper()
	var r userRow
	err := h.check.QueryRow(context.Background(), `
		SELECT clerk_id, email, email_verified, first_name, last_name, username,
		       public_metadata::text,
		       (extract(epoch FROM clerk_updated_at) * 1000)::bigint, synced_via
		FROM users WHERE clerk_id = $1`, id).Scan(
		&r.ClerkID, &r.Email, &r.EmailVerified, &r.FirstName, &r.LastName,
		&r.Username, &r.PublicMetadata, &r.UpdatedAtMS, &r.SyncedVia)
	if errors.Is(err, pgx.ErrNoRows) {
		return userRow{}, false
	}
	require.NoError(h.t, err)
	return r, true
}

// tombstoned reports whether user_tombstones holds id.
func (h *harness) tombstoned(id string) bool {
	h.t.Helper()
	var ok bool
	err := h.check.QueryRow(context.Background(),
		`SELECT EXISTS (SELECT 1 FROM user_tombstones WHERE clerk_id = $1)`, id).Scan(&ok)
	require.NoError(h.t, err)
	return ok
}

// eventRow is a webhook_events row.
type eventRow struct {
	SvixID      string
	EventType   string
	ClerkUserID *string
	Status      string
	Outcome     *string
	Error       *string
	Attempts    int
	HasPayload  bool
}

// event reads the webhook_events row of a svix id.
func (h *harness) event(svixID string) (eventRow, bool) {
	h.t.Helper()
	var r eventRow
	err := h.check.QueryRow(context.Background(), `
		SELECT svix_id, event_type, clerk_user_id, status, outcome, error,
		       attempts, payload IS NOT NULL
		FROM webhook_events WHERE svix_id = $1`, svixID).Scan(
		&r.SvixID, &r.EventType, &r.ClerkUserID, &r.Status, &r.Outcome,
		&r.Error, &r.Attempts, &r.HasPayload)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventRow{}, false
	}
	require.NoError(h.t, err)
	return r, true
}

// mustEvent is event, failing when the row is missing.
func (h *harness) mustEvent(svixID string) eventRow {
	h.t.Helper()
	r, ok := h.event(svixID)
	require.True(h.t, ok, "no webhook_events row for %s", svixID)
	return r
}

// count returns the number of rows of a table.
func (h *harness) count(table string) int {
	h.t.Helper()
	var n int
	err := h.check.QueryRow(context.Background(),
		"SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n)
	require.NoError(h.t, err)
	return n
}

// requireNothingStored asserts that no table holds a row.
func (h *harness) requireNothingStored() {
	h.t.Helper()
	require.Zero(h.t, h.count("webhook_events"), "webhook_events rows")
	require.Zero(h.t, h.count("users"), "users rows")
	require.Zero(h.t, h.count("user_tombstones"), "user_tombstones rows")
}

// example returns Clerk's published example for an event type.
func example(t testing.TB, eventType string) []byte {
	t.Helper()
	b, err := webhook.Example(eventType)
	require.NoError(t, err)
	return b
}

// userEvent builds a user.created or user.updated body from Clerk's
// example with the given id, version (updated_at, ms), first name and
// primary email.
func userEvent(t testing.TB, eventType, id string, updatedAt int64, first, email string) []byte {
	t.Helper()
	b, err := webhook.Customize(example(t, eventType), webhook.Overrides{
		UserID: id, UpdatedAt: updatedAt, FirstName: first, Email: email,
	})
	require.NoError(t, err)
	return b
}

// deletedEvent builds a user.deleted body for id.
func deletedEvent(t testing.TB, id string) []byte {
	t.Helper()
	b, err := webhook.Customize(example(t, "user.deleted"), webhook.Overrides{UserID: id})
	require.NoError(t, err)
	return b
}

// editEvent decodes body, lets edit change it, and re-encodes it.
func editEvent(t testing.TB, body []byte, edit func(ev, data map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	require.NoError(t, json.Unmarshal(body, &ev))
	data, _ := ev["data"].(map[string]any)
	edit(ev, data)
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	return out
}

func str(s string) *string { return &s }

// deref returns *p, or "<nil>".
func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}
