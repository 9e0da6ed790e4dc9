/*
 * bench.h -- what the parts of shmif-bench share: options, the benchmark
 * frame, the port a role process sends and receives through, the parent's
 * child processes, the rows of the table. Internal to bench/; the program's
 * documentation is at the top of shmif-bench.c.
 */
#ifndef SHMIF_BENCH_H
#define SHMIF_BENCH_H

#define _GNU_SOURCE /* sched_setaffinity, sched_getcpu, CPU_SET, pipe2 */

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rump/rump.h> /* struct shmif_frame, SHMIF_MAXFRAME: declarations only */

#define EXIT_FAILED 1 /* a run failed */
#define EXIT_USAGE 2  /* a usage error or a setup failure */

/*
 * A benchmark frame: broadcast destination, a locally administered source
 * address ending in the sender's id, the IEEE local experimental EtherType,
 * then a header of our own; the rest of the frame is a fixed pattern.
 */
#define ETHERTYPE_BENCH 0x88b5
#define BENCH_MAGIC 0x53484246u /* "SHBF" */
#define OFF_MAGIC 14
#define OFF_RUN 18  /* run id: frames of other runs are ignored */
#define OFF_KIND 22 /* KIND_* */
#define OFF_ID 23   /* sender: writer number */
#define OFF_SEQ 24  /* sequence number, 64 bits big-endian */
#define BENCH_HLEN 32
#define OFF_STAMP 32 /* wake-up frames: CLOCK_MONOTONIC ns at send, 64 bits */
#define OFF_PHASE 40 /* wake-up frames: WAKE_* pattern of the frame */
#define WAKE_HLEN 41 /* the smallest wake-up frame */
#define KIND_DATA 1
#define KIND_END 2  /* writer done; seq = frames it sent */
#define KIND_PING 3
#define KIND_PONG 4
#define KIND_STOP 5 /* pinger done */

#define MAX_WRITERS 8
#define MAX_READERS 8
#define MAX_REPEAT 9
#define MAX_BATCH 1024
#define RX_CAP 1518            /* receive buffer: a 1514-byte frame and slack */
#define END_MARKERS 8          /* end markers, 1, 2, 4, ... 128 ms apart */
#define RECV_WAIT_MS 100       /* longest blocking receive between checks */
#define START_TIMEOUT_MS 30000 /* a reader gives up if nothing ever arrives */
#define PING_TIMEOUT_MS 1000   /* a round trip slower than this is lost */
#define PING_MAX_LOST_RUN 10   /* this many lost in a row ends the run */
#define ECHO_QUIET_MS 3000     /* echo: silence that ends it without STOP */
#define READY_TIMEOUT_MS 15000
/* Between READY and G: each libshmif process looks through /proc once,
 * some ms after another process opens the bus file, to see whether it is a
 * NetBSD peer that needs the wake-up write (docs/protocol.md §9.13): some
 * 500 system calls, attach-time work that must not fall into the measured
 * steady state of a run of a fraction of a second. */
#define SETTLE_MS 50

/* The wake-up workload's three patterns (wakeup.c). */
enum { WAKE_SINGLE, WAKE_BURST, WAKE_BATCH, WAKE_PHASES };

enum backend { B_SHMIF, B_VDE, B_FLOOR, B_LOSSLESS, B_COUNT };
extern const char *const backend_name[B_COUNT];

/* Options (shmif-bench.c); the same parser serves the parent and the roles. */
struct options {
	const char *role; /* NULL: the parent */
	int backends;     /* bits 1 << B_* */
	int floor;        /* measure the floor with libshmif (--no-floor: 0) */
	int lossless;     /* measure lossless delivery with libshmif (--no-lossless: 0) */
	int frame_size;   /* 0: 60 and 1514 */
	long count;       /* frames per writer; 0: default for the size */
	long rtt_count;
	int batch;    /* frames per send call (and per ping-pong receive) */
	int rx_batch; /* frames per receive call of throughput readers */
	int pin;
	int cpu_w, cpu_r;
	int spin_us; /* -1: library default */
	int wait_spin;
	const char *csv;
	int quick;
	int repeat; /* runs of every workload */
	const char *dir;
	int quiet_ms;
	int do_tput, do_rtt, do_wake;
	long wake_count; /* frames of each wake-up pattern; 0: default */
	int wake_gap_us;
	int wake_burst;
	/* roles only */
	char *path;
	int id;
	int writers;
	uint32_t run;
	int perf_fd; /* the system call counter (syscount.c); -1: none */
};
extern struct options opt;

/* common.c: helpers of every process, and the benchmark frame. */
int64_t now_ns(void);
void put32(uint8_t *p, uint32_t v);
uint32_t get32(const uint8_t *p);
void put64(uint8_t *p, uint64_t v);
uint64_t get64(const uint8_t *p);
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xcalloc(size_t n, size_t size);
void frame_init(uint8_t *f, size_t size, int id, int kind);
int frame_parse(const uint8_t *f, size_t len, int *kind, int *id, uint64_t *seq);
int control_wait(int ms);
int cmp_i64(const void *a, const void *b);
int64_t percentile(const int64_t *sorted, long n, double p);

/*
 * port.c and backend-*.c: one process's attachment to the bus, hub or
 * ring of its backend. Every call returns 0 or an errno value.
 */
#define PORT_BLOCKING 1 /* VDE: a writer blocks in vde_send instead */
#define PORT_SECOND 2   /* the floor: the reader's or echo's side */

struct port;
struct port_ops {
	void (*open)(struct port *p, int flags); /* dies on failure */
	void (*close)(struct port *p);
	int (*send)(struct port *p, const struct shmif_frame *f, size_t n);
	/* Up to max frames, waiting up to timeout_ms (0: only looks) for the
	 * first; *got is 0 if none came. */
	int (*recv)(struct port *p, struct shmif_frame *f, size_t max, int timeout_ms, size_t *got);
	long long (*lost)(struct port *p); /* frames lapped (libshmif), or -1 */
};
extern const struct port_ops shmif_port_ops, vde_port_ops, floor_port_ops;

struct port {
	const struct port_ops *ops;
	void *state; /* the backend's own */
};

enum backend backend_of_role(void);
void port_open(struct port *p, int flags);
void port_close(struct port *p);
int port_send(struct port *p, const struct shmif_frame *f, size_t n);
int port_recv(struct port *p, struct shmif_frame *f, size_t max, int timeout_ms, size_t *got);
long long port_lost(struct port *p);
struct shmif_frame *rx_frames(size_t n);
int recv_timeout(void);

/*
 * netbsd.c: the bus as NetBSD lays it out (docs/protocol.md §1), for the
 * wake-up workload's processes that do not load libshmif: the NetBSD-style
 * reader and NetBSD's writer (netbsd_port_ops, the pacer of the floor).
 */
#define BUS_SIZE (1u << 20)
#define BUS_HLEN 32
#define BUS_DATA (BUS_SIZE - BUS_HLEN)
#define BUS_MAGIC 0xCA11D054u
#define BUS_OFF_MAGIC 0
#define BUS_OFF_VERSION 4 /* where the wake-up write goes */
#define BUS_OFF_GEN 8
#define BUS_OFF_FIRST 16
#define BUS_OFF_LAST 20
#define BUS_OFF_LOCK 24
#define LOCK_COOLDOWN 1001 /* failed tries before a 1 ms nap */
#define BUS_VERSION 3
#define ETHER_HDR_LEN 14

/* struct shmif_pkthdr as a 64-bit host compiles it: 24 bytes, the padding
 * before sp_sender named (NetBSD leaves it uninitialised). */
struct pkthdr {
	uint32_t len, sec, usec, pad;
	uint64_t sender;
};
_Static_assert(sizeof(struct pkthdr) == 24, "the frame header of 64-bit NetBSD hosts");

struct nbus {
	uint8_t *mem;
	int fd, ino;      /* the bus file; the reader's inotify watch (-1: none) */
	uint64_t devgen;  /* sc_devgen */
	uint32_t nextpkt; /* sc_nextpacket */
	uint64_t sender;  /* sc_uuid: the writer's id */
	long naps, wakes, overruns, corrupt;
};

uint32_t hdr32(const struct nbus *b, size_t off);
uint64_t hdr_gen(const struct nbus *b);
void lockbus(struct nbus *b);
void unlockbus(struct nbus *b);
uint32_t busread(struct nbus *b, void *dest, uint32_t off, uint32_t len, int *wrap);
uint32_t nextpktoff(struct nbus *b, uint32_t off);
int stillvalid(struct nbus *b);
void nbus_attach(struct nbus *b);
void nbus_detach(struct nbus *b);
extern const struct port_ops netbsd_port_ops;

/* roles.c and wakeup.c: the processes of a workload. */
int role_writer(void);
int role_reader(void);
int role_ping(void);
int role_echo(void);
int role_pacer(void);
int role_netbsd_reader(void);

/*
 * syscount.c: system calls and CPU time of a role process over its measured
 * phase. The parent probes once; each child opens its counter between fork
 * and exec; the role starts and stops the meter around its work.
 */
struct meter {
	int64_t user_us, sys_us; /* at start, then the difference */
	long long syscalls;      /* -1: not counted */
	int running;
};
#define METER_INIT {-1, -1, -1, 0} /* not started: nothing measured */
#define PERF_FD 3 /* where a role process finds its counter */
int syscount_probe(void);
void syscount_child(void); /* async-signal-safe: between fork and exec */
void meter_start(struct meter *m);
void meter_stop(struct meter *m, long long own);
extern int syscount_on; /* the parent: children count */

/* child.c: the parent's child processes and their control protocol. */
struct child {
	pid_t pid;
	int in, out; /* its stdin (control) and stdout (READY, RESULT) */
	char line[1024];
	int cpu0, cpu1;
};

/* The argument vector of a role process. */
struct args {
	char *v[48];
	char buf[16][64];
	int n, nb;
};

extern char self_exe[PATH_MAX];
extern char tmpdir[PATH_MAX];
extern char bus_file[PATH_MAX + 16];
void parent_setup(void);
void signals_hold(int on);
void track(pid_t pid, int add);
void spawn(struct child *c, char *const argv[], int cpu);
int child_wait(struct child *c, const char *word, int64_t deadline);
int child_expect(struct child *c, const char *word, int64_t deadline);
long long child_get(const struct child *c, const char *key);
void child_control(struct child *c, char ch);
int child_reap(struct child *c);
void child_nudge(struct child *c);
void role_args(struct args *a, const char *role, enum backend b, char *path, int id, int writers,
    uint32_t run, long count);
void args_add(struct args *a, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cleanup(void);

/* backend-vde.c: the parent's VDE hub. */
extern char sockdir[PATH_MAX + 8];
void switch_start(void);
void switch_stop(void);
int switch_cpu(void);
void switch_kill(void); /* from a signal handler */

/* runs.c and report.c: the workloads' runs and their results. */
enum kind { W_TPUT, W_RTT, W_WAKE };

struct side {
	long long syscalls; /* summed over the side's processes; -1: n/a */
	long long frames;   /* the frames those calls were made for */
	long long user_us, sys_us;
};

struct row {
	char workload[48];
	enum kind kind;
	enum backend backend;
	int size, writers, readers;
	long count;
	int run;   /* 1..--repeat */
	int shown; /* the run the table shows for its workload and backend */
	int ok;
	double fps, gbps, loss_pct, rtt_med, rtt_p99, rtt_min, ratio, ratio_floor;
	double ratio_floor_p99; /* wake-up: shmif/floor of the p99 delay */
	double pause_ms; /* the longest reader pause of a throughput run; NAN: none */
	double delay_med, delay_p99, delay_max; /* wake-up delay, us */
	long long dups, bus_lost;
	uint64_t wcpus, rcpus; /* CPUs the writers (pinger) and readers (echo) ran on */
	struct side w, r;      /* writers (ping, pacer) and readers (echo) */
};

#define MAX_ROWS ((2 * (3 * B_COUNT + B_COUNT) + 2) * MAX_REPEAT)
extern struct row rows[MAX_ROWS];
extern int nrows;

void run_throughput(enum backend b, int size, int writers, int readers, long count, int run_no);
void run_pingpong(enum backend b, int size, long count, int run_no);
void run_wakeup(enum backend b, int size, long count, int run_no);
void pick_shown(int first);
void ratios(void);
void print_header(void);
void print_table(void);
void write_csv(const char *file);
void cpus_fmt(char *buf, size_t len, uint64_t set, char sep);

#endif
