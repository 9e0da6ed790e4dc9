/*
 * threads.c -- many threads on the same interfaces at once (rump.h: "Every
 * function is thread-safe: any thread may call any function on any
 * interface at any time. Several threads may receive on one interface; each
 * frame goes to one of them.").
 *
 * usage: threads MODE BUS [ARGS]
 *   chaos BUS MS      threads call everything on a few shared interfaces,
 *                     creating, destroying, detaching, cancelling and
 *                     polling them, for MS milliseconds; every call must
 *                     return one of its documented values in bounded time,
 *                     every frame received must be whole
 *   wake BUS          threads blocked in each receive call are released by
 *                     destroy (ENXIO), down (ENETDOWN) and cancel
 *                     (ECANCELED), with timeouts -1, INT_MIN and INT_MAX;
 *                     poll on the poll descriptor returns on destroy,
 *                     unset_linkstr and cancel
 *   wakerace BUS N    the same with the release at random moments
 *   sweep BUS         calls with every ifnum from -1 to 40000 while other
 *                     threads create and destroy units
 *   fanout BUS N      N frames to one interface received by four threads
 *                     at once, with cancels between: each frame exactly once
 *   pollrace BUS N    get_pollfd from several threads racing destroy and
 *                     unset_linkstr: no descriptor leaks
 *   pollready BUS     the readiness rules of the poll descriptor, with
 *                     frames from this process and from another, and 50
 *                     descriptors in one epoll set
 *   senddestroy BUS   destroy and down while another thread is inside a
 *                     batch of 1048576 frames
 */
#include "common.h"

#include <dirent.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/wait.h>

static const char *bus;

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* pair makes two interfaces on bus that start clean and checks that a frame
 * goes from the first to the second within two seconds. */
static void
check_bus_usable(const char *what)
{
	int a, b, rc;
	uint8_t mac[6], f[SHMIF_MAXFRAME], buf[SHMIF_MAXFRAME];
	size_t len;
	int64_t t0;

	MUST(shmif_create(-1, &a));
	MUST(shmif_create(-1, &b));
	MUST(shmif_set_start(a, SHMIF_START_NEXT));
	MUST(shmif_set_start(b, SHMIF_START_NEXT));
	MUST(shmif_set_linkstr(a, bus));
	MUST(shmif_set_linkstr(b, bus));
	MUST(shmif_up(a));
	MUST(shmif_up(b));
	MUST(shmif_get_mac(a, mac));
	hframe_build(f, 100, mac, 0xfeedu, 7);
	t0 = now_ns();
	EXPECT_RC(shmif_send(a, f, 100), 0);
	for (;;) {
		rc = shmif_recv(b, buf, sizeof buf, &len, 2000);
		if (rc != 0) {
			FAIL("%s: the bus no longer carries a frame: recv = %s", what, en(rc));
			break;
		}
		uint32_t id, seq;
		if (hframe_check(buf, len, &id, &seq) == 1 && id == 0xfeedu && seq == 7)
			break;
		if (now_ns() - t0 > 2000000000LL) {
			FAIL("%s: sentinel frame not received within 2 s", what);
			break;
		}
	}
	EXPECT_RC(shmif_destroy(a), 0);
	EXPECT_RC(shmif_destroy(b), 0);
}

/* ---- chaos ---- */

#define SLOTS 6
#define NTHREADS 12

static _Atomic int slot[SLOTS];
static atomic_int stop;

enum { OP_CREATE, OP_CREATE2, OP_DESTROY, OP_SEND, OP_BATCH, OP_RECV, OP_RECVF,
	OP_RECVB, OP_UP, OP_DOWN, OP_UNSET, OP_SET, OP_POLLFD, OP_CANCEL, OP_STATS,
	OP_LINKSTR, OP_LOSSLESS, OP_START, OP_PROMISC, OP_SPIN, OP_MAC, OP_MEDIA,
	OP_FLAGS, NOPS };

static const char *opname[NOPS] = { "create", "create+linkstr+up", "destroy",
	"send", "send_batch", "recv", "recv_frame", "recv_batch", "up", "down",
	"unset_linkstr", "set_linkstr", "get_pollfd+poll", "cancel", "get_stats",
	"get_linkstr", "set_lossless", "set_start", "set_promisc", "set_spin",
	"set_mac", "set_media", "get_flags" };

static atomic_long opcount[NOPS], opmax[NOPS], frames_ok, frames_other;

static void
note(int op, int64_t ns)
{
	long cur = atomic_load(&opmax[op]);

	atomic_fetch_add(&opcount[op], 1);
	while (ns > cur && !atomic_compare_exchange_weak(&opmax[op], &cur, ns))
		;
}

static void
check_frame(const char *op, const uint8_t *p, size_t len)
{
	uint32_t id, seq;
	int k;

	if (len < SHMIF_MINFRAME || len > SHMIF_MAXFRAME) {
		FAIL("%s delivered a frame of %zu bytes", op, len);
		return;
	}
	k = hframe_check(p, len, &id, &seq);
	if (k < 0)
		FAIL("%s delivered a torn or invented frame of %zu bytes", op, len);
	else if (k > 0)
		atomic_fetch_add(&frames_ok, 1);
	else
		atomic_fetch_add(&frames_other, 1);
}

/* put stores a new interface in a free slot, or destroys it. */
static void
put(int n)
{
	for (int i = 0; i < SLOTS; i++) {
		int want = -1;
		if (atomic_compare_exchange_strong(&slot[i], &want, n))
			return;
	}
	EXPECT_RC(shmif_destroy(n), 0);
}

static void *
chaos_thread(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ULL + (uint64_t)now_ns();
	uint32_t id = (uint32_t)(uintptr_t)arg, seq = 0;
	static const uint8_t src[6] = { 0xb2, 0xa0, 1, 2, 3, 4 };
	uint8_t *buf = malloc(300 * SHMIF_MAXFRAME);
	struct shmif_frame fr[300];

	while (!atomic_load(&stop)) {
		int op = rnd_next(&s) % NOPS;
		int n = atomic_load(&slot[rnd_next(&s) % SLOTS]);
		int rc = 0, ok = 1, tmo = 0;
		int64_t t0 = now_ns();
		size_t len, got;

		switch (op) {
		case OP_CREATE: {
			int u;
			rc = rump_pub_shmif_create(bus, &u);
			ok = rc == 0;
			if (rc == 0)
				put(u);
			break;
		}
		case OP_CREATE2: {
			int u;
			rc = shmif_create(-1, &u);
			ok = rc == 0;
			if (rc == 0) {
				/* Other threads may reach the new unit through a
				 * stale ifnum of an older interface of that number
				 * (and detach or attach it): EBUSY and ENXIO are
				 * documented results then. */
				int r2 = shmif_set_linkstr(u, bus);
				CHECK(oneof(r2, 0, EBUSY, -1), "set_linkstr on a fresh interface = %s", en(r2));
				if (rnd_next(&s) % 2)
					CHECK(oneof(r2 = shmif_up(u), 0, ENXIO, -1), "up on a fresh interface = %s", en(r2));
				put(u);
			}
			break;
		}
		case OP_DESTROY: {
			int i = rnd_next(&s) % SLOTS;
			int u = atomic_exchange(&slot[i], -1);
			if (u < 0)
				continue;
			rc = shmif_destroy(u);
			ok = rc == 0;
			break;
		}
		case OP_SEND:
			len = hframe_len(id, seq);
			hframe_build(buf, len, src, id, seq++);
			rc = shmif_send(n, buf, len);
			ok = oneof(rc, 0, ENXIO, ENETDOWN, -1);
			tmo = 200;
			break;
		case OP_BATCH: {
			size_t k = 1 + rnd_next(&s) % 300;
			for (size_t i = 0; i < k; i++) {
				len = 34 + rnd_next(&s) % 200;
				hframe_build(buf + i * SHMIF_MAXFRAME, len, src, id, seq++);
				fr[i] = (struct shmif_frame){ .data = buf + i * SHMIF_MAXFRAME, .len = len };
			}
			rc = shmif_send_batch(n, fr, k);
			ok = oneof(rc, 0, ENXIO, ENETDOWN, -1);
			tmo = 400;
			break;
		}
		case OP_RECV:
			tmo = (int)(rnd_next(&s) % 4) * 5;
			rc = shmif_recv(n, buf, SHMIF_MAXFRAME, &len, tmo);
			ok = oneof(rc, 0, EAGAIN, ETIMEDOUT, ENXIO, ENETDOWN, ECANCELED, -1);
			if (rc == 0)
				check_frame("recv", buf, len);
			break;
		case OP_RECVF: {
			struct shmif_frame f = { .data = buf, .cap = SHMIF_MAXFRAME };
			tmo = (int)(rnd_next(&s) % 4) * 5;
			rc = shmif_recv_frame(n, &f, tmo);
			ok = oneof(rc, 0, EAGAIN, ETIMEDOUT, ENXIO, ENETDOWN, ECANCELED, -1);
			if (rc == 0)
				check_frame("recv_frame", buf, f.len);
			break;
		}
		case OP_RECVB: {
			size_t k = 1 + rnd_next(&s) % 300;
			for (size_t i = 0; i < k; i++)
				fr[i] = (struct shmif_frame){ .data = buf + i * SHMIF_MAXFRAME, .cap = SHMIF_MAXFRAME };
			tmo = (int)(rnd_next(&s) % 4) * 5;
			got = 12345;
			rc = shmif_recv_batch(n, fr, k, &got, tmo);
			ok = oneof(rc, 0, EAGAIN, ETIMEDOUT, ENXIO, ENETDOWN, ECANCELED, -1);
			if (rc == 0) {
				CHECK(got >= 1 && got <= 256 && got <= k, "recv_batch(n=%zu) received %zu", k, got);
				for (size_t i = 0; i < got && i < k; i++)
					check_frame("recv_batch", fr[i].data, fr[i].len);
			} else
				CHECK(got == 0, "recv_batch = %s with *received = %zu, want 0", en(rc), got);
			break;
		}
		case OP_UP:
			rc = shmif_up(n);
			ok = oneof(rc, 0, ENXIO, -1);
			break;
		case OP_DOWN:
			rc = shmif_down(n);
			ok = oneof(rc, 0, ENXIO, -1);
			break;
		case OP_UNSET:
			rc = shmif_unset_linkstr(n);
			ok = oneof(rc, 0, EBUSY, ENXIO, -1);
			break;
		case OP_SET:
			rc = shmif_set_linkstr(n, bus);
			ok = oneof(rc, 0, EBUSY, ENXIO, -1);
			break;
		case OP_POLLFD: {
			int fd;
			rc = shmif_get_pollfd(n, &fd);
			ok = oneof(rc, 0, ENXIO, ENETDOWN, -1);
			if (rc == 0) {
				struct pollfd p = { .fd = fd, .events = POLLIN };
				poll(&p, 1, (int)(rnd_next(&s) % 3));
			}
			tmo = 3;
			break;
		}
		case OP_CANCEL:
			rc = shmif_cancel(n);
			ok = oneof(rc, 0, ENXIO, -1);
			break;
		case OP_STATS: {
			struct shmif_stats st;
			rc = shmif_get_stats(n, &st);
			ok = oneof(rc, 0, ENXIO, -1);
			break;
		}
		case OP_LINKSTR: {
			char p[SHMIF_MAXLINKSTR];
			size_t need = 0;
			rc = shmif_get_linkstr(n, p, sizeof p, &need);
			ok = oneof(rc, 0, ENXIO, ENOENT, -1);
			if (rc == 0)
				CHECK(strcmp(p, bus) == 0 && need == strlen(bus) + 1,
				    "get_linkstr = %s (needed %zu)", p, need);
			break;
		}
		case OP_LOSSLESS:
			rc = shmif_set_lossless(n, rnd_next(&s) % 2 ? 30 : 0);
			ok = oneof(rc, 0, ENXIO, -1);
			break;
		case OP_START:
			rc = shmif_set_start(n, rnd_next(&s) % 3);
			ok = oneof(rc, 0, ENXIO, -1);
			break;
		case OP_PROMISC:
			rc = shmif_set_promisc(n, rnd_next(&s) % 2);
			ok = oneof(rc, 0, ENXIO, -1);
			break;
		case OP_SPIN:
			rc = shmif_set_spin(n, rnd_next(&s) % 100);
			ok = oneof(rc, 0, ENXIO, -1);
			break;
		case OP_MAC: {
			uint8_t m[6] = { 0x02, 0, 0, 0, 0, (uint8_t)rnd_next(&s) };
			rc = shmif_set_mac(n, m);
			ok = oneof(rc, 0, ENXIO, -1);
			break;
		}
		case OP_MEDIA:
			rc = shmif_set_media(n, rnd_next(&s) % 4 ? SHMIF_MEDIA_AUTO : SHMIF_MEDIA_NONE);
			ok = oneof(rc, 0, ENXIO, -1);
			break;
		case OP_FLAGS: {
			int fl;
			rc = shmif_get_flags(n, &fl);
			ok = oneof(rc, 0, ENXIO, -1);
			if (rc == 0)
				CHECK((fl & 0x8802) == 0x8802, "flags %#x lack BROADCAST|SIMPLEX|MULTICAST", fl);
			break;
		}
		}
		int64_t d = now_ns() - t0;
		note(op, d);
		if (!ok)
			FAIL("%s(ifnum %d) = %s: not a documented result", opname[op], n, en(rc));
		/* A bound far above any documented wait: the longest is a lossless
		 * receiver's 30 ms per chunk of 256 frames. */
		if (d > (int64_t)(tmo + 3000) * 1000000)
			FAIL("%s(ifnum %d) took %.0f ms (timeout %d ms)", opname[op], n, d / 1e6, tmo);
	}
	free(buf);
	return NULL;
}

static void
chaos(int ms)
{
	pthread_t th[NTHREADS];
	int fds0, fds1, n;

	/* Warm up: the library's own descriptors (inotify, the bus) exist. */
	MUST(rump_pub_shmif_create(bus, &n));
	int fd;
	MUST(shmif_get_pollfd(n, &fd));
	MUST(shmif_destroy(n));
	sleep_us(400000);
	fds0 = count_fds();

	for (int i = 0; i < SLOTS; i++)
		atomic_store(&slot[i], -1);
	for (long i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, chaos_thread, (void *)(i + 1));
	sleep_us((long)ms * 1000);
	atomic_store(&stop, 1);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < SLOTS; i++) {
		int u = atomic_exchange(&slot[i], -1);
		if (u >= 0)
			EXPECT_RC(shmif_destroy(u), 0);
	}
	for (int op = 0; op < NOPS; op++)
		INFO("op=%s calls=%ld max_ms=%.1f", opname[op], atomic_load(&opcount[op]),
		    atomic_load(&opmax[op]) / 1e6);
	INFO("frames_whole=%ld frames_foreign=%ld", atomic_load(&frames_ok), atomic_load(&frames_other));
	check_bus_usable("after chaos");
	sleep_us(500000); /* poll descriptors close 250 ms after destroy */
	fds1 = count_fds();
	INFO("descriptors_before=%d descriptors_after=%d", fds0, fds1);
	CHECK(fds1 <= fds0 + 4, "descriptors leaked: %d before the chaos, %d after", fds0, fds1);
}

/* ---- wake ---- */

enum { RK_RECV, RK_FRAME, RK_BATCH };
static const char *rkname[] = { "recv", "recv_frame", "recv_batch" };

struct waiter {
	pthread_t th;
	int ifnum, kind, tmo, rc;
	int64_t returned;
	atomic_int started, done;
};

static void *
waiter_thread(void *arg)
{
	struct waiter *w = arg;
	uint8_t buf[SHMIF_MAXFRAME];
	size_t len, got = 99;
	struct shmif_frame f = { .data = buf, .cap = sizeof buf };

	atomic_store(&w->started, 1);
	switch (w->kind) {
	case RK_RECV:
		w->rc = shmif_recv(w->ifnum, buf, sizeof buf, &len, w->tmo);
		break;
	case RK_FRAME:
		w->rc = shmif_recv_frame(w->ifnum, &f, w->tmo);
		break;
	case RK_BATCH:
		w->rc = shmif_recv_batch(w->ifnum, &f, 1, &got, w->tmo);
		if (got != 0)
			FAIL("recv_batch = %s with *received = %zu", en(w->rc), got);
		break;
	}
	w->returned = now_ns();
	atomic_store(&w->done, 1);
	return NULL;
}

struct poller {
	pthread_t th;
	int fd;
	short revents;
	int rc;
	int64_t returned;
	atomic_int started;
};

static void *
poller_thread(void *arg)
{
	struct poller *p = arg;
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

	atomic_store(&p->started, 1);
	p->rc = poll(&pfd, 1, 10000);
	p->revents = pfd.revents;
	p->returned = now_ns();
	return NULL;
}

/* drain receives until EAGAIN, so that the poll descriptor is not readable. */
static void
drain(int n)
{
	uint8_t buf[SHMIF_MAXFRAME];
	size_t len;

	while (shmif_recv(n, buf, sizeof buf, &len, 0) == 0)
		;
}

/* joined waits up to 3 s for a thread; a thread still blocked is a hang. */
static int
joined(pthread_t th, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	if (pthread_timedjoin_np(th, NULL, &ts) != 0) {
		FAIL("%s: still blocked 3 s after the release", what);
		return 0;
	}
	return 1;
}

static int hung;

/*
 * cancel_until_returned cancels n again every 100 ms, for 3 s at most, until
 * the k waiters have returned: a receive that begins after a cancel is not
 * affected by it (rump.h), and on a loaded machine a waiter may begin its
 * receive after the first cancel, whatever the test slept before. The last
 * cancel also leaves the poll descriptor readable, should a late waiter's
 * receive have found nothing and cleared it.
 */
static void
cancel_until_returned(int n, struct waiter *w, int k)
{
	for (int tries = 0; tries < 30; tries++) {
		for (int ms = 0; ms < 100; ms++) {
			int done = 0;
			for (int i = 0; i < k; i++)
				done += atomic_load(&w[i].done);
			if (done == k)
				return;
			sleep_us(1000);
		}
		EXPECT_RC(shmif_cancel(n), 0);
	}
}

static void
wake(void)
{
	static const char *term[] = { "destroy", "down", "cancel" };
	static const int want[] = { ENXIO, ENETDOWN, ECANCELED };
	static const int tmos[] = { -1, INT_MIN, INT_MAX, -7 };
	int64_t worst = 0;

	for (int t = 0; t < 3; t++) {
		for (int k = 0; k < 3; k++) {
			for (int ti = 0; ti < 4; ti++) {
				struct waiter w[4];
				struct poller p = { 0 };
				int n;
				char what[128];

				MUST(rump_pub_shmif_create(bus, &n));
				MUST(shmif_set_start(n, SHMIF_START_NEXT));
				MUST(shmif_up(n));
				drain(n);
				if (t != 1) {
					MUST(shmif_get_pollfd(n, &p.fd));
					drain(n); /* a receive that finds nothing ends readiness */
				}
				for (int i = 0; i < 4; i++) {
					w[i] = (struct waiter){ .ifnum = n, .kind = k, .tmo = tmos[ti] };
					pthread_create(&w[i].th, NULL, waiter_thread, &w[i]);
				}
				if (t != 1)
					pthread_create(&p.th, NULL, poller_thread, &p);
				/* Every thread has begun (a loaded machine may start
				 * one late: a poll begun after destroy closed the
				 * descriptor would see POLLNVAL), and had 30 ms to
				 * block in its call. */
				for (int ms = 0; ms < 10000; ms++) {
					int started = t == 1 || atomic_load(&p.started);
					for (int i = 0; i < 4; i++)
						started &= atomic_load(&w[i].started);
					if (started)
						break;
					sleep_us(1000);
				}
				sleep_us(30000);
				for (int i = 0; i < 4; i++)
					CHECK(!atomic_load(&w[i].done), "%s(timeout %d) returned %s before any release",
					    rkname[k], tmos[ti], en(w[i].rc));
				int64_t t0 = now_ns();
				switch (t) {
				case 0: EXPECT_RC(shmif_destroy(n), 0); break;
				case 1: EXPECT_RC(shmif_down(n), 0); break;
				case 2: EXPECT_RC(shmif_cancel(n), 0); break;
				}
				if (t == 2)
					cancel_until_returned(n, w, 4);
				for (int i = 0; i < 4; i++) {
					snprintf(what, sizeof what, "%s(timeout %d) released by %s", rkname[k], tmos[ti], term[t]);
					if (!joined(w[i].th, what)) {
						hung = 1;
						continue;
					}
					CHECK(w[i].rc == want[t], "%s: returned %s, want %s", what, en(w[i].rc), en(want[t]));
					if (w[i].returned - t0 > worst)
						worst = w[i].returned - t0;
				}
				if (t != 1) {
					snprintf(what, sizeof what, "poll on the poll descriptor released by %s", term[t]);
					if (joined(p.th, what))
						CHECK(p.rc == 1 && (p.revents & POLLIN), "%s: poll = %d, revents %#x, want POLLIN",
						    what, p.rc, p.revents);
					else
						hung = 1;
				}
				if (t == 2) {
					/* Receives that begin after the cancel are not affected. */
					uint8_t buf[SHMIF_MAXFRAME];
					size_t len;
					EXPECT_RC(shmif_recv(n, buf, sizeof buf, &len, 20), ETIMEDOUT);
				}
				if (t != 0)
					EXPECT_RC(shmif_destroy(n), 0);
				if (hung)
					return; /* a thread still blocked owns w and p */
			}
		}
	}

	/* unset_linkstr releases a poll too (after down, which it needs). */
	{
		struct poller p = { 0 };
		int n;

		MUST(rump_pub_shmif_create(bus, &n));
		MUST(shmif_get_pollfd(n, &p.fd));
		drain(n);
		MUST(shmif_down(n));
		drain(n);
		/* down wakes every reader of the bus: readiness may be set; take it
		 * away once more by a receive that finds nothing is not possible on
		 * a down interface, so only check that poll returns. */
		pthread_create(&p.th, NULL, poller_thread, &p);
		for (int ms = 0; ms < 10000 && !atomic_load(&p.started); ms++)
			sleep_us(1000);
		sleep_us(30000);
		EXPECT_RC(shmif_unset_linkstr(n), 0);
		if (joined(p.th, "poll released by unset_linkstr"))
			CHECK(p.rc == 1, "poll released by unset_linkstr: poll = %d, revents %#x", p.rc, p.revents);
		else
			hung = 1;
		EXPECT_RC(shmif_destroy(n), 0);
	}
	INFO("worst_release_ms=%.2f", worst / 1e6);
}

/* ---- wakerace ---- */

static void
wakerace(int iters)
{
	uint64_t s = (uint64_t)now_ns() | 1;
	int64_t worst = 0;

	for (int it = 0; it < iters && !hung; it++) {
		int t = it % 3, k = (it / 3) % 3, n;
		struct waiter w[3];
		char what[128];

		MUST(rump_pub_shmif_create(bus, &n));
		MUST(shmif_set_start(n, SHMIF_START_NEXT));
		MUST(shmif_up(n));
		for (int i = 0; i < 3; i++) {
			w[i] = (struct waiter){ .ifnum = n, .kind = k, .tmo = t == 2 ? 100 : -1 };
			pthread_create(&w[i].th, NULL, waiter_thread, &w[i]);
		}
		sleep_us((long)(rnd_next(&s) % 300));
		int64_t t0 = now_ns();
		switch (t) {
		case 0: EXPECT_RC(shmif_destroy(n), 0); break;
		case 1: EXPECT_RC(shmif_down(n), 0); break;
		case 2: EXPECT_RC(shmif_cancel(n), 0); break;
		}
		for (int i = 0; i < 3; i++) {
			snprintf(what, sizeof what, "iteration %d: %s released by %s", it, rkname[k],
			    t == 0 ? "destroy" : t == 1 ? "down" : "cancel");
			if (!joined(w[i].th, what)) {
				hung = 1;
				continue;
			}
			switch (t) {
			case 0: CHECK(w[i].rc == ENXIO, "%s: returned %s, want ENXIO", what, en(w[i].rc)); break;
			case 1: CHECK(w[i].rc == ENETDOWN, "%s: returned %s, want ENETDOWN", what, en(w[i].rc)); break;
			case 2: CHECK(oneof(w[i].rc, ECANCELED, ETIMEDOUT, -1), "%s: returned %s", what, en(w[i].rc)); break;
			}
			if (t != 2 && w[i].returned - t0 > worst)
				worst = w[i].returned - t0;
		}
		if (t != 0)
			EXPECT_RC(shmif_destroy(n), 0);
	}
	INFO("iterations=%d worst_release_ms=%.2f", iters, worst / 1e6);
}

/* ---- sweep ---- */

static atomic_long sweep_calls;

static void *
sweep_thread(void *arg)
{
	int part = (int)(uintptr_t)arg;
	uint8_t f[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xb2, 0xa0, 9, 9, 9, 9, 0x88, 0xb5 };
	uint8_t buf[SHMIF_MAXFRAME], mac[6];
	char path[SHMIF_MAXLINKSTR];
	struct shmif_stats st;
	size_t len, need, got;
	uint32_t u32;
	uint64_t u64;
	int v, v2, fd, rc;

	for (int n = -1 + part; n <= 40000; n += 2) {
		int outside = n < 0 || n >= SHMIF_MAXUNITS;
		struct shmif_frame fr = { .data = buf, .cap = sizeof buf };
#define SW(call, ...) do { rc = (call); atomic_fetch_add(&sweep_calls, 1); \
	if (outside ? rc != ENXIO : !oneof(rc, ENXIO, __VA_ARGS__, -1)) \
		FAIL("ifnum %d: %s = %s", n, #call, en(rc)); } while (0)
		SW(shmif_get_flags(n, &v), 0);
		SW(shmif_get_mtu(n, &v), 0);
		SW(shmif_get_stats(n, &st), 0);
		SW(shmif_get_mac(n, mac), 0);
		SW(shmif_get_sender(n, &u64), 0);
		SW(shmif_get_linkstr(n, path, sizeof path, &need), 0, ENOENT);
		SW(shmif_get_media(n, &v), 0);
		SW(shmif_get_link_state(n, &v), 0);
		SW(shmif_get_lossless(n, &v, &v2), 0);
		SW(shmif_get_spin(n, &v), 0);
		SW(shmif_get_capenable(n, &u32), 0);
		SW(shmif_get_capabilities(n, &u32), 0);
		SW(shmif_send(n, f, sizeof f), 0, ENETDOWN);
		SW(shmif_recv(n, buf, sizeof buf, &len, 0), 0, EAGAIN, ENETDOWN);
		SW(shmif_recv_frame(n, &fr, 0), 0, EAGAIN, ENETDOWN);
		SW(shmif_recv_batch(n, &fr, 1, &got, 0), 0, EAGAIN, ENETDOWN);
		SW(shmif_cancel(n), 0);
		SW(shmif_get_pollfd(n, &fd), 0, ENETDOWN);
		SW(shmif_set_promisc(n, 1), 0);
		SW(shmif_set_spin(n, 10), 0);
		SW(shmif_up(n), 0);
		SW(shmif_set_start(n, 1), 0);
		SW(shmif_set_lossless(n, 0), 0);
		SW(shmif_send_offload(n, f, sizeof f, 0, 0), 0, ENETDOWN);
#undef SW
	}
	return NULL;
}

static atomic_int sweep_stop;

static void *
creator_thread(void *arg)
{
	uint64_t s = (uintptr_t)arg * 77 + (uint64_t)now_ns();
	int mine[64], nmine = 0;

	while (!atomic_load(&sweep_stop)) {
		if (nmine < 64 && rnd_next(&s) % 2) {
			int u, rc;
			switch (rnd_next(&s) % 3) {
			case 0:
				rc = rump_pub_shmif_create(bus, &u);
				CHECK(rc == 0, "rump_pub_shmif_create = %s", en(rc));
				break;
			case 1:
				rc = shmif_create(-1, &u);
				CHECK(rc == 0, "shmif_create(-1) = %s", en(rc));
				break;
			default:
				u = (int)(rnd_next(&s) % SHMIF_MAXUNITS);
				rc = shmif_create(u, NULL);
				CHECK(oneof(rc, 0, EEXIST, -1), "shmif_create(%d) = %s", u, en(rc));
				break;
			}
			if (rc == 0)
				mine[nmine++] = u;
		} else if (nmine > 0) {
			int i = rnd_next(&s) % nmine;
			EXPECT_RC(shmif_destroy(mine[i]), 0);
			mine[i] = mine[--nmine];
		}
	}
	while (nmine > 0)
		EXPECT_RC(shmif_destroy(mine[--nmine]), 0);
	return NULL;
}

static void *
unitsweep_thread(void *arg)
{
	(void)arg;
	for (int u = -3; u <= 40000; u++) {
		int got = -5, rc = shmif_create(u, &got);
		if (u < -1 || u > 32767)
			CHECK(rc == EINVAL, "shmif_create(%d) = %s, want EINVAL", u, en(rc));
		else if (u == -1) {
			CHECK(rc == 0, "shmif_create(-1) = %s", en(rc));
			if (rc == 0)
				EXPECT_RC(shmif_destroy(got), 0);
		} else {
			CHECK(oneof(rc, 0, EEXIST, -1), "shmif_create(%d) = %s", u, en(rc));
			if (rc == 0) {
				CHECK(got == u, "shmif_create(%d) stored %d", u, got);
				EXPECT_RC(shmif_destroy(u), 0);
			}
		}
	}
	return NULL;
}

static void
sweep(void)
{
	pthread_t sw[2], cr[2], us;

	for (long i = 0; i < 2; i++)
		pthread_create(&cr[i], NULL, creator_thread, (void *)i);
	pthread_create(&us, NULL, unitsweep_thread, NULL);
	for (long i = 0; i < 2; i++)
		pthread_create(&sw[i], NULL, sweep_thread, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(sw[i], NULL);
	pthread_join(us, NULL);
	atomic_store(&sweep_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(cr[i], NULL);
	INFO("calls=%ld", atomic_load(&sweep_calls));
	/* Every unit is free again: the lowest free unit is 0. */
	int u;
	EXPECT_RC(shmif_create(-1, &u), 0);
	CHECK(u == 0, "after the sweep the lowest free unit is %d, want 0", u);
	EXPECT_RC(shmif_destroy(u), 0);
}

/* ---- fanout ---- */

static int fan_if;
static atomic_int fan_stop;
static _Atomic uint8_t *fan_seen;
static long fan_n;
static atomic_long fan_dups, fan_torn, fan_cancels, fan_got;

static void
fan_take(const uint8_t *p, size_t len)
{
	uint32_t id, seq;

	if (hframe_check(p, len, &id, &seq) != 1 || id != 0xfa17 || seq >= fan_n) {
		atomic_fetch_add(&fan_torn, 1);
		return;
	}
	if (atomic_fetch_add(&fan_seen[seq], 1) != 0)
		atomic_fetch_add(&fan_dups, 1);
	atomic_fetch_add(&fan_got, 1);
}

static void *
fan_reader(void *arg)
{
	int kind = (int)(uintptr_t)arg % 3;
	uint8_t *buf = malloc(64 * SHMIF_MAXFRAME);
	struct shmif_frame fr[64];
	size_t len, got;
	int rc;

	while (atomic_load(&fan_got) < fan_n && !atomic_load(&fan_stop)) {
		switch (kind) {
		case 0:
			rc = shmif_recv(fan_if, buf, SHMIF_MAXFRAME, &len, 20);
			if (rc == 0)
				fan_take(buf, len);
			break;
		case 1:
			fr[0] = (struct shmif_frame){ .data = buf, .cap = SHMIF_MAXFRAME };
			rc = shmif_recv_frame(fan_if, fr, 20);
			if (rc == 0)
				fan_take(buf, fr[0].len);
			break;
		default:
			for (int i = 0; i < 64; i++)
				fr[i] = (struct shmif_frame){ .data = buf + i * SHMIF_MAXFRAME, .cap = SHMIF_MAXFRAME };
			rc = shmif_recv_batch(fan_if, fr, 64, &got, 20);
			if (rc == 0)
				for (size_t i = 0; i < got; i++)
					fan_take(fr[i].data, fr[i].len);
			break;
		}
		if (rc == ECANCELED)
			atomic_fetch_add(&fan_cancels, 1);
		else if (!oneof(rc, 0, ETIMEDOUT, -1))
			FAIL("fanout reader: %s", en(rc));
	}
	free(buf);
	return NULL;
}

static void
fanout(long n)
{
	pthread_t rd[4];
	int tx;
	uint8_t mac[6];
	uint8_t *buf = malloc(256 * SHMIF_MAXFRAME);
	struct shmif_frame fr[256];
	struct shmif_stats st;

	fan_n = n;
	fan_seen = calloc(n, 1);
	MUST(rump_pub_shmif_create(bus, &fan_if));
	MUST(shmif_set_start(fan_if, SHMIF_START_NEXT));
	MUST(shmif_set_lossless(fan_if, 10000));
	MUST(shmif_up(fan_if));
	MUST(rump_pub_shmif_create(bus, &tx));
	MUST(shmif_get_mac(tx, mac));
	for (long i = 0; i < 4; i++)
		pthread_create(&rd[i], NULL, fan_reader, (void *)i);
	for (long seq = 0; seq < n;) {
		size_t k = 0;
		for (; k < 256 && seq < n; k++, seq++) {
			size_t len = 34 + seq % 300;
			hframe_build(buf + k * SHMIF_MAXFRAME, len, mac, 0xfa17, (uint32_t)seq);
			fr[k] = (struct shmif_frame){ .data = buf + k * SHMIF_MAXFRAME, .len = len };
		}
		EXPECT_RC(shmif_send_batch(tx, fr, k), 0);
		if (seq % 4096 < 256)
			EXPECT_RC(shmif_cancel(fan_if), 0);
	}
	int64_t t0 = now_ns();
	while (atomic_load(&fan_got) < n && now_ns() - t0 < 5000000000LL)
		sleep_us(1000);
	atomic_store(&fan_stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(rd[i], NULL);
	MUST(shmif_get_stats(fan_if, &st));
	long missing = 0;
	for (long i = 0; i < n; i++)
		missing += fan_seen[i] == 0;
	INFO("frames=%ld received=%ld duplicates=%ld missing=%ld torn=%ld cancels=%ld lost=%llu ipackets=%llu",
	    n, atomic_load(&fan_got), atomic_load(&fan_dups), missing, atomic_load(&fan_torn),
	    atomic_load(&fan_cancels), (unsigned long long)st.lost, (unsigned long long)st.ipackets);
	CHECK(atomic_load(&fan_dups) == 0, "%ld frames went to more than one receiving thread", atomic_load(&fan_dups));
	CHECK(atomic_load(&fan_torn) == 0, "%ld torn or foreign frames", atomic_load(&fan_torn));
	CHECK(missing == 0 && st.lost == 0, "a lossless receiver missed %ld frames (lost counter %llu)",
	    missing, (unsigned long long)st.lost);
	CHECK(st.ipackets == (uint64_t)n, "ipackets %llu, want %ld", (unsigned long long)st.ipackets, n);
	EXPECT_RC(shmif_destroy(fan_if), 0);
	EXPECT_RC(shmif_destroy(tx), 0);
	free(buf);
}

/* ---- pollrace ---- */

struct pr {
	int ifnum;
	atomic_int go;
	int fd, rc;
};

static void *
pr_thread(void *arg)
{
	struct pr *p = arg;

	while (!atomic_load(&p->go))
		;
	p->rc = shmif_get_pollfd(p->ifnum, &p->fd);
	return NULL;
}

static void
pollrace(int iters)
{
	int n, fd, fds0, fds1;

	MUST(rump_pub_shmif_create(bus, &n));
	MUST(shmif_get_pollfd(n, &fd));
	MUST(shmif_destroy(n));
	sleep_us(400000);
	fds0 = count_fds();
	for (int it = 0; it < iters; it++) {
		struct pr p[4];
		pthread_t th[4];
		int how = it % 3;

		MUST(rump_pub_shmif_create(bus, &n));
		for (int i = 0; i < 4; i++) {
			p[i] = (struct pr){ .ifnum = n, .fd = -1 };
			pthread_create(&th[i], NULL, pr_thread, &p[i]);
		}
		for (int i = 0; i < 4; i++)
			atomic_store(&p[i].go, 1);
		if (how == 0)
			EXPECT_RC(shmif_destroy(n), 0);
		else {
			EXPECT_RC(shmif_down(n), 0);
			EXPECT_RC(shmif_unset_linkstr(n), 0);
		}
		int fd0 = -1;
		for (int i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			CHECK(oneof(p[i].rc, 0, ENXIO, ENETDOWN, -1), "get_pollfd racing %s = %s",
			    how == 0 ? "destroy" : "unset_linkstr", en(p[i].rc));
			if (p[i].rc == 0) {
				if (fd0 < 0)
					fd0 = p[i].fd;
				CHECK(p[i].fd == fd0, "two get_pollfd calls gave descriptors %d and %d", fd0, p[i].fd);
			}
		}
		if (how == 2) {
			/* attach again: a new descriptor is made on request */
			EXPECT_RC(shmif_set_linkstr(n, bus), 0);
			EXPECT_RC(shmif_get_pollfd(n, &fd), 0);
		}
		if (how != 0)
			EXPECT_RC(shmif_destroy(n), 0);
	}
	sleep_us(600000);
	fds1 = count_fds();
	INFO("iterations=%d descriptors_before=%d descriptors_after=%d", iters, fds0, fds1);
	CHECK(fds1 <= fds0 + 2, "poll descriptors leaked: %d before, %d after %d races", fds0, fds1, iters);
}

/* ---- pollready ---- */

static int
readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* send_from_child sends one frame from another process. */
static void
send_from_child(const char *self)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl(self, self, "send1", bus, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the sending child failed (status %#x)", st);
}

static void
pollready(const char *self)
{
	int a, b, fd, rc;
	uint8_t f[100], mac[6], buf[SHMIF_MAXFRAME];
	size_t len;

	MUST(rump_pub_shmif_create(bus, &a));
	MUST(rump_pub_shmif_create(bus, &b));
	MUST(shmif_get_mac(a, mac));
	hframe_build(f, 100, mac, 1, 1);
	MUST(shmif_get_pollfd(b, &fd));
	int fd2;
	EXPECT_RC(shmif_get_pollfd(b, &fd2), 0);
	CHECK(fd2 == fd, "a second get_pollfd gave %d, the first %d", fd2, fd);
	CHECK(readable(fd, 0), "not readable right after shmif_get_pollfd");
	drain(b);
	CHECK(!readable(fd, 0), "still readable after a receive found nothing");
	/* A frame from another interface of this process. */
	EXPECT_RC(shmif_send(a, f, 100), 0);
	CHECK(readable(fd, 1000), "not readable within 1 s of a frame from this process");
	EXPECT_RC(shmif_recv(b, buf, sizeof buf, &len, 0), 0);
	drain(b);
	CHECK(!readable(fd, 0), "readable after the receive found nothing");
	/* A frame from another process. */
	send_from_child(self);
	CHECK(readable(fd, 1000), "not readable within 1 s of a frame from another process");
	rc = shmif_recv(b, buf, sizeof buf, &len, 0);
	CHECK(rc == 0, "the frame from another process: %s", en(rc));
	drain(b);
	/* Own frames: maybe readable, consumed by the receive that finds nothing. */
	EXPECT_RC(shmif_send(b, f, 100), 0);
	readable(fd, 50);
	EXPECT_RC(shmif_recv(b, buf, sizeof buf, &len, 0), EAGAIN);
	CHECK(!readable(fd, 0), "readable after its own frame was consumed");
	/* cancel and up make it readable; down and up keep the descriptor. */
	EXPECT_RC(shmif_cancel(b), 0);
	CHECK(readable(fd, 0), "not readable after shmif_cancel");
	drain(b);
	EXPECT_RC(shmif_down(b), 0);
	EXPECT_RC(shmif_up(b), 0);
	CHECK(readable(fd, 0), "not readable after shmif_up");
	EXPECT_RC(shmif_get_pollfd(b, &fd2), 0);
	CHECK(fd2 == fd, "after down and up get_pollfd gave %d, before %d", fd2, fd);
	drain(b);

	/* Fifty descriptors in one epoll set; one frame from another process
	 * makes each readable. */
	int ep = epoll_create1(0), ifs[50], fds[50];
	for (int i = 0; i < 50; i++) {
		MUST(rump_pub_shmif_create(bus, &ifs[i]));
		MUST(shmif_get_pollfd(ifs[i], &fds[i]));
		drain(ifs[i]);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0)
			FAIL("epoll_ctl: %s", strerror(errno));
	}
	struct epoll_event evs[64];
	int n0 = epoll_wait(ep, evs, 64, 0);
	CHECK(n0 == 0, "%d descriptors readable on a quiet bus", n0);
	send_from_child(self);
	int seen[50] = { 0 }, nseen = 0;
	int64_t t0 = now_ns();
	while (nseen < 50 && now_ns() - t0 < 2000000000LL) {
		int k = epoll_wait(ep, evs, 64, 200);
		for (int j = 0; j < k; j++) {
			int i = (int)evs[j].data.u32;
			if (!seen[i]) {
				seen[i] = 1;
				nseen++;
				rc = shmif_recv(ifs[i], buf, sizeof buf, &len, 0);
				CHECK(rc == 0, "interface %d readable but recv = %s", i, en(rc));
				drain(ifs[i]);
			}
		}
	}
	CHECK(nseen == 50, "only %d of 50 poll descriptors became readable for one frame", nseen);
	/* Destroy makes them readable; once closed, the set loses them. */
	for (int i = 0; i < 50; i++)
		EXPECT_RC(shmif_destroy(ifs[i]), 0);
	int k = epoll_wait(ep, evs, 64, 1000);
	CHECK(k > 0, "no descriptor readable after destroying its interface");
	sleep_us(400000);
	k = epoll_wait(ep, evs, 64, 0);
	CHECK(k == 0, "%d descriptors still in the epoll set 400 ms after destroy", k);
	close(ep);
	EXPECT_RC(shmif_destroy(a), 0);
	EXPECT_RC(shmif_destroy(b), 0);
}

static void
send1(void)
{
	int n;
	uint8_t f[100], mac[6];

	MUST(rump_pub_shmif_create(bus, &n));
	MUST(shmif_get_mac(n, mac));
	hframe_build(f, 100, mac, 2, 1);
	MUST(shmif_send(n, f, 100));
	MUST(shmif_destroy(n));
}

/* ---- senddestroy ---- */

struct sd {
	int ifnum, rc;
	struct shmif_frame *fr;
	size_t n;
};

static void *
sd_thread(void *arg)
{
	struct sd *d = arg;

	d->rc = shmif_send_batch(d->ifnum, d->fr, d->n);
	return NULL;
}

static void
senddestroy(void)
{
	const size_t big = 1048576;
	struct shmif_frame *fr = calloc(big, sizeof *fr);
	uint8_t *data = malloc(big * 60);
	uint8_t mac[6] = { 0xb2, 0xa0, 1, 1, 1, 1 };
	int rx;

	for (size_t i = 0; i < big; i++) {
		hframe_build(data + i * 60, 60, mac, 3, (uint32_t)i);
		fr[i] = (struct shmif_frame){ .data = data + i * 60, .len = 60 };
	}
	MUST(rump_pub_shmif_create(bus, &rx));
	MUST(shmif_set_start(rx, SHMIF_START_NEXT));
	MUST(shmif_up(rx));
	for (int how = 0; how < 4; how++) {
		struct sd d = { .fr = fr, .n = big };
		pthread_t th;
		MUST(rump_pub_shmif_create(bus, &d.ifnum));
		pthread_create(&th, NULL, sd_thread, &d);
		sleep_us(how < 2 ? 2000 : 30000);
		int64_t t0 = now_ns();
		if (how % 2 == 0)
			EXPECT_RC(shmif_destroy(d.ifnum), 0);
		else
			EXPECT_RC(shmif_down(d.ifnum), 0);
		if (!joined(th, "a batch of 1048576 frames interrupted")) {
			hung = 1;
			return;
		}
		INFO("batch interrupted by %s: %s, %.1f ms after", how % 2 == 0 ? "destroy" : "down", en(d.rc),
		    (now_ns() - t0) / 1e6);
		CHECK(oneof(d.rc, 0, ENXIO, ENETDOWN, -1), "batch interrupted by %s = %s",
		    how % 2 == 0 ? "destroy" : "down", en(d.rc));
		if (how % 2 == 1)
			EXPECT_RC(shmif_destroy(d.ifnum), 0);
		/* what reached the bus is whole and in order */
		uint8_t buf[SHMIF_MAXFRAME];
		size_t len;
		uint32_t want = 0, id, seq;
		long got = 0;
		int rc;
		while ((rc = shmif_recv(rx, buf, sizeof buf, &len, 0)) == 0) {
			if (hframe_check(buf, len, &id, &seq) != 1) {
				FAIL("a torn frame after an interrupted batch");
				break;
			}
			if (got > 0 && seq < want)
				FAIL("frame %u after %u", seq, want - 1);
			want = seq + 1;
			got++;
		}
	}
	EXPECT_RC(shmif_destroy(rx), 0);
	free(fr);
	free(data);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: threads MODE BUS [N]\n");
		return 2;
	}
	bus = argv[2];
	long arg = argc > 3 ? atol(argv[3]) : 0;
	if (strcmp(argv[1], "chaos") == 0)
		chaos((int)arg);
	else if (strcmp(argv[1], "wake") == 0)
		wake();
	else if (strcmp(argv[1], "wakerace") == 0)
		wakerace((int)arg);
	else if (strcmp(argv[1], "sweep") == 0)
		sweep();
	else if (strcmp(argv[1], "fanout") == 0)
		fanout(arg);
	else if (strcmp(argv[1], "pollrace") == 0)
		pollrace((int)arg);
	else if (strcmp(argv[1], "pollready") == 0)
		pollready(argv[0]);
	else if (strcmp(argv[1], "send1") == 0)
		send1();
	else if (strcmp(argv[1], "senddestroy") == 0)
		senddestroy();
	else {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	if (hung) {
		/* threads still blocked in libshmif: leave without waiting */
		printf("DONE failures=%d\n", atomic_load(&failures));
		fflush(stdout);
		_exit(1);
	}
	return finish();
}
