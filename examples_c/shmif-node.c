/*
 * shmif-node -- a tiny IPv4 host on a shmif bus, built on libshmif.
 *
 *   shmif-node BUS ADDR/PREFIX serve SECONDS
 *   shmif-node BUS ADDR/PREFIX ping DEST COUNT [PAYLOAD]
 *   shmif-node BUS ADDR/PREFIX udpping DEST COUNT [PAYLOAD]
 *
 * The node attaches one interface to the bus file BUS, announces ADDR with a
 * gratuitous ARP and then behaves like the kernel of a small host: in every
 * mode it answers ARP requests for ADDR and ICMP echo requests to ADDR.
 *
 *   serve    also runs the UDP echo service (port 7) for SECONDS seconds
 *            (a decimal number; SIGINT or SIGTERM end it early), then prints
 *            what it answered and exits 0.
 *   ping     resolves DEST with ARP and sends COUNT ICMP echo requests with
 *            PAYLOAD data bytes (default 56), one at a time.
 *   udpping  the same with UDP datagrams from an ephemeral port to DEST's
 *            port 7.
 *
 * The pingers wait up to one second for each reply (then count the echo as
 * lost), check that the reply carries the payload that was sent, and print
 *
 *   N sent, N received, N lost
 *   rtt min/median/avg/p99/max = 41/60/63/110/140 us
 *
 * Exit status: 0 success; 1 an echo was lost, or DEST did not answer ARP;
 * 2 a usage error, or an error from libshmif.
 *
 * Frames are what a real stack sends: IPv4 header, ICMP and UDP checksums,
 * TTL 64, DF clear, an IP id that increments; no Ethernet padding and no
 * FCS. Frames that are not for this node, that it does not understand, or
 * whose checksums are wrong are ignored.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: SA_ONSTACK */

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>

#define EXIT_LOST 1  /* an echo was lost, or DEST did not answer ARP */
#define EXIT_USAGE 2 /* a usage error, or an error from libshmif */

/* Ethernet: destination, source, type. */
#define ETH_DST 0
#define ETH_SRC 6
#define ETH_TYPE 12
#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806

/* ARP for IPv4 over Ethernet (RFC 826), offsets from the ARP header. */
#define ARP_OP 6
#define ARP_SHA 8
#define ARP_SPA 14
#define ARP_THA 18
#define ARP_TPA 24
#define ARP_LEN 28
#define ARP_REQUEST 1
#define ARP_REPLY 2
#define ARP_FRAME (ETH_HLEN + ARP_LEN) /* 42 bytes */

/* IPv4 (RFC 791); the node sends headers without options. */
#define IPV4_HLEN 20
#define IPV4_TTL 64
#define PROTO_ICMP 1
#define PROTO_UDP 17
#define IPV4_MF 0x2000
#define IPV4_OFFMASK 0x1fff

/* ICMP echo (RFC 792) and UDP (RFC 768) headers are both 8 bytes. */
#define L4_HLEN 8
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define UDP_ECHO_PORT 7

/* Largest ICMP or UDP payload that keeps a frame within 1514 bytes. */
#define MAX_PAYLOAD (SHMIF_MAXFRAME - ETH_HLEN - IPV4_HLEN - L4_HLEN) /* 1472 */

#define DEFAULT_PAYLOAD 56
#define MAX_COUNT 1000000
#define REPLY_WAIT_MS 1000 /* how long a pinger waits for each reply */
#define ARP_TRIES 4        /* ARP requests a pinger sends for DEST ... */
#define ARP_WAIT_MS 250    /* ... this far apart */
#define POLL_MS 100        /* longest wait before looking at stop_requested */

static const uint8_t broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* Set by SIGINT and SIGTERM: finish up and exit. */
static volatile sig_atomic_t stop_requested;

/* The host: its interface, address and what it has answered. */
struct node {
	int ifnum;
	uint8_t mac[6];
	uint32_t addr; /* host byte order, as are all addresses below */
	uint32_t mask;
	uint16_t ip_id;   /* id of the next IPv4 packet sent */
	int udp_echo;     /* run the UDP echo service on port 7 */
	unsigned long arp_replies, icmp_replies, udp_replies;
};

/* What node_input found in a frame that the caller may be waiting for. */
enum packet_kind { PKT_NONE, PKT_ARP, PKT_ICMP_ECHOREPLY, PKT_UDP };

struct packet {
	enum packet_kind kind;
	uint32_t src;           /* sender's IPv4 address */
	const uint8_t *src_mac; /* ARP: sender's hardware address */
	uint16_t id, seq;       /* ICMP echo reply */
	uint16_t sport, dport;  /* UDP */
	const uint8_t *data;    /* ICMP or UDP payload */
	size_t datalen;
};

/* ---- helpers: byte order, checksums, time ---- */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Adds len bytes to a ones'-complement sum of 16-bit big-endian words. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (; len >= 2; p += 2, len -= 2)
		sum += get16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

/* Folds a sum into the Internet checksum (RFC 1071). */
static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The sum of the IPv4 pseudo header that UDP checksums cover. */
static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, size_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto +
	    (uint32_t)len;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	/* Only fails on a system without CLOCK_MONOTONIC: nothing to time with. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		fprintf(stderr, "shmif-node: clock_gettime: %s\n", strerror(errno));
		exit(EXIT_USAGE);
	}
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *ipstr(uint32_t a, char buf[INET_ADDRSTRLEN])
{
	snprintf(buf, INET_ADDRSTRLEN, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff,
	    (a >> 8) & 0xff, a & 0xff);
	return buf;
}

static const char *macstr(const uint8_t m[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
	    m[4], m[5]);
	return buf;
}

/* Reports a libshmif error; returns EXIT_USAGE for the caller to exit with. */
static int lib_error(const char *what, int rc)
{
	fprintf(stderr, "shmif-node: %s: %s\n", what, strerror(rc));
	return EXIT_USAGE;
}

/* ---- sending ---- */

static void eth_header(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(f + ETH_DST, dst, 6);
	memcpy(f + ETH_SRC, src, 6);
	put16(f + ETH_TYPE, type);
}

/* Sends an ARP packet; tha may be NULL (all zeros, as in a request). */
static int send_arp(struct node *n, const uint8_t dst_mac[6], uint16_t op,
    const uint8_t *tha, uint32_t tpa)
{
	uint8_t f[ARP_FRAME];
	uint8_t *a = f + ETH_HLEN;

	eth_header(f, dst_mac, n->mac, ETHERTYPE_ARP);
	put16(a + 0, 1);              /* hardware: Ethernet */
	put16(a + 2, ETHERTYPE_IPV4); /* protocol: IPv4 */
	a[4] = 6;
	a[5] = 4;
	put16(a + ARP_OP, op);
	memcpy(a + ARP_SHA, n->mac, 6);
	put32(a + ARP_SPA, n->addr);
	if (tha)
		memcpy(a + ARP_THA, tha, 6);
	else
		memset(a + ARP_THA, 0, 6);
	put32(a + ARP_TPA, tpa);
	return shmif_send(n->ifnum, f, sizeof f);
}

/*
 * Sends the IPv4 packet whose l4len-byte ICMP or UDP part is already at
 * f + ETH_HLEN + IPV4_HLEN, with its checksum filled in: writes the Ethernet
 * and IPv4 headers in front of it.
 */
static int send_ipv4(struct node *n, uint8_t *f, const uint8_t dst_mac[6],
    uint32_t dst, uint8_t proto, size_t l4len)
{
	uint8_t *ip = f + ETH_HLEN;

	eth_header(f, dst_mac, n->mac, ETHERTYPE_IPV4);
	ip[0] = 0x45; /* version 4, 5 words of header */
	ip[1] = 0;    /* DSCP, ECN */
	put16(ip + 2, (uint16_t)(IPV4_HLEN + l4len));
	put16(ip + 4, n->ip_id++);
	put16(ip + 6, 0); /* flags (DF clear) and fragment offset */
	ip[8] = IPV4_TTL;
	ip[9] = proto;
	put16(ip + 10, 0);
	put32(ip + 12, n->addr);
	put32(ip + 16, dst);
	put16(ip + 10, csum_fold(csum_add(0, ip, IPV4_HLEN)));
	return shmif_send(n->ifnum, f, ETH_HLEN + IPV4_HLEN + l4len);
}

/* Fills in the ICMP checksum of the len-byte ICMP message at p. */
static void icmp_checksum(uint8_t *p, size_t len)
{
	put16(p + 2, 0);
	put16(p + 2, csum_fold(csum_add(0, p, len)));
}

/* Fills in the UDP checksum of the len-byte datagram at p (0 goes as 0xffff). */
static void udp_checksum(uint8_t *p, size_t len, uint32_t src, uint32_t dst)
{
	uint16_t c;

	put16(p + 6, 0);
	c = csum_fold(csum_add(pseudo_sum(src, dst, PROTO_UDP, len), p, len));
	put16(p + 6, c ? c : 0xffff);
}

/* ---- receiving ---- */

/*
 * Receives one frame, waiting until deadline (CLOCK_MONOTONIC ns). Returns 0,
 * ETIMEDOUT, EINTR once a stop was requested, or a libshmif error.
 */
static int recv_until(const struct node *n, uint8_t *buf, size_t *len, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ns();
		uint64_t ms;
		int rc;

		if (stop_requested)
			return EINTR;
		if (now >= deadline)
			return ETIMEDOUT;
		ms = (deadline - now + 999999) / 1000000;
		if (ms > POLL_MS)
			ms = POLL_MS;
		rc = shmif_recv(n->ifnum, buf, SHMIF_MAXFRAME, len, (int)ms);
		if (rc != ETIMEDOUT)
			return rc;
	}
}

static int arp_input(struct node *n, const uint8_t *a, size_t len, struct packet *pkt)
{
	uint16_t op;
	uint32_t spa, tpa;

	if (len < ARP_LEN || get16(a) != 1 || get16(a + 2) != ETHERTYPE_IPV4 ||
	    a[4] != 6 || a[5] != 4)
		return 0;
	op = get16(a + ARP_OP);
	spa = get32(a + ARP_SPA);
	tpa = get32(a + ARP_TPA);
	if (op != ARP_REQUEST && op != ARP_REPLY)
		return 0;
	if (spa != 0 && spa != n->addr) {
		/* The sender's mapping, which a pinger may be waiting for. */
		pkt->kind = PKT_ARP;
		pkt->src = spa;
		pkt->src_mac = a + ARP_SHA;
	}
	if (op == ARP_REQUEST && tpa == n->addr && spa != n->addr) {
		int rc = send_arp(n, a + ARP_SHA, ARP_REPLY, a + ARP_SHA, spa);
		if (rc == 0)
			n->arp_replies++;
		return rc;
	}
	return 0;
}

static int icmp_input(struct node *n, const uint8_t *eth, const uint8_t *ip,
    const uint8_t *p, size_t len, struct packet *pkt)
{
	uint8_t out[SHMIF_MAXFRAME];
	uint8_t *icmp = out + ETH_HLEN + IPV4_HLEN;
	int rc;

	if (len < L4_HLEN || csum_fold(csum_add(0, p, len)) != 0 || p[1] != 0)
		return 0;
	switch (p[0]) {
	case ICMP_ECHOREPLY:
		pkt->kind = PKT_ICMP_ECHOREPLY;
		pkt->src = get32(ip + 12);
		pkt->id = get16(p + 4);
		pkt->seq = get16(p + 6);
		pkt->data = p + L4_HLEN;
		pkt->datalen = len - L4_HLEN;
		return 0;
	case ICMP_ECHO:
		/* The request may carry IP options: its ICMP part always fits. */
		if (len > SHMIF_MAXFRAME - ETH_HLEN - IPV4_HLEN)
			return 0;
		memcpy(icmp, p, len);
		icmp[0] = ICMP_ECHOREPLY;
		icmp_checksum(icmp, len);
		rc = send_ipv4(n, out, eth + ETH_SRC, get32(ip + 12), PROTO_ICMP, len);
		if (rc == 0)
			n->icmp_replies++;
		return rc;
	}
	return 0;
}

static int udp_input(struct node *n, const uint8_t *eth, const uint8_t *ip,
    const uint8_t *p, size_t len, struct packet *pkt)
{
	uint8_t out[SHMIF_MAXFRAME];
	uint8_t *udp = out + ETH_HLEN + IPV4_HLEN;
	uint32_t src = get32(ip + 12), dst = get32(ip + 16);
	size_t ulen;
	int rc;

	if (len < L4_HLEN)
		return 0;
	ulen = get16(p + 4);
	if (ulen < L4_HLEN || ulen > len)
		return 0;
	if (get16(p + 6) != 0 &&
	    csum_fold(csum_add(pseudo_sum(src, dst, PROTO_UDP, ulen), p, ulen)) != 0)
		return 0;
	pkt->kind = PKT_UDP;
	pkt->src = src;
	pkt->sport = get16(p);
	pkt->dport = get16(p + 2);
	pkt->data = p + L4_HLEN;
	pkt->datalen = ulen - L4_HLEN;
	/* No answer to port 0 or to another echo service: no echo loops. */
	if (!n->udp_echo || pkt->dport != UDP_ECHO_PORT || pkt->sport == 0 ||
	    pkt->sport == UDP_ECHO_PORT || ulen > SHMIF_MAXFRAME - ETH_HLEN - IPV4_HLEN)
		return 0;
	/* Echo service: the same data back to the sender's port. */
	memcpy(udp, p, ulen);
	put16(udp, UDP_ECHO_PORT);
	put16(udp + 2, pkt->sport);
	udp_checksum(udp, ulen, n->addr, src);
	rc = send_ipv4(n, out, eth + ETH_SRC, src, PROTO_UDP, ulen);
	if (rc == 0)
		n->udp_replies++;
	pkt->kind = PKT_NONE; /* consumed by the service */
	return rc;
}

static int ipv4_input(struct node *n, const uint8_t *eth, const uint8_t *ip,
    size_t len, struct packet *pkt)
{
	size_t hlen, tlen;

	if (len < IPV4_HLEN || ip[0] >> 4 != 4)
		return 0;
	hlen = (size_t)(ip[0] & 0x0f) * 4;
	tlen = get16(ip + 2);
	/* The frame may be longer than the packet (padding), never shorter. */
	if (hlen < IPV4_HLEN || tlen < hlen || tlen > len)
		return 0;
	if (csum_fold(csum_add(0, ip, hlen)) != 0 || get32(ip + 16) != n->addr ||
	    (get16(ip + 6) & (IPV4_MF | IPV4_OFFMASK)) != 0)
		return 0; /* bad checksum, not for us, or a fragment */
	switch (ip[9]) {
	case PROTO_ICMP:
		return icmp_input(n, eth, ip, ip + hlen, tlen - hlen, pkt);
	case PROTO_UDP:
		return udp_input(n, eth, ip, ip + hlen, tlen - hlen, pkt);
	}
	return 0;
}

/*
 * Handles one received frame as a host's kernel would: answers ARP
 * requests, ICMP echo requests and (serve) the UDP echo service, and tells
 * the caller in *pkt about ARP mappings, echo replies and UDP datagrams.
 * Returns 0 or the libshmif error of sending an answer.
 */
static int node_input(struct node *n, const uint8_t *f, size_t len, struct packet *pkt)
{
	memset(pkt, 0, sizeof *pkt);
	if (len < ETH_HLEN)
		return 0;
	/* libshmif filters already; a promiscuous interface would not. */
	if (memcmp(f + ETH_DST, n->mac, 6) != 0 && memcmp(f + ETH_DST, broadcast_mac, 6) != 0)
		return 0;
	switch (get16(f + ETH_TYPE)) {
	case ETHERTYPE_ARP:
		return arp_input(n, f + ETH_HLEN, len - ETH_HLEN, pkt);
	case ETHERTYPE_IPV4:
		return ipv4_input(n, f, f + ETH_HLEN, len - ETH_HLEN, pkt);
	}
	return 0;
}

/* ---- the modes ---- */

static int serve(struct node *n, double seconds)
{
	uint8_t buf[SHMIF_MAXFRAME];
	uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
	char a[INET_ADDRSTRLEN];

	n->udp_echo = 1;
	for (;;) {
		struct packet pkt;
		size_t len;
		int rc = recv_until(n, buf, &len, deadline);

		if (rc == ETIMEDOUT || rc == EINTR)
			break;
		if (rc != 0)
			return lib_error("shmif_recv", rc);
		if ((rc = node_input(n, buf, len, &pkt)) != 0)
			return lib_error("shmif_send", rc);
	}
	printf("shmif-node: %s answered %lu ARP, %lu ICMP echo, %lu UDP echo requests\n",
	    ipstr(n->addr, a), n->arp_replies, n->icmp_replies, n->udp_replies);
	return 0;
}

/*
 * Finds DEST's hardware address: ARP requests, ARP_TRIES of them, while
 * answering what comes in meanwhile. Returns 0, ETIMEDOUT, EINTR or a
 * libshmif error (then *what names the call).
 */
static int arp_resolve(struct node *n, uint32_t dest, uint8_t mac[6], const char **what)
{
	uint8_t buf[SHMIF_MAXFRAME];

	for (int tries = 0; tries < ARP_TRIES; tries++) {
		uint64_t deadline = now_ns() + (uint64_t)ARP_WAIT_MS * 1000000;
		int rc;

		*what = "shmif_send";
		if ((rc = send_arp(n, broadcast_mac, ARP_REQUEST, NULL, dest)) != 0)
			return rc;
		for (;;) {
			struct packet pkt;
			size_t len;

			*what = "shmif_recv";
			rc = recv_until(n, buf, &len, deadline);
			if (rc == ETIMEDOUT)
				break;
			if (rc != 0)
				return rc;
			*what = "shmif_send";
			if ((rc = node_input(n, buf, len, &pkt)) != 0)
				return rc;
			if (pkt.kind == PKT_ARP && pkt.src == dest) {
				memcpy(mac, pkt.src_mac, 6);
				return 0;
			}
		}
	}
	return ETIMEDOUT;
}

/* Fills a payload with a pattern that differs from one echo to the next. */
static void fill_payload(uint8_t *p, size_t len, unsigned long seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 31 + i);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank percentile of n sorted values, in microseconds. */
static unsigned long long percentile_us(const uint64_t *v, size_t n, unsigned pct)
{
	size_t rank = (pct * n + 99) / 100; /* ceil(pct/100 * n), 1-based */

	return (unsigned long long)((v[rank ? rank - 1 : 0] + 500) / 1000);
}

static void print_summary(unsigned long sent, uint64_t *rtt, size_t received)
{
	uint64_t sum = 0;

	printf("%lu sent, %zu received, %lu lost\n", sent, received,
	    sent - (unsigned long)received);
	if (received == 0)
		return;
	qsort(rtt, received, sizeof rtt[0], cmp_u64);
	for (size_t i = 0; i < received; i++)
		sum += rtt[i];
	printf("rtt min/median/avg/p99/max = %llu/%llu/%llu/%llu/%llu us\n",
	    percentile_us(rtt, received, 0), percentile_us(rtt, received, 50),
	    (unsigned long long)((sum / received + 500) / 1000),
	    percentile_us(rtt, received, 99), percentile_us(rtt, received, 100));
}

/* ping (udp == 0) or udpping (udp == 1): COUNT echoes, one at a time. */
static int pinger(struct node *n, int udp, uint32_t dest, unsigned long count, size_t payload)
{
	uint8_t out[SHMIF_MAXFRAME], buf[SHMIF_MAXFRAME], dmac[6];
	uint8_t *l4 = out + ETH_HLEN + IPV4_HLEN, *data = l4 + L4_HLEN;
	size_t l4len = L4_HLEN + payload, received = 0;
	uint16_t ident = (uint16_t)getpid();                    /* ICMP echo id */
	uint16_t sport = (uint16_t)(49152 + getpid() % 16384); /* ephemeral port */
	unsigned long sent = 0, seq;
	const char *what = "";
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], m[18];
	uint64_t *rtt;
	int rc;

	rc = arp_resolve(n, dest, dmac, &what);
	if (rc == ETIMEDOUT) {
		fprintf(stderr, "shmif-node: %s did not answer ARP\n", ipstr(dest, a));
		return EXIT_LOST;
	}
	if (rc == EINTR)
		return EXIT_LOST;
	if (rc != 0)
		return lib_error(what, rc);
	printf("%s %s (%s) from %s: %lu x %zu bytes\n", udp ? "UDPPING" : "PING",
	    ipstr(dest, a), macstr(dmac, m), ipstr(n->addr, b), count, payload);
	fflush(stdout);

	if ((rtt = malloc(count * sizeof rtt[0])) == NULL) {
		fprintf(stderr, "shmif-node: malloc: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	for (seq = 0; seq < count && !stop_requested; seq++) {
		uint64_t start, deadline;

		/* Build and send the echo request. */
		fill_payload(data, payload, seq);
		if (udp) {
			put16(l4, sport);
			put16(l4 + 2, UDP_ECHO_PORT);
			put16(l4 + 4, (uint16_t)l4len);
			udp_checksum(l4, l4len, n->addr, dest);
		} else {
			l4[0] = ICMP_ECHO;
			l4[1] = 0;
			put16(l4 + 4, ident);
			put16(l4 + 6, (uint16_t)seq);
			icmp_checksum(l4, l4len);
		}
		start = now_ns();
		what = "shmif_send";
		if ((rc = send_ipv4(n, out, dmac, dest, udp ? PROTO_UDP : PROTO_ICMP, l4len)) != 0)
			break;
		sent++;

		/* Wait for its reply, answering whatever else comes in. */
		deadline = start + (uint64_t)REPLY_WAIT_MS * 1000000;
		for (;;) {
			struct packet pkt;
			size_t len;
			int match;

			what = "shmif_recv";
			if ((rc = recv_until(n, buf, &len, deadline)) != 0)
				break;
			what = "shmif_send";
			if ((rc = node_input(n, buf, len, &pkt)) != 0)
				break;
			if (pkt.src != dest)
				continue;
			if (udp)
				match = pkt.kind == PKT_UDP && pkt.sport == UDP_ECHO_PORT &&
				    pkt.dport == sport;
			else
				match = pkt.kind == PKT_ICMP_ECHOREPLY && pkt.id == ident &&
				    pkt.seq == (uint16_t)seq;
			if (!match)
				continue;
			if (pkt.datalen != payload || memcmp(pkt.data, data, payload) != 0) {
				/* A late reply to an earlier echo, or a damaged one. */
				fprintf(stderr, "shmif-node: echo %lu: reply payload differs\n", seq);
				continue;
			}
			rtt[received++] = now_ns() - start;
			break;
		}
		if (rc == ETIMEDOUT || rc == EINTR)
			rc = 0; /* lost, or interrupted: counted below */
		if (rc != 0)
			break;
	}
	if (rc != 0) {
		free(rtt);
		return lib_error(what, rc);
	}
	print_summary(sent, rtt, received);
	free(rtt);
	return received == sent && sent == count ? 0 : EXIT_LOST;
}

/* ---- setup ---- */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Parses a decimal number 0..max; returns 0 on success, -1 otherwise. */
static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Parses ADDR/PREFIX; returns 0 on success, -1 otherwise. */
static int parse_cidr(const char *s, uint32_t *addr, uint32_t *mask)
{
	char buf[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	unsigned long prefix;
	struct in_addr in;

	if (slash == NULL || (size_t)(slash - s) >= sizeof buf)
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (inet_pton(AF_INET, buf, &in) != 1 || parse_ulong(slash + 1, 32, &prefix) != 0)
		return -1;
	*addr = ntohl(in.s_addr);
	*mask = prefix ? ~(uint32_t)0 << (32 - prefix) : 0;
	return 0;
}

static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "shmif-node: %s\n", msg);
	fprintf(stderr,
	    "usage: shmif-node BUS ADDR/PREFIX serve SECONDS\n"
	    "       shmif-node BUS ADDR/PREFIX ping DEST COUNT [PAYLOAD]\n"
	    "       shmif-node BUS ADDR/PREFIX udpping DEST COUNT [PAYLOAD]\n"
	    "PAYLOAD: 0 to %d bytes (default %d); COUNT: 1 to %d\n",
	    MAX_PAYLOAD, DEFAULT_PAYLOAD, MAX_COUNT);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct node n = {0};
	struct sigaction sa;
	uint32_t dest = 0;
	unsigned long count = 0, payload = DEFAULT_PAYLOAD;
	double seconds = 0;
	int udp = 0, serving, rc, status;
	char m[18];

	/* Check every argument before touching the bus. */
	if (argc < 5)
		return usage(NULL);
	if (parse_cidr(argv[2], &n.addr, &n.mask) != 0)
		return usage("ADDR/PREFIX: expected an IPv4 address and prefix, e.g. 10.0.0.1/24");
	serving = strcmp(argv[3], "serve") == 0;
	if (serving) {
		char *end;

		if (argc != 5)
			return usage(NULL);
		errno = 0;
		seconds = strtod(argv[4], &end);
		if (errno != 0 || end == argv[4] || *end != '\0' || !(seconds >= 0 && seconds <= 1e6))
			return usage("SECONDS: expected a number from 0 to 1000000");
	} else if (strcmp(argv[3], "ping") == 0 || strcmp(argv[3], "udpping") == 0) {
		struct in_addr in;

		udp = argv[3][0] == 'u';
		if (argc != 6 && argc != 7)
			return usage(NULL);
		if (inet_pton(AF_INET, argv[4], &in) != 1)
			return usage("DEST: expected an IPv4 address");
		dest = ntohl(in.s_addr);
		if (dest == n.addr || (dest & n.mask) != (n.addr & n.mask))
			return usage("DEST: must be another address on ADDR's network");
		if (parse_ulong(argv[5], MAX_COUNT, &count) != 0 || count == 0)
			return usage("COUNT: out of range");
		if (argc == 7 && parse_ulong(argv[6], MAX_PAYLOAD, &payload) != 0)
			return usage("PAYLOAD: out of range");
	} else {
		return usage("unknown mode");
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_ONSTACK; /* the Go runtime's threads may take the signal */
	if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0) {
		fprintf(stderr, "shmif-node: sigaction: %s\n", strerror(errno));
		return EXIT_USAGE;
	}

	/* Attach to the bus (the interface is up at once) and announce ADDR. */
	if ((rc = rump_pub_shmif_create(argv[1], &n.ifnum)) != 0) {
		fprintf(stderr, "shmif-node: %s: %s\n", argv[1], strerror(rc));
		return EXIT_USAGE;
	}
	if ((rc = shmif_get_mac(n.ifnum, n.mac)) != 0) {
		status = lib_error("shmif_get_mac", rc);
	} else if ((rc = send_arp(&n, broadcast_mac, ARP_REQUEST, NULL, n.addr)) != 0) {
		status = lib_error("gratuitous ARP: shmif_send", rc);
	} else {
		n.ip_id = (uint16_t)((unsigned)getpid() * 251u);
		if (serving) {
			printf("shmif-node: serving %s on shmif%d (%s) for %g s\n",
			    argv[2], n.ifnum, macstr(n.mac, m), seconds);
			fflush(stdout);
			status = serve(&n, seconds);
		} else {
			status = pinger(&n, udp, dest, count, payload);
		}
	}
	if ((rc = shmif_destroy(n.ifnum)) != 0 && status == 0)
		status = lib_error("shmif_destroy", rc);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "shmif-node: stdout: %s\n", strerror(errno));
		status = EXIT_USAGE;
	}
	return status;
}
