package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// JobInfo is a job as operations see it: no arguments beyond the user id.
type JobInfo struct {
	ID          int64      `json:"id"`
	Kind        string     `json:"kind"`
	State       string     `json:"state"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	Errors      []JobError `json:"errors"`
	ClerkUserID string     `json:"clerk_user_id,omitempty"`
	ScheduledAt time.Time  `json:"scheduled_at"`
	FinalizedAt *time.Time `json:"finalized_at"`
}

// JobError is one failed attempt.
type JobError struct {
	At    time.Time `json:"at"`
	Error string    `json:"error"`
}

// ErrJobNotFound means no job has that id.
var ErrJobNotFound = errors.New("job not found")

// Admin lists and retries failed jobs.
type Admin struct {
	Client *Client
}

// FailedJobs returns discarded and retryable jobs, newest first.
func (a Admin) FailedJobs(ctx context.Context, limit int) ([]JobInfo, error) {
	res, err := a.Client.JobList(ctx, river.NewJobListParams().
		States(rivertype.JobStateDiscarded, rivertype.JobStateRetryable).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).
		First(limit))
	if err != nil {
		return nil, fmt.Errorf("list failed jobs: %w", err)
	}
	out := make([]JobInfo, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		out = append(out, info(j))
	}
	return out, nil
}

// Retry makes a job available to run again now.
func (a Admin) Retry(ctx context.Context, id int64) (JobInfo, error) {
	j, err := a.Client.JobRetry(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return JobInfo{}, ErrJobNotFound
	}
	if err != nil {
		return JobInfo{}, fmt.Errorf("retry job: %w", err)
	}
	return info(j), nil
}

func info(j *rivertype.JobRow) JobInfo {
	var args struct {
		ClerkUserID string `json:"clerk_user_id"`
	}
	json.Unmarshal(j.EncodedArgs, &args)
	ji := JobInfo{
		ID: j.ID, Kind: j.Kind, State: string(j.State), Attempt: j.Attempt,
		MaxAttempts: j.MaxAttempts, ClerkUserID: args.ClerkUserID,
		ScheduledAt: j.ScheduledAt, FinalizedAt: j.FinalizedAt, Errors: []JobError{},
	}
	for _, e := range j.Errors {
		ji.Errors = append(ji.Errors, JobError{At: e.At, Error: e.Error})
	}
	return ji
}
