/*
 * backend-shmif.c -- the libshmif backend: each process attaches an
 * interface to the run's bus file (rump_pub_shmif_create), sends with
 * shmif_send_batch (shmif_send for a single frame) and receives with
 * shmif_recv_batch.
 */
#include "bench.h"

#include <errno.h>
#include <string.h>

static int ifnum_of(struct port *p) { return (int)(intptr_t)p->state; }

static void shmif_open_port(struct port *p, int flags)
{
	(void)flags;
	int ifnum, rc = rump_pub_shmif_create(opt.path, &ifnum);
	if (rc != 0)
		die("rump_pub_shmif_create %s: %s", opt.path, strerror(rc));
	if (opt.spin_us >= 0 && (rc = shmif_set_spin(ifnum, opt.spin_us)) != 0)
		die("shmif_set_spin: %s", strerror(rc));
	p->state = (void *)(intptr_t)ifnum;
}

static void shmif_close_port(struct port *p) { shmif_destroy(ifnum_of(p)); }

static int shmif_send_port(struct port *p, const struct shmif_frame *f, size_t n)
{
	return n == 1 ? shmif_send(ifnum_of(p), f[0].data, f[0].len) : shmif_send_batch(ifnum_of(p), f, n);
}

static int shmif_recv_port(struct port *p, struct shmif_frame *f, size_t max, int timeout_ms, size_t *got)
{
	int rc = shmif_recv_batch(ifnum_of(p), f, max, got, timeout_ms);
	return rc == EAGAIN || rc == ETIMEDOUT ? 0 : rc;
}

static long long shmif_lost_port(struct port *p)
{
	struct shmif_stats st;
	if (shmif_get_stats(ifnum_of(p), &st) != 0)
		return -1;
	return (long long)st.lost;
}

const struct port_ops shmif_port_ops = {
    .open = shmif_open_port,
    .close = shmif_close_port,
    .send = shmif_send_port,
    .recv = shmif_recv_port,
    .lost = shmif_lost_port,
};
