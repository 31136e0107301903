package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/clerksync/clerksync/backend/internal/app"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/fullsync"
)

// exitDrift is reconcile's exit status when it found drift.
const exitDrift = 3

// exitError carries a process exit status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// openForCommand loads the command settings and opens the service's parts.
func openForCommand(ctx context.Context, getenv config.Getenv, stderr io.Writer) (*app.App, error) {
	cfg, err := config.LoadForCommand(getenv)
	if err != nil {
		return nil, err
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	// These commands never change the schema (a dry run writes nothing).
	atHead, err := a.DB.MigrationsAtHead(ctx)
	if err != nil || !atHead {
		a.Close()
		return nil, fmt.Errorf("the database is not migrated to this version: run `clerksync migrate up` first")
	}
	return a, nil
}

func runBackfill(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pageSize := fs.Int("page-size", fullsync.MaxPageSize, "users per list request (1 to 500)")
	rate := fs.Float64("rate", 5, "list requests per second at most (0: only Clerk's Retry-After limits)")
	dryRun := fs.Bool("dry-run", false, "say what would change and write nothing")
	restart := fs.Bool("restart", false, "ignore the saved checkpoint and start from the first user")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: clerksync backfill [flags]

Applies every Clerk user through the sync core: newer stored data and
deleted users are never overwritten. Resumes after an interruption from a
checkpoint in the database. Needs DATABASE_URL and CLERK_SECRET_KEY
(CLERK_API_URL to point elsewhere than Clerk).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil || fs.NArg() != 0 {
		return usageOr(err)
	}

	a, err := openForCommand(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()

	total, err := a.Clerk.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count clerk users: %w", err)
	}
	opts := fullsync.BackfillOptions{
		PageSize: *pageSize, RatePerSecond: *rate, DryRun: *dryRun,
		Restart: *restart, Logger: a.Logger(),
	}
	bar := progress(stderr, total)
	opts.Progress = bar

	sum, err := fullsync.Backfill(ctx, a.DB, a.Clerk, total, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(sum)
	}
	mode := ""
	if *dryRun {
		mode = " (dry run: nothing written)"
	}
	fmt.Fprintf(stdout, "backfill done%s: %d created, %d updated, %d unchanged, %d skipped\n",
		mode, sum.Created, sum.Updated, sum.Unchanged, sum.Skipped)
	return nil
}

// progress returns a progress callback: a bar on a terminal, a log line
// per page otherwise.
func progress(w io.Writer, total int) func(done, total int) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("backfill"),
			progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish())
		return func(done, _ int) { bar.Set(done) }
	}
	return func(done, total int) {
		fmt.Fprintf(w, "backfill: %d of %d users\n", done, total)
	}
}

func runReconcile(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fix := fs.Bool("fix", false, "repair each difference through the sync core (users gone from Clerk are erased)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pageSize := fs.Int("page-size", fullsync.MaxPageSize, "users per list request (1 to 500)")
	rate := fs.Float64("rate", 5, "list requests per second at most")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: clerksync reconcile [flags]

Compares the database with Clerk and reports users missing here, stale here
(older updated_at) and gone from Clerk. Exits 0 without drift, %d with drift
(also after --fix), 1 on error.

Flags:
`, exitDrift)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil || fs.NArg() != 0 {
		return usageOr(err)
	}

	a, err := openForCommand(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()

	r, err := fullsync.Reconcile(ctx, a.DB, a.Eraser, a.Clerk, fullsync.ReconcileOptions{
		PageSize: *pageSize, RatePerSecond: *rate, Fix: *fix, Logger: a.Logger(),
	})
	if err != nil {
		return err
	}

	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(r); err != nil {
			return err
		}
	} else {
		printReport(stdout, r)
	}
	if r.Drift() {
		return &exitError{code: exitDrift, msg: "drift found"}
	}
	return nil
}

func printReport(w io.Writer, r fullsync.Report) {
	fmt.Fprintf(w, "clerk users: %d, local users: %d\n", r.ClerkUsers, r.LocalUsers)
	for _, part := range []struct {
		name string
		ids  []string
	}{{"missing locally", r.Missing}, {"stale locally", r.Stale}, {"gone from clerk", r.Gone}} {
		fmt.Fprintf(w, "%s: %d\n", part.name, len(part.ids))
		for _, id := range part.ids {
			fmt.Fprintf(w, "  %s\n", id)
		}
	}
	switch {
	case !r.Drift():
		fmt.Fprintln(w, "no drift")
	case r.Fixed:
		fmt.Fprintln(w, "drift fixed")
	default:
		fmt.Fprintln(w, "drift found; run with --fix to repair")
	}
}
