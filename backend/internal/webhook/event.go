package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/clerk/clerk-sdk-go/v2"

	"github.com/clerksync/clerksync/backend/internal/clerkapi"
	"github.com/clerksync/clerksync/backend/internal/user"
)

// The event types clerksync applies.
const (
	TypeUserCreated    = "user.created"
	TypeUserUpdated    = "user.updated"
	TypeUserDeleted    = "user.deleted"
	TypeSessionCreated = "session.created"
)

// ErrUnusable marks a verified body clerksync cannot use: a retry would
// bring the same bytes, so it is recorded as failed for a person.
var ErrUnusable = errors.New("unusable event")

// Event is a decoded Clerk webhook envelope.
type Event struct {
	Type       string          `json:"type"`
	Object     string          `json:"object"`
	Data       json.RawMessage `json:"data"`
	InstanceID string          `json:"instance_id"`
	Attributes struct {
		HTTPRequest struct {
			ClientIP  string `json:"client_ip"`
			UserAgent string `json:"user_agent"`
		} `json:"http_request"`
	} `json:"event_attributes"`

	// user caches the decoded user: the core and every hook ask for it.
	user *decodedUser
}

type decodedUser struct {
	once sync.Once
	snap user.Snapshot
	err  error
}

// DecodeEvent parses the envelope. Errors wrap ErrUnusable.
func DecodeEvent(body []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Event{}, fmt.Errorf("%w: body is not a JSON event: %v", ErrUnusable, err)
	}
	if ev.Type == "" {
		return Event{}, fmt.Errorf("%w: no type", ErrUnusable)
	}
	ev.user = &decodedUser{}
	return ev, nil
}

// UserSnapshot decodes the data of user.created or user.updated, once
// per decoded event.
func (ev Event) UserSnapshot() (user.Snapshot, error) {
	if ev.user == nil {
		return ev.decodeUser()
	}
	ev.user.once.Do(func() { ev.user.snap, ev.user.err = ev.decodeUser() })
	return ev.user.snap, ev.user.err
}

func (ev Event) decodeUser() (user.Snapshot, error) {
	var u clerk.User
	if err := json.Unmarshal(ev.Data, &u); err != nil {
		return user.Snapshot{}, fmt.Errorf("%w: data is not a user: %v", ErrUnusable, err)
	}
	s, err := clerkapi.SnapshotFromUser(&u)
	if err != nil {
		return user.Snapshot{}, fmt.Errorf("%w: %v", ErrUnusable, err)
	}
	return s, nil
}

// DeletedUserID returns the id in user.deleted's data, which carries only
// id, object, deleted and external_id.
func (ev Event) DeletedUserID() (string, error) {
	var d struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return "", fmt.Errorf("%w: data is not a deleted object: %v", ErrUnusable, err)
	}
	return d.ID, nil
}

// SubjectUserID returns the Clerk user the event is about, for the
// record, or "" when the data does not say.
func (ev Event) SubjectUserID() string {
	var d struct {
		ID     string `json:"id"`
		UserID string `json:"user_id"`
		Object string `json:"object"`
	}
	if json.Unmarshal(ev.Data, &d) != nil {
		return ""
	}
	switch {
	case d.Object == "user" && user.ValidID(d.ID):
		return d.ID
	case user.ValidID(d.UserID):
		return d.UserID
	}
	return ""
}
