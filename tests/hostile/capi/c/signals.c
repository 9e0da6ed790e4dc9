/*
 * signals.c -- a signal storm at threads blocked in libshmif's receives.
 *
 * usage: signals BUS FLAGS WHEN MS [HANDLER_STACK [warm]]
 *   FLAGS none|restart|onstack|both: the sa_flags of the host's handlers
 *         (SA_RESTART, SA_ONSTACK with an alternate stack per thread)
 *   WHEN  before|after: handlers installed before the first libshmif call,
 *         or after the interfaces exist
 *   MS    how long the storm lasts
 *   HANDLER_STACK  bytes of stack each handler uses (8192)
 *   warm  the storm starts only once every thread has made its first call
 *         (rump.h: "while a thread makes its first call into libshmif,
 *         the runtime runs on a goroutine stack of 4 KiB ... a handler
 *         installed without SA_ONSTACK ... may overflow it")
 *
 * An interval timer raises SIGALRM every 100 us and a thread aims SIGUSR1 at
 * the receiving threads in turn; each handler uses HANDLER_STACK bytes of
 * stack, and handlers nest (each signal may interrupt the other's).
 * rump.h: "Handlers the host installs for SIGINT, SIGTERM, SIGHUP, SIGUSR1,
 * SIGALRM, SIGPIPE and the like, before or after loading, with or without
 * SA_ONSTACK or SA_RESTART, keep working, also when they interrupt a thread
 * inside libshmif"; "A timeout is a deadline: signals that interrupt the
 * wait (and are handled by the host) do not extend it"; and errors are the
 * documented ones (no EINTR). Four threads receive with timeouts on an idle
 * interface: each call must end with ETIMEDOUT, not before its timeout and
 * not more than a second after it. A fifth receives frames a sixth sends
 * every 2 ms: each must be whole. At the end the handlers are still
 * installed, the threads' signal masks unchanged, and the handlers ran.
 */
#include "common.h"

#include <signal.h>
#include <sys/time.h>

static atomic_long nalrm, nusr1;
static atomic_int stop, warmed, go_storm = 1;
static int flags;
static size_t hstack = 8192;

static void
handler(int sig)
{
	volatile char stack[hstack];
	int saved = errno;

	stack[0] = (char)sig;
	stack[sizeof stack - 1] = (char)sig;
	for (size_t i = 0; i < sizeof stack; i += 1024)
		stack[i] = 1;
	if (sig == SIGALRM)
		atomic_fetch_add(&nalrm, 1);
	else
		atomic_fetch_add(&nusr1, 1);
	errno = saved;
}

static void
install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0) {
		FAIL("sigaction: %s", strerror(errno));
		exit(1);
	}
}

static void
altstack(void)
{
	stack_t ss = { .ss_size = 256 * 1024 };

	if (!(flags & SA_ONSTACK))
		return;
	ss.ss_sp = malloc(ss.ss_size);
	if (sigaltstack(&ss, NULL) != 0)
		FAIL("sigaltstack: %s", strerror(errno));
}

struct rx {
	pthread_t th;
	int ifnum, idx;
	long calls, frames;
	int64_t worst_over, worst_under;
	long over20;
};

static const int tmos[] = { 1, 3, 10, 37, 100 };

static void *
idle_rx(void *arg)
{
	struct rx *r = arg;
	uint8_t buf[SHMIF_MAXFRAME];
	struct shmif_frame f[4];
	sigset_t m0, m1;
	size_t len, got;
	uint64_t s = (uint64_t)r->idx * 7919 + 1;
	int rc;

	altstack();
	pthread_sigmask(SIG_SETMASK, NULL, &m0);
	r->worst_under = INT64_MAX;
	rc = shmif_recv(r->ifnum, buf, sizeof buf, &len, 0); /* the first call */
	atomic_fetch_add(&warmed, 1);
	while (!atomic_load(&go_storm))
		sleep_us(100);
	while (!atomic_load(&stop)) {
		int tmo = tmos[rnd_next(&s) % 5], kind = rnd_next(&s) % 3;
		for (int i = 0; i < 4; i++)
			f[i] = (struct shmif_frame){ .data = buf, .cap = sizeof buf };
		int64_t t0 = now_ns();
		switch (kind) {
		case 0: rc = shmif_recv(r->ifnum, buf, sizeof buf, &len, tmo); break;
		case 1: rc = shmif_recv_frame(r->ifnum, f, tmo); break;
		default: rc = shmif_recv_batch(r->ifnum, f, 4, &got, tmo); break;
		}
		int64_t d = now_ns() - t0, over = d - (int64_t)tmo * 1000000;
		r->calls++;
		if (rc != ETIMEDOUT) {
			FAIL("receive (kind %d, timeout %d ms) on an idle interface = %s after %.3f ms", kind, tmo,
			    en(rc), d / 1e6);
			continue;
		}
		if (over < r->worst_under)
			r->worst_under = over;
		if (over > r->worst_over)
			r->worst_over = over;
		if (over > 20000000)
			r->over20++;
		/* The deadline: not before the timeout (allowing the clock's
		 * granularity), and not a second after it. */
		CHECK(over > -1000000, "timeout %d ms ended after %.3f ms: before its deadline", tmo, d / 1e6);
		CHECK(over < 1000000000LL, "timeout %d ms ended after %.3f ms: signals extended it", tmo, d / 1e6);
	}
	pthread_sigmask(SIG_SETMASK, NULL, &m1);
	for (int sig = 1; sig < 65; sig++)
		if (sigismember(&m0, sig) != sigismember(&m1, sig))
			FAIL("thread's signal mask changed for signal %d", sig);
	return NULL;
}

static void *
busy_rx(void *arg)
{
	struct rx *r = arg;
	uint8_t buf[SHMIF_MAXFRAME];
	size_t len;
	int rc;

	altstack();
	rc = shmif_recv(r->ifnum, buf, sizeof buf, &len, 0); /* the first call */
	atomic_fetch_add(&warmed, 1);
	while (!atomic_load(&go_storm))
		sleep_us(100);
	while (!atomic_load(&stop)) {
		rc = shmif_recv(r->ifnum, buf, sizeof buf, &len, 50);
		r->calls++;
		if (rc == 0) {
			uint32_t id, seq;
			if (hframe_check(buf, len, &id, &seq) != 1)
				FAIL("a torn or foreign frame of %zu bytes", len);
			r->frames++;
		} else
			CHECK(rc == ETIMEDOUT, "receive with frames flowing = %s", en(rc));
	}
	return NULL;
}

static int tx_if;

static void *
sender(void *arg)
{
	uint8_t f[SHMIF_MAXFRAME], mac[6];
	uint32_t seq = 0;

	(void)arg;
	altstack();
	shmif_get_mac(tx_if, mac);
	atomic_fetch_add(&warmed, 1);
	while (!atomic_load(&go_storm))
		sleep_us(100);
	while (!atomic_load(&stop)) {
		size_t len = hframe_len(1, seq);
		hframe_build(f, len, mac, 1, seq++);
		int rc = shmif_send(tx_if, f, len);
		CHECK(rc == 0, "send = %s", en(rc));
		sleep_us(2000);
	}
	return NULL;
}

static struct rx rx[5];

static void *
signaller(void *arg)
{
	sigset_t all;
	long i = 0;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&stop)) {
		pthread_kill(rx[i++ % 5].th, SIGUSR1);
		sleep_us(20);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	int before;
	pthread_t sig, snd;
	struct sigaction sa;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 5) {
		fprintf(stderr, "usage: signals BUS FLAGS WHEN MS\n");
		return 2;
	}
	if (strcmp(argv[2], "restart") == 0)
		flags = SA_RESTART;
	else if (strcmp(argv[2], "onstack") == 0)
		flags = SA_ONSTACK;
	else if (strcmp(argv[2], "both") == 0)
		flags = SA_RESTART | SA_ONSTACK;
	before = strcmp(argv[3], "before") == 0;
	if (argc > 5)
		hstack = (size_t)atol(argv[5]);
	int warm = argc > 6 && strcmp(argv[6], "warm") == 0;
	if (warm)
		atomic_store(&go_storm, 0);
	if (before)
		install();

	int a, b;
	char idle[4096];
	snprintf(idle, sizeof idle, "%s.idle", argv[1]);
	MUST(rump_pub_shmif_create(idle, &a)); /* a bus nobody sends on */
	MUST(rump_pub_shmif_create(argv[1], &b));
	MUST(rump_pub_shmif_create(argv[1], &tx_if));
	if (!before)
		install();
	altstack();

	for (int i = 0; i < 4; i++) {
		rx[i].ifnum = a;
		rx[i].idx = i;
		pthread_create(&rx[i].th, NULL, idle_rx, &rx[i]);
	}
	rx[4].ifnum = b;
	pthread_create(&rx[4].th, NULL, busy_rx, &rx[4]);
	pthread_create(&snd, NULL, sender, NULL);
	while (warm && atomic_load(&warmed) < 6)
		sleep_us(1000);
	atomic_store(&go_storm, 1);
	pthread_create(&sig, NULL, signaller, NULL);

	struct itimerval it = { { 0, 100 }, { 0, 100 } };
	setitimer(ITIMER_REAL, &it, NULL);
	sleep_us(atol(argv[4]) * 1000);
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
	atomic_store(&stop, 1);
	pthread_join(sig, NULL);
	pthread_join(snd, NULL);
	int64_t over = 0, under = INT64_MAX;
	long calls = 0, over20 = 0;
	for (int i = 0; i < 5; i++) {
		pthread_join(rx[i].th, NULL);
		if (i < 4) {
			calls += rx[i].calls;
			over20 += rx[i].over20;
			if (rx[i].worst_over > over)
				over = rx[i].worst_over;
			if (rx[i].worst_under < under)
				under = rx[i].worst_under;
		}
	}
	INFO("sigalrm=%ld sigusr1=%ld timed_receives=%ld earliest_ms=%+.3f latest_ms=%+.3f over_20ms=%ld "
	    "frames=%ld", atomic_load(&nalrm), atomic_load(&nusr1), calls, under / 1e6, over / 1e6, over20,
	    rx[4].frames);
	CHECK(atomic_load(&nusr1) > 100, "only %ld SIGUSR1 handled", atomic_load(&nusr1));
	CHECK(atomic_load(&nalrm) > 100, "only %ld SIGALRM handled", atomic_load(&nalrm));
	CHECK(rx[4].frames > 10, "only %ld frames received", rx[4].frames);
	for (int s = SIGUSR1; s != 0; s = s == SIGUSR1 ? SIGALRM : 0) {
		sigaction(s, NULL, &sa);
		CHECK(sa.sa_handler == handler, "signal %d: the host's handler was replaced", s);
		CHECK((sa.sa_flags & (SA_RESTART | SA_ONSTACK)) == flags, "signal %d: flags %#x, host set %#x", s,
		    sa.sa_flags, flags);
	}
	EXPECT_RC(shmif_destroy(a), 0);
	EXPECT_RC(shmif_destroy(b), 0);
	EXPECT_RC(shmif_destroy(tx_if), 0);
	return finish();
}
