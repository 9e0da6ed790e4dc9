/*
 * truncate.c -- the bus file is truncated under live interfaces (rump.h:
 * "Memory faults on the bus mapping ... are caught and reported as EIO; they
 * do not kill the host", and EIO among the common errors).
 *
 * usage: truncate DIR
 *
 * For each case, on a fresh bus DIR/bus-<case>: interfaces a and b exchange a
 * frame; the file is truncated with truncate(2); shmif_send and shmif_recv
 * must return EIO on both interfaces (twice: the error must stick); then both
 * are detached (shmif_down, shmif_unset_linkstr), attached again to the same
 * path (shmif_set_linkstr, shmif_up) and must exchange a frame. Prints one
 * line per check and exits 0 only if all held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rump/rump.h>

static int failures;

#define CHECK(cond, ...)                                   \
	do {                                                   \
		if (cond) {                                        \
			printf("ok   ");                               \
		} else {                                           \
			printf("FAIL ");                               \
			failures++;                                    \
		}                                                  \
		printf(__VA_ARGS__);                               \
		printf("\n");                                      \
		fflush(stdout);                                    \
	} while (0)

/* frame fills a broadcast frame of len bytes whose payload is tag. */
static void frame(unsigned char *f, size_t len, unsigned tag)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01\x88\xb5", 8);
	for (size_t k = 14; k < len; k++)
		f[k] = (unsigned char)(tag + k);
}

/*
 * exchange sends a frame tagged tag from `from` and receives on `to` until
 * that frame arrives (an up receives the newest frame on the bus again, so
 * an older one may come first). Returns 0 or the failing errno.
 */
static int exchange(int from, int to, unsigned tag, size_t len)
{
	unsigned char out[SHMIF_MAXFRAME], in[SHMIF_MAXFRAME];
	size_t n;
	int rc;

	frame(out, len, tag);
	if ((rc = shmif_send(from, out, len)) != 0)
		return rc;
	for (int tries = 0; tries < 8; tries++) {
		if ((rc = shmif_recv(to, in, sizeof in, &n, 2000)) != 0)
			return rc;
		if (n == len && memcmp(in, out, len) == 0)
			return 0;
	}
	return EBADMSG;
}

static const char *err(int rc)
{
	static char buf[64];
	snprintf(buf, sizeof buf, "%d (%s)", rc, rc ? strerror(rc) : "ok");
	return buf;
}

/*
 * run_case truncates the bus to size after `before` frames have been
 * exchanged (enough frames move the write position past the cut).
 */
static void run_case(const char *dir, const char *name, off_t size, int before)
{
	char path[1024];
	unsigned char f[SHMIF_MAXFRAME];
	size_t n;
	int a, b, rc, failed = failures;

	snprintf(path, sizeof path, "%s/bus-%s", dir, name);
	printf("case %s: truncate to %lld after %d frames\n", name, (long long)size, before);
	rc = rump_pub_shmif_create(path, &a);
	CHECK(rc == 0, "%s: create a: %s", name, err(rc));
	rc = rump_pub_shmif_create(path, &b);
	CHECK(rc == 0, "%s: create b: %s", name, err(rc));
	if (failures > failed)
		return;
	for (int k = 0; k < before; k++) {
		rc = exchange(a, b, (unsigned)k, SHMIF_MAXFRAME);
		if (rc != 0)
			break;
	}
	CHECK(rc == 0, "%s: exchange before truncation: %s", name, err(rc));

	rc = truncate(path, size);
	CHECK(rc == 0, "%s: truncate(2): %s", name, rc ? strerror(errno) : "ok");

	frame(f, 60, 99);
	for (int round = 1; round <= 2; round++) {
		rc = shmif_send(a, f, 60);
		CHECK(rc == EIO, "%s: send a after truncation (%d): %s, want EIO", name, round, err(rc));
		rc = shmif_recv(b, f, sizeof f, &n, 0);
		CHECK(rc == EIO, "%s: recv b with timeout 0 after truncation (%d): %s, want EIO", name, round, err(rc));
		rc = shmif_recv(b, f, sizeof f, &n, 100);
		CHECK(rc == EIO, "%s: recv b with timeout 100 after truncation (%d): %s, want EIO", name, round, err(rc));
		rc = shmif_send(b, f, 60);
		CHECK(rc == EIO, "%s: send b after truncation (%d): %s, want EIO", name, round, err(rc));
		rc = shmif_recv(a, f, sizeof f, &n, 0);
		CHECK(rc == EIO, "%s: recv a after truncation (%d): %s, want EIO", name, round, err(rc));
	}

	/* Detach and attach again: the interfaces must work. */
	int ifs[2] = {a, b};
	for (int k = 0; k < 2; k++) {
		rc = shmif_down(ifs[k]);
		CHECK(rc == 0, "%s: down %d: %s", name, k, err(rc));
		rc = shmif_unset_linkstr(ifs[k]);
		CHECK(rc == 0, "%s: unset_linkstr %d: %s", name, k, err(rc));
		rc = shmif_set_linkstr(ifs[k], path);
		CHECK(rc == 0, "%s: set_linkstr %d: %s", name, k, err(rc));
		rc = shmif_up(ifs[k]);
		CHECK(rc == 0, "%s: up %d: %s", name, k, err(rc));
	}
	rc = exchange(a, b, 200, 100);
	CHECK(rc == 0, "%s: a to b after re-attach: %s", name, err(rc));
	rc = exchange(b, a, 201, SHMIF_MAXFRAME);
	CHECK(rc == 0, "%s: b to a after re-attach: %s", name, err(rc));
	for (int k = 0; k < 2000 && rc == 0; k++)
		rc = exchange(a, b, (unsigned)k, SHMIF_MAXFRAME);
	CHECK(rc == 0, "%s: 2000 frames (more than a lap) after re-attach: %s", name, err(rc));

	rc = shmif_destroy(a);
	CHECK(rc == 0, "%s: destroy a: %s", name, err(rc));
	rc = shmif_destroy(b);
	CHECK(rc == 0, "%s: destroy b: %s", name, err(rc));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	/* The write position is in the first page after one frame, and far
	 * past it after 100 frames of 1514 bytes. */
	run_case(argv[1], "zero", 0, 1);
	run_case(argv[1], "page", 4096, 1);
	run_case(argv[1], "page-late", 4096, 100);
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
