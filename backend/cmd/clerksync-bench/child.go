package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/clerksync/clerksync/backend/internal/app"
	"github.com/clerksync/clerksync/backend/internal/config"
)

// childFlag starts the bench binary as a server: the same steps as
// `clerksync serve` (settings from the environment, app.New, Serve), but
// listening on 127.0.0.1 only and able to write a CPU profile. -server
// self and -profile use it.
const childFlag = "-serve-child"

func runChild(args []string) error {
	fs := flag.NewFlagSet("serve-child", flag.ContinueOnError)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server's whole life here")
	if err := fs.Parse(args); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", cfg.Port))
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}
