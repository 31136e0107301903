// Package metrics defines clerksync's Prometheus collectors in one place,
// so that names, labels and help texts stay consistent.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector. Build it with New; each server or test
// gets its own registry so that instances do not share counts.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests      *prometheus.CounterVec
	HTTPDuration      *prometheus.HistogramVec
	AuthFailures      *prometheus.CounterVec
	ClerkRequests     *prometheus.CounterVec
	SyncWrites        *prometheus.CounterVec
	StaleServed       prometheus.Counter
	FallbackFetches   *prometheus.CounterVec
	WebhookEvents     *prometheus.CounterVec
	WebhookRejections *prometheus.CounterVec
	WebhookDuration   prometheus.Histogram
	ReconcileDrift    *prometheus.GaugeVec
	FraudSignals      *prometheus.CounterVec
	FraudFlags        prometheus.Counter
	FraudActions      *prometheus.CounterVec
}

// New creates the collectors and registers them, with the Go and process
// collectors, on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clerksync_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_auth_failures_total",
			Help: "Requests refused by session authentication, by reason.",
		}, []string{"reason"}),
		ClerkRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_clerk_api_requests_total",
			Help: "Calls to Clerk's Backend API, by operation and outcome.",
		}, []string{"operation", "outcome"}),
		SyncWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_user_sync_total",
			Help: "Snapshots and deletions applied by the sync core, by source and outcome.",
		}, []string{"source", "outcome"}),
		StaleServed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clerksync_user_stale_served_total",
			Help: "Requests served from the stored row because Clerk was unavailable or rate limiting.",
		}),
		FallbackFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_user_fallback_fetches_total",
			Help: "In production phase, fetches from Clerk for a caller whose row had not arrived by webhook yet.",
		}, []string{"outcome"}),
		WebhookEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_webhook_events_total",
			Help: "Verified webhook deliveries, by event type and outcome.",
		}, []string{"type", "outcome"}),
		WebhookRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_webhook_rejections_total",
			Help: "Webhook deliveries refused before processing, by reason.",
		}, []string{"reason"}),
		WebhookDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clerksync_webhook_processing_seconds",
			Help:    "Time to verify and durably record one webhook delivery.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		ReconcileDrift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clerksync_reconcile_drift_users",
			Help: "Users found different from Clerk by the last periodic reconcile on this instance, by kind (missing, stale, gone).",
		}, []string{"kind"}),
		FraudSignals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_fraud_signals_total",
			Help: "Fraud rules that fired on an evaluation, by rule.",
		}, []string{"rule"}),
		FraudFlags: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clerksync_fraud_flags_total",
			Help: "Users newly flagged for reaching FRAUD_THRESHOLD.",
		}),
		FraudActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clerksync_fraud_actions_total",
			Help: "Actions on flagged users (ban, unban, keep), by outcome.",
		}, []string{"action", "outcome"}),
	}

	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HTTPRequests, m.HTTPDuration, m.AuthFailures, m.ClerkRequests,
		m.SyncWrites, m.StaleServed, m.FallbackFetches, m.WebhookEvents,
		m.WebhookRejections, m.WebhookDuration, m.ReconcileDrift,
		m.FraudSignals, m.FraudFlags, m.FraudActions,
	)
	return m
}
