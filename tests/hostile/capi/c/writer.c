/*
 * writer.c -- a writer to be killed: it attaches to BUS, prints "ready" and
 * sends self-checking frames (common.h) numbered from 0 under writer id ID,
 * for ever or COUNT frames.
 *
 * usage: writer BUS MODE ID [COUNT]
 *   MODE single     one shmif_send per frame, lengths 34..1514
 *        batch256   shmif_send_batch of 256 frames
 *        batch1000  shmif_send_batch of 1000 frames (several holds of the
 *                   lock, and more than a quarter of the ring)
 *        small256   batches of 256 frames of 34..60 bytes
 *        inject     shmif_inject of pcap files of 300 frames (the bus lock
 *                   held for 256 frames at a time)
 *        capture    following captures and snapshots into /dev/null (the
 *                   lock taken to read), sending nothing
 * With COUNT it sends COUNT frames, prints "sent N first_ms=... max_ms=...
 * end_ns=..." (the time its first send took, its slowest send, and the
 * CLOCK_MONOTONIC time it finished), destroys the interface and exits 0.
 */
#include "common.h"

#include <fcntl.h>
#include <sys/mman.h>

/* pcap_of writes a pcap file of frames (id, seq .. seq+n-1) to a memfd. */
static int
pcap_of(const uint8_t mac[6], uint32_t id, uint32_t seq, int n)
{
	int fd = memfd_create("pcap", 0);
	uint32_t h[6] = { 0xa1b2c3d4, 2 | 4 << 16, 0, 0, 65535, 1 };
	uint8_t f[SHMIF_MAXFRAME];

	if (write(fd, h, sizeof h) != sizeof h)
		exit(1);
	for (int i = 0; i < n; i++) {
		size_t len = hframe_len(id, seq + i);
		uint32_t r[4] = { 1700000000, 0, (uint32_t)len, (uint32_t)len };
		hframe_build(f, len, mac, id, seq + i);
		if (write(fd, r, sizeof r) != sizeof r || write(fd, f, len) != (ssize_t)len)
			exit(1);
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

int
main(int argc, char **argv)
{
	int n, rc;
	uint8_t mac[6];
	size_t batch = 1;
	long count;
	uint32_t id, seq = 0;
	int small = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4) {
		fprintf(stderr, "usage: writer BUS MODE ID [COUNT]\n");
		return 2;
	}
	if (strcmp(argv[2], "batch256") == 0)
		batch = 256;
	else if (strcmp(argv[2], "batch1000") == 0)
		batch = 1000;
	else if (strcmp(argv[2], "small256") == 0)
		batch = 256, small = 1;
	id = (uint32_t)strtoul(argv[3], NULL, 0);
	count = argc > 4 ? atol(argv[4]) : -1;

	uint8_t *buf = malloc(batch * SHMIF_MAXFRAME);
	struct shmif_frame *fr = calloc(batch, sizeof *fr);

	MUST(rump_pub_shmif_create(argv[1], &n));
	MUST(shmif_get_mac(n, mac));
	if (strcmp(argv[2], "inject") == 0) {
		printf("ready\n");
		for (;;) {
			int fd = pcap_of(mac, id, seq, 300);
			uint64_t frames = 0;
			rc = shmif_inject(argv[1], fd, &frames);
			close(fd);
			if (rc != 0 || frames != 300) {
				FAIL("writer %u: inject = %s, %llu frames", id, en(rc), (unsigned long long)frames);
				return finish();
			}
			seq += 300;
		}
	}
	if (strcmp(argv[2], "capture") == 0) {
		int null = open("/dev/null", O_WRONLY);
		printf("ready\n");
		for (int i = 0;; i++) {
			rc = shmif_capture(argv[1], null, i % 2 ? 0 : 20, NULL, NULL);
			if (rc != 0) {
				FAIL("capture = %s", en(rc));
				return finish();
			}
		}
	}
	printf("ready\n");
	int64_t first = -1, worst = 0;
	while (count < 0 || seq < (uint64_t)count) {
		size_t k = 0;
		for (; k < batch && (count < 0 || seq < (uint64_t)count); k++, seq++) {
			size_t len = small ? 34 + seq % 27 : hframe_len(id, seq);
			hframe_build(buf + k * SHMIF_MAXFRAME, len, mac, id, seq);
			fr[k] = (struct shmif_frame){ .data = buf + k * SHMIF_MAXFRAME, .len = len };
		}
		int64_t t0 = now_ns();
		if (batch == 1)
			rc = shmif_send(n, fr[0].data, fr[0].len);
		else
			rc = shmif_send_batch(n, fr, k);
		int64_t d = now_ns() - t0;
		if (first < 0)
			first = d;
		if (d > worst)
			worst = d;
		if (rc != 0) {
			FAIL("writer %u: send = %s", id, en(rc));
			return finish();
		}
	}
	printf("sent %ld first_ms=%.3f max_ms=%.3f end_ns=%lld\n", count, first / 1e6, worst / 1e6,
	    (long long)now_ns());
	EXPECT_RC(shmif_destroy(n), 0);
	return finish();
}
