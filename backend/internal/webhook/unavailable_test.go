package webhook_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/pgtest"
)

// TestDatabaseUnavailable: while the database refuses connections, a
// delivery gets 503 database_unavailable (Svix retries) and leaves nothing
// behind; once it is back, the same message applies.
func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()

	admin, err := pgx.Connect(ctx, pgtest.ServerURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(context.Background()) })
	dbName := pgx.Identifier{h.DBName}.Sanitize()
	setConnections := func(allow bool) {
		t.Helper()
		_, err := admin.Exec(ctx, "ALTER DATABASE "+dbName+" ALLOW_CONNECTIONS "+map[bool]string{true: "true", false: "false"}[allow])
		require.NoError(t, err)
	}
	t.Cleanup(func() { setConnections(true) }) // so that pgtest can drop it

	// Warm the app's pool so that it holds connections to kill.
	id := newUserID()
	status, resp, _ := h.send(userEvent(t, "user.created", id, 1_000, "Before", ""))
	requireAccepted(t, status, resp, "applied")

	setConnections(false)
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, h.DBName)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, h.DBName).Scan(&n)
		return err == nil && n == 0
	}, 5*time.Second, 10*time.Millisecond)

	body := userEvent(t, "user.updated", id, 2_000, "After", "after@example.com")
	msgID := newMsgID()
	// Twice: once on a pooled connection that was killed, once (after the
	// pool's idle check) on a connection attempt that is refused.
	for _, wait := range []time.Duration{0, 1100 * time.Millisecond} {
		time.Sleep(wait)
		status, resp = h.sendAs(msgID, body)
		requireError(t, status, resp, http.StatusServiceUnavailable, "database_unavailable")
	}
	status, resp = h.get("/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, status, "%s", resp)

	setConnections(true)
	h.check.Reset() // its connections were killed too

	// Nothing half-written: no record, the row as before.
	_, ok := h.event(msgID)
	require.False(t, ok, "a 503 must not leave a record")
	row, ok := h.user(id)
	require.True(t, ok)
	require.Equal(t, "Before", deref(row.FirstName))

	// Svix retries the same message id, re-signed.
	status, resp = h.sendAs(msgID, body)
	requireAccepted(t, status, resp, "applied")
	ev := h.mustEvent(msgID)
	require.Equal(t, 1, ev.Attempts)
	require.Equal(t, "updated", deref(ev.Outcome))
	row, _ = h.user(id)
	require.Equal(t, "After", deref(row.FirstName))
	require.Equal(t, "after@example.com", deref(row.Email))
}
