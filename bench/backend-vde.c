/*
 * backend-vde.c -- the VDE backend: a hub (vde_switch -x), a fresh one for
 * every run, started and stopped by the parent and not pinned; each role
 * process plugs in with vde_open. VDE has no batch send: writers loop
 * vde_send over the batch. Readers drain the non-blocking data socket with
 * vde_recv and wait with poll on vde_datafd.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvdeplug.h>

/* ---- a role's plug ---- */

struct vde_port {
	VDECONN *conn;
	int fd;
};

/* Plugs into the hub at opt.path. The data socket is made non-blocking
 * unless PORT_BLOCKING (writers block in vde_send instead). */
static void vde_open_port(struct port *p, int flags)
{
	struct vde_port *v = xcalloc(1, sizeof *v);
	struct vde_open_args args = {.port = 0, .group = NULL, .mode = 0700};
	v->conn = vde_open(opt.path, "shmif-bench", &args);
	if (v->conn == NULL)
		die("vde_open %s: %s", opt.path, strerror(errno));
	v->fd = vde_datafd(v->conn);
	if (!(flags & PORT_BLOCKING) && fcntl(v->fd, F_SETFL, fcntl(v->fd, F_GETFL) | O_NONBLOCK) < 0)
		die("fcntl: %s", strerror(errno));
	p->state = v;
}

static void vde_close_port(struct port *p)
{
	struct vde_port *v = p->state;
	vde_close(v->conn);
	free(v);
}

static int vde_send_port(struct port *p, const struct shmif_frame *f, size_t n)
{
	struct vde_port *v = p->state;
	for (size_t k = 0; k < n; k++) {
		for (;;) {
			ssize_t r = vde_send(v->conn, f[k].data, f[k].len, 0);
			if (r == (ssize_t)f[k].len)
				break;
			if (r >= 0)
				return EIO;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
				return errno;
			struct pollfd pf = {.fd = v->fd, .events = POLLOUT};
			poll(&pf, 1, RECV_WAIT_MS);
		}
	}
	return 0;
}

/* Reads what the non-blocking socket holds, up to max frames. */
static int vde_drain(struct vde_port *v, struct shmif_frame *f, size_t max, size_t *got)
{
	*got = 0;
	while (*got < max) {
		ssize_t r = vde_recv(v->conn, f[*got].data, f[*got].cap, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return errno;
		}
		f[*got].len = (size_t)r;
		(*got)++;
	}
	return 0;
}

static int vde_recv_port(struct port *p, struct shmif_frame *f, size_t max, int timeout_ms, size_t *got)
{
	struct vde_port *v = p->state;
	int rc = vde_drain(v, f, max, got);
	if (rc != 0 || *got > 0 || timeout_ms == 0)
		return rc;
	struct pollfd pf = {.fd = v->fd, .events = POLLIN};
	if (poll(&pf, 1, timeout_ms) > 0)
		rc = vde_drain(v, f, max, got);
	return rc;
}

static long long vde_lost_port(struct port *p)
{
	(void)p;
	return -1;
}

const struct port_ops vde_port_ops = {
    .open = vde_open_port,
    .close = vde_close_port,
    .send = vde_send_port,
    .recv = vde_recv_port,
    .lost = vde_lost_port,
};

/* ---- the parent's hub ---- */

char sockdir[PATH_MAX + 8];
static char switch_log[PATH_MAX + 8];
static volatile pid_t switch_pid;
static int switch_in = -1; /* the hub's stdin: it exits at end of file */

/* Starts a hub, vde_switch -x -s SOCKDIR, as a child: in the foreground (no
 * -d) so that it is reaped here, and with its stdin a pipe from this
 * process, so that it exits by itself should this process die. */
void switch_start(void)
{
	snprintf(sockdir, sizeof sockdir, "%s/vde", tmpdir);
	snprintf(switch_log, sizeof switch_log, "%s/vde.log", tmpdir);
	int in[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	signals_hold(1);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		signals_hold(0);
		int null = open("/dev/null", O_WRONLY);
		int log = open(switch_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (null < 0 || log < 0 || dup2(in[0], 0) < 0 || dup2(null, 1) < 0 || dup2(log, 2) < 0)
			_exit(126);
		/* -x hub, -f no rc file: the same switch everywhere */
		execlp("vde_switch", "vde_switch", "-x", "-s", sockdir, "-f", "/dev/null", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	switch_in = in[1];
	switch_pid = pid;
	signals_hold(0);
	char ctl[PATH_MAX + 16];
	snprintf(ctl, sizeof ctl, "%s/ctl", sockdir);
	for (int k = 0; k < 1000; k++) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			switch_pid = 0;
			char msg[512] = "";
			FILE *fp = fopen(switch_log, "r");
			if (fp != NULL) {
				size_t n = fread(msg, 1, sizeof msg - 1, fp);
				msg[n] = 0;
				fclose(fp);
			}
			die("vde_switch -x -s %s exited (status %d)%s%s%s", sockdir,
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			    WIFEXITED(status) && WEXITSTATUS(status) == 127
			        ? ": not found; install the Debian packages vde2 libvdeplug-dev"
			        : "",
			    msg[0] ? ": " : "", msg);
		}
		if (access(ctl, F_OK) == 0)
			return;
		usleep(5000);
	}
	die("vde_switch did not come up in %s", sockdir);
}

void switch_stop(void)
{
	pid_t pid = switch_pid;
	if (pid <= 0)
		return;
	signals_hold(1);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	switch_pid = 0;
	signals_hold(0);
	close(switch_in);
	switch_in = -1;
}

/* From the parent's signal handler: async-signal-safe calls only. */
void switch_kill(void)
{
	if (switch_pid > 0) {
		kill(switch_pid, SIGTERM);
		waitpid(switch_pid, NULL, 0);
	}
	if (switch_log[0])
		unlink(switch_log);
}

/* The CPU the hub last ran on (/proc/PID/stat field 39), or -1. */
int switch_cpu(void)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)switch_pid);
	FILE *fp = fopen(path, "r");
	if (fp == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	int field = 2, cpu = -1;
	for (; s && *s; s++)
		if (*s == ' ' && ++field == 39) {
			cpu = atoi(s + 1);
			break;
		}
	return cpu;
}
