// Package mail renders clerksync's emails from embedded templates and
// sends them through SMTP (with go-mail) or, in development, to the log.
package mail

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	gomail "github.com/wneessen/go-mail"
)

//go:embed templates/*.tmpl
var templates embed.FS

// Message is a rendered email.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Data is what the templates may use.
type Data struct {
	AppName   string
	FirstName string
	NextStep  string
}

// Render builds the message of kind (the template name, e.g. "welcome")
// for one recipient.
func Render(kind, to string, d Data) (Message, error) {
	subject, err := renderText(kind+".subject.tmpl", d)
	if err != nil {
		return Message{}, err
	}
	text, err := renderText(kind+".txt.tmpl", d)
	if err != nil {
		return Message{}, err
	}
	html, err := htmltemplate.ParseFS(templates, "templates/"+kind+".html.tmpl")
	if err != nil {
		return Message{}, fmt.Errorf("parse %s html: %w", kind, err)
	}
	var b bytes.Buffer
	if err := html.Execute(&b, d); err != nil {
		return Message{}, fmt.Errorf("render %s html: %w", kind, err)
	}
	return Message{To: to, Subject: strings.TrimSpace(subject), Text: text, HTML: b.String()}, nil
}

func renderText(name string, d Data) (string, error) {
	t, err := texttemplate.ParseFS(templates, "templates/"+name)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return b.String(), nil
}

// Sender delivers a message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Deliver sends m and, on failure, returns the error with the recipient's
// address replaced: job systems keep error texts in their tables, where
// an erasure does not reach.
func Deliver(ctx context.Context, s Sender, m Message) error {
	if err := s.Send(ctx, m); err != nil {
		return errors.New(strings.ReplaceAll(err.Error(), m.To, "<recipient>"))
	}
	return nil
}

// LogSender writes that an email would be sent. The address is logged
// only at debug level.
type LogSender struct {
	Logger *slog.Logger
}

// Send logs the message's subject, and its recipient at debug level.
func (s LogSender) Send(ctx context.Context, m Message) error {
	s.Logger.InfoContext(ctx, "mail: would send email (MAIL_DRIVER=log)", "subject", m.Subject)
	s.Logger.DebugContext(ctx, "mail: recipient", "to", m.To)
	return nil
}

// SMTPSender sends through an SMTP server.
type SMTPSender struct {
	from string
	host string
	opts []gomail.Option
}

// NewSMTPSender parses SMTP_URL: smtp://[user:pass@]host[:port] uses
// STARTTLS when the server offers it (?tls=required insists, ?tls=none
// never tries), smtps:// uses TLS from the start (port 465).
func NewSMTPSender(rawURL, from string) (*SMTPSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("not a URL like smtp://user:pass@host:587")
	}

	opts := []gomail.Option{gomail.WithTimeout(10 * time.Second)}
	port := 587
	switch u.Scheme {
	case "smtp":
		policy := gomail.TLSOpportunistic
		switch u.Query().Get("tls") {
		case "required":
			policy = gomail.TLSMandatory
		case "none":
			policy = gomail.NoTLS
		}
		opts = append(opts, gomail.WithTLSPortPolicy(policy))
	case "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("scheme %q is not smtp or smtps", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("bad port %q", p)
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if user := u.User.Username(); user != "" {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(user), gomail.WithPassword(pass))
	}
	return &SMTPSender{from: from, host: u.Hostname(), opts: opts}, nil
}

// Send delivers m, one connection per message.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("MAIL_FROM: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)

	client, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	return nil
}
