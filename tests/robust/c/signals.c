/*
 * signals.c -- the host's signal handlers keep working with libshmif loaded
 * (rump.h: "Handlers the host installs for SIGINT, SIGTERM, SIGHUP,
 * SIGUSR1, SIGPIPE and the like, before or after loading, keep working").
 *
 * usage: signals BUS [LIBRARY]
 *
 * Installs handlers for SIGINT and SIGTERM before the first call into
 * libshmif -- and, when built with -DSHMIF_DLOPEN, before libshmif is loaded
 * at all: it is then loaded with dlopen(LIBRARY) -- creates an interface on
 * BUS, installs handlers for SIGUSR1 and SIGHUP after, starts a thread
 * blocked in shmif_recv(-1), prints "ready" and waits up to 10 s for all
 * four signals (sent by the test). It then sends 1000 frames while it aims
 * 10000 SIGUSR1 at the receiving thread itself: the thread must get every
 * frame without its shmif_recv failing. Last it destroys the interface (the
 * thread's shmif_recv must return ENXIO) and exits 0 only if every handler
 * ran and every check held.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>

#ifdef SHMIF_DLOPEN
static __typeof__(rump_pub_shmif_create) *create_fn;
static __typeof__(shmif_destroy) *destroy_fn;
static __typeof__(shmif_send) *send_fn;
static __typeof__(shmif_recv) *recv_fn;
#else
#define create_fn rump_pub_shmif_create
#define destroy_fn shmif_destroy
#define send_fn shmif_send
#define recv_fn shmif_recv
#endif

static volatile sig_atomic_t got_int, got_term, got_usr1, got_hup;

static void on_int(int sig) { (void)sig; got_int = 1; }
static void on_term(int sig) { (void)sig; got_term = 1; }
static volatile int usr1_runs; /* every run of on_usr1 */
static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
	__atomic_add_fetch(&usr1_runs, 1, __ATOMIC_SEQ_CST);
}
static void on_hup(int sig) { (void)sig; got_hup = 1; }

static int install(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

/* still reports whether sig's handler is still fn. */
static int still(int sig, void (*fn)(int))
{
	struct sigaction sa;

	return sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == fn;
}

static int failures;

#define CHECK(cond, ...)                      \
	do {                                      \
		printf((cond) ? "ok   " : "FAIL ");   \
		failures += !(cond);                  \
		printf(__VA_ARGS__);                  \
		printf("\n");                         \
		fflush(stdout);                       \
	} while (0)

static int rx;
static volatile int recv_rc = -1, frames;

static void *receiver(void *arg)
{
	unsigned char buf[SHMIF_MAXFRAME];
	size_t n;
	int rc;

	(void)arg;
	while ((rc = recv_fn(rx, buf, sizeof buf, &n, -1)) == 0)
		__atomic_add_fetch(&frames, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&recv_rc, rc, __ATOMIC_SEQ_CST);
	return NULL;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	pthread_t th;
	int tx, rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s BUS [LIBRARY]\n", argv[0]);
		return 2;
	}
	CHECK(install(SIGINT, on_int) == 0 && install(SIGTERM, on_term) == 0,
	    "SIGINT and SIGTERM handlers installed before libshmif is used");
#ifdef SHMIF_DLOPEN
	if (argc < 3) {
		fprintf(stderr, "usage: %s BUS LIBRARY\n", argv[0]);
		return 2;
	}
	CHECK(dlopen(argv[2], RTLD_NOW | RTLD_NOLOAD) == NULL, "libshmif not loaded before dlopen");
	void *lib = dlopen(argv[2], RTLD_NOW);
	if (lib == NULL) {
		printf("FAIL dlopen: %s\n", dlerror());
		return 1;
	}
	create_fn = (__typeof__(create_fn))dlsym(lib, "rump_pub_shmif_create");
	destroy_fn = (__typeof__(destroy_fn))dlsym(lib, "shmif_destroy");
	send_fn = (__typeof__(send_fn))dlsym(lib, "shmif_send");
	recv_fn = (__typeof__(recv_fn))dlsym(lib, "shmif_recv");
	if (!create_fn || !destroy_fn || !send_fn || !recv_fn) {
		printf("FAIL dlsym: %s\n", dlerror());
		return 1;
	}
	printf("ok   libshmif loaded with dlopen after the handlers\n");
#endif
	rc = create_fn(argv[1], &rx);
	CHECK(rc == 0, "create rx: %d", rc);
	rc = create_fn(argv[1], &tx);
	CHECK(rc == 0, "create tx: %d", rc);
	if (failures)
		return 1;
	CHECK(still(SIGINT, on_int) && still(SIGTERM, on_term),
	    "SIGINT and SIGTERM handlers still installed after libshmif started");
	CHECK(install(SIGUSR1, on_usr1) == 0 && install(SIGHUP, on_hup) == 0,
	    "SIGUSR1 and SIGHUP handlers installed after libshmif started");
	if (pthread_create(&th, NULL, receiver, NULL) != 0) {
		printf("FAIL pthread_create\n");
		return 1;
	}
	sleep_ms(100);
	printf("ready\n");
	fflush(stdout);

	for (int k = 0; k < 1000 && !(got_int && got_term && got_usr1 && got_hup); k++)
		sleep_ms(10);
	printf("handlers INT=%d TERM=%d USR1=%d HUP=%d\n", got_int, got_term, got_usr1, got_hup);
	CHECK(got_int && got_term && got_usr1 && got_hup, "every handler ran");
	CHECK(__atomic_load_n(&recv_rc, __ATOMIC_SEQ_CST) == -1,
	    "shmif_recv(-1) still blocked after the signals (returned %d)", recv_rc);

	/* Signals aimed at the receiving thread itself, while it receives:
	 * its handler runs on that thread, inside libshmif's wait. */
	/* Counted runs of the handler, not a flag looked at 1 ms after a
	 * kill: a thread descheduled longer runs it late, not never. A
	 * signal pending for the thread is delivered once it runs, so the
	 * count is read after it has received every frame. */
	unsigned char f[60];
	int sent = 0, usr1, runs0 = __atomic_load_n(&usr1_runs, __ATOMIC_SEQ_CST);
	memset(f, 0xff, sizeof f);
	for (int k = 0; k < 10000; k++) {
		if (pthread_kill(th, SIGUSR1) != 0)
			break;
		if (k % 10 == 0 && (rc = send_fn(tx, f, sizeof f)) == 0)
			sent++;
		if (k % 100 == 0)
			sleep_ms(1);
	}
	CHECK(sent == 1000, "1000 frames sent between 10000 SIGUSR1 to the receiving thread (%d, last error %d)", sent, rc);
	for (int k = 0; k < 2000 && __atomic_load_n(&frames, __ATOMIC_SEQ_CST) < sent; k++)
		sleep_ms(10);
	usr1 = __atomic_load_n(&usr1_runs, __ATOMIC_SEQ_CST) - runs0;
	CHECK(frames == sent, "the receiving thread got all of them (%d of %d)", frames, sent);
	CHECK(usr1 > 0, "its handler ran (seen %d times)", usr1);
	CHECK(__atomic_load_n(&recv_rc, __ATOMIC_SEQ_CST) == -1,
	    "shmif_recv(-1) still receiving (returned %d)", recv_rc);

	rc = destroy_fn(rx);
	CHECK(rc == 0, "destroy rx: %d", rc);
	pthread_join(th, NULL);
	CHECK(recv_rc == ENXIO, "blocked shmif_recv returned %d (%s) after destroy, want ENXIO",
	    recv_rc, strerror(recv_rc));
	rc = destroy_fn(tx);
	CHECK(rc == 0, "destroy tx: %d", rc);
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
