// Command clerksync-bench measures clerksync end to end on loopback: the
// real server (a child process), the local Clerk stand-in and a real
// PostgreSQL. It prints one table and writes a JSON report. `make bench`
// builds and runs it; docs/benchmarks.md explains every figure.
//
// Parts:
//
//  1. webhook ingest against a plain pgx upsert loop (reference)
//  2. the same events, each delivered three times at once
//  3. warm authenticated reads (mvp, production) against a bench-only
//     route doing the same read without auth, and a naive handler
//  4. Clerk API calls and users-table writes per scenario
//  5. peak RSS of each server process
//  6. Go micro-benchmarks (go test -bench)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// options are the command-line settings of one run.
type options struct {
	DBURL        string        `json:"-"`
	Server       string        `json:"server"`
	OutDir       string        `json:"out_dir"`
	Results      string        `json:"results"`
	Quick        bool          `json:"quick"`
	Concurrency  int           `json:"concurrency"`
	Events       int           `json:"events"`
	ReadUsers    int           `json:"read_users"`
	Reads        int           `json:"reads"`
	Rounds       int           `json:"rounds"`
	CountUsers   int           `json:"count_users"`
	CountReqs    int           `json:"count_requests"`
	PoolMaxConns int           `json:"pool_max_conns"`
	Jobs         bool          `json:"jobs_enabled"`
	LogLevel     string        `json:"server_log_level"`
	Micro        bool          `json:"micro"`
	MicroTime    string        `json:"micro_benchtime"`
	GoCmd        string        `json:"-"`
	Parts        string        `json:"parts"`
	KeepDBs      bool          `json:"-"`
	Profile      bool          `json:"profile"`
	StatsSettle  time.Duration `json:"-"`
	SettleText   string        `json:"stats_settle_max"`
	ServerEnv    envList       `json:"server_env,omitempty"`
}

// envList collects repeated -server-env KEY=VALUE flags.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return errors.New("want KEY=VALUE")
	}
	*e = append(*e, v)
	return nil
}

func main() {
	// The bench binary doubles as a server when started with
	// -serve-child (see child.go); that mode reads the environment like
	// `clerksync serve` does.
	if len(os.Args) > 1 && os.Args[1] == childFlag {
		if err := runChild(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "clerksync-bench child: %v\n", err)
			os.Exit(1)
		}
		return
	}

	var o options
	fs := flag.NewFlagSet("clerksync-bench", flag.ExitOnError)
	fs.StringVar(&o.DBURL, "db", os.Getenv("DATABASE_URL"), "PostgreSQL server URL; a fresh database is created per part and dropped at the end (default $DATABASE_URL)")
	fs.StringVar(&o.Server, "server", "bin/clerksync", "clerksync binary to run as `clerksync serve` (child process); \"self\" runs this binary's built-in copy of serve on 127.0.0.1")
	fs.StringVar(&o.OutDir, "out", "bench/out", "directory for server logs, profiles and the raw report")
	fs.StringVar(&o.Results, "results", "bench/results.json", "JSON report path, besides the copy under -out (empty: none; -quick defaults to none)")
	fs.BoolVar(&o.Quick, "quick", false, "smoke run at about 1/10 of the default sizes")
	fs.IntVar(&o.Concurrency, "c", 32, "concurrent clients in every load phase")
	fs.IntVar(&o.Events, "events", 20000, "webhook events in parts 1 and 2 (a quarter of them are updates of users created in the others)")
	fs.IntVar(&o.ReadUsers, "read-users", 1000, "signed-in users (hour-long tokens, rows synced) in part 3")
	fs.IntVar(&o.Reads, "reads", 20000, "measured GET /api/me requests per target in part 3")
	fs.IntVar(&o.Rounds, "rounds", 4, "part 3 interleaves the targets in this many rounds, to spread noise evenly")
	fs.IntVar(&o.CountUsers, "count-users", 100, "users in part 4")
	fs.IntVar(&o.CountReqs, "count-requests", 10000, "requests per scenario in part 4")
	fs.IntVar(&o.PoolMaxConns, "pool-max-conns", 0, "pool_max_conns for the server and the references (0: pgx's default, max(4, CPUs))")
	fs.BoolVar(&o.Jobs, "jobs", true, "JOBS_ENABLED of the server (River workers run the jobs that webhooks insert, during the ingest)")
	fs.StringVar(&o.LogLevel, "server-log-level", "info", "LOG_LEVEL of the server (its log goes to -out)")
	fs.BoolVar(&o.Micro, "micro", true, "run the Go micro-benchmarks (part 6)")
	fs.StringVar(&o.MicroTime, "benchtime", "1s", "-benchtime of the micro-benchmarks")
	fs.StringVar(&o.GoCmd, "go", "go", "go command for part 6")
	fs.StringVar(&o.Parts, "parts", "1,2,3,4,6", "parts to run (5, memory, is read during the others)")
	fs.BoolVar(&o.KeepDBs, "keep-dbs", false, "keep the bench databases for inspection")
	fs.BoolVar(&o.Profile, "profile", false, "run servers with -server self and write a CPU profile per server to -out")
	fs.DurationVar(&o.StatsSettle, "stats-settle", 11*time.Second, "longest wait for PostgreSQL's table statistics to be flushed (idle backends flush within 10s)")
	fs.Var(&o.ServerEnv, "server-env", "extra KEY=VALUE for the server's environment (repeatable), to try a setting")
	fs.Parse(os.Args[1:])

	if o.Quick {
		setIfDefault(fs, "events", &o.Events, 2000)
		setIfDefault(fs, "read-users", &o.ReadUsers, 100)
		setIfDefault(fs, "reads", &o.Reads, 2000)
		setIfDefault(fs, "rounds", &o.Rounds, 2)
		setIfDefault(fs, "count-requests", &o.CountReqs, 1000)
		if !isSet(fs, "benchtime") {
			o.MicroTime = "100ms"
		}
		if !isSet(fs, "results") {
			o.Results = "" // a smoke run does not replace the committed report
		}
	}
	if o.Profile {
		o.Server = "self"
	}
	o.SettleText = o.StatsSettle.String()
	if o.DBURL == "" {
		log.Fatal("no database: pass -db or set DATABASE_URL (`make bench` starts one)")
	}
	if o.Concurrency < 1 || o.Events < 4 || o.ReadUsers < 1 || o.Reads < 1 || o.Rounds < 1 || o.CountUsers < 1 || o.CountReqs < 1 {
		log.Fatal("counts and concurrency must be positive (events at least 4)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, o); err != nil {
		log.Fatalf("clerksync-bench: %v", err)
	}
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func setIfDefault(fs *flag.FlagSet, name string, dst *int, v int) {
	if !isSet(fs, name) {
		*dst = v
	}
}

// run sets up what every part shares and runs the parts in order.
func run(ctx context.Context, o options) error {
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench: ")
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return err
	}
	if o.Server != "self" {
		if _, err := os.Stat(o.Server); err != nil {
			return fmt.Errorf("server binary %s: %w (run `make bench`, or pass -server self)", o.Server, err)
		}
	}
	parts := map[string]bool{}
	for _, p := range strings.Split(o.Parts, ",") {
		parts[strings.TrimSpace(p)] = true
	}

	started := time.Now()
	b, err := newBench(ctx, o)
	if err != nil {
		return err
	}
	defer b.close()

	rep := &report{
		GeneratedAt: started.UTC().Format(time.RFC3339),
		Options:     o,
		Machine:     b.machine(ctx),
	}
	rep.ServerMode = b.serverMode()
	log.Printf("machine: %d CPUs, %s, %s, PostgreSQL %s; server: %s",
		rep.Machine.NProc, rep.Machine.CPUModel, rep.Machine.GoVersion, rep.Machine.PGVersion, rep.ServerMode)

	step := func(name string, f func() error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.Now()
		log.Printf("== %s", name)
		err := f()
		log.Printf("== %s done in %s", name, time.Since(t).Round(100*time.Millisecond))
		return err
	}
	var errs []error
	if parts["1"] {
		errs = append(errs, step("part 1: webhook ingest", func() (err error) {
			rep.Ingest, err = b.partIngest(ctx)
			return err
		}))
	}
	if parts["2"] {
		errs = append(errs, step("part 2: duplicate storm", func() (err error) {
			rep.Duplicates, err = b.partDuplicates(ctx)
			return err
		}))
	}
	if parts["3"] {
		errs = append(errs, step("part 3: authenticated reads", func() (err error) {
			rep.Reads, err = b.partReads(ctx)
			return err
		}))
	}
	if parts["4"] {
		errs = append(errs, step("part 4: counts", func() (err error) {
			rep.Counts, err = b.partCounts(ctx)
			return err
		}))
	}
	if parts["6"] && o.Micro {
		errs = append(errs, step("part 6: micro-benchmarks", func() (err error) {
			rep.Micro, err = b.partMicro(ctx)
			return err
		}))
	}
	rep.Memory = b.memory
	rep.BenchProcess = selfMemory()
	rep.Elapsed = time.Since(started).Round(time.Second).String()
	rep.evaluate()
	for _, err := range errs {
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		}
	}

	table := rep.table()
	fmt.Println()
	fmt.Print(table)
	if err := writeReport(rep, table, o); err != nil {
		return err
	}
	if len(rep.Errors) > 0 {
		return errors.New(strings.Join(rep.Errors, "; "))
	}
	return nil
}

// writeReport writes the JSON report to -out and -results, and the table
// to -out.
func writeReport(rep *report, table string, o options) error {
	js, err := rep.json()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.OutDir, "results.json"), js, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.OutDir, "table.md"), []byte(table), 0o644); err != nil {
		return err
	}
	if o.Results != "" {
		if err := os.MkdirAll(filepath.Dir(o.Results), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.Results, js, 0o644); err != nil {
			return err
		}
		log.Printf("wrote %s and %s", o.Results, filepath.Join(o.OutDir, "table.md"))
	}
	return nil
}
