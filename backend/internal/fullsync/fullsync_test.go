package fullsync_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/app"
	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/fullsync"
	"github.com/clerksync/clerksync/backend/internal/pgtest"
	"github.com/clerksync/clerksync/backend/internal/user"
)

type env struct {
	app *app.App
	emu *clerkemu.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	emu, err := clerkemu.New(clerkemu.Options{SecretKey: "sk_test_fullsync"})
	require.NoError(t, err)
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(emu.Close)

	getenv := func(k string) (string, bool) {
		v, ok := map[string]string{
			"DATABASE_URL":     pgtest.NewDatabase(t),
			"CLERK_SECRET_KEY": "sk_test_fullsync",
			"CLERK_API_URL":    srv.URL,
		}[k]
		return v, ok
	}
	cfg, err := config.LoadForCommand(getenv)
	require.NoError(t, err)
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(a.Close)
	return &env{app: a, emu: emu}
}

func (e *env) createUsers(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		email := fmt.Sprintf("u%d@example.com", i)
		ids[i] = e.emu.CreateUser(clerkemu.UserParams{Email: &email}).ID
	}
	return ids
}

func (e *env) backfill(ctx context.Context, o fullsync.BackfillOptions) (fullsync.Summary, error) {
	if o.PageSize == 0 {
		o.PageSize = 100
	}
	o.Logger = e.app.Logger()
	return fullsync.Backfill(ctx, e.app.DB, e.app.Clerk, 0, o)
}

func (e *env) localCount(t *testing.T) int {
	var n int
	require.NoError(t, e.app.DB.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM users`).Scan(&n))
	return n
}

func TestBackfillAppliesEveryUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.createUsers(250)
	ctx := context.Background()

	// One user is known already with the same version, one was deleted.
	known, _ := e.emu.User(ids[0])
	snap := mustSnapshot(t, e, known.ID)
	_, err := e.app.DB.ApplySnapshot(ctx, snap, user.SourceRequest)
	require.NoError(t, err)
	_, err = e.app.DB.ApplyDeletion(ctx, ids[1], user.SourceWebhook)
	require.NoError(t, err)

	dry, err := e.backfill(ctx, fullsync.BackfillOptions{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, fullsync.Summary{Created: 248, Unchanged: 1, Skipped: 1}, dry)
	require.Equal(t, 1, e.localCount(t), "a dry run writes nothing")

	sum, err := e.backfill(ctx, fullsync.BackfillOptions{})
	require.NoError(t, err)
	require.Equal(t, fullsync.Summary{Created: 248, Unchanged: 1, Skipped: 1}, sum)
	require.Equal(t, 249, e.localCount(t))
	_, err = e.app.DB.GetUser(ctx, ids[1])
	require.ErrorIs(t, err, user.ErrDeleted, "a tombstone is never resurrected")
}

func mustSnapshot(t *testing.T, e *env, id string) user.Snapshot {
	t.Helper()
	s, err := e.app.Clerk.GetUser(context.Background(), id)
	require.NoError(t, err)
	return s
}

func TestBackfillResumesAfterInterruption(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUsers(230)

	ctx, cancel := context.WithCancel(context.Background())
	_, err := e.backfill(ctx, fullsync.BackfillOptions{Progress: func(done, _ int) {
		if done >= 100 {
			cancel()
		}
	}})
	require.Error(t, err)
	require.Equal(t, 100, e.localCount(t))

	e.emu.ResetCounts()
	sum, err := e.backfill(context.Background(), fullsync.BackfillOptions{})
	require.NoError(t, err)
	require.True(t, sum.Resumed)
	require.Equal(t, 230, sum.Created, "the summary covers both runs")
	require.Equal(t, 230, e.localCount(t))
	require.Equal(t, int64(2), e.emu.Requests("list_users"), "pages 2 and 3 only")
}

func TestBackfillWaitsOutRateLimitsAndErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUsers(150)

	e.emu.FailNext("list_users", http.StatusTooManyRequests, 1, time.Second)
	start := time.Now()
	sum, err := e.backfill(context.Background(), fullsync.BackfillOptions{})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "Retry-After honoured")
	require.Equal(t, 150, sum.Created)

	e.emu.FailNext("list_users", http.StatusInternalServerError, 2, 0)
	sum, err = e.backfill(context.Background(), fullsync.BackfillOptions{Restart: true})
	require.NoError(t, err)
	require.Equal(t, 150, sum.Unchanged)
}

func TestBackfillKeepsNewerWebhookData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.createUsers(3)
	ctx := context.Background()

	// A webhook brought a newer version than Clerk's list will show.
	newer := mustSnapshot(t, e, ids[2])
	name := "FromWebhook"
	newer.FirstName = &name
	newer.UpdatedAt = newer.UpdatedAt.Add(time.Hour)
	_, err := e.app.DB.ApplySnapshot(ctx, newer, user.SourceWebhook)
	require.NoError(t, err)

	sum, err := e.backfill(ctx, fullsync.BackfillOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, sum.Unchanged)
	got, err := e.app.DB.GetUser(ctx, ids[2])
	require.NoError(t, err)
	require.Equal(t, "FromWebhook", *got.FirstName)
}

func TestReconcileFindsAndFixesEachDrift(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.createUsers(5)
	ctx := context.Background()
	_, err := e.backfill(ctx, fullsync.BackfillOptions{})
	require.NoError(t, err)

	missing := e.emu.CreateUser(clerkemu.UserParams{FirstName: ptr("New")}).ID
	_, err = e.emu.UpdateUser(ids[0], clerkemu.UserParams{FirstName: ptr("Changed")})
	require.NoError(t, err)
	e.emu.RemoveUser(ids[1])

	opts := fullsync.ReconcileOptions{PageSize: 2, Logger: e.app.Logger()}
	r, err := fullsync.Reconcile(ctx, e.app.DB, e.app.Eraser, e.app.Clerk, opts)
	require.NoError(t, err)
	require.True(t, r.Drift())
	require.Equal(t, []string{missing}, r.Missing)
	require.Equal(t, []string{ids[0]}, r.Stale)
	require.Equal(t, []string{ids[1]}, r.Gone)
	require.Equal(t, 5, e.localCount(t), "a report changes nothing")

	opts.Fix = true
	r, err = fullsync.Reconcile(ctx, e.app.DB, e.app.Eraser, e.app.Clerk, opts)
	require.NoError(t, err)
	require.True(t, r.Fixed)

	opts.Fix = false
	r, err = fullsync.Reconcile(ctx, e.app.DB, e.app.Eraser, e.app.Clerk, opts)
	require.NoError(t, err)
	require.False(t, r.Drift(), "%+v", r)
	got, err := e.app.DB.GetUser(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, "Changed", *got.FirstName)
	_, err = e.app.DB.GetUser(ctx, ids[1])
	require.ErrorIs(t, err, user.ErrDeleted)

	var runs int
	require.NoError(t, e.app.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM reconcile_runs`).Scan(&runs))
	require.Equal(t, 3, runs)
}

func ptr[T any](v T) *T { return &v }
