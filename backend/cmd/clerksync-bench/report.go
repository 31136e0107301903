package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// report is everything one run measured; it is written as JSON.
type report struct {
	GeneratedAt  string        `json:"generated_at"`
	Elapsed      string        `json:"elapsed"`
	Options      options       `json:"options"`
	Machine      machineInfo   `json:"machine"`
	ServerMode   string        `json:"server_mode"`
	Ingest       *ingestResult `json:"ingest,omitempty"`
	Duplicates   *dupResult    `json:"duplicates,omitempty"`
	Reads        *readsResult  `json:"reads,omitempty"`
	Counts       []countRow    `json:"counts,omitempty"`
	Memory       []memoryRow   `json:"memory,omitempty"`
	BenchProcess memoryRow     `json:"bench_process_memory"`
	Micro        []microResult `json:"micro,omitempty"`
	Goals        []goal        `json:"goals"`
	Errors       []string      `json:"errors,omitempty"`
}

// goal is one target of docs/benchmarks.md and whether the run met it.
type goal struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func (r *report) json() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	return append(b, '\n'), err
}

func (r *report) countRow(name string) *countRow {
	for i := range r.Counts {
		if r.Counts[i].Scenario == name {
			return &r.Counts[i]
		}
	}
	return nil
}

// evaluate checks the goals against what was measured.
func (r *report) evaluate() {
	add := func(name, target, measured string, met bool) {
		r.Goals = append(r.Goals, goal{name, target, measured, met})
	}
	if in := r.Ingest; in != nil && in.Server != nil && in.Reference != nil {
		add("ingest rate", "≥ 0.5× reference upsert rate",
			fmt.Sprintf("%.0f/s vs %.0f/s = %.2f×", in.Server.PerSec, in.Reference.PerSec, in.Ratio),
			in.Ratio >= 0.5 && in.Server.Errors == 0)
		add("ingest latency", "p99 < 100 ms at c=32",
			fmt.Sprintf("p99 %.1f ms", in.Server.P99ms), in.Server.P99ms < 100)
		add("ingest correctness", "DB holds exactly the expected users and versions",
			verifySummary(in.Verify), in.Verify.OK)
	}
	if d := r.Duplicates; d != nil && d.Server != nil {
		add("duplicate storm", "each event takes effect once; attempts = 3",
			verifySummary(d.Verify), d.Verify.OK && d.Server.Errors == 0)
	}
	if rd := r.Reads; rd != nil {
		for _, name := range []string{"mvp", "production"} {
			if t := rd.target(name); t != nil && t.Result != nil {
				add("warm reads, "+name, "≥ 0.85× reference",
					fmt.Sprintf("%.0f/s vs %.0f/s = %.2f×", t.Result.PerSec, rd.target("reference").Result.PerSec, t.Ratio),
					t.Ratio >= 0.85 && t.Result.Errors == 0)
			}
		}
	}
	if cold, warm := r.countRow("mvp, cold"), r.countRow("mvp, warm"); cold != nil && warm != nil {
		add("Clerk calls, mvp", "1 per user per TTL",
			fmt.Sprintf("cold %d for %d users (%.2f/user), warm %d", cold.ClerkGetUser, cold.Users, cold.ClerkPerUser, warm.ClerkGetUser),
			cold.ClerkGetUser == int64(cold.Users) && warm.ClerkGetUser == 0)
	}
	if p := r.countRow("production, known users"); p != nil {
		add("Clerk calls, production", "0 for known users",
			fmt.Sprintf("%d get_user in %d requests", p.ClerkGetUser, p.Requests), p.ClerkGetUser == 0)
	}
	if warm, p := r.countRow("mvp, warm"), r.countRow("production, known users"); warm != nil && p != nil {
		w1, w2 := warm.UsersInserted+warm.UsersUpdated, p.UsersInserted+p.UsersUpdated
		add("writes on warm requests", "0 users rows written",
			fmt.Sprintf("mvp warm %d, production %d (other tables: %d, %d)", w1, w2, warm.OtherWrites, p.OtherWrites),
			w1 == 0 && w2 == 0)
	}
	if len(r.Memory) > 0 {
		peak, who := 0.0, ""
		for _, m := range r.Memory {
			if m.PeakMiB > peak {
				peak, who = m.PeakMiB, m.Server
			}
		}
		add("server memory", "peak RSS < 100 MiB", fmt.Sprintf("%.1f MiB (%s)", peak, who), peak < 100)
	}
}

func verifySummary(v verifyResult) string {
	s := fmt.Sprintf("%d/%d users, %d wrong version, %d missing", v.Users, v.WantUsers, v.WrongVersion, v.Missing)
	if v.WantEvents > 0 {
		s += fmt.Sprintf("; %d/%d webhook_events, attempts %d..%d; %d analytics rows; %d welcome jobs",
			v.WebhookEvents, v.WantEvents, v.AttemptsMin, v.AttemptsMax, v.Analytics, v.WelcomeJobs)
	}
	return s
}

// table renders the run as one Markdown table.
func (r *report) table() string {
	var sb strings.Builder
	row := func(cells ...string) { sb.WriteString("| " + strings.Join(cells, " | ") + " |\n") }
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	goalMet := func(name string) string {
		for _, g := range r.Goals {
			if g.Name == name {
				return g.Target + ": " + mark(g.Met)
			}
		}
		return ""
	}
	lat := func(l *loadResult) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f ms", l.P50ms, l.P95ms, l.P99ms)
	}
	c := r.Options.Concurrency

	fmt.Fprintf(&sb, "Run %s on %d × %s, %s, PostgreSQL %s; %s; c=%d; took %s.\n\n",
		r.GeneratedAt, r.Machine.NProc, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.PGVersion,
		r.ServerMode, c, r.Elapsed)
	row("Part", "Measure", "clerksync", "Reference", "Ratio", "Goal")
	row("---", "---", "---:", "---:", "---:", "---")

	if in := r.Ingest; in != nil && in.Server != nil {
		p := fmt.Sprintf("1 ingest (%d events, %d users)", in.Events, in.Users)
		ref := "n/a"
		refLat := ""
		if in.Reference != nil {
			ref = fmt.Sprintf("%.0f upserts/s", in.Reference.PerSec)
			refLat = lat(in.Reference)
		}
		row(p, "events/s", fmt.Sprintf("%.0f", in.Server.PerSec), ref, fmt.Sprintf("%.2f×", in.Ratio), goalMet("ingest rate"))
		row(p, "p50 / p95 / p99", lat(in.Server), refLat, "", goalMet("ingest latency"))
		row(p, "errors; server CPU per event", fmt.Sprintf("%d; %.2f ms", in.Server.Errors, in.CPUPerOp), "", "", "")
		row(p, "DB check", verifySummary(in.Verify), fmt.Sprintf("ref table %d/%d ok=%v", in.RefVerify.Users, in.RefVerify.WantUsers, in.RefVerify.OK), "", goalMet("ingest correctness"))
	}
	if d := r.Duplicates; d != nil && d.Server != nil {
		p := fmt.Sprintf("2 duplicates (%d events × 3)", d.Events)
		row(p, "deliveries/s (distinct events/s)", fmt.Sprintf("%.0f (%.0f)", d.Server.PerSec, d.EventsPerSec), "", "", "")
		row(p, "p50 / p95 / p99; server CPU per delivery", fmt.Sprintf("%s; %.2f ms", lat(d.Server), d.CPUPerOp), "", "", "")
		row(p, "errors; answered \"duplicate\"", fmt.Sprintf("%d; %d", d.Server.Errors, d.DuplicateAnswr), "", "", "0; 2 per event")
		row(p, "effect once", verifySummary(d.Verify), "", "", goalMet("duplicate storm"))
	}
	if rd := r.Reads; rd != nil {
		ref := rd.target("reference")
		p := fmt.Sprintf("3 warm reads (%d users)", rd.Users)
		for _, t := range rd.Targets {
			if t.Result == nil {
				continue
			}
			g := ""
			switch t.Name {
			case "mvp", "production":
				g = goalMet("warm reads, " + t.Name)
			case "naive":
				g = fmt.Sprintf("Clerk calls while measured: %d", t.ClerkGet)
			}
			refCell := ""
			if ref != nil && t != ref {
				refCell = fmt.Sprintf("%.0f/s, p99 %.1f ms", ref.Result.PerSec, ref.Result.P99ms)
			}
			row(p, "GET /api/me "+t.Name+" (req/s, p99)",
				fmt.Sprintf("%.0f/s, p99 %.1f ms, %d errors", t.Result.PerSec, t.Result.P99ms, t.Result.Errors),
				refCell, fmt.Sprintf("%.2f×", t.Ratio), g)
		}
	}
	if len(r.Counts) > 0 {
		for _, cr := range r.Counts {
			p := fmt.Sprintf("4 counts (%d req, %d users)", cr.Requests, cr.Users)
			g := ""
			switch cr.Scenario {
			case "mvp, cold":
				g = goalMet("Clerk calls, mvp")
			case "mvp, warm":
				g = goalMet("writes on warm requests")
			case "production, known users":
				g = goalMet("Clerk calls, production")
			}
			row(p, cr.Scenario,
				fmt.Sprintf("Clerk get_user %d (%.2f/user), jwks %d; users +%d ins, +%d upd; other tables %d",
					cr.ClerkGetUser, cr.ClerkPerUser, cr.ClerkJWKS, cr.UsersInserted, cr.UsersUpdated, cr.OtherWrites),
				"", "", g)
		}
	}
	for _, m := range r.Memory {
		row("5 memory", m.Part+": "+m.Server, fmt.Sprintf("peak %.1f MiB (end %.1f); CPU %.1f s", m.PeakMiB, m.EndMiB, m.CPUSec), "", "", "< 100 MiB: "+mark(m.PeakMiB < 100))
	}
	for _, m := range r.Micro {
		row("6 micro", m.Package+" "+m.Name, fmt.Sprintf("%s/op, %d B/op, %d allocs/op", nsString(m.NsPerOp), m.BytesPerOp, m.AllocsPerOp), "", "", "")
	}
	if len(r.Errors) > 0 {
		sb.WriteString("\nErrors:\n")
		for _, e := range r.Errors {
			sb.WriteString("- " + e + "\n")
		}
	}
	return sb.String()
}

func nsString(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
