package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/clerksync/clerksync/backend/internal/app"
	"github.com/clerksync/clerksync/backend/internal/config"
)

func runServe(ctx context.Context, args []string, getenv config.Getenv, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: clerksync serve\n\nRuns the HTTP API on PORT. Settings: docs/configuration.md.")
	}
	if err := parseFlags(fs, args); err != nil {
		return usageOr(err)
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	logger.Info("clerksync: starting", "config", cfg)
	if len(cfg.ClerkAuthorizedParties) == 0 {
		logger.Warn("clerksync: CLERK_AUTHORIZED_PARTIES is empty; tokens for any front-end origin are accepted")
	}

	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	addr := net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on HOST:PORT %s: %w", addr, err)
	}
	return a.Serve(ctx, ln)
}
