package app_test

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// mailbox is a real SMTP server on loopback that keeps what it receives
// and can be told to refuse the next messages.
type mailbox struct {
	mu       sync.Mutex
	messages []mailMessage
	refuse   int
	url      string
}

type mailMessage struct {
	From string
	To   []string
	Data string
}

func newMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(mb)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	mb.url = "smtp://" + ln.Addr().String() + "?tls=none"
	return mb
}

// failNext makes the next n messages fail with a temporary error.
func (m *mailbox) failNext(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refuse = n
}

func (m *mailbox) received() []mailMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mailMessage(nil), m.messages...)
}

// NewSession implements smtp.Backend.
func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &mailSession{box: m}, nil
}

type mailSession struct {
	box *mailbox
	msg mailMessage
}

func (s *mailSession) Reset()        { s.msg = mailMessage{} }
func (s *mailSession) Logout() error { return nil }

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.msg.From = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	if s.box.refuse > 0 {
		s.box.refuse--
		return &smtp.SMTPError{Code: 451, Message: "try again later"}
	}
	s.msg.Data = b.String()
	s.box.messages = append(s.box.messages, s.msg)
	return nil
}
