/*
 * hello -- the smallest libshmif program: two interfaces on one bus, and a
 * frame from the first received by the second.
 *
 *   hello [BUS]
 *
 * BUS is the bus file, created if needed; without it the bus is a new file
 * under $TMPDIR (or /tmp), removed at the end. Prints the frame that arrived
 * and exits 0; an error is printed and exits 1 (2 for bad arguments).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rump/rump.h>

/* Reports a failed call (rc, an errno value); returns whether it failed. */
static int failed(const char *what, int rc)
{
	if (rc != 0)
		fprintf(stderr, "hello: %s: %s\n", what, strerror(rc));
	return rc != 0;
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], tmpbus[sizeof dir + 8];
	const char *bus = argc > 1 ? argv[1] : tmpbus;
	uint8_t frame[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }; /* to all */
	uint8_t buf[SHMIF_MAXFRAME], *src = buf + 6;
	size_t len = 0;
	int a = -1, b = -1, rc = 1;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: hello [BUS]\n");
		return 2;
	}
	if (argc == 1) {
		if (tmp == NULL || *tmp == '\0')
			tmp = "/tmp";
		snprintf(dir, sizeof dir, "%s/shmif-hello-XXXXXX", tmp);
		if (mkdtemp(dir) == NULL)
			return failed("mkdtemp", errno);
		snprintf(tmpbus, sizeof tmpbus, "%s/bus", dir);
	}
	if (failed("create a", rump_pub_shmif_create(bus, &a)) ||
	    failed("create b", rump_pub_shmif_create(bus, &b)) ||
	    failed("get_mac", shmif_get_mac(a, frame + 6)))
		goto out;
	frame[12] = 0x88, frame[13] = 0xb5; /* an EtherType for experiments */
	memcpy(frame + 14, "hello, shmif", 12);
	if (failed("send", shmif_send(a, frame, sizeof frame)))
		goto out;
	/*
	 * Wait up to 2 s for each frame. b may first get frames a did not send:
	 * the bus's newest frame, received again at create, or others' frames.
	 */
	do {
		if (failed("recv", shmif_recv(b, buf, sizeof buf, &len, 2000)))
			goto out;
	} while (memcmp(src, frame + 6, 6) != 0);
	printf("shmif%d received %zu bytes from ", b, len);
	printf("%02x:%02x:%02x:%02x:%02x:%02x (shmif%d): %.*s\n",
	    src[0], src[1], src[2], src[3], src[4], src[5], a,
	    (int)(len - 14), (char *)buf + 14);
	rc = 0;
out:
	if (b >= 0 && failed("destroy b", shmif_destroy(b)))
		rc = 1;
	if (a >= 0 && failed("destroy a", shmif_destroy(a)))
		rc = 1;
	if (argc == 1 && ((unlink(tmpbus) != 0 && errno != ENOENT) ||
	    rmdir(dir) != 0))
		rc = failed("remove the bus", errno);
	return rc;
}
