/*
 * backend-shmif.c -- the libshmif backend: each process attaches an
 * interface to the run's bus file (rump_pub_shmif_create), sends with
 * shmif_send_batch (shmif_send for a single frame) and receives with
 * shmif_recv_batch. The lossless backend is the same with readers that ask
 * for lossless delivery (shmif_set_lossless, writers wait up to a second
 * for them).
 *
 * libshmif is loaded with dlopen("libshmif.so.0") by the processes that use
 * it, and only by them: the Go runtime and its threads are then in the
 * libshmif processes alone, not in the parent, the VDE processes, the floor
 * or the NetBSD-style reader. dlopen searches as the dynamic linker does for
 * a linked library (LD_LIBRARY_PATH, then the program's run path: $ORIGIN,
 * the directory of the program, as scripts/bench.sh links it). The calls go
 * through pointers of the types rump/rump.h declares.
 */
#include "bench.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

static struct {
	__typeof__(rump_pub_shmif_create) *create;
	__typeof__(shmif_destroy) *destroy;
	__typeof__(shmif_set_spin) *set_spin;
	__typeof__(shmif_send) *send;
	__typeof__(shmif_send_batch) *send_batch;
	__typeof__(shmif_recv_batch) *recv_batch;
	__typeof__(shmif_get_stats) *get_stats;
	__typeof__(shmif_set_lossless) *set_lossless;
} lib;

static void sym(void *h, void *fp, const char *name)
{
	void *s = dlsym(h, name);
	if (s == NULL)
		die("libshmif.so.0: no %s", name);
	memcpy(fp, &s, sizeof s); /* POSIX: a data pointer holds a function's address */
}

static void load(void)
{
	if (lib.create != NULL)
		return;
	void *h = dlopen("libshmif.so.0", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		die("dlopen libshmif.so.0: %s", dlerror());
	sym(h, &lib.create, "rump_pub_shmif_create");
	sym(h, &lib.destroy, "shmif_destroy");
	sym(h, &lib.set_spin, "shmif_set_spin");
	sym(h, &lib.send, "shmif_send");
	sym(h, &lib.send_batch, "shmif_send_batch");
	sym(h, &lib.recv_batch, "shmif_recv_batch");
	sym(h, &lib.get_stats, "shmif_get_stats");
	sym(h, &lib.set_lossless, "shmif_set_lossless");
}

static int ifnum_of(struct port *p) { return (int)(intptr_t)p->state; }

static void shmif_open_port(struct port *p, int flags)
{
	(void)flags;
	load();
	int ifnum, rc = lib.create(opt.path, &ifnum);
	if (rc != 0)
		die("rump_pub_shmif_create %s: %s", opt.path, strerror(rc));
	if (opt.spin_us >= 0 && (rc = lib.set_spin(ifnum, opt.spin_us)) != 0)
		die("shmif_set_spin: %s", strerror(rc));
	if (backend_of_role() == B_LOSSLESS && strcmp(opt.role, "reader") == 0 &&
	    (rc = lib.set_lossless(ifnum, 1000)) != 0)
		die("shmif_set_lossless: %s", strerror(rc));
	p->state = (void *)(intptr_t)ifnum;
}

static void shmif_close_port(struct port *p) { lib.destroy(ifnum_of(p)); }

static int shmif_send_port(struct port *p, const struct shmif_frame *f, size_t n)
{
	return n == 1 ? lib.send(ifnum_of(p), f[0].data, f[0].len) : lib.send_batch(ifnum_of(p), f, n);
}

static int shmif_recv_port(struct port *p, struct shmif_frame *f, size_t max, int timeout_ms, size_t *got)
{
	int rc = lib.recv_batch(ifnum_of(p), f, max, got, timeout_ms);
	return rc == EAGAIN || rc == ETIMEDOUT ? 0 : rc;
}

static long long shmif_lost_port(struct port *p)
{
	struct shmif_stats st;
	if (lib.get_stats(ifnum_of(p), &st) != 0)
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
