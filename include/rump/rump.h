/*
 * rump.h -- libshmif: the shmif virtual Ethernet bus of NetBSD rump kernels,
 * as a library for ordinary processes.
 *
 * A shmif bus is a 1 MiB memory-mapped regular file. Every interface attached
 * to it sees every frame on it; anyone with permission to the file may attach,
 * with no root and no daemon. The file format, lock and wake-up are NetBSD's,
 * so a NetBSD rump kernel and libshmif can share one bus.
 *
 * Conventions (like the rump kernel's own calls):
 *   - Every function returns 0 on success or a positive errno value
 *     (<errno.h>, host numbering) on failure. No function prints, aborts or
 *     calls exit(); out parameters are written only on success unless a
 *     function says otherwise.
 *   - Interfaces are named by their unit number `ifnum` (interface
 *     shmif<ifnum>), 0 to 32767. An unknown ifnum gives ENXIO.
 *   - Frames are Ethernet frames of 14 to 1514 bytes: destination MAC, source
 *     MAC, type, payload, with no FCS and no padding. The source MAC is not
 *     checked or rewritten.
 *   - Every function is thread-safe: any thread may call any function on any
 *     interface at any time. Several threads may receive on one interface;
 *     each frame goes to one of them.
 *   - Timeouts are in milliseconds: 0 only looks, -1 (or any negative
 *     value) waits without limit. A timeout is a deadline: signals that
 *     interrupt the wait (and are handled by the host) do not extend it.
 *   - Four environment variables, read with getenv(3) (so a host's
 *     setenv(3) counts): RUMP_SHMIF_CAPENABLE (see shmif_create),
 *     SHMIF_SPIN_US (see shmif_set_spin) and SHMIF_START (see
 *     shmif_set_start) configure every interface created after they are
 *     set (by any creating call); SHMIF_WAKE=always, read when a process
 *     first maps a bus, makes its senders write NetBSD's wake-up after every
 *     batch, for NetBSD peers libshmif cannot see (see Waking NetBSD peers
 *     below).
 *   - Interfaces of one process attached to the same bus file (by any path)
 *     share one mapping and one descriptor of it.
 *
 * Loading libshmif (a Go c-shared library) into a C process:
 *   - The Go runtime starts a few threads when the library is loaded and
 *     installs handlers for some signals (SIGSEGV, SIGBUS, SIGPROF, SIGURG
 *     and others) with SA_ONSTACK, chaining to handlers the host installed
 *     earlier. Handlers the host installs for SIGINT, SIGTERM, SIGHUP,
 *     SIGUSR1, SIGALRM, SIGPIPE and the like, before or after loading, with
 *     or without SA_ONSTACK or SA_RESTART, keep working, also when they
 *     interrupt a thread inside libshmif: libshmif runs Go code on the
 *     host's threads with 64 KiB of stack to spare, and blocks in C, on the
 *     thread's own stack. One limit, the Go runtime's: a handler installed
 *     without SA_ONSTACK runs on whatever stack it interrupts, and the Go
 *     runtime's own code inside libshmif runs on goroutine stacks with
 *     little room (4 KiB during a thread's first call), so a handler that
 *     uses more than about 512 bytes of stack, or nests, can overflow one
 *     and abort the process. Give such handlers an alternate stack
 *     (sigaltstack(2) and SA_ONSTACK); handlers with SA_ONSTACK may use
 *     what their alternate stack holds.
 *   - The process's limits and signal dispositions are left as the host set
 *     them. (Go's runtime raises the soft RLIMIT_NOFILE for itself when it
 *     starts; libshmif gives the host its limit back, the one it had when
 *     the library was loaded or, if the host changed it before the first
 *     libshmif call, the one it had then. The runtime also puts a handler
 *     for SIGPIPE in place of SIG_IGN, which exec would reset to the
 *     default for the programs the host runs; libshmif puts SIG_IGN back
 *     while the library loads.)
 *   - The Go runtime reserves about 800 MiB of address space when it loads,
 *     and starts threads when it needs them (each with a stack of
 *     RLIMIT_STACK). Under an address-space limit (ulimit -v) below about
 *     1 GiB the library cannot load, and below about 2 GiB the runtime may
 *     abort the process when it cannot start a thread; no libshmif call
 *     can report that. Calls that run out of memory themselves (a mapping
 *     that cannot be made) return ENOMEM.
 *   - fork() without exec() leaves a child in which only the forking thread
 *     exists: do not call libshmif in such a child. fork()+exec() is fine.
 *   - Memory faults on the bus mapping (the bus file truncated by another
 *     process) are caught and reported as EIO; they do not kill the host.
 *
 * Waking NetBSD peers. Stores into the bus mapping notify nobody: NetBSD
 * readers sleep until the bus file is written to, and a NetBSD sender
 * writes 4 bytes at offset 4 after every batch. libshmif processes of a bus
 * share private state beside it (/dev/shm/shmif-DEV-INO, made on demand,
 * removed by the last process to leave it or, when they were all killed,
 * by the next libshmif process of the same user)
 * and wake each other with a futex, only when one sleeps: while every
 * process that has the bus file open is such a process, senders make no
 * system call at all. When another process has it open (a NetBSD rump
 * kernel, shmif_dumpbus, anything), or a poll descriptor exists on the bus,
 * senders make NetBSD's wake-up write after every batch, and one at once
 * when such a process appears. libshmif looks for such processes in /proc
 * when it attaches and whenever the bus file is opened or closed; it cannot
 * see processes in other pid namespaces, nor root's when it is not root:
 * for those set SHMIF_WAKE=always.
 *
 * Common errors, not repeated below: ENXIO (no interface with that ifnum, or
 * it was destroyed), EFAULT (a required pointer is NULL). Calls that touch
 * the bus (attaching, up, sending, receiving, capture and injection) may
 * also return EIO (the bus file was truncated under the mapping: unset and
 * set the linkstr, or destroy and create the interface again; or an
 * internal failure, such as no random bytes for an interface id), ENOEXEC
 * (something overwrote the bus file's magic: it is no longer a bus) and
 * EDEADLK (the bus lock stayed held for 10 seconds by a live process while
 * the bus made no progress: no frame written, no header word changed;
 * receives with a timeout give up at their deadline instead, with
 * ETIMEDOUT, or EAGAIN after at most 10 ms with timeout 0). A bus file that is removed or renamed over stays
 * attached as it was: its attached interfaces keep talking to one another,
 * and interfaces attached later by path reach the new file; re-attach to
 * join them.
 */
#ifndef LIBSHMIF_RUMP_H
#define LIBSHMIF_RUMP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMIF_MINFRAME 14   /* Ethernet header */
#define SHMIF_MAXFRAME 1514 /* Ethernet header + 1500-byte MTU */
#define SHMIF_MTU 1500
#define SHMIF_MAXUNITS 32768
#define SHMIF_MAXLINKSTR 1024 /* longest bus path, counting its NUL */

/*
 * The bus: a file of SHMIF_BUSSIZE bytes whose last SHMIF_RINGSIZE bytes are
 * a ring of records, each a SHMIF_FRAMEHDR-byte header and a frame. A ring
 * holds SHMIF_RINGSIZE / (SHMIF_FRAMEHDR + frame length) frames: 12482 of
 * 60 bytes, 681 of 1514 (on i386: 13106, 683). A reader that falls that far behind the writers
 * loses frames (counted in struct shmif_stats.lost): senders that must not
 * lap their receivers pace themselves by these figures.
 */
#define SHMIF_BUSSIZE 1048576
#define SHMIF_RINGSIZE 1048544
#if defined(__i386__)
#define SHMIF_FRAMEHDR 20 /* i386 aligns uint64_t to 4 bytes */
#define SHMIF_RING_FRAMES_60 13106
#define SHMIF_RING_FRAMES_1514 683
#else
#define SHMIF_FRAMEHDR 24
#define SHMIF_RING_FRAMES_60 12482
#define SHMIF_RING_FRAMES_1514 681
#endif

/* Interface flags (NetBSD's IFF_* values), from shmif_get_flags. */
#define SHMIF_IFF_UP 0x0001
#define SHMIF_IFF_BROADCAST 0x0002
#define SHMIF_IFF_RUNNING 0x0040
#define SHMIF_IFF_PROMISC 0x0100
#define SHMIF_IFF_SIMPLEX 0x0800
#define SHMIF_IFF_MULTICAST 0x8000

/* Media words and link states (NetBSD's LINK_STATE_* values). */
#define SHMIF_MEDIA_AUTO 0
#define SHMIF_MEDIA_NONE 1
#define SHMIF_LINK_UNKNOWN 0
#define SHMIF_LINK_DOWN 1
#define SHMIF_LINK_UP 2

/* Offload capability bits (NetBSD's IFCAP_* values). */
#define SHMIF_CAP_TSOv4 0x00080
#define SHMIF_CAP_IPv4_Rx 0x00100
#define SHMIF_CAP_IPv4_Tx 0x00200
#define SHMIF_CAP_TCPv4_Rx 0x00400
#define SHMIF_CAP_TCPv4_Tx 0x00800
#define SHMIF_CAP_UDPv4_Rx 0x01000
#define SHMIF_CAP_UDPv4_Tx 0x02000
#define SHMIF_CAP_TCPv6_Rx 0x04000
#define SHMIF_CAP_TCPv6_Tx 0x08000
#define SHMIF_CAP_UDPv6_Rx 0x10000
#define SHMIF_CAP_UDPv6_Tx 0x20000
#define SHMIF_CAP_TSOv6 0x40000
#define SHMIF_CAPABILITIES 0x7ff80 /* all of the above: what shmif offers */

/*
 * Checksum flags (NetBSD's M_CSUM_* values): work requested from
 * shmif_send_offload, and checksum status reported by shmif_recv_batch
 * while a receive capability is enabled.
 */
#define SHMIF_CSUM_TCPv4 0x0001
#define SHMIF_CSUM_UDPv4 0x0002
#define SHMIF_CSUM_TCP_UDP_BAD 0x0004 /* status: TCP/UDP checksum wrong */
#define SHMIF_CSUM_TCPv6 0x0010
#define SHMIF_CSUM_UDPv6 0x0020
#define SHMIF_CSUM_IPv4 0x0040
#define SHMIF_CSUM_IPv4_BAD 0x0080 /* status: IPv4 header checksum wrong */
#define SHMIF_CSUM_TSOv4 0x0100
#define SHMIF_CSUM_TSOv6 0x0200
#define SHMIF_MAXOFFLOADFRAME 65674 /* 18 + 60 + 60 + 65536 */

/*
 * rump_init: the rump kernel's initialisation call, so that rump-style
 * harness code links unchanged. libshmif needs no initialisation: it always
 * returns 0, however often it is called. It does wait until the Go runtime
 * inside libshmif has started (within milliseconds of loading), so that the
 * host's own set-up after it (limits, signal handlers) comes after
 * everything the runtime does at start-up. A weak symbol: a real rump
 * kernel linked into the same program takes precedence.
 */
int rump_init(void);

/*
 * rump_pub_shmif_create: create interface shmif<N> with the lowest free unit
 * N and attach it to the bus file at `path` (NetBSD's function of the same
 * name). The file is created with mode 0644 (under the umask) if it does not
 * exist; a relative path is relative to the working directory; symbolic links
 * are followed. Unlike in a rump kernel, where a network stack would still
 * have to bring it up, the interface is up and receiving from the moment
 * this returns (and, as after every up, reception starts where
 * shmif_set_start says: by default the newest frame already on the bus is
 * received again, as in NetBSD; SHMIF_START=next starts clean). With path == NULL the interface is created without a bus and
 * stays down (attach one with shmif_set_linkstr, then shmif_up).
 * The unit is stored in *ifnum unless ifnum is NULL.
 * An existing file is attached if it is a bus (it carries the bus magic; a
 * bus shorter than 1 MiB is extended, as NetBSD does, a longer one is not
 * shrunk), if it is empty, or if it is exactly 1 MiB of zeros (a bus whose
 * creator has not written its header yet); any other file is refused with
 * ENOEXEC and left byte for byte as it was.
 * Returns:
 *   EINVAL   path is "" (empty).
 *   E2BIG    path is 1024 bytes or longer (with its NUL, over 1024).
 *   ENOEXEC  the file exists and is not one of the above (a foreign file, a
 *            file of zeros of another size, a bus of the other byte order);
 *            it is left unchanged.
 *   EISDIR   path is a directory.
 *   EINVAL   path is a FIFO, socket or device.
 *   EACCES   the file, or a directory on its path, may not be written or
 *            searched by this process: a bus is always opened read-write.
 *   EROFS    the file is on a read-only file system.
 *   ENOSPC   the file system has no room for a new bus (the file this call
 *            created is removed again); or all 32768 units are in use.
 *   ENOMEM   the bus could not be mapped.
 *   ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EMFILE, ...: from open(2).
 */
int rump_pub_shmif_create(const char *path, int *ifnum);

/*
 * shmif_open: rump_pub_shmif_create with the permission bits `mode` for a
 * bus file that does not exist yet (0600 makes a private bus), under the
 * umask; only the permission bits (mode & 0777) are used, never set-id or
 * sticky bits. The mode of an existing file is not changed. Returns as
 * rump_pub_shmif_create, and EFAULT for a NULL path.
 */
int shmif_open(const char *path, unsigned int mode, int *ifnum);

/*
 * shmif_create: create interface shmif<unit> (`ifconfig shmifN create`),
 * down and without a bus; unit -1 takes the lowest free unit. The unit is
 * stored in *ifnum unless ifnum is NULL. The initial enabled capabilities
 * come from the environment variable RUMP_SHMIF_CAPENABLE, as in a rump
 * kernel (parsed like strtoul(s, NULL, 0), masked with SHMIF_CAPABILITIES;
 * as in NetBSD, a value of 256 bytes or more is ignored and gives 0).
 * Returns:
 *   EEXIST   that unit exists.
 *   EINVAL   unit is below -1 or above 32767.
 *   ENOSPC   unit -1 and all units are in use.
 */
int shmif_create(int unit, int *ifnum);

/*
 * shmif_destroy: destroy an interface (`ifconfig shmifN destroy`): take it
 * down, detach the bus and free the unit. The bus file is not removed.
 * Threads blocked in a receive on it return ENXIO; its poll descriptor
 * becomes readable (see shmif_get_pollfd).
 */
int shmif_destroy(int ifnum);

/*
 * shmif_set_linkstr: attach the interface to the bus file at `path`
 * (`ifconfig shmifN linkstr PATH`); the file is created with mode 0644 under
 * the umask if needed. The link state becomes up (unless media is none).
 * shmif_set_linkstr_mode: the same with the mode for a new file.
 * Returns:
 *   EBUSY    the interface is up, or already has a bus (unset it first).
 *   EINVAL   path is "".
 *   E2BIG    path is 1024 bytes or longer (with its NUL, over 1024).
 *   and the file errors of rump_pub_shmif_create (ENOEXEC, EISDIR, ...).
 */
int shmif_set_linkstr(int ifnum, const char *path);
int shmif_set_linkstr_mode(int ifnum, const char *path, unsigned int mode);

/*
 * shmif_unset_linkstr: detach the interface from its bus (`ifconfig shmifN
 * -linkstr`); without a bus it does nothing. The link state becomes unknown;
 * the poll descriptor becomes readable and is closed (see
 * shmif_get_pollfd).
 * Returns: EBUSY if the interface is up.
 */
int shmif_unset_linkstr(int ifnum);

/*
 * shmif_get_linkstr: copy the bus path, as it was given, with its NUL into
 * buf. *needed (unless NULL) is set to the size needed, counting the NUL,
 * also when buf is too small.
 * Returns:
 *   ENOENT        no bus is attached.
 *   ENAMETOOLONG  buflen is smaller than *needed; buf holds as much of the
 *                 path as fits, NUL-terminated (if buflen > 0).
 *   EFAULT        buf is NULL and buflen > 0.
 */
int shmif_get_linkstr(int ifnum, char *buf, size_t buflen, size_t *needed);

/*
 * shmif_up / shmif_down: bring the interface up (`ifconfig shmifN up`) or
 * down. Every up, also of an interface that is up already, restarts
 * reception where shmif_set_start says: by default at the newest frame
 * already on the bus, which is received again (as NetBSD does). Down stops
 * reception; threads blocked in a receive on it return ENETDOWN; like
 * NetBSD's shmif_stop it wakes every reader of the bus (and so stamps the
 * bus version). Up with media none is allowed: the link stays down.
 * Returns: ENXIO (also: shmif_up without a bus); EIO, EDEADLK (shmif_up
 * places the reader under the bus lock).
 */
int shmif_up(int ifnum);
int shmif_down(int ifnum);

/*
 * shmif_get_flags: the IFF_* flags (SHMIF_IFF_*): BROADCAST, SIMPLEX and
 * MULTICAST always; UP and RUNNING while up; PROMISC when promiscuous.
 * shmif_get_mtu: 1500.
 */
int shmif_get_flags(int ifnum, int *flags);
int shmif_get_mtu(int ifnum, int *mtu);

/*
 * shmif_get_mac / shmif_set_mac: the interface's link address, initially
 * b2:a0 and four random bytes. Reception filters on the current address;
 * filters apply when a frame is received, so a change also applies to frames
 * still waiting on the bus.
 * shmif_get_sender: the interface's sender id, a random 64-bit value chosen
 * at creation that every frame it sends carries (its first four bytes in
 * memory are the last four of the initial MAC, as in NetBSD); a receiver
 * sees it in struct shmif_frame.sender. Receivers drop the frames of their
 * own interface by it.
 * Returns (set): EINVAL for a multicast or broadcast address.
 */
int shmif_get_mac(int ifnum, uint8_t mac[6]);
int shmif_get_sender(int ifnum, uint64_t *sender);
int shmif_set_mac(int ifnum, const uint8_t mac[6]);

/*
 * shmif_set_promisc: on != 0 receives unicast frames for any address too;
 * on == 0 turns that off again.
 */
int shmif_set_promisc(int ifnum, int on);

/*
 * shmif_set_media / shmif_get_media: SHMIF_MEDIA_AUTO (the default) or
 * SHMIF_MEDIA_NONE (`ifconfig shmifN media none`): the link goes down, no
 * frame is written to or received from the bus (frames that arrive meanwhile
 * are dropped, also if media comes back before they were read);
 * transmissions still succeed and are counted, as NetBSD does.
 * shmif_get_link_state: SHMIF_LINK_DOWN with media none (whatever else
 * holds); otherwise SHMIF_LINK_UP while a bus is attached, UNKNOWN without.
 * Returns (set): EINVAL for another media word; EIO, EDEADLK (going back to
 * auto skips what arrived meanwhile under the bus lock).
 */
int shmif_set_media(int ifnum, int media);
int shmif_get_media(int ifnum, int *media);
int shmif_get_link_state(int ifnum, int *state);

/* Interface counters. */
struct shmif_stats {
	uint64_t ipackets; /* frames received (accepted by the filter) */
	uint64_t ibytes;
	uint64_t imcasts; /* of which multicast or broadcast */
	uint64_t opackets; /* frames sent */
	uint64_t obytes;
	uint64_t omcasts;
	uint64_t oerrors; /* frames shmif_send_offload refused (EOPNOTSUPP,
	                     EINVAL, EMSGSIZE), and frames lost to a bus error
	                     (EIO, EDEADLK); frames refused for their size by
	                     the other send calls, and sends on an interface
	                     that is down (ENETDOWN), are not counted */
	uint64_t lost;    /* bus records overwritten before this interface's
	                     reader reached them (it was lapped): frames of
	                     every sender, this interface's own and unicast
	                     frames for others included */
	uint64_t corrupt; /* bus records skipped because they were damaged */
};

/* shmif_get_stats: copy the counters into *st. */
int shmif_get_stats(int ifnum, struct shmif_stats *st);

/*
 * shmif_send: put one frame on the bus and wake its readers.
 * Returns:
 *   EMSGSIZE  len > 1514.
 *   EINVAL    len < 14.
 *   ENETDOWN  the interface is down.
 * A writer killed at any instruction of a send leaves the bus as it was
 * before the send (its bytes lie in the free part of the ring) and the bus
 * lock to be taken over: receivers never see part of a frame.
 */
int shmif_send(int ifnum, const void *frame, size_t len);

/*
 * shmif_recv: receive one frame into buf (buflen bytes) and store its length
 * in *len, waiting up to timeout_ms for one. Frames sent by this interface,
 * and unicast frames for other addresses unless promiscuous, are not
 * received.
 * Returns:
 *   EAGAIN    timeout_ms == 0 and no frame is there.
 *   ETIMEDOUT no frame arrived within timeout_ms.
 *   EMSGSIZE  the next frame is longer than buflen; it is left on the bus
 *             and *len is set to its length (1514 bytes always suffice).
 *   ENETDOWN  the interface is down, or was taken down during the wait.
 *   ENXIO     ... or was destroyed during the wait.
 *   ECANCELED shmif_cancel was called during the wait.
 */
int shmif_recv(int ifnum, void *buf, size_t buflen, size_t *len, int timeout_ms);

/* One frame for the batch calls and shmif_recv_frame. */
struct shmif_frame {
	void *data;   /* send: the frame; receive: where to store it */
	size_t len;   /* send: its length; receive: set to the frame's length */
	size_t cap;   /* receive: size of data; send: ignored */
	uint32_t csum; /* receive: SHMIF_CSUM_* status while an RX capability
	                  is enabled, else 0 */
	uint32_t sec;  /* receive: the sender's timestamp (wall clock for
	                  libshmif senders, uptime for NetBSD ones) */
	uint32_t usec;
	uint32_t pad;  /* 0 */
	uint64_t sender; /* receive: the sending interface's id (every frame an
	                    interface sends carries its random 64-bit id) */
};

/*
 * shmif_send_batch: put n frames on the bus, in order, under one hold of
 * the bus lock per 256 frames and with one wake-up per 256 frames. All
 * frames are checked first, whatever n: if one is refused, none is sent.
 * n == 0 returns 0. While a lossless receiver holds the writer back (see
 * shmif_set_lossless) the lock is released as it waits, so frames of
 * other senders may come between; the wait bound counts from the start of
 * each chunk of 256 frames. A batch is published in parts of at most a
 * quarter of the ring: a writer killed mid-batch leaves the parts already
 * published (every frame on the bus is whole).
 * Returns as shmif_send; EFAULT also for a frame with data NULL; EINVAL for
 * n over 1048576; EIO or EDEADLK with the frames before the failing hold
 * sent (counted in opackets) and those of the failing hold counted in
 * oerrors (some of them may be on the bus).
 */
int shmif_send_batch(int ifnum, const struct shmif_frame *frames, size_t n);

/*
 * shmif_recv_batch: receive up to n frames (at most 256 per call) under at
 * most one lock acquisition (none when the receiver is only a few frames
 * behind the writers), waiting up to timeout_ms for the first. *received
 * (required) is set to the number of frames filled in, also on error (then
 * 0: a call that received frames before the bus failed returns 0 with
 * them, and the next call reports the error). A frame that does not fit its buffer ends the batch and stays on the
 * bus: if it is the first, the call returns EMSGSIZE with frames[0].len set
 * to the length needed, otherwise 0 with the frames before it. n == 0
 * returns 0 at once. Returns as shmif_recv. This call and shmif_recv_frame
 * report checksum status (csum), timestamp and sender; shmif_recv receives
 * the same frames without them.
 */
int shmif_recv_batch(int ifnum, struct shmif_frame *frames, size_t n,
    size_t *received, int timeout_ms);

/*
 * shmif_get_pollfd: a file descriptor that polls readable (POLLIN) while a
 * frame may be waiting for this interface, for poll/epoll/select and event
 * loops. Every call returns the same descriptor while the interface keeps
 * its bus; it survives shmif_down and shmif_up. After shmif_unset_linkstr
 * (which closes it, see below) and a new shmif_set_linkstr, the next call
 * makes a new one. It stays owned by libshmif: never read or close it.
 * Readiness: the descriptor is readable right after this call and after
 * every shmif_up (frames may be waiting), and stays readable until a
 * receive on the interface finds nothing (returns EAGAIN or waits): so
 * receive with timeout 0 until EAGAIN, then poll again. It becomes readable
 * again when the bus changes; that is signalled from another thread, within
 * microseconds of a send, so a poll right after a send may not see it yet
 * (the frame is receivable at once). It may be readable when the only
 * waiting frames are ones the interface will not receive (its own, or
 * unicast frames for others): those are consumed by the receive that finds
 * nothing. shmif_cancel makes it readable.
 * shmif_destroy and shmif_unset_linkstr make it readable, so that threads in
 * poll or epoll_wait on it return, and close it a quarter of a second
 * later: do not use it after them (an epoll set loses it when it closes).
 * Returns: ENETDOWN without a bus; EMFILE, ENFILE when no descriptor can be
 * had (one descriptor per interface: the host's RLIMIT_NOFILE bounds how
 * many interfaces may have one).
 */
int shmif_get_pollfd(int ifnum, int *fd);

/*
 * shmif_set_spin: how long, in microseconds, a receiver that finds nothing
 * watches the bus before it blocks (0: never spins). Spinning trades CPU
 * time for latency: a blocking hand-off between CPUs costs tens of
 * microseconds, a spinning one about one. The default is 50, or the value of
 * the environment variable SHMIF_SPIN_US (a decimal number of microseconds;
 * anything else is ignored) when the interface is created.
 * Returns: EINVAL for a negative value.
 */
int shmif_set_spin(int ifnum, int usec);
int shmif_get_spin(int ifnum, int *usec);

/*
 * Offload capabilities (NetBSD's if_capabilities and if_capenable).
 * shmif_get_capabilities: SHMIF_CAPABILITIES.
 * shmif_get_capenable / shmif_set_capenable: the enabled subset.
 * Returns (set): EINVAL for bits outside SHMIF_CAPABILITIES.
 */
int shmif_get_capabilities(int ifnum, uint32_t *caps);
int shmif_get_capenable(int ifnum, uint32_t *capenable);
int shmif_set_capenable(int ifnum, uint32_t capenable);

/*
 * shmif_send_offload: send a frame whose checksums or segmentation were left
 * to the interface, as a network stack does with a capable card. csum_flags
 * is a set of SHMIF_CSUM_* requests: IPv4 fills the IPv4 header checksum;
 * TCPv4, UDPv4, TCPv6, UDPv6 fill that checksum (a UDP checksum that comes
 * out 0 is sent as 0xffff); TSOv4, TSOv6 split a TCP payload into segments of
 * `mss` bytes (the last may be shorter), each with its own IP length, IPv4 id
 * (+1 per segment), TCP sequence number and checksums. For TSO the frame may
 * be longer than 1514 bytes, up to SHMIF_MAXOFFLOADFRAME (a 64 KiB payload
 * behind the largest Ethernet, IP and TCP headers), and the payload length
 * is taken from len, not from the IP header. 802.1Q-tagged frames are
 * handled. csum_flags == 0 is shmif_send.
 * Each request needs its capability enabled: IPv4 SHMIF_CAP_IPv4_Tx, TCPv4
 * SHMIF_CAP_TCPv4_Tx, UDPv4 SHMIF_CAP_UDPv4_Tx, TCPv6 SHMIF_CAP_TCPv6_Tx,
 * UDPv6 SHMIF_CAP_UDPv6_Tx; TSOv4 SHMIF_CAP_TSOv4 and TSOv6 SHMIF_CAP_TSOv6,
 * which also cover the checksums that go with them (as in NetBSD).
 * Returns (each refusal is counted in oerrors and sends nothing; with
 * csum_flags == 0 the refusals are shmif_send's, not counted):
 *   EOPNOTSUPP  a requested capability is not enabled (shmif_set_capenable
 *               or RUMP_SHMIF_CAPENABLE).
 *   EINVAL      the frame does not match the request (not IPv4/IPv6, not
 *               TCP for TSO, an IPv4 fragment, ...), mss == 0 with TSO, a
 *               status-only flag (SHMIF_CSUM_*_BAD) or an unknown flag.
 *   EMSGSIZE    a resulting frame would exceed 1514 bytes, or the frame
 *               is longer than SHMIF_MAXOFFLOADFRAME.
 *   ENETDOWN    the interface is down (not counted in oerrors).
 */
int shmif_send_offload(int ifnum, const void *frame, size_t len,
    uint32_t csum_flags, uint32_t mss);

/*
 * shmif_recv_frame: shmif_recv with the frame's metadata: receive one frame
 * into frame->data (frame->cap bytes), setting frame->len, csum, sec, usec
 * and sender. Returns as shmif_recv; on EMSGSIZE frame->len is the length
 * needed.
 */
int shmif_recv_frame(int ifnum, struct shmif_frame *frame, int timeout_ms);

/*
 * shmif_cancel: make every thread blocked in shmif_recv, shmif_recv_frame or
 * shmif_recv_batch on the interface return ECANCELED, and its poll
 * descriptor readable, without changing the interface. Receives that begin
 * after the call are not affected.
 */
int shmif_cancel(int ifnum);

/*
 * shmif_set_lossless: make the interface a lossless receiver (max_wait_ms >
 * 0) or an ordinary one (0). libshmif writers on its bus, in any process,
 * then do not overwrite frames it has not read: a writer that would waits,
 * spinning and then asleep, for at most max_wait_ms (counted from when its
 * send began), and then writes anyway; the frames the receiver misses then
 * are counted in struct shmif_stats.lost, and writers do not wait for it
 * again until it receives again. A lossless receiver that is taken down,
 * destroyed or whose process dies stops holding writers back (a dead
 * process within milliseconds). NetBSD writers know nothing of it: their
 * frames may still lap it. Lossless delivery needs libshmif's private state
 * beside the bus (a file in /dev/shm, see libshmif(3)); without it the
 * interface is an ordinary receiver (shmif_get_lossless says so). Senders
 * slow down to the pace of their slowest lossless receiver.
 * shmif_get_lossless: *max_wait_ms (unless NULL) gets the value set; *active
 * (unless NULL) is 1 while writers heed it (the interface is up on a bus
 * with the private state), else 0.
 * Returns (set): EINVAL for a negative value.
 */
int shmif_set_lossless(int ifnum, int max_wait_ms);
int shmif_get_lossless(int ifnum, int *max_wait_ms, int *active);

/* Where reception starts at each shmif_up (shmif_set_start). */
#define SHMIF_START_NEWEST 0 /* the newest frame already on the bus, received
                                again (NetBSD's behaviour; the default) */
#define SHMIF_START_NEXT 1   /* the first frame written after the up: a clean
                                start on a bus that already carried frames */
#define SHMIF_START_OLDEST 2 /* the oldest frame still on the bus */

/*
 * shmif_set_start: where reception starts at the next shmif_up. Interfaces
 * are created with the start named by the environment variable SHMIF_START
 * ("newest", "next" or "oldest"), SHMIF_START_NEWEST without it; so
 * SHMIF_START=next makes rump_pub_shmif_create start clean.
 * Returns: EINVAL for another value.
 */
int shmif_set_start(int ifnum, int start);

/*
 * shmif_capture: write the frames of the bus file `bus` to the descriptor
 * fd as a pcap file (microsecond time stamps, link type Ethernet, snap
 * length 1518: what shmif_dumpbus -p writes), without running a tool. With
 * follow_ms == 0 it writes the frames on the bus now, oldest first, from a
 * copy taken under the bus lock (without it when the file is only readable
 * or the lock stays taken for a second: such a copy may catch a frame being
 * written, which is then left out, or be torn by writers lapping it, which
 * gives EIO); with follow_ms > 0 the frames written from
 * the call on, as they come, for follow_ms milliseconds. The file is never
 * created, resized or written to (the lock word excepted); an empty file
 * and a bus that never carried a frame give a pcap file without records.
 * fd is written to and left open (a non-blocking one is waited on). Frame
 * time stamps are the senders'. *frames (unless NULL) gets the number of
 * frames written, *lost (unless NULL) the number a following capture missed
 * because writers lapped it.
 * Returns:
 *   EINVAL   bus is ""; follow_ms < 0.
 *   E2BIG    bus is SHMIF_MAXLINKSTR bytes or longer.
 *   EBADF    fd is not an open descriptor.
 *   ENOEXEC  the file is not a bus (or a following capture: not a whole,
 *            initialised one; an empty file is not one yet).
 *   EIO      the bus is damaged, or was truncated while read.
 *   ENOENT, EACCES, ...: from open(2); EPIPE, ENOSPC, ...: from write(2).
 *   (A write to a pipe nobody reads raises SIGPIPE, as any write(2) does:
 *   a host that leaves SIGPIPE at its default dies of it; ignore or catch
 *   it to get EPIPE.)
 * A snapshot needs read permission; following needs write permission (it
 * takes the bus lock to read). Thread-safe: any number may run at once.
 */
int shmif_capture(const char *bus, int fd, int follow_ms, uint64_t *frames, uint64_t *lost);

/*
 * shmif_inject: put the frames of a pcap (microsecond or nanosecond) or
 * pcapng file, read from fd to its end, on the bus file `bus`, creating it
 * if needed (mode 0644 under the umask), as shmif_pcapin does: in order,
 * under the bus lock (256 frames per hold), waking the bus after each hold,
 * each frame with its capture time stamp and a sender id drawn at random for
 * the call. Every frame is checked before any is written. *frames (unless
 * NULL) gets the number of frames put on the bus. Like an interface's
 * sends, it waits for lossless receivers (shmif_set_lossless), so a capture
 * longer than the ring reaches them whole.
 * Returns:
 *   EINVAL   bus is ""; the data is not a pcap or pcapng file of Ethernet
 *            frames, or is damaged.
 *   EMSGSIZE a frame is over 1514 or under 14 bytes, or was captured only in
 *            part: nothing is written.
 *   EBADF    fd is not an open descriptor.
 *   ENOEXEC  the file is not a bus.
 *   and those of rump_pub_shmif_create for the bus file.
 */
int shmif_inject(const char *bus, int fd, uint64_t *frames);

/*
 * Bridges: copy frames between a bus and an endpoint (a TAP device, a
 * socket, a VDE network, another bus, a VXLAN tunnel), in both directions,
 * on threads of libshmif's inside the host process, as shmif_bridge(1)
 * does; optionally through an impairment stage (loss, delay, reordering,
 * rate, flaps: see shmif_bridge(1)). A bridge is named by a handle of its
 * own (1, 2, ...), not an ifnum. Endpoint URLs are shmif_bridge(1)'s:
 * tap://NAME, tap://fd=N, udp://[SRC:]SPORT->DST:DPORT,
 * stream://[listen:]unix:PATH, stream://[listen:]tcp:HOST:PORT,
 * seqpacket://[listen:]unix:PATH, dgram://..., stdio, vde://VDEURL,
 * shmif://BUS2, vxlan://REMOTE/vni=N, with their /key=value options.
 * Descriptors the endpoint makes belong to the network namespace of the
 * calling thread. Listening endpoints are unix sockets of mode 0600 or
 * loopback unless the URL says otherwise.
 *
 * options (NULL or "" for none) are words separated by spaces:
 *   learning          learn on which side each address is; forward unicast
 *                     frames only toward their destination
 *   ageing=SECONDS    how long a learned address is kept (300)
 *   no-repeat-guard   forward identical frames read from one side within
 *                     20 ms (by default they are forwarded once)
 *   mode=OCTAL        permission bits of a bus file shmif_bridge_open
 *                     creates (0644, under the umask)
 *   seed=N            seed of the impairments' random choices, decimal
 *                     (random otherwise; the show command prints it)
 *   control=PATH      serve impairment commands on a unix socket at PATH
 *   control-mode=OCTAL its permission bits, whatever the umask (0600);
 *                     only with control=
 *   impair-log=PATH   write one line per frame: what the stage did to it
 *   impair WORDS...   the rest of the string: impairment settings, in
 *                     netem and wirefilter words, "LR" (bus to endpoint),
 *                     "RL" or "both" choosing where the words after them
 *                     apply (both when not said): "impair loss 5% delay
 *                     20ms 5ms", "impair LR rate 10mbit RL loss 1%".
 *                     "impair" alone makes a stage that passes everything,
 *                     to be changed later with shmif_bridge_command.
 * seed, control, impair-log and impair each put an impairment stage in the
 * bridge.
 */
struct shmif_bridge_dir { /* what happened to the frames read on one side */
	uint64_t frames, bytes; /* written to the other side */
	uint64_t too_small;     /* under 14 bytes: dropped */
	uint64_t too_big;       /* over 1514 bytes: dropped (a bus carries no more) */
	uint64_t loop;          /* came back from the side they were sent to */
	uint64_t filtered;      /* learning: the destination is on their side */
	uint64_t errors;        /* lost to a write error of the other side (or
	                           in flight when the bridge stopped) */
};

struct shmif_bridge_stats {
	struct shmif_bridge_dir to_endpoint; /* read from the bus */
	struct shmif_bridge_dir to_bus;      /* read from the endpoint */
	uint64_t bus_lost; /* frames overwritten on the bus before the bridge
	                      read them */
	int32_t stopped;   /* 1 once the bridge stopped by itself */
	int32_t error;     /* then why: an errno value; ENOTCONN when the
	                      endpoint's peer went away */
};

/*
 * shmif_bridge_open: attach a new interface to the bus file `bus` (created
 * if needed, as shmif_open does) and start a bridge between it and
 * `endpoint`; *bridge gets its handle. shmif_bridge_close stops it and
 * destroys the interface.
 * shmif_bridge_attach: the same with the caller's interface ifnum, which
 * stays the caller's: the bridge turns its promiscuous mode on and
 * shmif_bridge_close restores it. Frames the host receives on it are not
 * bridged (each frame goes to one receiver): do not receive on it while it
 * is bridged. Frames the host sends on it stay on its bus (an interface
 * does not receive its own frames). The mode option is refused. An
 * interface destroyed under its bridge stops the bridge (stopped, with
 * error ENXIO); close it still.
 * Returns:
 *   EFAULT    endpoint or bridge is NULL (bus too, for shmif_bridge_open).
 *   EINVAL    bus is ""; a malformed endpoint URL or unknown scheme; an
 *             unknown or malformed option or impairment word.
 *   E2BIG     bus (or the bus of a shmif:// endpoint) is SHMIF_MAXLINKSTR
 *             bytes or longer; endpoint or options are 64 KiB or longer.
 *   ELIBACC   vde://: libvdeplug.so.2 is not installed (Debian: libvdeplug2).
 *   EPERM, EACCES (a tap without the privilege), EADDRINUSE (a port or
 *   socket path in use, also control=), ECONNREFUSED, ENOENT, ...: from the
 *   system calls that open the endpoint; and those of rump_pub_shmif_create
 *   for the bus file.
 * Thread-safe.
 */
int shmif_bridge_open(const char *bus, const char *endpoint, const char *options, int *bridge);
int shmif_bridge_attach(int ifnum, const char *endpoint, const char *options, int *bridge);

/*
 * shmif_bridge_close: stop the bridge, wait for its threads, close its
 * endpoint and control socket, and release the handle (it may be given to
 * a later bridge). Frames held by the impairment stage are dropped.
 * Returns: ENXIO for an unknown handle; an errno if releasing failed (the
 * handle is released anyway).
 */
int shmif_bridge_close(int bridge);

/*
 * shmif_bridge_get_stats: the bridge's counters. A bridge stops by itself
 * when its endpoint fails or its peer goes away (stopped, error); it keeps
 * its handle until shmif_bridge_close.
 * Returns: ENXIO for an unknown handle.
 */
int shmif_bridge_get_stats(int bridge, struct shmif_bridge_stats *st);

/*
 * shmif_bridge_command: run one command line on the bridge and copy the
 * reply into reply (replylen bytes, NUL-terminated); *needed (unless NULL)
 * gets the reply's size counting its NUL. With reply NULL and replylen 0
 * the reply is not wanted. Replies are lines of data followed by "ok", or
 * a single line "error: ..." when nothing was changed. Command words are
 * case-insensitive. Commands:
 *   stats                       the counters as one line, then the
 *                               impairment counters per direction
 *   error                       why the bridge stopped (nothing if it runs)
 *   show [DIR]                  seed and impairment settings
 *   set [DIR] WORDS...          change settings (frames already scheduled
 *                               keep their fate)
 *   flap [DIR] down|up|PERIOD DUTY|off   take the link down, up, or on a
 *                               schedule
 *   counters [DIR] [reset]      impairment counters (frames/bytes per cause)
 *   help                        the list
 * DIR is LR, RL or both (both when left out). stats, error and help work
 * on any bridge; the others need an impairment stage. The control socket
 * (control= option) answers the same commands but stats and error, and
 * has quit (close the connection).
 * Returns:
 *   EINVAL  the reply is an error line (nothing was changed; also for a
 *           bridge without an impairment stage and an impairment command,
 *           and for a blank command), or the command has a newline (then
 *           reply is left as it was).
 *   ERANGE  the reply did not fit: it is cut, and *needed says how much
 *           room it needs. The command was run all the same (a set took
 *           effect): run show to read the reply again, not the command.
 *   E2BIG   the command is 64 KiB or longer.
 *   EFAULT  command is NULL, or reply NULL with replylen > 0.
 *   ENXIO   an unknown handle.
 * Thread-safe; may run while frames flow.
 */
int shmif_bridge_command(int bridge, const char *command, char *reply, size_t replylen, size_t *needed);

#ifdef __cplusplus
}
#endif

#endif /* LIBSHMIF_RUMP_H */
