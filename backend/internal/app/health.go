package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clerksync/clerksync/backend/internal/postgres"
)

// healthCollector exposes the sync's health, read from the database at
// each scrape, as the gauges the alert rules in deploy/prometheus watch.
// Every instance reports the same database-wide figures.
type healthCollector struct {
	db *postgres.DB

	lastWebhook, webhooksHour, pending, oldest, retryable, discarded, drift *prometheus.Desc
}

func newHealthCollector(db *postgres.DB) *healthCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &healthCollector{
		db:           db,
		lastWebhook:  d("clerksync_webhook_last_received_timestamp_seconds", "When the last verified webhook was received (0: never)."),
		webhooksHour: d("clerksync_webhook_events_last_hour", "Verified webhooks received in the last hour, all and failed.", "status"),
		pending:      d("clerksync_jobs_pending", "Jobs due and waiting for a worker."),
		oldest:       d("clerksync_jobs_oldest_pending_age_seconds", "Age of the oldest job due and waiting (0: none)."),
		retryable:    d("clerksync_jobs_retryable", "Jobs waiting to retry after a failure."),
		discarded:    d("clerksync_jobs_discarded_last_day", "Jobs that gave up in the last day."),
		drift:        d("clerksync_reconcile_last_drift", "Users found different by the newest reconcile run, by kind.", "kind"),
	}
}

// Describe implements prometheus.Collector.
func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lastWebhook, c.webhooksHour, c.pending, c.oldest, c.retryable, c.discarded, c.drift} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A database that does not
// answer in time yields no figures rather than a failed scrape.
func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h, err := c.db.ReadHealth(ctx)
	if err != nil {
		return
	}

	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	var last, oldest float64
	if h.LastWebhookAt != nil {
		last = float64(h.LastWebhookAt.Unix())
	}
	if h.OldestPendingAt != nil {
		oldest = time.Since(*h.OldestPendingAt).Seconds()
	}
	gauge(c.lastWebhook, last)
	gauge(c.webhooksHour, float64(h.WebhooksLastHour), "all")
	gauge(c.webhooksHour, float64(h.FailedLastHour), "failed")
	gauge(c.pending, float64(h.JobsPending))
	gauge(c.oldest, oldest)
	gauge(c.retryable, float64(h.JobsRetryable))
	gauge(c.discarded, float64(h.JobsDiscarded24h))
	if r := h.LastReconcile; r != nil {
		gauge(c.drift, float64(r.Missing), "missing")
		gauge(c.drift, float64(r.Stale), "stale")
		gauge(c.drift, float64(r.Gone), "gone")
	}
}
