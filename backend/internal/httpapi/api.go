// Package httpapi is clerksync's HTTP face: the Gin router, the session
// and sync middleware, and the handlers of the JSON API.
package httpapi

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/config"
	"github.com/clerksync/clerksync/backend/internal/metrics"
	"github.com/clerksync/clerksync/backend/internal/ops"
	"github.com/clerksync/clerksync/backend/internal/usersync"
)

// Readiness reports whether the service can serve: the database answers
// and its migrations are at head.
type Readiness interface {
	Ping(ctx context.Context) error
	MigrationsAtHead(ctx context.Context) (bool, error)
}

// API holds what the handlers need.
type API struct {
	config   *config.Config
	ready    Readiness
	verifier *clerkapi.Verifier
	syncer   *usersync.Syncer
	metrics  *metrics.Metrics
	logger   *slog.Logger

	clerk       ClerkDeleter
	eraser      Eraser
	analyticsDB Analytics
	activity    Activity
	onboarding  Onboarding
	fraud       Fraud
	flags       FlagLister
	ops         OpsStore
	replayer    Replayer
	jobs        JobAdmin
	opsKey      []byte

	// Mount adds more routes (webhooks, jobs' endpoints) to the engine
	// before it is returned.
	mounts []func(*gin.Engine, gin.HandlerFunc)
}

// Deps lists the API's collaborators.
type Deps struct {
	Config   *config.Config
	Ready    Readiness
	Verifier *clerkapi.Verifier
	Syncer   *usersync.Syncer
	Metrics  *metrics.Metrics
	Logger   *slog.Logger

	Clerk     ClerkDeleter
	Eraser    Eraser
	Analytics Analytics
	// Activity, when set, is told of every authenticated request.
	Activity   Activity
	Onboarding Onboarding
	Fraud      Fraud
	Flags      FlagLister
	Ops        OpsStore
	// Replayer is nil in phase mvp.
	Replayer Replayer
	Jobs     JobAdmin
	// OpsKey signs the ops page's session cookie.
	OpsKey []byte
}

// Activity notes authenticated requests; *analytics.Activity is one.
type Activity interface {
	Seen(ctx context.Context, clerkID string)
}

// New returns an API over deps.
func New(d Deps) *API {
	return &API{
		config:   d.Config,
		ready:    d.Ready,
		verifier: d.Verifier,
		syncer:   d.Syncer,
		metrics:  d.Metrics,
		logger:   d.Logger,

		clerk:       d.Clerk,
		eraser:      d.Eraser,
		analyticsDB: d.Analytics,
		activity:    d.Activity,
		onboarding:  d.Onboarding,
		fraud:       d.Fraud,
		flags:       d.Flags,
		ops:         d.Ops,
		replayer:    d.Replayer,
		jobs:        d.Jobs,
		opsKey:      d.OpsKey,
	}
}

// Mount registers f to add routes; f receives the engine and the
// middleware that authenticates and syncs the caller.
func (a *API) Mount(f func(r *gin.Engine, authed gin.HandlerFunc)) {
	a.mounts = append(a.mounts, f)
}

// Handler builds the router.
func (a *API) Handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(requestID, a.observe, a.recoverPanic, rejectBadQuery)

	r.NoRoute(func(c *gin.Context) {
		abort(c, http.StatusNotFound, "not_found", "No such route.")
	})
	r.NoMethod(func(c *gin.Context) {
		// The preflight route OPTIONS /api/*path matches every path under
		// /api: a path that only it matches does not exist.
		if c.Writer.Header().Get("Allow") == http.MethodOptions {
			c.Writer.Header().Del("Allow")
			abort(c, http.StatusNotFound, "not_found", "No such route.")
			return
		}
		abort(c, http.StatusMethodNotAllowed, "method_not_allowed",
			"This route does not accept that method.")
	})

	r.GET("/healthz", a.healthz)
	r.GET("/readyz", a.readyz)
	r.GET("/metrics", a.metricsAuth, gin.WrapH(promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{})))

	api := r.Group("/api", a.cors())
	api.OPTIONS("/*path", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	authed := func(c *gin.Context) {
		a.authenticate(c)
		if !c.IsAborted() {
			a.loadUser(c)
		}
	}
	api.GET("/me", authed, a.getMe)
	api.DELETE("/me", a.authenticate, a.deleteMe)
	api.GET("/me/export", authed, a.exportMe)
	api.GET("/me/onboarding", authed, a.getOnboarding)
	api.POST("/me/onboarding/steps/:step", authed, a.completeStep)
	api.GET("/admin/analytics", authed, requireAdmin, a.analytics)
	api.GET("/admin/fraud/flags", authed, requireAdmin, a.listFlags)
	api.POST("/admin/fraud/flags/:user_id/resolve", authed, requireAdmin, a.resolveFlag)

	{
		admin := api.Group("/admin", authed, requireAdmin)
		admin.GET("/health", a.health)
		admin.GET("/webhooks", a.listWebhooks)
		admin.GET("/webhooks/:svix_id", a.getWebhook)
		admin.POST("/webhooks/:svix_id/replay", a.replayWebhook)
		admin.POST("/webhooks/replay", a.replayFailed)
		admin.GET("/jobs", a.failedJobs)
		admin.POST("/jobs/:id/retry", a.retryJob)
		admin.GET("/reconcile/latest", a.latestReconcile)

		page := gin.WrapH(ops.Handler())
		r.GET("/ops", page)
		r.GET("/ops/assets/*file", page)
		r.POST("/ops/session", authed, requireAdmin, a.startOpsSession)
		r.DELETE("/ops/session", a.endOpsSession)
	}
	api.GET("/sync/status", a.syncStatus)
	if !a.config.Phase.WebhooksEnabled() {
		// Every method but OPTIONS, which the preflight route above
		// already answers: gin refuses a second OPTIONS route beside
		// /*path and would panic at start-up.
		api.Match([]string{
			http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
			http.MethodPatch, http.MethodDelete,
		}, "/webhooks/clerk", a.webhooksOff)
	}

	for _, mount := range a.mounts {
		mount(r, authed)
	}
	return r
}

// rejectBadQuery refuses a query string that does not parse: Go would
// drop the bad parts silently, and a filter would quietly match more.
func rejectBadQuery(c *gin.Context) {
	if _, err := url.ParseQuery(c.Request.URL.RawQuery); err != nil {
		abort(c, http.StatusBadRequest, "invalid_query", "The query string is malformed.")
	}
}

// cors allows the configured front-end origins, with credentials so that
// the __session cookie travels. Preflights are answered before auth. A
// request from any other origin is refused with the error shape.
func (a *API) cors() gin.HandlerFunc {
	if len(a.config.CORSAllowedOrigins) == 0 {
		return func(c *gin.Context) { c.Next() }
	}
	h := cors.New(cors.Config{
		AllowOrigins:     a.config.CORSAllowedOrigins,
		AllowMethods:     []string{"GET", "POST", "PUT", "PATCH", "DELETE"},
		AllowHeaders:     []string{"Authorization", "Content-Type", "X-Request-Id", opsHeader},
		ExposeHeaders:    []string{"X-Request-Id", "Retry-After", "Content-Disposition"},
		AllowCredentials: true,
		MaxAge:           10 * time.Minute,
	})
	return func(c *gin.Context) {
		origin := strings.ToLower(c.GetHeader("Origin"))
		if origin != "" && origin != ownOrigin(c) &&
			!slices.Contains(a.config.CORSAllowedOrigins, origin) {
			abort(c, http.StatusForbidden, "origin_not_allowed",
				"This origin is not in CORS_ALLOWED_ORIGINS.")
			return
		}
		h(c)
	}
}

// ownOrigin is the origin this request was addressed to.
func ownOrigin(c *gin.Context) string {
	scheme := "http"
	if c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(c.Request.Host)
}

// metricsAuth requires METRICS_TOKEN as a Bearer token when it is set.
func (a *API) metricsAuth(c *gin.Context) {
	want := a.config.MetricsToken
	if want == "" {
		return
	}
	got := strings.TrimPrefix(c.GetHeader("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		c.Header("WWW-Authenticate", "Bearer")
		abort(c, http.StatusUnauthorized, "metrics_token_required",
			"/metrics needs the METRICS_TOKEN as a Bearer token.")
	}
}

func (a *API) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (a *API) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()

	if err := a.ready.Ping(ctx); err != nil {
		a.logger.WarnContext(ctx, "httpapi: not ready, database unreachable", "err", err)
		abort(c, http.StatusServiceUnavailable, "database_unavailable",
			"The database does not answer.")
		return
	}
	atHead, err := a.ready.MigrationsAtHead(ctx)
	if err != nil || !atHead {
		abort(c, http.StatusServiceUnavailable, "migrations_pending",
			"Database migrations are not at head; run `clerksync migrate up`.")
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

func (a *API) getMe(c *gin.Context) {
	c.JSON(http.StatusOK, currentUser(c))
}

// webhooksOff answers the webhook route in phase mvp, where it is not
// mounted, with a body that says how to turn it on.
func (a *API) webhooksOff(c *gin.Context) {
	abort(c, http.StatusNotFound, "webhooks_disabled",
		"Webhooks are off in SYNC_PHASE=mvp; set SYNC_PHASE=beta or production "+
			"and CLERK_WEBHOOK_SIGNING_SECRET, then restart.")
}

// syncStatus tells a team what this deployment does; it holds no secret.
func (a *API) syncStatus(c *gin.Context) {
	p := a.config.Phase
	c.JSON(http.StatusOK, gin.H{
		"phase":             p,
		"webhooks_enabled":  p.WebhooksEnabled(),
		"upsert_on_request": p.UpsertOnRequest(),
		"fallback_fetch":    a.config.SyncFallbackFetch,
		"user_sync_ttl":     a.config.UserSyncTTL.String(),
	})
}
