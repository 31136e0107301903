// Command clerksync keeps an application's PostgreSQL users table in step
// with its Clerk users. Run `clerksync help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `clerksync keeps your PostgreSQL users table in step with Clerk.

Usage:
  clerksync <command> [flags]

Commands:
  serve            run the HTTP API (migrates first unless MIGRATE_ON_START=false)
  migrate up       apply pending migrations
  migrate down     roll back the newest migration
  migrate status   list migrations and whether each is applied
  clerk-emulator   run the local Clerk stand-in (development and tests only)
  dev              run the stand-in and the API together, print a curl to try
  webhook send     post a Svix-signed example Clerk event to a URL
  backfill         apply every Clerk user through the sync core (resumable)
  reconcile        compare the database with Clerk; --fix repairs drift
  healthcheck      exit 0 when the local server's /readyz answers 200
  help             show this text

Settings come from the environment; see docs/configuration.md.
`

// errUsage marks a mistake in the command line; main exits 2 for it.
var errUsage = errors.New("usage")

// errHelp means -h was asked for and the command's usage was printed.
var errHelp = errors.New("help shown")

// usageOr passes errHelp through and turns any other failure into
// errUsage.
func usageOr(err error) error {
	if errors.Is(err, errHelp) {
		return err
	}
	return errUsage
}

// parseFlags parses args; -h ends the command with its usage printed and
// exit status 0.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	return err
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errHelp):
	case errors.As(err, new(*exitError)):
		var e *exitError
		errors.As(err, &e)
		fmt.Fprintf(os.Stderr, "clerksync: %v\n", e)
		os.Exit(e.code)
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "clerksync: %v\n\n%s", err, usage)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "clerksync: %v\n", err)
		os.Exit(1)
	}
}

// run dispatches to a command. getenv is the environment.
func run(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "clerk-emulator":
		return runEmulator(ctx, rest, getenv, stdout, stderr)
	case "dev":
		return runDev(ctx, rest, getenv, stdout, stderr)
	case "backfill":
		return runBackfill(ctx, rest, getenv, stdout, stderr)
	case "reconcile":
		return runReconcile(ctx, rest, getenv, stdout, stderr)
	case "webhook":
		return runWebhook(ctx, rest, getenv, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

// newLogger builds the slog logger the settings ask for.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
