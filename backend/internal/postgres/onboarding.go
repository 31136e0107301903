package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// StepDone is one completed onboarding step.
type StepDone struct {
	Step   string
	DoneAt time.Time
}

// OnboardingState is a user's onboarding as stored.
type OnboardingState struct {
	StartedAt   time.Time
	CompletedAt *time.Time
	Done        []StepDone
}

// ErrNoOnboarding means the user has no onboarding record yet.
var ErrNoOnboarding = errors.New("no onboarding record")

// UpdateOnboarding, in q's transaction, makes sure the user's onboarding
// record exists, marks steps done (keeping the first time) and undone,
// and completes the onboarding when every one of steps is done. It
// reports whether this call completed it.
func UpdateOnboarding(ctx context.Context, q Querier, clerkID string, done, undone, steps []string) (bool, error) {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO onboarding (clerk_user_id) VALUES ($1)
		ON CONFLICT (clerk_user_id) DO NOTHING`, clerkID)
	b.Queue(`INSERT INTO onboarding_steps (clerk_user_id, step)
		SELECT $1, unnest($2::text[]) ON CONFLICT (clerk_user_id, step) DO NOTHING`, clerkID, done)
	b.Queue(`DELETE FROM onboarding_steps WHERE clerk_user_id = $1 AND step = ANY($2)`, clerkID, undone)
	b.Queue(`UPDATE onboarding SET completed_at = now()
		WHERE clerk_user_id = $1 AND completed_at IS NULL
		  AND (SELECT count(*) FROM onboarding_steps
		       WHERE clerk_user_id = $1 AND step = ANY($2)) = cardinality($2::text[])`,
		clerkID, steps)

	var completed bool
	err := runBatch(ctx, q, b, func(br pgx.BatchResults) error {
		for range 3 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		tag, err := br.Exec()
		completed = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("update onboarding: %w", interpretError(err))
	}
	return completed, nil
}

// GetOnboarding returns the user's onboarding, or ErrNoOnboarding.
func (db *DB) GetOnboarding(ctx context.Context, clerkID string) (OnboardingState, error) {
	var s OnboardingState
	err := db.Pool.QueryRow(ctx, `SELECT started_at, completed_at FROM onboarding
		WHERE clerk_user_id = $1`, clerkID).Scan(&s.StartedAt, &s.CompletedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNoOnboarding
	}
	if err != nil {
		return s, fmt.Errorf("get onboarding: %w", interpretError(err))
	}

	rows, err := db.Pool.Query(ctx, `SELECT step, done_at FROM onboarding_steps
		WHERE clerk_user_id = $1`, clerkID)
	if err != nil {
		return s, fmt.Errorf("onboarding steps: %w", interpretError(err))
	}
	s.Done, err = pgx.CollectRows(rows, pgx.RowToStructByPos[StepDone])
	if err != nil {
		return s, fmt.Errorf("onboarding steps: %w", interpretError(err))
	}
	return s, nil
}
