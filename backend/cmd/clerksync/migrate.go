package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/clerksync/clerksync/backend/internal/postgres"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: clerksync migrate up|down|status\n\nNeeds DATABASE_URL.")
	}
	if err := parseFlags(fs, args); err != nil || fs.NArg() != 1 {
		if errors.Is(err, errHelp) {
			return err
		}
		return fmt.Errorf("%w: migrate takes one of up, down, status", errUsage)
	}
	action := fs.Arg(0)
	if action != "up" && action != "down" && action != "status" {
		return fmt.Errorf("%w: unknown migrate action %q", errUsage, action)
	}

	url, ok := getenv("DATABASE_URL")
	if !ok || url == "" {
		return fmt.Errorf("DATABASE_URL: required (a postgres:// URL)")
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	switch action {
	case "up":
		n, err := db.MigrateUp(ctx, logger)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d migration(s)\n", n)
		return nil
	case "down":
		return db.MigrateDown(ctx, logger)
	default:
		return db.MigrationStatus(ctx, stdout)
	}
}
