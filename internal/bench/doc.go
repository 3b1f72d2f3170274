// Package bench measures shmbuf against the kernel's own inter-process
// transports and is the engine behind `shmbuf bench`. It is internal: the
// command is its only user.
//
// Every transport is a small type behind one interface (Transport). A
// measurement ("cell") is one transport, one record size and one mode
// (throughput or latency). The coordinating process creates the
// transport's resources (segments, FIFOs, sockets, queues), registers each
// with a cleanup registry, and re-executes its own binary twice as peers:
// a writer and a reader, separate processes, exactly as a user's producer
// and consumer would be. RunPeerIfRequested turns a re-executed binary into
// its peer role.
//
// Records are fixed-size: a little-endian sequence number, a body taken
// from one of four precomputed patterns chosen by the sequence number, and
// (for records of 16 bytes or more) the complemented sequence number as a
// trailer. The reader checks every byte of every record against the
// precomputed pattern with bytes.Equal, so a torn record, stale bytes from
// an earlier record, a loss, a duplicate or a reordering fails the run.
// Latest-value transports (snapshot, shm-file-flock) are allowed to lose
// values by design; for them the reader requires strictly increasing
// sequence numbers and counts the values it never saw.
//
// Two more measurements replace the transfer table on request. --setup
// (setup.go) times the whole life of each mechanism in this process:
// create, attach, one message, remove. --scaling (scaling.go) runs a group
// of writer and reader peers over one transport: several writers number
// their records with their index above writerShift, and each reader checks
// every byte and each writer's order.
package bench
