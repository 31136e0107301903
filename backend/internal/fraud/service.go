package fraud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/jobs"
	"github.com/clerksync/clerksync/backend/internal/metrics"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/user"
	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// Banner bans and unbans users in Clerk; *clerkapi.Client is one.
type Banner interface {
	SetBanned(ctx context.Context, clerkID string, banned bool) error
}

// Service records where users come from, evaluates them, and acts.
type Service struct {
	Config  Config
	DB      *postgres.DB
	Jobs    *jobs.Client
	Clerk   Banner
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// CheckArgs asks for one evaluation of a user.
type CheckArgs struct {
	ClerkUserID string `json:"clerk_user_id" river:"unique"`
}

// Kind names the job in River's tables.
func (CheckArgs) Kind() string { return "fraud_check" }

// InsertOpts coalesces checks of one user that are not yet running.
func (CheckArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// WebhookHook records the sign-up's or session's origin and queues a
// check, in the event's transaction.
func (s *Service) WebhookHook() webhook.AfterApply {
	return func(ctx context.Context, tx pgx.Tx, ev webhook.Event, rec postgres.WebhookRecord) error {
		if rec.Status == webhook.StatusFailed || rec.Status == webhook.StatusTombstoned ||
			rec.ClerkUserID == "" {
			return nil
		}

		var kind, domain string
		switch ev.Type {
		case webhook.TypeUserCreated:
			kind = "signup"
			if snap, err := ev.UserSnapshot(); err == nil {
				domain = EmailDomain(snap.Email)
			}
		case webhook.TypeSessionCreated:
			kind = "session"
		default:
			return nil
		}

		ipHash := s.Config.HashIP(ev.Attributes.HTTPRequest.ClientIP)
		err := postgres.RecordActivity(ctx, tx, rec.ClerkUserID, kind, ipHash, domain, "svix:"+rec.SvixID)
		if err != nil {
			return err
		}
		return jobs.Enqueue(ctx, s.Jobs, tx, CheckArgs{ClerkUserID: rec.ClerkUserID}, nil)
	}
}

// CheckWorker runs evaluations.
type CheckWorker struct {
	river.WorkerDefaults[CheckArgs]
	Service *Service
}

// Work evaluates the user; a failed ban is returned so that River retries.
func (w *CheckWorker) Work(ctx context.Context, job *river.Job[CheckArgs]) error {
	return w.Service.Evaluate(ctx, job.Args.ClerkUserID)
}

// Evaluate scores the user, stores the signals, flags the user at the
// threshold, and bans when FRAUD_ACTION=ban. Evaluating again gives the
// same result and bans at most once.
func (s *Service) Evaluate(ctx context.Context, clerkID string) error {
	u, err := s.DB.GetUser(ctx, clerkID)
	if errors.Is(err, user.ErrDeleted) || errors.Is(err, user.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	v, err := s.DB.Velocity(ctx, clerkID, s.Config.Window)
	if err != nil {
		return err
	}

	signals, score := s.Config.Evaluate(Facts{
		EmailDomain:   EmailDomain(u.Email),
		Names:         nonEmpty(u.FirstName, u.LastName, u.Username),
		SignupsFromIP: v.FromIP,
		SignupsDomain: v.SameDomain,
	})
	rules := make([]string, len(signals))
	for i, sig := range signals {
		s.Metrics.FraudSignals.WithLabelValues(sig.Rule).Inc()
		rules[i] = sig.Rule
	}
	s.Logger.InfoContext(ctx, "fraud: user evaluated", "user_id", clerkID,
		"score", score, "rules", rules, "threshold", s.Config.Threshold)

	var flag postgres.Flag
	var flagged bool
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		rows := make([]postgres.SignalRow, len(signals))
		for i, sig := range signals {
			rows[i] = postgres.SignalRow{Rule: sig.Rule, Score: sig.Score, Detail: sig.Detail}
		}
		if err := postgres.SaveSignals(ctx, tx, clerkID, rows); err != nil {
			return err
		}
		if score < s.Config.Threshold || s.Config.Action == ActionNone {
			return nil
		}
		var isNew bool
		flag, isNew, err = postgres.UpsertFlag(ctx, tx, clerkID, score, s.Config.Action)
		flagged = true
		if isNew {
			s.Metrics.FraudFlags.Inc()
			s.Logger.InfoContext(ctx, "fraud: user flagged", "user_id", clerkID, "score", score)
		}
		return err
	})
	if err != nil || !flagged {
		return err
	}

	if flag.Action == ActionBan && flag.Status == "flagged" && flag.BannedAt == nil {
		return s.ban(ctx, clerkID)
	}
	return nil
}

func (s *Service) ban(ctx context.Context, clerkID string) error {
	err := s.Clerk.SetBanned(ctx, clerkID, true)
	if errors.Is(err, clerkapi.ErrUserNotFound) {
		s.Metrics.FraudActions.WithLabelValues(ActionBan, "not_found").Inc()
		return nil
	}
	if err != nil {
		s.Metrics.FraudActions.WithLabelValues(ActionBan, "error").Inc()
		return fmt.Errorf("ban: %w", err)
	}
	s.Metrics.FraudActions.WithLabelValues(ActionBan, "ok").Inc()
	s.Logger.InfoContext(ctx, "fraud: user banned in clerk", "user_id", clerkID)
	return s.DB.MarkBanned(ctx, clerkID)
}

// Resolutions an admin can give a flag.
const (
	ResolveKeep  = "keep"
	ResolveUnban = "unban"
)

// ErrBadResolution is a resolution other than keep or unban.
var ErrBadResolution = errors.New("resolution must be keep or unban")

// Resolve closes a flag: keep leaves the user as is, unban also lifts a
// ban in Clerk. It returns postgres.ErrNoFlag or ErrBadResolution.
func (s *Service) Resolve(ctx context.Context, clerkID, resolution string) (postgres.Flag, error) {
	status := map[string]string{ResolveKeep: "kept", ResolveUnban: "unbanned"}[resolution]
	if status == "" {
		return postgres.Flag{}, ErrBadResolution
	}
	if _, err := s.DB.GetFlag(ctx, clerkID); err != nil {
		return postgres.Flag{}, err
	}
	if resolution == ResolveUnban {
		if err := s.Clerk.SetBanned(ctx, clerkID, false); err != nil && !errors.Is(err, clerkapi.ErrUserNotFound) {
			s.Metrics.FraudActions.WithLabelValues(ResolveUnban, "error").Inc()
			return postgres.Flag{}, err
		}
	}
	s.Metrics.FraudActions.WithLabelValues(resolution, "ok").Inc()
	if err := s.DB.ResolveFlag(ctx, clerkID, status); err != nil {
		return postgres.Flag{}, err
	}
	return s.DB.GetFlag(ctx, clerkID)
}

func nonEmpty(ss ...*string) []string {
	var out []string
	for _, s := range ss {
		if s != nil && *s != "" {
			out = append(out, *s)
		}
	}
	return out
}
