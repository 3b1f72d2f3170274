package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/bridge"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// bridgeOptions is `shmbuf bridge`.
type bridgeOptions struct {
	io    *streams
	flags *pflag.FlagSet
	target

	stream, durable, state           string
	sizeText, maxRecText, policyText string
	pendingText, statsText           string
	auth                             bridge.Auth
	cfg                              bridge.Config
}

func newBridgeCmd(s *streams) *cobra.Command {
	o := &bridgeOptions{io: s, target: target{op: "bridge"}}
	cmd := &cobra.Command{
		Use:   "bridge SRC DST [flags]",
		Short: "Carry a ring's records to NATS, or NATS messages into a ring",
		Long: `Carry records between a ring and NATS, so that writers and readers on
different hosts share one stream. One of SRC and DST is a ring address, the
other nats://HOST:PORT/SUBJECT (tls://… for TLS; nats:///SUBJECT takes the
server from NATS_URL, else 127.0.0.1:4222). Direction is argument order:

  bridge RING URL  reads every record of RING (from its oldest) and
                   publishes each as one message to SUBJECT
  bridge URL RING  subscribes to SUBJECT (wildcards allowed) and writes
                   each message as one record into RING, created if
                   missing with --size, --policy and --max-record

Messages carry where their record came from in one header, Shmbuf: the
origin's digest, the writer slot, the position, the sending bridge's
session and sequence, then the host, the ring and its creation time.

Core NATS (the default) is at most once: a receiving bridge counts the
messages missing from each sender's sequence. --jetstream STREAM makes it
exactly once, also when a bridge is killed and started again with the
same arguments: the stream (created if missing, bound to SUBJECT) drops
re-sends by their Nats-Msg-Id, and the receiving side reads it through the
durable consumer --durable NAME, acknowledging each message once its
record is in the ring. Each JetStream bridge keeps a small ring of its own
beside RING (RING.bridge-out-STREAM, RING.bridge-in-NAME; --state for
another address): the sender's spool of records not yet stored, the
receiver's journal of what it wrote.

While the server is unreachable the bridge reconnects by itself and says
so on stderr; a sending bridge stops reading meanwhile, so a ring of
policy block holds its writers back rather than lose records.

--stats prints a JSON line on stdout every INTERVAL and when the bridge
stops: records, bytes, dropped, missing, duplicates, resent, reconnects.
SIGINT or SIGTERM stops it cleanly (it flushes, acknowledges and closes
the ring) with exit code 130 or 143.
` + sizeHelp + "\n" + addressHelp,
		Example: `  shmbuf bridge logs nats://127.0.0.1:4222/app.logs   # ring -> NATS
  shmbuf bridge nats://127.0.0.1:4222/app.logs logs   # NATS -> ring
  shmbuf bridge frames nats:///cam.1 --jetstream CAM --stats=10s
  shmbuf bridge nats:///cam.1 frames --jetstream CAM --durable site2`,
		Args: bridgeArgs,
		RunE: runE(o),
	}
	f := cmd.Flags()
	o.flags = f
	f.StringVar(&o.stream, "jetstream", "", "exactly once through this JetStream stream (created if missing)")
	f.StringVar(&o.durable, "durable", "", "with --jetstream, receiving: the durable consumer's name")
	f.StringVar(&o.state, "state", "", "with --jetstream: the address of the bridge's spool or journal")
	f.StringVar(&o.sizeText, "size", "1MiB", "receiving: the data size of a ring created when missing")
	f.StringVar(&o.maxRecText, "max-record", "", "receiving: the largest record of a new ring (default a quarter of --size)")
	f.StringVar(&o.policyText, "policy", "block", "receiving: the policy of a new ring, block or overwrite")
	textVar(f, &o.pendingText, "max-pending", "int", "1024", "with --jetstream: messages in flight or unacknowledged at most")
	textVar(f, &o.statsText, "stats", "duration", "", "print a JSON line of counters every INTERVAL and at the end")
	f.Lookup("stats").NoOptDefVal = "0s"
	f.StringVar(&o.auth.Creds, "creds", "", "a NATS credentials file")
	f.StringVar(&o.auth.User, "user", "", "the user name")
	f.StringVar(&o.auth.Password, "password", "", "the password")
	f.StringVar(&o.auth.Token, "token", "", "an authentication token")
	f.StringVar(&o.auth.TLSCA, "tls-ca", "", "the CA certificate that signed the server's")
	f.StringVar(&o.auth.TLSCert, "tls-cert", "", "the client certificate (with --tls-key)")
	f.StringVar(&o.auth.TLSKey, "tls-key", "", "the client certificate's key")
	f.StringVar(&o.auth.Name, "name", "", "the connection's name, as the server shows it")
	policyChoice.complete(cmd)
	return cmd
}

// bridgeArgs takes SRC and DST.
func bridgeArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("takes SRC and DST, got %d arguments", len(args))
	}
	return nil
}

// receivingFlags apply only when a ring is written.
var receivingFlags = []string{"durable", "size", "max-record", "policy"}

func (o *bridgeOptions) validate(args []string) error {
	src, dst := args[0], args[1]
	c := &o.cfg
	switch srcURL, dstURL := bridge.IsURL(src), bridge.IsURL(dst); {
	case srcURL && dstURL:
		o.target.addr = src
		return o.usagef("both SRC and DST are NATS URLs: one must be a ring")
	case !srcURL && !dstURL:
		o.target.addr = src
		return o.usagef("neither SRC nor DST is a NATS URL (nats://HOST:PORT/SUBJECT): a bridge joins a ring and NATS")
	case srcURL:
		c.Direction, c.Ring = bridge.Inbound, dst
	default:
		c.Direction, c.Ring = bridge.Outbound, src
	}
	a, err := parseAddr(o.op, c.Ring)
	if err != nil {
		return err
	}
	o.target.addr = a.String()
	url := dst
	if c.Direction == bridge.Inbound {
		url = src
	}
	if c.NATS, err = bridge.ParseEndpoint(url, c.Direction == bridge.Outbound); err != nil {
		var le *shmbuf.Error
		if errors.As(err, &le) {
			err = le.Err
		}
		return &cmdError{op: o.op, addr: url, err: err}
	}
	if c.Direction == bridge.Outbound {
		for _, name := range receivingFlags {
			if o.flags.Changed(name) {
				return o.usagef("--%s applies only when the bridge writes a ring (URL RING)", name)
			}
		}
	}
	c.Stream, c.Durable, c.State, c.Auth = o.stream, o.durable, o.state, o.auth
	if c.Stream == "" {
		for _, name := range []string{"durable", "state", "max-pending"} {
			if o.flags.Changed(name) {
				return o.usagef("--%s applies only with --jetstream", name)
			}
		}
	} else if err := checkJSName("jetstream", c.Stream); err != nil {
		return o.fail(err)
	}
	if c.Durable != "" {
		if err := checkJSName("durable", c.Durable); err != nil {
			return o.fail(err)
		}
	}
	if c.State != "" {
		s, err := parseAddr(o.op, c.State)
		if err != nil {
			return err
		}
		c.State = s.String()
	} else if c.Stream != "" {
		suffix := "out-" + c.Stream
		if c.Direction == bridge.Inbound {
			suffix = "in-x"
		}
		if _, err := bridge.StateAddr(c.Ring, suffix); err != nil {
			return o.usagef("--jetstream on this ring needs --state ADDR, a ring address for the bridge's own state")
		}
	}
	if c.Size, err = parseSize("size", o.sizeText); err != nil {
		return o.fail(err)
	}
	if o.maxRecText != "" {
		n, err := parseSize("max-record", o.maxRecText)
		if err != nil {
			return o.fail(err)
		}
		c.MaxRecord = int(n)
	}
	if c.Policy, err = parsePolicy(o.policyText); err != nil {
		return o.fail(err)
	}
	if c.MaxPending, err = parseCount("max-pending", o.pendingText, "the default, 1024"); err != nil {
		return o.fail(err)
	}
	if o.flags.Changed("stats") {
		c.Stats = o.io.out
		if o.statsText != "0s" {
			if c.StatsEvery, err = parseDuration("stats", o.statsText); err != nil {
				return o.fail(err)
			}
		}
	}
	c.Log = o.io.err
	return nil
}

// checkJSName checks a stream or consumer name: JetStream refuses
// names with white space, '.', '*', '>', '/' or '\'.
func checkJSName(flag, s string) error {
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', '.', '*', '>', '/', '\\':
			return badArg(flag, s, "a name without white space, '.', '*', '>', '/' or '\\'")
		}
	}
	if s == "" {
		return badArg(flag, s, "a name")
	}
	return nil
}

func (o *bridgeOptions) run(ctx context.Context) error {
	err := bridge.Run(ctx, &o.cfg)
	if err == nil {
		if in := interruptCause(ctx); in != nil {
			return in
		}
	}
	return o.fail(err)
}
