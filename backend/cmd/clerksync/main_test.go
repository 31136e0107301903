package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"help"}, envOf(nil), &out, &errOut); err != nil {
		t.Fatalf("help: %v", err)
	}
	for _, cmd := range []string{"serve", "migrate", "clerk-emulator", "dev", "webhook send", "backfill", "reconcile", "healthcheck"} {
		if !strings.Contains(out.String(), cmd) {
			t.Errorf("help does not list %q", cmd)
		}
	}

	for _, args := range [][]string{nil, {"frobnicate"}, {"migrate"}, {"migrate", "sideways"}, {"webhook"}, {"webhook", "send"}} {
		err := run(context.Background(), args, envOf(map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}), &out, &errOut)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}

func TestServeNamesTheBadSetting(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve"}, envOf(map[string]string{
		"DATABASE_URL": "postgres://x/y", "CLERK_SECRET_KEY": "sk_test_x", "SYNC_PHASE": "prod",
	}), &out, &errOut)
	if err == nil || !strings.HasPrefix(err.Error(), "SYNC_PHASE:") {
		t.Fatalf("got %v, want an error naming SYNC_PHASE", err)
	}
}

func TestEmulatorRefusesProduction(t *testing.T) {
	for _, env := range []map[string]string{
		{"APP_ENV": "production"},
		{"CLERK_SECRET_KEY": "sk_live_abc"},
	} {
		if _, err := emulatorOptions(envOf(env), "", 1); err == nil {
			t.Errorf("%v: the stand-in started", env)
		}
	}
	opts, err := emulatorOptions(envOf(nil), "", 0.5)
	if err != nil || opts.SecretKey != devSecretKey {
		t.Fatalf("dev defaults: %+v, %v", opts, err)
	}
	if opts.RetrySchedule[1].Seconds() != 2.5 {
		t.Errorf("retry schedule not scaled: %v", opts.RetrySchedule)
	}
}
