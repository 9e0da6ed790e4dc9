/*
 * pcap.c -- hostile input for shmif_inject and hostile output for
 * shmif_capture.
 *
 * usage: pcap MODE DIR
 *   inject DIR     damaged pcap and pcapng files: refused with EINVAL or
 *                  EMSGSIZE, nothing written ("Every frame is checked before
 *                  any is written"), no crash, memory bounded
 *   capture DIR    captures into pipes closed mid-way (EPIPE), read-only
 *                  and full descriptors, slow non-blocking pipes; snapshots
 *                  and following captures of damaged and truncated buses;
 *                  many captures at once
 *   sigpipe DIR    a following capture into a pipe whose reader went away,
 *                  with SIGPIPE at its default disposition: prints what
 *                  happened (the process may die of SIGPIPE, as write(2)
 *                  makes it)
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

static const char *dir;
static char bus[4096];

/* ---- building pcap files ---- */

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void
put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put16(struct buf *b, uint16_t v) { put(b, &v, 2); }
static void put32be(struct buf *b, uint32_t v) { v = __builtin_bswap32(v); put(b, &v, 4); }
static void put16be(struct buf *b, uint16_t v) { v = (uint16_t)__builtin_bswap16(v); put(b, &v, 2); }

static void
pcap_hdr(struct buf *b, uint32_t magic, uint32_t snap, uint32_t link)
{
	put32(b, magic);
	put16(b, 2);
	put16(b, 4);
	put32(b, 0);
	put32(b, 0);
	put32(b, snap);
	put32(b, link);
}

static void
frame_bytes(struct buf *b, size_t n, uint32_t seq)
{
	uint8_t f[SHMIF_MAXFRAME + 100];
	static const uint8_t mac[6] = { 0xb2, 0xa0, 7, 7, 7, 7 };

	if (n >= HFRAME_MIN && n <= SHMIF_MAXFRAME)
		hframe_build(f, n, mac, 0x7ec, seq);
	else {
		memset(f, 0xab, sizeof f);
		memset(f, 0xff, 6);
	}
	put(b, f, n);
}

static void
pcap_rec(struct buf *b, uint32_t incl, uint32_t orig, size_t present, uint32_t seq)
{
	put32(b, 1700000000);
	put32(b, 123456);
	put32(b, incl);
	put32(b, orig);
	frame_bytes(b, present, seq);
}

/* pcapng blocks */
static void
ng_shb(struct buf *b, uint32_t len, uint32_t bom, uint32_t trail)
{
	put32(b, 0x0A0D0D0A);
	put32(b, len);
	put32(b, bom);
	put16(b, 1);
	put16(b, 0);
	put32(b, 0xffffffff);
	put32(b, 0xffffffff);
	put32(b, trail);
}

static void
ng_idb(struct buf *b, uint16_t link)
{
	put32(b, 1);
	put32(b, 20);
	put16(b, link);
	put16(b, 0);
	put32(b, 0);
	put32(b, 20);
}

static void
ng_epb(struct buf *b, uint32_t ifid, uint32_t cap, uint32_t orig, size_t present, uint32_t len_field, uint32_t seq)
{
	size_t pad = (4 - present % 4) % 4;
	uint32_t len = (uint32_t)(32 + present + pad);

	put32(b, 6);
	put32(b, len_field ? len_field : len);
	put32(b, ifid);
	put32(b, 0);
	put32(b, 1000);
	put32(b, cap);
	put32(b, orig);
	frame_bytes(b, present, seq);
	for (size_t i = 0; i < pad; i++)
		put(b, "", 1);
	put32(b, len_field ? len_field : len);
}

/* ---- inject ---- */

static int rx_if;

struct icase {
	const char *name;
	int want[3]; /* accepted results, -1 ends */
	uint32_t frames; /* frames on success */
	void (*make)(struct buf *b);
};

#define OK1 { 0, -1, -1 }
#define INVAL { EINVAL, -1, -1 }
#define MSGSIZE { EMSGSIZE, -1, -1 }
#define INVAL_OR_MSGSIZE { EINVAL, EMSGSIZE, -1 }
#define OK_OR_INVAL { 0, EINVAL, -1 }

static void m_empty(struct buf *b) { (void)b; }
static void m_short_hdr(struct buf *b) { put32(b, 0xa1b2c3d4); put16(b, 2); put16(b, 4); put16(b, 0); }
static void m_bad_magic(struct buf *b) { pcap_hdr(b, 0x12345678, 65535, 1); pcap_rec(b, 60, 60, 60, 0); }
static void m_raw_link(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 101); pcap_rec(b, 60, 60, 60, 0); }
static void m_linktype_huge(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 0xffffffff); pcap_rec(b, 60, 60, 60, 0); }
static void m_no_records(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 1); }
static void m_incl_ff(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 1); pcap_rec(b, 0xffffffff, 0xffffffff, 60, 0); }
static void m_incl_2g(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 1); pcap_rec(b, 0x80000000, 0x80000000, 60, 0); }
static void m_incl_13(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 1); pcap_rec(b, 13, 13, 13, 0); }
static void m_incl_0(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 1); pcap_rec(b, 0, 0, 0, 0); }
static void m_incl_1515(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 1); pcap_rec(b, 1515, 1515, 1515, 0); }
static void m_partial(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 1); pcap_rec(b, 60, 100, 60, 0); }
static void m_incl_over_orig(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 1); pcap_rec(b, 100, 60, 100, 0); }
static void m_trunc_data(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 1); pcap_rec(b, 60, 60, 30, 0); }
static void m_trunc_rechdr(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 65535, 1); pcap_rec(b, 60, 60, 60, 0); put32(b, 1); put32(b, 2); }
static void m_good_then_bad(struct buf *b)
{
	pcap_hdr(b, 0xa1b2c3d4, 65535, 1);
	for (uint32_t i = 0; i < 1000; i++)
		pcap_rec(b, 60, 60, 60, i);
	pcap_rec(b, 13, 13, 13, 0);
}
static void m_good_then_trunc(struct buf *b)
{
	pcap_hdr(b, 0xa1b2c3d4, 65535, 1);
	for (uint32_t i = 0; i < 1000; i++)
		pcap_rec(b, 60, 60, 60, i);
	pcap_rec(b, 60, 60, 20, 0);
}
static void m_snap0(struct buf *b) { pcap_hdr(b, 0xa1b2c3d4, 0, 1); pcap_rec(b, 60, 60, 60, 0); }
static void m_usec_big(struct buf *b)
{
	pcap_hdr(b, 0xa1b2c3d4, 65535, 1);
	put32(b, 0xffffffff);
	put32(b, 0xffffffff);
	put32(b, 60);
	put32(b, 60);
	frame_bytes(b, 60, 0);
}
static void m_nsec(struct buf *b) { pcap_hdr(b, 0xa1b23c4d, 65535, 1); pcap_rec(b, 60, 60, 60, 0); pcap_rec(b, 1514, 1514, 1514, 1); }
static void m_bigendian(struct buf *b)
{
	put32be(b, 0xa1b2c3d4);
	put16be(b, 2);
	put16be(b, 4);
	put32be(b, 0);
	put32be(b, 0);
	put32be(b, 65535);
	put32be(b, 1);
	put32be(b, 1);
	put32be(b, 0);
	put32be(b, 60);
	put32be(b, 60);
	frame_bytes(b, 60, 0);
}
static void m_ng_shb_only(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); }
static void m_ng_len0(struct buf *b) { ng_shb(b, 0, 0x1A2B3C4D, 0); ng_idb(b, 1); ng_epb(b, 0, 60, 60, 60, 0, 0); }
static void m_ng_len7(struct buf *b) { ng_shb(b, 7, 0x1A2B3C4D, 7); ng_idb(b, 1); ng_epb(b, 0, 60, 60, 60, 0, 0); }
static void m_ng_lenff(struct buf *b) { ng_shb(b, 0xffffffff, 0x1A2B3C4D, 0xffffffff); ng_idb(b, 1); }
static void m_ng_bom(struct buf *b) { ng_shb(b, 28, 0x12345678, 28); ng_idb(b, 1); ng_epb(b, 0, 60, 60, 60, 0, 0); }
static void m_ng_trail(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 32); ng_idb(b, 1); ng_epb(b, 0, 60, 60, 60, 0, 0); }
static void m_ng_rawlink(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); ng_idb(b, 101); ng_epb(b, 0, 60, 60, 60, 0, 0); }
static void m_ng_noidb(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); ng_epb(b, 0, 60, 60, 60, 0, 0); }
static void m_ng_ifid(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); ng_idb(b, 1); ng_epb(b, 5, 60, 60, 60, 0, 0); }
static void m_ng_cap_over_block(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); ng_idb(b, 1); ng_epb(b, 0, 200, 200, 60, 0, 0); }
static void m_ng_cap13(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); ng_idb(b, 1); ng_epb(b, 0, 13, 13, 13, 0, 0); }
static void m_ng_partial(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); ng_idb(b, 1); ng_epb(b, 0, 60, 100, 60, 0, 0); }
static void m_ng_capff(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); ng_idb(b, 1); ng_epb(b, 0, 0xffffffff, 0xffffffff, 60, 0, 0); }
static void m_ng_epb_lenff(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); ng_idb(b, 1); ng_epb(b, 0, 60, 60, 60, 0xffffffff, 0); }
static void m_ng_epb_len8(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); ng_idb(b, 1); ng_epb(b, 0, 60, 60, 60, 8, 0); }
static void m_ng_good(struct buf *b)
{
	ng_shb(b, 28, 0x1A2B3C4D, 28);
	ng_idb(b, 1);
	for (uint32_t i = 0; i < 3; i++)
		ng_epb(b, 0, 100, 100, 100, 0, i);
}
static void m_ng_unknown_block(struct buf *b)
{
	ng_shb(b, 28, 0x1A2B3C4D, 28);
	ng_idb(b, 1);
	put32(b, 0x12345678);
	put32(b, 16);
	put32(b, 0);
	put32(b, 16);
	ng_epb(b, 0, 60, 60, 60, 0, 0);
}
static void m_ng_bad_option(struct buf *b)
{
	ng_shb(b, 28, 0x1A2B3C4D, 28);
	/* an IDB whose option claims 0xffff bytes */
	put32(b, 1);
	put32(b, 28);
	put16(b, 1);
	put16(b, 0);
	put32(b, 0);
	put16(b, 9);
	put16(b, 0xffff);
	put32(b, 0);
	put32(b, 28);
	ng_epb(b, 0, 60, 60, 60, 0, 0);
}
static void m_ng_tsresol(struct buf *b)
{
	ng_shb(b, 28, 0x1A2B3C4D, 28);
	/* if_tsresol 2^-127 and 10^-255: absurd resolutions */
	put32(b, 1);
	put32(b, 32);
	put16(b, 1);
	put16(b, 0);
	put32(b, 0);
	put16(b, 9);
	put16(b, 1);
	put32(b, 0x000000ff);
	put32(b, 0);
	put32(b, 32);
	put32(b, 6);
	put32(b, 32 + 60);
	put32(b, 0);
	put32(b, 0xffffffff);
	put32(b, 0xffffffff);
	put32(b, 60);
	put32(b, 60);
	frame_bytes(b, 60, 0);
	put32(b, 32 + 60);
}
static void m_ng_truncated(struct buf *b) { ng_shb(b, 28, 0x1A2B3C4D, 28); ng_idb(b, 1); ng_epb(b, 0, 60, 60, 60, 0, 0); b->n -= 10; }
static void m_ng_bigendian(struct buf *b)
{
	put32be(b, 0x0A0D0D0A);
	put32be(b, 28);
	put32be(b, 0x1A2B3C4D);
	put16be(b, 1);
	put16be(b, 0);
	put32be(b, 0xffffffff);
	put32be(b, 0xffffffff);
	put32be(b, 28);
	put32be(b, 1);
	put32be(b, 20);
	put16be(b, 1);
	put16be(b, 0);
	put32be(b, 0);
	put32be(b, 20);
	put32be(b, 6);
	put32be(b, 32 + 60);
	put32be(b, 0);
	put32be(b, 0);
	put32be(b, 1000);
	put32be(b, 60);
	put32be(b, 60);
	frame_bytes(b, 60, 0);
	put32be(b, 32 + 60);
}
static void m_ng_spb(struct buf *b)
{
	ng_shb(b, 28, 0x1A2B3C4D, 28);
	ng_idb(b, 1);
	put32(b, 3);
	put32(b, 16 + 60);
	put32(b, 60);
	frame_bytes(b, 60, 0);
	put32(b, 16 + 60);
}

static const struct icase icases[] = {
	{ "empty input", INVAL, 0, m_empty },
	{ "pcap: short header", INVAL, 0, m_short_hdr },
	{ "pcap: bad magic", INVAL, 0, m_bad_magic },
	{ "pcap: link type raw IP", INVAL, 0, m_raw_link },
	{ "pcap: link type 0xffffffff", INVAL, 0, m_linktype_huge },
	{ "pcap: no records", OK1, 0, m_no_records },
	{ "pcap: incl_len 0xffffffff", INVAL_OR_MSGSIZE, 0, m_incl_ff },
	{ "pcap: incl_len 2^31", INVAL_OR_MSGSIZE, 0, m_incl_2g },
	{ "pcap: incl_len 13", MSGSIZE, 0, m_incl_13 },
	{ "pcap: incl_len 0", MSGSIZE, 0, m_incl_0 },
	{ "pcap: incl_len 1515", MSGSIZE, 0, m_incl_1515 },
	{ "pcap: captured in part", MSGSIZE, 0, m_partial },
	{ "pcap: incl_len over orig_len", { EINVAL, EMSGSIZE, 0 }, 1, m_incl_over_orig },
	{ "pcap: truncated frame", INVAL, 0, m_trunc_data },
	{ "pcap: truncated record header", INVAL, 0, m_trunc_rechdr },
	{ "pcap: 1000 frames then 13 bytes", MSGSIZE, 0, m_good_then_bad },
	{ "pcap: 1000 frames then a truncated one", INVAL, 0, m_good_then_trunc },
	{ "pcap: snap length 0", OK_OR_INVAL, 1, m_snap0 },
	{ "pcap: time stamp 0xffffffff.0xffffffff", OK_OR_INVAL, 1, m_usec_big },
	{ "pcap: nanoseconds", OK1, 2, m_nsec },
	{ "pcap: big-endian", OK_OR_INVAL, 1, m_bigendian },
	{ "pcapng: section header only", OK_OR_INVAL, 0, m_ng_shb_only },
	{ "pcapng: block length 0", INVAL, 0, m_ng_len0 },
	{ "pcapng: block length 7", INVAL, 0, m_ng_len7 },
	{ "pcapng: block length 0xffffffff", INVAL, 0, m_ng_lenff },
	{ "pcapng: bad byte-order magic", INVAL, 0, m_ng_bom },
	{ "pcapng: trailing length differs", INVAL, 0, m_ng_trail },
	{ "pcapng: link type raw IP", INVAL, 0, m_ng_rawlink },
	{ "pcapng: packet without interface", INVAL, 0, m_ng_noidb },
	{ "pcapng: interface id 5 of 1", INVAL, 0, m_ng_ifid },
	{ "pcapng: captured length over the block", INVAL, 0, m_ng_cap_over_block },
	{ "pcapng: captured length 13", MSGSIZE, 0, m_ng_cap13 },
	{ "pcapng: captured in part", MSGSIZE, 0, m_ng_partial },
	{ "pcapng: captured length 0xffffffff", INVAL_OR_MSGSIZE, 0, m_ng_capff },
	{ "pcapng: packet block length 0xffffffff", INVAL, 0, m_ng_epb_lenff },
	{ "pcapng: packet block length 8", INVAL, 0, m_ng_epb_len8 },
	{ "pcapng: interface option length 0xffff", INVAL, 0, m_ng_bad_option },
	{ "pcapng: absurd time resolution", OK_OR_INVAL, 1, m_ng_tsresol },
	{ "pcapng: truncated", INVAL, 0, m_ng_truncated },
	{ "pcapng: three frames", OK1, 3, m_ng_good },
	{ "pcapng: unknown block", OK_OR_INVAL, 1, m_ng_unknown_block },
	{ "pcapng: big-endian", OK_OR_INVAL, 1, m_ng_bigendian },
	{ "pcapng: simple packet block", OK_OR_INVAL, 1, m_ng_spb },
};

static int
memfd_of(struct buf *b)
{
	int fd = memfd_create("pcap", 0);

	if (b->n > 0 && write(fd, b->p, b->n) != (ssize_t)b->n)
		FAIL("memfd write");
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static uint8_t *
read_bus(void)
{
	uint8_t *p = malloc(SHMIF_BUSSIZE);
	int fd = open(bus, O_RDONLY);

	if (fd < 0 || pread(fd, p, SHMIF_BUSSIZE, 0) != SHMIF_BUSSIZE)
		FAIL("read bus");
	close(fd);
	return p;
}

static long
maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void
inject(void)
{
	uint8_t buf[SHMIF_MAXFRAME];
	size_t len;
	long rss0;

	snprintf(bus, sizeof bus, "%s/bus", dir);
	MUST(rump_pub_shmif_create(bus, &rx_if));
	MUST(shmif_set_start(rx_if, SHMIF_START_NEXT));
	MUST(shmif_up(rx_if));
	rss0 = maxrss_kb();
	for (size_t i = 0; i < sizeof icases / sizeof icases[0]; i++) {
		const struct icase *c = &icases[i];
		struct buf b = { 0 };
		uint64_t frames = 12345;

		c->make(&b);
		int fd = memfd_of(&b);
		uint8_t *before = read_bus();
		int64_t t0 = now_ns();
		int rc = shmif_inject(bus, fd, &frames);
		int64_t d = now_ns() - t0;
		close(fd);
		int ok = 0;
		for (int k = 0; k < 3 && c->want[k] != -1; k++)
			ok |= rc == c->want[k];
		CHECK(ok, "%s: shmif_inject = %s", c->name, en(rc));
		CHECK(d < 3000000000LL, "%s: shmif_inject took %.0f ms", c->name, d / 1e6);
		long got = 0;
		int rr;
		while ((rr = shmif_recv(rx_if, buf, sizeof buf, &len, 0)) == 0) {
			got++;
			CHECK(len >= SHMIF_MINFRAME && len <= SHMIF_MAXFRAME, "%s: a frame of %zu bytes", c->name, len);
		}
		CHECK(rr == EAGAIN, "%s: receive after inject = %s", c->name, en(rr));
		if (rc == 0) {
			CHECK(frames == c->frames && got == (long)c->frames, "%s: *frames %llu, received %ld, want %u",
			    c->name, (unsigned long long)frames, got, c->frames);
			if (c->want[0] != 0 || c->want[1] != -1)
				INFO("inject case=\"%s\" accepted (%llu frames)", c->name, (unsigned long long)frames);
		} else {
			uint8_t *after = read_bus();
			CHECK(got == 0, "%s: refused (%s) but %ld frames reached the bus", c->name, en(rc), got);
			/* the lock and holder words may have been taken and given back */
			memset(before + 24, 0, 8);
			memset(after + 24, 0, 8);
			CHECK(memcmp(before, after, SHMIF_BUSSIZE) == 0, "%s: refused (%s) but the bus file changed",
			    c->name, en(rc));
			CHECK(frames == 12345, "%s: refused but *frames was written (%llu)", c->name, (unsigned long long)frames);
			free(after);
		}
		free(before);
		free(b.p);
	}
	long rss1 = maxrss_kb();
	INFO("inject cases=%zu maxrss_growth_kb=%ld", sizeof icases / sizeof icases[0], rss1 - rss0);
	CHECK(rss1 - rss0 < 256 * 1024, "hostile lengths made the process grow by %ld KiB", rss1 - rss0);

	/* Inputs that are not files of bytes. */
	int rc = shmif_inject(bus, open(dir, O_RDONLY | O_DIRECTORY), NULL);
	CHECK(rc != 0, "shmif_inject from a directory succeeded");
	int wo = open(bus, O_WRONLY);
	rc = shmif_inject(bus, wo, NULL);
	CHECK(oneof(rc, EBADF, EINVAL, -1), "shmif_inject from a write-only descriptor = %s", en(rc));
	close(wo);
	/* A pipe that delivers the file a byte at a time. */
	struct buf b = { 0 };
	m_ng_good(&b);
	int p[2];
	if (pipe(p) == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			for (size_t i = 0; i < b.n; i++) {
				if (write(p[1], b.p + i, 1) != 1)
					_exit(1);
				usleep(100);
			}
			_exit(0);
		}
		close(p[1]);
		uint64_t frames = 0;
		rc = shmif_inject(bus, p[0], &frames);
		CHECK(rc == 0 && frames == 3, "shmif_inject from a trickling pipe = %s, %llu frames", en(rc),
		    (unsigned long long)frames);
		close(p[0]);
		while (shmif_recv(rx_if, buf, sizeof buf, &len, 0) == 0)
			;
	}
	EXPECT_RC(shmif_destroy(rx_if), 0);
}

/* ---- capture ---- */

static atomic_int tx_stop;
static int tx_if;

static void *
tx_thread(void *arg)
{
	uint8_t f[SHMIF_MAXFRAME], mac[6];
	uint32_t seq = 0;

	(void)arg;
	shmif_get_mac(tx_if, mac);
	while (!atomic_load(&tx_stop)) {
		size_t len = hframe_len(3, seq);
		hframe_build(f, len, mac, 3, seq++);
		int rc = shmif_send(tx_if, f, len);
		CHECK(oneof(rc, 0, EIO, ENOEXEC, -1), "sender = %s", en(rc));
		if (rc != 0)
			sleep_us(5000);
		sleep_us(500);
	}
	return NULL;
}

/* check_pcap parses a capture: a valid header, then whole records of
 * 14..1514 bytes; it returns the number of records. */
static long
check_pcap(const char *what, const uint8_t *p, size_t n, int require_whole)
{
	uint32_t v;
	long recs = 0;

	if (n < 24) {
		FAIL("%s: capture of %zu bytes has no pcap header", what, n);
		return -1;
	}
	memcpy(&v, p, 4);
	CHECK(v == 0xa1b2c3d4, "%s: pcap magic %#x", what, v);
	memcpy(&v, p + 16, 4);
	CHECK(v == 1518, "%s: snap length %u, want 1518", what, v);
	memcpy(&v, p + 20, 4);
	CHECK(v == 1, "%s: link type %u", what, v);
	size_t off = 24;
	while (off + 16 <= n) {
		uint32_t incl, orig;
		memcpy(&incl, p + off + 8, 4);
		memcpy(&orig, p + off + 12, 4);
		if (incl < SHMIF_MINFRAME || incl > SHMIF_MAXFRAME || incl != orig) {
			FAIL("%s: record %ld: lengths %u/%u", what, recs, incl, orig);
			return recs;
		}
		if (off + 16 + incl > n)
			break;
		uint32_t id, seq;
		if (require_whole && hframe_check(p + off + 16, incl, &id, &seq) != 1)
			FAIL("%s: record %ld is not a whole frame", what, recs);
		off += 16 + incl;
		recs++;
	}
	if (require_whole)
		CHECK(off == n, "%s: %zu bytes after the last whole record", what, n - off);
	return recs;
}

struct drain {
	int fd;
	size_t limit; /* close after this many bytes (0: never) */
	int slow;
	struct buf out;
	pthread_t th;
};

static void *
drain_thread(void *arg)
{
	struct drain *d = arg;
	uint8_t b[4096];

	for (;;) {
		struct pollfd p = { .fd = d->fd, .events = POLLIN };
		poll(&p, 1, 1000);
		ssize_t r = read(d->fd, b, d->slow ? 100 : sizeof b);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break;
		}
		put(&d->out, b, (size_t)r);
		if (d->limit && d->out.n >= d->limit)
			break;
		if (d->slow)
			sleep_us(2000);
	}
	close(d->fd);
	return NULL;
}

static volatile sig_atomic_t sigpipes;
static void on_pipe(int s) { (void)s; sigpipes++; }

struct cap {
	int follow;
	int rc;
	struct drain d;
	pthread_t th;
	int wfd;
	uint64_t frames, lost;
};

static void *
cap_thread(void *arg)
{
	struct cap *c = arg;

	c->rc = shmif_capture(bus, c->wfd, c->follow, &c->frames, &c->lost);
	close(c->wfd);
	return NULL;
}

static void
capture(void)
{
	int p[2], rc;
	uint64_t frames, lost;
	struct sigaction sa = { .sa_handler = on_pipe };

	snprintf(bus, sizeof bus, "%s/bus", dir);
	MUST(rump_pub_shmif_create(bus, &tx_if));
	pthread_t tx;
	pthread_create(&tx, NULL, tx_thread, NULL);

	/* A following capture into a pipe whose reader leaves after 3000
	 * bytes: EPIPE at the next write, long before follow_ms. The host's
	 * SIGPIPE handler runs. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	for (int follow = 5000; follow != 0; follow = follow == 5000 ? INT_MAX : 0) {
		struct drain d = { .limit = 3000 };
		if (pipe(p) != 0)
			return;
		d.fd = p[0];
		pthread_create(&d.th, NULL, drain_thread, &d);
		int64_t t0 = now_ns();
		rc = shmif_capture(bus, p[1], follow, &frames, &lost);
		int64_t took = now_ns() - t0;
		close(p[1]);
		pthread_join(d.th, NULL);
		INFO("capture(follow %d) into a pipe closed after %zu bytes: %s after %.0f ms, %llu frames, sigpipe handled %d",
		    follow, d.out.n, en(rc), took / 1e6, (unsigned long long)frames, (int)sigpipes);
		CHECK(rc == EPIPE, "capture(follow %d) into a closed pipe = %s, want EPIPE", follow, en(rc));
		CHECK(took < 3000000000LL, "capture(follow %d) into a closed pipe returned after %.0f ms", follow,
		    took / 1e6);
		check_pcap("a capture cut short", d.out.p, d.out.n, 0);
		free(d.out.p);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	/* Descriptors that cannot be written. */
	int ro = open(bus, O_RDONLY);
	EXPECT_RC(shmif_capture(bus, ro, 0, NULL, NULL), EBADF);
	EXPECT_RC(shmif_capture(bus, ro, 50, NULL, NULL), EBADF);
	close(ro);
	int full = open("/dev/full", O_WRONLY);
	if (full >= 0) {
		EXPECT_RC(shmif_capture(bus, full, 0, NULL, NULL), ENOSPC);
		close(full);
	}

	/* A slow reader on a non-blocking pipe: everything arrives, whole. */
	{
		struct drain d = { .slow = 1 };
		if (pipe2(p, O_NONBLOCK) != 0)
			return;
		d.fd = p[0];
		pthread_create(&d.th, NULL, drain_thread, &d);
		rc = shmif_capture(bus, p[1], 300, &frames, &lost);
		close(p[1]);
		pthread_join(d.th, NULL);
		CHECK(rc == 0, "capture into a slow non-blocking pipe = %s", en(rc));
		long recs = check_pcap("a capture into a slow pipe", d.out.p, d.out.n, 1);
		CHECK(rc != 0 || recs == (long)frames, "the pipe carried %ld records, *frames is %llu", recs,
		    (unsigned long long)frames);
		INFO("slow non-blocking pipe: %ld records, lost %llu", recs, (unsigned long long)lost);
		free(d.out.p);
	}

	/* Sixteen captures at once, half following, while frames flow. */
	{
		struct cap c[16];
		for (int i = 0; i < 16; i++) {
			memset(&c[i], 0, sizeof c[i]);
			c[i].follow = i % 2 ? 200 : 0;
			if (pipe(p) != 0)
				return;
			c[i].d.fd = p[0];
			c[i].wfd = p[1];
			pthread_create(&c[i].d.th, NULL, drain_thread, &c[i].d);
			pthread_create(&c[i].th, NULL, cap_thread, &c[i]);
		}
		for (int i = 0; i < 16; i++) {
			pthread_join(c[i].th, NULL);
			pthread_join(c[i].d.th, NULL);
			CHECK(c[i].rc == 0, "capture %d of 16 (follow %d) = %s", i, c[i].follow, en(c[i].rc));
			long recs = check_pcap("one of 16 captures", c[i].d.out.p, c[i].d.out.n, 1);
			CHECK(c[i].rc != 0 || recs == (long)c[i].frames, "capture %d: %ld records, *frames %llu", i, recs,
			    (unsigned long long)c[i].frames);
			free(c[i].d.out.p);
		}
	}
	atomic_store(&tx_stop, 1);
	pthread_join(tx, NULL);

	/* Snapshots and following captures of damaged buses: whole records
	 * of sane lengths, or EIO; never a crash. */
	{
		int fd = open(bus, O_RDWR);
		uint8_t *m = mmap(NULL, SHMIF_BUSSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		uint64_t s = 5;
		close(fd);
		for (int round = 0; round < 60; round++) {
			uint32_t *w = (uint32_t *)m;
			switch (round % 6) {
			case 0: w[4] = (uint32_t)rnd_next(&s); break; /* first */
			case 1: w[5] = (uint32_t)rnd_next(&s) % 1048544; break; /* last */
			case 2: *(uint64_t *)(m + 8) = rnd_next(&s); break; /* gen */
			case 3:
				for (int i = 0; i < 64; i++)
					m[32 + rnd_next(&s) % 1048544] = (uint8_t)rnd_next(&s);
				break;
			case 4: {
				uint32_t last = w[5] % 1048544, v = (uint32_t)rnd_next(&s);
				memcpy(m + 32 + last, &v, 4 <= 1048544 - last ? 4 : 0);
				break;
			}
			default:
				w[4] = 1048544;
				w[5] = 1048544 - 10;
				break;
			}
			struct drain d = { 0 };
			if (pipe(p) != 0)
				return;
			d.fd = p[0];
			pthread_create(&d.th, NULL, drain_thread, &d);
			int64_t t0 = now_ns();
			rc = shmif_capture(bus, p[1], round % 2 ? 0 : 20, &frames, NULL);
			int64_t took = now_ns() - t0;
			close(p[1]);
			pthread_join(d.th, NULL);
			CHECK(oneof(rc, 0, EIO, -1), "capture of a damaged bus (round %d) = %s", round, en(rc));
			CHECK(took < 3000000000LL, "capture of a damaged bus took %.0f ms", took / 1e6);
			if (rc == 0)
				check_pcap("capture of a damaged bus", d.out.p, d.out.n, 0);
			free(d.out.p);
		}
		munmap(m, SHMIF_BUSSIZE);
	}

	/* A following capture while the bus is truncated under it: EIO, in
	 * time; a snapshot of the truncated file: no crash. */
	{
		struct drain d = { 0 };
		if (pipe(p) != 0)
			return;
		d.fd = p[0];
		pthread_create(&d.th, NULL, drain_thread, &d);
		struct cap c = { .follow = 2000, .wfd = p[1] };
		pthread_create(&c.th, NULL, cap_thread, &c);
		sleep_us(100000);
		if (truncate(bus, 100) != 0)
			FAIL("truncate");
		int64_t t0 = now_ns();
		pthread_join(c.th, NULL);
		pthread_join(d.th, NULL);
		INFO("following capture of a bus truncated under it: %s, %.0f ms after the truncation", en(c.rc),
		    (now_ns() - t0) / 1e6);
		CHECK(oneof(c.rc, 0, EIO, -1), "following capture of a truncated bus = %s", en(c.rc));
		free(d.out.p);
		struct stat st;
		int pp[2];
		if (pipe2(pp, O_NONBLOCK) == 0) {
			rc = shmif_capture(bus, pp[1], 0, NULL, NULL);
			CHECK(oneof(rc, 0, EIO, ENOEXEC, -1), "snapshot of a 100-byte bus = %s", en(rc));
			stat(bus, &st);
			CHECK(st.st_size == 100, "a snapshot resized the bus file to %lld", (long long)st.st_size);
			close(pp[0]);
			close(pp[1]);
		}
	}
	shmif_destroy(tx_if);
}

/* sigpipe: default SIGPIPE disposition. */
static void
sigpipe(void)
{
	int p[2];
	uint64_t frames;

	snprintf(bus, sizeof bus, "%s/bus", dir);
	signal(SIGPIPE, SIG_DFL);
	MUST(rump_pub_shmif_create(bus, &tx_if));
	pthread_t tx;
	pthread_create(&tx, NULL, tx_thread, NULL);
	if (pipe(p) != 0)
		return;
	close(p[0]);
	printf("capturing\n");
	int rc = shmif_capture(bus, p[1], 1000, &frames, NULL);
	printf("INFO capture into a pipe without reader, SIGPIPE default: returned %s\n", en(rc));
	CHECK(rc == EPIPE, "capture = %s, want EPIPE", en(rc));
	atomic_store(&tx_stop, 1);
	pthread_join(tx, NULL);
	shmif_destroy(tx_if);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: pcap MODE DIR\n");
		return 2;
	}
	dir = argv[2];
	if (strcmp(argv[1], "inject") == 0)
		inject();
	else if (strcmp(argv[1], "capture") == 0)
		capture();
	else if (strcmp(argv[1], "sigpipe") == 0)
		sigpipe();
	else {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	return finish();
}
