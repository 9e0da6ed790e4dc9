/*
 * fakeslot.c -- what another user can do to libshmif's private state
 * beside a bus (docs/protocol.md §9.13) when it is theirs: add a lossless
 * reader that never reads.
 *
 * usage: fakeslot SIDECAR WAIT_MS
 * Maps SIDECAR (it must already be initialised: magic "SHMS") and fills
 * the last slot with a lossless reader for pid 1 (alive for ever, with its
 * start time) at stream position 0 that writers wait WAIT_MS for. Prints
 * "DONE failures=0" when the slot is in place.
 */
#include "common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

int
main(int argc, char **argv)
{
	char buf[4096];
	unsigned long long start = 0;
	struct stat ns;
	uint8_t *m;
	int fd, field = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);

	if (argc < 3) {
		fprintf(stderr, "usage: fakeslot SIDECAR WAIT_MS\n");
		return 2;
	}
	if ((fd = open(argv[1], O_RDWR)) < 0) {
		FAIL("open %s: %s", argv[1], strerror(errno));
		return finish();
	}
	m = mmap(NULL, 256 + 64 * 1024, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint32_t magic = 0;
	if (m != MAP_FAILED)
		memcpy(&magic, m, 4);
	if (magic != 0x53484d53) { /* "SHMS", docs/protocol.md §9.13 */
		FAIL("%s is not an initialised sidecar", argv[1]);
		return finish();
	}
	FILE *f = fopen("/proc/1/stat", "r");
	if (f == NULL || fgets(buf, sizeof buf, f) == NULL) {
		FAIL("/proc/1/stat");
		return finish();
	}
	fclose(f);
	for (char *t = strtok(strrchr(buf, ')') + 2, " "); t != NULL; t = strtok(NULL, " "))
		if (++field == 22) {
			start = strtoull(t, NULL, 10);
			break;
		}
	stat("/proc/1/ns/pid", &ns);
	uint8_t *s = m + 256 + 64 * 1023;
	uint32_t pid = 1, zero = 0;
	uint64_t ino = ns.st_ino, pos = 0, wait = (uint64_t)atoll(argv[2]) * 1000000;
	memcpy(s + 4, &pid, 4);
	memcpy(s + 8, &start, 8);
	memcpy(s + 16, &ino, 8);
	memcpy(s + 24, &pos, 8);
	memcpy(s + 32, &zero, 4);
	memcpy(s + 36, &zero, 4);
	memcpy(s + 40, &wait, 8);
	memcpy(s + 48, &zero, 4);
	__atomic_store_n((uint32_t *)s, 2, __ATOMIC_SEQ_CST);
	__atomic_add_fetch((uint32_t *)(m + 128), 1, __ATOMIC_SEQ_CST);
	INFO("fake lossless reader: pid 1, start %llu, wait %s ms", start, argv[2]);
	return finish();
}
