// Package bridge carries the records of a shmbuf ring to NATS and back,
// so that producers and consumers on different hosts share one stream
// without changing a line: a bridge reads every record of a ring and
// publishes each as one message (outbound), or subscribes and writes each
// message as one record into a ring (inbound). It is the only package of
// the module that imports NATS, so the core library stays free of it.
//
// Core NATS (the default) is at-most-once: what is lost is counted. The
// outbound side numbers its messages (a session and a sequence in the
// Shmbuf header, HeaderRecord), so the inbound side counts the gaps,
// which are exactly the records its ring is missing.
//
// JetStream (Config.Stream) is exactly once, also across a kill -9 of
// either bridge:
//
//   - Outbound, every message carries a Nats-Msg-Id made of its origin
//     (host, ring identity, position), so the stream's duplicate window
//     drops a re-send. A record is copied into a spool, a small ring of
//     the bridge's own next to the source ring, before it is published,
//     and leaves the spool only once JetStream has acknowledged it: the
//     source ring may release what the bridge read, the spool keeps what
//     is not yet stored. A restarted bridge asks the stream for the last
//     message of its origin, re-publishes the spooled records after it,
//     in order, and then reads the source ring from its oldest record,
//     skipping what the stream already has. Publishing is pipelined:
//     several messages are in flight, and after a reconnection nothing
//     new is sent until every message in flight is resolved, so that the
//     stream keeps each writer's order.
//   - Inbound, a durable consumer delivers in stream order and each
//     message is acknowledged once its record is in the ring. Before the
//     record is committed, the bridge notes in a journal, another small
//     ring of its own, the message's stream sequence and the record's
//     position; a restarted bridge skips every redelivered message at or
//     below the last sequence it wrote.
//
// Back-pressure: while NATS is unreachable the outbound bridge stops
// reading, so a ring of policy block holds its writers back instead of
// losing records; nats.go reconnects by itself and the bridge says so on
// its log.
package bridge
