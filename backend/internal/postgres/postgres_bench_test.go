package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/pgtest"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// benchSnap is a snapshot shaped like a real user's.
func benchSnap(id string, version int64) user.Snapshot {
	email := id + "@example.com"
	first, last, img := "Ada", "Lovelace", "https://img.clerk.com/x"
	return user.Snapshot{
		ClerkID:        id,
		Email:          &email,
		EmailVerified:  true,
		FirstName:      &first,
		LastName:       &last,
		ImageURL:       &img,
		PublicMetadata: []byte(`{"plan":"pro"}`),
		CreatedAt:      time.UnixMilli(1_700_000_000_000),
		UpdatedAt:      time.UnixMilli(1_700_000_000_000 + version),
	}
}

// BenchmarkApplySnapshot measures the sync core's write against a real
// PostgreSQL (pgtest's database): a new user, a newer version of a known
// user, a stale version (nothing written), the same inside a transaction
// as the webhook handler runs it, and new users from parallel callers.
func BenchmarkApplySnapshot(b *testing.B) {
	ctx := context.Background()
	db := pgtest.NewDB(b)
	var seq atomic.Int64
	newID := func() string { return fmt.Sprintf("user_bench_%09d", seq.Add(1)) }

	b.Run("insert", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := db.ApplySnapshot(ctx, benchSnap(newID(), 1), user.SourceWebhook)
			if err != nil || out != user.OutcomeCreated {
				b.Fatal(out, err)
			}
		}
	})

	b.Run("update_newer", func(b *testing.B) {
		id := newID()
		if _, err := db.ApplySnapshot(ctx, benchSnap(id, 1), user.SourceWebhook); err != nil {
			b.Fatal(err)
		}
		v := int64(1)
		b.ReportAllocs()
		for b.Loop() {
			v++
			out, err := db.ApplySnapshot(ctx, benchSnap(id, v), user.SourceWebhook)
			if err != nil || out != user.OutcomeUpdated {
				b.Fatal(out, err)
			}
		}
	})

	b.Run("unchanged_stale", func(b *testing.B) {
		id := newID()
		if _, err := db.ApplySnapshot(ctx, benchSnap(id, 5), user.SourceWebhook); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			out, err := db.ApplySnapshot(ctx, benchSnap(id, 5), user.SourceWebhook)
			if err != nil || out != user.OutcomeUnchanged {
				b.Fatal(out, err)
			}
		}
	})

	b.Run("insert_in_tx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			err := db.InTx(ctx, func(tx pgx.Tx) error {
				_, err := postgres.ApplySnapshot(ctx, tx, benchSnap(newID(), 1), user.SourceWebhook)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("insert_parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8) // 8 callers per CPU, sharing the pool
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.ApplySnapshot(ctx, benchSnap(newID(), 1), user.SourceWebhook); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkGetUser measures the read of a stored user that every warm
// authenticated request makes.
func BenchmarkGetUser(b *testing.B) {
	ctx := context.Background()
	db := pgtest.NewDB(b)
	if _, err := db.ApplySnapshot(ctx, benchSnap("user_bench_read", 1), user.SourceWebhook); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.GetUser(ctx, "user_bench_read"); err != nil {
			b.Fatal(err)
		}
	}
}
