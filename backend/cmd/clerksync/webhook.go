package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clerksync/clerksync/backend/internal/webhook"
)

func runWebhook(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "send" {
		return fmt.Errorf("%w: webhook takes the action send", errUsage)
	}
	fs := flag.NewFlagSet("webhook send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port, _ := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	url := fs.String("url", "http://localhost:"+port+"/api/webhooks/clerk", "where to post the event")
	file := fs.String("file", "", "send this payload file instead of Clerk's published example")
	var o webhook.Overrides
	fs.StringVar(&o.UserID, "user-id", "", "set data.id")
	fs.StringVar(&o.Email, "email", "", "set the primary email address")
	fs.StringVar(&o.FirstName, "first-name", "", "set data.first_name")
	fs.StringVar(&o.LastName, "last-name", "", "set data.last_name")
	fs.Int64Var(&o.UpdatedAt, "updated-at", 0, "set data.updated_at (Unix milliseconds)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: clerksync webhook send [flags] <event-type>

Posts a Svix-signed Clerk event, signed with the first secret in
CLERK_WEBHOOK_SIGNING_SECRET, and prints the status and response.
Event types with a published example: user.created, user.updated,
user.deleted, session.created. Flags go before the event type.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args[1:]); err != nil || fs.NArg() != 1 {
		if errors.Is(err, errHelp) {
			return err
		}
		return fmt.Errorf("%w: webhook send takes one event type", errUsage)
	}

	secrets, _ := getenv("CLERK_WEBHOOK_SIGNING_SECRET")
	secret, _, _ := strings.Cut(strings.ReplaceAll(strings.TrimSpace(secrets), ",", " "), " ")
	if secret == "" {
		return errors.New("CLERK_WEBHOOK_SIGNING_SECRET: required to sign the event")
	}

	body, err := payload(fs.Arg(0), *file)
	if err != nil {
		return err
	}
	if o != (webhook.Overrides{}) {
		if body, err = webhook.Customize(body, o); err != nil {
			return err
		}
	}

	status, resp, err := webhook.Send(ctx, *url, secret, body)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d %s\n", status, strings.TrimSpace(string(resp)))
	if status >= 300 {
		return fmt.Errorf("the receiver answered %d", status)
	}
	return nil
}

func payload(eventType, file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read payload: %w", err)
		}
		return b, nil
	}
	return webhook.Example(eventType)
}
