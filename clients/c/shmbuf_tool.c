/*
 * shmbuf_tool: a small driver of libshmbuf for tests and benchmarks, run as
 * a real process. Records written by "write" follow the test pattern that
 * "read" (and the Go and Python tests) verify byte by byte:
 *
 *   record k of writer id: length 8 + (k*7919 + id*31) % (maxlen - 7);
 *   bytes 0..3 id and 4..7 k (little endian), byte i >= 8 is
 *   (id*131 + k*17 + i*13) mod 256.
 *
 * Usage (exit status 0 on success, 1 on a check that failed, 2 on misuse):
 *   shmbuf_tool create-ring ADDR SIZE block|overwrite [WRITERS READERS]
 *   shmbuf_tool create-snapshot ADDR CAPACITY
 *   shmbuf_tool write ADDR ID COUNT MAXLEN [wait=W] [gate] [hold-us=U] [sleep-us=U] [abort] [hang]
 *   shmbuf_tool read ADDR [wait=W] [from=oldest|latest] [timeout-ms=T] [maxlen=N] [expect=N]
 *   shmbuf_tool observe ADDR ...   (as read, by an observer on the ring opened read-only)
 *
 * write prints "ready" once attached; gate then waits for a byte on
 * standard input; hang ends by claiming one more record and sleeping until
 * killed. read prints "ready" once attached, then one summary line:
 *   records N bytes B lost R B end eof|writer-lost|timeout|corrupt|error writers ID:COUNT...
 *   shmbuf_tool snap-publish ADDR TEXT | snap-load ADDR
 *   shmbuf_tool raw-store ADDR TEXT | raw-load ADDR
 *   shmbuf_tool fuzz FILE...       (open corrupt segments: no crash)
 *   shmbuf_tool parse ADDR...      (a backend number per address, 0: invalid)
 *   shmbuf_tool bench ADDR RECORD_SIZE SECONDS [wait=W]
 *     one writer here, one reader in a child process, records of
 *     RECORD_SIZE bytes each filled with its sequence number mod 256,
 *     every byte checked by the reader; prints records/s and MB/s.
 */
#define _GNU_SOURCE
#include "shmbuf.h"

#include <inttypes.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t pattern_len(uint32_t id, uint32_t k, uint64_t maxlen)
{
	return 8 + ((uint64_t)k * 7919 + (uint64_t)id * 31) % (maxlen - 7);
}

static void pattern_fill(uint8_t *p, uint64_t n, uint32_t id, uint32_t k)
{
	memcpy(p, &id, 4);
	memcpy(p + 4, &k, 4);
	for (uint64_t i = 8; i < n; i++)
		p[i] = (uint8_t)(id * 131 + k * 17 + i * 13);
}

static const char *opt(int argc, char **argv, int from, const char *name)
{
	size_t n = strlen(name);
	for (int i = from; i < argc; i++)
		if (strncmp(argv[i], name, n) == 0 && (argv[i][n] == '=' || argv[i][n] == 0))
			return argv[i][n] == '=' ? argv[i] + n + 1 : "";
	return NULL;
}

static int wait_of(const char *s)
{
	if (!s || strcmp(s, "adaptive") == 0)
		return SHMBUF_WAIT_ADAPTIVE;
	if (strcmp(s, "spin") == 0)
		return SHMBUF_WAIT_SPIN;
	return SHMBUF_WAIT_BLOCK;
}

static int die(int rc)
{
	fprintf(stderr, "%s\n", shmbuf_last_error());
	return rc == SHMBUF_ERR_CORRUPT ? 3 : 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_write(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	uint32_t id = (uint32_t)strtoul(argv[3], NULL, 0);
	uint64_t count = strtoull(argv[4], NULL, 0), maxlen = strtoull(argv[5], NULL, 0);
	const char *hold = opt(argc, argv, 6, "hold-us"), *slp = opt(argc, argv, 6, "sleep-us");
	shmbuf_ring *r;
	int rc = shmbuf_ring_open(argv[2], &r);
	if (rc)
		return die(rc);
	if (maxlen > shmbuf_ring_max_record(r))
		maxlen = shmbuf_ring_max_record(r);
	if (maxlen < 8)
		return 2;
	shmbuf_writer *w;
	if ((rc = shmbuf_writer_open(r, wait_of(opt(argc, argv, 6, "wait")), &w)))
		return die(rc);
	printf("ready\n");
	fflush(stdout);
	char gate;
	if (opt(argc, argv, 6, "gate") && read(0, &gate, 1) < 0)
		return 1;
	for (uint64_t k = 0; k < count; k++) {
		uint64_t n = pattern_len(id, (uint32_t)k, maxlen);
		void *buf;
		if ((rc = shmbuf_claim(w, n, &buf, SHMBUF_FOREVER)))
			return die(rc);
		pattern_fill(buf, n, id, (uint32_t)k);
		if (hold)
			usleep((useconds_t)atoi(hold));
		if ((rc = shmbuf_commit(w)))
			return die(rc);
		if (slp)
			usleep((useconds_t)atoi(slp));
	}
	if (opt(argc, argv, 6, "hang")) {
		/* Die (by a signal) with a claim pending. */
		void *buf;
		if ((rc = shmbuf_claim(w, 8, &buf, SHMBUF_FOREVER)))
			return die(rc);
		printf("hung\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	shmbuf_writer_close(w, opt(argc, argv, 6, "abort") != NULL);
	shmbuf_ring_close(r);
	return 0;
}

#define MAX_IDS 64

static int cmd_read(int argc, char **argv)
{
	const char *to = opt(argc, argv, 3, "timeout-ms"), *from = opt(argc, argv, 3, "from");
	const char *maxl = opt(argc, argv, 3, "maxlen"), *exp = opt(argc, argv, 3, "expect");
	int64_t timeout = to ? (int64_t)atoll(to) * 1000000LL : SHMBUF_FOREVER;
	/* observe: an observer on a ring opened read-only, else a reader. */
	bool obs = strcmp(argv[1], "observe") == 0;
	shmbuf_ring *r;
	int rc = obs ? shmbuf_ring_open_readonly(argv[2], &r) : shmbuf_ring_open(argv[2], &r);
	if (rc)
		return die(rc);
	uint64_t maxlen = maxl ? strtoull(maxl, NULL, 0) : shmbuf_ring_max_record(r);
	shmbuf_reader *rd = NULL;
	shmbuf_observer *ob = NULL;
	int wait = wait_of(opt(argc, argv, 3, "wait")), latest = from && strcmp(from, "latest") == 0;
	if ((rc = obs ? shmbuf_observer_open(r, wait, latest, &ob) : shmbuf_reader_open(r, wait, latest, &rd)))
		return die(rc);
	printf("ready\n");
	fflush(stdout);
	uint64_t next[MAX_IDS] = {0}, records = 0, bytes = 0, lostr = 0, lostb = 0;
	uint8_t *want = malloc(maxlen + 8);
	const char *end = "?";
	int status = 0;
	for (;;) {
		const void *p;
		size_t n;
		rc = obs ? shmbuf_observer_next(ob, &p, &n, timeout) : shmbuf_next(rd, &p, &n, timeout);
		if (rc == SHMBUF_ERR_LOST) {
			uint64_t a, b;
			if (obs)
				shmbuf_observer_lost(ob, &a, &b);
			else
				shmbuf_reader_lost(rd, &a, &b);
			lostr += a;
			lostb += b;
			/* A lapped reader cannot know whose records it lost. */
			memset(next, 0xff, sizeof next);
			continue;
		}
		if (rc == SHMBUF_EOF) {
			end = "eof";
			break;
		}
		if (rc != SHMBUF_OK) {
			end = rc == SHMBUF_ERR_WRITER_LOST ? "writer-lost"
			      : rc == SHMBUF_ERR_TIMEOUT   ? "timeout"
			      : rc == SHMBUF_ERR_CORRUPT   ? "corrupt"
							   : "error";
			fprintf(stderr, "%s\n", shmbuf_last_error());
			break;
		}
		uint32_t id, k;
		if (n < 8) {
			fprintf(stderr, "record %" PRIu64 ": %zu bytes, shorter than the pattern\n", records, n);
			status = 1;
			break;
		}
		memcpy(&id, p, 4);
		memcpy(&k, (const uint8_t *)p + 4, 4);
		if (id >= MAX_IDS || n != pattern_len(id, k, maxlen)) {
			fprintf(stderr, "record %" PRIu64 ": writer %u record %u has %zu bytes\n", records, id, k, n);
			status = 1;
			break;
		}
		if (next[id] != UINT64_MAX && k != next[id]) {
			fprintf(stderr, "writer %u: record %u, want %" PRIu64 "\n", id, k, next[id]);
			status = 1;
			break;
		}
		pattern_fill(want, n, id, k);
		if (memcmp(want, p, n) != 0) {
			fprintf(stderr, "writer %u record %u: bytes differ\n", id, k);
			status = 1;
			break;
		}
		next[id] = (uint64_t)k + 1;
		records++;
		bytes += n;
		if (exp && records == strtoull(exp, NULL, 0)) {
			end = "expected";
			break;
		}
	}
	printf("records %" PRIu64 " bytes %" PRIu64 " lost %" PRIu64 " %" PRIu64 " end %s writers", records, bytes, lostr, lostb,
	       end);
	for (int i = 0; i < MAX_IDS; i++)
		if (next[i] && next[i] != UINT64_MAX)
			printf(" %d:%" PRIu64, i, next[i]);
	printf("\n");
	free(want);
	shmbuf_observer_close(ob);
	shmbuf_reader_close(rd);
	shmbuf_ring_close(r);
	return status;
}

static int cmd_fuzz(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		char addr[4200];
		snprintf(addr, sizeof addr, "file:%s", argv[i]);
		/* An observer on the ring opened read-only first: it must not
		 * crash either, and stores nothing that the reader below sees. */
		shmbuf_ring *ro;
		if (shmbuf_ring_open_readonly(addr, &ro) == SHMBUF_OK) {
			shmbuf_observer *ob;
			if (shmbuf_observer_open(ro, SHMBUF_WAIT_SPIN, SHMBUF_FROM_OLDEST, &ob) == SHMBUF_OK) {
				for (int k = 0; k < 100000; k++) {
					const void *p;
					size_t n;
					int orc = shmbuf_observer_next(ob, &p, &n, 0);
					if (orc == SHMBUF_OK) {
						volatile uint8_t sum = 0;
						for (size_t j = 0; j < n; j++)
							sum ^= ((const uint8_t *)p)[j];
						continue;
					}
					if (orc != SHMBUF_ERR_LOST)
						break;
				}
				shmbuf_observer_close(ob);
			}
			shmbuf_ring_close(ro);
		}
		shmbuf_ring *r;
		int rc = shmbuf_ring_open(addr, &r);
		int rrc = 0, wrc = 0;
		if (rc == SHMBUF_OK) {
			shmbuf_reader *rd;
			if (shmbuf_reader_open(r, SHMBUF_WAIT_SPIN, SHMBUF_FROM_OLDEST, &rd) == SHMBUF_OK) {
				for (int k = 0; k < 100000; k++) {
					const void *p;
					size_t n;
					rrc = shmbuf_next(rd, &p, &n, 0);
					if (rrc == SHMBUF_OK) {
						volatile uint8_t sum = 0;
						for (size_t j = 0; j < n; j++)
							sum ^= ((const uint8_t *)p)[j];
						continue;
					}
					if (rrc != SHMBUF_ERR_LOST)
						break;
				}
				shmbuf_reader_close(rd);
			}
			shmbuf_writer *w;
			if (shmbuf_writer_open(r, SHMBUF_WAIT_SPIN, &w) == SHMBUF_OK) {
				for (int k = 0; k < 64; k++)
					if ((wrc = shmbuf_write(w, "fuzz-record", 11, 0)) != SHMBUF_OK)
						break;
				shmbuf_writer_close(w, 0);
			}
			shmbuf_ring_reap(r);
			shmbuf_ring_close(r);
		}
		shmbuf_snapshot *s;
		int src = shmbuf_snapshot_open(addr, &s);
		if (src == SHMBUF_OK) {
			static uint8_t buf[1 << 16];
			size_t n;
			src = shmbuf_snapshot_load(s, buf, sizeof buf, &n);
			shmbuf_snapshot_close(s);
		}
		printf("%s ring %d read %d write %d snapshot %d\n", argv[i], rc, rrc, wrc, src);
	}
	return 0;
}

static int cmd_bench(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	size_t size = (size_t)strtoull(argv[3], NULL, 0);
	double secs = atof(argv[4]);
	int wait = wait_of(opt(argc, argv, 5, "wait"));
	/* As the Go benchmark's ring: max(4 MiB, 4 records). */
	shmbuf_ring_opts o = {.size = 4 * size < (4u << 20) ? (4u << 20) : 4 * size, .max_record = size, .readers = 1, .writers = 1, .force = 1};
	shmbuf_ring *r;
	int rc = shmbuf_ring_create(argv[2], &o, &r);
	if (rc)
		return die(rc);
	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		shmbuf_ring *cr;
		shmbuf_reader *rd;
		if (shmbuf_ring_open(argv[2], &cr) || shmbuf_reader_open(cr, wait, SHMBUF_FROM_OLDEST, &rd))
			_exit(die(1));
		if (write(pfd[1], "r", 1) != 1)
			_exit(1);
		uint64_t n = 0;
		for (;;) {
			const void *p;
			size_t len;
			rc = shmbuf_next(rd, &p, &len, SHMBUF_FOREVER);
			if (rc != SHMBUF_OK)
				break;
			/* Every byte is the record's sequence number, mod 256. */
			const uint8_t *b = p;
			if (len != size || b[0] != (uint8_t)n || (len > 1 && memcmp(b, b + 1, len - 1) != 0))
				_exit(1);
			n++;
		}
		_exit(rc == SHMBUF_EOF ? 0 : 1);
	}
	char c;
	if (read(pfd[0], &c, 1) != 1)
		return 1;
	shmbuf_writer *w;
	if ((rc = shmbuf_writer_open(r, wait, &w)))
		return die(rc);
	uint64_t n = 0;
	double t0 = now_s(), t = t0;
	while (t - t0 < secs) {
		for (int k = 0; k < 256; k++, n++) {
			void *buf;
			if ((rc = shmbuf_claim(w, size, &buf, SHMBUF_FOREVER)))
				return die(rc);
			memset(buf, (uint8_t)n, size);
			shmbuf_commit(w);
		}
		t = now_s();
	}
	shmbuf_writer_close(w, 0);
	int st;
	waitpid(child, &st, 0);
	double el = now_s() - t0;
	shmbuf_ring_close(r);
	char path[4300];
	if (strncmp(argv[2], "file:", 5) == 0)
		snprintf(path, sizeof path, "%s", argv[2] + 5);
	else
		snprintf(path, sizeof path, "/dev/shm/%s", strncmp(argv[2], "posix:", 6) == 0 ? argv[2] + 6 : argv[2]);
	unlink(path);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench reader failed\n");
		return 1;
	}
	printf("c ring %zu B: %.0f records/s %.1f MB/s\n", size, (double)n / el, (double)n * (double)size / el / 1e6);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of shmbuf_tool.c\n");
		return 2;
	}
	const char *c = argv[1];
	int rc;
	if (strcmp(c, "create-ring") == 0 && argc >= 5) {
		shmbuf_ring_opts o = {.size = strtoull(argv[3], NULL, 0), .policy = strcmp(argv[4], "overwrite") == 0};
		if (argc >= 7) {
			o.writers = (uint32_t)atoi(argv[5]);
			o.readers = (uint32_t)atoi(argv[6]);
		}
		shmbuf_ring *r;
		if ((rc = shmbuf_ring_create(argv[2], &o, &r)))
			return die(rc);
		shmbuf_ring_close(r);
		return 0;
	}
	if (strcmp(c, "create-snapshot") == 0 && argc >= 4) {
		shmbuf_snapshot *s;
		if ((rc = shmbuf_snapshot_create(argv[2], strtoull(argv[3], NULL, 0), 0, 0, &s)))
			return die(rc);
		shmbuf_snapshot_close(s);
		return 0;
	}
	if (strcmp(c, "write") == 0)
		return cmd_write(argc, argv);
	if (strcmp(c, "read") == 0 || strcmp(c, "observe") == 0)
		return cmd_read(argc, argv);
	if (strcmp(c, "snap-publish") == 0 && argc >= 4) {
		shmbuf_snapshot *s;
		if ((rc = shmbuf_snapshot_open(argv[2], &s)) || (rc = shmbuf_snapshot_publish(s, argv[3], strlen(argv[3]))))
			return die(rc);
		shmbuf_snapshot_close(s);
		return 0;
	}
	if (strcmp(c, "snap-load") == 0) {
		shmbuf_snapshot *s;
		if ((rc = shmbuf_snapshot_open(argv[2], &s)))
			return die(rc);
		size_t cap = shmbuf_snapshot_capacity(s), n;
		char *buf = malloc(cap + 1);
		if ((rc = shmbuf_snapshot_load(s, buf, cap, &n)))
			return die(rc);
		fwrite(buf, 1, n, stdout);
		free(buf);
		shmbuf_snapshot_close(s);
		return 0;
	}
	if (strcmp(c, "raw-store") == 0 && argc >= 4) {
		if ((rc = shmbuf_raw_store(argv[2], argv[3], strlen(argv[3]))))
			return die(rc);
		return 0;
	}
	if (strcmp(c, "raw-load") == 0) {
		void *p;
		size_t n;
		if ((rc = shmbuf_raw_load(argv[2], &p, &n)))
			return die(rc);
		fwrite(p, 1, n, stdout);
		free(p);
		return 0;
	}
	if (strcmp(c, "parse") == 0) {
		/* One line per address: its backend (1 posix, 2 file, 3 sysv), or 0
		 * for an invalid one. */
		for (int i = 2; i < argc; i++) {
			int b = 0;
			if (shmbuf_parse_address(argv[i], &b) != SHMBUF_OK)
				b = 0;
			printf("%d\n", b);
		}
		return 0;
	}
	if (strcmp(c, "fuzz") == 0)
		return cmd_fuzz(argc, argv);
	if (strcmp(c, "bench") == 0)
		return cmd_bench(argc, argv);
	fprintf(stderr, "unknown command %s\n", c);
	return 2;
}
