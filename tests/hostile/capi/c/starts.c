/*
 * starts.c -- where reception starts, at the edges of the ring; the
 * environment variables; spinning and lossless waits at their extremes.
 *
 * usage: starts MODE DIR
 *   starts    SHMIF_START_NEWEST, NEXT and OLDEST (set with shmif_set_start
 *             and with the SHMIF_START variable) on a fresh bus, a bus with
 *             a few frames, a wrapped bus, and buses whose newest record
 *             straddles the end of the ring, ends exactly at it, or starts
 *             exactly at offset 0
 *   env       RUMP_SHMIF_CAPENABLE, SHMIF_SPIN_US and SHMIF_START with
 *             hostile values
 *   spin      shmif_set_spin(INT_MAX): timeouts stay deadlines; cancel,
 *             down and destroy still release the receiver (within 3 s)
 *   spinrelease [N]  cancel, down and destroy during a receiver's spin
 *             release it promptly: spin 100 ms and a release 20 ms in; and
 *             the default spin of 50 us with N cancels at random moments
 *             (100)
 *   lossless  200 lossless receivers that never read: a writer waits at
 *             most max_wait_ms per send in all, and not again
 */
#include "common.h"

#include <fcntl.h>
#include <sys/mman.h>

#define DATASIZE 1048544u
#define HDR 24u

static const char *dir;
static char bus[4096];
static uint8_t *m;
static int A;
static uint8_t a_mac[6];
static uint32_t a_seq;

#define FIRST (*(volatile uint32_t *)(m + 16))
#define LAST (*(volatile uint32_t *)(m + 20))
#define GEN (*(volatile uint64_t *)(m + 8))

static uint32_t
rec_len(uint32_t off)
{
	uint32_t l;

	for (int i = 0; i < 4; i++)
		((uint8_t *)&l)[i] = m[32 + (off + i) % DATASIZE];
	return l;
}

static uint32_t
next_off(uint32_t off)
{
	return (uint32_t)(((uint64_t)off + HDR + rec_len(off)) % DATASIZE);
}

static void
open_bus(const char *name)
{
	int fd;

	snprintf(bus, sizeof bus, "%s/%s", dir, name);
	MUST(rump_pub_shmif_create(bus, &A));
	MUST(shmif_get_mac(A, a_mac));
	fd = open(bus, O_RDWR);
	m = mmap(NULL, SHMIF_BUSSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	a_seq = 0;
}

static void
close_bus(void)
{
	EXPECT_RC(shmif_destroy(A), 0);
	munmap(m, SHMIF_BUSSIZE);
}

static void
send_a(size_t len)
{
	uint8_t f[SHMIF_MAXFRAME];

	hframe_build(f, len, a_mac, 0xA, a_seq++);
	MUST(shmif_send(A, f, len));
}

/* on_bus counts the frames in the valid region, oldest first. */
static uint32_t
on_bus(void)
{
	uint32_t off = FIRST == DATASIZE ? 0 : FIRST, end = next_off(LAST), n = 0;

	while (off != end) {
		if (rec_len(off) >= SHMIF_MINFRAME)
			n++;
		off = next_off(off);
	}
	return n;
}

/* fill_to sends frames until the next record would start at target (a
 * ring offset), then returns; with wrap, after wrapping once. */
static void
place_next(uint32_t target, int wrap)
{
	for (int guard = 0; guard < 5000; guard++) {
		uint32_t next = next_off(LAST);
		uint64_t dist = (target + (uint64_t)DATASIZE - next) % DATASIZE;
		if ((!wrap || GEN > 0) && dist == 0)
			return;
		if ((!wrap || GEN > 0) && dist >= HDR + 14 && dist <= HDR + SHMIF_MAXFRAME) {
			if (dist - HDR >= HFRAME_MIN) {
				send_a(dist - HDR);
				return;
			}
		}
		size_t len = dist > 2 * (HDR + SHMIF_MAXFRAME) || (wrap && GEN == 0) ? SHMIF_MAXFRAME : 200;
		send_a(len);
	}
	FAIL("could not place the next record at %#x", target);
}

/* expect_start creates an interface with the start s and checks what it
 * receives: want_newest (the newest frame only), none, or all on the bus. */
enum { W_NEWEST, W_NONE, W_ALL };

static void
expect_start(const char *scen, int s, int via_env, int want)
{
	static const char *sname[] = { "newest", "next", "oldest" };
	uint8_t buf[SHMIF_MAXFRAME];
	size_t len;
	int n, rc;
	uint32_t count = 0, first_seq = 0, last_seq = 0, onbus = on_bus(), newest = a_seq - 1;
	int order_ok = 1;

	if (via_env) {
		setenv("SHMIF_START", sname[s], 1);
		MUST(rump_pub_shmif_create(bus, &n));
		unsetenv("SHMIF_START");
	} else {
		MUST(shmif_create(-1, &n));
		MUST(shmif_set_start(n, s));
		MUST(shmif_set_linkstr(n, bus));
		MUST(shmif_up(n));
	}
	while ((rc = shmif_recv(n, buf, sizeof buf, &len, 0)) == 0) {
		uint32_t id, seq;
		if (hframe_check(buf, len, &id, &seq) != 1) {
			FAIL("%s, start %s: a torn or foreign frame of %zu bytes", scen, sname[s], len);
			continue;
		}
		if (count == 0)
			first_seq = seq;
		else if (seq != last_seq + 1)
			order_ok = 0;
		last_seq = seq;
		count++;
	}
	CHECK(rc == EAGAIN, "%s, start %s: recv = %s", scen, sname[s], en(rc));
	const char *how = via_env ? "SHMIF_START" : "shmif_set_start";
	switch (want) {
	case W_NEWEST:
		CHECK(count == 1 && first_seq == newest, "%s, start newest (%s): received %u frames (%u..%u), want the newest, %u",
		    scen, how, count, first_seq, last_seq, newest);
		break;
	case W_NONE:
		CHECK(count == 0, "%s, start %s (%s): received %u frames (%u..%u), want none", scen, sname[s], how, count,
		    first_seq, last_seq);
		break;
	default:
		CHECK(count == onbus && order_ok && (count == 0 || last_seq == newest),
		    "%s, start oldest (%s): received %u frames (%u..%u, in order %d), the bus holds %u up to %u", scen, how,
		    count, first_seq, last_seq, order_ok, onbus, newest);
	}
	/* Every up restarts reception where the start says. */
	EXPECT_RC(shmif_up(n), 0);
	uint32_t again = 0;
	while (shmif_recv(n, buf, sizeof buf, &len, 0) == 0)
		again++;
	if (want == W_NEWEST)
		CHECK(again == 1, "%s: a second up re-delivered %u frames, want the newest again", scen, again);
	else if (want == W_NONE)
		CHECK(again == 0, "%s: a second up with start next delivered %u frames", scen, again);
	else
		CHECK(again == onbus, "%s: a second up with start oldest delivered %u frames, want %u", scen, again, onbus);
	/* And a frame sent now arrives. */
	send_a(100);
	rc = shmif_recv(n, buf, sizeof buf, &len, 1000);
	uint32_t id, seq;
	CHECK(rc == 0 && hframe_check(buf, len, &id, &seq) == 1 && seq == a_seq - 1,
	    "%s, start %s: the next frame: %s", scen, sname[s], en(rc));
	EXPECT_RC(shmif_destroy(n), 0);
}

static void
scenario(const char *name, void (*setup)(void), int fresh)
{
	for (int s = 0; s < 3; s++) {
		for (int env = 0; env < 2; env++) {
			char bn[64];
			snprintf(bn, sizeof bn, "bus-%s-%d-%d", name, s, env);
			for (char *p = bn; *p; p++)
				if (*p == '/' || *p == ' ' || *p == ',')
					*p = '_';
			open_bus(bn);
			setup();
			int want = s == SHMIF_START_NEXT ? W_NONE : s == SHMIF_START_NEWEST ? W_NEWEST : W_ALL;
			if (fresh && s == SHMIF_START_NEWEST)
				want = W_NONE; /* the newest record is the dummy */
			uint32_t gen = (uint32_t)GEN, last = LAST, nx = next_off(LAST);
			expect_start(name, s, env, want);
			if (s == 0 && env == 0)
				INFO("scenario=%s gen=%u last=%#x next=%#x newest_len=%u on_bus=%u", name, gen, last, nx,
				    rec_len(last), on_bus());
			close_bus();
		}
	}
}

static void s_fresh(void) { }
static void s_few(void) { for (int i = 0; i < 5; i++) send_a(60 + i); }
static void s_wrapped(void) { for (int i = 0; i < 2000; i++) send_a(hframe_len(0xA, a_seq)); }
static void s_straddle_hdr(void) { place_next(DATASIZE - 10, 1); send_a(300); }
static void s_straddle_data(void) { place_next(DATASIZE - 100, 1); send_a(300); }
static void s_end_exact(void) { place_next(DATASIZE - HDR - 300, 1); send_a(300); }
static void s_at_zero(void) { place_next(0, 1); send_a(300); }
static void s_end_exact_first(void) { place_next(DATASIZE - HDR - 300, 0); send_a(300); }

static void
starts(void)
{
	scenario("fresh", s_fresh, 1);
	scenario("five frames", s_few, 0);
	scenario("wrapped", s_wrapped, 0);
	scenario("newest header straddles the end", s_straddle_hdr, 0);
	scenario("newest frame straddles the end", s_straddle_data, 0);
	scenario("newest ends exactly at the end", s_end_exact, 0);
	scenario("newest ends exactly at the end, first lap", s_end_exact_first, 0);
	scenario("newest starts at offset 0", s_at_zero, 0);

	int n;
	MUST(shmif_create(-1, &n));
	EXPECT_RC(shmif_set_start(n, 3), EINVAL);
	EXPECT_RC(shmif_set_start(n, -1), EINVAL);
	EXPECT_RC(shmif_set_start(n, INT_MAX), EINVAL);
	EXPECT_RC(shmif_set_start(n, INT_MIN), EINVAL);
	EXPECT_RC(shmif_destroy(n), 0);
}

/* ---- env ---- */

static void
env(void)
{
	static const char *caps[] = { "0x7ff80", "-1", "garbage", "0x100 junk", "  0x200", "0777777", "",
		"99999999999999999999999999", "0x80000000000000000000", "+0x400", "0b101", "1e9" };
	uint32_t ce;
	int n, v;

	for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		setenv("RUMP_SHMIF_CAPENABLE", caps[i], 1);
		MUST(shmif_create(-1, &n));
		EXPECT_RC(shmif_get_capenable(n, &ce), 0);
		uint32_t want = (uint32_t)(strtoul(caps[i], NULL, 0) & SHMIF_CAPABILITIES);
		CHECK(ce == want, "RUMP_SHMIF_CAPENABLE=\"%s\": capenable %#x, strtoul & SHMIF_CAPABILITIES is %#x", caps[i],
		    ce, want);
		EXPECT_RC(shmif_destroy(n), 0);
	}
	char longv[400];
	memset(longv, '7', sizeof longv - 1);
	longv[0] = '0';
	longv[1] = 'x';
	longv[sizeof longv - 1] = 0;
	setenv("RUMP_SHMIF_CAPENABLE", longv, 1);
	MUST(shmif_create(-1, &n));
	EXPECT_RC(shmif_get_capenable(n, &ce), 0);
	INFO("RUMP_SHMIF_CAPENABLE of 399 bytes: capenable %#x (NetBSD ignores values over 256 bytes; strtoul gives %#lx)",
	    ce, strtoul(longv, NULL, 0) & SHMIF_CAPABILITIES);
	CHECK((ce & ~SHMIF_CAPABILITIES) == 0, "capenable %#x outside SHMIF_CAPABILITIES", ce);
	EXPECT_RC(shmif_destroy(n), 0);
	unsetenv("RUMP_SHMIF_CAPENABLE");

	static const char *spins[] = { "abc", "-5", "99999999999999999999", "12abc", "", " 7", "0", "2147483648" };
	for (size_t i = 0; i < sizeof spins / sizeof spins[0]; i++) {
		setenv("SHMIF_SPIN_US", spins[i], 1);
		snprintf(bus, sizeof bus, "%s/spinbus", dir);
		MUST(rump_pub_shmif_create(bus, &n));
		EXPECT_RC(shmif_get_spin(n, &v), 0);
		CHECK(v >= 0, "SHMIF_SPIN_US=\"%s\": spin %d", spins[i], v);
		INFO("SHMIF_SPIN_US=\"%s\": spin %d", spins[i], v);
		/* a receive still keeps its deadline */
		uint8_t buf[SHMIF_MAXFRAME];
		size_t len;
		while (shmif_recv(n, buf, sizeof buf, &len, 0) == 0)
			;
		int64_t t0 = now_ns();
		EXPECT_RC(shmif_recv(n, buf, sizeof buf, &len, 30), ETIMEDOUT);
		int64_t d = now_ns() - t0;
		CHECK(d < 1030000000LL, "SHMIF_SPIN_US=\"%s\": a 30 ms timeout took %.0f ms", spins[i], d / 1e6);
		EXPECT_RC(shmif_destroy(n), 0);
	}
	unsetenv("SHMIF_SPIN_US");
	static const char *startv[] = { "NEXT", "bogus", "", "next ", "oldest\n" };
	for (size_t i = 0; i < sizeof startv / sizeof startv[0]; i++) {
		setenv("SHMIF_START", startv[i], 1);
		MUST(rump_pub_shmif_create(bus, &n));
		EXPECT_RC(shmif_destroy(n), 0);
	}
	unsetenv("SHMIF_START");
}

/* ---- spin ---- */

struct sw {
	int n, rc;
	int64_t took;
	pthread_t th;
};

static void *
sw_thread(void *arg)
{
	struct sw *w = arg;
	uint8_t buf[SHMIF_MAXFRAME];
	size_t len;
	int64_t t0 = now_ns();

	w->rc = shmif_recv(w->n, buf, sizeof buf, &len, -1);
	w->took = now_ns() - t0;
	return NULL;
}

static void
spin(void)
{
	uint8_t buf[SHMIF_MAXFRAME];
	size_t len;
	int n, v;

	snprintf(bus, sizeof bus, "%s/bus", dir);
	for (int how = 0; how < 4; how++) {
		MUST(rump_pub_shmif_create(bus, &n));
		MUST(shmif_set_start(n, SHMIF_START_NEXT));
		MUST(shmif_up(n));
		EXPECT_RC(shmif_set_spin(n, INT_MAX), 0);
		EXPECT_RC(shmif_get_spin(n, &v), 0);
		CHECK(v == INT_MAX, "get_spin = %d after set_spin(INT_MAX)", v);
		EXPECT_RC(shmif_set_spin(n, -1), EINVAL);
		if (how == 0) {
			int64_t t0 = now_ns();
			EXPECT_RC(shmif_recv(n, buf, sizeof buf, &len, 50), ETIMEDOUT);
			int64_t d = now_ns() - t0;
			INFO("spin INT_MAX: a 50 ms timeout took %.1f ms", d / 1e6);
			CHECK(d >= 49000000 && d < 1050000000LL, "spin INT_MAX: a 50 ms timeout took %.1f ms", d / 1e6);
			EXPECT_RC(shmif_destroy(n), 0);
			continue;
		}
		struct sw w = { .n = n };
		pthread_create(&w.th, NULL, sw_thread, &w);
		sleep_us(50000);
		int want = how == 1 ? ECANCELED : how == 2 ? ENETDOWN : ENXIO;
		int64_t t0 = now_ns();
		switch (how) {
		case 1: EXPECT_RC(shmif_cancel(n), 0); break;
		case 2: EXPECT_RC(shmif_down(n), 0); break;
		default: EXPECT_RC(shmif_destroy(n), 0); break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 3;
		if (pthread_timedjoin_np(w.th, NULL, &ts) != 0) {
			FAIL("a receiver spinning for INT_MAX us was not released by %s within 3 s",
			    how == 1 ? "cancel" : how == 2 ? "down" : "destroy");
			printf("DONE failures=%d\n", atomic_load(&failures));
			fflush(stdout);
			_exit(1);
		}
		CHECK(w.rc == want, "spinning receiver released: %s, want %s", en(w.rc), en(want));
		INFO("spin INT_MAX: released by %s after %.1f ms", how == 1 ? "cancel" : how == 2 ? "down" : "destroy",
		    (now_ns() - t0) / 1e6);
		if (how != 3)
			EXPECT_RC(shmif_destroy(n), 0);
	}
}

/* spinrelease: a release during the spin is not lost. */
static atomic_int sr_started;

static void *
sr_thread(void *arg)
{
	struct sw *w = arg;
	uint8_t buf[SHMIF_MAXFRAME];
	size_t len;

	atomic_store(&sr_started, 1);
	w->rc = shmif_recv(w->n, buf, sizeof buf, &len, 1500);
	return NULL;
}

static void
spinrelease(int iters)
{
	static const char *what[] = { "cancel", "down", "destroy" };
	static const int want[] = { ECANCELED, ENETDOWN, ENXIO };
	int n;

	snprintf(bus, sizeof bus, "%s/bus", dir);
	/* spin 100 ms, released 20 ms into the receive */
	for (int how = 0; how < 3; how++) {
		struct sw w;
		MUST(rump_pub_shmif_create(bus, &n));
		MUST(shmif_set_start(n, SHMIF_START_NEXT));
		MUST(shmif_up(n));
		MUST(shmif_set_spin(n, 100000));
		w = (struct sw){ .n = n };
		pthread_create(&w.th, NULL, sr_thread, &w);
		sleep_us(20000);
		int64_t t0 = now_ns();
		switch (how) {
		case 0: EXPECT_RC(shmif_cancel(n), 0); break;
		case 1: EXPECT_RC(shmif_down(n), 0); break;
		default: EXPECT_RC(shmif_destroy(n), 0); break;
		}
		pthread_join(w.th, NULL);
		int64_t d = now_ns() - t0;
		INFO("spin 100 ms: %s 20 ms into the receive released it after %.1f ms (%s)", what[how], d / 1e6, en(w.rc));
		CHECK(w.rc == want[how], "spin 100 ms: %s gave %s", what[how], en(w.rc));
		CHECK(d < 300000000LL, "spin 100 ms: %s 20 ms into the receive released it only after %.1f ms",
		    what[how], d / 1e6);
		if (how != 2)
			EXPECT_RC(shmif_destroy(n), 0);
	}
	/* the default spin, cancels at random moments of the receive */
	uint64_t s = 11;
	int slow = 0, counted = 0;
	double worst = 0;
	for (int it = 0; it < iters; it++) {
		struct sw w;
		MUST(rump_pub_shmif_create(bus, &n));
		MUST(shmif_set_start(n, SHMIF_START_NEXT));
		MUST(shmif_up(n));
		w = (struct sw){ .n = n };
		atomic_store(&sr_started, 0);
		pthread_create(&w.th, NULL, sr_thread, &w);
		while (!atomic_load(&sr_started))
			;
		int64_t d0 = now_ns(), dl = (int64_t)(rnd_next(&s) % 80000);
		while (now_ns() - d0 < dl)
			;
		int64_t t0 = now_ns();
		EXPECT_RC(shmif_cancel(n), 0);
		pthread_join(w.th, NULL);
		double ms = (now_ns() - t0) / 1e6;
		if (w.rc == ECANCELED) {
			counted++;
			if (ms > worst)
				worst = ms;
			if (ms > 300)
				slow++;
		}
		EXPECT_RC(shmif_destroy(n), 0);
	}
	INFO("spin 50 us: %d receives cancelled, %d of them after more than 300 ms, the slowest after %.1f ms", counted,
	    slow, worst);
	CHECK(slow == 0, "spin 50 us: %d of %d cancels took more than 300 ms to release the receiver (slowest %.1f ms)",
	    slow, counted, worst);
}

/* ---- lossless ---- */

static void
lossless(void)
{
	enum { NL = 200 };
	int ls[NL], active = 0, v, a, w;
	struct shmif_stats st;

	snprintf(bus, sizeof bus, "%s/bus", dir);
	/* active only while up on a bus */
	MUST(shmif_create(-1, &a));
	EXPECT_RC(shmif_set_lossless(a, 100), 0);
	EXPECT_RC(shmif_set_lossless(a, -1), EINVAL);
	EXPECT_RC(shmif_get_lossless(a, &v, &w), 0);
	CHECK(v == 100 && w == 0, "lossless without a bus: max_wait %d active %d", v, w);
	MUST(shmif_set_linkstr(a, bus));
	EXPECT_RC(shmif_get_lossless(a, &v, &w), 0);
	CHECK(w == 0, "lossless attached but down: active %d", w);
	MUST(shmif_up(a));
	EXPECT_RC(shmif_get_lossless(a, &v, &w), 0);
	CHECK(w == 1, "lossless up on a bus: active %d", w);
	MUST(shmif_down(a));
	EXPECT_RC(shmif_get_lossless(a, &v, &w), 0);
	CHECK(w == 0, "lossless taken down: active %d", w);
	MUST(shmif_destroy(a));

	for (int i = 0; i < NL; i++) {
		MUST(rump_pub_shmif_create(bus, &ls[i]));
		MUST(shmif_set_lossless(ls[i], 100));
		shmif_get_lossless(ls[i], NULL, &w);
		active += w;
	}
	INFO("lossless receivers active: %d of %d", active, NL);
	CHECK(active == NL, "only %d of %d lossless receivers are active", active, NL);
	MUST(rump_pub_shmif_create(bus, &a));
	MUST(shmif_get_mac(a, a_mac));
	/* 3000 frames of 1514 bytes: more than four rings. Each send waits at
	 * most 100 ms (counted from when it began), whatever the number of
	 * receivers, and writers do not wait for them again. */
	uint8_t f[SHMIF_MAXFRAME];
	int64_t worst = 0, t0 = now_ns();
	for (uint32_t i = 0; i < 3000; i++) {
		hframe_build(f, SHMIF_MAXFRAME, a_mac, 1, i);
		int64_t t1 = now_ns();
		EXPECT_RC(shmif_send(a, f, SHMIF_MAXFRAME), 0);
		int64_t d = now_ns() - t1;
		if (d > worst)
			worst = d;
	}
	int64_t total = now_ns() - t0;
	INFO("3000 sends past %d stalled lossless receivers (max_wait 100 ms): %.0f ms, slowest %.1f ms", NL, total / 1e6,
	    worst / 1e6);
	CHECK(worst < 100000000LL + 900000000LL, "a send waited %.1f ms for receivers of max_wait_ms 100", worst / 1e6);
	CHECK(total < 5000000000LL, "3000 sends took %.0f ms: writers waited again and again", total / 1e6);
	MUST(shmif_get_stats(ls[0], &st));
	CHECK(st.lost == 0, "a stalled lossless receiver counts %llu lost before it reads",
	    (unsigned long long)st.lost);
	/* The receivers read again: what they lost is counted. */
	uint8_t buf[SHMIF_MAXFRAME];
	size_t len;
	long got = 0;
	while (shmif_recv(ls[0], buf, sizeof buf, &len, 0) == 0)
		got++;
	MUST(shmif_get_stats(ls[0], &st));
	INFO("receiver 0 then got %ld frames and counts %llu lost", got, (unsigned long long)st.lost);
	CHECK((uint64_t)got + st.lost == 3000, "received %ld + lost %llu != 3000 sent", got, (unsigned long long)st.lost);
	for (int i = 0; i < NL; i++)
		EXPECT_RC(shmif_destroy(ls[i]), 0);
	EXPECT_RC(shmif_destroy(a), 0);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: starts MODE DIR\n");
		return 2;
	}
	dir = argv[2];
	if (strcmp(argv[1], "starts") == 0)
		starts();
	else if (strcmp(argv[1], "env") == 0)
		env();
	else if (strcmp(argv[1], "spin") == 0)
		spin();
	else if (strcmp(argv[1], "spinrelease") == 0)
		spinrelease(argc > 3 ? atoi(argv[3]) : 100);
	else if (strcmp(argv[1], "lossless") == 0)
		lossless();
	else {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	return finish();
}
