package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/user"
)

func env(m map[string]string) config.Getenv {
	base := map[string]string{
		"DATABASE_URL":     "postgres://u:secretpw@localhost/db",
		"CLERK_SECRET_KEY": "sk_test_abcdef",
	}
	for k, v := range m {
		base[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := base[k]
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	require.Equal(t, 8080, c.Port)
	require.Equal(t, user.PhaseMVP, c.Phase)
	require.Equal(t, 5*time.Minute, c.UserSyncTTL)
	require.Equal(t, 5*time.Second, c.ClerkJWTLeeway)
	require.Equal(t, config.DefaultClerkAPIURL, c.ClerkAPIURL)
	require.Equal(t, int64(1<<20), c.WebhookMaxBodyBytes)
	require.True(t, c.JobsEnabled)
	require.Len(t, c.OnboardingSteps, 4)
	require.Equal(t, "flag", c.FraudAction)
}

func TestBadValuesNameTheVariable(t *testing.T) {
	secret := "whsec_" + strings.Repeat("QUJD", 8)
	cases := map[string]map[string]string{
		"PORT":                         {"PORT": "99999"},
		"SYNC_PHASE":                   {"SYNC_PHASE": "prod"},
		"USER_SYNC_TTL":                {"USER_SYNC_TTL": "soon"},
		"CLERK_JWT_LEEWAY":             {"CLERK_JWT_LEEWAY": "2h"},
		"CLERK_API_URL":                {"CLERK_API_URL": "ftp://x"},
		"CORS_ALLOWED_ORIGINS":         {"CORS_ALLOWED_ORIGINS": "https://*.vercel.app"},
		"CLERK_AUTHORIZED_PARTIES":     {"CLERK_AUTHORIZED_PARTIES": "not a url"},
		"CLERK_WEBHOOK_SIGNING_SECRET": {"SYNC_PHASE": "beta", "CLERK_WEBHOOK_SIGNING_SECRET": secret + " whsec_%%%"},
		"LOG_FORMAT":                   {"LOG_FORMAT": "xml"},
		"MAIL_DRIVER":                  {"MAIL_DRIVER": "carrier-pigeon"},
		"SMTP_URL":                     {"MAIL_DRIVER": "smtp"},
		"ONBOARDING_STEPS":             {"ONBOARDING_STEPS": "Bad Step"},
		"ONBOARDING_REMINDERS":         {"ONBOARDING_REMINDERS": "soon"},
		"FRAUD_ACTION":                 {"FRAUD_ACTION": "nuke"},
		"DATABASE_URL":                 {"DATABASE_URL": ""},
	}
	for want, vars := range cases {
		t.Run(want, func(t *testing.T) {
			_, err := config.Load(env(vars))
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), want+":"), err.Error())
			require.NotContains(t, err.Error(), "secretpw")
			require.NotContains(t, err.Error(), "QUJD")
		})
	}
}

func TestWebhookSecretsAndRequirements(t *testing.T) {
	a, b := "whsec_"+strings.Repeat("QUJD", 8), "whsec_"+strings.Repeat("RUZH", 8)

	_, err := config.Load(env(map[string]string{"SYNC_PHASE": "production"}))
	require.ErrorContains(t, err, "CLERK_WEBHOOK_SIGNING_SECRET: required")

	c, err := config.Load(env(map[string]string{"SYNC_PHASE": "beta", "CLERK_WEBHOOK_SIGNING_SECRET": a + ", " + b}))
	require.NoError(t, err)
	require.Equal(t, []string{a, b}, c.WebhookSigningSecrets)
}

func TestLogValueMasksSecrets(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"SMTP_URL": "smtp://me:smtppw@mail.example.com:587", "METRICS_TOKEN": "mtoken",
	}))
	require.NoError(t, err)
	logged := c.LogValue().String()
	for _, secret := range []string{"secretpw", "abcdef", "smtppw", "mtoken"} {
		require.NotContains(t, logged, secret)
	}
	require.Contains(t, logged, "sk_test_****")
}

func TestOriginsAreNormalised(t *testing.T) {
	c, err := config.Load(env(map[string]string{"CORS_ALLOWED_ORIGINS": "https://App.Example.com/, http://localhost:3000"}))
	require.NoError(t, err)
	require.Equal(t, []string{"https://app.example.com", "http://localhost:3000"}, c.CORSAllowedOrigins)
}

func TestQuotedValues(t *testing.T) {
	secret := "whsec_" + strings.Repeat("QUJD", 8)
	c, err := config.Load(env(map[string]string{
		"SYNC_PHASE": `"beta"`, "CLERK_WEBHOOK_SIGNING_SECRET": "'" + secret + "'\n",
	}))
	require.NoError(t, err)
	require.Equal(t, user.PhaseBeta, c.Phase)
	require.Equal(t, []string{secret}, c.WebhookSigningSecrets)
}

func TestDatabaseIsLoggedWithoutPassword(t *testing.T) {
	for _, dsn := range []string{
		"host=127.0.0.1 port=5432 user=u password=hunter2 dbname=x",
		"postgres://u:hunter2@localhost/db?password=hunter2",
	} {
		c, err := config.Load(env(map[string]string{"DATABASE_URL": dsn}))
		require.NoError(t, err)
		require.NotContains(t, c.LogValue().String(), "hunter2")
	}
	_, err := config.Load(env(map[string]string{"DATABASE_URL": "mysql://u@h/db"}))
	require.ErrorContains(t, err, "DATABASE_URL:")
	_, err = config.Load(env(map[string]string{"CLERK_SECRET_KEY": "foo"}))
	require.ErrorContains(t, err, "CLERK_SECRET_KEY:")
}
