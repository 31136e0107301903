// Package app wires clerksync's parts together in order: database,
// migrations, Clerk client, sync, HTTP. The command and the end-to-end
// tests both start the service through it.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/riverqueue/river"

	"github.com/clerksync/clerksync/backend/internal/analytics"
	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/fraud"
	"github.com/clerksync/clerksync/backend/internal/fullsync"
	"github.com/clerksync/clerksync/backend/internal/gdpr"
	"github.com/clerksync/clerksync/backend/internal/httpapi"
	"github.com/clerksync/clerksync/backend/internal/jobs"
	"github.com/clerksync/clerksync/backend/internal/mail"
	"github.com/clerksync/clerksync/backend/internal/metrics"
	"github.com/clerksync/clerksync/backend/internal/onboarding"
	"github.com/clerksync/clerksync/backend/internal/postgres"
	"github.com/clerksync/clerksync/backend/internal/usersync"
	"github.com/clerksync/clerksync/backend/internal/webhook"
)

// App is one running clerksync service.
type App struct {
	Config  *config.Config
	DB      *postgres.DB
	Clerk   *clerkapi.Client
	Syncer  *usersync.Syncer
	Metrics *metrics.Metrics
	// Webhooks is nil in phase mvp, where the route is not mounted.
	Webhooks   *webhook.Handler
	Jobs       *jobs.Client
	Eraser     *gdpr.Eraser
	Onboarding *onboarding.Service
	Fraud      *fraud.Service

	logger      *slog.Logger
	handler     http.Handler
	jobsStarted bool
}

// New connects to the database, migrates it when configured to, and
// builds the HTTP handler. Close releases what New opened.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.MigrateOnStart {
		n, err := db.MigrateUp(ctx, nil)
		if err != nil {
			db.Close()
			return nil, err
		}
		logger.Info("app: migrations applied", "count", n)
	}

	a := &App{Config: cfg, DB: db, Metrics: metrics.New(), logger: logger}
	a.Metrics.Registry.MustRegister(newHealthCollector(db))
	a.Clerk = clerkapi.NewClient(cfg.ClerkAPIURL, cfg.ClerkSecretKey, a.Metrics)
	verifier := clerkapi.NewVerifier(a.Clerk, clerkapi.VerifierOptions{
		AuthorizedParties: cfg.ClerkAuthorizedParties,
		Leeway:            cfg.ClerkJWTLeeway,
	})
	if err := a.newJobs(cfg); err != nil {
		db.Close()
		return nil, err
	}
	a.Eraser = &gdpr.Eraser{DB: db, Jobs: a.Jobs, Logger: logger}

	store := requestStore{Store: gdpr.Store{DB: db, Eraser: a.Eraser}, onboarding: a.Onboarding}
	a.Syncer = usersync.New(store, a.Clerk, usersync.Options{
		Phase:         cfg.Phase,
		TTL:           cfg.UserSyncTTL,
		FallbackFetch: cfg.SyncFallbackFetch,
	}, a.Metrics, logger)

	var replayer httpapi.Replayer
	if cfg.Phase.WebhooksEnabled() {
		if err := a.newWebhooks(cfg); err != nil {
			db.Close()
			return nil, err
		}
		replayer = a.Webhooks
	}

	api := httpapi.New(httpapi.Deps{
		Config:   cfg,
		Ready:    db,
		Verifier: verifier,
		Syncer:   a.Syncer,
		Metrics:  a.Metrics,
		Logger:   logger,

		Clerk:     a.Clerk,
		Eraser:    a.Eraser,
		Analytics: db,
		Activity:  analytics.NewActivity(db, 100_000, logger),

		Onboarding: a.Onboarding,
		Fraud:      a.Fraud,
		Flags:      db,

		Ops:      db,
		Replayer: replayer,
		Jobs:     jobs.Admin{Client: a.Jobs},
		OpsKey:   deriveKey(cfg.OpsSessionSecret, cfg.ClerkSecretKey, "clerksync ops session"),
	})
	if a.Webhooks != nil {
		api.Mount(func(r *gin.Engine, _ gin.HandlerFunc) {
			r.POST("/api/webhooks/clerk", a.Webhooks.Serve)
		})
	}
	a.handler = api.Handler()
	return a, nil
}

// newWebhooks builds the webhook handler with the effects that hang off
// each event.
func (a *App) newWebhooks(cfg *config.Config) error {
	verifier, err := webhook.NewVerifier(cfg.WebhookSigningSecrets)
	if err != nil {
		return fmt.Errorf("CLERK_WEBHOOK_SIGNING_SECRET: %w", err)
	}
	a.Webhooks = webhook.NewHandler(a.DB, verifier, cfg.WebhookMaxBodyBytes, a.Metrics, a.logger)
	a.Webhooks.OnDelete(a.Eraser.EraseTx)
	a.Webhooks.OnApply(jobs.WebhookEffects(a.Jobs))
	a.Webhooks.OnApply(a.Onboarding.WebhookHook())
	a.Webhooks.OnApply(a.Fraud.WebhookHook())
	a.Webhooks.OnApply(jobs.FlushHook(a.Jobs))
	a.Webhooks.WithHookContext(jobs.WithPending)
	return nil
}

// newJobs builds the River client and the mail sender its workers use.
func (a *App) newJobs(cfg *config.Config) error {
	var sender mail.Sender = mail.LogSender{Logger: a.logger}
	if cfg.MailDriver == "smtp" {
		s, err := mail.NewSMTPSender(cfg.SMTPURL, cfg.MailFrom)
		if err != nil {
			return fmt.Errorf("SMTP_URL: %w", err)
		}
		sender = s
	}

	if err := a.newServices(cfg, sender); err != nil {
		return err
	}
	jo := jobs.Options{
		Work:              cfg.JobsEnabled,
		PollOnly:          cfg.JobsPollOnly,
		PayloadRetention:  cfg.WebhookPayloadRetention,
		RecordRetention:   cfg.WebhookRecordRetention,
		AppName:           cfg.AppName,
		ReconcileInterval: cfg.ReconcileInterval,
		Reconcile:         a.reconcileReport,
		Register: []func(*river.Workers){func(w *river.Workers) {
			river.AddWorker(w, &onboarding.ReminderWorker{Service: a.Onboarding,
				Sender: sender, AppName: cfg.AppName, Phase: cfg.Phase, Logger: a.logger})
			river.AddWorker(w, &fraud.CheckWorker{Service: a.Fraud})
		}},
	}
	client, err := jobs.New(a.DB.Pool, a.DB, sender, jo, a.logger)
	if err != nil {
		return err
	}
	a.Jobs = client
	a.Onboarding.Jobs = client
	a.Fraud.Jobs = client
	return nil
}

// newServices builds onboarding and fraud; their job client is set once
// it exists, since it needs their workers first.
func (a *App) newServices(cfg *config.Config, sender mail.Sender) error {
	steps, reminders := cfg.OnboardingSteps, cfg.OnboardingReminders
	if len(steps) == 0 {
		steps, _ = onboarding.ParseSteps(onboarding.DefaultSteps)
	}
	if reminders == nil {
		reminders, _ = onboarding.ParseReminders(onboarding.DefaultReminders)
	}
	a.Onboarding = &onboarding.Service{
		DB: a.DB, Steps: steps, Reminders: reminders, Logger: a.logger,
	}

	disposable, err := fraud.LoadDisposable(cfg.FraudDisposableFile)
	if err != nil {
		return fmt.Errorf("FRAUD_DISPOSABLE_DOMAINS_FILE: %w", err)
	}
	a.Fraud = &fraud.Service{
		Config: fraud.Config{
			Threshold:   cfg.FraudThreshold,
			Action:      cfg.FraudAction,
			Window:      cfg.FraudWindow,
			IPLimit:     cfg.FraudIPLimit,
			DomainLimit: cfg.FraudDomainLimit,
			Weights:     cfg.FraudWeights,
			IPKey:       deriveKey(cfg.FraudIPHashKey, cfg.ClerkSecretKey, "clerksync ip hash key"),
			Disposable:  disposable,
		}.WithDefaults(),
		DB: a.DB, Clerk: a.Clerk, Metrics: a.Metrics, Logger: a.logger,
	}
	return nil
}

// deriveKey returns the configured secret, or a key derived from the
// Clerk secret for purpose, so that it stays stable across restarts and
// instances without another setting.
func deriveKey(configured, clerkSecret, purpose string) []byte {
	if configured != "" {
		return []byte(configured)
	}
	m := hmac.New(sha256.New, []byte(clerkSecret))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// reconcileReport is the periodic reconcile: it reports drift in the
// database and the metrics, and fixes nothing.
func (a *App) reconcileReport(ctx context.Context) error {
	r, err := fullsync.Reconcile(ctx, a.DB, nil, a.Clerk, fullsync.ReconcileOptions{
		PageSize: fullsync.MaxPageSize, RatePerSecond: 2, Logger: a.logger,
	})
	if err != nil {
		return err
	}
	a.Metrics.ReconcileDrift.WithLabelValues("missing").Set(float64(len(r.Missing)))
	a.Metrics.ReconcileDrift.WithLabelValues("stale").Set(float64(len(r.Stale)))
	a.Metrics.ReconcileDrift.WithLabelValues("gone").Set(float64(len(r.Gone)))
	a.logger.InfoContext(ctx, "app: periodic reconcile", "missing", len(r.Missing),
		"stale", len(r.Stale), "gone", len(r.Gone))
	return nil
}

// Start runs the job workers, when JOBS_ENABLED; Serve calls it.
func (a *App) Start(ctx context.Context) error {
	if !a.Config.JobsEnabled || a.jobsStarted {
		return nil
	}
	if err := a.Jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	a.jobsStarted = true
	return nil
}

// Logger returns the service's logger.
func (a *App) Logger() *slog.Logger { return a.logger }

// Handler returns the HTTP handler, for tests that serve it themselves.
func (a *App) Handler() http.Handler { return a.handler }

// Serve answers HTTP on ln until ctx is done, then shuts down gracefully:
// HTTP first, then background work, then the pool.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}

	if err := a.Start(ctx); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.logger.Info("app: serving", "addr", ln.Addr().String(), "sync_phase", a.Config.Phase)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	a.logger.Info("app: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the job workers, letting running jobs finish for a while,
// then releases the pool.
func (a *App) Close() {
	if a.jobsStarted {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := a.Jobs.Stop(ctx); err != nil {
			a.logger.Warn("app: jobs did not stop in time, cancelling", "err", err)
			a.Jobs.StopAndCancel(context.Background())
		}
		cancel()
		a.jobsStarted = false
	}
	a.DB.Close()
}
