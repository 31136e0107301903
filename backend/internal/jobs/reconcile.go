package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// ReconcileArgs asks for a periodic reconcile report.
type ReconcileArgs struct{}

// Kind names the job in River's tables.
func (ReconcileArgs) Kind() string { return "reconcile" }

// InsertOpts keeps at most one reconcile queued.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// ReconcileWorker runs the reconcile function it is given (a report
// without fixes), so that this package needs no Clerk client.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	Run func(ctx context.Context) error
}

// Timeout allows a long walk over Clerk's users.
func (w *ReconcileWorker) Timeout(*river.Job[ReconcileArgs]) time.Duration { return time.Hour }

// Work runs the reconcile.
func (w *ReconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	return w.Run(ctx)
}
