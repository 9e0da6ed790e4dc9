/*
 * reader.c -- the witness of the kill tests: it receives every frame on BUS
 * and checks that each is whole, that the frames of each writer come in
 * order without repeats, and that its counters add up.
 *
 * usage: reader BUS LOSSLESS_MS [stall]
 * It attaches with SHMIF_START_NEXT (and as a lossless receiver when
 * LOSSLESS_MS > 0), prints "ready", and receives until a line "end ID
 * COUNT" arrives on standard input and the bus then stays quiet for 300 ms;
 * writer ID must have delivered frames 0..COUNT-1 (ID 0: no such check).
 * A line "sync" is answered "synced" once a receive has timed out after
 * it: the reader has then read everything written before the line (a
 * lossy reader still behind the frames of earlier writers could be lapped
 * by the writer whose every frame the "end" check wants).
 * With "stall" it never receives: it only holds lossless writers back
 * until it is killed or stopped.
 *
 * Exactness: libshmif numbers every record it writes in the frame header's
 * padding word (docs/protocol.md §9.4), one more than the newest record's,
 * so the records written while the reader ran are the difference of the
 * newest record's numbers at the end and at the start. Every record is a
 * frame of another interface, so each is either received or counted lost
 * (rump.h struct shmif_stats.lost; README: "No reader ever receives a frame
 * no writer sent, and loss stays exact").
 */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>

#define MAXID 200000

static const char *bus;
static uint32_t *lastseq; /* last seq + 1 per writer id, 0 if none */
static uint32_t *firstseq;
static atomic_int ending, syncing;
static uint32_t end_id, end_count;

/* newest_seq reads the number in the padding word of the newest record. */
static uint32_t
newest_seq(void)
{
	int fd = open(bus, O_RDONLY);
	uint8_t *m;
	uint32_t last, seq = 0;

	if (fd < 0)
		return 0;
	m = mmap(NULL, SHMIF_BUSSIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return 0;
	memcpy(&last, m + 20, 4);
	if (last < SHMIF_RINGSIZE) {
		for (int i = 0; i < 4; i++)
			((uint8_t *)&seq)[i] = m[32 + (last + 12 + i) % SHMIF_RINGSIZE];
	}
	munmap(m, SHMIF_BUSSIZE);
	return seq;
}

static void *
stdin_thread(void *arg)
{
	char line[128];

	(void)arg;
	while (fgets(line, sizeof line, stdin) != NULL) {
		if (strcmp(line, "sync\n") == 0) {
			atomic_store(&syncing, 1);
			continue;
		}
		if (sscanf(line, "end %u %u", &end_id, &end_count) == 2) {
			atomic_store(&ending, 1);
			return NULL;
		}
	}
	atomic_store(&ending, 1); /* the parent went away */
	return NULL;
}

int
main(int argc, char **argv)
{
	int n, rc, lossless;
	long torn = 0, regress = 0, gaps = 0, got = 0, foreign = 0, badlen = 0;
	uint8_t *buf = malloc(256 * SHMIF_MAXFRAME);
	struct shmif_frame fr[256];
	struct shmif_stats st;
	pthread_t th;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: reader BUS LOSSLESS_MS [stall]\n");
		return 2;
	}
	bus = argv[1];
	lossless = atoi(argv[2]);
	lastseq = calloc(MAXID, sizeof *lastseq);
	firstseq = calloc(MAXID, sizeof *firstseq);
	MUST(shmif_create(-1, &n));
	MUST(shmif_set_start(n, SHMIF_START_NEXT));
	MUST(shmif_set_linkstr(n, bus));
	if (lossless > 0)
		MUST(shmif_set_lossless(n, lossless));
	MUST(shmif_up(n));
	if (lossless > 0) {
		int active = 0;
		MUST(shmif_get_lossless(n, NULL, &active));
		CHECK(active == 1, "lossless receiver not active");
	}
	uint32_t seq0 = newest_seq();
	printf("ready seq0=%u\n", seq0);
	if (argc > 3 && strcmp(argv[3], "stall") == 0) {
		for (;;)
			pause();
	}
	pthread_create(&th, NULL, stdin_thread, NULL);

	int64_t quiet_since = 0;
	for (;;) {
		size_t k;
		for (int i = 0; i < 256; i++)
			fr[i] = (struct shmif_frame){ .data = buf + i * SHMIF_MAXFRAME, .cap = SHMIF_MAXFRAME };
		rc = shmif_recv_batch(n, fr, 256, &k, 50);
		if (rc == ETIMEDOUT) {
			if (atomic_exchange(&syncing, 0))
				printf("synced\n");
			if (atomic_load(&ending)) {
				if (quiet_since == 0)
					quiet_since = now_ns();
				else if (now_ns() - quiet_since > 300000000LL)
					break;
			}
			continue;
		}
		quiet_since = 0;
		if (rc != 0) {
			FAIL("recv_batch = %s", en(rc));
			break;
		}
		for (size_t i = 0; i < k; i++) {
			uint32_t id, seq;
			int c;

			if (fr[i].len < SHMIF_MINFRAME || fr[i].len > SHMIF_MAXFRAME) {
				if (badlen++ < 5)
					FAIL("a frame of %zu bytes", fr[i].len);
				continue;
			}
			c = hframe_check(fr[i].data, fr[i].len, &id, &seq);
			if (c < 0) {
				if (torn++ < 5)
					FAIL("a torn or invented frame of %zu bytes", fr[i].len);
				continue;
			}
			if (c == 0 || id == 0 || id >= MAXID) {
				foreign++;
				continue;
			}
			got++;
			if (lastseq[id] == 0)
				firstseq[id] = seq;
			else if (seq < lastseq[id]) {
				if (regress++ < 5)
					FAIL("writer %u: frame %u after frame %u (repeated or out of order)", id, seq,
					    lastseq[id] - 1);
				continue;
			} else
				gaps += seq - lastseq[id];
			lastseq[id] = seq + 1;
		}
	}
	uint32_t seq1 = newest_seq();
	MUST(shmif_get_stats(n, &st));

	long writers = 0, late = 0;
	for (int id = 1; id < MAXID; id++) {
		if (lastseq[id] == 0)
			continue;
		writers++;
		if (firstseq[id] != 0)
			late++;
	}
	INFO("received=%ld writers=%ld gaps=%ld late_starts=%ld torn=%ld regress=%ld foreign=%ld "
	    "ipackets=%llu lost=%llu corrupt=%llu records=%u",
	    got, writers, gaps, late, torn, regress, foreign, (unsigned long long)st.ipackets,
	    (unsigned long long)st.lost, (unsigned long long)st.corrupt, seq1 - seq0);
	CHECK(st.ipackets == (uint64_t)(got + foreign + torn + badlen), "ipackets %llu, frames received %ld",
	    (unsigned long long)st.ipackets, got + foreign + torn + badlen);
	CHECK(st.corrupt == 0, "corrupt = %llu on a bus only libshmif writers wrote", (unsigned long long)st.corrupt);
	CHECK((uint64_t)gaps <= st.lost, "%ld frames missing between received ones, but lost = %llu", gaps,
	    (unsigned long long)st.lost);
	CHECK(st.ipackets + st.lost == (uint64_t)(seq1 - seq0),
	    "received %llu + lost %llu != %u records written (loss not exact)", (unsigned long long)st.ipackets,
	    (unsigned long long)st.lost, seq1 - seq0);
	if (lossless > 0) {
		CHECK(st.lost == 0 && gaps == 0, "lossless receiver: lost = %llu, gaps = %ld",
		    (unsigned long long)st.lost, gaps);
		CHECK(late == 0, "lossless receiver: %ld writers' first frame received was not their frame 0", late);
	}
	if (end_id != 0 && end_id < MAXID) {
		CHECK(firstseq[end_id] == 0 && lastseq[end_id] == end_count,
		    "the last writer's frames: received %u..%u, want 0..%u", firstseq[end_id],
		    lastseq[end_id] - 1, end_count - 1);
	}
	EXPECT_RC(shmif_destroy(n), 0);
	return finish();
}
