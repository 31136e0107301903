package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/clerksync/clerksync/backend/internal/postgres"
)

// PurgePayloadsArgs asks to clear webhook payloads past retention.
type PurgePayloadsArgs struct{}

// Kind names the job in River's tables.
func (PurgePayloadsArgs) Kind() string { return "purge_webhook_payloads" }

// InsertOpts keeps one purge queued at a time.
func (PurgePayloadsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// PurgeWorker clears stored webhook bodies older than Retention, in
// batches so that no transaction grows large.
type PurgeWorker struct {
	river.WorkerDefaults[PurgePayloadsArgs]
	DB        *postgres.DB
	Retention time.Duration
	Logger    *slog.Logger
}

// Work purges until nothing old is left.
func (w *PurgeWorker) Work(ctx context.Context, _ *river.Job[PurgePayloadsArgs]) error {
	before := time.Now().Add(-w.Retention)
	var total int64
	for {
		n, err := w.DB.PurgePayloads(ctx, before, 1000)
		if err != nil {
			return err
		}
		total += n
		if n < 1000 {
			break
		}
	}
	if total > 0 {
		w.Logger.InfoContext(ctx, "jobs: webhook payloads purged", "count", total)
	}
	return nil
}
