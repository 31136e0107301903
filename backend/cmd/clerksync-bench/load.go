package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is what one load phase measured.
type loadResult struct {
	Requests int            `json:"requests"`
	Errors   int            `json:"errors"`
	Seconds  float64        `json:"seconds"`
	PerSec   float64        `json:"per_second"`
	P50ms    float64        `json:"p50_ms"`
	P95ms    float64        `json:"p95_ms"`
	P99ms    float64        `json:"p99_ms"`
	Maxms    float64        `json:"max_ms"`
	Statuses map[string]int `json:"statuses"`
	FirstErr string         `json:"first_error,omitempty"`

	lat []time.Duration
}

// merge adds another phase's requests (rounds of one target).
func (r *loadResult) merge(o *loadResult) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.Seconds += o.Seconds
	r.lat = append(r.lat, o.lat...)
	if r.Statuses == nil {
		r.Statuses = map[string]int{}
	}
	for k, v := range o.Statuses {
		r.Statuses[k] += v
	}
	if r.FirstErr == "" {
		r.FirstErr = o.FirstErr
	}
	r.finish()
}

// finish computes the rate and the percentiles (nearest rank over every
// request; no sampling).
func (r *loadResult) finish() {
	r.Seconds = round3(r.Seconds)
	if r.Seconds > 0 {
		r.PerSec = round1(float64(r.Requests) / r.Seconds)
	}
	if len(r.lat) == 0 {
		return
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		i = max(0, min(i, len(s)-1))
		return float64(s[i].Microseconds()) / 1000
	}
	r.P50ms, r.P95ms, r.P99ms, r.Maxms = at(0.50), at(0.95), at(0.99), at(1)
}

// request builds request i of a phase.
type request func(ctx context.Context, i int) (*http.Request, error)

// runLoad sends n requests from conc workers, each taking the next index
// as soon as its previous request is answered (a closed loop: requests in
// flight never exceed conc). A request is an error unless its status is
// 2xx and check, when set, accepts the body.
func runLoad(ctx context.Context, client *http.Client, n, conc int, build request, check func(i int, body []byte) error) *loadResult {
	r := &loadResult{Requests: n, lat: make([]time.Duration, n), Statuses: map[string]int{}}
	var (
		next     atomic.Int64
		errs     atomic.Int64
		mu       sync.Mutex
		firstErr string
		wg       sync.WaitGroup
	)
	statuses := make([]int, n)
	fail := func(msg string) {
		errs.Add(1)
		mu.Lock()
		if firstErr == "" {
			firstErr = msg
		}
		mu.Unlock()
	}

	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 4096)
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				req, err := build(ctx, i)
				if err != nil {
					fail(err.Error())
					continue
				}
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					r.lat[i] = time.Since(t)
					fail(err.Error())
					continue
				}
				buf, err = readAll(resp.Body, buf[:0])
				resp.Body.Close()
				r.lat[i] = time.Since(t)
				statuses[i] = resp.StatusCode
				switch {
				case err != nil:
					fail(err.Error())
				case resp.StatusCode < 200 || resp.StatusCode > 299:
					fail(fmt.Sprintf("status %d: %.200s", resp.StatusCode, buf))
				case check != nil:
					if err := check(i, buf); err != nil {
						fail(err.Error())
					}
				}
			}
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	if done := int(min(next.Load(), int64(n))); done < n {
		r.Requests = done
		r.lat = r.lat[:done]
		statuses = statuses[:done]
	}
	for _, s := range statuses {
		r.Statuses[fmt.Sprint(s)]++
	}
	r.Errors = int(errs.Load())
	r.FirstErr = firstErr
	r.finish()
	return r
}

// readAll reads a body into buf, reusing its storage.
func readAll(rd io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// timeLoop runs n calls of f from conc workers and measures them like
// runLoad does, for the database reference (no HTTP).
func timeLoop(ctx context.Context, n, conc int, f func(ctx context.Context, i int) error) *loadResult {
	r := &loadResult{Requests: n, lat: make([]time.Duration, n), Statuses: map[string]int{}}
	var (
		next     atomic.Int64
		errs     atomic.Int64
		mu       sync.Mutex
		firstErr string
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				err := f(ctx, i)
				r.lat[i] = time.Since(t)
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.Errors = int(errs.Load())
	r.FirstErr = firstErr
	r.Statuses = nil
	r.finish()
	return r
}
