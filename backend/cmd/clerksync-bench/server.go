package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverProc is one clerksync server running as a child process.
type serverProc struct {
	name    string
	part    string
	phase   string
	base    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	exited  chan struct{}
	waitErr error
}

func (b *bench) serverMode() string {
	if b.o.Server == "self" {
		mode := "child process: clerksync-bench " + childFlag + " (the same wiring as `clerksync serve`: config.Load, app.New, Serve), listening on 127.0.0.1"
		if b.o.Profile {
			mode += ", CPU profile per server"
		}
		return mode
	}
	return "child process: " + b.o.Server + " serve (the real binary, built by make), HOST=127.0.0.1"
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startServer runs a server in phase against dbURL and waits until its
// /readyz answers 200.
func (b *bench) startServer(ctx context.Context, part, name, phase, dbURL string) (*serverProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"HOST=127.0.0.1",
		"PORT=" + strconv.Itoa(port),
		"DATABASE_URL=" + dbURL,
		"SYNC_PHASE=" + phase,
		"CLERK_SECRET_KEY=" + secretKey,
		"CLERK_API_URL=" + b.emuURL,
		"CLERK_WEBHOOK_SIGNING_SECRET=" + b.whSecret,
		"JOBS_ENABLED=" + strconv.FormatBool(b.o.Jobs),
		"LOG_LEVEL=" + b.o.LogLevel,
		"LOG_FORMAT=json",
		"MAIL_DRIVER=log",
	}
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		env = append(env, "GOMAXPROCS="+v)
	}
	env = append(env, b.o.ServerEnv...)

	var cmd *exec.Cmd
	if b.o.Server == "self" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		args := []string{childFlag}
		if b.o.Profile {
			prof, _ := filepath.Abs(filepath.Join(b.o.OutDir, fmt.Sprintf("cpu-%s-%s.pprof", part, name)))
			args = append(args, "-cpuprofile", prof)
		}
		cmd = exec.Command(self, args...)
	} else {
		cmd = exec.Command(b.o.Server, "serve")
	}
	cmd.Env = env
	logPath := filepath.Join(b.o.OutDir, fmt.Sprintf("server-%s-%s.log", part, name))
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	// Its own process group: Ctrl-C reaches the bench, which stops the
	// server gracefully.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &serverProc{
		name: name, part: part, phase: phase, cmd: cmd, logPath: logPath, logFile: lf,
		base:   fmt.Sprintf("http://127.0.0.1:%d", port),
		exited: make(chan struct{}),
	}
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server %s exited at start-up (%v); log %s:\n%s", name, s.waitErr, logPath, tail(logPath, 15))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := b.client.Get(s.base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				log.Printf("server %s (%s, pid %d) ready on %s", name, phase, cmd.Process.Pid, s.base)
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("server %s not ready after 90s; log %s:\n%s", name, logPath, tail(logPath, 15))
		}
	}
}

// memory reads the process's VmHWM and VmRSS.
func (s *serverProc) memory() (peak, rss float64) {
	return procMemory(s.cmd.Process.Pid)
}

// stop reads the server's peak memory, records it, then stops it with
// SIGTERM (graceful shutdown), killing it after 30s.
func (b *bench) stopServer(s *serverProc, note string) {
	peak, rss := s.memory()
	cpu := procCPU(s.cmd.Process.Pid)
	b.memory = append(b.memory, memoryRow{
		Part: s.part, Server: s.name + " (" + s.phase + ")", PeakMiB: round1(peak), EndMiB: round1(rss),
		CPUSec: round1(cpu), Note: note,
	})
	log.Printf("server %s stopped: peak RSS %.1f MiB, RSS at end %.1f MiB, CPU %.1f s", s.name, peak, rss, cpu)
	s.stop()
}

func (s *serverProc) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.logFile.Close()
}

// metrics scrapes the server's Prometheus counters whose name starts with
// one of the prefixes, keyed by name{labels}.
func (b *bench) metrics(s *serverProc, prefixes ...string) (promSample, error) {
	resp, err := b.client.Get(s.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: status %d", resp.StatusCode)
	}
	out := promSample{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		keep := false
		for _, p := range prefixes {
			keep = keep || strings.HasPrefix(line, p)
		}
		if !keep {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// promSample maps name{labels} to a value.
type promSample map[string]float64

// sum adds the series of name whose labels contain every given
// key="value" pair.
func (p promSample) sum(name string, labels ...string) float64 {
	var t float64
	for k, v := range p {
		n, rest, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if ok {
			t += v
		}
	}
	return t
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
