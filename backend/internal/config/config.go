// Package config reads clerksync's settings from the environment into one
// validated struct. Every variable is documented in docs/configuration.md.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/clerksync/clerksync/backend/internal/onboarding"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// DefaultClerkAPIURL is Clerk's Backend API base URL.
const DefaultClerkAPIURL = "https://api.clerk.com/v1"

// Config holds every setting of the server and its commands.
type Config struct {
	Host string
	Port int
	// MetricsToken, when set, is required as a Bearer token on /metrics.
	MetricsToken   string
	DatabaseURL    string
	Phase          user.Phase
	MigrateOnStart bool

	ClerkSecretKey         string
	ClerkAPIURL            string
	ClerkAuthorizedParties []string
	ClerkJWTLeeway         time.Duration
	UserSyncTTL            time.Duration
	SyncFallbackFetch      bool
	ReconcileInterval      time.Duration

	WebhookSigningSecrets []string
	WebhookMaxBodyBytes   int64

	CORSAllowedOrigins []string

	JobsEnabled             bool
	JobsPollOnly            bool
	WebhookPayloadRetention time.Duration
	WebhookRecordRetention  time.Duration
	MailDriver              string
	SMTPURL                 string
	MailFrom                string
	AppName                 string

	OnboardingSteps     []onboarding.Step
	OnboardingReminders []time.Duration

	FraudThreshold      int
	FraudAction         string
	FraudWindow         time.Duration
	FraudIPLimit        int
	FraudDomainLimit    int
	FraudWeights        map[string]int
	FraudDisposableFile string
	FraudIPHashKey      string
	OpsSessionSecret    string

	LogLevel  slog.Level
	LogFormat string
}

// Getenv looks a variable up; os.LookupEnv fits.
type Getenv func(key string) (string, bool)

// Load reads and validates the configuration. Its error names the first
// bad variable and what it allows, in one line.
func Load(getenv Getenv) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{
		Host:           r.str("HOST", ""),
		Port:           r.int("PORT", 8080, 1, 65535),
		MetricsToken:   r.str("METRICS_TOKEN", ""),
		DatabaseURL:    r.str("DATABASE_URL", ""),
		MigrateOnStart: r.bool("MIGRATE_ON_START", true),

		ClerkSecretKey:         r.str("CLERK_SECRET_KEY", ""),
		ClerkAPIURL:            r.url("CLERK_API_URL", DefaultClerkAPIURL),
		ClerkAuthorizedParties: r.origins("CLERK_AUTHORIZED_PARTIES"),
		ClerkJWTLeeway:         r.duration("CLERK_JWT_LEEWAY", 5*time.Second, 0, time.Minute),
		UserSyncTTL:            r.duration("USER_SYNC_TTL", 5*time.Minute, 0, 24*time.Hour),
		SyncFallbackFetch:      r.bool("SYNC_FALLBACK_FETCH", true),
		ReconcileInterval:      r.duration("RECONCILE_INTERVAL", 0, 0, 30*24*time.Hour),

		WebhookSigningSecrets: r.list("CLERK_WEBHOOK_SIGNING_SECRET"),
		WebhookMaxBodyBytes:   int64(r.int("WEBHOOK_MAX_BODY_BYTES", 1<<20, 1024, 64<<20)),

		CORSAllowedOrigins: r.origins("CORS_ALLOWED_ORIGINS"),

		JobsEnabled:             r.bool("JOBS_ENABLED", true),
		JobsPollOnly:            r.bool("JOBS_POLL_ONLY", false),
		WebhookPayloadRetention: r.duration("WEBHOOK_PAYLOAD_RETENTION", 30*24*time.Hour, time.Hour, 10*365*24*time.Hour),
		WebhookRecordRetention:  r.duration("WEBHOOK_RECORD_RETENTION", 365*24*time.Hour, 72*time.Hour, 20*365*24*time.Hour),
		MailDriver:              r.oneOf("MAIL_DRIVER", "log", "log", "smtp"),
		SMTPURL:                 r.str("SMTP_URL", ""),
		MailFrom:                r.str("MAIL_FROM", ""),
		AppName:                 r.str("APP_NAME", "our app"),

		OnboardingSteps:     r.steps("ONBOARDING_STEPS", onboarding.DefaultSteps),
		OnboardingReminders: r.reminders("ONBOARDING_REMINDERS", onboarding.DefaultReminders),

		FraudThreshold:   r.int("FRAUD_THRESHOLD", 60, 1, 1000),
		FraudAction:      r.oneOf("FRAUD_ACTION", "flag", "none", "flag", "ban"),
		FraudWindow:      r.duration("FRAUD_WINDOW", time.Hour, time.Minute, 30*24*time.Hour),
		FraudIPLimit:     r.int("FRAUD_IP_SIGNUP_LIMIT", 10, 0, 1_000_000),
		FraudDomainLimit: r.int("FRAUD_DOMAIN_SIGNUP_LIMIT", 20, 0, 1_000_000),
		FraudWeights: map[string]int{
			"disposable_email": r.int("FRAUD_WEIGHT_DISPOSABLE_EMAIL", 40, 0, 1000),
			"ip_velocity":      r.int("FRAUD_WEIGHT_IP_VELOCITY", 60, 0, 1000),
			"domain_velocity":  r.int("FRAUD_WEIGHT_DOMAIN_VELOCITY", 30, 0, 1000),
			"spam_name":        r.int("FRAUD_WEIGHT_SPAM_NAME", 30, 0, 1000),
		},
		FraudDisposableFile: r.str("FRAUD_DISPOSABLE_DOMAINS_FILE", ""),
		FraudIPHashKey:      r.str("FRAUD_IP_HASH_KEY", ""),
		OpsSessionSecret:    r.str("OPS_SESSION_SECRET", ""),

		LogLevel:  r.level("LOG_LEVEL", slog.LevelInfo),
		LogFormat: r.oneOf("LOG_FORMAT", "json", "json", "text"),
	}
	c.Phase = user.Phase(r.oneOf("SYNC_PHASE", "mvp", "mvp", "beta", "production"))
	if r.err != nil {
		return nil, r.err
	}
	return c, c.validate()
}

// LoadForCommand reads what the one-off commands (backfill, reconcile)
// need: the database and Clerk's Backend API. Server-only settings are
// not required; the result has jobs off, phase mvp and no migration.
func LoadForCommand(getenv Getenv) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{
		DatabaseURL:       r.str("DATABASE_URL", ""),
		ClerkSecretKey:    r.str("CLERK_SECRET_KEY", ""),
		ClerkAPIURL:       r.url("CLERK_API_URL", DefaultClerkAPIURL),
		Phase:             user.PhaseMVP,
		UserSyncTTL:       5 * time.Minute,
		LogLevel:          r.level("LOG_LEVEL", slog.LevelInfo),
		LogFormat:         r.oneOf("LOG_FORMAT", "text", "json", "text"),
		MailDriver:        "log",
		SyncFallbackFetch: true,
		OnboardingSteps:   r.steps("ONBOARDING_STEPS", onboarding.DefaultSteps),
		FraudThreshold:    60,
		FraudAction:       "none",
		FraudWindow:       time.Hour,
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, c.validate()
}

// validate checks the settings that depend on each other.
func (c *Config) validate() error {
	if c.DatabaseURL == "" {
		return errors.New("DATABASE_URL: required (a postgres:// URL)")
	}
	if _, err := pgconn.ParseConfig(c.DatabaseURL); err != nil {
		return errors.New("DATABASE_URL: not a PostgreSQL connection string (postgres://user:pass@host:5432/db)")
	}
	if !strings.HasPrefix(c.ClerkSecretKey, "sk_live_") && !strings.HasPrefix(c.ClerkSecretKey, "sk_test_") {
		return errors.New("CLERK_SECRET_KEY: required, sk_live_... or sk_test_... from the Clerk dashboard")
	}
	for _, s := range c.WebhookSigningSecrets {
		if err := checkWebhookSecret(s); err != nil {
			return fmt.Errorf("CLERK_WEBHOOK_SIGNING_SECRET: %w", err)
		}
	}
	if c.MailDriver == "smtp" && c.SMTPURL == "" {
		return errors.New("SMTP_URL: required when MAIL_DRIVER=smtp (smtp://user:pass@host:587)")
	}
	if c.MailDriver == "smtp" && c.MailFrom == "" {
		return errors.New("MAIL_FROM: required when MAIL_DRIVER=smtp (Team <hello@example.com>)")
	}
	if c.Phase.WebhooksEnabled() && len(c.WebhookSigningSecrets) == 0 {
		return fmt.Errorf("CLERK_WEBHOOK_SIGNING_SECRET: required when SYNC_PHASE=%s (whsec_... from the Clerk dashboard's webhook endpoint)", c.Phase)
	}
	return nil
}

// checkWebhookSecret accepts what the Svix library accepts (base64,
// optionally after "whsec_") when it decodes to a usable key.
func checkWebhookSecret(s string) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil || len(key) < 16 {
		return errors.New("each secret must be whsec_ followed by base64 of at least 16 bytes")
	}
	return nil
}

// LogValue masks secrets so that the whole config can be logged once at
// start-up.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.Port),
		slog.Bool("metrics_token_set", c.MetricsToken != ""),
		slog.String("database", describeDatabase(c.DatabaseURL)),
		slog.String("sync_phase", string(c.Phase)),
		slog.Bool("migrate_on_start", c.MigrateOnStart),
		slog.String("clerk_secret_key", mask(c.ClerkSecretKey)),
		slog.String("clerk_api_url", c.ClerkAPIURL),
		slog.Any("clerk_authorized_parties", c.ClerkAuthorizedParties),
		slog.Duration("clerk_jwt_leeway", c.ClerkJWTLeeway),
		slog.Duration("user_sync_ttl", c.UserSyncTTL),
		slog.Bool("sync_fallback_fetch", c.SyncFallbackFetch),
		slog.Duration("reconcile_interval", c.ReconcileInterval),
		slog.Int("webhook_signing_secrets", len(c.WebhookSigningSecrets)),
		slog.Int64("webhook_max_body_bytes", c.WebhookMaxBodyBytes),
		slog.Any("cors_allowed_origins", c.CORSAllowedOrigins),
		slog.Bool("jobs_enabled", c.JobsEnabled),
		slog.Bool("jobs_poll_only", c.JobsPollOnly),
		slog.Duration("webhook_payload_retention", c.WebhookPayloadRetention),
		slog.Duration("webhook_record_retention", c.WebhookRecordRetention),
		slog.String("mail_driver", c.MailDriver),
		slog.String("smtp_url", redactURL(c.SMTPURL)),
		slog.String("app_name", c.AppName),
		slog.Int("onboarding_steps", len(c.OnboardingSteps)),
		slog.Any("onboarding_reminders", c.OnboardingReminders),
		slog.Int("fraud_threshold", c.FraudThreshold),
		slog.String("fraud_action", c.FraudAction),
		slog.Duration("fraud_window", c.FraudWindow),
		slog.Bool("fraud_ip_hash_key_set", c.FraudIPHashKey != ""),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
	)
}

// mask keeps a secret's kind prefix ("sk_test_") and hides the rest.
func mask(secret string) string {
	if secret == "" {
		return ""
	}
	if i := strings.LastIndex(secret, "_"); i > 0 && i < 10 {
		return secret[:i+1] + "****"
	}
	return "****"
}

// describeDatabase names the server and database without credentials,
// whatever form the connection string takes.
func describeDatabase(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "(unparsable)"
	}
	return fmt.Sprintf("host=%s port=%d dbname=%s user=%s", cfg.Host, cfg.Port, cfg.Database, cfg.User)
}

// redactURL hides the password of a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// reader collects the first error while reading variables, so Load reads
// like a table of settings.
type reader struct {
	getenv Getenv
	err    error
}

// lookup reads a variable, trimmed, and without one pair of surrounding
// quotes: env files passed through Docker's env_file keep them.
func (r *reader) lookup(key string) (string, bool) {
	v, ok := r.getenv(key)
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = strings.TrimSpace(v[1 : len(v)-1])
	}
	return v, ok && v != ""
}

func (r *reader) fail(key, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: "+format, append([]any{key}, args...)...)
	}
}

func (r *reader) str(key, def string) string {
	if v, ok := r.lookup(key); ok {
		return v
	}
	return def
}

func (r *reader) int(key string, def, lo, hi int) int {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(key, "%q is not a whole number from %d to %d", v, lo, hi)
		return def
	}
	return n
}

func (r *reader) bool(key string, def bool) bool {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(key, "%q is not true or false", v)
		return def
	}
	return b
}

func (r *reader) duration(key string, def, lo, hi time.Duration) time.Duration {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		r.fail(key, "%q is not a duration from %s to %s (for example 30s, 5m)", v, lo, hi)
		return def
	}
	return d
}

func (r *reader) oneOf(key, def string, allowed ...string) string {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	r.fail(key, "%q is not allowed (allowed: %s)", v, strings.Join(allowed, ", "))
	return def
}

func (r *reader) level(key string, def slog.Level) slog.Level {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(key, "%q is not a level (allowed: debug, info, warn, error)", v)
		return def
	}
	return l
}

func (r *reader) url(key, def string) string {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(key, "%q is not an http(s) URL", v)
		return def
	}
	return strings.TrimRight(v, "/")
}

func (r *reader) steps(key, def string) []onboarding.Step {
	v := r.str(key, def)
	steps, err := onboarding.ParseSteps(v)
	if err != nil {
		r.fail(key, "%v (for example %s)", err, onboarding.DefaultSteps)
	}
	return steps
}

func (r *reader) reminders(key, def string) []time.Duration {
	v := r.str(key, def)
	ds, err := onboarding.ParseReminders(v)
	if err != nil {
		r.fail(key, "%v (for example 24h,72h, or off)", err)
	}
	return ds
}

// list splits on commas and white space.
func (r *reader) list(key string) []string {
	v, ok := r.lookup(key)
	if !ok {
		return nil
	}
	return strings.FieldsFunc(v, func(c rune) bool {
		return c == ',' || c == ' ' || c == '\t' || c == '\n'
	})
}

// origins reads a list of web origins (scheme://host[:port]) and
// normalises them; "*" is refused because credentials are allowed.
func (r *reader) origins(key string) []string {
	var out []string
	for _, o := range r.list(key) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
			u.Host == "" || (u.Path != "" && u.Path != "/") || strings.Contains(o, "*") {
			r.fail(key, "%q is not an origin like https://app.example.com (wildcards are not supported: list each origin)", o)
			return nil
		}
		out = append(out, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	return out
}
