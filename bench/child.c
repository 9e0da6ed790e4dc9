/*
 * child.c -- the parent's side of the role processes and their control
 * protocol.
 *
 * The parent re-executes this program (/proc/self/exe) with --role and the
 * run's arguments, pinned with sched_setaffinity between fork and exec (so
 * every thread of the process stays on that CPU), its system call counter
 * opened there too (syscount.c). A role's stdin is the control pipe, its
 * stdout the result pipe:
 *   role -> parent  "READY\n" once attached and waiting;
 *                   "RESULT key=value ...\n" when its work is done.
 *   parent -> role  'G' starts a writer, ping or pacer; 'S' stops a writer's
 *                   end markers (or a NetBSD-style reader that waits on);
 *                   end of file: the parent is gone.
 * The parent also owns the temporary directory of bus files and removes
 * it, and the processes of a run, on SIGINT and SIGTERM.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char self_exe[PATH_MAX];
char tmpdir[PATH_MAX];
char bus_file[PATH_MAX + 16]; /* the bus of the current run, if any */
static pid_t live[2 * (MAX_WRITERS + MAX_READERS)];

/* SIGINT, SIGTERM: ends the processes of the run, removes the temporary
 * directory (async-signal-safe calls only) and dies of the signal. */
static void on_signal(int sig)
{
	for (size_t k = 0; k < sizeof live / sizeof live[0]; k++)
		if (live[k] > 0) {
			kill(live[k], SIGKILL);
			waitpid(live[k], NULL, 0);
		}
	switch_kill();
	if (bus_file[0])
		unlink(bus_file);
	if (tmpdir[0])
		rmdir(tmpdir);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The temporary directory, the signal handlers, this program's path. */
void parent_setup(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
	if (n <= 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	self_exe[n] = 0;
	const char *base = opt.dir ? opt.dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(tmpdir, sizeof tmpdir, "%s/shmif-bench.XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp %s: %s", tmpdir, strerror(errno));
	atexit(cleanup);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Blocks (on) or restores (off) SIGINT and SIGTERM around the steps that
 * start, reap and record processes, so that on_signal sees a true list. */
void signals_hold(int on)
{
	static sigset_t old;
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (on)
		sigprocmask(SIG_BLOCK, &block, &old);
	else
		sigprocmask(SIG_SETMASK, &old, NULL);
}

void track(pid_t pid, int add)
{
	for (size_t k = 0; k < sizeof live / sizeof live[0]; k++)
		if (add ? live[k] == 0 : live[k] == pid) {
			live[k] = add ? pid : 0;
			return;
		}
}

/* Starts this program with argv on `cpu` (-1: anywhere). */
void spawn(struct child *c, char *const argv[], int cpu)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	memset(c, 0, sizeof *c);
	c->cpu0 = c->cpu1 = -1;
	signals_hold(1);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Only async-signal-safe calls until exec. */
		if (cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			if (sched_setaffinity(0, sizeof set, &set) < 0)
				_exit(126);
		}
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		sigaction(SIGPIPE, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signals_hold(0);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(126);
		syscount_child();
		execv(self_exe, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->pid = pid;
	c->in = in[1];
	c->out = out[0];
	track(pid, 1);
	signals_hold(0);
}

/* Reads one line from the child into c->line by the deadline; 0 or -1. */
static int child_line(struct child *c, int64_t deadline)
{
	size_t n = 0;
	for (;;) {
		int64_t left = (deadline - now_ns()) / 1000000;
		if (left <= 0)
			return -1;
		struct pollfd pf = {.fd = c->out, .events = POLLIN};
		int r = poll(&pf, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		char ch;
		ssize_t got = read(c->out, &ch, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		if (ch == '\n') {
			c->line[n] = 0;
			return 0;
		}
		if (n + 1 < sizeof c->line)
			c->line[n++] = ch;
	}
}

/* Waits for a line starting with `word` (READY or RESULT); 0 or -1. */
int child_wait(struct child *c, const char *word, int64_t deadline)
{
	return child_line(c, deadline) == 0 && strncmp(c->line, word, strlen(word)) == 0 ? 0 : -1;
}

/* child_wait, saying on stderr when the line did not come. */
int child_expect(struct child *c, const char *word, int64_t deadline)
{
	if (child_wait(c, word, deadline) != 0) {
		fprintf(stderr, "shmif-bench: process %d: no %s\n", (int)c->pid, word);
		return -1;
	}
	return 0;
}

/* The value of key=NUMBER in the child's RESULT line, or -1. */
long long child_get(const struct child *c, const char *key)
{
	char pat[32];
	snprintf(pat, sizeof pat, " %s=", key);
	const char *s = strstr(c->line, pat);
	return s ? strtoll(s + strlen(pat), NULL, 10) : -1;
}

void child_control(struct child *c, char ch)
{
	if (c->in >= 0 && write(c->in, &ch, 1) != 1) {
		/* the child is gone; its missing RESULT reports it */
	}
}

/* Interrupts a blocking system call of the child (SIGUSR1, which a role
 * that waits without a timeout catches), after a control byte. Its pid is
 * its own until child_reap: an exited child stays a zombie till then. */
void child_nudge(struct child *c)
{
	if (c->pid > 0)
		kill(c->pid, SIGUSR1);
}

/* Ends the child: closes its pipes and reaps it (killing it after 5 s).
 * Returns its exit status, or -1 if it did not exit by itself with 0. */
int child_reap(struct child *c)
{
	close(c->in);
	c->in = -1;
	close(c->out);
	int status = 0;
	int64_t deadline = now_ns() + 5000000000LL;
	for (;;) {
		/* Reaped and forgotten with the signals blocked, so that on_signal
		 * never kills a pid that may have been reused. */
		signals_hold(1);
		int late = now_ns() > deadline;
		if (late)
			kill(c->pid, SIGKILL);
		pid_t r = waitpid(c->pid, &status, late ? 0 : WNOHANG);
		if (r != 0)
			track(c->pid, 0);
		signals_hold(0);
		if (late)
			return -1;
		if (r != 0)
			break;
		usleep(2000);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "shmif-bench: process %d ended by signal %d\n", (int)c->pid, WTERMSIG(status));
	return -1;
}

void args_add(struct args *a, const char *k, const char *fmt, ...)
{
	a->v[a->n++] = (char *)k;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->buf[a->nb], sizeof a->buf[0], fmt, ap);
	va_end(ap);
	a->v[a->n++] = a->buf[a->nb++];
	a->v[a->n] = NULL;
}

/* The argument vector of a role process. */
void role_args(struct args *a, const char *role, enum backend b, char *path, int id, int writers,
    uint32_t run, long count)
{
	memset(a, 0, sizeof *a);
	a->v[a->n++] = self_exe;
	a->v[a->n++] = "--role";
	a->v[a->n++] = (char *)role;
	a->v[a->n++] = "--backend";
	a->v[a->n++] = (char *)backend_name[b];
	a->v[a->n++] = "--path";
	a->v[a->n++] = path;
	args_add(a, "--id", "%d", id);
	args_add(a, "--writers", "%d", writers);
	args_add(a, "--run", "%u", (unsigned)run);
	args_add(a, "--count", "%ld", count);
	args_add(a, "--frame-size", "%d", opt.frame_size);
	args_add(a, "--batch", "%d", opt.batch);
	args_add(a, "--rx-batch", "%d", opt.rx_batch);
	args_add(a, "--spin-us", "%d", opt.spin_us);
	args_add(a, "--quiet-ms", "%d", opt.quiet_ms);
	args_add(a, "--wake-gap-us", "%d", opt.wake_gap_us);
	args_add(a, "--wake-burst", "%d", opt.wake_burst);
	if (syscount_on)
		args_add(a, "--perf-fd", "%d", PERF_FD);
	a->v[a->n++] = "--wait";
	a->v[a->n++] = opt.wait_spin ? "spin" : "block";
	a->v[a->n] = NULL;
}

/* Removes the temporary directory and what the runs left in it. */
void cleanup(void)
{
	switch_stop();
	if (!tmpdir[0])
		return;
	DIR *d = opendir(tmpdir);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char p[PATH_MAX + 300];
			snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(tmpdir);
	tmpdir[0] = 0;
}
