package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/clerksync/clerksync/backend/internal/app"
	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/config"
)

func runDev(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	emuAddr := fs.String("emulator-addr", "127.0.0.1:8081", "address of the Clerk stand-in")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: clerksync dev [flags]

Runs the Clerk stand-in and the API in one process against DATABASE_URL,
creates a user, and prints a curl that returns it from /api/me. SYNC_PHASE
defaults to beta here, so the stand-in's webhooks reach the API; HOST
defaults to 127.0.0.1; CLERK_API_URL and CLERK_SECRET_KEY are the
stand-in's; CLERK_WEBHOOK_SIGNING_SECRET is random unless set.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return usageOr(err)
	}

	secret := devWebhookSecret()
	emuLn, err := net.Listen("tcp", *emuAddr)
	if err != nil {
		return fmt.Errorf("listen for the stand-in: %w", err)
	}
	emuURL := "http://" + emuLn.Addr().String()

	env := devEnv(getenv, map[string]string{
		"CLERK_API_URL":                emuURL,
		"CLERK_SECRET_KEY":             devSecretKey,
		"SYNC_PHASE":                   "beta",
		"CLERK_WEBHOOK_SIGNING_SECRET": secret,
		"LOG_FORMAT":                   "text",
		"HOST":                         "127.0.0.1",
		// The stand-in's key is public, so keys derived from it would
		// be too: give the ops cookie a random one.
		"OPS_SESSION_SECRET": devWebhookSecret(),
	})
	cfg, err := config.Load(env)
	if err != nil {
		return err
	}
	apiURL := fmt.Sprintf("http://localhost:%d", cfg.Port)

	opts, err := emulatorOptions(env, apiURL+"/api/webhooks/clerk", 0.001)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	opts.Logger = logger.With("component", "clerk-emulator")
	emu, err := clerkemu.New(opts)
	if err != nil {
		return err
	}
	defer emu.Close()
	go http.Serve(emuLn, emu.Handler())

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

	u := emu.CreateUser(clerkemu.UserParams{
		Email:     ptr("ada@example.com"),
		FirstName: ptr("Ada"),
		LastName:  ptr("Lovelace"),
	})
	token, err := emu.MintToken(u.ID, clerkemu.TokenOptions{TTL: time.Hour})
	if err != nil {
		return fmt.Errorf("mint token: %w", err)
	}
	fmt.Fprintf(stdout, `
clerksync is running in SYNC_PHASE=%s.
  API:              %s
  Clerk stand-in:   %s

Try it (the token is valid for an hour):

  curl -s -H 'Authorization: Bearer %s' %s/api/me

A fresh token for a new user (or {"user_id":"user_…","ttl_seconds":3600}
for an existing one; an admin is a user created with
"public_metadata":{"role":"admin"} through POST %s/users):

  curl -s -X POST %s/dev/tokens -d '{}'

The webhook signing secret, to post events with clerksync webhook send:

  export CLERK_WEBHOOK_SIGNING_SECRET=%s

The stand-in keeps its users in memory: after a restart, users stored
in the database from an earlier run are unknown to it.

`, cfg.Phase, apiURL, emuURL, token, apiURL, emuURL, emuURL, cfg.WebhookSigningSecrets[0])

	return a.Serve(ctx, ln)
}

// devEnv serves the environment, with defaults for what it leaves unset.
func devEnv(getenv func(string) (string, bool), defaults map[string]string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		if v, ok := getenv(key); ok && v != "" {
			if key != "CLERK_API_URL" && key != "CLERK_SECRET_KEY" {
				return v, true
			}
		}
		v, ok := defaults[key]
		return v, ok
	}
}

func devWebhookSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }
