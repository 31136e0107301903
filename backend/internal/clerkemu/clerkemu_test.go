package clerkemu_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"github.com/clerk/clerk-sdk-go/v2/jwt"
	"github.com/clerk/clerk-sdk-go/v2/user"
	"github.com/stretchr/testify/require"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
)

const testKey = "sk_test_clerkemu"

// env is an emulator served over real HTTP with SDK clients on it.
type env struct {
	emu   *clerkemu.Server
	url   string
	users *user.Client
	jwks  *jwks.Client
}

// newEnv starts an emulator with opts (SecretKey filled in).
func newEnv(t *testing.T, opts clerkemu.Options) *env {
	t.Helper()

	opts.SecretKey = testKey
	emu, err := clerkemu.New(opts)
	require.NoError(t, err)

	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(func() {
		srv.Close()
		emu.Close()
	})

	return &env{
		emu:   emu,
		url:   srv.URL,
		users: user.NewClient(sdkConfig(srv.URL, testKey)),
		jwks:  jwks.NewClient(sdkConfig(srv.URL, testKey)),
	}
}

// sdkConfig points the real SDK at url.
func sdkConfig(url, key string) *clerk.ClientConfig {
	return &clerk.ClientConfig{
		BackendConfig: clerk.BackendConfig{URL: &url, Key: &key},
	}
}

// apiError asserts err is a Clerk API error with the given status.
func apiError(t *testing.T, err error, status int) *clerk.APIErrorResponse {
	t.Helper()

	var apiErr *clerk.APIErrorResponse
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, status, apiErr.HTTPStatusCode)
	require.NotEmpty(t, apiErr.Errors)
	return apiErr
}

func TestGetUserMatchesSDKShape(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	created := e.emu.CreateUser(clerkemu.UserParams{
		Email:     clerk.String("ada@example.com"),
		FirstName: clerk.String("Ada"),
		LastName:  clerk.String("Lovelace"),
		Username:  clerk.String("ada"),
	})

	got, err := e.users.Get(context.Background(), created.ID)
	require.NoError(t, err)

	require.True(t, strings.HasPrefix(got.ID, "user_"))
	require.Len(t, got.ID, len("user_")+27)
	require.Equal(t, "Ada", *got.FirstName)
	require.Equal(t, "Lovelace", *got.LastName)
	require.Equal(t, "ada", *got.Username)
	require.JSONEq(t, `{}`, string(got.PublicMetadata))
	require.Equal(t, got.CreatedAt, got.UpdatedAt)
	require.InDelta(t, time.Now().UnixMilli(), got.CreatedAt, 5000)

	require.Len(t, got.EmailAddresses, 1)
	email := got.EmailAddresses[0]
	require.True(t, strings.HasPrefix(email.ID, "idn_"))
	require.Equal(t, "ada@example.com", email.EmailAddress)
	require.Equal(t, email.ID, *got.PrimaryEmailAddressID)
	require.Equal(t, "verified", email.Verification.Status)
	require.Equal(t, "email_code", email.Verification.Strategy)
}

func TestGetUnknownUserIs404(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})

	_, err := e.users.Get(context.Background(), "user_missing")

	apiErr := apiError(t, err, http.StatusNotFound)
	require.Equal(t, "resource_not_found", apiErr.Errors[0].Code)
}

func TestListPagesAndCount(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	want := map[string]bool{}
	for range 25 {
		want[e.emu.CreateUser(clerkemu.UserParams{}).ID] = true
	}

	ctx := context.Background()
	var seen []*clerk.User
	for page, size := range []int{10, 10, 5} {
		list, err := e.users.List(ctx, &user.ListParams{
			ListParams: clerk.ListParams{
				Limit:  clerk.Int64(10),
				Offset: clerk.Int64(int64(page * 10)),
			},
		})
		require.NoError(t, err)
		require.Len(t, list.Users, size, "page %d", page)
		require.EqualValues(t, 25, list.TotalCount)
		seen = append(seen, list.Users...)
	}

	got := map[string]bool{}
	for i, u := range seen {
		got[u.ID] = true
		if i > 0 {
			prev := seen[i-1]
			require.True(t, prev.CreatedAt < u.CreatedAt ||
				prev.CreatedAt == u.CreatedAt && prev.ID < u.ID,
				"not ordered at %d", i)
		}
	}
	require.Equal(t, want, got)

	count, err := e.users.Count(ctx, &user.ListParams{})
	require.NoError(t, err)
	require.EqualValues(t, 25, count.TotalCount)
	require.Equal(t, "total_count", count.Object)
}

func TestListPastTheEndIsEmpty(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	e.emu.CreateUser(clerkemu.UserParams{})

	list, err := e.users.List(context.Background(), &user.ListParams{
		ListParams: clerk.ListParams{Offset: clerk.Int64(5)},
	})

	require.NoError(t, err)
	require.Empty(t, list.Users)
	require.EqualValues(t, 1, list.TotalCount)
}

func TestListRejectsLimitOver500(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})

	_, err := e.users.List(context.Background(), &user.ListParams{
		ListParams: clerk.ListParams{Limit: clerk.Int64(501)},
	})

	apiError(t, err, http.StatusUnprocessableEntity)
}

func TestListDefaultLimitIs10(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	for range 12 {
		e.emu.CreateUser(clerkemu.UserParams{})
	}

	list, err := e.users.List(context.Background(), &user.ListParams{})

	require.NoError(t, err)
	require.Len(t, list.Users, 10)
}

func TestCreateUpdateDeleteViaSDK(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	ctx := context.Background()

	created, err := e.users.Create(ctx, &user.CreateParams{
		EmailAddresses: &[]string{"grace@example.com", "g@example.com"},
		FirstName:      clerk.String("Grace"),
		ExternalID:     clerk.String("ext-1"),
		PublicMetadata: clerk.JSONRawMessage(json.RawMessage(`{"a":1}`)),
	})
	require.NoError(t, err)
	require.Equal(t, "Grace", *created.FirstName)
	require.Equal(t, "ext-1", *created.ExternalID)
	require.JSONEq(t, `{"a":1}`, string(created.PublicMetadata))
	require.Len(t, created.EmailAddresses, 2)
	require.Equal(t, created.EmailAddresses[0].ID,
		*created.PrimaryEmailAddressID)

	updated, err := e.users.Update(ctx, created.ID, &user.UpdateParams{
		LastName: clerk.String("Hopper"),
	})
	require.NoError(t, err)
	require.Equal(t, "Grace", *updated.FirstName)
	require.Equal(t, "Hopper", *updated.LastName)
	require.Greater(t, updated.UpdatedAt, created.UpdatedAt)

	stored, ok := e.emu.User(created.ID)
	require.True(t, ok)
	require.Equal(t, "Hopper", *stored.LastName)

	deleted, err := e.users.Delete(ctx, created.ID)
	require.NoError(t, err)
	require.True(t, deleted.Deleted)
	require.Equal(t, created.ID, deleted.ID)
	require.Equal(t, "user", deleted.Object)

	_, ok = e.emu.User(created.ID)
	require.False(t, ok)

	_, err = e.users.Delete(ctx, created.ID)
	apiError(t, err, http.StatusNotFound)
}

func TestUpdateRejectsUnknownPrimaryEmail(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	u := e.emu.CreateUser(clerkemu.UserParams{})

	_, err := e.users.Update(context.Background(), u.ID,
		&user.UpdateParams{PrimaryEmailAddressID: clerk.String("idn_x")})

	apiError(t, err, http.StatusUnprocessableEntity)
}

func TestBanAndUnban(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	u := e.emu.CreateUser(clerkemu.UserParams{})
	ctx := context.Background()

	banned, err := e.users.Ban(ctx, u.ID)
	require.NoError(t, err)
	require.True(t, banned.Banned)

	unbanned, err := e.users.Unban(ctx, u.ID)
	require.NoError(t, err)
	require.False(t, unbanned.Banned)
	require.Greater(t, unbanned.UpdatedAt, banned.UpdatedAt)
	require.Greater(t, banned.UpdatedAt, u.UpdatedAt)

	require.EqualValues(t, 1, e.emu.Requests("ban_user"))
	require.EqualValues(t, 1, e.emu.Requests("unban_user"))
}

func TestFailNext429ExposesRetryAfter(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	u := e.emu.CreateUser(clerkemu.UserParams{})
	ctx := context.Background()
	e.emu.FailNext("get_user", http.StatusTooManyRequests, 1,
		1500*time.Millisecond)

	_, err := e.users.Get(ctx, u.ID)
	apiErr := apiError(t, err, http.StatusTooManyRequests)
	require.Equal(t, "2", apiErr.Response.Header.Get("Retry-After"))

	_, err = e.users.Get(ctx, u.ID)
	require.NoError(t, err)
	require.EqualValues(t, 2, e.emu.Requests("get_user"))
}

func TestFailNextCountsDown(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	ctx := context.Background()
	e.emu.FailNext("list_users", http.StatusBadGateway, 2, 0)

	for range 2 {
		_, err := e.users.List(ctx, &user.ListParams{})
		apiErr := apiError(t, err, http.StatusBadGateway)
		require.Empty(t, apiErr.Response.Header.Get("Retry-After"))
	}

	_, err := e.users.List(ctx, &user.ListParams{})
	require.NoError(t, err)
}

func TestBearerRequired(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	u := e.emu.CreateUser(clerkemu.UserParams{})

	wrong := user.NewClient(sdkConfig(e.url, "sk_test_wrong"))
	_, err := wrong.Get(context.Background(), u.ID)
	apiError(t, err, http.StatusUnauthorized)

	resp, err := http.Get(e.url + "/jwks")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	requireClerkError(t, resp.Body)
}

func TestV1PrefixIsServed(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	u := e.emu.CreateUser(clerkemu.UserParams{})
	users := user.NewClient(sdkConfig(e.url+"/v1", testKey))

	got, err := users.Get(context.Background(), u.ID)

	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
}

func TestUnknownPathIs404JSON(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})

	resp, err := http.Get(e.url + "/nope")
	require.NoError(t, err)
	defer resp.Body.Close()

	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	requireClerkError(t, resp.Body)
}

func TestLargeBodyIs413(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	body := `{"first_name":"` + strings.Repeat("x", 2<<20) + `"}`

	req, err := http.NewRequest(http.MethodPost, e.url+"/users",
		strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)

	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Empty(t, e.emu.Users())
}

// requireClerkError asserts body is a Clerk {"errors":[...]} document.
func requireClerkError(t *testing.T, body io.Reader) {
	t.Helper()

	var doc struct {
		Errors []clerk.Error `json:"errors"`
	}
	require.NoError(t, json.NewDecoder(body).Decode(&doc))
	require.NotEmpty(t, doc.Errors)
	require.NotEmpty(t, doc.Errors[0].Code)
}

func TestUpdatedAtStrictlyIncreases(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	u := e.emu.CreateUser(clerkemu.UserParams{})
	last := u.UpdatedAt

	for i := range 200 {
		name := clerk.String(strings.Repeat("n", i%5+1))
		got, err := e.emu.UpdateUser(u.ID,
			clerkemu.UserParams{FirstName: name})
		require.NoError(t, err)
		require.Greater(t, got.UpdatedAt, last, "update %d", i)
		last = got.UpdatedAt
	}
}

func TestExtraEmailsPutPrimaryLast(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	u := e.emu.CreateUser(clerkemu.UserParams{
		Email:       clerk.String("main@example.com"),
		ExtraEmails: []string{"old@example.com", "work@example.com"},
	})

	got, err := e.users.Get(context.Background(), u.ID)
	require.NoError(t, err)

	require.Len(t, got.EmailAddresses, 3)
	require.NotEqual(t, got.EmailAddresses[0].ID,
		*got.PrimaryEmailAddressID)
	require.Equal(t, "main@example.com", got.EmailAddresses[2].EmailAddress)
	require.Equal(t, got.EmailAddresses[2].ID, *got.PrimaryEmailAddressID)
}

func TestNoEmailUser(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	u := e.emu.CreateUser(clerkemu.UserParams{NoEmail: true})

	got, err := e.users.Get(context.Background(), u.ID)

	require.NoError(t, err)
	require.Empty(t, got.EmailAddresses)
	require.Nil(t, got.PrimaryEmailAddressID)
}

func TestPutAndRemoveUserAreSilent(t *testing.T) {
	rec := newReceiver(t, "")
	e := newEnv(t, webhookOpts(rec, nil))
	u := &clerk.User{ID: "user_fixed", Object: "user", UpdatedAt: 7}

	e.emu.PutUser(u)
	got, ok := e.emu.User("user_fixed")
	require.True(t, ok)
	require.EqualValues(t, 7, got.UpdatedAt)

	e.emu.RemoveUser("user_fixed")
	_, ok = e.emu.User("user_fixed")
	require.False(t, ok)

	e.emu.Close()
	require.Empty(t, e.emu.Deliveries())
}

func TestMintedTokenVerifiesWithSDK(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	ctx := context.Background()
	token, err := e.emu.MintToken("user_123", clerkemu.TokenOptions{
		AuthorizedParty: "http://localhost:3000",
	})
	require.NoError(t, err)

	claims, err := jwt.Verify(ctx, &jwt.VerifyParams{
		Token: token,
		JWK:   currentJWK(t, e),
		AuthorizedPartyHandler: func(azp string) bool {
			return azp == "http://localhost:3000"
		},
	})
	require.NoError(t, err)

	require.Equal(t, "user_123", claims.Subject)
	require.Equal(t, clerkemu.DefaultIssuer, claims.Issuer)
	require.True(t, strings.HasPrefix(claims.SessionID, "sess_"))
	require.EqualValues(t, *claims.IssuedAt+60, *claims.Expiry)

	decoded, err := jwt.Decode(ctx, &jwt.DecodeParams{Token: token})
	require.NoError(t, err)
	require.Equal(t, e.emu.KeyID(), decoded.KeyID)
	// The SDK reports Version 1 for v2 tokens without an organization,
	// so check the raw claim.
	require.EqualValues(t, 2, decoded.Extra["v"])
	require.True(t, strings.HasPrefix(decoded.KeyID, "ins_dev_"))
}

func TestJWKSFetchedBySDKVerify(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	token, err := e.emu.MintToken("user_1", clerkemu.TokenOptions{})
	require.NoError(t, err)

	claims, err := jwt.Verify(context.Background(), &jwt.VerifyParams{
		Token:      token,
		JWKSClient: e.jwks,
	})

	require.NoError(t, err)
	require.Equal(t, "user_1", claims.Subject)
	require.Empty(t, claims.AuthorizedParty)
	require.EqualValues(t, 1, e.emu.Requests("jwks"))
}

func TestExpiredTokenIsRejected(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	token, err := e.emu.MintToken("user_1", clerkemu.TokenOptions{
		IssuedAt: time.Now().Add(-time.Hour),
	})
	require.NoError(t, err)

	_, err = jwt.Verify(context.Background(), &jwt.VerifyParams{
		Token: token,
		JWK:   currentJWK(t, e),
	})

	require.Error(t, err)
}

func TestForeignKeyTokenIsRejected(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := time.Now()
	token, err := e.emu.SignWith(map[string]any{
		"sub": "user_1",
		"iss": clerkemu.DefaultIssuer,
		"iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(),
	}, e.emu.KeyID(), other)
	require.NoError(t, err)

	_, err = jwt.Verify(context.Background(), &jwt.VerifyParams{
		Token: token,
		JWK:   currentJWK(t, e),
	})

	require.Error(t, err)
}

func TestRotateKeyPublishesOnlyNewKey(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	ctx := context.Background()
	oldToken, err := e.emu.MintToken("user_1", clerkemu.TokenOptions{})
	require.NoError(t, err)
	oldKid := e.emu.KeyID()

	e.emu.RotateKey()

	set, err := e.jwks.Get(ctx, &jwks.GetParams{})
	require.NoError(t, err)
	require.Len(t, set.Keys, 1)
	require.NotEqual(t, oldKid, set.Keys[0].KeyID)
	require.Equal(t, e.emu.KeyID(), set.Keys[0].KeyID)

	_, err = jwt.Verify(ctx, &jwt.VerifyParams{
		Token: oldToken, JWKSClient: e.jwks,
	})
	require.Error(t, err)

	newToken, err := e.emu.MintToken("user_1", clerkemu.TokenOptions{})
	require.NoError(t, err)
	_, err = jwt.Verify(ctx, &jwt.VerifyParams{
		Token: newToken, JWKSClient: e.jwks,
	})
	require.NoError(t, err)
}

// currentJWK fetches the JWKS through the SDK and returns its key.
func currentJWK(t *testing.T, e *env) *clerk.JSONWebKey {
	t.Helper()

	set, err := e.jwks.Get(context.Background(), &jwks.GetParams{})
	require.NoError(t, err)
	require.Len(t, set.Keys, 1)

	k := set.Keys[0]
	require.Equal(t, "RS256", k.Algorithm)
	require.Equal(t, "sig", k.Use)
	require.IsType(t, &rsa.PublicKey{}, k.Key)
	return k
}

func TestDevTokensCreateUserWithoutBearer(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	body := `{"azp":"http://localhost:5173","ttl_seconds":120}`

	resp, err := http.Post(e.url+"/dev/tokens", "application/json",
		strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var out struct {
		Token     string `json:"token"`
		UserID    string `json:"user_id"`
		ExpiresAt int64  `json:"expires_at"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.InDelta(t, time.Now().Add(2*time.Minute).Unix(),
		out.ExpiresAt, 5)

	u, ok := e.emu.User(out.UserID)
	require.True(t, ok)
	require.Contains(t, u.EmailAddresses[0].EmailAddress, "@example.com")
	require.NotNil(t, u.FirstName)

	claims, err := jwt.Verify(context.Background(), &jwt.VerifyParams{
		Token: out.Token, JWK: currentJWK(t, e),
	})
	require.NoError(t, err)
	require.Equal(t, out.UserID, claims.Subject)
	require.Equal(t, "http://localhost:5173", claims.AuthorizedParty)
	require.EqualValues(t, 1, e.emu.Requests("mint_token"))
}

func TestDevTokensUnknownUserIs404(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})

	resp, err := http.Post(e.url+"/dev/tokens", "application/json",
		strings.NewReader(`{"user_id":"user_nope"}`))
	require.NoError(t, err)
	defer resp.Body.Close()

	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Empty(t, e.emu.Users())
}

func TestCountsAndReset(t *testing.T) {
	e := newEnv(t, clerkemu.Options{})
	ctx := context.Background()

	_, err := e.users.List(ctx, &user.ListParams{})
	require.NoError(t, err)
	require.EqualValues(t, 1, e.emu.Requests("list_users"))
	require.EqualValues(t, 1, e.emu.Requests("count_users"))
	require.EqualValues(t, 2, e.emu.Total())

	resp, err := http.Get(e.url + "/dev/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	var stats struct {
		Requests map[string]int64 `json:"requests"`
		Total    int64            `json:"total"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&stats))
	require.EqualValues(t, 1, stats.Requests["list_users"])
	require.EqualValues(t, 2, stats.Total)

	e.emu.ResetCounts()
	require.Zero(t, e.emu.Total())
}

// receiver is a webhook endpoint that verifies Svix signatures.
type receiver struct {
	t      *testing.T
	secret string
	hook   *svix.Webhook
	srv    *httptest.Server

	mu       sync.Mutex
	failures int
	got      []received
}

// received is one delivery the receiver accepted as authentic.
type received struct {
	svixID string
	status int
	event  map[string]any
}

// newReceiver starts a receiver; secret "" means a random one.
func newReceiver(t *testing.T, secret string) *receiver {
	t.Helper()

	if secret == "" {
		raw := make([]byte, 24)
		rand.Read(raw)
		secret = "whsec_" + base64.StdEncoding.EncodeToString(raw)
	}
	hook, err := svix.NewWebhook(secret)
	require.NoError(t, err)

	r := &receiver{t: t, secret: secret, hook: hook}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// failFirst makes the next n deliveries answer 500.
func (r *receiver) failFirst(n int) {
	r.mu.Lock()
	r.failures = n
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := r.hook.Verify(body, req.Header); err != nil {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}

	var ev map[string]any
	if json.Unmarshal(body, &ev) != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}

	r.mu.Lock()
	status := http.StatusNoContent
	if r.failures > 0 {
		r.failures--
		status = http.StatusInternalServerError
	}
	r.got = append(r.got, received{req.Header.Get("svix-id"), status, ev})
	r.mu.Unlock()

	w.WriteHeader(status)
}

// received returns a copy of the verified deliveries.
func (r *receiver) deliveries() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// waitFor waits until the receiver has seen n verified deliveries.
func (r *receiver) waitFor(n int) []received {
	r.t.Helper()

	require.Eventually(r.t, func() bool {
		return len(r.deliveries()) >= n
	}, 5*time.Second, 5*time.Millisecond)
	return r.deliveries()
}

// webhookOpts points an emulator at rec with the given schedule.
func webhookOpts(rec *receiver, schedule []time.Duration) clerkemu.Options {
	return clerkemu.Options{
		WebhookURL:    rec.srv.URL,
		WebhookSecret: rec.secret,
		RetrySchedule: schedule,
	}
}

func TestWebhooksAreSignedAndShaped(t *testing.T) {
	rec := newReceiver(t, "")
	e := newEnv(t, webhookOpts(rec, nil))

	u := e.emu.CreateUser(clerkemu.UserParams{})
	got := rec.waitFor(1)
	_, err := e.emu.UpdateUser(u.ID, clerkemu.UserParams{
		FirstName: clerk.String("New"),
	})
	require.NoError(t, err)
	got = rec.waitFor(2)
	require.NoError(t, e.emu.DeleteUser(u.ID))
	got = rec.waitFor(3)

	types := []string{}
	for _, d := range got {
		require.True(t, strings.HasPrefix(d.svixID, "msg_"))
		require.Equal(t, "event", d.event["object"])
		require.Equal(t, "ins_dev", d.event["instance_id"])
		types = append(types, d.event["type"].(string))
	}
	require.Equal(t, []string{"user.created", "user.updated",
		"user.deleted"}, types)

	created := got[0].event["data"].(map[string]any)
	require.Equal(t, u.ID, created["id"])
	updated := got[1].event["data"].(map[string]any)
	require.Equal(t, "New", updated["first_name"])
	deleted := got[2].event["data"].(map[string]any)
	require.Equal(t, map[string]any{
		"object": "user", "id": u.ID, "deleted": true,
	}, deleted)
}

func TestWebhookRejectedByWrongSecret(t *testing.T) {
	rec := newReceiver(t, "")
	opts := webhookOpts(rec, []time.Duration{})
	opts.WebhookSecret = "whsec_" +
		base64.StdEncoding.EncodeToString([]byte("some-other-secret"))
	e := newEnv(t, opts)

	e.emu.CreateUser(clerkemu.UserParams{})

	require.Eventually(t, func() bool {
		return len(e.emu.Deliveries()) == 1
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, http.StatusBadRequest, e.emu.Deliveries()[0].StatusCode)
	require.Empty(t, rec.deliveries())
}

func TestWebhookRetriesWithSameSvixID(t *testing.T) {
	rec := newReceiver(t, "")
	rec.failFirst(1)
	e := newEnv(t, webhookOpts(rec, []time.Duration{10 * time.Millisecond}))

	e.emu.Emit("session.created", map[string]any{"id": "sess_1"})
	got := rec.waitFor(2)

	require.Equal(t, http.StatusInternalServerError, got[0].status)
	require.Equal(t, http.StatusNoContent, got[1].status)
	require.Equal(t, got[0].svixID, got[1].svixID)
	require.Equal(t, "session.created", got[1].event["type"])

	require.Eventually(t, func() bool {
		return len(e.emu.Deliveries()) == 2
	}, 5*time.Second, 5*time.Millisecond)
	ds := e.emu.Deliveries()
	require.Equal(t, 1, ds[0].Attempt)
	require.Equal(t, 2, ds[1].Attempt)
	require.Equal(t, ds[0].SvixID, ds[1].SvixID)
	require.Equal(t, http.StatusNoContent, ds[1].StatusCode)
}

func TestWebhookGivesUpAfterSchedule(t *testing.T) {
	rec := newReceiver(t, "")
	rec.failFirst(100)
	sched := []time.Duration{time.Millisecond, time.Millisecond}
	e := newEnv(t, webhookOpts(rec, sched))

	e.emu.Emit("user.updated", map[string]any{"id": "user_1"})
	rec.waitFor(3)
	time.Sleep(50 * time.Millisecond)

	require.Len(t, rec.deliveries(), 3)
	require.Len(t, e.emu.Deliveries(), 3)
}

func TestWebhookTransportErrorIsRecorded(t *testing.T) {
	rec := newReceiver(t, "")
	opts := webhookOpts(rec, []time.Duration{})
	rec.srv.Close()
	e := newEnv(t, opts)

	e.emu.Emit("user.created", map[string]any{"id": "user_1"})

	require.Eventually(t, func() bool {
		return len(e.emu.Deliveries()) == 1
	}, 5*time.Second, 5*time.Millisecond)
	d := e.emu.Deliveries()[0]
	require.Zero(t, d.StatusCode)
	require.NotEmpty(t, d.Err)
}

func TestCloseCancelsPendingRetries(t *testing.T) {
	rec := newReceiver(t, "")
	rec.failFirst(100)
	e := newEnv(t, webhookOpts(rec, []time.Duration{time.Hour}))

	e.emu.Emit("user.created", map[string]any{"id": "user_1"})
	rec.waitFor(1)

	done := make(chan struct{})
	go func() {
		e.emu.Close()
		close(done)
	}()

	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not cancel the pending retry")
	}
	require.Len(t, e.emu.Deliveries(), 1)
}

func TestNewValidatesOptions(t *testing.T) {
	_, err := clerkemu.New(clerkemu.Options{})
	require.Error(t, err)

	_, err = clerkemu.New(clerkemu.Options{
		SecretKey:  testKey,
		WebhookURL: "http://127.0.0.1:1/hook",
	})
	require.Error(t, err)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	errc := make(chan error, 1)
	go func() {
		errc <- clerkemu.Run(ctx, "127.0.0.1:0",
			clerkemu.Options{SecretKey: testKey}, out)
	}()

	require.Eventually(t, func() bool {
		return strings.Contains(out.String(), "http://")
	}, 5*time.Second, 5*time.Millisecond)
	line := strings.TrimSpace(out.String())
	require.NotContains(t, line, "\n")
	base := line[strings.Index(line, "http://"):]

	set, err := jwks.NewClient(sdkConfig(base, testKey)).
		Get(context.Background(), &jwks.GetParams{})
	require.NoError(t, err)
	require.Len(t, set.Keys, 1)

	cancel()
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunFailsOnBadAddress(t *testing.T) {
	err := clerkemu.Run(context.Background(), "256.0.0.1:bad",
		clerkemu.Options{SecretKey: testKey}, io.Discard)

	require.Error(t, err)
	require.False(t, errors.Is(err, context.Canceled))
}
