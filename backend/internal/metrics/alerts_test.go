package metrics_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clerksync/clerksync/backend/internal/metrics"
)

const alertsFile = "../../../deploy/prometheus/alerts.yml"

// TestAlertRulesLoad runs Prometheus's own rule checker over the shipped
// alert rules. CI installs it; elsewhere the test is skipped without it.
func TestAlertRulesLoad(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; .ci/run installs Debian's prometheus package")
		}
		t.Skip("promtool is not installed")
	}
	path, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// TestAlertRulesUseOurMetrics keeps the rules and the collectors in step:
// every clerksync_ name in the rules must be one the service exports.
func TestAlertRulesUseOurMetrics(t *testing.T) {
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}

	descs := make(chan *prometheus.Desc, 100)
	m := metrics.New()
	for _, c := range []prometheus.Collector{m.HTTPRequests, m.WebhookEvents, m.WebhookRejections, m.ClerkRequests} {
		c.Describe(descs)
	}
	close(descs)
	var known []string
	for d := range descs {
		known = append(known, regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())[1])
	}
	// Gauges read from the database at scrape time (app's health collector).
	known = append(known, "clerksync_webhook_last_received_timestamp_seconds",
		"clerksync_webhook_events_last_hour", "clerksync_jobs_oldest_pending_age_seconds",
		"clerksync_jobs_discarded_last_day", "clerksync_reconcile_last_drift")

	for _, name := range regexp.MustCompile(`clerksync_[a-z_]+`).FindAllString(string(rules), -1) {
		if !slices.Contains(known, name) {
			t.Errorf("alerts.yml uses %s, which no collector exports", name)
		}
	}
}
