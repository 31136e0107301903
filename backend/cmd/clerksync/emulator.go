package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
)

// devSecretKey is the stand-in's key when CLERK_SECRET_KEY is unset.
const devSecretKey = "sk_test_clerksync_dev"

func runEmulator(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clerk-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "address to listen on")
	webhookURL := fs.String("webhook-url", "", "deliver Svix-signed webhooks for changes to this URL (signed with CLERK_WEBHOOK_SIGNING_SECRET)")
	retryScale := fs.Float64("retry-scale", 1, "multiply Svix's retry delays by this factor (0.001 turns hours into seconds)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: clerksync clerk-emulator [flags]

Runs a local stand-in for Clerk's Backend API for development and tests:
/jwks, /users, /users/{id}, /users/count, and the dev-only POST /dev/tokens
that mints session tokens. Point CLERK_API_URL at it. It refuses to run in
a production configuration (APP_ENV=production or a sk_live_ key).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return usageOr(err)
	}

	opts, err := emulatorOptions(getenv, *webhookURL, *retryScale)
	if err != nil {
		return err
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	return clerkemu.Run(ctx, *addr, opts, stdout)
}

// emulatorOptions builds the stand-in's options from the environment,
// refusing a production configuration.
func emulatorOptions(getenv func(string) (string, bool), webhookURL string, retryScale float64) (clerkemu.Options, error) {
	if env, _ := getenv("APP_ENV"); strings.EqualFold(env, "production") {
		return clerkemu.Options{}, errors.New("the Clerk stand-in refuses to run with APP_ENV=production")
	}
	key, _ := getenv("CLERK_SECRET_KEY")
	if strings.HasPrefix(key, "sk_live_") {
		return clerkemu.Options{}, errors.New("the Clerk stand-in refuses to run with a live CLERK_SECRET_KEY (sk_live_)")
	}
	if key == "" {
		key = devSecretKey
	}

	opts := clerkemu.Options{SecretKey: key, WebhookURL: webhookURL}
	if webhookURL != "" {
		secrets, _ := getenv("CLERK_WEBHOOK_SIGNING_SECRET")
		first, _, _ := strings.Cut(strings.ReplaceAll(secrets, ",", " "), " ")
		if first == "" {
			return clerkemu.Options{}, errors.New("CLERK_WEBHOOK_SIGNING_SECRET: required to sign webhooks with --webhook-url")
		}
		opts.WebhookSecret = first
	}
	if retryScale <= 0 {
		return clerkemu.Options{}, errors.New("--retry-scale must be above 0")
	}
	for _, d := range clerkemu.DefaultRetrySchedule {
		opts.RetrySchedule = append(opts.RetrySchedule, time.Duration(float64(d)*retryScale))
	}
	return opts, nil
}
