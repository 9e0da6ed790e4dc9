/*
 * cycles.c -- create and destroy an interface over and over through the C
 * ABI: nothing may accumulate (descriptors, memory).
 *
 * usage: cycles BUS CYCLES WARMUP BUDGET_MS
 *
 * Runs CYCLES rump_pub_shmif_create/shmif_destroy cycles on the bus file BUS,
 * asking for the poll descriptor (shmif_get_pollfd) every 10th cycle and
 * sending a frame every 100th; it stops early once past WARMUP cycles and
 * BUDGET_MS milliseconds (0: no limit). After WARMUP cycles and at the end
 * it prints
 *     at CYCLE fds N rss KIB
 * with the number of open descriptors (/proc/self/fd) and the resident set
 * size (/proc/self/statm), counted a second after the last destroy: the
 * poll descriptor of a destroyed interface is closed a quarter of a second
 * after it (rump.h, shmif_get_pollfd). Exits 0 unless a call fails.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>

static int count_fds(void)
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
	return n - 1; /* the descriptor of d itself */
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, rss;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s BUS CYCLES WARMUP BUDGET_MS\n", argv[0]);
		return 2;
	}
	const char *bus = argv[1];
	int cycles = atoi(argv[2]), warmup = atoi(argv[3]);
	long budget = atol(argv[4]), start = now_ms();
	unsigned char frame[60];

	memset(frame, 0xff, sizeof frame);
	for (int k = 1; k <= cycles; k++) {
		int ifnum, fd, rc;

		if ((rc = rump_pub_shmif_create(bus, &ifnum)) != 0) {
			printf("cycle %d: create: %s\n", k, strerror(rc));
			return 1;
		}
		if (k % 10 == 0 && (rc = shmif_get_pollfd(ifnum, &fd)) != 0) {
			printf("cycle %d: get_pollfd: %s\n", k, strerror(rc));
			return 1;
		}
		if (k % 100 == 0 && (rc = shmif_send(ifnum, frame, sizeof frame)) != 0) {
			printf("cycle %d: send: %s\n", k, strerror(rc));
			return 1;
		}
		if ((rc = shmif_destroy(ifnum)) != 0) {
			printf("cycle %d: destroy: %s\n", k, strerror(rc));
			return 1;
		}
		if (k > warmup && budget > 0 && now_ms() - start > budget)
			cycles = k;
		if (k == warmup || k == cycles) {
			/* Poll descriptors close 250 ms after destroy, on a
			 * timer a loaded machine may run late: count until
			 * two counts half a second apart agree. */
			sleep(1);
			int fds = count_fds();
			for (int tries = 0; tries < 20; tries++) {
				usleep(500000);
				int again = count_fds();
				if (again == fds)
					break;
				fds = again;
			}
			printf("at %d fds %d rss %ld\n", k, fds, rss_kib());
			fflush(stdout);
		}
	}
	return 0;
}
