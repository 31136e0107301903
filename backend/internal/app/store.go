package app

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/gdpr"
	"github.com/clerksync/clerksync/backend/internal/onboarding"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// requestStore is the database as the request path uses it: deletions
// erase, and a snapshot that changed the row re-evaluates onboarding in
// the same transaction.
type requestStore struct {
	gdpr.Store
	onboarding *onboarding.Service
}

// ApplySnapshot applies s and, when it wrote, updates onboarding.
func (s requestStore) ApplySnapshot(ctx context.Context, snap user.Snapshot, via user.Source) (user.Outcome, error) {
	var out user.Outcome
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = postgres.ApplySnapshot(ctx, tx, snap, via)
		if err != nil || !out.Wrote() {
			return err
		}
		return s.onboarding.Apply(ctx, tx, snap)
	})
	return out, err
}
