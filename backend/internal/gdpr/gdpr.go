// Package gdpr erases a user's personal data and exports what is stored
// about a user. Erasure is the sync core's deletion plus everything that
// hangs off the user; every path that learns of a deletion goes through
// it.
package gdpr

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/jobs"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// Eraser erases users.
type Eraser struct {
	DB     *postgres.DB
	Jobs   *jobs.Client
	Logger *slog.Logger
}

// EraseTx erases the user in tx: the row and what belongs to it, webhook
// payloads, pending jobs, analytics identity; then records the erasure
// once. Retrying it changes nothing.
func (e *Eraser) EraseTx(ctx context.Context, tx pgx.Tx, clerkID string, via user.Source) (user.Outcome, error) {
	res, err := postgres.EraseUser(ctx, tx, clerkID, via)
	if err != nil {
		return "", err
	}
	cancelled, err := jobs.CancelUserJobs(ctx, e.Jobs, tx, clerkID)
	if err != nil {
		return "", err
	}
	if cancelled > 0 {
		res.RowCounts["river_job"] = int64(cancelled)
	}
	if err := postgres.RecordErasure(ctx, tx, clerkID, via, res.RowCounts); err != nil {
		return "", err
	}
	if res.Outcome == user.OutcomeDeleted {
		e.Logger.InfoContext(ctx, "gdpr: user erased", "user_id", clerkID,
			"via", string(via), "row_counts", res.RowCounts)
	}
	return res.Outcome, nil
}

// Erase runs EraseTx in a transaction of its own.
func (e *Eraser) Erase(ctx context.Context, clerkID string, via user.Source) (user.Outcome, error) {
	var out user.Outcome
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = e.EraseTx(ctx, tx, clerkID, via)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("erase user: %w", err)
	}
	return out, nil
}

// Store is the database as the request path sees it, with deletions
// going through the erasure.
type Store struct {
	*postgres.DB
	Eraser *Eraser
}

// ApplyDeletion erases the user.
func (s Store) ApplyDeletion(ctx context.Context, clerkID string, via user.Source) (user.Outcome, error) {
	return s.Eraser.Erase(ctx, clerkID, via)
}
