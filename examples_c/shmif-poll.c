/*
 * shmif-poll -- receive from two shmif buses in one epoll event loop.
 *
 *   shmif-poll BUS1 BUS2 COUNT [TIMEOUT_S]
 *
 * Attaches one interface to each bus, hands their poll descriptors
 * (shmif_get_pollfd) to epoll and waits on both at once. Each time an
 * interface polls readable it is drained: shmif_recv with timeout 0 until
 * EAGAIN. Once COUNT frames have arrived in total it prints
 *
 *   shmif-poll: N frames from BUS1, M frames from BUS2
 *
 * and exits 0; after TIMEOUT_S seconds (default 10) it exits 1. Usage and
 * library errors exit 2.
 *
 * A line "shmif-poll: listening on ..." on stdout says both interfaces are
 * receiving, for scripts that start senders only then. Only frames for the
 * interfaces' addresses and broadcasts are received: ARP requests, such as
 * the ones `shmif-node BUS ADDR/PREFIX ping ...` sends, are broadcasts.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>

#define EXIT_TIMEOUT 1
#define EXIT_USAGE 2
#define DEFAULT_TIMEOUT_S 10

/* One interface and what it has received. */
struct port {
	const char *bus;
	int ifnum;
	int attached;
	int pollfd;
	unsigned long frames;
	unsigned long wakeups;       /* times epoll reported it readable ... */
	unsigned long empty_wakeups; /* ... with no frame to receive */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	/* Only fails on a system without CLOCK_MONOTONIC: nothing to time with. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		fprintf(stderr, "shmif-poll: clock_gettime: %s\n", strerror(errno));
		exit(EXIT_USAGE);
	}
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Parses a decimal number 1..max; returns 0 on success, -1 otherwise. */
static int parse_count(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Receives every frame waiting on p. Returns 0 once shmif_recv says EAGAIN,
 * or a libshmif error.
 */
static int drain(struct port *p)
{
	uint8_t buf[SHMIF_MAXFRAME];
	unsigned long before = p->frames;
	size_t len;
	int rc;

	while ((rc = shmif_recv(p->ifnum, buf, sizeof buf, &len, 0)) == 0)
		p->frames++;
	p->wakeups++;
	if (p->frames == before)
		p->empty_wakeups++;
	return rc == EAGAIN ? 0 : rc;
}

/* Attaches p to its bus, gets its poll descriptor and adds it to epoll. */
static int setup(struct port *p, int ep, uint32_t index)
{
	struct epoll_event ev;
	int rc;

	if ((rc = rump_pub_shmif_create(p->bus, &p->ifnum)) != 0) {
		fprintf(stderr, "shmif-poll: %s: %s\n", p->bus, strerror(rc));
		return -1;
	}
	p->attached = 1;
	if ((rc = shmif_get_pollfd(p->ifnum, &p->pollfd)) != 0) {
		fprintf(stderr, "shmif-poll: shmif_get_pollfd: %s\n", strerror(rc));
		return -1;
	}
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN; /* level-triggered: readable until drained */
	ev.data.u32 = index;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p->pollfd, &ev) != 0) {
		fprintf(stderr, "shmif-poll: epoll_ctl: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Waits for events until COUNT frames or the deadline. Returns an exit status. */
static int run(struct port ports[2], int ep, unsigned long count, uint64_t deadline)
{
	while (ports[0].frames + ports[1].frames < count) {
		struct epoll_event evs[2];
		uint64_t now = now_ms();
		int n;

		if (now >= deadline) {
			fprintf(stderr, "shmif-poll: timeout: %lu frames from %s, %lu frames from %s\n",
			    ports[0].frames, ports[0].bus, ports[1].frames, ports[1].bus);
			return EXIT_TIMEOUT;
		}
		n = epoll_wait(ep, evs, 2, (int)(deadline - now));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "shmif-poll: epoll_wait: %s\n", strerror(errno));
			return EXIT_USAGE;
		}
		for (int i = 0; i < n; i++) {
			struct port *p = &ports[evs[i].data.u32];
			int rc = drain(p);

			if (rc != 0) {
				fprintf(stderr, "shmif-poll: shmif_recv on %s: %s\n", p->bus,
				    strerror(rc));
				return EXIT_USAGE;
			}
		}
	}
	printf("shmif-poll: %lu frames from %s, %lu frames from %s\n", ports[0].frames,
	    ports[0].bus, ports[1].frames, ports[1].bus);
	printf("shmif-poll: %lu wake-ups (%lu empty) on %s, %lu wake-ups (%lu empty) on %s\n",
	    ports[0].wakeups, ports[0].empty_wakeups, ports[0].bus, ports[1].wakeups,
	    ports[1].empty_wakeups, ports[1].bus);
	return 0;
}

int main(int argc, char **argv)
{
	struct port ports[2] = {{0}, {0}};
	unsigned long count, timeout_s = DEFAULT_TIMEOUT_S;
	int ep, status = EXIT_USAGE;

	if ((argc != 4 && argc != 5) || parse_count(argv[3], 1000000000, &count) != 0 ||
	    (argc == 5 && parse_count(argv[4], 86400, &timeout_s) != 0)) {
		fprintf(stderr, "usage: shmif-poll BUS1 BUS2 COUNT [TIMEOUT_S]\n"
		                "COUNT: 1 or more; TIMEOUT_S: 1 to 86400 (default %d)\n",
		    DEFAULT_TIMEOUT_S);
		return EXIT_USAGE;
	}
	ports[0].bus = argv[1];
	ports[1].bus = argv[2];

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		fprintf(stderr, "shmif-poll: epoll_create1: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	if (setup(&ports[0], ep, 0) == 0 && setup(&ports[1], ep, 1) == 0) {
		uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000;

		printf("shmif-poll: listening on shmif%d (%s) and shmif%d (%s)\n",
		    ports[0].ifnum, ports[0].bus, ports[1].ifnum, ports[1].bus);
		if (fflush(stdout) != 0)
			fprintf(stderr, "shmif-poll: stdout: %s\n", strerror(errno));
		else
			status = run(ports, ep, count, deadline);
	}

	/* The poll descriptors belong to libshmif: shmif_destroy closes them. */
	if (close(ep) != 0) {
		fprintf(stderr, "shmif-poll: close: %s\n", strerror(errno));
		status = EXIT_USAGE;
	}
	for (int i = 0; i < 2; i++) {
		int rc;

		if (ports[i].attached && (rc = shmif_destroy(ports[i].ifnum)) != 0) {
			fprintf(stderr, "shmif-poll: shmif_destroy: %s\n", strerror(rc));
			status = EXIT_USAGE;
		}
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "shmif-poll: stdout: %s\n", strerror(errno));
		status = EXIT_USAGE;
	}
	return status;
}
