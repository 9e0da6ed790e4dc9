/*
 * The public C functions of libshmif, as declared in <rump/rump.h>, each
 * forwarding to the Go export that does the work (the Go files of capi). Because this
 * file includes the header, every prototype in it is checked against a
 * definition here by the compiler.
 */
#include <rump/rump.h>

#include "_cgo_export.h"
#include "limits.h"

/* A real rump kernel linked into the same program takes precedence. */
/* rump_init waits for the Go runtime to be initialised (as every call into
 * Go does), so that nothing it does at start-up (limits.c) comes after the
 * host's own set-up. */
__attribute__((weak)) int rump_init(void) { FIRST_CALL(shmifgo_init()); }

int rump_pub_shmif_create(const char *path, int *ifnum)
{
	if (path == NULL)
		FIRST_CALL(shmifgo_create(-1, ifnum));
	FIRST_CALL(shmifgo_create_bus((char *)path, 0644, ifnum));
}

int shmif_open(const char *path, unsigned int mode, int *ifnum)
{
	FIRST_CALL(shmifgo_create_bus((char *)path, mode, ifnum));
}

int shmif_create(int unit, int *ifnum) { FIRST_CALL(shmifgo_create(unit, ifnum)); }
int shmif_destroy(int ifnum) { FIRST_CALL(shmifgo_destroy(ifnum)); }

int shmif_set_linkstr(int ifnum, const char *path)
{
	FIRST_CALL(shmifgo_set_linkstr_mode(ifnum, (char *)path, 0644));
}

int shmif_set_linkstr_mode(int ifnum, const char *path, unsigned int mode)
{
	FIRST_CALL(shmifgo_set_linkstr_mode(ifnum, (char *)path, mode));
}

int shmif_unset_linkstr(int ifnum) { FIRST_CALL(shmifgo_unset_linkstr(ifnum)); }

int shmif_get_linkstr(int ifnum, char *buf, size_t buflen, size_t *needed)
{
	FIRST_CALL(shmifgo_get_linkstr(ifnum, buf, buflen, needed));
}

int shmif_up(int ifnum) { FIRST_CALL(shmifgo_up(ifnum)); }
int shmif_down(int ifnum) { FIRST_CALL(shmifgo_down(ifnum)); }
int shmif_get_flags(int ifnum, int *flags) { FIRST_CALL(shmifgo_get_flags(ifnum, flags)); }
int shmif_get_mtu(int ifnum, int *mtu) { FIRST_CALL(shmifgo_get_mtu(ifnum, mtu)); }
int shmif_get_mac(int ifnum, uint8_t mac[6]) { FIRST_CALL(shmifgo_get_mac(ifnum, mac)); }
int shmif_get_sender(int ifnum, uint64_t *sender) { FIRST_CALL(shmifgo_get_sender(ifnum, sender)); }
int shmif_set_mac(int ifnum, const uint8_t mac[6]) { FIRST_CALL(shmifgo_set_mac(ifnum, (uint8_t *)mac)); }
int shmif_set_promisc(int ifnum, int on) { FIRST_CALL(shmifgo_set_promisc(ifnum, on)); }
int shmif_set_media(int ifnum, int media) { FIRST_CALL(shmifgo_set_media(ifnum, media)); }
int shmif_get_media(int ifnum, int *media) { FIRST_CALL(shmifgo_get_media(ifnum, media)); }
int shmif_get_link_state(int ifnum, int *state) { FIRST_CALL(shmifgo_get_link_state(ifnum, state)); }
int shmif_get_stats(int ifnum, struct shmif_stats *st) { FIRST_CALL(shmifgo_get_stats(ifnum, st)); }

int shmif_send(int ifnum, const void *frame, size_t len)
{
	FIRST_CALL(shmifgo_send(ifnum, (void *)frame, len));
}

int shmif_recv(int ifnum, void *buf, size_t buflen, size_t *len, int timeout_ms)
{
	FIRST_CALL(shmifgo_recv(ifnum, buf, buflen, len, timeout_ms));
}

int shmif_recv_frame(int ifnum, struct shmif_frame *frame, int timeout_ms)
{
	FIRST_CALL(shmifgo_recv_frame(ifnum, frame, timeout_ms));
}

int shmif_send_batch(int ifnum, const struct shmif_frame *frames, size_t n)
{
	FIRST_CALL(shmifgo_send_batch(ifnum, (struct shmif_frame *)frames, n));
}

int shmif_recv_batch(int ifnum, struct shmif_frame *frames, size_t n, size_t *received, int timeout_ms)
{
	FIRST_CALL(shmifgo_recv_batch(ifnum, frames, n, received, timeout_ms));
}

int shmif_get_pollfd(int ifnum, int *fd) { FIRST_CALL(shmifgo_get_pollfd(ifnum, fd)); }
int shmif_set_spin(int ifnum, int usec) { FIRST_CALL(shmifgo_set_spin(ifnum, usec)); }
int shmif_get_spin(int ifnum, int *usec) { FIRST_CALL(shmifgo_get_spin(ifnum, usec)); }
int shmif_set_start(int ifnum, int start) { FIRST_CALL(shmifgo_set_start(ifnum, start)); }
int shmif_set_lossless(int ifnum, int max_wait_ms) { FIRST_CALL(shmifgo_set_lossless(ifnum, max_wait_ms)); }
int shmif_get_lossless(int ifnum, int *max_wait_ms, int *active) { FIRST_CALL(shmifgo_get_lossless(ifnum, max_wait_ms, active)); }
int shmif_cancel(int ifnum) { FIRST_CALL(shmifgo_cancel(ifnum)); }
int shmif_get_capabilities(int ifnum, uint32_t *caps) { FIRST_CALL(shmifgo_get_capabilities(ifnum, caps)); }
int shmif_get_capenable(int ifnum, uint32_t *capenable) { FIRST_CALL(shmifgo_get_capenable(ifnum, capenable)); }
int shmif_set_capenable(int ifnum, uint32_t capenable) { FIRST_CALL(shmifgo_set_capenable(ifnum, capenable)); }

int shmif_send_offload(int ifnum, const void *frame, size_t len, uint32_t csum_flags, uint32_t mss)
{
	FIRST_CALL(shmifgo_send_offload(ifnum, (void *)frame, len, csum_flags, mss));
}

int shmif_capture(const char *bus, int fd, int follow_ms, uint64_t *frames, uint64_t *lost)
{
	FIRST_CALL(shmifgo_capture((char *)bus, fd, follow_ms, frames, lost));
}

int shmif_inject(const char *bus, int fd, uint64_t *frames)
{
	FIRST_CALL(shmifgo_inject((char *)bus, fd, frames));
}

int shmif_bridge_open(const char *bus, const char *endpoint, const char *options, int *bridge)
{
	FIRST_CALL(shmifgo_bridge_open((char *)bus, (char *)endpoint, (char *)options, bridge));
}

int shmif_bridge_attach(int ifnum, const char *endpoint, const char *options, int *bridge)
{
	FIRST_CALL(shmifgo_bridge_attach(ifnum, (char *)endpoint, (char *)options, bridge));
}

int shmif_bridge_close(int bridge) { FIRST_CALL(shmifgo_bridge_close(bridge)); }

int shmif_bridge_get_stats(int bridge, struct shmif_bridge_stats *st)
{
	FIRST_CALL(shmifgo_bridge_get_stats(bridge, st));
}

int shmif_bridge_command(int bridge, const char *command, char *reply, size_t replylen, size_t *needed)
{
	FIRST_CALL(shmifgo_bridge_command(bridge, (char *)command, reply, replylen, needed));
}
