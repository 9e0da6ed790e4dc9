/*
 * files.c -- what the attaching calls do to files that are not buses, and
 * the limits of the API: path lengths, NULL pointers, batch sizes, zero-
 * length buffers, every unit in use, few descriptors.
 *
 * usage: files MODE DIR [ARGS]
 *   foreign DIR    files that are not buses are refused and left unchanged
 *   accepted DIR   files that are buses (or may become ones) are attached
 *   nonroot DIR    run as an unprivileged user: EACCES, files unchanged
 *   enospc DIR     DIR is a file system too small for a bus
 *   erofs DIR      DIR is a read-only file system holding DIR/bus
 *   paths DIR      paths of 1023 and 1024 bytes; shmif_get_linkstr sizes
 *   nulls DIR      NULL pointers, required and optional
 *   batches DIR    batch sizes 0, 256, 257, 1048576, 1048577; bad frames
 *   units DIR      all 32768 units in use
 *   nofile DIR     RLIMIT_NOFILE low: the host's limit kept, EMFILE
 *   sameinode DIR  one bus by several paths: one mapping, one descriptor
 *   attach BUS     attach to BUS as a lossless receiver, print whether it
 *                  is active, destroy
 */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static const char *dir;

static char *
pathf(const char *fmt, ...)
{
	static char buf[8][8192];
	static int i;
	va_list ap;
	char tmp[4096];

	i = (i + 1) % 8;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, tmp);
	return buf[i];
}

static void
write_file(const char *p, const void *data, size_t n, mode_t mode)
{
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	if (fd < 0 || (n > 0 && write(fd, data, n) != (ssize_t)n)) {
		FAIL("write %s: %s", p, strerror(errno));
		exit(1);
	}
	fchmod(fd, mode);
	close(fd);
}

/* snapshot is what must not change about a file. */
struct snap {
	int exists;
	struct stat st;
	uint8_t *data;
	size_t n;
	char listing[4096];
};

static void
take_snap(const char *p, struct snap *s)
{
	memset(s, 0, sizeof *s);
	if (lstat(p, &s->st) != 0)
		return;
	s->exists = 1;
	if (S_ISREG(s->st.st_mode)) {
		int fd = open(p, O_RDONLY);
		s->n = (size_t)s->st.st_size;
		s->data = malloc(s->n + 1);
		if (fd >= 0) {
			ssize_t r = pread(fd, s->data, s->n, 0);
			(void)r;
			close(fd);
		}
	} else if (S_ISDIR(s->st.st_mode)) {
		DIR *d = opendir(p);
		struct dirent *e;
		while (d != NULL && (e = readdir(d)) != NULL) {
			strncat(s->listing, e->d_name, sizeof s->listing - strlen(s->listing) - 2);
			strcat(s->listing, "/");
		}
		if (d != NULL)
			closedir(d);
	}
}

static void
same_snap(const char *what, const char *p, struct snap *a)
{
	struct snap b;

	take_snap(p, &b);
	if (!a->exists) {
		CHECK(!b.exists, "%s: %s was created", what, p);
		return;
	}
	if (!b.exists) {
		FAIL("%s: %s was removed", what, p);
		return;
	}
	CHECK(a->st.st_mode == b.st.st_mode, "%s: mode changed %o -> %o", what, a->st.st_mode, b.st.st_mode);
	CHECK(a->st.st_size == b.st.st_size, "%s: size changed %lld -> %lld", what, (long long)a->st.st_size,
	    (long long)b.st.st_size);
	CHECK(a->st.st_ino == b.st.st_ino, "%s: replaced by another file", what);
	if (S_ISREG(a->st.st_mode) && a->n == b.n)
		CHECK(memcmp(a->data, b.data, a->n) == 0, "%s: contents changed", what);
	if (S_ISDIR(a->st.st_mode))
		CHECK(strcmp(a->listing, b.listing) == 0, "%s: directory listing changed: %s -> %s", what, a->listing,
		    b.listing);
	if (a->st.st_mtim.tv_sec != b.st.st_mtim.tv_sec || a->st.st_mtim.tv_nsec != b.st.st_mtim.tv_nsec)
		INFO("%s: mtime changed (contents did not)", what);
	free(b.data);
}

/* pcap_fd returns a descriptor to read a pcap file of one 60-byte frame. */
static int
pcap_fd(void)
{
	uint8_t b[24 + 16 + 60] = { 0 };
	uint32_t v;
	uint16_t h;
	int fd = memfd_create("pcap", 0);

	v = 0xa1b2c3d4; memcpy(b, &v, 4);
	h = 2; memcpy(b + 4, &h, 2);
	h = 4; memcpy(b + 6, &h, 2);
	v = 65535; memcpy(b + 16, &v, 4);
	v = 1; memcpy(b + 20, &v, 4);
	v = 60; memcpy(b + 24 + 8, &v, 4); memcpy(b + 24 + 12, &v, 4);
	memset(b + 40, 0xff, 6);
	b[40 + 12] = 0x88; b[40 + 13] = 0xb5;
	if (write(fd, b, sizeof b) != (ssize_t)sizeof b)
		FAIL("memfd write");
	lseek(fd, 0, SEEK_SET);
	return fd;
}

enum { AT_CREATE, AT_OPEN, AT_LINKSTR, AT_LINKSTR_MODE, AT_INJECT, NAT };
static const char *atname[] = { "rump_pub_shmif_create", "shmif_open", "shmif_set_linkstr",
	"shmif_set_linkstr_mode", "shmif_inject" };

/* attach tries one attaching call on p and undoes a success. */
static int
attach(int how, const char *p)
{
	int n = -1, rc = 0, fd;
	uint64_t frames;

	switch (how) {
	case AT_CREATE:
		rc = rump_pub_shmif_create(p, &n);
		break;
	case AT_OPEN:
		rc = shmif_open(p, 0600, &n);
		break;
	case AT_LINKSTR:
	case AT_LINKSTR_MODE:
		MUST(shmif_create(-1, &n));
		rc = how == AT_LINKSTR ? shmif_set_linkstr(n, p) : shmif_set_linkstr_mode(n, p, 0600);
		if (rc != 0) {
			EXPECT_RC(shmif_destroy(n), 0);
			n = -1;
		}
		break;
	case AT_INJECT:
		fd = pcap_fd();
		rc = shmif_inject(p, fd, &frames);
		close(fd);
		break;
	}
	if (rc == 0 && n >= 0)
		EXPECT_RC(shmif_destroy(n), 0);
	return rc;
}

/* refuse checks that every attaching call refuses p with want (0: any
 * error) and leaves it (and what it names) unchanged. */
static void
refuse(const char *what, const char *p, int want)
{
	struct snap s;

	take_snap(p, &s);
	for (int how = 0; how < NAT; how++) {
		char w[256];
		int64_t t0 = now_ns();
		int rc = attach(how, p);
		int64_t d = now_ns() - t0;

		snprintf(w, sizeof w, "%s: %s", atname[how], what);
		if (want != 0)
			CHECK(rc == want, "%s = %s, want %s", w, en(rc), en(want));
		else
			CHECK(rc != 0, "%s succeeded", w);
		CHECK(d < 3000000000LL, "%s took %.0f ms", w, d / 1e6);
		same_snap(w, p, &s);
		if (S_ISLNK(s.st.st_mode)) {
			char t[8192];
			ssize_t l = readlink(p, t, sizeof t - 1);
			if (l > 0) {
				t[l] = 0;
				(void)t;
			}
		}
	}
	free(s.data);
}

/* capture_refuses checks that a snapshot capture of p fails (want, or any
 * error for 0) without changing it and within 3 s. */
static void
capture_refuses(const char *what, const char *p, int want, int follow)
{
	struct snap s;
	int pfd[2];
	uint64_t fr;

	take_snap(p, &s);
	if (pipe2(pfd, O_NONBLOCK) != 0)
		return;
	int64_t t0 = now_ns();
	int rc = shmif_capture(p, pfd[1], follow, &fr, NULL);
	int64_t d = now_ns() - t0;
	if (want != 0)
		CHECK(rc == want, "shmif_capture(follow %d): %s = %s, want %s", follow, what, en(rc), en(want));
	else
		CHECK(rc != 0, "shmif_capture(follow %d): %s succeeded", follow, what);
	CHECK(d < 3000000000LL, "shmif_capture: %s took %.0f ms", what, d / 1e6);
	same_snap("shmif_capture", p, &s);
	close(pfd[0]);
	close(pfd[1]);
	free(s.data);
}

static void
foreign(void)
{
	uint8_t *buf = calloc(1, 3 << 20);
	uint64_t s = 99;
	uint32_t swapped = 0x54D011CAu;

	write_file(pathf("text"), "hello, world\n", 13, 0644);
	refuse("a text file", pathf("text"), ENOEXEC);
	capture_refuses("a text file", pathf("text"), ENOEXEC, 0);
	for (size_t i = 0; i < (1 << 20); i++)
		buf[i] = (uint8_t)rnd_next(&s);
	write_file(pathf("random"), buf, 1 << 20, 0644);
	refuse("1 MiB of random bytes", pathf("random"), ENOEXEC);
	capture_refuses("1 MiB of random bytes", pathf("random"), ENOEXEC, 0);
	memset(buf, 0, 3 << 20);
	write_file(pathf("zeros+1"), buf, (1 << 20) + 1, 0644);
	refuse("1 MiB + 1 of zeros", pathf("zeros+1"), ENOEXEC);
	write_file(pathf("zeros-1"), buf, (1 << 20) - 1, 0644);
	refuse("1 MiB - 1 of zeros", pathf("zeros-1"), ENOEXEC);
	write_file(pathf("zeros4k"), buf, 4096, 0644);
	refuse("4 KiB of zeros", pathf("zeros4k"), ENOEXEC);
	write_file(pathf("zero1"), buf, 1, 0644);
	refuse("one zero byte", pathf("zero1"), ENOEXEC);
	write_file(pathf("zeros2M"), buf, 2 << 20, 0644);
	refuse("2 MiB of zeros", pathf("zeros2M"), ENOEXEC);
	buf[(1 << 20) - 1] = 1;
	write_file(pathf("zeros-last"), buf, 1 << 20, 0644);
	refuse("1 MiB of zeros but the last byte", pathf("zeros-last"), ENOEXEC);
	buf[(1 << 20) - 1] = 0;
	memcpy(buf, &swapped, 4);
	write_file(pathf("swapped"), buf, 1 << 20, 0644);
	refuse("a bus of the other byte order", pathf("swapped"), ENOEXEC);
	write_file(pathf("swapped4"), buf, 4, 0644);
	refuse("the other byte order's magic alone", pathf("swapped4"), ENOEXEC);
	uint32_t magic = 0xCA11D054u;
	memcpy(buf, &magic, 4);
	write_file(pathf("magic3"), buf, 3, 0644);
	refuse("three bytes of the magic", pathf("magic3"), ENOEXEC);
	memset(buf, 0, 8);
	buf[100] = 1;
	write_file(pathf("zeromagic"), buf, 1 << 20, 0644);
	refuse("1 MiB, magic 0, a byte set in the ring", pathf("zeromagic"), ENOEXEC);
	buf[100] = 0;
	write_file(pathf("ro-text"), "read only\n", 10, 0444);
	refuse("a read-only text file", pathf("ro-text"), 0);
	mkdir(pathf("adir"), 0755);
	write_file(pathf("adir/x"), "x", 1, 0644);
	refuse("a directory", pathf("adir"), EISDIR);

	/* A FIFO with data in it: refused without blocking, its data not taken. */
	mkfifo(pathf("fifo"), 0644);
	int ff = open(pathf("fifo"), O_RDWR | O_NONBLOCK);
	if (write(ff, "0123456789", 10) != 10)
		FAIL("fifo write");
	refuse("a FIFO", pathf("fifo"), EINVAL);
	char fb[32];
	ssize_t got = read(ff, fb, sizeof fb);
	CHECK(got == 10, "the FIFO lost its data: read %zd of 10 bytes", got);
	close(ff);
	/* A FIFO nobody has open: opening it for reading alone would block. */
	mkfifo(pathf("fifo2"), 0644);
	refuse("a FIFO nobody has open", pathf("fifo2"), EINVAL);

	int us = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", pathf("sock"));
	if (strlen(pathf("sock")) < sizeof sa.sun_path && bind(us, (struct sockaddr *)&sa, sizeof sa) == 0)
		refuse("a unix socket", pathf("sock"), EINVAL);
	close(us);
	refuse("/dev/null", "/dev/null", EINVAL);
	refuse("/dev/zero", "/dev/zero", EINVAL);

	symlink(pathf("text"), pathf("link-text"));
	refuse("a symbolic link to a text file", pathf("link-text"), ENOEXEC);
	symlink(pathf("loop2"), pathf("loop1"));
	symlink(pathf("loop1"), pathf("loop2"));
	refuse("a symbolic link loop", pathf("loop1"), ELOOP);
	refuse("a path through a regular file", pathf("text/bus"), ENOTDIR);
	refuse("a missing directory", pathf("nodir/bus"), ENOENT);
	char longname[300];
	memset(longname, 'n', 299);
	longname[299] = 0;
	refuse("a name of 299 bytes", pathf("%s", longname), ENAMETOOLONG);
	refuse("an empty path", "", EINVAL);

	/* procfs: /proc/self/comm is an "empty" regular file that may be
	 * written; a bus cannot be made of it, and the process name must
	 * stay. */
	char comm0[64] = "", comm1[64] = "";
	int cf = open("/proc/self/comm", O_RDONLY);
	ssize_t r = read(cf, comm0, sizeof comm0 - 1);
	close(cf);
	for (int how = 0; how < NAT; how++) {
		int rc = attach(how, "/proc/self/comm");
		CHECK(rc != 0, "%s: /proc/self/comm was attached as a bus", atname[how]);
	}
	cf = open("/proc/self/comm", O_RDONLY);
	r = read(cf, comm1, sizeof comm1 - 1);
	(void)r;
	close(cf);
	CHECK(strcmp(comm0, comm1) == 0, "/proc/self/comm changed: %s -> %s", comm0, comm1);

	/* Captures of what is not a bus; an empty file gives an empty pcap, a
	 * following capture needs a whole bus. */
	capture_refuses("a directory", pathf("adir"), 0, 0);
	capture_refuses("1 MiB of zeros but the last byte", pathf("zeros-last"), ENOEXEC, 0);
	write_file(pathf("empty"), "", 0, 0644);
	capture_refuses("an empty file (following)", pathf("empty"), ENOEXEC, 100);
	free(buf);
}

/* capture_fifo: a snapshot capture of a FIFO nobody writes must not hang. */
static void
capture_fifo(void)
{
	mkfifo(pathf("cfifo"), 0644);
	capture_refuses("a FIFO nobody has open", pathf("cfifo"), 0, 0);
}

/* accepted: empty files, 1 MiB of zeros, short and long buses. */
static void
accepted(void)
{
	uint8_t *buf = calloc(1, 2 << 20);
	uint32_t magic = 0xCA11D054u;
	struct stat st;
	int n;

	write_file(pathf("empty"), "", 0, 0644);
	EXPECT_RC(rump_pub_shmif_create(pathf("empty"), &n), 0);
	stat(pathf("empty"), &st);
	CHECK(st.st_size == SHMIF_BUSSIZE, "an empty file became %lld bytes", (long long)st.st_size);
	shmif_destroy(n);
	write_file(pathf("zeros"), buf, 1 << 20, 0644);
	EXPECT_RC(rump_pub_shmif_create(pathf("zeros"), &n), 0);
	shmif_destroy(n);
	memcpy(buf, &magic, 4);
	write_file(pathf("short"), buf, 4, 0644);
	EXPECT_RC(rump_pub_shmif_create(pathf("short"), &n), 0);
	stat(pathf("short"), &st);
	CHECK(st.st_size == SHMIF_BUSSIZE, "a 4-byte bus became %lld bytes, want 1 MiB", (long long)st.st_size);
	shmif_destroy(n);
	write_file(pathf("long"), buf, 2 << 20, 0644);
	EXPECT_RC(rump_pub_shmif_create(pathf("long"), &n), 0);
	stat(pathf("long"), &st);
	CHECK(st.st_size == 2 << 20, "a 2 MiB bus became %lld bytes (\"a longer one is not shrunk\")",
	    (long long)st.st_size);
	/* and it works */
	int m;
	uint8_t f[60], mac[6], rb[SHMIF_MAXFRAME];
	size_t len;
	EXPECT_RC(rump_pub_shmif_create(pathf("long"), &m), 0);
	shmif_set_start(m, SHMIF_START_NEXT);
	shmif_up(m);
	shmif_get_mac(n, mac);
	hframe_build(f, 60, mac, 1, 1);
	EXPECT_RC(shmif_send(n, f, 60), 0);
	EXPECT_RC(shmif_recv(m, rb, sizeof rb, &len, 1000), 0);
	shmif_destroy(n);
	shmif_destroy(m);
	/* a new file with shmif_open's mode, under the umask */
	umask(022);
	EXPECT_RC(shmif_open(pathf("private"), 07777, &n), 0);
	stat(pathf("private"), &st);
	CHECK((st.st_mode & 07777) == 0755, "shmif_open(mode 07777) made mode %o, want 0755 (no set-id or sticky bits)",
	    st.st_mode & 07777);
	shmif_destroy(n);
	free(buf);
}

/* nonroot: run as an unprivileged user, with DIR/rootbus a bus of root's
 * (0644), DIR/robus a bus of mode 0444, DIR/closed a directory of mode 0700
 * holding a bus, made by the parent. */
static void
nonroot(void)
{
	CHECK(geteuid() != 0, "nonroot runs as root");
	refuse("another user's bus of mode 0644", pathf("rootbus"), EACCES);
	refuse("a read-only bus", pathf("robus"), EACCES);
	refuse("a bus in a directory that cannot be searched", pathf("closed/bus"), EACCES);
	refuse("a new bus in a directory that cannot be written", pathf("rodir/bus"), EACCES);
	/* A snapshot needs read permission only, and writes nothing. */
	struct snap s;
	int pfd[2];
	uint64_t fr = 99;
	take_snap(pathf("robus"), &s);
	if (pipe(pfd) != 0)
		return;
	int rc = shmif_capture(pathf("robus"), pfd[1], 0, &fr, NULL);
	CHECK(rc == 0, "snapshot of a read-only bus = %s", en(rc));
	same_snap("snapshot of a read-only bus", pathf("robus"), &s);
	/* Following takes the lock: it needs write permission. */
	rc = shmif_capture(pathf("robus"), pfd[1], 100, &fr, NULL);
	CHECK(rc == EACCES, "following capture of a read-only bus = %s, want EACCES", en(rc));
	same_snap("following capture of a read-only bus", pathf("robus"), &s);
}

static void
enospc(void)
{
	struct stat st;
	int rc = rump_pub_shmif_create(pathf("bus"), NULL);

	CHECK(rc == ENOSPC, "a bus on a file system without room = %s, want ENOSPC", en(rc));
	CHECK(stat(pathf("bus"), &st) != 0, "the file the failed call created was left behind");
	rc = shmif_inject(pathf("bus2"), pcap_fd(), NULL);
	CHECK(rc == ENOSPC, "shmif_inject on a file system without room = %s, want ENOSPC", en(rc));
	CHECK(stat(pathf("bus2"), &st) != 0, "the file the failed inject created was left behind");
}

static void
erofs(void)
{
	struct snap s;
	int rc;

	take_snap(pathf("bus"), &s);
	for (int how = 0; how < NAT; how++) {
		rc = attach(how, pathf("bus"));
		CHECK(rc == EROFS, "%s: a bus on a read-only file system = %s, want EROFS", atname[how], en(rc));
		same_snap("read-only file system", pathf("bus"), &s);
	}
	rc = attach(AT_CREATE, pathf("newbus"));
	CHECK(rc == EROFS, "a new bus on a read-only file system = %s, want EROFS", en(rc));
	int pfd[2];
	uint64_t fr;
	if (pipe(pfd) == 0) {
		rc = shmif_capture(pathf("bus"), pfd[1], 0, &fr, NULL);
		CHECK(rc == 0, "snapshot of a bus on a read-only file system = %s", en(rc));
	}
}

/* ---- paths ---- */

static char *
path_of(size_t len)
{
	/* DIR + slashes + "bus": multiple slashes name the same file */
	char *p = malloc(len + 1);
	size_t d = strlen(dir);

	if (len < d + 4) {
		FAIL("DIR too long");
		exit(1);
	}
	memcpy(p, dir, d);
	memset(p + d, '/', len - d - 3);
	memcpy(p + len - 3, "bus", 4);
	return p;
}

static void
paths(void)
{
	char *p1023 = path_of(1023), *p1024 = path_of(1024), *p5000 = path_of(5000);
	char buf[2048];
	size_t need;
	int n, rc, pfd[2];
	uint64_t fr;

	CHECK(strlen(p1023) == 1023 && strlen(p1024) == 1024, "path lengths");
	for (int how = 0; how < NAT; how++) {
		rc = attach(how, p1023);
		CHECK(rc == 0, "%s: a path of 1023 bytes (1024 with its NUL) = %s, want 0", atname[how], en(rc));
		rc = attach(how, p1024);
		CHECK(rc == E2BIG, "%s: a path of 1024 bytes = %s, want E2BIG", atname[how], en(rc));
		rc = attach(how, p5000);
		CHECK(rc == E2BIG, "%s: a path of 5000 bytes = %s, want E2BIG", atname[how], en(rc));
	}
	if (pipe(pfd) == 0) {
		int fl = fcntl(pfd[1], F_GETFL);
		fcntl(pfd[1], F_SETFL, fl | O_NONBLOCK);
		rc = shmif_capture(p1023, pfd[1], 0, &fr, NULL);
		CHECK(rc == 0, "shmif_capture: a path of 1023 bytes = %s", en(rc));
		rc = shmif_capture(p1024, pfd[1], 0, &fr, NULL);
		CHECK(rc == E2BIG, "shmif_capture: a path of 1024 bytes = %s, want E2BIG", en(rc));
		close(pfd[0]);
		close(pfd[1]);
	}

	MUST(rump_pub_shmif_create(p1023, &n));
	need = 0;
	EXPECT_RC(shmif_get_linkstr(n, buf, 1024, &need), 0);
	CHECK(need == 1024 && strcmp(buf, p1023) == 0, "get_linkstr(1024): needed %zu", need);
	memset(buf, 'X', sizeof buf);
	need = 0;
	EXPECT_RC(shmif_get_linkstr(n, buf, 1023, &need), ENAMETOOLONG);
	CHECK(need == 1024, "get_linkstr(1023): needed %zu, want 1024", need);
	CHECK(strlen(buf) == 1022 && strncmp(buf, p1023, 1022) == 0 && buf[1023] == 'X',
	    "get_linkstr(1023) left %zu bytes and touched buf[1023]", strnlen(buf, 1023));
	memset(buf, 'X', sizeof buf);
	EXPECT_RC(shmif_get_linkstr(n, buf, 1, &need), ENAMETOOLONG);
	CHECK(buf[0] == 0 && buf[1] == 'X', "get_linkstr(1): buf[0] %#x buf[1] %#x", buf[0], buf[1]);
	memset(buf, 'X', sizeof buf);
	need = 0;
	EXPECT_RC(shmif_get_linkstr(n, buf, 0, &need), ENAMETOOLONG);
	CHECK(buf[0] == 'X', "get_linkstr(buflen 0) wrote to buf");
	CHECK(need == 1024, "get_linkstr(buflen 0): needed %zu", need);
	need = 0;
	EXPECT_RC(shmif_get_linkstr(n, NULL, 0, &need), ENAMETOOLONG);
	CHECK(need == 1024, "get_linkstr(NULL, 0): needed %zu", need);
	EXPECT_RC(shmif_get_linkstr(n, NULL, 0, NULL), ENAMETOOLONG);
	EXPECT_RC(shmif_get_linkstr(n, NULL, 5, &need), EFAULT);
	EXPECT_RC(shmif_get_linkstr(n, buf, sizeof buf, NULL), 0);
	EXPECT_RC(shmif_destroy(n), 0);

	/* A relative path is given back as it was given. */
	if (chdir(dir) == 0) {
		MUST(rump_pub_shmif_create("./rel//bus", &n) == ENOENT ? rump_pub_shmif_create("bus", &n) : 0);
		EXPECT_RC(shmif_get_linkstr(n, buf, sizeof buf, &need), 0);
		CHECK(strcmp(buf, "bus") == 0, "a relative path came back as %s", buf);
		EXPECT_RC(shmif_destroy(n), 0);
	}
}

/* ---- nulls ---- */

static void
nulls(void)
{
	int a, b, n, v, fd;
	uint8_t f[60], mac[6], buf[SHMIF_MAXFRAME];
	size_t len = 77, got = 77;
	struct shmif_frame fr = { .data = buf, .cap = sizeof buf }, bad = { .data = NULL, .len = 60 };
	char *bus = pathf("bus");

	MUST(rump_pub_shmif_create(bus, &a));
	MUST(rump_pub_shmif_create(bus, &b));
	MUST(shmif_set_start(b, SHMIF_START_NEXT));
	MUST(shmif_up(b));
	MUST(shmif_get_mac(a, mac));
	hframe_build(f, 60, mac, 1, 1);
	MUST(shmif_send(a, f, 60)); /* a frame waits for b throughout */

	EXPECT_RC(shmif_open(NULL, 0600, &n), EFAULT);
	EXPECT_RC(shmif_set_linkstr(b, NULL), EFAULT);
	EXPECT_RC(shmif_set_linkstr_mode(b, NULL, 0600), EFAULT);
	EXPECT_RC(shmif_get_linkstr(b, NULL, 10, NULL), EFAULT);
	EXPECT_RC(shmif_get_flags(b, NULL), EFAULT);
	EXPECT_RC(shmif_get_mtu(b, NULL), EFAULT);
	EXPECT_RC(shmif_get_mac(b, NULL), EFAULT);
	EXPECT_RC(shmif_get_sender(b, NULL), EFAULT);
	EXPECT_RC(shmif_set_mac(b, NULL), EFAULT);
	EXPECT_RC(shmif_get_media(b, NULL), EFAULT);
	EXPECT_RC(shmif_get_link_state(b, NULL), EFAULT);
	EXPECT_RC(shmif_get_stats(b, NULL), EFAULT);
	EXPECT_RC(shmif_get_pollfd(b, NULL), EFAULT);
	EXPECT_RC(shmif_get_spin(b, NULL), EFAULT);
	EXPECT_RC(shmif_get_capabilities(b, NULL), EFAULT);
	EXPECT_RC(shmif_get_capenable(b, NULL), EFAULT);
	EXPECT_RC(shmif_send(a, NULL, 60), EFAULT);
	EXPECT_RC(shmif_send_offload(a, NULL, 60, 0, 0), EFAULT);
	EXPECT_RC(shmif_send_batch(a, NULL, 1), EFAULT);
	EXPECT_RC(shmif_send_batch(a, &bad, 1), EFAULT);
	/* Receives with a required pointer NULL fail and take nothing. */
	EXPECT_RC(shmif_recv(b, NULL, 100, &len, 0), EFAULT);
	EXPECT_RC(shmif_recv(b, buf, sizeof buf, NULL, 0), EFAULT);
	EXPECT_RC(shmif_recv_frame(b, NULL, 0), EFAULT);
	struct shmif_frame nd = { .data = NULL, .cap = 100 };
	EXPECT_RC(shmif_recv_frame(b, &nd, 0), EFAULT);
	EXPECT_RC(shmif_recv_batch(b, NULL, 1, &got, 0), EFAULT);
	EXPECT_RC(shmif_recv_batch(b, &fr, 1, NULL, 0), EFAULT);
	got = 77;
	EXPECT_RC(shmif_recv_batch(b, &nd, 1, &got, 0), EFAULT);
	CHECK(got == 0, "recv_batch EFAULT: *received = %zu, want 0", got);
	EXPECT_RC(shmif_capture(NULL, 1, 0, NULL, NULL), EFAULT);
	EXPECT_RC(shmif_inject(NULL, 0, NULL), EFAULT);

	/* Optional pointers. A receive into no buffer says how big the frame
	 * is and leaves it on the bus. */
	len = 0;
	EXPECT_RC(shmif_recv(b, NULL, 0, &len, 0), EMSGSIZE);
	CHECK(len == 60, "recv(NULL, 0): *len = %zu, want 60", len);
	struct shmif_frame z = { .data = NULL, .cap = 0 };
	EXPECT_RC(shmif_recv_frame(b, &z, 0), EMSGSIZE);
	CHECK(z.len == 60, "recv_frame(cap 0): len = %zu, want 60", z.len);
	z.len = 0;
	got = 77;
	EXPECT_RC(shmif_recv_batch(b, &z, 1, &got, 0), EMSGSIZE);
	CHECK(got == 0 && z.len == 60, "recv_batch(cap 0): received %zu, len %zu", got, z.len);
	EXPECT_RC(shmif_recv_batch(b, NULL, 0, &got, 0), 0);
	CHECK(got == 0, "recv_batch(n 0): received %zu", got);
	EXPECT_RC(shmif_send_batch(a, NULL, 0), 0);
	/* The waiting frame survived all of the above. */
	len = 0;
	EXPECT_RC(shmif_recv(b, buf, sizeof buf, &len, 0), 0);
	uint32_t id, seq;
	CHECK(len == 60 && hframe_check(buf, len, &id, &seq) == 1, "the waiting frame: %zu bytes", len);
	EXPECT_RC(shmif_recv(b, buf, sizeof buf, &len, 0), EAGAIN);

	/* A batch whose second buffer is too small returns the first frame;
	 * the second stays for the next receive. */
	MUST(shmif_send(a, f, 60));
	MUST(shmif_send(a, f, 60));
	struct shmif_frame two[2] = { { .data = buf, .cap = 60 }, { .data = buf + 100, .cap = 59 } };
	EXPECT_RC(shmif_recv_batch(b, two, 2, &got, 0), 0);
	CHECK(got == 1, "recv_batch with a short second buffer: received %zu, want 1", got);
	EXPECT_RC(shmif_recv(b, buf, 13, &len, 0), EMSGSIZE);
	CHECK(len == 60, "recv(buflen 13): *len %zu", len);
	EXPECT_RC(shmif_recv(b, buf, 60, &len, 0), 0);

	EXPECT_RC(rump_pub_shmif_create(NULL, NULL), 0);
	EXPECT_RC(shmif_create(-1, NULL), 0);
	EXPECT_RC(rump_pub_shmif_create(NULL, &n), 0);
	EXPECT_RC(shmif_get_flags(n, &v), 0);
	CHECK(!(v & SHMIF_IFF_UP), "an interface created without a bus is up");
	EXPECT_RC(shmif_get_lossless(n, NULL, NULL), 0);
	EXPECT_RC(shmif_get_pollfd(n, &fd), ENETDOWN);
	EXPECT_RC(shmif_up(n), ENXIO);
	EXPECT_RC(shmif_get_linkstr(n, NULL, 0, NULL), ENOENT);
	EXPECT_RC(shmif_send(n, f, 60), ENETDOWN);
	EXPECT_RC(shmif_recv(n, buf, sizeof buf, &len, 0), ENETDOWN);
	EXPECT_RC(shmif_recv(n, buf, sizeof buf, &len, -1), ENETDOWN);

	/* Lengths. */
	EXPECT_RC(shmif_send(a, f, 0), EINVAL);
	EXPECT_RC(shmif_send(a, f, 13), EINVAL);
	EXPECT_RC(shmif_send(a, f, 14), 0);
	EXPECT_RC(shmif_send(a, buf, 1514), 0);
	EXPECT_RC(shmif_send(a, buf, 1515), EMSGSIZE);
	EXPECT_RC(shmif_send(a, buf, SIZE_MAX), EMSGSIZE);
	EXPECT_RC(shmif_send(a, buf, (size_t)1 << 32 | 60), EMSGSIZE);
	int pfd[2];
	if (pipe(pfd) == 0) {
		uint64_t fr1 = 99, lost = 99;
		close(pfd[0]);
		signal(SIGPIPE, SIG_IGN);
		EXPECT_RC(shmif_capture(bus, -1, 0, &fr1, &lost), EBADF);
		EXPECT_RC(shmif_capture(bus, 1000000, 0, NULL, NULL), EBADF);
		EXPECT_RC(shmif_capture(bus, pfd[1], -1, NULL, NULL), EINVAL);
		EXPECT_RC(shmif_capture(bus, pfd[1], INT_MIN, NULL, NULL), EINVAL);
		EXPECT_RC(shmif_capture(bus, pfd[1], 0, NULL, NULL), EPIPE);
		EXPECT_RC(shmif_capture("", pfd[1], 0, NULL, NULL), EINVAL);
		EXPECT_RC(shmif_inject(bus, -1, NULL), EBADF);
		EXPECT_RC(shmif_inject("", pcap_fd(), NULL), EINVAL);
		close(pfd[1]);
	}
	/* The timeouts of an idle receive: 0 only looks. */
	while (shmif_recv(b, buf, sizeof buf, &len, 0) == 0)
		;
	int64_t t0 = now_ns();
	EXPECT_RC(shmif_recv(b, buf, sizeof buf, &len, 0), EAGAIN);
	CHECK(now_ns() - t0 < 500000000LL, "recv(timeout 0) took %.0f ms", (now_ns() - t0) / 1e6);
	EXPECT_RC(shmif_destroy(a), 0);
	EXPECT_RC(shmif_destroy(b), 0);
	EXPECT_RC(shmif_destroy(b), ENXIO);
}

/* ---- batches ---- */

static int bx_rx;
static atomic_long bx_got, bx_bad;
static atomic_int bx_stop;

static void *
bx_reader(void *arg)
{
	uint8_t *buf = malloc(256 * SHMIF_MAXFRAME);
	struct shmif_frame fr[256];
	size_t got;
	uint32_t want = 0;

	(void)arg;
	while (!atomic_load(&bx_stop)) {
		for (int i = 0; i < 256; i++)
			fr[i] = (struct shmif_frame){ .data = buf + i * SHMIF_MAXFRAME, .cap = SHMIF_MAXFRAME };
		int rc = shmif_recv_batch(bx_rx, fr, 256, &got, 20);
		if (rc != 0)
			continue;
		for (size_t i = 0; i < got; i++) {
			uint32_t id, seq;
			if (hframe_check(fr[i].data, fr[i].len, &id, &seq) != 1 || seq != want) {
				if (atomic_fetch_add(&bx_bad, 1) < 3)
					FAIL("batch reader: frame %u (%zu bytes), want frame %u", seq, fr[i].len, want);
				want = seq + 1;
				continue;
			}
			want++;
			atomic_fetch_add(&bx_got, 1);
		}
	}
	free(buf);
	return NULL;
}

static void
batches(void)
{
	const size_t big = 1048576;
	struct shmif_frame *fr = calloc(big + 1, sizeof *fr);
	uint8_t *data = malloc((big + 1) * 40);
	uint8_t mac[6];
	struct shmif_stats s0, s1;
	pthread_t th;
	int a;
	size_t got;
	char *bus = pathf("bus");

	MUST(rump_pub_shmif_create(bus, &a));
	MUST(shmif_create(-1, &bx_rx));
	MUST(shmif_set_start(bx_rx, SHMIF_START_NEXT));
	MUST(shmif_set_linkstr(bx_rx, bus));
	MUST(shmif_set_lossless(bx_rx, 30000));
	MUST(shmif_up(bx_rx));
	MUST(shmif_get_mac(a, mac));
	for (size_t i = 0; i <= big; i++) {
		hframe_build(data + i * 40, 40, mac, 1, (uint32_t)i);
		fr[i] = (struct shmif_frame){ .data = data + i * 40, .len = 40 };
	}
	pthread_create(&th, NULL, bx_reader, NULL);

	/* Refusals first: nothing of a refused batch is sent. */
	MUST(shmif_get_stats(a, &s0));
	EXPECT_RC(shmif_send_batch(a, fr, big + 1), EINVAL);
	EXPECT_RC(shmif_send_batch(a, fr, SIZE_MAX), EINVAL);
	fr[big - 1].len = 13;
	EXPECT_RC(shmif_send_batch(a, fr, big), EINVAL);
	fr[big - 1].len = 1515;
	EXPECT_RC(shmif_send_batch(a, fr, big), EMSGSIZE);
	fr[big - 1].len = 40;
	fr[300].data = NULL;
	EXPECT_RC(shmif_send_batch(a, fr, 1000), EFAULT);
	fr[300].data = data + 300 * 40;
	MUST(shmif_get_stats(a, &s1));
	CHECK(s1.opackets == s0.opackets && s1.oerrors == s0.oerrors,
	    "refused batches changed the counters: opackets %llu -> %llu, oerrors %llu -> %llu",
	    (unsigned long long)s0.opackets, (unsigned long long)s1.opackets, (unsigned long long)s0.oerrors,
	    (unsigned long long)s1.oerrors);
	sleep_us(100000);
	CHECK(atomic_load(&bx_got) == 0 && atomic_load(&bx_bad) == 0, "a refused batch put %ld frames on the bus",
	    atomic_load(&bx_got) + atomic_load(&bx_bad));

	/* 0, 256, 257 and 1048576 frames, in order, all received. */
	EXPECT_RC(shmif_send_batch(a, fr, 0), 0);
	EXPECT_RC(shmif_send_batch(a, fr, 256), 0);
	EXPECT_RC(shmif_send_batch(a, fr + 256, 257), 0);
	int64_t t0 = now_ns();
	EXPECT_RC(shmif_send_batch(a, fr + 513, big - 513), 0);
	int64_t took = now_ns() - t0;
	MUST(shmif_get_stats(a, &s1));
	CHECK(s1.opackets - s0.opackets == big, "opackets grew by %llu, want %zu",
	    (unsigned long long)(s1.opackets - s0.opackets), big);
	t0 = now_ns();
	while (atomic_load(&bx_got) < (long)big && now_ns() - t0 < 20000000000LL)
		sleep_us(10000);
	atomic_store(&bx_stop, 1);
	pthread_join(th, NULL);
	struct shmif_stats r;
	MUST(shmif_get_stats(bx_rx, &r));
	INFO("batch of %zu frames sent in %.0f ms; received %ld, lost %llu", big - 513, took / 1e6,
	    atomic_load(&bx_got), (unsigned long long)r.lost);
	CHECK(atomic_load(&bx_got) == (long)big && r.lost == 0, "a lossless receiver got %ld of %zu frames (lost %llu)",
	    atomic_load(&bx_got), big, (unsigned long long)r.lost);

	/* recv_batch with n over 256 takes at most 256. */
	EXPECT_RC(shmif_send_batch(a, fr, 600), 0);
	struct shmif_frame *rf = calloc(big + 1, sizeof *rf);
	uint8_t *rb = malloc(300 * SHMIF_MAXFRAME);
	for (size_t i = 0; i <= big; i++)
		rf[i] = (struct shmif_frame){ .data = rb + (i % 300) * SHMIF_MAXFRAME, .cap = SHMIF_MAXFRAME };
	EXPECT_RC(shmif_recv_batch(bx_rx, rf, big + 1, &got, 100), 0);
	CHECK(got >= 1 && got <= 256, "recv_batch(n %zu) received %zu", big + 1, got);
	EXPECT_RC(shmif_recv_batch(bx_rx, rf, 257, &got, 100), 0);
	CHECK(got >= 1 && got <= 256, "recv_batch(n 257) received %zu", got);
	EXPECT_RC(shmif_destroy(a), 0);
	EXPECT_RC(shmif_destroy(bx_rx), 0);
	free(fr);
	free(data);
	free(rf);
	free(rb);
}

/* ---- units ---- */

static void
units(void)
{
	int n, rc;
	int64_t t0 = now_ns();
	struct stat st;

	for (int i = 0; i < SHMIF_MAXUNITS; i++) {
		rc = shmif_create(-1, &n);
		if (rc != 0 || n != i) {
			FAIL("shmif_create(-1) number %d = %s, unit %d", i, en(rc), n);
			return;
		}
	}
	INFO("32768 units created in %.0f ms", (now_ns() - t0) / 1e6);
	EXPECT_RC(shmif_create(-1, &n), ENOSPC);
	EXPECT_RC(shmif_create(32767, &n), EEXIST);
	EXPECT_RC(shmif_create(32768, &n), EINVAL);
	EXPECT_RC(rump_pub_shmif_create(pathf("bus"), &n), ENOSPC);
	EXPECT_RC(shmif_open(pathf("bus2"), 0600, &n), ENOSPC);
	if (stat(pathf("bus"), &st) == 0)
		INFO("rump_pub_shmif_create without a free unit left its new bus file behind");
	EXPECT_RC(shmif_destroy(20000), 0);
	EXPECT_RC(rump_pub_shmif_create(pathf("bus"), &n), 0);
	CHECK(n == 20000, "the freed unit 20000 was not reused: got %d", n);
	EXPECT_RC(shmif_destroy(32767), 0);
	EXPECT_RC(shmif_create(32767, &n), 0);
	t0 = now_ns();
	for (int i = 0; i < SHMIF_MAXUNITS; i++) {
		rc = shmif_destroy(i);
		if (rc != 0) {
			FAIL("destroy %d = %s", i, en(rc));
			break;
		}
	}
	INFO("32768 units destroyed in %.0f ms", (now_ns() - t0) / 1e6);
	EXPECT_RC(shmif_create(-1, &n), 0);
	CHECK(n == 0, "after destroying all, the lowest free unit is %d", n);
}

/* ---- nofile ---- */

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	if (d != NULL)
		closedir(d);
	return n - 1;
}

/* count_fds_of counts this process's descriptors of the file st names.
 * Only those are promised (rump.h: "share one mapping and one descriptor
 * of it"): a libshmif process also opens descriptors for moments, such as
 * /proc while it looks for NetBSD peers after someone opened the bus. */
static int
count_fds_of(const struct stat *st)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	struct stat fst;
	int n = 0;

	while (d != NULL && (e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd != dirfd(d) && fstat(fd, &fst) == 0 &&
		    fst.st_dev == st->st_dev && fst.st_ino == st->st_ino)
			n++;
	}
	if (d != NULL)
		closedir(d);
	return n;
}

static long
soft_nofile(void)
{
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, &rl);
	return (long)rl.rlim_cur;
}

static void
set_soft_nofile(long v)
{
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = (rlim_t)v;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/*
 * nofile: the process was started with the soft RLIMIT_NOFILE want.
 * rump.h: "libshmif gives the host its limit back: the one it had when the
 * library was loaded or, if the host changed it before the first libshmif
 * call, the one it had then"; "The process's limits ... are left as the
 * host set them."
 *   create  the first call is shmif_create; then the host lowers the limit
 *           by 8 and attaches: the limit stays
 *   first   the host lowers the limit before its first call (an attach)
 *   init    rump_init is the first call; then the host lowers the limit
 *           and attaches
 * Then poll descriptors and buses until EMFILE, with the interfaces still
 * working.
 */
static void
nofile(long want, const char *variant)
{
	int n, rc, ifs[200], nifs = 0, fd, pfd;
	uint8_t f[60], mac[6], buf[SHMIF_MAXFRAME];
	size_t len;

	if (strcmp(variant, "create") == 0) {
		MUST(shmif_create(-1, &n));
		CHECK(soft_nofile() == want, "RLIMIT_NOFILE soft limit %ld after the first call, the host had %ld at load",
		    soft_nofile(), want);
		EXPECT_RC(shmif_destroy(n), 0);
	} else if (strcmp(variant, "init") == 0) {
		rump_init();
		CHECK(soft_nofile() == want, "RLIMIT_NOFILE soft limit %ld after rump_init, the host had %ld at load",
		    soft_nofile(), want);
	}
	set_soft_nofile(want - 8);
	MUST(rump_pub_shmif_create(pathf("bus"), &n));
	CHECK(soft_nofile() == want - 8, "%s: RLIMIT_NOFILE soft limit %ld after an attach, the host had set %ld",
	    variant, soft_nofile(), want - 8);
	if (strcmp(variant, "create") != 0) {
		EXPECT_RC(shmif_destroy(n), 0);
		return;
	}
	ifs[nifs++] = n;
	/* Poll descriptors until the limit: EMFILE, and the interfaces still
	 * work. */
	for (;;) {
		if (nifs == 200)
			break;
		rc = rump_pub_shmif_create(pathf("bus"), &n);
		if (rc != 0) {
			CHECK(oneof(rc, EMFILE, ENFILE, -1), "attach near the descriptor limit = %s", en(rc));
			break;
		}
		ifs[nifs++] = n;
		rc = shmif_get_pollfd(n, &fd);
		if (rc != 0) {
			CHECK(rc == EMFILE, "get_pollfd at the descriptor limit = %s, want EMFILE", en(rc));
			break;
		}
	}
	INFO("interfaces=%d", nifs);
	rc = shmif_get_pollfd(ifs[nifs - 1], &fd);
	CHECK(oneof(rc, 0, EMFILE, -1), "get_pollfd = %s", en(rc));
	/* Take every descriptor left. */
	int spare[256], nspare = 0;
	while (nspare < 256 && (spare[nspare] = open("/dev/null", O_RDONLY)) >= 0)
		nspare++;
	rc = rump_pub_shmif_create(pathf("other"), &n);
	CHECK(rc == EMFILE, "a new bus without a descriptor left = %s, want EMFILE", en(rc));
	MUST(shmif_get_mac(ifs[0], mac));
	int rx = ifs[nifs - 1];
	shmif_set_start(rx, SHMIF_START_NEXT);
	EXPECT_RC(shmif_up(rx), 0);
	rc = shmif_get_pollfd(rx, &pfd);
	CHECK(oneof(rc, 0, EMFILE, -1), "get_pollfd with no descriptor left = %s", en(rc));
	hframe_build(f, 60, mac, 1, 1);
	EXPECT_RC(shmif_send(ifs[0], f, 60), 0);
	EXPECT_RC(shmif_recv(rx, buf, sizeof buf, &len, 1000), 0);
	/* A receive that must block without a descriptor for a watch. */
	int64_t t0 = now_ns();
	rc = shmif_recv(rx, buf, sizeof buf, &len, 100);
	CHECK(rc == ETIMEDOUT, "blocking receive with no descriptor left = %s", en(rc));
	CHECK(now_ns() - t0 < 2000000000LL, "timeout 100 ms took %.0f ms", (now_ns() - t0) / 1e6);
	EXPECT_RC(shmif_send(ifs[0], f, 60), 0);
	EXPECT_RC(shmif_recv(rx, buf, sizeof buf, &len, 1000), 0);
	while (nspare > 0)
		close(spare[--nspare]);
	for (int i = 0; i < nifs; i++)
		EXPECT_RC(shmif_destroy(ifs[i]), 0);
	/* After the delayed closes, poll descriptors can be had again. */
	sleep_us(400000);
	MUST(rump_pub_shmif_create(pathf("bus"), &n));
	EXPECT_RC(shmif_get_pollfd(n, &fd), 0);
	EXPECT_RC(shmif_destroy(n), 0);
	CHECK(soft_nofile() == want - 8, "RLIMIT_NOFILE soft limit %ld at the end, the host set %ld", soft_nofile(),
	    want - 8);
}

/* ---- sameinode ---- */

static int
count_maps(ino_t ino)
{
	FILE *fp = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	while (fp != NULL && fgets(line, sizeof line, fp) != NULL) {
		unsigned long long i = 0;
		char dev[32];
		if (sscanf(line, "%*s %*s %*s %31s %llu", dev, &i) == 2 && i == ino)
			n++;
	}
	if (fp != NULL)
		fclose(fp);
	return n;
}

static void
sameinode(void)
{
	int ifs[8], k = 0, fds0, rx;
	struct stat st;
	char cwdrel[16] = "bus";
	uint8_t f[60], mac[6], buf[SHMIF_MAXFRAME];
	size_t len;

	MUST(rump_pub_shmif_create(pathf("bus"), &ifs[k++]));
	stat(pathf("bus"), &st);
	fds0 = count_fds_of(&st);
	symlink(pathf("bus"), pathf("sym"));
	link(pathf("bus"), pathf("hard"));
	MUST(rump_pub_shmif_create(pathf("sym"), &ifs[k++]));
	MUST(rump_pub_shmif_create(pathf("hard"), &ifs[k++]));
	MUST(rump_pub_shmif_create(pathf(".//bus"), &ifs[k++]));
	if (chdir(dir) == 0)
		MUST(rump_pub_shmif_create(cwdrel, &ifs[k++]));
	int fds1 = count_fds_of(&st), maps = count_maps(st.st_ino);
	INFO("descriptors of the bus: %d with one interface, %d with %d by other paths; mappings of the bus: %d",
	     fds0, fds1, k, maps);
	CHECK(fds1 == fds0, "interfaces on one bus by other paths took %d more descriptors of it", fds1 - fds0);
	CHECK(maps == 1, "the bus is mapped %d times (\"share one mapping\")", maps);
	/* They are one bus: a frame from the first reaches the others. */
	MUST(shmif_get_mac(ifs[0], mac));
	rx = ifs[k - 1];
	hframe_build(f, 60, mac, 1, 1);
	shmif_set_start(rx, SHMIF_START_NEXT);
	shmif_up(rx);
	EXPECT_RC(shmif_send(ifs[0], f, 60), 0);
	EXPECT_RC(shmif_recv(rx, buf, sizeof buf, &len, 1000), 0);
	for (int i = 0; i < k; i++)
		EXPECT_RC(shmif_destroy(ifs[i]), 0);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: files MODE DIR [ARGS]\n");
		return 2;
	}
	dir = argv[2];
	const char *mode = argv[1];
	if (strcmp(mode, "foreign") == 0)
		foreign();
	else if (strcmp(mode, "capturefifo") == 0)
		capture_fifo();
	else if (strcmp(mode, "accepted") == 0)
		accepted();
	else if (strcmp(mode, "nonroot") == 0)
		nonroot();
	else if (strcmp(mode, "enospc") == 0)
		enospc();
	else if (strcmp(mode, "erofs") == 0)
		erofs();
	else if (strcmp(mode, "paths") == 0)
		paths();
	else if (strcmp(mode, "nulls") == 0)
		nulls();
	else if (strcmp(mode, "batches") == 0)
		batches();
	else if (strcmp(mode, "units") == 0)
		units();
	else if (strcmp(mode, "nofile") == 0)
		nofile(atol(argv[3]), argv[4]);
	else if (strcmp(mode, "sameinode") == 0)
		sameinode();
	else if (strcmp(mode, "attach") == 0) {
		int n, w = -1;
		MUST(rump_pub_shmif_create(dir, &n));
		EXPECT_RC(shmif_set_lossless(n, 100), 0);
		EXPECT_RC(shmif_get_lossless(n, NULL, &w), 0);
		INFO("lossless_active=%d", w);
		EXPECT_RC(shmif_destroy(n), 0);
	}
	else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	return finish();
}
