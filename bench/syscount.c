/*
 * syscount.c -- system calls and CPU time of a role process over its
 * measured phase, with all its threads (the Go runtime's included).
 *
 * System calls: a perf counter on the tracepoint raw_syscalls:sys_enter
 * (its id from tracefs), counting, with inherit set, the process and every
 * thread it creates later. The parent probes once that such a counter can
 * be opened; then each child opens its own between fork and exec, disabled,
 * on itself (so the threads the Go runtime starts when libshmif is loaded
 * inherit it), and keeps it at descriptor PERF_FD across exec. The role
 * enables it at the start of its measured phase and disables and reads it
 * at the end (PERF_EVENT_IOC_ENABLE and _DISABLE act on the inherited
 * counters of all threads; a read sums them): no round trip to the parent,
 * and neither start-up (loading libshmif, attaching, the READY handshake)
 * nor tear-down is counted. The disabling ioctl itself is subtracted.
 *
 * CPU time: getrusage(RUSAGE_SELF), which covers all threads of the
 * process, at the same two points: user and system time of the phase.
 *
 * When counting is impossible (no tracefs, not root, perf_event_paranoid)
 * the table says n/a, and the parent says why once on stderr.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int syscount_on;
static struct perf_event_attr attr; /* made by the parent, used by children */

static long tracepoint_id(char *why, size_t n)
{
	static const char *const paths[] = {
	    "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
	    "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
	};
	int err = ENOENT;
	for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
		FILE *fp = fopen(paths[k], "r");
		if (fp == NULL) {
			if (errno != ENOENT)
				err = errno;
			continue;
		}
		long id = -1;
		if (fscanf(fp, "%ld", &id) != 1)
			id = -1;
		fclose(fp);
		if (id >= 0)
			return id;
	}
	snprintf(why, n,
	    "the id of the tracepoint raw_syscalls:sys_enter is not readable under "
	    "/sys/kernel/tracing or /sys/kernel/debug/tracing (%s; tracefs is not mounted, "
	    "or readable by root only)",
	    strerror(err));
	return -1;
}

static void paranoid(char *buf, size_t n)
{
	FILE *fp = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
	int v;
	if (fp != NULL && fscanf(fp, "%d", &v) == 1)
		snprintf(buf, n, "%d", v);
	else
		snprintf(buf, n, "?");
	if (fp != NULL)
		fclose(fp);
}

/* The parent, once: can children count? If not, says why on stderr. */
int syscount_probe(void)
{
	char why[512];
	long id = tracepoint_id(why, sizeof why);
	if (id >= 0) {
		memset(&attr, 0, sizeof attr);
		attr.type = PERF_TYPE_TRACEPOINT;
		attr.size = sizeof attr;
		attr.config = (uint64_t)id;
		attr.disabled = 1;
		attr.inherit = 1;
		int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			syscount_on = 1;
			return 1;
		}
		char p[16];
		paranoid(p, sizeof p);
		snprintf(why, sizeof why,
		    "perf_event_open on raw_syscalls:sys_enter: %s (kernel.perf_event_paranoid is %s; "
		    "run as root, or with CAP_PERFMON, or lower it)",
		    strerror(errno), p);
	}
	fprintf(stderr, "shmif-bench: system calls are not counted (n/a in the table): %s\n", why);
	return 0;
}

/* In a child between fork and exec (async-signal-safe calls only): opens
 * its counter at PERF_FD, or leaves PERF_FD closed. */
void syscount_child(void)
{
	if (!syscount_on)
		return;
	int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
	if (fd < 0) {
		close(PERF_FD);
		return;
	}
	if (fd != PERF_FD) {
		dup2(fd, PERF_FD);
		close(fd);
	}
}

static int64_t tv_us(struct timeval tv) { return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec; }

/* Starts the measured phase of this role process. */
void meter_start(struct meter *m)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	m->user_us = tv_us(ru.ru_utime);
	m->sys_us = tv_us(ru.ru_stime);
	m->syscalls = -1;
	m->running = 1;
	/* The enabling call enters before the counter counts: not counted. */
	if (opt.perf_fd >= 0 && ioctl(opt.perf_fd, PERF_EVENT_IOC_ENABLE, 0) != 0)
		opt.perf_fd = -1;
}

/* Ends it: m has the phase's system calls (less `own`, calls the role made
 * for the benchmark itself, and the disabling call) and CPU time. */
void meter_stop(struct meter *m, long long own)
{
	if (!m->running)
		return;
	m->running = 0;
	uint64_t n;
	if (opt.perf_fd >= 0 && ioctl(opt.perf_fd, PERF_EVENT_IOC_DISABLE, 0) == 0 &&
	    read(opt.perf_fd, &n, sizeof n) == (ssize_t)sizeof n)
		m->syscalls = (long long)n - 1 - own;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	m->user_us = tv_us(ru.ru_utime) - m->user_us;
	m->sys_us = tv_us(ru.ru_stime) - m->sys_us;
}
