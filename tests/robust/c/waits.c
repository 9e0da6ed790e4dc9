/*
 * waits.c -- waits that must end when they should, whatever the host does.
 *
 * usage: waits DIR
 *
 * Each check prints "ok   ..." or "FAIL ..."; the last line is "N failed".
 *   1. Signals do not extend a receive timeout (issue 10.5): a thread in
 *      shmif_recv(300 ms) gets SIGUSR1 from pthread_kill every 5 ms, and
 *      then, in a second round, the process gets SIGALRM from a 10 ms
 *      ITIMER_REAL; both receives return ETIMEDOUT in under 3 s (a timeout
 *      that each signal restarted would not end while they come).
 *   2. Poll descriptors for many interfaces (issue 10.6): 1000 interfaces
 *      on 300 buses each get one from shmif_get_pollfd, more than the
 *      128 inotify instances a user may have; a frame sent on one bus makes
 *      the descriptors of that bus's interfaces readable.
 *   3. Destroy wakes pollers (issue 10.7): a thread in epoll_wait and one
 *      in poll on an interface's descriptor, with nothing to read, return
 *      readable when the interface is destroyed, not at their 5 s timeout.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>

static int failed;

#define CHECK(cond, ...)                                  \
	do {                                              \
		printf((cond) ? "ok   " : "FAIL ");        \
		printf(__VA_ARGS__);                      \
		printf("\n");                             \
		fflush(stdout);                           \
		if (!(cond))                              \
			failed++;                         \
	} while (0)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile sig_atomic_t signals;
static void on_signal(int sig) { (void)sig; signals++; }

struct recv_job {
	int ifnum, rc;
	double took;
	volatile int done;
};

static void *receiver(void *arg)
{
	struct recv_job *j = arg;
	unsigned char buf[SHMIF_MAXFRAME];
	size_t len;
	double t0 = now();
	j->rc = shmif_recv(j->ifnum, buf, sizeof buf, &len, 300);
	j->took = now() - t0;
	__atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void deadlines(const char *dir)
{
	char bus[4096];
	int ifnum, rc;
	struct sigaction sa;
	pthread_t th;

	snprintf(bus, sizeof bus, "%s/deadline-bus", dir);
	rc = rump_pub_shmif_create(bus, &ifnum);
	CHECK(rc == 0, "create: %d", rc);
	shmif_set_spin(ifnum, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART, no SA_ONSTACK: a plain C host */
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);

	struct recv_job j = {.ifnum = ifnum};
	pthread_create(&th, NULL, receiver, &j);
	double t0 = now();
	while (!__atomic_load_n(&j.done, __ATOMIC_SEQ_CST) && now() - t0 < 5) {
		pthread_kill(th, SIGUSR1);
		usleep(5000);
	}
	pthread_join(th, NULL);
	CHECK(j.rc == ETIMEDOUT && j.took < 3,
	    "shmif_recv(300 ms) under SIGUSR1 every 5 ms: %s after %.3f s (%d signals)",
	    strerror(j.rc), j.took, (int)signals);

	struct itimerval it = {{0, 10000}, {0, 10000}};
	signals = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	j = (struct recv_job){.ifnum = ifnum};
	receiver(&j);
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	CHECK(j.rc == ETIMEDOUT && j.took < 3,
	    "shmif_recv(300 ms) under a 10 ms ITIMER_REAL: %s after %.3f s (%d signals)",
	    strerror(j.rc), j.took, (int)signals);
	shmif_destroy(ifnum);
}

#define NIF 1000
#define NBUS 300

static void many_pollfds(const char *dir)
{
	static int ifs[NIF], fds[NIF];
	struct rlimit rl;
	char bus[4096];
	int rc = 0, made = 0, polled = 0;

	/* The host's choice: room for 1000 descriptors and 300 bus files. */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 4096 && rl.rlim_max >= 4096) {
		rl.rlim_cur = 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int k = 0; k < NIF; k++) {
		snprintf(bus, sizeof bus, "%s/bus%d", dir, k % NBUS);
		if ((rc = rump_pub_shmif_create(bus, &ifs[k])) != 0)
			break;
		made++;
		if ((rc = shmif_get_pollfd(ifs[k], &fds[k])) != 0)
			break;
		polled++;
	}
	CHECK(made == NIF && polled == NIF, "%d interfaces on %d buses, %d poll descriptors (last error %s)",
	    made, NBUS, polled, rc ? strerror(rc) : "none");
	if (polled != NIF)
		goto out;
	/* Drain: every descriptor starts readable. */
	unsigned char buf[SHMIF_MAXFRAME];
	size_t len;
	for (int k = 0; k < NIF; k++)
		while (shmif_recv(ifs[k], buf, sizeof buf, &len, 0) == 0)
			;
	unsigned char f[60];
	memset(f, 0xff, sizeof f);
	rc = shmif_send(ifs[7], f, sizeof f); /* bus7: interfaces 7, 307, 607, 907 */
	int ready = 0;
	for (int tries = 0; tries < 1000 && ready < 3; tries++) {
		struct pollfd p[3] = {{fds[307], POLLIN, 0}, {fds[607], POLLIN, 0}, {fds[907], POLLIN, 0}};
		ready = poll(p, 3, 10);
	}
	CHECK(rc == 0 && ready == 3, "a frame on one bus makes its other interfaces' descriptors readable (%d of 3)", ready);
out:
	for (int k = 0; k < made; k++)
		shmif_destroy(ifs[k]);
}

struct poll_job {
	int fd, epoll;
	double took;
	int ready;
	int started;
};

static void *epoller(void *arg)
{
	struct poll_job *j = arg;
	struct epoll_event ev;
	double t0 = now();
	__atomic_store_n(&j->started, 1, __ATOMIC_SEQ_CST);
	j->ready = epoll_wait(j->epoll, &ev, 1, 5000);
	j->took = now() - t0;
	return NULL;
}

static void *poller(void *arg)
{
	struct poll_job *j = arg;
	struct pollfd p = {j->fd, POLLIN, 0};
	double t0 = now();
	__atomic_store_n(&j->started, 1, __ATOMIC_SEQ_CST);
	j->ready = poll(&p, 1, 5000);
	j->took = now() - t0;
	return NULL;
}

static void destroy_wakes(const char *dir)
{
	char bus[4096];
	int a, b, fa, fb, rc;
	unsigned char buf[SHMIF_MAXFRAME];
	size_t len;
	pthread_t t1, t2;

	snprintf(bus, sizeof bus, "%s/destroy-bus", dir);
	rump_pub_shmif_create(bus, &a);
	rump_pub_shmif_create(bus, &b);
	shmif_get_pollfd(a, &fa);
	shmif_get_pollfd(b, &fb);
	while (shmif_recv(a, buf, sizeof buf, &len, 0) == 0)
		;
	while (shmif_recv(b, buf, sizeof buf, &len, 0) == 0)
		;
	struct poll_job ja = {.fd = fa, .epoll = epoll_create1(0)}, jb = {.fd = fb};
	struct epoll_event ev = {.events = EPOLLIN};
	epoll_ctl(ja.epoll, EPOLL_CTL_ADD, fa, &ev);
	pthread_create(&t1, NULL, epoller, &ja);
	pthread_create(&t2, NULL, poller, &jb);
	/* Both threads must be in their waits when the interfaces go: the
	 * descriptors close 250 ms after destroy, and a wait begun after that
	 * sees nothing. Wait until both have started, then give them 200 ms
	 * to get from there into the call. */
	while (!__atomic_load_n(&ja.started, __ATOMIC_SEQ_CST) || !__atomic_load_n(&jb.started, __ATOMIC_SEQ_CST))
		usleep(1000);
	usleep(200000);
	rc = shmif_destroy(a);
	int rc2 = shmif_destroy(b);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CHECK(rc == 0 && ja.ready == 1 && ja.took < 2,
	    "epoll_wait returns readable when the interface is destroyed (%d, after %.3f s)", ja.ready, ja.took - 0.2);
	CHECK(rc2 == 0 && jb.ready == 1 && jb.took < 2,
	    "poll returns readable when the interface is destroyed (%d, after %.3f s)", jb.ready, jb.took - 0.2);
	close(ja.epoll);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: waits DIR\n");
		return 2;
	}
	deadlines(argv[1]);
	many_pollfds(argv[1]);
	destroy_wakes(argv[1]);
	printf("%d failed\n", failed);
	return failed != 0;
}
