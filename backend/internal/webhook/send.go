package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

// Overrides change fields of an example user event before it is sent.
// Zero values leave the example as it is.
type Overrides struct {
	UserID    string
	Email     string
	FirstName string
	LastName  string
	UpdatedAt int64 // Unix milliseconds
}

// Customize applies o to body's data object.
func Customize(body []byte, o Overrides) ([]byte, error) {
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("payload is not a JSON object: %w", err)
	}
	data, ok := ev["data"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("payload has no data object")
	}

	set := func(key, v string) {
		if v != "" {
			data[key] = v
		}
	}
	set("id", o.UserID)
	set("first_name", o.FirstName)
	set("last_name", o.LastName)
	if o.Email != "" {
		data["primary_email_address_id"] = "idn_sent_primary"
		data["email_addresses"] = []any{map[string]any{
			"id": "idn_sent_primary", "object": "email_address",
			"email_address": o.Email,
			"verification":  map[string]any{"status": "verified", "strategy": "email_code"},
		}}
	}
	if o.UpdatedAt != 0 {
		data["updated_at"] = o.UpdatedAt
	}
	return json.Marshal(ev)
}

// Sign returns the headers Svix would send with body.
func Sign(secret string, body []byte, now time.Time) (http.Header, error) {
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("signing secret is not whsec_ and base64")
	}
	id := make([]byte, 12)
	rand.Read(id)
	msgID := "msg_" + hex.EncodeToString(id)

	sig, err := wh.Sign(msgID, now, body)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	h := http.Header{}
	h.Set("svix-id", msgID)
	h.Set("svix-timestamp", fmt.Sprint(now.Unix()))
	h.Set("svix-signature", sig)
	h.Set("Content-Type", "application/json")
	return h, nil
}

// Send signs body with secret and posts it to url, returning the status
// and the response body.
func Send(ctx context.Context, url, secret string, body []byte) (int, []byte, error) {
	h, err := Sign(secret, body, time.Now())
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = h

	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, out, nil
}
