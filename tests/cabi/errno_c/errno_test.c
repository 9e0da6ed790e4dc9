/*
 * errno_test -- the errno table of include/rump/rump.h, checked from C.
 *
 *   errno_test DIR
 *
 * DIR is an empty scratch directory for bus files. One line per check, then
 * "N passed, M failed"; exit status 1 if any check failed.
 */
#define _GNU_SOURCE /* pthread_timedjoin_np */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rump/rump.h>

static int passed, failed;

static const char *
name(int e)
{
	switch (e) {
	case 0: return "0";
	case EINVAL: return "EINVAL";
	case EISDIR: return "EISDIR";
	case ENOEXEC: return "ENOEXEC";
	case EMSGSIZE: return "EMSGSIZE";
	case ENXIO: return "ENXIO";
	case EFAULT: return "EFAULT";
	case EAGAIN: return "EAGAIN";
	case EBUSY: return "EBUSY";
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case ENETDOWN: return "ENETDOWN";
	case ETIMEDOUT: return "ETIMEDOUT";
	case E2BIG: return "E2BIG";
	}
	return "other";
}

/* expect records one check: what returned got, the header says want. */
static void
expect(const char *what, int got, int want)
{
	if (got == want) {
		passed++;
		printf("ok    %s = %s\n", what, name(want));
	} else {
		failed++;
		printf("FAIL  %s = %d (%s), want %d (%s)\n", what, got,
		    name(got), want, name(want));
	}
}

/* truth records a check of a condition. */
static void
truth(const char *what, int ok)
{
	if (ok)
		passed++;
	else
		failed++;
	printf("%s  %s\n", ok ? "ok  " : "FAIL", what);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct waiter {
	int ifnum;
	int rc;
	double returned;
};

static void *
blocked_recv(void *arg)
{
	struct waiter *w = arg;
	unsigned char buf[SHMIF_MAXFRAME];
	size_t len;

	w->rc = shmif_recv(w->ifnum, buf, sizeof buf, &len, -1);
	w->returned = now();
	return NULL;
}

int
main(int argc, char **argv)
{
	char bus[1024], foreign[1024], big[2048];
	unsigned char frame[SHMIF_MAXFRAME + 1];
	unsigned char buf[SHMIF_MAXFRAME];
	const char junk[] = "#!/bin/sh\necho this is not a bus\n";
	char check[sizeof junk];
	int a = -1, b = -1, nobus = -1, flags = 0, u = -1;
	uint32_t capenable = 0;
	size_t len = 0, needed = 0;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: errno_test DIR\n");
		return 2;
	}
	snprintf(bus, sizeof bus, "%s/bus", argv[1]);
	snprintf(foreign, sizeof foreign, "%s/foreign", argv[1]);

	/* Before anything else, as RUMP_SHMIF_CAPENABLE is read at creation. */
	setenv("RUMP_SHMIF_CAPENABLE", "0x15500", 1);

	expect("rump_init()", rump_init(), 0);
	expect("rump_init() again", rump_init(), 0);

	/* Creation without a bus, and what needs one. */
	expect("rump_pub_shmif_create(NULL)", rump_pub_shmif_create(NULL, &nobus), 0);
	shmif_get_flags(nobus, &flags);
	truth("without bus: flags lack UP", !(flags & SHMIF_IFF_UP));
	memset(frame, 0xff, sizeof frame);
	expect("shmif_send without bus", shmif_send(nobus, frame, 60), ENETDOWN);
	expect("shmif_get_linkstr without bus",
	    shmif_get_linkstr(nobus, (char *)buf, sizeof buf, &needed), ENOENT);
	expect("shmif_up without bus", shmif_up(nobus), ENXIO);
	expect("shmif_get_capenable after setenv(RUMP_SHMIF_CAPENABLE)",
	    shmif_get_capenable(nobus, &capenable), 0);
	truth("RUMP_SHMIF_CAPENABLE=0x15500 set with setenv(3) gives capenable 0x15500",
	    capenable == 0x15500);
	expect("shmif_create(unit of an existing interface)", shmif_create(nobus, &u), EEXIST);
	expect("shmif_create(32768)", shmif_create(32768, &u), EINVAL);

	/* Path errors. */
	expect("rump_pub_shmif_create(\"\")", rump_pub_shmif_create("", &u), EINVAL);
	expect("rump_pub_shmif_create(directory)", rump_pub_shmif_create(argv[1], &u), EISDIR);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	expect("rump_pub_shmif_create(2047-byte path)", rump_pub_shmif_create(big, &u), E2BIG);
	if ((f = fopen(foreign, "w")) == NULL || fputs(junk, f) == EOF || fclose(f) != 0) {
		perror(foreign);
		return 2;
	}
	expect("rump_pub_shmif_create(foreign file)", rump_pub_shmif_create(foreign, &u), ENOEXEC);
	memset(check, 0, sizeof check);
	if ((f = fopen(foreign, "r")) != NULL) {
		fseek(f, 0, SEEK_END);
		len = (size_t)ftell(f);
		rewind(f);
		truth("foreign file left unchanged",
		    len == sizeof junk - 1 && fread(check, 1, sizeof check, f) == sizeof junk - 1 &&
		    memcmp(check, junk, sizeof junk - 1) == 0);
		fclose(f);
	} else
		truth("foreign file still there", 0);

	/* Two interfaces on one bus. */
	expect("rump_pub_shmif_create(bus) a", rump_pub_shmif_create(bus, &a), 0);
	expect("rump_pub_shmif_create(bus) b", rump_pub_shmif_create(bus, &b), 0);
	expect("shmif_send(1515 bytes)", shmif_send(a, frame, 1515), EMSGSIZE);
	expect("shmif_send(13 bytes)", shmif_send(a, frame, 13), EINVAL);
	expect("shmif_send(40000, ...)", shmif_send(40000, frame, 60), ENXIO);
	expect("shmif_get_flags(-1, ...)", shmif_get_flags(-1, &flags), ENXIO);
	expect("shmif_send(NULL)", shmif_send(a, NULL, 60), EFAULT);
	expect("shmif_recv(len NULL)", shmif_recv(b, buf, sizeof buf, NULL, 0), EFAULT);
	expect("shmif_get_stats(NULL)", shmif_get_stats(b, NULL), EFAULT);
	expect("shmif_recv(timeout 0) on an empty bus", shmif_recv(b, buf, sizeof buf, &len, 0), EAGAIN);
	expect("shmif_set_linkstr while up", shmif_set_linkstr(b, bus), EBUSY);
	expect("shmif_unset_linkstr while up", shmif_unset_linkstr(b), EBUSY);
	expect("shmif_create(unit of a)", shmif_create(a, &u), EEXIST);
	expect("shmif_set_media(2)", shmif_set_media(a, 2), EINVAL);
	expect("shmif_set_capenable(0x1)", shmif_set_capenable(a, 0x1), EINVAL);

	expect("shmif_send(broadcast, 60 bytes)", shmif_send(a, frame, 60), 0);
	expect("shmif_recv(buffer 20)", shmif_recv(b, buf, 20, &len, 1000), EMSGSIZE);
	truth("EMSGSIZE: *len is the frame's length, 60", len == 60);
	expect("shmif_recv(buffer 1514)", shmif_recv(b, buf, sizeof buf, &len, 1000), 0);
	truth("the frame received is the one sent", len == 60 && memcmp(buf, frame, 60) == 0);

	expect("shmif_down(a)", shmif_down(a), 0);
	expect("shmif_send while down", shmif_send(a, frame, 60), ENETDOWN);
	expect("shmif_recv while down", shmif_recv(a, buf, sizeof buf, &len, 0), ENETDOWN);

	/* A thread blocked in shmif_recv(-1) is woken by shmif_down. */
	{
		struct waiter w = { .ifnum = b, .rc = -1 };
		struct timespec until;
		pthread_t th;
		double stopped;
		int joined;

		pthread_create(&th, NULL, blocked_recv, &w);
		nanosleep(&(struct timespec){ .tv_nsec = 150 * 1000 * 1000 }, NULL);
		stopped = now();
		expect("shmif_down(b) with a thread blocked in shmif_recv", shmif_down(b), 0);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 3;
		joined = pthread_timedjoin_np(th, NULL, &until);
		truth("the blocked thread returned within 3 s", joined == 0);
		if (joined == 0) {
			expect("the blocked shmif_recv", w.rc, ENETDOWN);
			truth("it returned within 1 s of shmif_down", w.returned - stopped < 1.0);
		}
	}

	expect("shmif_destroy(a)", shmif_destroy(a), 0);
	expect("shmif_destroy(a) again", shmif_destroy(a), ENXIO);
	expect("shmif_up(a) after destroy", shmif_up(a), ENXIO);
	expect("shmif_destroy(b)", shmif_destroy(b), 0);
	expect("shmif_destroy(nobus)", shmif_destroy(nobus), 0);

	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
