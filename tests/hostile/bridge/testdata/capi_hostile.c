/*
 * Hostile calls of libshmif's bridge API (include/rump/rump.h, Bridges):
 * every documented errno, close racing stats and commands, the interface
 * destroyed under an attached bridge, and open/close cycles counted for
 * leaked descriptors. Run by capi_test.go as: capi_hostile MODE DIR.
 * Prints "FAIL ..." for each broken expectation, "INFO ..." for what the
 * header does not promise, and exits 0 unless it could not run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>

static int failures;
static const char *dir;

#define EXPECT(call, want)                                                         \
	do {                                                                       \
		int got_ = (call);                                                 \
		if (got_ != (want)) {                                              \
			printf("FAIL %s:%d: %s = %d (%s), want %d (%s)\n", __FILE__, \
			    __LINE__, #call, got_, strerror(got_), (want),           \
			    strerror(want));                                       \
			failures++;                                                \
		}                                                                  \
	} while (0)

static char *path(const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

static char *repeat(char c, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);
	char *s = malloc(pl + n + 1);
	memcpy(s, prefix, pl);
	memset(s + pl, c, n);
	s[pl + n] = 0;
	return s;
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own */
}

static int count_threads(void)
{
	char line[256];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* A unix socket file with nobody listening. */
static char *dead_socket(void)
{
	char *p = path("dead.sock");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, p);
	unlink(p);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		perror("bind");
		exit(2);
	}
	close(fd);
	return p;
}

static void errnos(void)
{
	char *bus = path("bus"), *bus2 = path("bus2");
	char ep2[4096];
	int h = -1, h2 = -1, ifnum = -1;
	char reply[4096];
	size_t needed;
	struct shmif_bridge_stats st;

	snprintf(ep2, sizeof ep2, "shmif://%s", bus2);

	/* EFAULT */
	EXPECT(shmif_bridge_open(NULL, ep2, NULL, &h), EFAULT);
	EXPECT(shmif_bridge_open(bus, NULL, NULL, &h), EFAULT);
	EXPECT(shmif_bridge_open(bus, ep2, NULL, NULL), EFAULT);

	/* EINVAL */
	EXPECT(shmif_bridge_open("", ep2, NULL, &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, "", NULL, &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, "nope://x", NULL, &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, "shmif", NULL, &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, "tap://", NULL, &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, "vxlan://127.0.0.1", NULL, &h), EINVAL);          /* no vni */
	EXPECT(shmif_bridge_open(bus, "vxlan://127.0.0.1/vni=16777216", NULL, &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, "udp://1->", NULL, &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, "stream://listen:tcp:0.0.0.0:0", NULL, &h), EINVAL); /* public without /public */
	EXPECT(shmif_bridge_open(bus, ep2, "bogus", &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, ep2, "ageing=abc", &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, ep2, "ageing=-5", &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, ep2, "mode=999", &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, ep2, "seed=abc", &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, ep2, "control-mode=rw", &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, ep2, "impair loss 200%", &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, ep2, "impair delay 10", &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, ep2, "impair LR", &h), EINVAL);
	EXPECT(shmif_bridge_open(bus, ep2, "learning=yes", &h), EINVAL);

	/* E2BIG: bus SHMIF_MAXLINKSTR bytes or longer; endpoint or options 64 KiB or longer. */
	{
		char *longbus = repeat('b', SHMIF_MAXLINKSTR - strlen(dir) - 1, "/");
		char *lb = malloc(strlen(dir) + strlen(longbus) + 1);
		sprintf(lb, "%s%s", dir, longbus); /* exactly SHMIF_MAXLINKSTR bytes */
		EXPECT(shmif_bridge_open(lb, ep2, NULL, &h), E2BIG);
		/* An unknown scheme: EINVAL under 64 KiB, E2BIG from 64 KiB on. */
		char *ep = repeat('x', 65536 - strlen("nope://"), "nope://");
		EXPECT(shmif_bridge_open(bus, ep, NULL, &h), E2BIG);
		char *ep1 = repeat('x', 65535 - strlen("nope://"), "nope://");
		EXPECT(shmif_bridge_open(bus, ep1, NULL, &h), EINVAL);
		char *opt = repeat(' ', 65536, "");
		EXPECT(shmif_bridge_open(bus, ep2, opt, &h), E2BIG);
		char *opt1 = repeat(' ', 65535, "");
		EXPECT(shmif_bridge_open(bus, ep2, opt1, &h), 0);
		EXPECT(shmif_bridge_close(h), 0);
		/* A shmif:// endpoint whose bus path is too long is the bus's E2BIG. */
		char *ep3 = repeat('x', SHMIF_MAXLINKSTR, "shmif:///");
		EXPECT(shmif_bridge_open(bus, ep3, NULL, &h), E2BIG);
		free(longbus), free(lb), free(ep), free(ep1), free(opt), free(opt1), free(ep3);
	}

	/* System call errors from opening the endpoint. */
	{
		char ep[8192];
		snprintf(ep, sizeof ep, "stream://unix:%s/nonexistent/s.sock", dir);
		EXPECT(shmif_bridge_open(bus, ep, NULL, &h), ENOENT);
		snprintf(ep, sizeof ep, "stream://unix:%s", dead_socket());
		EXPECT(shmif_bridge_open(bus, ep, NULL, &h), ECONNREFUSED);
		snprintf(ep, sizeof ep, "stream://listen:unix:%s", path("l.sock"));
		EXPECT(shmif_bridge_open(bus, ep, NULL, &h), 0);
		EXPECT(shmif_bridge_open(bus, ep, NULL, &h2), EADDRINUSE);
		EXPECT(shmif_bridge_close(h), 0);
		/* control= on a path that exists. */
		char opt[8192];
		int fd = open(path("taken"), O_CREAT | O_WRONLY, 0644);
		close(fd);
		snprintf(opt, sizeof opt, "control=%s", path("taken"));
		EXPECT(shmif_bridge_open(bus, ep2, opt, &h), EADDRINUSE);
	}

	/* Bus file errors: those of rump_pub_shmif_create. */
	{
		char *foreign = path("foreign");
		FILE *f = fopen(foreign, "w");
		fputs("not a bus", f);
		fclose(f);
		EXPECT(shmif_bridge_open(foreign, ep2, NULL, &h), ENOEXEC);
		EXPECT(shmif_bridge_open(dir, ep2, NULL, &h), EISDIR);
		struct stat sb;
		stat(foreign, &sb);
		if (sb.st_size != 9) {
			printf("FAIL a refused foreign bus file was changed (size %ld)\n", (long)sb.st_size);
			failures++;
		}
	}

	/* attach: unknown ifnum (ENXIO, a common error); mode refused. */
	EXPECT(shmif_bridge_attach(31000, ep2, NULL, &h), ENXIO);
	EXPECT(shmif_bridge_attach(-1, ep2, NULL, &h), ENXIO);
	EXPECT(rump_pub_shmif_create(bus, &ifnum), 0);
	EXPECT(shmif_bridge_attach(ifnum, ep2, "mode=0600", &h), EINVAL);
	EXPECT(shmif_bridge_attach(ifnum, ep2, NULL, NULL), EFAULT);
	EXPECT(shmif_bridge_attach(ifnum, NULL, NULL, &h), EFAULT);

	/* Unknown handles. */
	EXPECT(shmif_bridge_close(0), ENXIO);
	EXPECT(shmif_bridge_close(-1), ENXIO);
	EXPECT(shmif_bridge_close(123456), ENXIO);
	EXPECT(shmif_bridge_get_stats(0, &st), ENXIO);
	EXPECT(shmif_bridge_get_stats(-7, &st), ENXIO);
	EXPECT(shmif_bridge_command(0, "show", reply, sizeof reply, NULL), ENXIO);
	EXPECT(shmif_bridge_command(99999, "help", NULL, 0, NULL), ENXIO);

	/* A bridge without an impairment stage. */
	EXPECT(shmif_bridge_open(bus, ep2, NULL, &h), 0);
	EXPECT(shmif_bridge_get_stats(h, NULL), EFAULT);
	EXPECT(shmif_bridge_command(h, "show", reply, sizeof reply, NULL), EINVAL);
	if (strncmp(reply, "error", 5) != 0) {
		printf("FAIL show without a stage: reply %s\n", reply);
		failures++;
	}
	EXPECT(shmif_bridge_command(h, "set loss 5%", reply, sizeof reply, NULL), EINVAL);
	EXPECT(shmif_bridge_command(h, "stats", reply, sizeof reply, NULL), 0);
	EXPECT(shmif_bridge_command(h, "error", reply, sizeof reply, NULL), 0);
	EXPECT(shmif_bridge_close(h), 0);
	EXPECT(shmif_bridge_close(h), ENXIO);
	EXPECT(shmif_bridge_get_stats(h, &st), ENXIO);

	/* control= socket: exactly 0600, or control-mode, whatever the umask. */
	{
		char opt[4096];
		struct stat sb;
		mode_t old = umask(0);
		snprintf(opt, sizeof opt, "control=%s", path("ctl1"));
		EXPECT(shmif_bridge_open(bus, ep2, opt, &h), 0);
		if (stat(path("ctl1"), &sb) != 0 || (sb.st_mode & 07777) != 0600) {
			printf("FAIL control socket under umask 0: mode %o, want 600\n", sb.st_mode & 07777);
			failures++;
		}
		EXPECT(shmif_bridge_close(h), 0);
		if (access(path("ctl1"), F_OK) == 0) {
			printf("FAIL shmif_bridge_close left the control socket\n");
			failures++;
		}
		umask(077);
		snprintf(opt, sizeof opt, "control=%s control-mode=0640", path("ctl2"));
		EXPECT(shmif_bridge_open(bus, ep2, opt, &h), 0);
		if (stat(path("ctl2"), &sb) != 0 || (sb.st_mode & 07777) != 0640) {
			printf("FAIL control socket control-mode=0640 under umask 077: mode %o\n", sb.st_mode & 07777);
			failures++;
		}
		EXPECT(shmif_bridge_close(h), 0);
		umask(old);
	}

	/* A bridge with a stage: command arguments. */
	EXPECT(shmif_bridge_open(bus, ep2, "seed=5", &h), 0);
	char show0[4096];
	EXPECT(shmif_bridge_command(h, "show", show0, sizeof show0, NULL), 0);
	if (strncmp(show0, "seed 5\n", 7) != 0) {
		printf("FAIL show: %s\n", show0);
		failures++;
	}
	EXPECT(shmif_bridge_command(h, NULL, reply, sizeof reply, NULL), EFAULT);
	EXPECT(shmif_bridge_command(h, "show", NULL, 10, NULL), EFAULT);
	needed = 0;
	EXPECT(shmif_bridge_command(h, "show", NULL, 0, &needed), 0);
	if (needed != strlen(show0) + 1) {
		printf("FAIL show with no reply wanted: needed %zu, want %zu\n", needed, strlen(show0) + 1);
		failures++;
	}
	memset(reply, 'Z', sizeof reply);
	EXPECT(shmif_bridge_command(h, "show", reply, 4, &needed), ERANGE);
	if (reply[3] != 0 || strncmp(reply, show0, 3) != 0 || needed != strlen(show0) + 1) {
		printf("FAIL cut reply: %.4s needed %zu\n", reply, needed);
		failures++;
	}
	memset(reply, 'Z', sizeof reply);
	EXPECT(shmif_bridge_command(h, "show", reply, 1, &needed), ERANGE);
	if (reply[0] != 0) {
		printf("FAIL a reply cut to 1 byte is not \"\"\n");
		failures++;
	}
	EXPECT(shmif_bridge_command(h, "set loss 50%\nset delay 1s", reply, sizeof reply, NULL), EINVAL);
	EXPECT(shmif_bridge_command(h, "set loss 50%\n", reply, sizeof reply, NULL), EINVAL);
	EXPECT(shmif_bridge_command(h, "set loss 200%", reply, sizeof reply, NULL), EINVAL);
	if (strncmp(reply, "error: ", 7) != 0 || strchr(reply, '\n') != strrchr(reply, '\n')) {
		printf("FAIL malformed set: reply %s\n", reply);
		failures++;
	}
	EXPECT(shmif_bridge_command(h, "set LR loss 5% RL bogus", reply, sizeof reply, NULL), EINVAL);
	{
		char *big = repeat('x', 65536 - 4, "set ");
		EXPECT(shmif_bridge_command(h, big, reply, sizeof reply, NULL), E2BIG);
		free(big);
	}
	EXPECT(shmif_bridge_command(h, "show", reply, sizeof reply, NULL), 0);
	if (strcmp(reply, show0) != 0) {
		printf("FAIL malformed commands changed the settings: %s\n", reply);
		failures++;
	}
	/* The header's command list: stats and error on a bridge with a stage. */
	EXPECT(shmif_bridge_command(h, "stats", reply, sizeof reply, NULL), 0);
	if (!strstr(reply, "frames=") || !strstr(reply, "LR in=")) {
		printf("FAIL stats: %s\n", reply);
		failures++;
	}
	{
		/* A blank command: 0 (an empty reply) or, as rump.h now says, EINVAL. */
		int r = shmif_bridge_command(h, "", reply, sizeof reply, NULL);
		if (r != 0 && r != EINVAL) {
			printf("FAIL blank command: %d (%s)\n", r, strerror(r));
			failures++;
		}
	}
	EXPECT(shmif_bridge_close(h), 0);

	EXPECT(shmif_destroy(ifnum), 0);
	printf("errnos done\n");
}

/* close racing stats and commands from many threads. */
static volatile int race_stop;
static volatile int race_handle;
static int race_bad;

static void *racer(void *arg)
{
	struct shmif_bridge_stats st;
	char reply[2048];
	long id = (long)arg;
	while (!race_stop) {
		int h = race_handle;
		int r;
		if (id % 2)
			r = shmif_bridge_get_stats(h, &st);
		else
			r = shmif_bridge_command(h, (id % 4) ? "counters" : "set loss 1%", reply, sizeof reply, NULL);
		if (r != 0 && r != ENXIO) {
			__atomic_add_fetch(&race_bad, 1, __ATOMIC_SEQ_CST);
			if (race_bad < 5)
				printf("FAIL racing call on handle %d: %d (%s)\n", h, r, strerror(r));
		}
	}
	return NULL;
}

static void race(void)
{
	char *bus = path("rbus"), *bus2 = path("rbus2");
	char ep[4096];
	pthread_t th[8];
	snprintf(ep, sizeof ep, "shmif://%s", bus2);
	for (long i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, racer, (void *)i);
	int opened = 0;
	for (int i = 0; i < 100; i++) {
		int h;
		int r = shmif_bridge_open(bus, ep, "seed=1", &h);
		if (r != 0) {
			printf("FAIL open %d: %s\n", i, strerror(r));
			failures++;
			break;
		}
		opened++;
		race_handle = h;
		usleep(200);
		r = shmif_bridge_close(h);
		if (r != 0) {
			printf("FAIL close %d: %s\n", i, strerror(r));
			failures++;
		}
	}
	race_stop = 1;
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	failures += race_bad;
	printf("race: %d bridges opened and closed under 8 racing threads, %d bad returns\n", opened, race_bad);
}

/* The interface destroyed under an attached bridge. */
static void destroyed(void)
{
	char *bus = path("dbus"), *bus2 = path("dbus2");
	char ep[4096], reply[4096];
	int ifnum, h, r;
	struct shmif_bridge_stats st;
	snprintf(ep, sizeof ep, "shmif://%s", bus2);
	EXPECT(rump_pub_shmif_create(bus, &ifnum), 0);
	EXPECT(shmif_bridge_attach(ifnum, ep, "seed=1", &h), 0);
	EXPECT(shmif_destroy(ifnum), 0);
	usleep(300000);
	r = shmif_bridge_get_stats(h, &st);
	printf("INFO after shmif_destroy under the bridge: get_stats=%d stopped=%d error=%d (%s)\n",
	    r, st.stopped, st.error, strerror(st.error));
	r = shmif_bridge_command(h, "error", reply, sizeof reply, NULL);
	printf("INFO command error=%d reply=%s", r, reply);
	if (!strchr(reply, '\n'))
		printf("\n");
	/* The unit is free again: a new interface may take it. */
	int ifnum2;
	EXPECT(shmif_create(ifnum, &ifnum2), 0);
	r = shmif_bridge_close(h);
	printf("INFO close after destroy: %d (%s)\n", r, strerror(r));
	int flags = -1;
	r = shmif_get_flags(ifnum2, &flags);
	printf("INFO the new interface with the same unit after close: get_flags=%d flags=%#x (PROMISC %s)\n",
	    r, flags, (flags & SHMIF_IFF_PROMISC) ? "on: the closed bridge changed it" : "off");
	if (r == 0 && (flags & SHMIF_IFF_PROMISC)) {
		printf("FAIL closing a bridge whose interface was destroyed turned promiscuous mode of another interface with the same unit\n");
		failures++;
	}
	shmif_destroy(ifnum2);
}

static int count_shm(const char *ino)
{
	int n = 0;
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ino))
			n++;
	closedir(d);
	return n;
}

/* Open/close cycles ($CYCLES, 1000 by default): no descriptor, thread or
 * /dev/shm leak. */
static void cycles(void)
{
	char *bus = path("cbus"), *bus2 = path("cbus2");
	char ep[4096], ino[64], ino2[64];
	struct stat sb;
	int h, r;
	snprintf(ep, sizeof ep, "shmif://%s", bus2);
	/* Warm up: let the runtime start its threads. */
	for (int i = 0; i < 20; i++) {
		EXPECT(shmif_bridge_open(bus, ep, "impair loss 1%", &h), 0);
		EXPECT(shmif_bridge_close(h), 0);
	}
	stat(bus, &sb);
	snprintf(ino, sizeof ino, "-%lu", (unsigned long)sb.st_ino);
	stat(bus2, &sb);
	snprintf(ino2, sizeof ino2, "-%lu", (unsigned long)sb.st_ino);
	int fd0 = count_fds(), th0 = count_threads(), shm0 = count_shm(ino) + count_shm(ino2);
	int maxh = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *ncycles = getenv("CYCLES");
	int cycles = ncycles ? atoi(ncycles) : 1000;
	for (int i = 0; i < cycles; i++) {
		const char *opt = (i % 3 == 0) ? "impair loss 1%" : (i % 3 == 1) ? NULL : "learning";
		r = shmif_bridge_open(bus, ep, opt, &h);
		if (r != 0) {
			printf("FAIL cycle %d: open: %s\n", i, strerror(r));
			failures++;
			break;
		}
		if (h > maxh)
			maxh = h;
		r = shmif_bridge_close(h);
		if (r != 0) {
			printf("FAIL cycle %d: close: %s\n", i, strerror(r));
			failures++;
			break;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int fd1 = count_fds(), th1 = count_threads(), shm1 = count_shm(ino) + count_shm(ino2);
	printf("cycles: %d in %.2f s; descriptors %d -> %d, threads %d -> %d, /dev/shm entries of the buses %d -> %d, largest handle %d\n", cycles,
	    (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, fd0, fd1, th0, th1, shm0, shm1, maxh);
	if (fd1 > fd0) {
		printf("FAIL %d descriptors leaked over %d cycles\n", fd1 - fd0, cycles);
		failures++;
	}
	if (shm1 > shm0) {
		printf("FAIL %d /dev/shm entries leaked\n", shm1 - shm0);
		failures++;
	}
	if (th1 > th0 + 8) {
		printf("FAIL threads grew from %d to %d over %d cycles\n", th0, th1, cycles);
		failures++;
	}
	printf("INFO the largest handle of %d sequential bridges was %d\n", cycles, maxh);
}

/*
 * Impairment stages and the control socket. rump.h, options: '"impair"
 * alone makes a stage that passes everything, to be changed later with
 * shmif_bridge_command.' shmif_bridge_command: "The control socket
 * (control= option) answers the same commands but stats and error, and
 * has quit."
 */
static void stages(void)
{
	char *bus = path("xbus"), *bus2 = path("xbus2");
	char ep[4096], reply[4096];
	int h;
	snprintf(ep, sizeof ep, "shmif://%s", bus2);
	const char *opts[] = {"impair", "seed=5 impair", "impair ", NULL};
	{
		char opt[4096];
		char *sock = path("xctl");
		snprintf(opt, sizeof opt, "seed=1 control=%s", sock);
		EXPECT(shmif_bridge_open(bus, ep, opt, &h), 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		strcpy(sa.sun_path, sock);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
			perror("connect");
			exit(2);
		}
		const char *cmds[] = {"stats\n", "error\n", "show\n"};
		const char *want[] = {"error", "error", "seed 1"};
		for (int i = 0; i < 3; i++) {
			char buf[4096] = "";
			write(fd, cmds[i], strlen(cmds[i]));
			ssize_t n = read(fd, buf, sizeof buf - 1);
			buf[n > 0 ? n : 0] = 0;
			if (strncmp(buf, want[i], strlen(want[i])) != 0) {
				printf("FAIL the control socket answers %.5s with %s, want %s...\n", cmds[i], buf, want[i]);
				failures++;
			}
		}
		close(fd);
		/* The same commands through the call work. */
		EXPECT(shmif_bridge_command(h, "stats", reply, sizeof reply, NULL), 0);
		EXPECT(shmif_bridge_command(h, "error", reply, sizeof reply, NULL), 0);
		EXPECT(shmif_bridge_close(h), 0);
	}
	for (int i = 0; opts[i]; i++) {
		int r = shmif_bridge_open(bus, ep, opts[i], &h);
		if (r != 0) {
			printf("FAIL shmif_bridge_open(bus, ep, \"%s\") = %d (%s), want 0: a stage that passes everything\n",
			    opts[i], r, strerror(r));
			failures++;
			continue;
		}
		EXPECT(shmif_bridge_command(h, "set loss 5%", reply, sizeof reply, NULL), 0);
		EXPECT(shmif_bridge_close(h), 0);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: capi_hostile errnos|race|destroyed|cycles|stages DIR\n");
		return 2;
	}
	dir = argv[2];
	if (strcmp(argv[1], "errnos") == 0)
		errnos();
	else if (strcmp(argv[1], "race") == 0)
		race();
	else if (strcmp(argv[1], "destroyed") == 0)
		destroyed();
	else if (strcmp(argv[1], "cycles") == 0)
		cycles();
	else if (strcmp(argv[1], "stages") == 0)
		stages();
	else
		return 2;
	printf("failures %d\n", failures);
	fflush(stdout);
	return 0;
}
