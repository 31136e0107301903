package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/pgtest"
)

func TestRetentionPurges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)

	// 1,500 events a year and a half old, 1,500 forty days old, 10 new.
	for _, age := range []struct {
		n    int
		days int
	}{{1500, 540}, {1500, 40}, {10, 0}} {
		_, err := db.Pool.Exec(ctx, `INSERT INTO webhook_events
			(svix_id, event_type, status, payload, received_at)
			SELECT 'msg_' || $1::int || '_' || g, 'user.updated', 'applied', '{"a":1}',
			       now() - make_interval(days => $1::int)
			FROM generate_series(1, $2) g`, age.days, age.n)
		require.NoError(t, err)
	}

	count := func(where string) int {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM webhook_events WHERE "+where).Scan(&n))
		return n
	}

	before := time.Now().Add(-30 * 24 * time.Hour)
	var cleared int64
	for {
		n, err := db.PurgePayloads(ctx, before, 1000)
		require.NoError(t, err)
		cleared += n
		if n < 1000 {
			break
		}
	}
	require.Equal(t, int64(3000), cleared)
	require.Equal(t, 10, count("payload IS NOT NULL"))

	n, err := db.PurgeRecords(ctx, time.Now().Add(-365*24*time.Hour), 1000)
	require.NoError(t, err)
	require.Equal(t, int64(1000), n, "one batch at a time")
	n, err = db.PurgeRecords(ctx, time.Now().Add(-365*24*time.Hour), 1000)
	require.NoError(t, err)
	require.Equal(t, int64(500), n)
	require.Equal(t, 1510, count("true"), "the forty-day-old and new records stay")
}
