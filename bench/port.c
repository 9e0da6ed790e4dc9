/*
 * port.c -- a role process's attachment to the bus, hub or ring of its
 * backend (--backend of the role: one of them), through the backend's
 * port_ops (backend-shmif.c, backend-vde.c, backend-floor.c). The roles
 * (roles.c) do the same work per frame on every backend.
 */
#include "bench.h"

#include <stdlib.h>

enum backend backend_of_role(void)
{
	return opt.backends & 1 << B_VDE        ? B_VDE
	       : opt.backends & 1 << B_FLOOR    ? B_FLOOR
	       : opt.backends & 1 << B_LOSSLESS ? B_LOSSLESS
	                                        : B_SHMIF;
}

/* Attaches to the bus, hub or ring file at opt.path; dies on failure. */
void port_open(struct port *p, int flags)
{
	static const struct port_ops *const ops[B_COUNT] = {
	    [B_SHMIF] = &shmif_port_ops, [B_VDE] = &vde_port_ops, [B_FLOOR] = &floor_port_ops,
	    [B_LOSSLESS] = &shmif_port_ops};
	p->ops = ops[backend_of_role()];
	p->state = NULL;
	p->ops->open(p, flags);
}

void port_close(struct port *p) { p->ops->close(p); }

/* Sends n frames; returns 0 or an errno value. */
int port_send(struct port *p, const struct shmif_frame *f, size_t n) { return p->ops->send(p, f, n); }

/* Receives up to max frames, waiting up to timeout_ms (0: only looks) for
 * the first; *got is 0 if none came. Returns 0 or an errno value. */
int port_recv(struct port *p, struct shmif_frame *f, size_t max, int timeout_ms, size_t *got)
{
	*got = 0;
	return p->ops->recv(p, f, max, timeout_ms, got);
}

/* libshmif's count of frames this interface was lapped by; -1 elsewhere. */
long long port_lost(struct port *p) { return p->ops->lost(p); }

struct shmif_frame *rx_frames(size_t n)
{
	struct shmif_frame *f = xcalloc(n, sizeof *f);
	uint8_t *buf = xcalloc(n, RX_CAP);
	for (size_t k = 0; k < n; k++) {
		f[k].data = buf + k * RX_CAP;
		f[k].cap = RX_CAP;
	}
	return f;
}

int recv_timeout(void) { return opt.wait_spin ? 0 : RECV_WAIT_MS; }
