/*
 * shmbuf.h: a C implementation of the shmbuf segment format (docs/FORMAT.md):
 * raw segments, snapshots and rings, interoperating with the Go library and
 * any other implementation of the format on the same machine.
 *
 * Every function returns SHMBUF_OK (0), a positive end-of-stream code, or a
 * negative error code; shmbuf_last_error() describes the last error of the
 * calling thread in one line ("shmbuf: OP ADDR: CAUSE").
 *
 * Addresses: NAME or posix:NAME (/dev/shm/NAME), file:PATH, sysv:KEY,
 * sysv-id:ID.
 *
 * Shared memory is untrusted: a segment whose words cannot be right gives
 * SHMBUF_ERR_CORRUPT, never a crash or an endless wait. (A segment file
 * truncated by another process while mapped raises SIGBUS, as for any
 * mapping; the library installs no signal handler.)
 *
 * Threads: a shmbuf_ring, shmbuf_snapshot or shmbuf_raw may be shared by
 * threads; a writer or reader is for one thread at a time.
 */
#ifndef SHMBUF_H
#define SHMBUF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum shmbuf_code {
	SHMBUF_OK = 0,
	SHMBUF_EOF = 1,               /* end of stream: the last writer closed */
	SHMBUF_ERR_EMPTY = -1,        /* no record ready (timeout 0) */
	SHMBUF_ERR_TIMEOUT = -2,      /* the timeout passed */
	SHMBUF_ERR_LOST = -3,         /* lapped (policy overwrite): see shmbuf_reader_lost */
	SHMBUF_ERR_WRITER_LOST = -4,  /* end of stream: the last writer died or aborted */
	SHMBUF_ERR_CORRUPT = -5,      /* the segment's words cannot be right */
	SHMBUF_ERR_NOT_EXIST = -6,    /* no segment at the address */
	SHMBUF_ERR_NOT_SHMBUF = -7,   /* no shmbuf header (or raw opened as ring) */
	SHMBUF_ERR_VERSION = -8,      /* a format version this library does not read */
	SHMBUF_ERR_WRONG_KIND = -9,   /* a snapshot opened as a ring, and so on */
	SHMBUF_ERR_INVALID = -10,     /* a bad argument */
	SHMBUF_ERR_TOO_LARGE = -11,   /* a record or value larger than allowed */
	SHMBUF_ERR_FULL = -12,        /* every writer or reader slot is taken */
	SHMBUF_ERR_SYSTEM = -13,      /* a system call failed: see errno in the message */
	SHMBUF_ERR_EXIST = -14,       /* create: something is at the address */
	SHMBUF_ERR_INTERRUPTED = -15, /* raw: a writer died mid-store */
	SHMBUF_ERR_READ_ONLY = -16,   /* write access was not granted */
	SHMBUF_ERR_LOCK_HELD = -17,   /* snapshot writer lock held by an uncheckable peer */
	SHMBUF_ERR_CLOSED = -18       /* the handle was closed */
};

/* Wait strategies of readers and writers, as in Go (WaitStrategy). */
enum shmbuf_wait {
	SHMBUF_WAIT_ADAPTIVE = 0, /* spin ~20 us, yield to ~100 us, then futex */
	SHMBUF_WAIT_SPIN = 1,     /* never sleep */
	SHMBUF_WAIT_BLOCK = 2     /* futex at once */
};

enum shmbuf_policy { SHMBUF_POLICY_BLOCK = 0, SHMBUF_POLICY_OVERWRITE = 1 };
enum shmbuf_from { SHMBUF_FROM_OLDEST = 0, SHMBUF_FROM_LATEST = 1 };

/* Timeouts are in nanoseconds: negative waits for ever, 0 does not wait. */
#define SHMBUF_FOREVER (-1LL)

const char *shmbuf_strerror(int code);
const char *shmbuf_last_error(void);

/* Checks an address without touching anything: SHMBUF_OK, or
 * SHMBUF_ERR_INVALID. *backend is 1 posix, 2 file, 3 System V. */
int shmbuf_parse_address(const char *addr, int *backend);

/* ---- rings ---- */
typedef struct shmbuf_ring shmbuf_ring;
typedef struct shmbuf_writer shmbuf_writer;
typedef struct shmbuf_reader shmbuf_reader;
typedef struct shmbuf_observer shmbuf_observer;

typedef struct shmbuf_ring_opts {
	uint64_t size;       /* data bytes, rounded up to a power of two >= 256 */
	uint64_t max_record; /* 0: min(capacity/4 - 16, 16 MiB) */
	uint32_t readers;    /* 0: 16 */
	uint32_t writers;    /* 0: 16 */
	int policy;          /* enum shmbuf_policy */
	uint32_t mode;       /* permission bits, 0: 0600 */
	int force;           /* replace an existing segment */
} shmbuf_ring_opts;

int shmbuf_ring_create(const char *addr, const shmbuf_ring_opts *opts, shmbuf_ring **out);
int shmbuf_ring_open(const char *addr, shmbuf_ring **out);
/* Closes the ring's writers (ending the stream if they are the last) and
 * readers still open, then unmaps it. */
void shmbuf_ring_close(shmbuf_ring *r);
uint64_t shmbuf_ring_capacity(const shmbuf_ring *r);
uint64_t shmbuf_ring_max_record(const shmbuf_ring *r);
int shmbuf_ring_policy(const shmbuf_ring *r);
/* Frees the slots of dead writers and readers (waiting calls do it every
 * 200 ms by themselves). */
int shmbuf_ring_reap(shmbuf_ring *r);

int shmbuf_writer_open(shmbuf_ring *r, int wait, shmbuf_writer **out);
/* One record of n bytes (1..max record). */
int shmbuf_write(shmbuf_writer *w, const void *p, size_t n, int64_t timeout_ns);
/* Reserves a record of n bytes; *buf is its payload, to fill before
 * shmbuf_commit publishes it. */
int shmbuf_claim(shmbuf_writer *w, size_t n, void **buf, int64_t timeout_ns);
int shmbuf_commit(shmbuf_writer *w);
/* shmbuf_abort drops the pending claim without closing the writer: its
 * space becomes padding that readers skip. */
int shmbuf_abort(shmbuf_writer *w);
/* Ends the writer; aborted != 0 makes the end of stream a writer loss. */
int shmbuf_writer_close(shmbuf_writer *w, int aborted);

int shmbuf_reader_open(shmbuf_ring *r, int wait, int from, shmbuf_reader **out);
/* The next record. Under policy block *rec points into the ring (zero
 * copy) and stays valid until the next call on the reader; under policy
 * overwrite it is a verified copy owned by the reader. Returns SHMBUF_OK,
 * SHMBUF_EOF, SHMBUF_ERR_WRITER_LOST, SHMBUF_ERR_LOST (then
 * shmbuf_reader_lost gives the counts, and the next call continues from the
 * oldest record), SHMBUF_ERR_EMPTY (timeout 0), SHMBUF_ERR_TIMEOUT,
 * SHMBUF_ERR_CORRUPT. */
int shmbuf_next(shmbuf_reader *rd, const void **rec, size_t *len, int64_t timeout_ns);
void shmbuf_reader_lost(const shmbuf_reader *rd, uint64_t *records, uint64_t *bytes);
int shmbuf_reader_close(shmbuf_reader *rd);

/* Observers (spies) read a ring without a slot and without storing
 * anything, so they need only read permission (shmbuf_ring_open_readonly)
 * and never hold writers back: under either policy writers may overwrite
 * records before an observer reads them, and shmbuf_observer_next then
 * returns SHMBUF_ERR_LOST with the exact counts in shmbuf_observer_lost.
 * Records are copies owned by the observer, valid until its next call.
 * Writers do not wake observers: a waiting observer sleeps at most 20 ms
 * at a time. An observer is for one thread at a time and must be closed
 * before its ring. */
int shmbuf_ring_open_readonly(const char *addr, shmbuf_ring **out);
int shmbuf_observer_open(shmbuf_ring *r, int wait, int from, shmbuf_observer **out);
int shmbuf_observer_next(shmbuf_observer *ob, const void **rec, size_t *len, int64_t timeout_ns);
void shmbuf_observer_lost(const shmbuf_observer *ob, uint64_t *records, uint64_t *bytes);
void shmbuf_observer_close(shmbuf_observer *ob);

/* ---- snapshots ---- */
typedef struct shmbuf_snapshot shmbuf_snapshot;
int shmbuf_snapshot_create(const char *addr, uint64_t capacity, uint32_t mode, int force, shmbuf_snapshot **out);
int shmbuf_snapshot_open(const char *addr, shmbuf_snapshot **out);
uint64_t shmbuf_snapshot_capacity(const shmbuf_snapshot *s);
uint64_t shmbuf_snapshot_generation(const shmbuf_snapshot *s);
int shmbuf_snapshot_publish(shmbuf_snapshot *s, const void *p, size_t n);
/* Copies the newest value into buf (cap bytes, at least the capacity to be
 * sure it fits); *n is its length. */
int shmbuf_snapshot_load(shmbuf_snapshot *s, void *buf, size_t cap, size_t *n);
void shmbuf_snapshot_close(shmbuf_snapshot *s);

/* ---- raw segments ---- */
/* Loads the value of a raw segment into a malloc'ed buffer (*p, free it). */
int shmbuf_raw_load(const char *addr, void **p, size_t *n);
/* Stores p as the value of an existing raw segment. */
int shmbuf_raw_store(const char *addr, const void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
