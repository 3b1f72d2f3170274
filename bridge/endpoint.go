package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/shmbuf/shmbuf"
)

// DefaultServer is the server of a URL that names none when NATS_URL is
// not set, as the nats command-line tool does.
const DefaultServer = "nats://127.0.0.1:4222"

// Endpoint is the NATS side of a bridge: nats://HOST:PORT/SUBJECT.
type Endpoint struct {
	// Servers is what nats.Connect takes: the URL's server (with its
	// user and password, if given), or NATS_URL when the URL names no
	// host (nats:///SUBJECT), or DefaultServer.
	Servers string
	// Subject is the URL's path without its slash.
	Subject string
	// Text is the endpoint as the user wrote it, without a password, for
	// messages.
	Text string
}

// IsURL reports whether a bridge argument is the NATS side: a ring
// address never has the scheme nats: or tls: (a name has no ':' and the
// ring schemes are posix, file, sysv and sysv-id).
func IsURL(s string) bool {
	return strings.HasPrefix(s, "nats:") || strings.HasPrefix(s, "tls:")
}

// ParseEndpoint parses nats://HOST[:PORT]/SUBJECT or tls://…; HOST may be
// left out (nats:///SUBJECT) for NATS_URL. A subject with wildcards (*
// and >) may only be subscribed to: publish is false for the inbound side.
func ParseEndpoint(s string, publish bool) (Endpoint, error) {
	bad := func(format string, args ...any) (Endpoint, error) {
		return Endpoint{}, &shmbuf.Error{Op: "parse url", Addr: redact(s),
			Err: fmt.Errorf("%w: %s", shmbuf.ErrInvalidAddress, fmt.Sprintf(format, args...))}
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return bad("%v", err)
	}
	if u.Scheme != "nats" && u.Scheme != "tls" {
		return bad("scheme %q: want nats:// or tls://", u.Scheme)
	}
	if u.Opaque != "" {
		return bad("want %s://HOST:PORT/SUBJECT", u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return bad("a query or fragment has no meaning here")
	}
	subject := strings.TrimPrefix(u.Path, "/")
	if err := checkSubject(subject, publish); err != nil {
		return bad("%v", err)
	}
	e := Endpoint{Subject: subject, Text: redact(s)}
	if u.Host == "" {
		if u.User != nil {
			return bad("a user without a host")
		}
		e.Servers = os.Getenv("NATS_URL")
		if e.Servers == "" {
			e.Servers = DefaultServer
		}
		return e, nil
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return bad("no host")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad("port %q: want 1 to 65535", port)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	server := &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host}
	if port == "" {
		server.Host = net.JoinHostPort(host, "4222")
	}
	e.Servers = server.String()
	return e, nil
}

// checkSubject checks a NATS subject: dot-separated tokens, none empty,
// no white space; * and > are wildcards, > only as the last token, and
// only for subscribing.
func checkSubject(s string, publish bool) error {
	if s == "" {
		return errors.New("no subject: want nats://HOST:PORT/SUBJECT")
	}
	if strings.ContainsAny(s, " \t\r\n/") {
		return fmt.Errorf("subject %q: no white space or '/'", s)
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("subject %q: empty token", s)
		case t == "*" || t == ">":
			if publish {
				return fmt.Errorf("subject %q has wildcards: a bridge publishes to one subject", s)
			}
			if t == ">" && i != len(toks)-1 {
				return fmt.Errorf("subject %q: '>' must be the last token", s)
			}
		case strings.ContainsAny(t, "*>"):
			return fmt.Errorf("subject %q: wildcards must be whole tokens", s)
		}
	}
	return nil
}

// redact hides the password of a URL in messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), "xxxxx")
	return u.String()
}
