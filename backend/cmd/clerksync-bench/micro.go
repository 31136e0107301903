package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// microPackages hold the *_bench_test.go files.
var microPackages = []string{
	"./backend/internal/webhook",
	"./backend/internal/clerkapi",
	"./backend/internal/postgres",
}

// microResult is one Go benchmark.
type microResult struct {
	Package     string  `json:"package"`
	Name        string  `json:"name"`
	Iterations  int64   `json:"iterations"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  int64   `json:"bytes_per_op"`
	AllocsPerOp int64   `json:"allocs_per_op"`
}

// partMicro runs `go test -bench` on the packages with micro-benchmarks,
// the database ones against the same server (pgtest makes a database).
func (b *bench) partMicro(ctx context.Context) ([]microResult, error) {
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem",
		"-benchtime", b.o.MicroTime, "-count", "1"}, microPackages...)
	cmd := exec.CommandContext(ctx, b.o.GoCmd, args...)
	cmd.Env = append(os.Environ(), "TEST_DATABASE_URL="+b.server)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	log.Printf("%s %s", b.o.GoCmd, strings.Join(args, " "))
	runErr := cmd.Run()
	os.WriteFile(filepath.Join(b.o.OutDir, "micro.txt"), out.Bytes(), 0o644)

	var res []microResult
	pkg := ""
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/clerksync/clerksync/")
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "ns/op" {
			continue
		}
		m := microResult{Package: pkg, Name: strings.TrimPrefix(f[0], "Benchmark")}
		if i := strings.LastIndexByte(m.Name, '-'); i > 0 {
			m.Name = m.Name[:i] // the GOMAXPROCS suffix
		}
		m.Iterations, _ = strconv.ParseInt(f[1], 10, 64)
		m.NsPerOp, _ = strconv.ParseFloat(f[2], 64)
		for i := 4; i+1 < len(f); i += 2 {
			switch f[i+1] {
			case "B/op":
				m.BytesPerOp, _ = strconv.ParseInt(f[i], 10, 64)
			case "allocs/op":
				m.AllocsPerOp, _ = strconv.ParseInt(f[i], 10, 64)
			}
		}
		res = append(res, m)
	}
	if runErr != nil {
		return res, fmt.Errorf("go test -bench: %v (output in %s):\n%s", runErr,
			filepath.Join(b.o.OutDir, "micro.txt"), lastLines(out.String(), 20))
	}
	return res, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
