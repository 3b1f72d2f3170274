package bridge

import (
	"time"

	"github.com/nats-io/nats.go"
)

// reconnectWait is the pause between reconnection attempts to the same
// server; nats.go adds jitter.
const reconnectWait = 250 * time.Millisecond

// connect opens the NATS connection, retrying for ever: the bridge keeps
// going through outages, reconnecting by itself. The log says when it is
// disconnected and when it is back. Publishing while disconnected fails at
// once (no reconnect buffer): the outbound bridge then waits for the
// connection instead of queueing records nobody would acknowledge, so
// the ring's back-pressure holds writers back.
func connect(c *Config, st *stats) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			st.connected.Store(false)
			if nc.IsClosed() {
				return // the bridge closes the connection: nothing to report
			}
			if err != nil {
				c.logf("disconnected (%v); reconnecting", err)
			} else {
				c.logf("disconnected; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			st.connected.Store(true)
			st.reconnects.Add(1)
			c.logf("reconnected to %s", nc.ConnectedUrlRedacted())
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			st.connected.Store(true)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			c.logf("%v", err)
		}),
	}
	a := c.Auth
	if a.Name != "" {
		opts = append(opts, nats.Name(a.Name))
	} else {
		opts = append(opts, nats.Name("shmbuf bridge "+c.Ring))
	}
	if a.Creds != "" {
		opts = append(opts, nats.UserCredentials(a.Creds))
	}
	if a.User != "" || a.Password != "" {
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.Token != "" {
		opts = append(opts, nats.Token(a.Token))
	}
	if a.TLSCA != "" {
		opts = append(opts, nats.RootCAs(a.TLSCA))
	}
	if a.TLSCert != "" || a.TLSKey != "" {
		opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	nc, err := nats.Connect(c.NATS.Servers, opts...)
	if err != nil {
		return nil, err
	}
	if nc.IsConnected() {
		st.connected.Store(true)
	} else {
		c.logf("cannot reach %s yet; retrying", c.NATS.Text)
	}
	return nc, nil
}
