package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clerksync/clerksync/backend/internal/clerkemu"
	"github.com/clerksync/clerksync/backend/internal/postgres"
)

// secretKey is the stand-in's Backend API key; a test key, as the
// stand-in refuses live ones.
const secretKey = "sk_test_clerksyncbench"

// bench holds what the parts share: the database server, the Clerk
// stand-in on loopback, an HTTP client, and the servers' memory figures.
type bench struct {
	o       options
	runID   string
	server  string // PostgreSQL server URL
	admin   *pgx.Conn
	tmpl    string
	created []string

	emu      *clerkemu.Server
	emuURL   string
	emuSrv   *http.Server
	emuConns atomic.Int64 // TCP connections the stand-in accepted
	whSecret string
	client   *http.Client
	memory   []memoryRow
	userSeq  atomic.Int64
}

// memoryRow is one server process's memory when it stopped.
type memoryRow struct {
	Part    string  `json:"part"`
	Server  string  `json:"server"`
	PeakMiB float64 `json:"peak_rss_mib"`
	EndMiB  float64 `json:"rss_at_end_mib"`
	CPUSec  float64 `json:"cpu_seconds"`
	Note    string  `json:"note,omitempty"`
}

func newBench(ctx context.Context, o options) (*bench, error) {
	b := &bench{o: o, runID: randomHex(3), server: o.DBURL}
	var err error
	b.admin, err = pgx.Connect(ctx, o.DBURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(o.DBURL), err)
	}
	if err := b.buildTemplate(ctx); err != nil {
		b.close()
		return nil, err
	}

	b.emu, err = clerkemu.New(clerkemu.Options{SecretKey: secretKey})
	if err != nil {
		b.close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.close()
		return nil, err
	}
	b.emuURL = "http://" + ln.Addr().String()
	b.emuSrv = &http.Server{
		Handler:           b.emu.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				b.emuConns.Add(1)
			}
		},
	}
	go b.emuSrv.Serve(ln)

	key := make([]byte, 32)
	rand.Read(key)
	b.whSecret = "whsec_" + base64.StdEncoding.EncodeToString(key)
	b.client = newClient(o.Concurrency)
	return b, nil
}

// newClient returns a keep-alive client that holds a connection per
// worker, so that load phases measure requests, not TCP handshakes.
func newClient(conc int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * conc,
		MaxIdleConnsPerHost: 2 * conc,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

func (b *bench) close() {
	if b.emuSrv != nil {
		b.emuSrv.Close()
	}
	if b.emu != nil {
		b.emu.Close()
	}
	if b.admin == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if !b.o.KeepDBs {
		for _, name := range append(b.created, b.tmpl) {
			if name != "" {
				b.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			}
		}
	} else {
		log.Printf("kept databases: %s", strings.Join(append(b.created, b.tmpl), ", "))
	}
	b.admin.Close(ctx)
}

// buildTemplate migrates one database that every part's database is
// copied from, like pgtest does for tests.
func (b *bench) buildTemplate(ctx context.Context) error {
	b.tmpl = "bench_" + b.runID + "_tmpl"
	if _, err := b.admin.Exec(ctx, "CREATE DATABASE "+b.tmpl); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	db, err := postgres.Open(ctx, b.dbURL(b.tmpl))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.MigrateUp(ctx, nil); err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

// freshDB creates a migrated database for one part and returns its URL.
func (b *bench) freshDB(ctx context.Context, part string) (string, error) {
	name := "bench_" + b.runID + "_" + part
	if _, err := b.admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, b.tmpl)); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	b.created = append(b.created, name)
	return b.dbURL(name), nil
}

// dbURL points the server URL at another database, with the pool size
// asked for.
func (b *bench) dbURL(name string) string {
	u, err := url.Parse(b.server)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	if b.o.PoolMaxConns > 0 {
		q := u.Query()
		q.Set("pool_max_conns", strconv.Itoa(b.o.PoolMaxConns))
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// newUserID returns a fresh Clerk-like user id.
func (b *bench) newUserID(prefix string) string {
	return fmt.Sprintf("user_bench%s%s%07d", b.runID, prefix, b.userSeq.Add(1))
}

// machineInfo describes where the run happened.
type machineInfo struct {
	NProc     int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	MemTotal  string `json:"mem_total"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	GOARCH    string `json:"goarch"`
	PGVersion string `json:"pg_version"`
	PGFull    string `json:"pg_version_full"`
}

func (b *bench) machine(ctx context.Context) machineInfo {
	m := machineInfo{
		NProc:     runtime.NumCPU(),
		CPUModel:  procField("/proc/cpuinfo", "model name"),
		MemTotal:  procField("/proc/meminfo", "MemTotal"),
		GoVersion: runtime.Version(),
		GOARCH:    runtime.GOOS + "/" + runtime.GOARCH,
	}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(k))
	}
	b.admin.QueryRow(ctx, "SHOW server_version").Scan(&m.PGVersion)
	b.admin.QueryRow(ctx, "SELECT version()").Scan(&m.PGFull)
	return m
}

// procField returns the first "key: value" of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// procMemory returns VmHWM (peak resident set) and VmRSS of a process in
// MiB.
func procMemory(pid int) (peak, rss float64) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	kb := func(key string) float64 {
		f := strings.Fields(procField(path, key))
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseFloat(f[0], 64)
		return n / 1024
	}
	return kb("VmHWM"), kb("VmRSS")
}

// procCPU returns the user plus system CPU time a process has used, in
// seconds (from /proc/<pid>/stat, in clock ticks of 1/100 s).
func procCPU(pid int) float64 {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis (state is field 3, utime 14, stime 15).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

func selfMemory() memoryRow {
	peak, rss := procMemory(0)
	return memoryRow{Part: "all", Server: "clerksync-bench (load generator, stand-in, references)",
		PeakMiB: round1(peak), EndMiB: round1(rss), CPUSec: round1(procCPU(0))}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
