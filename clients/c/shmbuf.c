/*
 * shmbuf.c: the shmbuf format (docs/FORMAT.md) in C11: atomics from
 * <stdatomic.h>, the futex system call, nothing else beyond libc.
 *
 * Section numbers in comments (§n) refer to docs/FORMAT.md.
 */
#define _GNU_SOURCE
#include "shmbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

typedef _Atomic uint64_t a64;
typedef _Atomic uint32_t a32;

/* ---------------------------------------------------------------- layout */

#define HDR_SIZE 128
#define CACHE_LINE 64
#define VERSION 3
#define KIND_SNAPSHOT 1
#define KIND_RING 2

/* Header fields (§2). */
#define H_MAGIC 0
#define H_VERSION 8
#define H_KIND 12
#define H_HEADER_SIZE 16
#define H_FLAGS 20
#define H_SEGMENT_SIZE 24
#define H_CAPACITY 32
#define H_MAX_RECORD 40
#define H_READERS 48
#define H_POLICY 52
#define H_CREATOR_PID 56
#define H_WRITERS 60
#define H_CREATOR_START 64
#define H_CREATED_NANOS 72
#define H_CREATOR_NS 80
#define H_STAMP_KEY 88
#define H_CHECKSUM 120

/* Snapshot control line at 128 (§4). */
#define S_CTL 128
#define S_GEN 0
#define S_LOCK_STATE 8
#define S_LOCK_START 16
#define S_LAST_PID 24
#define S_LAST_START 32
#define S_LOCK_OWNER 40
#define S_LAST_NS 48
#define S_LAST_WRITE 56
#define S_SLOTS 192
#define SLOT_SEQ 0
#define SLOT_LEN 8

/* Ring control block at 128, 192 bytes (§5.1). */
#define R_CTL 128
#define R_CTL_SIZE 192
#define R_TAIL 0
#define R_WALK_TOKEN 8
#define R_HEAD 64
#define R_HEAD_GEN 72
#define R_HEAD_COPY 80 /* two of (pos, records, bytes), 24 bytes each */
#define R_READ_MARK 128
#define R_END 136
#define R_DATA_WAKE 144
#define R_READER_WAITERS 148
#define R_SPACE_WAKE 152
#define R_WRITER_WAITERS 156
#define R_OVERRUNS 160
#define R_CLOSED_RECORDS 168
#define R_CLOSED_BYTES 176
#define R_LAST_WRITE 184

#define SLOT_SIZE 64
#define W_STATE 0
#define W_START 8
#define W_CLAIM 16
#define W_CLAIM_LEN 24
#define W_RECORDS 32
#define W_BYTES 40
#define W_OWNER 48
#define RD_STATE 0
#define RD_START 8
#define RD_CURSOR 16
#define RD_OWNER 24

#define REC_HDR 16
#define REC_ALIGN 8
#define FLAG_PAD 1u
#define MIN_CAPACITY 256ULL
#define MAX_CAPACITY (1ULL << 40)
#define MAX_SLOTS 4096

#define END_EOF 1
#define END_LOST 2
#define END_ABORTED 3
#define END_MASK 7ULL

#define SLOT_FREE 0
#define SLOT_ATTACHING 1
#define SLOT_ACTIVE 2
#define SLOT_REAPING 3
#define LOCK_HELD 1

#define LOCK_BASE (1LL << 56)
#define LOCK_USERS LOCK_BASE
#define LOCK_SNAPSHOT_WRITER (LOCK_BASE + 1)
#define LOCK_WRITER(i) (LOCK_BASE + MAX_SLOTS + (int64_t)(i))
#define LOCK_READER(i) (LOCK_BASE + 2 * MAX_SLOTS + (int64_t)(i))

#define GEN_SHIFT 40
#define GEN_MASK ((1u << 24) - 1)
#define MAX_START_TICKS (1ULL << 40)

static inline uint64_t slot_state(uint32_t gen, int32_t pid, uint64_t st)
{
	return (uint64_t)(gen & GEN_MASK) << GEN_SHIFT | (uint64_t)(uint32_t)pid << 8 | (st & 0xff);
}
static inline int32_t state_pid(uint64_t s) { return (int32_t)(uint32_t)(s >> 8); }
static inline uint32_t state_gen(uint64_t s) { return (uint32_t)(s >> GEN_SHIFT) & GEN_MASK; }
static inline uint64_t state_of(uint64_t s) { return s & 0xff; }
static inline uint32_t next_gen(uint64_t s) { return (state_gen(s) + 1) & GEN_MASK; }
static inline uint64_t owner_word(uint32_t ns, uint32_t gen) { return (uint64_t)ns << 32 | (gen & GEN_MASK); }
static inline uint64_t free_state(uint64_t s) { return slot_state(state_gen(s), 0, SLOT_FREE); }

static bool state_valid(uint64_t s)
{
	uint64_t st = state_of(s);
	int32_t pid = state_pid(s);
	if (st == SLOT_FREE)
		return pid == 0;
	return st <= SLOT_REAPING && pid > 0;
}

/* Every shared word is accessed through these: sequentially consistent, the
 * ordering the Go implementation uses (§7). */
#define A64P(base, off) ((a64 *)(void *)((uint8_t *)(base) + (off)))
#define A32P(base, off) ((a32 *)(void *)((uint8_t *)(base) + (off)))
static inline uint64_t ld64(uint8_t *b, uint64_t off) { return atomic_load(A64P(b, off)); }
static inline void st64(uint8_t *b, uint64_t off, uint64_t v) { atomic_store(A64P(b, off), v); }
static inline bool cas64(uint8_t *b, uint64_t off, uint64_t old, uint64_t nv)
{
	return atomic_compare_exchange_strong(A64P(b, off), &old, nv);
}
static inline uint64_t add64(uint8_t *b, uint64_t off, uint64_t v) { return atomic_fetch_add(A64P(b, off), v) + v; }
static inline uint64_t swap64(uint8_t *b, uint64_t off, uint64_t v) { return atomic_exchange(A64P(b, off), v); }
static inline uint32_t ld32(uint8_t *b, uint64_t off) { return atomic_load(A32P(b, off)); }

static inline uint64_t align_up(uint64_t n) { return (n + CACHE_LINE - 1) & ~(uint64_t)(CACHE_LINE - 1); }
static inline uint64_t record_size(uint64_t n) { return (REC_HDR + n + REC_ALIGN - 1) & ~(uint64_t)(REC_ALIGN - 1); }

/* ---------------------------------------------------------------- errors */

static _Thread_local char last_err[512];

const char *shmbuf_last_error(void) { return last_err; }

const char *shmbuf_strerror(int code)
{
	switch (code) {
	case SHMBUF_OK: return "ok";
	case SHMBUF_EOF: return "end of stream";
	case SHMBUF_ERR_EMPTY: return "no record ready";
	case SHMBUF_ERR_TIMEOUT: return "timed out";
	case SHMBUF_ERR_LOST: return "records lost: reader overrun";
	case SHMBUF_ERR_WRITER_LOST: return "writer lost";
	case SHMBUF_ERR_CORRUPT: return "segment corrupt";
	case SHMBUF_ERR_NOT_EXIST: return "segment does not exist";
	case SHMBUF_ERR_NOT_SHMBUF: return "not a shmbuf segment";
	case SHMBUF_ERR_VERSION: return "unsupported format version";
	case SHMBUF_ERR_WRONG_KIND: return "wrong segment kind";
	case SHMBUF_ERR_INVALID: return "invalid argument";
	case SHMBUF_ERR_TOO_LARGE: return "too large";
	case SHMBUF_ERR_FULL: return "no free slot";
	case SHMBUF_ERR_SYSTEM: return "system error";
	case SHMBUF_ERR_EXIST: return "segment already exists";
	case SHMBUF_ERR_INTERRUPTED: return "a writer was interrupted mid-store";
	case SHMBUF_ERR_READ_ONLY: return "read-only";
	case SHMBUF_ERR_LOCK_HELD: return "writer lock held";
	case SHMBUF_ERR_CLOSED: return "closed";
	}
	return "unknown error";
}

__attribute__((format(printf, 4, 5))) static int fail(int code, const char *op, const char *addr, const char *fmt, ...)
{
	int n = snprintf(last_err, sizeof last_err, "shmbuf: %s %s: %s", op, addr ? addr : "", shmbuf_strerror(code));
	if (fmt && n > 0 && (size_t)n < sizeof last_err - 2) {
		va_list ap;
		va_start(ap, fmt);
		last_err[n++] = ':';
		last_err[n++] = ' ';
		vsnprintf(last_err + n, sizeof last_err - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int errno_code(int e)
{
	switch (e) {
	case ENOENT: return SHMBUF_ERR_NOT_EXIST;
	case EEXIST: return SHMBUF_ERR_EXIST;
	case EACCES:
	case EPERM:
	case EROFS: return SHMBUF_ERR_READ_ONLY;
	case EINVAL: return SHMBUF_ERR_INVALID;
	}
	return SHMBUF_ERR_SYSTEM;
}

static int fail_errno(const char *op, const char *addr, const char *what)
{
	int e = errno;
	return fail(errno_code(e), op, addr, "%s: %s", what, strerror(e));
}

/* ---------------------------------------------------------------- time */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void nap_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static int64_t deadline_of(int64_t timeout_ns)
{
	if (timeout_ns < 0)
		return -1;
	return now_ns() + timeout_ns;
}

/* ---------------------------------------------------------------- identity (§6) */

struct ident {
	int32_t pid;
	uint64_t start;
	uint32_t ns;
	bool judge;
};

static bool read_start_time(const char *path, uint64_t *out)
{
	char buf[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return false;
	p++;
	/* Field 3 is the state; the start time is field 22. */
	int field = 2;
	char *save = NULL;
	for (char *tok = strtok_r(p, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		field++;
		if (field == 3 && (tok[0] == 'Z' || tok[0] == 'X') && tok[1] == 0)
			return false; /* a zombie never writes again */
		if (field == 22) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(tok, &end, 10);
			if (errno || *end)
				return false;
			*out = v;
			return true;
		}
	}
	return false;
}

static struct ident self_ident(void)
{
	static _Thread_local struct ident cached;
	int32_t pid = (int32_t)getpid();
	if (cached.pid == pid)
		return cached;
	struct ident id = {.pid = pid};
	read_start_time("/proc/self/stat", &id.start);
	struct stat st;
	if (stat("/proc/self/ns/pid", &st) == 0 && st.st_ino <= 0xffffffffULL)
		id.ns = (uint32_t)st.st_ino;
	char link[32];
	ssize_t n = readlink("/proc/self", link, sizeof link - 1);
	char want[32];
	snprintf(want, sizeof want, "%d", (int)pid);
	id.judge = id.ns != 0 && id.start != 0 && n > 0 && (size_t)n == strlen(want) && memcmp(link, want, (size_t)n) == 0;
	cached = id;
	return id;
}

/* alive reports false only on proof of death (§6.2). */
static bool ident_alive(int32_t pid, uint64_t start, uint32_t ns)
{
	struct ident me = self_ident();
	if (!me.judge || ns != me.ns)
		return true;
	if (pid <= 0)
		return false;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	uint64_t st;
	if (!read_start_time(path, &st))
		return false;
	return start == 0 || st == start;
}

/* owner_of reads State, Owner, Start, State (§6.2). */
static bool owner_dead(uint8_t *slot, uint64_t off_state, uint64_t off_start, uint64_t off_owner, uint64_t *stp)
{
	uint64_t st = ld64(slot, off_state);
	uint64_t o = ld64(slot, off_owner);
	uint64_t start = ld64(slot, off_start);
	*stp = st;
	if (ld64(slot, off_state) != st || (uint32_t)(o & GEN_MASK) != state_gen(st))
		return false;
	return !ident_alive(state_pid(st), start, (uint32_t)(o >> 32));
}

/* ---------------------------------------------------------------- OFD locks (§6.1) */

static int ofd_op(int fd, int cmd, short type, int64_t off, struct flock *out)
{
	struct flock fl;
	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = off;
	fl.l_len = 1;
	int r;
	do
		r = fcntl(fd, cmd, &fl);
	while (r < 0 && errno == EINTR);
	if (out)
		*out = fl;
	return r;
}

/* 1: taken, 0: held by another description, -1: error. */
static int ofd_try(int fd, int64_t off, short type)
{
	if (ofd_op(fd, F_OFD_SETLK, type, off, NULL) == 0)
		return 1;
	return (errno == EAGAIN || errno == EACCES) ? 0 : -1;
}

static void ofd_unlock(int fd, int64_t off) { ofd_op(fd, F_OFD_SETLK, F_UNLCK, off, NULL); }

/* close_slot_lock releases a slot's lock, after the slot is free: an
 * explicit unlock, then the close. A child forked and not yet exec'd holds
 * a copy of the descriptor, and with it the description: the close alone
 * would leave the lock held while that copy lives. */
static void close_slot_lock(int fd, int64_t off)
{
	if (fd < 0)
		return;
	ofd_unlock(fd, off);
	close(fd);
}

/* Whether another description holds a lock on off; unknown counts as held. */
static bool ofd_held(int fd, int64_t off)
{
	struct flock fl;
	if (ofd_op(fd, F_OFD_GETLK, F_WRLCK, off, &fl) < 0)
		return true;
	return fl.l_type != F_UNLCK;
}

/* ---------------------------------------------------------------- futex */

static void futex_wait(a32 *w, uint32_t v, int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
	syscall(SYS_futex, (void *)w, FUTEX_WAIT, v, &ts, NULL, 0);
}

static void futex_wake_all(a32 *w) { syscall(SYS_futex, (void *)w, FUTEX_WAKE, 1 << 30, NULL, NULL, 0); }

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* A process-local lock for the few places where threads sharing one handle
 * must take turns: OFD locks of one description do not exclude each other,
 * and the ring's lists of open handles. Held only briefly, never across a
 * wait on another process. */
static void spin_lock(atomic_flag *f)
{
	for (int i = 0; atomic_flag_test_and_set_explicit(f, memory_order_acquire); i++)
		if (i > 100)
			sched_yield();
		else
			cpu_relax();
}

static void spin_unlock(atomic_flag *f) { atomic_flag_clear_explicit(f, memory_order_release); }

/* ---------------------------------------------------------------- addresses and segments */

enum backend { B_POSIX = 1, B_FILE, B_SYSV };

struct addr {
	int backend;
	char path[4096];
	int32_t key;
	int id;
	bool by_id;
	char text[4200];
};

/* clean_path writes the shortest lexically equivalent form of in to out:
 * repeated slashes and "." elements go, ".." removes the element before it
 * (at the root it stays at the root), "" becomes ".". */
static void clean_path(const char *in, char *out, size_t cap)
{
	bool abs = in[0] == '/';
	size_t n = 0, floor = 0; /* floor: where ".." may no longer pop */
	if (abs)
		out[n++] = '/', floor = 1;
	for (const char *p = in; *p;) {
		while (*p == '/')
			p++;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		size_t len = (size_t)(e - p);
		if (len == 0 || (len == 1 && p[0] == '.')) {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (n > floor) {
				while (n > floor && out[n - 1] != '/')
					n--;
				if (n > floor)
					n--; /* the slash before the element */
			} else if (!abs) {
				if (n > 0 && n + 1 < cap)
					out[n++] = '/';
				if (n + 2 < cap) {
					out[n++] = '.';
					out[n++] = '.';
				}
				floor = n;
			}
		} else {
			if (n > 0 && out[n - 1] != '/' && n + 1 < cap)
				out[n++] = '/';
			for (size_t i = 0; i < len && n + 1 < cap; i++)
				out[n++] = p[i];
		}
		p = e;
	}
	if (n == 0)
		out[n++] = '.';
	out[n] = 0;
}

static int parse_addr(const char *s, struct addr *a, const char *op)
{
	memset(a, 0, sizeof *a);
	if (!s || !*s)
		s = "shared_buffer";
	snprintf(a->text, sizeof a->text, "%s", s);
	const char *colon = strchr(s, ':');
	const char *rest = s;
	char scheme[16] = "posix";
	if (colon) {
		size_t n = (size_t)(colon - s);
		if (n >= sizeof scheme)
			return fail(SHMBUF_ERR_INVALID, op, s, "unknown scheme");
		memcpy(scheme, s, n);
		scheme[n] = 0;
		rest = colon + 1;
	}
	if (strcmp(scheme, "posix") == 0) {
		if (colon && *rest == '/')
			rest++;
		size_t n = strlen(rest);
		if (n == 0 || n > 255 || strchr(rest, '/') || strcmp(rest, ".") == 0 || strcmp(rest, "..") == 0)
			return fail(SHMBUF_ERR_INVALID, op, s, "bad name");
		a->backend = B_POSIX;
		snprintf(a->path, sizeof a->path, "/dev/shm/%s", rest);
		snprintf(a->text, sizeof a->text, "posix:%s", rest);
		return SHMBUF_OK;
	}
	if (strcmp(scheme, "file") == 0) {
		if (!*rest || strlen(rest) >= sizeof a->path)
			return fail(SHMBUF_ERR_INVALID, op, s, "file: needs a path");
		/* The path is cleaned lexically (as Go's filepath.Clean) and
		 * its last element must name a file: not "/", "." or "..". */
		clean_path(rest, a->path, sizeof a->path);
		const char *base = strrchr(a->path, '/');
		base = base ? base + 1 : a->path;
		if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
			return fail(SHMBUF_ERR_INVALID, op, s, "file: path names no file");
		a->backend = B_FILE;
		snprintf(a->text, sizeof a->text, "file:%s", a->path);
		return SHMBUF_OK;
	}
	if (strcmp(scheme, "sysv") == 0 || strcmp(scheme, "sysv-id") == 0) {
		char *end;
		errno = 0;
		long long v = strtoll(rest, &end, strcmp(scheme, "sysv") == 0 ? 0 : 10);
		if (errno || !*rest || *end)
			return fail(SHMBUF_ERR_INVALID, op, s, "bad number");
		a->backend = B_SYSV;
		if (strcmp(scheme, "sysv-id") == 0) {
			if (v < 0 || v > 0x7fffffff)
				return fail(SHMBUF_ERR_INVALID, op, s, "bad id");
			a->by_id = true;
			a->id = (int)v;
		} else {
			if (v < -(1LL << 31) || v > 0xffffffffLL || v == 0)
				return fail(SHMBUF_ERR_INVALID, op, s, "bad key");
			a->key = (int32_t)(uint32_t)v;
		}
		return SHMBUF_OK;
	}
	return fail(SHMBUF_ERR_INVALID, op, s, "unknown scheme (want posix:, file:, sysv: or sysv-id:)");
}

int shmbuf_parse_address(const char *text, int *backend)
{
	struct addr a;
	int rc = parse_addr(text, &a, "parse address");
	if (rc == SHMBUF_OK && backend)
		*backend = a.backend;
	return rc;
}

struct seg {
	uint8_t *base;
	size_t len;
	int fd; /* posix and file: the description that holds the users' lock */
	bool sysv;
	bool ro;
	struct addr a;
};

static void seg_close(struct seg *s)
{
	if (s->base) {
		if (s->sysv)
			shmdt(s->base);
		else
			munmap(s->base, s->len);
	}
	if (s->fd >= 0)
		close(s->fd);
	s->base = NULL;
	s->fd = -1;
}

static int seg_open(const char *text, bool ro, struct seg *s, const char *op)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
	int rc = parse_addr(text, &s->a, op);
	if (rc)
		return rc;
	s->ro = ro;
	if (s->a.backend == B_SYSV) {
		int id = s->a.id;
		if (!s->a.by_id) {
			id = shmget(s->a.key, 0, 0);
			if (id < 0)
				return fail_errno(op, s->a.text, "shmget");
		}
		struct shmid_ds ds;
		/* A segment with mode 0611 is still being built by its creator. */
		for (int i = 0;; i++) {
			if (shmctl(id, IPC_STAT, &ds) < 0)
				return fail_errno(op, s->a.text, "shmctl");
			if ((ds.shm_perm.mode & 0777) != 0611)
				break;
			if (i > 400)
				return fail(SHMBUF_ERR_NOT_SHMBUF, op, s->a.text, "still being created");
			nap_ns(5000000);
		}
		void *p = shmat(id, NULL, ro ? SHM_RDONLY : 0);
		if (p == (void *)-1)
			return fail_errno(op, s->a.text, "shmat");
		s->base = p;
		s->len = ds.shm_segsz;
		s->sysv = true;
		return SHMBUF_OK;
	}
	int fd = open(s->a.path, (ro ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail_errno(op, s->a.text, "open");
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(SHMBUF_ERR_INVALID, op, s->a.text, "not a regular file");
	}
	fcntl(fd, F_SETFL, 0);
	s->fd = fd;
	if (st.st_size < HDR_SIZE) {
		seg_close(s);
		return fail(SHMBUF_ERR_NOT_SHMBUF, op, s->a.text, "smaller than a header");
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | (ro ? 0 : PROT_WRITE), MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int rc2 = fail_errno(op, s->a.text, "mmap");
		seg_close(s);
		return rc2;
	}
	s->base = p;
	s->len = (size_t)st.st_size;
	return SHMBUF_OK;
}

/* seg_create builds a file segment with no name, for the caller to format
 * and then seg_publish (§2.4): no other process sees it half made. */
struct building {
	char hidden[4200]; /* "" for O_TMPFILE */
	int shmid;         /* System V */
	uint32_t mode;     /* System V: the mode that replaces 0611 */
};

/* System V (§2.2): created with mode 0611, which marks a segment being
 * built; seg_publish gives it its mode. */
static int sysv_create(struct seg *s, struct building *b, uint64_t size, uint32_t mode, bool force, const char *op)
{
	if ((mode & 0777) == 0611)
		return fail(SHMBUF_ERR_INVALID, op, s->a.text, "mode 0611 marks System V segments being created");
	if (s->a.by_id)
		return fail(SHMBUF_ERR_INVALID, op, s->a.text, "create by key (sysv:KEY), not by id");
	int id = shmget(s->a.key, size, IPC_CREAT | IPC_EXCL | 0611);
	if (id < 0 && errno == EEXIST && force) {
		int old = shmget(s->a.key, 0, 0);
		if (old >= 0)
			shmctl(old, IPC_RMID, NULL);
		id = shmget(s->a.key, size, IPC_CREAT | IPC_EXCL | 0611);
	}
	if (id < 0)
		return fail_errno(op, s->a.text, "shmget");
	void *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		int rc = fail_errno(op, s->a.text, "shmat");
		shmctl(id, IPC_RMID, NULL);
		return rc;
	}
	s->base = p;
	s->len = size;
	s->sysv = true;
	b->shmid = id;
	b->mode = mode & 0777;
	return SHMBUF_OK;
}

static int seg_create(const char *text, uint64_t size, uint32_t mode, bool force, struct seg *s, struct building *b, const char *op)
{
	memset(s, 0, sizeof *s);
	memset(b, 0, sizeof *b);
	s->fd = -1;
	b->shmid = -1;
	int rc = parse_addr(text, &s->a, op);
	if (rc)
		return rc;
	if (mode == 0)
		mode = 0600;
	if (s->a.backend == B_SYSV)
		return sysv_create(s, b, size, mode, force, op);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", s->a.path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof dir, ".");
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode & 0777);
	if (fd < 0) {
		for (int i = 0; fd < 0 && i < 100; i++) {
			uint64_t r = 0;
			if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
				r = (uint64_t)now_ns();
			snprintf(b->hidden, sizeof b->hidden, "%s/.shmbuf-%016llx", dir, (unsigned long long)r);
			fd = open(b->hidden, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		}
		if (fd < 0)
			return fail_errno(op, s->a.text, "create");
	}
	s->fd = fd;
	if (fchmod(fd, mode & 0777) < 0 || (posix_fallocate(fd, 0, (off_t)size) != 0 && ftruncate(fd, (off_t)size) < 0)) {
		rc = fail_errno(op, s->a.text, "allocate");
		goto bad;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = fail_errno(op, s->a.text, "mmap");
		goto bad;
	}
	s->base = p;
	s->len = size;
	return SHMBUF_OK;
bad:
	if (b->hidden[0])
		unlink(b->hidden);
	seg_close(s);
	return rc;
}

static int seg_publish(struct seg *s, struct building *b, bool force, const char *op)
{
	int rc = SHMBUF_OK;
	if (s->sysv) {
		struct shmid_ds ds;
		if (shmctl(b->shmid, IPC_STAT, &ds) < 0) {
			rc = fail_errno(op, s->a.text, "shmctl");
		} else {
			ds.shm_perm.mode = (ds.shm_perm.mode & ~0777u) | b->mode;
			if (shmctl(b->shmid, IPC_SET, &ds) < 0)
				rc = fail_errno(op, s->a.text, "shmctl");
		}
		if (rc)
			shmctl(b->shmid, IPC_RMID, NULL);
		return rc;
	}
	if (force) {
		struct stat st;
		if (lstat(s->a.path, &st) == 0 && S_ISLNK(st.st_mode))
			return fail(SHMBUF_ERR_INVALID, op, s->a.text, "a symbolic link is there");
	}
	if (b->hidden[0]) {
		if (force ? rename(b->hidden, s->a.path) < 0 : link(b->hidden, s->a.path) < 0)
			rc = fail_errno(op, s->a.text, "link");
		unlink(b->hidden);
		return rc;
	}
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", s->fd);
	if (!force) {
		if (linkat(AT_FDCWD, proc, AT_FDCWD, s->a.path, AT_SYMLINK_FOLLOW) < 0)
			return fail_errno(op, s->a.text, "link");
		return SHMBUF_OK;
	}
	/* Force: link under a hidden name, then rename over the old one. */
	char tmp[4300];
	for (int i = 0; i < 100; i++) {
		snprintf(tmp, sizeof tmp, "%s.shmbuf-%d-%d", s->a.path, (int)getpid(), i);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) {
			if (rename(tmp, s->a.path) < 0) {
				rc = fail_errno(op, s->a.text, "rename");
				unlink(tmp);
			}
			return rc;
		}
		if (errno != EEXIST)
			break;
	}
	return fail_errno(op, s->a.text, "link");
}

/* ---------------------------------------------------------------- header (§2) */

static uint64_t fnv1a(const uint8_t *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static const uint8_t MAGIC[8] = {'S', 'H', 'M', 'B', 'U', 'F', 0, 0};

static uint64_t header_sum(const uint8_t *b)
{
	uint64_t h = fnv1a(MAGIC, 8, 0xcbf29ce484222325ULL);
	return fnv1a(b + 8, 112, h);
}

static uint64_t rd64(const uint8_t *b, size_t off)
{
	uint64_t v;
	memcpy(&v, b + off, 8);
	return v;
}
static uint32_t rd32(const uint8_t *b, size_t off)
{
	uint32_t v;
	memcpy(&v, b + off, 4);
	return v;
}
static void wr64(uint8_t *b, size_t off, uint64_t v) { memcpy(b + off, &v, 8); }
static void wr32(uint8_t *b, size_t off, uint32_t v) { memcpy(b + off, &v, 4); }

static uint64_t magic_word(void)
{
	uint64_t m;
	memcpy(&m, MAGIC, 8);
	return m;
}

/* Copies the header out of shared memory once, then checks the copy, so a
 * peer changing it meanwhile cannot make checks and use disagree. */
static int header_check(struct seg *s, uint32_t kind, uint8_t *h, const char *op)
{
	if (s->len < HDR_SIZE)
		return fail(SHMBUF_ERR_NOT_SHMBUF, op, s->a.text, "smaller than a header");
	if (ld64(s->base, H_MAGIC) != magic_word())
		return fail(SHMBUF_ERR_NOT_SHMBUF, op, s->a.text, NULL);
	memcpy(h, s->base, HDR_SIZE);
	if (rd32(h, H_VERSION) != VERSION)
		return fail(SHMBUF_ERR_VERSION, op, s->a.text, "version %u, this library reads %d", rd32(h, H_VERSION), VERSION);
	if (rd32(h, H_KIND) != kind)
		return fail(SHMBUF_ERR_WRONG_KIND, op, s->a.text, "kind %u", rd32(h, H_KIND));
	if (rd64(h, H_CHECKSUM) != header_sum(h))
		return fail(SHMBUF_ERR_CORRUPT, op, s->a.text, "header checksum mismatch");
	uint64_t segsz = rd64(h, H_SEGMENT_SIZE);
	if (rd32(h, H_HEADER_SIZE) != HDR_SIZE || segsz > s->len || segsz < HDR_SIZE)
		return fail(SHMBUF_ERR_CORRUPT, op, s->a.text, "header sizes out of bounds");
	return SHMBUF_OK;
}

static void header_publish(uint8_t *b, uint32_t kind)
{
	wr32(b, H_VERSION, VERSION);
	wr32(b, H_KIND, kind);
	wr32(b, H_HEADER_SIZE, HDR_SIZE);
	struct ident me = self_ident();
	wr32(b, H_CREATOR_PID, (uint32_t)me.pid);
	wr64(b, H_CREATOR_START, me.start);
	wr64(b, H_CREATED_NANOS, (uint64_t)wall_ns());
	wr32(b, H_CREATOR_NS, me.ns);
	wr64(b, H_CHECKSUM, header_sum(b));
	/* The magic last: a concurrent opener sees no segment or a whole one. */
	st64(b, H_MAGIC, magic_word());
}

/* ---------------------------------------------------------------- rings (§5) */

struct shmbuf_ring {
	struct seg s;
	uint8_t *ctl, *wslots, *rslots, *data;
	uint64_t cap, mask, maxrec, key;
	uint32_t policy, nw, nr;
	atomic_flag reaping;
	atomic_flag list_lock;
	/* Open handles, closed by shmbuf_ring_close. */
	shmbuf_writer *writers;
	shmbuf_reader *readers;
};

static uint64_t ring_size(uint64_t cap, uint32_t w, uint32_t r, bool *ok)
{
	*ok = cap >= MIN_CAPACITY && cap <= MAX_CAPACITY && (cap & (cap - 1)) == 0 && w >= 1 && w <= MAX_SLOTS && r >= 1 &&
	      r <= MAX_SLOTS;
	return HDR_SIZE + R_CTL_SIZE + (uint64_t)(w + r) * SLOT_SIZE + cap;
}

static uint64_t stamp_of(const shmbuf_ring *r, uint64_t pos)
{
	uint64_t x = (pos + 1) ^ r->key;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline uint8_t *wslot(shmbuf_ring *r, uint64_t i) { return r->wslots + i * SLOT_SIZE; }
static inline uint8_t *rslot(shmbuf_ring *r, uint64_t i) { return r->rslots + i * SLOT_SIZE; }

enum found { F_NOTHING, F_RECORD, F_PAD, F_GAP, F_BAD };
struct view {
	int found;
	uint64_t size, len, off;
};

/* record_at decodes the header at pos (§5.3): the stamp first, then the
 * length. Every offset stays inside the data area. */
static struct view record_at(shmbuf_ring *r, uint64_t pos)
{
	struct view v = {0};
	uint64_t off = pos & r->mask;
	uint64_t rem = r->cap - off;
	if (rem < REC_HDR) {
		v.found = F_GAP;
		v.size = rem;
		return v;
	}
	v.off = off;
	if (off % REC_ALIGN) {
		v.found = F_BAD;
		v.len = ~0ULL;
		return v;
	}
	if (ld64(r->data, off) != stamp_of(r, pos)) {
		v.found = F_NOTHING;
		return v;
	}
	uint64_t n = atomic_load_explicit(A32P(r->data, off + 8), memory_order_relaxed);
	uint32_t flags = atomic_load_explicit(A32P(r->data, off + 12), memory_order_relaxed);
	v.len = n;
	if (flags & FLAG_PAD) {
		if (n % REC_ALIGN || REC_HDR + n > rem) {
			v.found = F_BAD;
			return v;
		}
		v.found = F_PAD;
		v.size = REC_HDR + n;
		return v;
	}
	if (n > r->maxrec || record_size(n) > rem) {
		v.found = F_BAD;
		return v;
	}
	v.found = F_RECORD;
	v.size = record_size(n);
	return v;
}

static void publish_hdr(shmbuf_ring *r, uint64_t pos, uint32_t len, uint32_t flags)
{
	uint64_t off = pos & r->mask;
	if (off > r->cap - REC_HDR || off % REC_ALIGN)
		return;
	atomic_store_explicit(A32P(r->data, off + 8), len, memory_order_relaxed);
	atomic_store_explicit(A32P(r->data, off + 12), flags, memory_order_relaxed);
	/* The stamp last (release). Partner: the reader's stamp load. */
	st64(r->data, off, stamp_of(r, pos));
}

static void publish_pad(shmbuf_ring *r, uint64_t pos, uint64_t size, uint64_t slot)
{
	publish_hdr(r, pos, (uint32_t)(size - REC_HDR), (uint32_t)(slot << 16) | FLAG_PAD);
}

static inline uint64_t skip_gap(shmbuf_ring *r, uint64_t p)
{
	uint64_t rem = r->cap - (p & r->mask);
	return rem < REC_HDR ? p + rem : p;
}

static void wake_readers(shmbuf_ring *r)
{
	a32 *w = A32P(r->ctl, R_DATA_WAKE);
	atomic_fetch_add(w, 1);
	futex_wake_all(w);
}

static void wake_writers(shmbuf_ring *r)
{
	a32 *w = A32P(r->ctl, R_SPACE_WAKE);
	atomic_fetch_add(w, 1);
	futex_wake_all(w);
}

static bool min_cursor(shmbuf_ring *r, uint64_t *m)
{
	bool ok = false;
	*m = ~0ULL;
	for (uint32_t i = 0; i < r->nr; i++) {
		uint8_t *s = rslot(r, i);
		if (state_of(ld64(s, RD_STATE)) != SLOT_ACTIVE)
			continue;
		ok = true;
		uint64_t c = ld64(s, RD_CURSOR);
		if (c < *m)
			*m = c;
	}
	return ok;
}

static bool writers_attached(shmbuf_ring *r)
{
	for (uint32_t i = 0; i < r->nw; i++)
		if (state_of(ld64(wslot(r, i), W_STATE)) != SLOT_FREE)
			return true;
	return false;
}

/* end_stream stores Tail|kind in End with a CAS that loads End then Tail
 * (§5.8). */
static void end_stream(shmbuf_ring *r, uint64_t kind)
{
	for (;;) {
		uint64_t old = ld64(r->ctl, R_END);
		uint64_t t = ld64(r->ctl, R_TAIL);
		if (cas64(r->ctl, R_END, old, (t & ~END_MASK) | kind))
			return;
	}
}

/* peer_alive: another description holds the slot's lock (files), or the
 * identity is not proven dead (System V). */
static bool peer_alive(shmbuf_ring *r, uint8_t *slot, uint64_t off_state, uint64_t off_start, uint64_t off_owner, int64_t lock)
{
	if (r->s.fd >= 0)
		return ofd_held(r->s.fd, lock);
	uint64_t st;
	return !owner_dead(slot, off_state, off_start, off_owner, &st);
}

/* take_dead proves a slot's owner dead and takes the slot for reclaiming
 * (§6.3). */
static bool take_dead(shmbuf_ring *r, uint8_t *slot, uint64_t off_start, uint64_t off_owner, int64_t lock, uint64_t *stp)
{
	if (state_of(ld64(slot, 0)) == SLOT_FREE)
		return false;
	if (r->s.fd >= 0) {
		if (ofd_try(r->s.fd, lock, F_WRLCK) != 1)
			return false;
		uint64_t st = ld64(slot, 0);
		if (state_of(st) == SLOT_FREE) {
			ofd_unlock(r->s.fd, lock);
			return false;
		}
		*stp = st;
		return true;
	}
	uint64_t st;
	if (!owner_dead(slot, 0, off_start, off_owner, &st))
		return false;
	uint64_t k = state_of(st);
	if (k != SLOT_ACTIVE && k != SLOT_ATTACHING)
		return false;
	if (!cas64(slot, 0, st, slot_state(state_gen(st), state_pid(st), SLOT_REAPING)))
		return false;
	*stp = st;
	return true;
}

static void release_dead(shmbuf_ring *r, int64_t lock)
{
	if (r->s.fd >= 0)
		ofd_unlock(r->s.fd, lock);
}

/* unblock_claim pads the unpublished pieces of dead writer i's claim. */
static void unblock_claim(shmbuf_ring *r, uint32_t i)
{
	uint8_t *s = wslot(r, i);
	uint64_t c = ld64(s, W_CLAIM), n = ld64(s, W_CLAIM_LEN);
	if (c == 0 || n == 0 || n > r->cap)
		return;
	uint64_t t = c - 1;
	if (t % REC_ALIGN || n % REC_ALIGN || t >= ld64(r->ctl, R_TAIL))
		return;
	uint64_t pieces[2][2];
	int np = 0;
	uint64_t rem = r->cap - (t & r->mask);
	if (n <= rem) {
		pieces[np][0] = t;
		pieces[np++][1] = n;
	} else {
		if (rem >= REC_HDR) {
			pieces[np][0] = t;
			pieces[np++][1] = rem;
		}
		pieces[np][0] = t + rem;
		pieces[np++][1] = n - rem;
	}
	bool pending[2] = {false, false}, any = false;
	for (int k = 0; k < np; k++)
		if (record_at(r, pieces[k][0]).found == F_NOTHING)
			pending[k] = any = true;
	if (!any)
		return;
	uint64_t floor = ld64(r->ctl, R_HEAD), m;
	if (r->policy == SHMBUF_POLICY_BLOCK && min_cursor(r, &m) && m < floor)
		floor = m;
	if (t < floor)
		return;
	for (uint32_t j = 0; j < r->nw; j++) {
		uint8_t *o = wslot(r, j);
		if (j != i && state_of(ld64(o, W_STATE)) == SLOT_ACTIVE && ld64(o, W_CLAIM) == c)
			return;
	}
	for (int k = 0; k < np; k++)
		if (pending[k] && pieces[k][1] >= REC_HDR)
			publish_pad(r, pieces[k][0], pieces[k][1], i);
}

static void reap_writers(shmbuf_ring *r)
{
	if (r->s.ro || atomic_flag_test_and_set(&r->reaping))
		return;
	for (uint32_t i = 0; i < r->nw; i++) {
		uint8_t *s = wslot(r, i);
		uint64_t st;
		if (!take_dead(r, s, W_START, W_OWNER, LOCK_WRITER(i), &st))
			continue;
		bool active = state_of(st) != SLOT_ATTACHING;
		if (active)
			unblock_claim(r, i);
		add64(r->ctl, R_CLOSED_RECORDS, swap64(s, W_RECORDS, 0));
		add64(r->ctl, R_CLOSED_BYTES, swap64(s, W_BYTES, 0));
		uint64_t tok = ld64(r->ctl, R_WALK_TOKEN);
		if (tok == (uint64_t)i + 1)
			cas64(r->ctl, R_WALK_TOKEN, tok, 0);
		if (active)
			end_stream(r, END_LOST);
		st64(s, W_STATE, free_state(st));
		release_dead(r, LOCK_WRITER(i));
		wake_readers(r);
		wake_writers(r);
	}
	atomic_flag_clear(&r->reaping);
}

static void reap_readers(shmbuf_ring *r)
{
	if (r->s.ro || atomic_flag_test_and_set(&r->reaping))
		return;
	for (uint32_t i = 0; i < r->nr; i++) {
		uint8_t *s = rslot(r, i);
		uint64_t st;
		if (!take_dead(r, s, RD_START, RD_OWNER, LOCK_READER(i), &st))
			continue;
		st64(s, RD_STATE, free_state(st));
		release_dead(r, LOCK_READER(i));
		wake_writers(r);
	}
	atomic_flag_clear(&r->reaping);
}

int shmbuf_ring_reap(shmbuf_ring *r)
{
	if (!r)
		return fail(SHMBUF_ERR_INVALID, "reap", "", "no ring");
	reap_writers(r);
	reap_readers(r);
	return SHMBUF_OK;
}

/* check_ring: the control words a live ring can hold (§5.11). */
static int check_ring(shmbuf_ring *r, const char *op)
{
	const char *a = r->s.a.text;
	uint64_t h = ld64(r->ctl, R_HEAD), rm = ld64(r->ctl, R_READ_MARK), e = ld64(r->ctl, R_END);
	uint64_t t = ld64(r->ctl, R_TAIL), h2 = ld64(r->ctl, R_HEAD);
	if (t % REC_ALIGN || h % REC_ALIGN || h > skip_gap(r, t) || (t > h2 && t - h2 > r->cap))
		return fail(SHMBUF_ERR_CORRUPT, op, a, "head %llu, tail %llu", (unsigned long long)h, (unsigned long long)t);
	if (r->policy == SHMBUF_POLICY_BLOCK && (rm % REC_ALIGN || rm < h || rm > skip_gap(r, t)))
		return fail(SHMBUF_ERR_CORRUPT, op, a, "read mark %llu", (unsigned long long)rm);
	if (e) {
		uint64_t k = e & END_MASK;
		if (k < END_EOF || k > END_ABORTED || (e & ~END_MASK) > skip_gap(r, t))
			return fail(SHMBUF_ERR_CORRUPT, op, a, "end of stream %#llx", (unsigned long long)e);
	}
	{
		/* The Head triple, under both policies (format 3). */
		uint64_t hh = ld64(r->ctl, R_HEAD), pos = 0, recs = 0, byts = 0;
		for (int i = 0; i < 1000; i++) {
			uint64_t g = ld64(r->ctl, R_HEAD_GEN), co = R_HEAD_COPY + (g & 1) * 24;
			pos = ld64(r->ctl, co);
			recs = ld64(r->ctl, co + 8);
			byts = ld64(r->ctl, co + 16);
			if (ld64(r->ctl, R_HEAD_GEN) == g)
				break;
		}
		uint64_t tt = ld64(r->ctl, R_TAIL);
		if (pos % REC_ALIGN || pos < hh || pos > skip_gap(r, tt) || recs > pos / REC_HDR || byts > pos - recs * REC_HDR)
			return fail(SHMBUF_ERR_CORRUPT, op, a, "head triple (%llu, %llu records, %llu bytes)", (unsigned long long)pos,
				    (unsigned long long)recs, (unsigned long long)byts);
	}
	for (uint32_t i = 0; i < r->nw; i++) {
		uint64_t st = ld64(wslot(r, i), W_STATE);
		if (!state_valid(st) || (state_of(st) != SLOT_FREE && ld64(wslot(r, i), W_START) >= MAX_START_TICKS))
			return fail(SHMBUF_ERR_CORRUPT, op, a, "writer slot %u: state %#llx", i, (unsigned long long)st);
	}
	for (uint32_t i = 0; i < r->nr; i++) {
		uint8_t *s = rslot(r, i);
		uint64_t ta = ld64(r->ctl, R_TAIL);
		uint64_t st = ld64(s, RD_STATE);
		if (!state_valid(st) || (state_of(st) != SLOT_FREE && ld64(s, RD_START) >= MAX_START_TICKS))
			return fail(SHMBUF_ERR_CORRUPT, op, a, "reader slot %u: state %#llx", i, (unsigned long long)st);
		if (state_of(st) != SLOT_ACTIVE)
			continue;
		uint64_t c = ld64(s, RD_CURSOR), tb = ld64(r->ctl, R_TAIL);
		if (c % REC_ALIGN || c > skip_gap(r, tb) || (r->policy == SHMBUF_POLICY_BLOCK && ta > c && ta - c > r->cap))
			return fail(SHMBUF_ERR_CORRUPT, op, a, "reader slot %u: cursor %llu", i, (unsigned long long)c);
	}
	return SHMBUF_OK;
}

static int ring_map(struct seg *s, shmbuf_ring **out, const char *op)
{
	uint8_t h[HDR_SIZE];
	int rc = header_check(s, KIND_RING, h, op);
	if (rc)
		return rc;
	uint64_t cap = rd64(h, H_CAPACITY), maxrec = rd64(h, H_MAX_RECORD), key = rd64(h, H_STAMP_KEY);
	uint32_t nw = rd32(h, H_WRITERS), nr = rd32(h, H_READERS), pol = rd32(h, H_POLICY);
	bool ok;
	uint64_t need = ring_size(cap, nw, nr, &ok);
	if (!ok || maxrec < 1 || maxrec > cap || record_size(maxrec) > cap / 2 || pol > 1 || key >> 63 != 1 ||
	    need > rd64(h, H_SEGMENT_SIZE))
		return fail(SHMBUF_ERR_CORRUPT, op, s->a.text, "ring parameters out of range");
	shmbuf_ring *r = calloc(1, sizeof *r);
	if (!r)
		return fail(SHMBUF_ERR_SYSTEM, op, s->a.text, "out of memory");
	r->s = *s;
	r->cap = cap;
	r->mask = cap - 1;
	r->maxrec = maxrec;
	r->key = key;
	r->policy = pol;
	r->nw = nw;
	r->nr = nr;
	r->ctl = s->base + R_CTL;
	r->wslots = r->ctl + R_CTL_SIZE;
	r->rslots = r->wslots + (uint64_t)nw * SLOT_SIZE;
	r->data = r->rslots + (uint64_t)nr * SLOT_SIZE;
	atomic_flag_clear(&r->reaping);
	atomic_flag_clear(&r->list_lock);
	/* Every user holds the users' shared lock (§6.1). */
	if (s->fd >= 0 && ofd_try(s->fd, LOCK_USERS, F_RDLCK) < 0) {
		free(r);
		return fail_errno(op, s->a.text, "lock");
	}
	*out = r;
	return SHMBUF_OK;
}

int shmbuf_ring_open(const char *addr, shmbuf_ring **out)
{
	if (!out)
		return fail(SHMBUF_ERR_INVALID, "open", addr, "no result pointer");
	struct seg s;
	int rc = seg_open(addr, false, &s, "open");
	if (rc)
		return rc;
	rc = ring_map(&s, out, "open");
	if (rc)
		seg_close(&s);
	return rc;
}

int shmbuf_ring_open_readonly(const char *addr, shmbuf_ring **out)
{
	if (!out)
		return fail(SHMBUF_ERR_INVALID, "open", addr, "no result pointer");
	struct seg s;
	int rc = seg_open(addr, true, &s, "open");
	if (rc)
		return rc;
	rc = ring_map(&s, out, "open");
	if (rc)
		seg_close(&s);
	return rc;
}

int shmbuf_ring_create(const char *addr, const shmbuf_ring_opts *o, shmbuf_ring **out)
{
	const char *op = "create";
	if (!o || !out || o->size == 0 || o->size > MAX_CAPACITY || o->policy < 0 || o->policy > 1 || o->readers > MAX_SLOTS ||
	    o->writers > MAX_SLOTS)
		return fail(SHMBUF_ERR_INVALID, op, addr, "bad options");
	uint64_t cap = MIN_CAPACITY;
	while (cap < o->size)
		cap <<= 1;
	uint32_t nr = o->readers ? o->readers : 16, nw = o->writers ? o->writers : 16;
	uint64_t maxrec = o->max_record;
	if (maxrec == 0) {
		maxrec = cap / 4 - REC_HDR;
		if (maxrec > (16u << 20))
			maxrec = 16u << 20;
	}
	if (record_size(maxrec) > cap / 2)
		return fail(SHMBUF_ERR_INVALID, op, addr, "ring of %llu bytes too small for records of %llu bytes",
			    (unsigned long long)cap, (unsigned long long)maxrec);
	bool ok;
	uint64_t total = ring_size(cap, nw, nr, &ok);
	struct seg s;
	struct building b;
	int rc = seg_create(addr, total, o->mode, o->force != 0, &s, &b, op);
	if (rc)
		return rc;
	uint8_t *h = s.base;
	wr64(h, H_SEGMENT_SIZE, total);
	wr64(h, H_CAPACITY, cap);
	wr64(h, H_MAX_RECORD, maxrec);
	wr32(h, H_READERS, nr);
	wr32(h, H_WRITERS, nw);
	wr32(h, H_POLICY, (uint32_t)o->policy);
	uint64_t key = 0;
	if (getrandom(&key, sizeof key, 0) != (ssize_t)sizeof key)
		key = (uint64_t)now_ns() * 0x9e3779b97f4a7c15ULL;
	wr64(h, H_STAMP_KEY, key | 1ULL << 63);
	header_publish(h, KIND_RING);
	rc = seg_publish(&s, &b, o->force, op);
	if (rc == SHMBUF_OK)
		rc = ring_map(&s, out, op);
	if (rc)
		seg_close(&s);
	return rc;
}

uint64_t shmbuf_ring_capacity(const shmbuf_ring *r) { return r ? r->cap : 0; }
uint64_t shmbuf_ring_max_record(const shmbuf_ring *r) { return r ? r->maxrec : 0; }
int shmbuf_ring_policy(const shmbuf_ring *r) { return r ? (int)r->policy : -1; }

/* Each writer and reader holds its slot lock on a description of its own
 * (§6.1): locks of one description never conflict. */
static int reopen_fd(shmbuf_ring *r, const char *op)
{
	if (r->s.fd < 0)
		return -1;
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", r->s.fd);
	int fd = open(proc, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fail_errno(op, r->s.a.text, "reopen");
		return -2;
	}
	return fd;
}

/* take_slot: lock first, then CAS free -> attaching (§6.1). */
static bool take_slot(int lf, uint8_t *slot, int64_t lock, int32_t pid, uint64_t *out)
{
	uint64_t st = ld64(slot, 0);
	if (state_of(st) != SLOT_FREE)
		return false;
	if (lf >= 0) {
		if (ofd_try(lf, lock, F_WRLCK) != 1)
			return false;
		st = ld64(slot, 0);
	}
	uint64_t next = slot_state(next_gen(st), pid, SLOT_ATTACHING);
	if (state_of(st) != SLOT_FREE || !cas64(slot, 0, st, next)) {
		if (lf >= 0)
			ofd_unlock(lf, lock);
		return false;
	}
	*out = next;
	return true;
}

/* ---- waiting (§5.9) */

struct waitst {
	uint64_t n;
	bool yielding;
	int64_t since, next_check;
	bool suspect;
};

#define SPIN_FOR 20000LL
#define YIELD_FOR 100000LL
#define SLICE_MAX 100000000LL
#define CHECK_EVERY 200000000LL
#define SLEEP_POLL 50000LL

static void ws_reset(struct waitst *s)
{
	s->n = 0;
	s->yielding = false;
	s->since = 0;
}

static bool ws_due(struct waitst *s, int64_t now)
{
	if (s->next_check == 0) {
		s->next_check = now + CHECK_EVERY;
		return false;
	}
	if (now < s->next_check)
		return false;
	s->next_check = now + CHECK_EVERY;
	return true;
}

typedef bool (*blocked_fn)(void *);

/* ws_pause waits once; *due reports that a liveness check is due. Returns
 * SHMBUF_ERR_TIMEOUT when the deadline passed. */
static int ws_pause(struct waitst *s, int strat, a32 *word, a32 *waiters, blocked_fn blocked, void *arg, int64_t deadline,
		    bool *due)
{
	*due = false;
	s->n++;
	if (strat != SHMBUF_WAIT_BLOCK) {
		uint64_t every = 64;
		if (s->yielding) {
			sched_yield();
			every = 4;
		} else {
			cpu_relax();
		}
		if (s->n % every)
			return SHMBUF_OK;
		int64_t now = now_ns();
		if (s->since == 0)
			s->since = now;
		if (deadline >= 0 && now >= deadline)
			return SHMBUF_ERR_TIMEOUT;
		if (strat == SHMBUF_WAIT_SPIN) {
			*due = ws_due(s, now);
			return SHMBUF_OK;
		}
		int64_t el = now - s->since;
		if (el < YIELD_FOR) {
			if (el >= SPIN_FOR && !s->yielding) {
				s->yielding = true;
				s->n = 0;
			}
			*due = ws_due(s, now);
			return SHMBUF_OK;
		}
	}
	int64_t now = now_ns();
	if (deadline >= 0 && now >= deadline)
		return SHMBUF_ERR_TIMEOUT;
	if (!word) {
		nap_ns(SLEEP_POLL);
	} else {
		/* Count ourselves, then check the condition a last time.
		 * Partner: the waker's waiters load after it changed it. */
		atomic_fetch_add(waiters, 1);
		uint32_t v = atomic_load(word);
		if (blocked(arg)) {
			int64_t t = SLICE_MAX;
			if (deadline >= 0 && deadline - now < t)
				t = deadline - now > 1000 ? deadline - now : 1000;
			futex_wait(word, v, t);
		}
		atomic_fetch_sub(waiters, 1);
	}
	now = now_ns();
	if (deadline >= 0 && now >= deadline)
		return SHMBUF_ERR_TIMEOUT;
	*due = ws_due(s, now);
	return SHMBUF_OK;
}

/* ---- writers (§5.4) */

struct shmbuf_writer {
	shmbuf_ring *r;
	uint8_t *slot;
	uint64_t idx;
	uint32_t gen;
	int lf;
	int wait;
	uint64_t limit;
	bool pending;
	uint64_t claim_pos, claim_len;
	uint64_t records, bytes, last_len;
	struct waitst ws;
	shmbuf_writer *next;
};

int shmbuf_writer_open(shmbuf_ring *r, int wait, shmbuf_writer **out)
{
	const char *op = "writer";
	if (!r || !out || wait < 0 || wait > 2)
		return fail(SHMBUF_ERR_INVALID, op, r ? r->s.a.text : "", "bad arguments");
	if (r->s.ro)
		return fail(SHMBUF_ERR_READ_ONLY, op, r->s.a.text, "opened read-only: only observers read it");
	int lf = reopen_fd(r, op);
	if (lf == -2)
		return SHMBUF_ERR_SYSTEM;
	struct ident me = self_ident();
	for (int try = 0; try < 2; try++) {
		for (uint32_t i = 0; i < r->nw; i++) {
			uint8_t *s = wslot(r, i);
			uint64_t st;
			if (!take_slot(lf, s, LOCK_WRITER(i), me.pid, &st))
				continue;
			uint32_t gen = state_gen(st);
			st64(s, W_START, me.start);
			/* Partner: owner_dead's loads (Owner before Start). */
			st64(s, W_OWNER, owner_word(me.ns, gen));
			st64(s, W_CLAIM, 0);
			st64(s, W_CLAIM_LEN, 0);
			st64(s, W_RECORDS, 0);
			st64(s, W_BYTES, 0);
			st64(s, W_STATE, slot_state(gen, me.pid, SLOT_ACTIVE));
			shmbuf_writer *w = calloc(1, sizeof *w);
			if (!w) {
				st64(s, W_STATE, slot_state(gen, 0, SLOT_FREE));
				if (lf >= 0)
					close(lf);
				return fail(SHMBUF_ERR_SYSTEM, op, r->s.a.text, "out of memory");
			}
			w->r = r;
			w->slot = s;
			w->idx = i;
			w->gen = gen;
			w->lf = lf;
			w->wait = wait;
			spin_lock(&r->list_lock);
			w->next = r->writers;
			r->writers = w;
			spin_unlock(&r->list_lock);
			*out = w;
			return SHMBUF_OK;
		}
		reap_writers(r);
	}
	if (lf >= 0)
		close(lf);
	return fail(SHMBUF_ERR_FULL, op, r->s.a.text, "limit %u writers", r->nw);
}

static uint64_t room(shmbuf_ring *r)
{
	uint64_t h = ld64(r->ctl, R_HEAD), m;
	if (r->policy == SHMBUF_POLICY_BLOCK && min_cursor(r, &m) && m < h)
		h = m;
	return h + r->cap;
}

static uint64_t reusable(shmbuf_ring *r)
{
	uint64_t g = ld64(r->ctl, R_READ_MARK), m;
	if (min_cursor(r, &m) && m < g)
		g = m;
	return g;
}

/* walk moves Head over whole published records under the walk token
 * (§5.6). */
static int walk(shmbuf_writer *w, uint64_t target, uint64_t bound, bool *took)
{
	shmbuf_ring *r = w->r;
	uint8_t *c = r->ctl;
	uint64_t me = w->idx + 1;
	*took = false;
	if (!cas64(c, R_WALK_TOKEN, 0, me))
		return SHMBUF_OK;
	*took = true;
	int rc = SHMBUF_OK;
	/* The triple, not Head, under both policies: a walker that died
	 * between its HeadGen and Head stores left Head behind the triple. */
	uint64_t g = ld64(c, R_HEAD_GEN);
	uint64_t co = R_HEAD_COPY + (g & 1) * 24;
	uint64_t pos = ld64(c, co), recs = ld64(c, co + 8), byts = ld64(c, co + 16);
	uint64_t start = pos, goal = target;
	uint64_t tail = ld64(c, R_TAIL);
	if (goal < tail) {
		goal = target + r->cap / 16;
		if (goal > tail)
			goal = tail;
	}
	if (goal > bound)
		goal = bound;
	while (pos < goal) {
		struct view v = record_at(r, pos);
		if (v.found == F_NOTHING)
			break;
		if (v.found == F_BAD) {
			rc = fail(SHMBUF_ERR_CORRUPT, "write", r->s.a.text, "record header out of bounds at position %llu",
				  (unsigned long long)pos);
			goto out;
		}
		if (pos + v.size > bound)
			break;
		if (v.found == F_RECORD) {
			recs++;
			byts += v.len;
		}
		pos += v.size;
	}
	if (pos == start) {
		/* After a walker that died before its Head store. */
		if (ld64(c, R_HEAD) != pos)
			st64(c, R_HEAD, pos);
		goto out;
	}
	/* Fill the copy readers are not pointed at, then flip, then move
	 * Head. Partners: head_triple's loads and the Head checks of
	 * overwrite-policy readers and of observers. */
	co = R_HEAD_COPY + ((g + 1) & 1) * 24;
	st64(c, co, pos);
	st64(c, co + 8, recs);
	st64(c, co + 16, byts);
	st64(c, R_HEAD_GEN, g + 1);
	/* Partner: readers attaching, lapped readers and observers. */
	st64(c, R_HEAD, pos);
out:
	cas64(c, R_WALK_TOKEN, me, 0);
	return rc;
}

static void steal_token(shmbuf_writer *w)
{
	shmbuf_ring *r = w->r;
	uint64_t tok = ld64(r->ctl, R_WALK_TOKEN);
	if (tok == 0)
		return;
	if (tok > r->nw) {
		cas64(r->ctl, R_WALK_TOKEN, tok, 0);
		return;
	}
	uint8_t *s = wslot(r, tok - 1);
	if (state_of(ld64(s, W_STATE)) == SLOT_FREE || !peer_alive(r, s, W_STATE, W_START, W_OWNER, LOCK_WRITER(tok - 1)))
		cas64(r->ctl, R_WALK_TOKEN, tok, 0);
}

static void flush_counters(shmbuf_writer *w)
{
	st64(w->slot, W_RECORDS, w->records);
	st64(w->slot, W_BYTES, w->bytes);
	st64(w->r->ctl, R_LAST_WRITE, (uint64_t)wall_ns());
}

struct space_arg {
	shmbuf_writer *w;
	uint64_t end;
};

static bool space_blocked(void *p)
{
	struct space_arg *a = p;
	return a->end > reusable(a->w->r) + a->w->r->cap;
}

static int writer_check(shmbuf_writer *w)
{
	int rc = check_ring(w->r, "write");
	if (rc)
		return rc;
	struct ident me = self_ident();
	if (ld64(w->slot, W_STATE) != slot_state(w->gen, me.pid, SLOT_ACTIVE) || ld64(w->slot, W_START) != me.start)
		return fail(SHMBUF_ERR_CORRUPT, "write", w->r->s.a.text, "our writer slot changed under us");
	return SHMBUF_OK;
}

static int make_room(shmbuf_writer *w, uint64_t end, int64_t deadline)
{
	shmbuf_ring *r = w->r;
	bool block = r->policy == SHMBUF_POLICY_BLOCK;
	ws_reset(&w->ws);
	for (;;) {
		uint64_t lim = room(r);
		if (end <= lim) {
			w->limit = lim;
			return SHMBUF_OK;
		}
		uint64_t bound = block ? reusable(r) : ~0ULL;
		bool walked;
		int rc = walk(w, end - r->cap, bound, &walked);
		if (rc)
			return rc;
		lim = room(r);
		if (end <= lim) {
			w->limit = lim;
			return SHMBUF_OK;
		}
		if (deadline == -2)
			return fail(SHMBUF_ERR_EMPTY, "write", r->s.a.text, "no space");
		a32 *word = NULL, *waiters = NULL;
		struct space_arg arg = {w, end};
		if (block && walked) {
			flush_counters(w);
			word = A32P(r->ctl, R_SPACE_WAKE);
			waiters = A32P(r->ctl, R_WRITER_WAITERS);
		}
		bool due;
		rc = ws_pause(&w->ws, w->wait, word, waiters, space_blocked, &arg, deadline, &due);
		if (rc)
			return fail(rc, "write", r->s.a.text, "waiting for space");
		if (due) {
			rc = writer_check(w);
			if (rc && w->ws.suspect)
				return rc;
			w->ws.suspect = rc != 0;
			if (!rc) {
				if (block)
					reap_readers(r);
				reap_writers(r);
				steal_token(w);
			}
		}
	}
}

/* claim reserves size bytes at Tail by CAS (§5.4), padding the rest of the
 * lap when the record does not fit in it. */
static int claim_space(shmbuf_writer *w, uint64_t size, int64_t deadline, uint64_t *posp)
{
	shmbuf_ring *r = w->r;
	for (;;) {
		uint64_t t = ld64(r->ctl, R_TAIL);
		uint64_t start = t, rem = r->cap - (t & r->mask);
		if (rem < size)
			start = t + rem;
		uint64_t end = start + size;
		if (end > w->limit || end <= t || t + r->cap + REC_ALIGN < w->limit) {
			if (end <= t || t + r->cap + REC_ALIGN < w->limit || t % REC_ALIGN)
				return fail(SHMBUF_ERR_CORRUPT, "write", r->s.a.text, "tail %#llx cannot be right",
					    (unsigned long long)t);
			int rc = make_room(w, end, deadline);
			if (rc)
				return rc;
			continue;
		}
		/* Record the claim before making it. Partner: unblock_claim. */
		st64(w->slot, W_CLAIM, t + 1);
		if (end - t != w->last_len) {
			st64(w->slot, W_CLAIM_LEN, end - t);
			w->last_len = end - t;
		}
		if (!cas64(r->ctl, R_TAIL, t, end)) {
			st64(w->slot, W_CLAIM, 0);
			continue;
		}
		if (start != t && start - t >= REC_HDR)
			publish_pad(r, t, start - t, w->idx);
		*posp = start;
		return SHMBUF_OK;
	}
}

static void writer_publish(shmbuf_writer *w)
{
	shmbuf_ring *r = w->r;
	publish_hdr(r, w->claim_pos, (uint32_t)w->claim_len, (uint32_t)(w->idx << 16));
	w->pending = false;
	w->records++;
	w->bytes += w->claim_len;
	if ((w->records & 255) == 0 || w->records == 1)
		flush_counters(w);
	if (ld32(r->ctl, R_READER_WAITERS) != 0)
		wake_readers(r);
}

static int64_t writer_deadline(int64_t timeout_ns)
{
	/* -2 marks "do not wait" inside make_room. */
	return timeout_ns == 0 ? -2 : deadline_of(timeout_ns);
}

int shmbuf_claim(shmbuf_writer *w, size_t n, void **buf, int64_t timeout_ns)
{
	if (!w || !buf)
		return fail(SHMBUF_ERR_INVALID, "write", "", "no writer");
	shmbuf_ring *r = w->r;
	if (w->pending)
		return fail(SHMBUF_ERR_INVALID, "write", r->s.a.text, "claim before commit of the previous claim");
	if (n < 1)
		return fail(SHMBUF_ERR_INVALID, "write", r->s.a.text, "record of zero bytes");
	if (n > r->maxrec)
		return fail(SHMBUF_ERR_TOO_LARGE, "write", r->s.a.text, "%zu bytes, max record %llu", n,
			    (unsigned long long)r->maxrec);
	uint64_t pos = 0;
	int rc = claim_space(w, record_size(n), writer_deadline(timeout_ns), &pos);
	if (rc)
		return rc;
	w->pending = true;
	w->claim_pos = pos;
	w->claim_len = n;
	*buf = r->data + (pos & r->mask) + REC_HDR;
	return SHMBUF_OK;
}

int shmbuf_commit(shmbuf_writer *w)
{
	if (!w || !w->pending)
		return fail(SHMBUF_ERR_INVALID, "write", w ? w->r->s.a.text : "", "commit without claim");
	writer_publish(w);
	return SHMBUF_OK;
}

int shmbuf_abort(shmbuf_writer *w)
{
	if (!w || !w->pending)
		return fail(SHMBUF_ERR_INVALID, "write", w ? w->r->s.a.text : "", "abort without claim");
	shmbuf_ring *r = w->r;
	publish_pad(r, w->claim_pos, record_size(w->claim_len), w->idx);
	w->pending = false;
	/* Readers waiting at the claim move past the padding. */
	if (ld32(r->ctl, R_READER_WAITERS) != 0)
		wake_readers(r);
	return SHMBUF_OK;
}

int shmbuf_write(shmbuf_writer *w, const void *p, size_t n, int64_t timeout_ns)
{
	void *buf;
	int rc = shmbuf_claim(w, n, &buf, timeout_ns);
	if (rc)
		return rc;
	memcpy(buf, p, n);
	writer_publish(w);
	return SHMBUF_OK;
}

static void unlink_writer(shmbuf_writer *w)
{
	spin_lock(&w->r->list_lock);
	for (shmbuf_writer **pp = &w->r->writers; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	spin_unlock(&w->r->list_lock);
}

int shmbuf_writer_close(shmbuf_writer *w, int aborted)
{
	if (!w)
		return SHMBUF_OK;
	shmbuf_ring *r = w->r;
	if (w->pending) {
		publish_pad(r, w->claim_pos, record_size(w->claim_len), w->idx);
		w->pending = false;
	}
	flush_counters(w);
	add64(r->ctl, R_CLOSED_RECORDS, swap64(w->slot, W_RECORDS, 0));
	add64(r->ctl, R_CLOSED_BYTES, swap64(w->slot, W_BYTES, 0));
	end_stream(r, aborted ? END_ABORTED : END_EOF);
	/* Partner: writers_attached in readers, after the End store. */
	st64(w->slot, W_STATE, slot_state(w->gen, 0, SLOT_FREE));
	if (ld32(r->ctl, R_READER_WAITERS) != 0)
		wake_readers(r);
	close_slot_lock(w->lf, LOCK_WRITER(w->idx));
	unlink_writer(w);
	free(w);
	return SHMBUF_OK;
}

/* ---- readers (§5.5) */

struct shmbuf_reader {
	shmbuf_ring *r;
	uint8_t *slot;
	uint32_t idx;
	uint32_t gen;
	int lf;
	int wait;
	bool overwrite;
	uint64_t pos, published, batch, start;
	bool marking;
	uint64_t ended;
	uint64_t recs, byts;
	uint64_t lost_recs, lost_bytes;
	uint8_t *buf;
	size_t bufcap;
	struct waitst ws;
	shmbuf_reader *next;
};

static void head_triple(shmbuf_ring *r, uint64_t *pos, uint64_t *recs, uint64_t *byts)
{
	for (int i = 0;; i++) {
		uint64_t g = ld64(r->ctl, R_HEAD_GEN);
		uint64_t co = R_HEAD_COPY + (g & 1) * 24;
		*pos = ld64(r->ctl, co);
		*recs = ld64(r->ctl, co + 8);
		*byts = ld64(r->ctl, co + 16);
		if (ld64(r->ctl, R_HEAD_GEN) == g)
			return;
		if (i > 1000)
			sched_yield();
	}
}

/* skip_to_tail moves a cursor (pos, with the records and bytes before it)
 * over the published records up to Tail (§5.5). */
static void skip_to_tail(shmbuf_ring *r, uint64_t *posp, uint64_t *recsp, uint64_t *bytsp)
{
	uint64_t tail = ld64(r->ctl, R_TAIL);
	for (int guard = 0; *posp < tail && guard < (1 << 26); guard++) {
		uint64_t p = *posp;
		struct view v = record_at(r, p);
		if (v.found == F_NOTHING)
			return;
		if (v.found != F_GAP && ld64(r->ctl, R_HEAD) > p) {
			uint64_t pos, recs, byts;
			head_triple(r, &pos, &recs, &byts);
			if (pos <= p)
				return;
			*posp = pos;
			*recsp = recs;
			*bytsp = byts;
			continue;
		}
		if (v.found == F_BAD)
			return;
		if (v.found == F_RECORD) {
			(*recsp)++;
			*bytsp += v.len;
		}
		*posp += v.size;
	}
}

int shmbuf_reader_open(shmbuf_ring *r, int wait, int from, shmbuf_reader **out)
{
	const char *op = "reader";
	if (!r || !out || wait < 0 || wait > 2 || from < 0 || from > 1)
		return fail(SHMBUF_ERR_INVALID, op, r ? r->s.a.text : "", "bad arguments");
	if (r->s.ro)
		return fail(SHMBUF_ERR_READ_ONLY, op, r->s.a.text, "opened read-only: only observers read it");
	int lf = reopen_fd(r, op);
	if (lf == -2)
		return SHMBUF_ERR_SYSTEM;
	struct ident me = self_ident();
	for (int try = 0; try < 2; try++) {
		for (uint32_t i = 0; i < r->nr; i++) {
			uint8_t *s = rslot(r, i);
			uint64_t st;
			if (!take_slot(lf, s, LOCK_READER(i), me.pid, &st))
				continue;
			uint32_t gen = state_gen(st);
			st64(s, RD_START, me.start);
			st64(s, RD_OWNER, owner_word(me.ns, gen));
			shmbuf_reader *rd = calloc(1, sizeof *rd);
			if (!rd) {
				st64(s, RD_STATE, slot_state(gen, 0, SLOT_FREE));
				if (lf >= 0)
					close(lf);
				return fail(SHMBUF_ERR_SYSTEM, op, r->s.a.text, "out of memory");
			}
			rd->r = r;
			rd->slot = s;
			rd->idx = i;
			rd->gen = gen;
			rd->lf = lf;
			rd->wait = wait;
			rd->batch = r->cap / 8;
			rd->overwrite = r->policy == SHMBUF_POLICY_OVERWRITE;
			uint64_t active = slot_state(gen, me.pid, SLOT_ACTIVE);
			if (rd->overwrite) {
				head_triple(r, &rd->pos, &rd->recs, &rd->byts);
				if (from == SHMBUF_FROM_LATEST)
					skip_to_tail(r, &rd->pos, &rd->recs, &rd->byts);
				st64(s, RD_CURSOR, rd->pos);
				st64(s, RD_STATE, active);
				rd->published = rd->pos;
			} else {
				uint64_t p = from == SHMBUF_FROM_LATEST ? ld64(r->ctl, R_TAIL) : ld64(r->ctl, R_HEAD);
				/* Cursor, active, then Head again (§5.6). */
				st64(s, RD_CURSOR, p);
				st64(s, RD_STATE, active);
				for (;;) {
					uint64_t h = ld64(r->ctl, R_HEAD);
					if (h <= p)
						break;
					p = h;
					st64(s, RD_CURSOR, p);
				}
				rd->pos = rd->published = rd->start = p;
			}
			spin_lock(&r->list_lock);
			rd->next = r->readers;
			r->readers = rd;
			spin_unlock(&r->list_lock);
			*out = rd;
			return SHMBUF_OK;
		}
		reap_readers(r);
	}
	if (lf >= 0)
		close(lf);
	return fail(SHMBUF_ERR_FULL, op, r->s.a.text, "limit %u readers", r->nr);
}

static void mark_read(shmbuf_reader *rd)
{
	uint8_t *c = rd->r->ctl;
	for (;;) {
		uint64_t m = ld64(c, R_READ_MARK);
		if (m >= rd->pos)
			return;
		if (!rd->marking) {
			if (rd->start > m)
				return;
			rd->marking = true;
		}
		if (cas64(c, R_READ_MARK, m, rd->pos))
			return;
	}
}

/* reader_publish_at stores cursor p: rd->pos, or the start of the record
 * just returned, which the caller may still hold (never past it). */
static void reader_publish_at(shmbuf_reader *rd, uint64_t p)
{
	st64(rd->slot, RD_CURSOR, p);
	rd->published = p;
	if (!rd->overwrite)
		mark_read(rd);
	if (ld32(rd->r->ctl, R_WRITER_WAITERS) != 0)
		wake_writers(rd->r);
}

static void reader_publish(shmbuf_reader *rd)
{
	reader_publish_at(rd, rd->pos);
}

/* resync moves a lapped cursor (pos, with the records and bytes before
 * it) to the Head triple and reports what it missed (§5.7), for readers
 * and observers alike; who names the cursor in the error. */
static int resync(shmbuf_ring *r, uint64_t past, uint64_t *pos, uint64_t *recs, uint64_t *byts, uint64_t *lost_recs,
		  uint64_t *lost_bytes, const char *who)
{
	uint64_t hp, hr, hb;
	head_triple(r, &hp, &hr, &hb);
	if (hp < past || hr < *recs || hb < *byts)
		return fail(SHMBUF_ERR_CORRUPT, "read", r->s.a.text, "head triple is not past the %s", who);
	*lost_recs = hr - *recs;
	*lost_bytes = hb - *byts;
	*pos = hp;
	*recs = hr;
	*byts = hb;
	return fail(SHMBUF_ERR_LOST, "read", r->s.a.text, "lost %llu records (%llu bytes)", (unsigned long long)*lost_recs,
		    (unsigned long long)*lost_bytes);
}

static int lapped(shmbuf_reader *rd, uint64_t past)
{
	int rc = resync(rd->r, past, &rd->pos, &rd->recs, &rd->byts, &rd->lost_recs, &rd->lost_bytes, "reader");
	if (rc == SHMBUF_ERR_LOST)
		add64(rd->r->ctl, R_OVERRUNS, 1);
	return rc;
}

/* take returns the record at the cursor: 1 found, 0 nothing, <0 error. */
static int take(shmbuf_reader *rd, const void **rec, size_t *len)
{
	shmbuf_ring *r = rd->r;
	for (uint64_t guard = 0;; guard++) {
		uint64_t p = rd->pos;
		struct view v = record_at(r, p);
		if ((v.found == F_GAP || v.found == F_PAD) && guard < r->cap) {
			rd->pos = p + v.size;
			continue;
		}
		if (v.found == F_BAD || v.found == F_GAP || v.found == F_PAD) {
			if (rd->overwrite && ld64(r->ctl, R_HEAD) > p)
				return lapped(rd, p + 1);
			return fail(SHMBUF_ERR_CORRUPT, "read", r->s.a.text, "record at position %llu has length %llu (max record %llu)",
				    (unsigned long long)p, (unsigned long long)v.len, (unsigned long long)r->maxrec);
		}
		if (rd->overwrite && ld64(r->ctl, R_HEAD) > p)
			return lapped(rd, p + 1);
		if (v.found == F_NOTHING)
			return 0;
		uint8_t *src = r->data + v.off + REC_HDR;
		if (rd->overwrite) {
			if (rd->bufcap < v.len) {
				size_t nc = rd->bufcap ? rd->bufcap * 2 : 256;
				while (nc < v.len)
					nc *= 2;
				uint8_t *nb = realloc(rd->buf, nc);
				if (!nb)
					return fail(SHMBUF_ERR_SYSTEM, "read", r->s.a.text, "out of memory");
				rd->buf = nb;
				rd->bufcap = nc;
			}
			memcpy(rd->buf, src, v.len);
			/* Head still at or below p after the copy: no writer
			 * claimed the space. Partner: the walker's Head store. */
			if (ld64(r->ctl, R_HEAD) > p)
				return lapped(rd, p + 1);
			src = rd->buf;
		}
		rd->pos = p + v.size;
		rd->recs++;
		rd->byts += v.len;
		*rec = src;
		*len = v.len;
		return 1;
	}
}

/* ends_at_r: End e, loaded first, and the writer slots, scanned after it,
 * say that the stream ends at p, and reported (the End word last reported
 * at this cursor) is not it (§5.8). */
static bool ends_at_r(shmbuf_ring *r, uint64_t p, uint64_t e, uint64_t reported)
{
	return e != 0 && e != reported && skip_gap(r, e & ~END_MASK) == p && !writers_attached(r);
}

static bool ends_at(shmbuf_reader *rd, uint64_t p, uint64_t e) { return ends_at_r(rd->r, p, e, rd->ended); }

/* end_err is the code of an end of stream by its cause. */
static int end_err(shmbuf_ring *r, uint64_t e)
{
	if ((e & END_MASK) == END_EOF) {
		fail(SHMBUF_EOF, "read", r->s.a.text, NULL);
		return SHMBUF_EOF;
	}
	return fail(SHMBUF_ERR_WRITER_LOST, "read", r->s.a.text,
		    (e & END_MASK) == END_ABORTED ? "the last writer closed with an error" : "the last writer died");
}

struct idle_arg {
	shmbuf_reader *rd;
	uint64_t p, e;
};

static bool reader_idle(void *a)
{
	struct idle_arg *x = a;
	shmbuf_ring *r = x->rd->r;
	if (record_at(r, x->p).found != F_NOTHING || ld64(r->ctl, R_END) != x->e || ends_at(x->rd, x->p, x->e))
		return false;
	return !x->rd->overwrite || ld64(r->ctl, R_HEAD) <= x->p;
}

/* hole_err reports a hole at p (§5.11): nothing published below Tail while
 * no writer is attached. Every claim below Tail is then published or
 * padded (a closer pads its claim, a reaper a dead writer's), so only lost
 * memory leaves one (a file ring after a crash of the machine, or a corrupt
 * segment), and a reader there would wait for ever. Loads in this order:
 * Tail, the writer slots, the record, Head (a Head past p is a lap). */
static int hole_err(shmbuf_ring *r, uint64_t p)
{
	uint64_t t = ld64(r->ctl, R_TAIL);
	if (p >= skip_gap(r, t) || writers_attached(r) || record_at(r, p).found != F_NOTHING || ld64(r->ctl, R_HEAD) > p)
		return SHMBUF_OK;
	return fail(SHMBUF_ERR_CORRUPT, "read", r->s.a.text,
		    "nothing is published at position %llu, below the tail %llu, and no writer is attached",
		    (unsigned long long)p, (unsigned long long)t);
}

static int reader_check(shmbuf_reader *rd, uint64_t p)
{
	shmbuf_ring *r = rd->r;
	int rc = check_ring(r, "read");
	if (rc)
		return rc;
	if (p > skip_gap(r, ld64(r->ctl, R_TAIL)))
		return fail(SHMBUF_ERR_CORRUPT, "read", r->s.a.text, "reader waits at %llu, past tail", (unsigned long long)p);
	rc = hole_err(r, p);
	if (rc)
		return rc;
	struct ident me = self_ident();
	if (ld64(rd->slot, RD_STATE) != slot_state(rd->gen, me.pid, SLOT_ACTIVE) || ld64(rd->slot, RD_START) != me.start)
		return fail(SHMBUF_ERR_CORRUPT, "read", r->s.a.text, "our reader slot changed under us");
	return SHMBUF_OK;
}

int shmbuf_next(shmbuf_reader *rd, const void **rec, size_t *len, int64_t timeout_ns)
{
	if (!rd || !rec || !len)
		return fail(SHMBUF_ERR_INVALID, "read", "", "bad arguments");
	shmbuf_ring *r = rd->r;
	int64_t deadline = deadline_of(timeout_ns);
	if (rd->pos - rd->published >= rd->batch)
		reader_publish(rd);
	for (bool waited = false;; waited = true) {
		int got = take(rd, rec, len);
		if (got < 0)
			return got;
		if (got == 1) {
			/* A take that passed much (pads, aborted claims) left
			 * the published cursor far behind: publish the returned
			 * record's start, so that a caller that stops reading
			 * holds writers back by this record alone (§5.5). */
			uint64_t cur = rd->pos - record_size(*len);
			if (cur - rd->published >= rd->batch)
				reader_publish_at(rd, cur);
			return SHMBUF_OK;
		}
		uint64_t p = rd->pos, e = ld64(r->ctl, R_END);
		if (ends_at(rd, p, e) && skip_gap(r, ld64(r->ctl, R_TAIL)) == p) {
			rd->ended = e;
			return end_err(r, e);
		}
		if (rd->pos != rd->published)
			reader_publish(rd);
		if (timeout_ns == 0) {
			int rc = hole_err(r, p);
			if (rc)
				return rc;
			return fail(SHMBUF_ERR_EMPTY, "read", r->s.a.text, NULL);
		}
		if (!waited)
			ws_reset(&rd->ws);
		struct idle_arg arg = {rd, p, e};
		bool due;
		int rc = ws_pause(&rd->ws, rd->wait, A32P(r->ctl, R_DATA_WAKE), A32P(r->ctl, R_READER_WAITERS), reader_idle, &arg,
				  deadline, &due);
		if (rc)
			return fail(rc, "read", r->s.a.text, NULL);
		if (due) {
			rc = reader_check(rd, p);
			if (rc && rd->ws.suspect)
				return rc;
			rd->ws.suspect = rc != 0;
			if (!rc)
				reap_writers(r);
		}
	}
}

void shmbuf_reader_lost(const shmbuf_reader *rd, uint64_t *records, uint64_t *bytes)
{
	if (records)
		*records = rd ? rd->lost_recs : 0;
	if (bytes)
		*bytes = rd ? rd->lost_bytes : 0;
}

static void unlink_reader(shmbuf_reader *rd)
{
	spin_lock(&rd->r->list_lock);
	for (shmbuf_reader **pp = &rd->r->readers; *pp; pp = &(*pp)->next)
		if (*pp == rd) {
			*pp = rd->next;
			break;
		}
	spin_unlock(&rd->r->list_lock);
}

int shmbuf_reader_close(shmbuf_reader *rd)
{
	if (!rd)
		return SHMBUF_OK;
	shmbuf_ring *r = rd->r;
	struct ident me = self_ident();
	uint64_t own = slot_state(rd->gen, me.pid, SLOT_ACTIVE);
	if (ld64(rd->slot, RD_STATE) == own && ld64(rd->slot, RD_START) == me.start) {
		if (!rd->overwrite)
			mark_read(rd);
		cas64(rd->slot, RD_STATE, own, free_state(own));
		if (ld32(r->ctl, R_WRITER_WAITERS) != 0)
			wake_writers(r);
	}
	close_slot_lock(rd->lf, LOCK_READER(rd->idx));
	unlink_reader(rd);
	free(rd->buf);
	free(rd);
	return SHMBUF_OK;
}

/* ---- observers (§5.12) */

struct shmbuf_observer {
	shmbuf_ring *r;
	int wait;
	uint64_t pos, recs, byts; /* the cursor, in the numbering of the Head triple */
	uint64_t ended;
	uint64_t lost_recs, lost_bytes;
	uint8_t *buf;
	size_t bufcap;
	int64_t nap;
	struct waitst ws;
};

#define OBS_NAP_MIN 50000LL
#define OBS_NAP_MAX 20000000LL

int shmbuf_observer_open(shmbuf_ring *r, int wait, int from, shmbuf_observer **out)
{
	if (!r || !out || wait < 0 || wait > 2 || from < 0 || from > 1)
		return fail(SHMBUF_ERR_INVALID, "observer", r ? r->s.a.text : "", "bad arguments");
	shmbuf_observer *ob = calloc(1, sizeof *ob);
	if (!ob)
		return fail(SHMBUF_ERR_SYSTEM, "observer", r->s.a.text, "out of memory");
	ob->r = r;
	ob->wait = wait;
	head_triple(r, &ob->pos, &ob->recs, &ob->byts);
	if (from == SHMBUF_FROM_LATEST)
		skip_to_tail(r, &ob->pos, &ob->recs, &ob->byts);
	*out = ob;
	return SHMBUF_OK;
}

/* obs_lapped resynchronises at the Head triple and reports the loss
 * (§5.7); an observer stores nothing, not even Overruns. */
static int obs_lapped(shmbuf_observer *ob, uint64_t past)
{
	return resync(ob->r, past, &ob->pos, &ob->recs, &ob->byts, &ob->lost_recs, &ob->lost_bytes, "observer");
}

/* obs_take copies the record at the cursor: 1 found, 0 nothing, <0 error.
 * A Head past the record, before or after the copy, means a writer may
 * have reused its space. Partner: the walker's Head store. */
static int obs_take(shmbuf_observer *ob, const void **rec, size_t *len)
{
	shmbuf_ring *r = ob->r;
	for (uint64_t guard = 0;; guard++) {
		uint64_t p = ob->pos;
		struct view v = record_at(r, p);
		if ((v.found == F_GAP || v.found == F_PAD) && guard < r->cap) {
			ob->pos = p + v.size;
			continue;
		}
		if (v.found == F_BAD || v.found == F_GAP || v.found == F_PAD) {
			if (ld64(r->ctl, R_HEAD) > p)
				return obs_lapped(ob, p + 1);
			return fail(SHMBUF_ERR_CORRUPT, "read", r->s.a.text, "record at position %llu has length %llu (max record %llu)",
				    (unsigned long long)p, (unsigned long long)v.len, (unsigned long long)r->maxrec);
		}
		if (ld64(r->ctl, R_HEAD) > p)
			return obs_lapped(ob, p + 1);
		if (v.found == F_NOTHING)
			return 0;
		if (ob->bufcap < v.len) {
			size_t nc = ob->bufcap ? ob->bufcap * 2 : 256;
			while (nc < v.len)
				nc *= 2;
			uint8_t *nb = realloc(ob->buf, nc);
			if (!nb)
				return fail(SHMBUF_ERR_SYSTEM, "read", r->s.a.text, "out of memory");
			ob->buf = nb;
			ob->bufcap = nc;
		}
		memcpy(ob->buf, r->data + v.off + REC_HDR, v.len);
		if (ld64(r->ctl, R_HEAD) > p)
			return obs_lapped(ob, p + 1);
		ob->pos = p + v.size;
		ob->recs++;
		ob->byts += v.len;
		*rec = ob->buf;
		*len = v.len;
		return 1;
	}
}

static bool obs_idle(shmbuf_observer *ob, uint64_t p, uint64_t e)
{
	shmbuf_ring *r = ob->r;
	return record_at(r, p).found == F_NOTHING && ld64(r->ctl, R_END) == e && !ends_at_r(r, p, e, ob->ended) &&
	       ld64(r->ctl, R_HEAD) <= p;
}

static int obs_check(shmbuf_observer *ob, uint64_t p)
{
	shmbuf_ring *r = ob->r;
	int rc = check_ring(r, "read");
	if (rc)
		return rc;
	if (p > skip_gap(r, ld64(r->ctl, R_TAIL)))
		return fail(SHMBUF_ERR_CORRUPT, "read", r->s.a.text, "observer waits at %llu, past tail", (unsigned long long)p);
	return hole_err(r, p);
}

/* obs_wait waits once at p: a spin step while the strategy spins, then an
 * unregistered sleep on DataWake, each up to twice as long as the one
 * before (50 us to 20 ms), since writers do not wake an observer. */
static int obs_wait(shmbuf_observer *ob, uint64_t p, uint64_t e, int64_t deadline, bool *due)
{
	shmbuf_ring *r = ob->r;
	int64_t now = now_ns();
	bool spun = ob->ws.since != 0 && now - ob->ws.since >= SPIN_FOR;
	if (ob->wait == SHMBUF_WAIT_SPIN || (ob->wait == SHMBUF_WAIT_ADAPTIVE && ob->nap == 0 && !spun))
		return ws_pause(&ob->ws, SHMBUF_WAIT_SPIN, NULL, NULL, NULL, NULL, deadline, due);
	*due = false;
	if (deadline >= 0 && now >= deadline)
		return SHMBUF_ERR_TIMEOUT;
	ob->nap = ob->nap * 2 < OBS_NAP_MIN ? OBS_NAP_MIN : ob->nap * 2;
	if (ob->nap > OBS_NAP_MAX)
		ob->nap = OBS_NAP_MAX;
	int64_t t = ob->nap;
	if (deadline >= 0 && deadline - now < t)
		t = deadline - now > 1000 ? deadline - now : 1000;
	a32 *word = A32P(r->ctl, R_DATA_WAKE);
	uint32_t v = atomic_load(word);
	if (obs_idle(ob, p, e))
		futex_wait(word, v, t);
	now = now_ns();
	if (deadline >= 0 && now >= deadline)
		return SHMBUF_ERR_TIMEOUT;
	*due = ws_due(&ob->ws, now);
	return SHMBUF_OK;
}

int shmbuf_observer_next(shmbuf_observer *ob, const void **rec, size_t *len, int64_t timeout_ns)
{
	if (!ob || !rec || !len)
		return fail(SHMBUF_ERR_INVALID, "read", "", "bad arguments");
	shmbuf_ring *r = ob->r;
	int64_t deadline = deadline_of(timeout_ns);
	for (bool waited = false;; waited = true) {
		int got = obs_take(ob, rec, len);
		if (got < 0)
			return got;
		if (got == 1)
			return SHMBUF_OK;
		uint64_t p = ob->pos, e = ld64(r->ctl, R_END);
		if (ends_at_r(r, p, e, ob->ended) && skip_gap(r, ld64(r->ctl, R_TAIL)) == p) {
			ob->ended = e;
			return end_err(r, e);
		}
		if (timeout_ns == 0) {
			int rc = hole_err(r, p);
			if (rc)
				return rc;
			return fail(SHMBUF_ERR_EMPTY, "read", r->s.a.text, NULL);
		}
		if (!waited) {
			ws_reset(&ob->ws);
			ob->nap = 0;
		}
		bool due;
		int rc = obs_wait(ob, p, e, deadline, &due);
		if (rc)
			return fail(rc, "read", r->s.a.text, NULL);
		if (due) {
			rc = obs_check(ob, p);
			if (rc && ob->ws.suspect)
				return rc;
			ob->ws.suspect = rc != 0;
			if (!rc)
				reap_writers(r); /* a no-op on a ring opened read-only */
		}
	}
}

void shmbuf_observer_lost(const shmbuf_observer *ob, uint64_t *records, uint64_t *bytes)
{
	if (records)
		*records = ob ? ob->lost_recs : 0;
	if (bytes)
		*bytes = ob ? ob->lost_bytes : 0;
}

void shmbuf_observer_close(shmbuf_observer *ob)
{
	if (!ob)
		return;
	free(ob->buf);
	free(ob);
}

void shmbuf_ring_close(shmbuf_ring *r)
{
	if (!r)
		return;
	while (r->writers)
		shmbuf_writer_close(r->writers, 0);
	while (r->readers)
		shmbuf_reader_close(r->readers);
	seg_close(&r->s);
	free(r);
}

/* ---------------------------------------------------------------- snapshots (§4) */

struct shmbuf_snapshot {
	struct seg s;
	atomic_flag publishing; /* threads of this handle publish in turn */
	uint64_t cap, stride;
	uint8_t *ctl;
	uint8_t *slot[2];
};

static int snapshot_map(struct seg *s, shmbuf_snapshot **out, const char *op)
{
	uint8_t h[HDR_SIZE];
	int rc = header_check(s, KIND_SNAPSHOT, h, op);
	if (rc)
		return rc;
	uint64_t cap = rd64(h, H_CAPACITY);
	uint64_t c = align_up(cap);
	if (c < cap || c > (1ULL << 56) || S_SLOTS + 2 * (CACHE_LINE + c) > rd64(h, H_SEGMENT_SIZE))
		return fail(SHMBUF_ERR_CORRUPT, op, s->a.text, "header sizes out of bounds");
	shmbuf_snapshot *sn = calloc(1, sizeof *sn);
	if (!sn)
		return fail(SHMBUF_ERR_SYSTEM, op, s->a.text, "out of memory");
	sn->s = *s;
	sn->cap = cap;
	sn->stride = CACHE_LINE + c;
	sn->ctl = s->base + S_CTL;
	sn->slot[0] = s->base + S_SLOTS;
	sn->slot[1] = s->base + S_SLOTS + sn->stride;
	atomic_flag_clear(&sn->publishing);
	if (s->fd >= 0 && ofd_try(s->fd, LOCK_USERS, F_RDLCK) < 0) {
		free(sn);
		return fail_errno(op, s->a.text, "lock");
	}
	*out = sn;
	return SHMBUF_OK;
}

int shmbuf_snapshot_open(const char *addr, shmbuf_snapshot **out)
{
	if (!out)
		return fail(SHMBUF_ERR_INVALID, "open", addr, "no result pointer");
	struct seg s;
	int rc = seg_open(addr, false, &s, "open");
	if (rc == SHMBUF_ERR_READ_ONLY)
		rc = seg_open(addr, true, &s, "open");
	if (rc)
		return rc;
	rc = snapshot_map(&s, out, "open");
	if (rc)
		seg_close(&s);
	return rc;
}

int shmbuf_snapshot_create(const char *addr, uint64_t capacity, uint32_t mode, int force, shmbuf_snapshot **out)
{
	const char *op = "create";
	uint64_t c = align_up(capacity);
	if (!out || capacity == 0 || c < capacity || c > (1ULL << 50))
		return fail(SHMBUF_ERR_INVALID, op, addr, "bad capacity");
	uint64_t total = S_SLOTS + 2 * (CACHE_LINE + c);
	struct seg s;
	struct building b;
	int rc = seg_create(addr, total, mode, force != 0, &s, &b, op);
	if (rc)
		return rc;
	wr64(s.base, H_SEGMENT_SIZE, total);
	wr64(s.base, H_CAPACITY, capacity);
	header_publish(s.base, KIND_SNAPSHOT);
	rc = seg_publish(&s, &b, force != 0, op);
	if (rc == SHMBUF_OK)
		rc = snapshot_map(&s, out, op);
	if (rc)
		seg_close(&s);
	return rc;
}

uint64_t shmbuf_snapshot_capacity(const shmbuf_snapshot *s) { return s ? s->cap : 0; }
uint64_t shmbuf_snapshot_generation(const shmbuf_snapshot *s) { return s ? ld64(s->ctl, S_GEN) : 0; }

static bool snap_take(shmbuf_snapshot *s, uint64_t st, struct ident me, uint32_t *genp)
{
	uint32_t gen = next_gen(st);
	if (!cas64(s->ctl, S_LOCK_STATE, st, slot_state(gen, me.pid, LOCK_HELD)))
		return false;
	st64(s->ctl, S_LOCK_START, me.start);
	st64(s->ctl, S_LOCK_OWNER, owner_word(me.ns, gen));
	*genp = gen;
	return true;
}

/* snap_lock takes the writer lock word (§4.3). */
static int snap_lock(shmbuf_snapshot *s, struct ident me, uint32_t *gen)
{
	if (s->s.fd >= 0) {
		/* We hold the kernel lock: a held word is a dead writer's. */
		for (;;)
			if (snap_take(s, ld64(s->ctl, S_LOCK_STATE), me, gen))
				return SHMBUF_OK;
	}
	uint64_t held = 0;
	int64_t since = 0;
	for (int spins = 0;; spins++) {
		uint64_t st = ld64(s->ctl, S_LOCK_STATE);
		if (state_of(st) == SLOT_FREE) {
			if (snap_take(s, st, me, gen))
				return SHMBUF_OK;
			continue;
		}
		if (spins < 100) {
			sched_yield();
			continue;
		}
		spins = 0;
		uint64_t o = ld64(s->ctl, S_LOCK_OWNER), start = ld64(s->ctl, S_LOCK_START);
		bool known = ld64(s->ctl, S_LOCK_STATE) == st && (uint32_t)(o & GEN_MASK) == state_gen(st);
		uint32_t ns = (uint32_t)(o >> 32);
		if (known && !ident_alive(state_pid(st), start, ns)) {
			if (snap_take(s, st, me, gen))
				return SHMBUF_OK;
			continue;
		}
		struct ident self = self_ident();
		if (!known || !self.judge || ns != self.ns) {
			int64_t now = now_ns();
			if (st != held) {
				held = st;
				since = now;
			} else if (now - since >= 5000000000LL) {
				return fail(SHMBUF_ERR_LOCK_HELD, "write", s->s.a.text, "pid %d there, held for 5s", (int)state_pid(st));
			}
		}
		nap_ns(50000);
	}
}

int shmbuf_snapshot_publish(shmbuf_snapshot *s, const void *p, size_t n)
{
	if (!s)
		return fail(SHMBUF_ERR_INVALID, "write", "", "no snapshot");
	if (s->s.ro)
		return fail(SHMBUF_ERR_READ_ONLY, "write", s->s.a.text, NULL);
	if (n > s->cap)
		return fail(SHMBUF_ERR_TOO_LARGE, "write", s->s.a.text, "%zu bytes, capacity %llu", n, (unsigned long long)s->cap);
	struct ident me = self_ident();
	/* The kernel lock excludes other descriptions only: threads sharing
	 * this handle take turns first. */
	spin_lock(&s->publishing);
	if (s->s.fd >= 0 && ofd_op(s->s.fd, F_OFD_SETLKW, F_WRLCK, LOCK_SNAPSHOT_WRITER, NULL) < 0) {
		spin_unlock(&s->publishing);
		return fail_errno("write", s->s.a.text, "lock");
	}
	uint32_t gen = 0;
	int rc = snap_lock(s, me, &gen);
	if (rc == SHMBUF_OK) {
		uint64_t next = ld64(s->ctl, S_GEN) + 1;
		uint8_t *slot = s->slot[next & 1];
		st64(slot, SLOT_SEQ, 2 * next - 1);
		memcpy(slot + CACHE_LINE, p, n);
		st64(slot, SLOT_LEN, n);
		st64(slot, SLOT_SEQ, 2 * next);
		st64(s->ctl, S_GEN, next);
		st64(s->ctl, S_LAST_START, me.start);
		st64(s->ctl, S_LAST_NS, me.ns);
		st64(s->ctl, S_LAST_PID, (uint64_t)me.pid);
		st64(s->ctl, S_LAST_WRITE, (uint64_t)wall_ns());
		cas64(s->ctl, S_LOCK_STATE, slot_state(gen, me.pid, LOCK_HELD), slot_state(gen, 0, SLOT_FREE));
	}
	if (s->s.fd >= 0)
		ofd_unlock(s->s.fd, LOCK_SNAPSHOT_WRITER);
	spin_unlock(&s->publishing);
	return rc;
}

int shmbuf_snapshot_load(shmbuf_snapshot *s, void *buf, size_t cap, size_t *n)
{
	if (!s || !n)
		return fail(SHMBUF_ERR_INVALID, "read", "", "bad arguments");
	for (int tries = 0;; tries++) {
		uint64_t gen = ld64(s->ctl, S_GEN);
		if (gen == 0) {
			*n = 0;
			return SHMBUF_OK;
		}
		uint8_t *slot = s->slot[gen & 1];
		uint64_t seq = ld64(slot, SLOT_SEQ);
		if (seq != 2 * gen) {
			if (ld64(s->ctl, S_GEN) == gen)
				return fail(SHMBUF_ERR_CORRUPT, "read", s->s.a.text, "slot sequence disagrees with generation");
			continue;
		}
		uint64_t len = ld64(slot, SLOT_LEN);
		if (len > s->cap) {
			if (ld64(slot, SLOT_SEQ) == seq)
				return fail(SHMBUF_ERR_CORRUPT, "read", s->s.a.text, "value length %llu exceeds capacity",
					    (unsigned long long)len);
			continue;
		}
		if (len > cap)
			return fail(SHMBUF_ERR_TOO_LARGE, "read", s->s.a.text, "value of %llu bytes, buffer of %zu",
				    (unsigned long long)len, cap);
		memcpy(buf, slot + CACHE_LINE, len);
		if (ld64(slot, SLOT_SEQ) == seq) {
			*n = len;
			return SHMBUF_OK;
		}
		if (tries > 100)
			sched_yield();
	}
}

void shmbuf_snapshot_close(shmbuf_snapshot *s)
{
	if (!s)
		return;
	seg_close(&s->s);
	free(s);
}

/* ---------------------------------------------------------------- raw segments (§3) */

#define XATTR_KIND "user.shmbuf.kind"
#define XATTR_DIRTY "user.shmbuf.dirty"
#define XATTR_LENGTH "user.shmbuf.length"
#define MAX_RAW_LOAD (1ULL << 30)

static uint32_t crc32c(const uint8_t *p, size_t n, uint32_t crc)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

static int raw_kind(int fd) /* 0 none, 1 resizable, 2 fixed */
{
	char v[16];
	ssize_t n = fgetxattr(fd, XATTR_KIND, v, sizeof v - 1);
	if (n < 0)
		return errno == ENOTSUP ? -1 : 0;
	v[n] = 0;
	if (strcmp(v, "raw") == 0)
		return 1;
	if (strcmp(v, "raw-fixed") == 0)
		return 2;
	return 0;
}

/* lock_current takes flock(how) on the file now at the path (§3.2). */
static int raw_lock_current(struct addr *a, int *fdp, int how, bool ro, const char *op)
{
	for (int i = 0; i < 1000; i++) {
		if (flock(*fdp, how) < 0)
			return fail_errno(op, a->text, "flock");
		struct stat held, cur;
		if (fstat(*fdp, &held) == 0 && lstat(a->path, &cur) == 0 && held.st_dev == cur.st_dev && held.st_ino == cur.st_ino)
			return SHMBUF_OK;
		flock(*fdp, LOCK_UN);
		int fd = open(a->path, (ro ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return fail_errno(op, a->text, "open");
		ofd_try(fd, LOCK_USERS, F_RDLCK);
		close(*fdp);
		*fdp = fd;
	}
	return fail(SHMBUF_ERR_SYSTEM, op, a->text, "the file keeps being replaced");
}

static int raw_open_fd(struct addr *a, bool ro, int *fdp, const char *op)
{
	int fd = open(a->path, (ro ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail_errno(op, a->text, "open");
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(SHMBUF_ERR_INVALID, op, a->text, "not a regular file");
	}
	fcntl(fd, F_SETFL, 0);
	uint8_t head[HDR_SIZE];
	ssize_t n = pread(fd, head, sizeof head, 0);
	uint64_t m;
	if (n >= 8 && (memcpy(&m, head, 8), m == magic_word())) {
		close(fd);
		return fail(SHMBUF_ERR_WRONG_KIND, op, a->text, "segment is a snapshot or ring, not raw");
	}
	/* A user of the segment, for ls and rm --stale in any namespace (§6.1). */
	ofd_try(fd, LOCK_USERS, F_RDLCK);
	*fdp = fd;
	return SHMBUF_OK;
}

static bool raw_is_fixed(int fd, int kind)
{
	struct stat st;
	if (kind == 1)
		return false;
	if (kind == 2)
		return true;
	return fstat(fd, &st) == 0 && st.st_size > 0 && kind != -1;
}

int shmbuf_raw_load(const char *text, void **out, size_t *outn)
{
	const char *op = "read";
	struct addr a;
	int rc = parse_addr(text, &a, op);
	if (rc)
		return rc;
	if (!out || !outn)
		return fail(SHMBUF_ERR_INVALID, op, a.text, "bad arguments");
	if (a.backend == B_SYSV) {
		struct seg s;
		rc = seg_open(text, true, &s, op);
		if (rc)
			return rc;
		if (s.len >= 8 && ld64(s.base, 0) == magic_word()) {
			seg_close(&s);
			return fail(SHMBUF_ERR_WRONG_KIND, op, a.text, "segment is a snapshot or ring, not raw");
		}
		size_t n = s.len;
		uint8_t *p = malloc(n ? n : 1);
		if (!p) {
			seg_close(&s);
			return fail(SHMBUF_ERR_SYSTEM, op, a.text, "out of memory");
		}
		memcpy(p, s.base, n);
		seg_close(&s);
		while (n > 0 && p[n - 1] == 0)
			n--;
		*out = p;
		*outn = n;
		return SHMBUF_OK;
	}
	int fd;
	rc = raw_open_fd(&a, true, &fd, op);
	if (rc)
		return rc;
	rc = raw_lock_current(&a, &fd, LOCK_SH, true, op);
	if (rc) {
		close(fd);
		return rc;
	}
	char mark;
	uint8_t *p = NULL;
	struct stat st;
	if (fgetxattr(fd, XATTR_DIRTY, &mark, 1) >= 0) {
		rc = fail(SHMBUF_ERR_INTERRUPTED, op, a.text, NULL);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = fail_errno(op, a.text, "stat");
		goto out;
	}
	if ((uint64_t)st.st_size > MAX_RAW_LOAD) {
		rc = fail(SHMBUF_ERR_TOO_LARGE, op, a.text, "raw segment larger than 1 GiB");
		goto out;
	}
	size_t n = 0;
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		rc = fail(SHMBUF_ERR_SYSTEM, op, a.text, "out of memory");
		goto out;
	}
	while (n < (size_t)st.st_size) {
		ssize_t k = pread(fd, p + n, (size_t)st.st_size - n, (off_t)n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = fail_errno(op, a.text, "read");
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	int kind = raw_kind(fd);
	if (raw_is_fixed(fd, kind)) {
		bool exact = false;
		char lm[41];
		ssize_t m = kind == 2 ? fgetxattr(fd, XATTR_LENGTH, lm, sizeof lm - 1) : -1;
		if (m > 0) {
			lm[m] = 0;
			unsigned long long ln;
			unsigned int sum;
			if (sscanf(lm, "%llu %8x", &ln, &sum) == 2 && ln <= n && crc32c(p, ln, 0) == sum) {
				exact = true;
				for (size_t i = ln; i < n; i++)
					if (p[i])
						exact = false;
				if (exact)
					n = ln;
			}
		}
		if (!exact)
			while (n > 0 && p[n - 1] == 0)
				n--;
	}
	*out = p;
	*outn = n;
	p = NULL;
out:
	free(p);
	flock(fd, LOCK_UN);
	close(fd);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t k = pwrite(fd, p, n, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		p += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

/* raw_replace writes p into a new file and renames it over the path
 * (resizable segments, §3.1), keeping the old file's mode. */
static int raw_replace(struct addr *a, int oldfd, const void *p, size_t n, const char *op)
{
	struct stat st;
	if (fstat(oldfd, &st) < 0)
		return fail_errno(op, a->text, "stat");
	char tmp[4300];
	int fd = -1;
	for (int i = 0; fd < 0 && i < 100; i++) {
		uint64_t r = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)i;
		snprintf(tmp, sizeof tmp, "%s.shmbuf-%016llx", a->path, (unsigned long long)r);
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		return -1;
	fsetxattr(fd, XATTR_KIND, "raw", 3, 0);
	if (fchmod(fd, st.st_mode & 07777) < 0 || write_all(fd, p, n, 0) < 0 || rename(tmp, a->path) < 0) {
		unlink(tmp);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int shmbuf_raw_store(const char *text, const void *p, size_t n)
{
	const char *op = "write";
	struct addr a;
	int rc = parse_addr(text, &a, op);
	if (rc)
		return rc;
	if (!p && n)
		return fail(SHMBUF_ERR_INVALID, op, a.text, "no value");
	if (a.backend == B_SYSV) {
		struct seg s;
		rc = seg_open(text, false, &s, op);
		if (rc)
			return rc;
		if (s.len >= 8 && ld64(s.base, 0) == magic_word())
			rc = fail(SHMBUF_ERR_WRONG_KIND, op, a.text, "segment is a snapshot or ring, not raw");
		else if (n > s.len)
			rc = fail(SHMBUF_ERR_TOO_LARGE, op, a.text, "%zu bytes into a fixed region of %zu", n, s.len);
		else {
			memcpy(s.base, p, n);
			memset(s.base + n, 0, s.len - n);
		}
		seg_close(&s);
		return rc;
	}
	int fd;
	rc = raw_open_fd(&a, false, &fd, op);
	if (rc == SHMBUF_ERR_NOT_EXIST) {
		/* A new resizable segment holding p, appearing whole. */
		struct seg s;
		struct building b;
		rc = seg_create(text, n ? n : 1, 0600, false, &s, &b, "create");
		if (rc)
			return rc;
		munmap(s.base, s.len);
		s.base = NULL;
		if (ftruncate(s.fd, (off_t)n) < 0 || write_all(s.fd, p, n, 0) < 0) {
			rc = fail_errno(op, a.text, "write");
			if (b.hidden[0])
				unlink(b.hidden);
		} else {
			fsetxattr(s.fd, XATTR_KIND, "raw", 3, 0);
			rc = seg_publish(&s, &b, false, "create");
		}
		seg_close(&s);
		return rc;
	}
	if (rc)
		return rc;
	rc = raw_lock_current(&a, &fd, LOCK_EX, false, op);
	if (rc) {
		close(fd);
		return rc;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		rc = fail_errno(op, a.text, "stat");
		goto out;
	}
	int kind = raw_kind(fd);
	bool fixed = raw_is_fixed(fd, kind);
	if (fixed && (off_t)n > st.st_size) {
		rc = fail(SHMBUF_ERR_TOO_LARGE, op, a.text, "%zu bytes into a fixed region of %lld", n, (long long)st.st_size);
		goto out;
	}
	if (!fixed && raw_replace(&a, fd, p, n, op) == 0)
		goto out;
	if (!fixed && (off_t)n < st.st_size) {
		rc = fail(SHMBUF_ERR_SYSTEM, op, a.text, "cannot replace the file, and writing in place would shrink it");
		goto out;
	}
	/* In place, bracketed by the dirty mark (§3.2). */
	bool marked = fsetxattr(fd, XATTR_DIRTY, "\1", 1, 0) == 0;
	if (kind == 2)
		fremovexattr(fd, XATTR_LENGTH);
	if (write_all(fd, p, n, 0) < 0) {
		rc = fail_errno(op, a.text, "write");
		goto out;
	}
	static const uint8_t zeros[4096];
	for (off_t off = (off_t)n; off < st.st_size;) {
		size_t k = (size_t)(st.st_size - off) < sizeof zeros ? (size_t)(st.st_size - off) : sizeof zeros;
		if (write_all(fd, zeros, k, off) < 0) {
			rc = fail_errno(op, a.text, "write");
			goto out;
		}
		off += (off_t)k;
	}
	if (kind == 2) {
		char lm[40];
		int m = snprintf(lm, sizeof lm, "%zu %08x", n, crc32c(p, n, 0));
		fsetxattr(fd, XATTR_LENGTH, lm, (size_t)m, 0);
	}
	if (marked && fremovexattr(fd, XATTR_DIRTY) < 0)
		rc = fail_errno(op, a.text, "clear dirty mark");
out:
	flock(fd, LOCK_UN);
	close(fd);
	return rc;
}
