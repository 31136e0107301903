package postgres_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/pgtest"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

func snapshot(id string, version int64, first string) user.Snapshot {
	email := first + "@example.com"
	return user.Snapshot{
		ClerkID:   id,
		Email:     &email,
		FirstName: &first,
		CreatedAt: time.UnixMilli(1_700_000_000_000),
		UpdatedAt: time.UnixMilli(1_700_000_000_000 + version),
	}
}

// rowVersion returns the row's xmin: it changes with every write, so an
// unchanged xmin proves from the database that nothing was written.
func rowVersion(t *testing.T, db *postgres.DB, id string) string {
	t.Helper()
	var xmin string
	err := db.Pool.QueryRow(context.Background(),
		`SELECT xmin::text FROM users WHERE clerk_id = $1`, id).Scan(&xmin)
	require.NoError(t, err)
	return xmin
}

func TestApplySnapshotVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)

	out, err := db.ApplySnapshot(ctx, snapshot("user_a", 10, "ann"), user.SourceRequest)
	require.NoError(t, err)
	require.Equal(t, user.OutcomeCreated, out)
	before := rowVersion(t, db, "user_a")

	for _, v := range []int64{10, 9, 1} {
		out, err = db.ApplySnapshot(ctx, snapshot("user_a", v, "old"), user.SourceWebhook)
		require.NoError(t, err)
		require.Equal(t, user.OutcomeUnchanged, out, "version %d", v)
	}
	require.Equal(t, before, rowVersion(t, db, "user_a"), "stale snapshot wrote")

	out, err = db.ApplySnapshot(ctx, snapshot("user_a", 11, "bea"), user.SourceWebhook)
	require.NoError(t, err)
	require.Equal(t, user.OutcomeUpdated, out)

	got, err := db.GetUser(ctx, "user_a")
	require.NoError(t, err)
	require.Equal(t, "bea", *got.FirstName)
	require.Equal(t, user.SourceWebhook, got.SyncedVia)
	require.JSONEq(t, `{}`, string(got.PublicMetadata))
}

func TestDeletionIsFinal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)

	_, err := db.ApplySnapshot(ctx, snapshot("user_d", 1, "dan"), user.SourceRequest)
	require.NoError(t, err)

	out, err := db.ApplyDeletion(ctx, "user_d", user.SourceWebhook)
	require.NoError(t, err)
	require.Equal(t, user.OutcomeDeleted, out)

	out, err = db.ApplyDeletion(ctx, "user_d", user.SourceWebhook)
	require.NoError(t, err)
	require.Equal(t, user.OutcomeAlreadyDeleted, out)

	out, err = db.ApplySnapshot(ctx, snapshot("user_d", 99, "zombie"), user.SourceBackfill)
	require.NoError(t, err)
	require.Equal(t, user.OutcomeTombstoned, out)

	_, err = db.GetUser(ctx, "user_d")
	require.ErrorIs(t, err, user.ErrDeleted)

	_, err = db.GetUser(ctx, "user_never")
	require.ErrorIs(t, err, user.ErrNotFound)
}

func TestApplySnapshotRejectsUnorderable(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)

	s := snapshot("user_x", 1, "x")
	s.UpdatedAt = time.Time{}
	_, err := db.ApplySnapshot(context.Background(), s, user.SourceWebhook)
	require.ErrorIs(t, err, user.ErrInvalidSnapshot)

	_, err = db.ApplyDeletion(context.Background(), "", user.SourceWebhook)
	require.ErrorIs(t, err, user.ErrInvalidSnapshot)
}

// Many writers with shuffled versions converge on the newest one.
func TestConcurrentWritersConverge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)

	versions := rand.Perm(50)
	var wg sync.WaitGroup
	errs := make(chan error, len(versions))
	for _, v := range versions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.ApplySnapshot(ctx,
				snapshot("user_c", int64(v)+1, "v"), user.SourceWebhook)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	got, err := db.GetUser(ctx, "user_c")
	require.NoError(t, err)
	require.Equal(t, time.UnixMilli(1_700_000_000_050).UTC(), got.ClerkUpdatedAt.UTC())
}

// A deletion racing with snapshots never leaves a row behind.
func TestDeletionRacingSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)

	for round := range 20 {
		id := "user_r" + string(rune('a'+round))
		var wg sync.WaitGroup
		for v := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.ApplySnapshot(ctx, snapshot(id, int64(v)+1, "r"), user.SourceRequest)
				require.NoError(t, err)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.ApplyDeletion(ctx, id, user.SourceWebhook)
			require.NoError(t, err)
		}()
		wg.Wait()

		_, err := db.GetUser(ctx, id)
		require.ErrorIs(t, err, user.ErrDeleted, "round %d", round)
	}
}
