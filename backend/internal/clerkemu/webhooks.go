package clerkemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// maxReplyBytes bounds how much of a webhook reply body is drained.
const maxReplyBytes = 64 << 10

// Delivery records one webhook delivery attempt.
type Delivery struct {
	// SvixID is the svix-id header, shared by the retries of one event.
	SvixID string
	// EventType is the event's type, such as "user.created".
	EventType string
	// Attempt counts the attempts for this event, from 1.
	Attempt int
	// StatusCode is the receiver's status, 0 when the request failed.
	StatusCode int
	// Err describes a transport failure, empty otherwise.
	Err string
	// At is when the attempt was made.
	At time.Time
}

// message is one event awaiting delivery.
type message struct {
	id        string
	eventType string
	payload   []byte
}

// event is the JSON body of a Clerk webhook.
type event struct {
	Data            json.RawMessage `json:"data"`
	Object          string          `json:"object"`
	Type            string          `json:"type"`
	Timestamp       int64           `json:"timestamp"`
	InstanceID      string          `json:"instance_id"`
	EventAttributes eventAttributes `json:"event_attributes"`
}

// eventAttributes describes the request that caused an event.
type eventAttributes struct {
	HTTPRequest httpRequestAttributes `json:"http_request"`
}

// httpRequestAttributes is the http_request of eventAttributes.
type httpRequestAttributes struct {
	ClientIP  string `json:"client_ip"`
	UserAgent string `json:"user_agent"`
}

// Emit delivers an event of any type with data as its payload, signed
// and retried like every other webhook, unless no WebhookURL is set or
// the server is closed.
func (s *Server) Emit(eventType string, data any) {
	if s.opts.WebhookURL == "" {
		return
	}

	payload, err := eventPayload(eventType, data)
	if err != nil {
		s.log.Error("clerkemu encode webhook", "event_type", eventType,
			"err", err)
		return
	}

	m := message{id: randomID("msg_"), eventType: eventType,
		payload: payload}
	if !s.startDelivery() {
		return
	}

	go func() {
		defer s.wg.Done()
		s.deliver(m)
	}()
}

// Deliveries returns a copy of the record of delivery attempts.
func (s *Server) Deliveries() []Delivery {
	s.delivMu.Lock()
	defer s.delivMu.Unlock()
	return slices.Clone(s.deliveries)
}

// eventPayload encodes the webhook body for data.
func eventPayload(eventType string, data any) ([]byte, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode event data: %w", err)
	}

	return json.Marshal(event{
		Data:       raw,
		Object:     "event",
		Type:       eventType,
		Timestamp:  time.Now().UnixMilli(),
		InstanceID: "ins_dev",
		EventAttributes: eventAttributes{
			HTTPRequest: httpRequestAttributes{
				ClientIP:  "127.0.0.1",
				UserAgent: "clerkemu",
			},
		},
	})
}

// startDelivery registers a delivery goroutine unless Close was called.
func (s *Server) startDelivery() bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()

	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// deliver attempts m until a 2xx reply, the retry schedule runs out or
// the server is closed.
func (s *Server) deliver(m message) {
	schedule := s.opts.RetrySchedule

	for attempt := 1; ; attempt++ {
		if s.ctx.Err() != nil || s.attempt(m, attempt) {
			return
		}

		if attempt > len(schedule) {
			s.log.Warn("clerkemu webhook gave up", "svix_id", m.id,
				"event_type", m.eventType, "attempts", attempt)
			return
		}

		if !s.wait(schedule[attempt-1]) {
			return
		}
	}
}

// wait sleeps for d, returning false if the server closes first.
func (s *Server) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()

	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// attempt posts m once, records the outcome and reports success.
func (s *Server) attempt(m message, n int) bool {
	status, err := s.post(m)
	if err != nil && s.ctx.Err() != nil {
		return false // closed mid-attempt: not a receiver failure
	}

	d := Delivery{
		SvixID:     m.id,
		EventType:  m.eventType,
		Attempt:    n,
		StatusCode: status,
		At:         time.Now(),
	}
	if err != nil {
		d.Err = err.Error()
	}
	s.record(d)

	ok := err == nil && status >= 200 && status < 300
	s.log.Debug("clerkemu webhook attempt", "svix_id", m.id,
		"event_type", m.eventType, "attempt", n, "status", status,
		"ok", ok, "err", err)
	return ok
}

// post sends m, signed with the current time, and returns the status.
func (s *Server) post(m message) (int, error) {
	now := time.Now()
	sig, err := s.signer.Sign(m.id, now, m.payload)
	if err != nil {
		return 0, fmt.Errorf("sign webhook: %w", err)
	}

	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost,
		s.opts.WebhookURL, bytes.NewReader(m.payload))
	if err != nil {
		return 0, fmt.Errorf("build webhook request: %w", err)
	}

	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "clerkemu")
	req.Header.Set("svix-id", m.id)
	req.Header.Set("svix-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("svix-signature", sig)

	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()

	io.Copy(io.Discard, io.LimitReader(resp.Body, maxReplyBytes))
	return resp.StatusCode, nil
}

// record appends d to the delivery log.
func (s *Server) record(d Delivery) {
	s.delivMu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.delivMu.Unlock()
}
