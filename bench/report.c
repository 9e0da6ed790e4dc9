/*
 * report.c -- what the parent prints: the header, the choice of the run the
 * table shows for each workload and backend, the ratios (libshmif to VDE,
 * libshmif to the floor), the table on stdout and the CSV of every run.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>

void cpus_fmt(char *buf, size_t len, uint64_t set, char sep)
{
	size_t n = 0;
	buf[0] = 0;
	for (int k = 0; k < 64 && n + 4 < len; k++)
		if (set >> k & 1)
			n += (size_t)snprintf(buf + n, len - n, "%s%d", n ? (char[]){sep, 0} : "", k);
	if (n == 0)
		snprintf(buf, len, "?");
}

/* Orders the runs of one workload and backend, the better first: lower loss,
 * then more frames/s (throughput); lower median round trip (pingpong); lower
 * 99th percentile of the delay (wake-up). */
static int cmp_run(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
	double kx = x->kind == W_RTT ? x->rtt_med : x->loss_pct;
	double ky = y->kind == W_RTT ? y->rtt_med : y->loss_pct;
	if (kx != ky)
		return kx < ky ? -1 : 1;
	if (x->kind == W_TPUT && x->fps != y->fps)
		return x->fps > y->fps ? -1 : 1;
	if (x->kind == W_WAKE && x->delay_p99 != y->delay_p99)
		return x->delay_p99 < y->delay_p99 ? -1 : 1;
	return x->run - y->run;
}

/* Marks the run the table shows among rows[first..nrows), the runs of one
 * workload and backend: the median of those that completed (of an even
 * number, the better of the middle two), or the first if none did. */
void pick_shown(int first)
{
	struct row *ok[MAX_REPEAT];
	int n = 0;
	for (int i = first; i < nrows && n < MAX_REPEAT; i++)
		if (rows[i].ok)
			ok[n++] = &rows[i];
	if (n == 0) {
		if (first < nrows)
			rows[first].shown = 1;
		return;
	}
	qsort(ok, (size_t)n, sizeof ok[0], cmp_run);
	ok[(n - 1) / 2]->shown = 1;
}

/* The shown row of a workload on backend b, or NULL. */
static const struct row *shown_row(const char *workload, enum backend b)
{
	for (int j = 0; j < nrows; j++)
		if (rows[j].backend == b && rows[j].ok && rows[j].shown &&
		    strcmp(rows[j].workload, workload) == 0)
			return &rows[j];
	return NULL;
}

/* Fills the ratio columns of the shown libshmif rows: libshmif / VDE and
 * libshmif / floor of frames/s or median RTT; of the wake-up, libshmif /
 * floor of the median and the p99 delay. */
void ratios(void)
{
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		if ((r->backend != B_SHMIF && r->backend != B_LOSSLESS) || !r->ok || !r->shown)
			continue;
		if (r->kind == W_WAKE) {
			const struct row *f = shown_row(r->workload, B_FLOOR);
			if (f != NULL && f->delay_med > 0)
				r->ratio_floor = r->delay_med / f->delay_med;
			if (f != NULL && f->delay_p99 > 0)
				r->ratio_floor_p99 = r->delay_p99 / f->delay_p99;
			continue;
		}
		double s = r->kind == W_TPUT ? r->fps : r->rtt_med;
		const struct row *v = shown_row(r->workload, B_VDE), *f = shown_row(r->workload, B_FLOOR);
		double vv = v ? (v->kind == W_TPUT ? v->fps : v->rtt_med) : 0;
		double fv = f ? (f->kind == W_TPUT ? f->fps : f->rtt_med) : 0;
		if (vv > 0)
			r->ratio = s / vv;
		if (fv > 0)
			r->ratio_floor = s / fv;
	}
}

static const char *fs_name(const char *dir)
{
	struct statfs st;
	if (statfs(dir, &st) != 0)
		return "?";
	switch ((unsigned long)st.f_type) {
	case 0xEF53: return "ext4";
	case 0x01021994: return "tmpfs";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x794c7630: return "overlayfs";
	default: return "other";
	}
}

void print_header(void)
{
	struct utsname u;
	uname(&u);
	cpu_set_t set;
	sched_getaffinity(0, sizeof set, &set);
	const char *env_spin = getenv("SHMIF_SPIN_US");
	char spin[64];
	if (opt.spin_us >= 0)
		snprintf(spin, sizeof spin, "%d us (shmif_set_spin)", opt.spin_us);
	else if (env_spin != NULL)
		snprintf(spin, sizeof spin, "library default (SHMIF_SPIN_US=%s)", env_spin);
	else
		snprintf(spin, sizeof spin, "library default");
	printf("shmif-bench: %s %s, %d CPU%s available; bus files in %s (%s)\n", u.sysname, u.release,
	    CPU_COUNT(&set), CPU_COUNT(&set) == 1 ? "" : "s", tmpdir, fs_name(tmpdir));
	printf("batch %d (receive %d), wait %s, libshmif spin %s; ", opt.batch, opt.rx_batch,
	    opt.wait_spin ? "spin" : "block", spin);
	if (opt.pin)
		printf("pinned: writers/ping on CPU %d, readers/echo on CPU %d", opt.cpu_w, opt.cpu_r);
	else
		printf("not pinned");
	printf("%s\n", opt.backends & 1 << B_VDE ? "; vde_switch -x (hub) not pinned" : "");
	printf("system calls %s\n\n",
	    syscount_on ? "counted per process, all threads, over its measured phase (perf, "
	                  "raw_syscalls:sys_enter)"
	                : "not counted (n/a): see above");
	fflush(stdout);
}

/* System calls per 1,000 frames of one side, "n/a" if not counted. */
static void per1k_calls(char *buf, size_t len, const struct side *s)
{
	if (s->syscalls < 0 || s->frames <= 0) {
		snprintf(buf, len, "n/a");
		return;
	}
	double v = (double)s->syscalls * 1000 / (double)s->frames;
	snprintf(buf, len, v >= 10 ? "%.0f" : "%.2f", v);
}

static double per1k(long long v, const struct side *s) { return (double)v * 1000 / (double)s->frames; }

/* User+system CPU microseconds per 1,000 frames of one side. */
static void per1k_cpu(char *buf, size_t len, const struct side *s)
{
	if (s->user_us < 0 || s->frames <= 0)
		snprintf(buf, len, "n/a");
	else
		snprintf(buf, len, "%.0f+%.0f", per1k(s->user_us, s), per1k(s->sys_us, s));
}

#define TABLE_FMT "%-*s | %-7s | %11s | %7s | %7s | %5s | %8s | %-23s | %9s | %11s | %15s | %-19s | %s\n"

void print_table(void)
{
	int ww = 24;
	for (int i = 0; i < nrows; i++)
		if (rows[i].shown && (int)strlen(rows[i].workload) > ww)
			ww = (int)strlen(rows[i].workload);
	int width = printf(TABLE_FMT, ww, "workload", "backend", "frames/s", "Gbit/s", "loss %", "dups",
	    "bus lost", "rtt or delay us", "shmif/vde", "shmif/floor", "syscalls/1k w/r",
	    "cpu us/1k w/r u+s", "cpus w/r");
	for (int k = 1; k < width; k++)
		putchar('-');
	putchar('\n');
	int failed = 0, wake = 0, floor = 0, wake_floor = 0;
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		failed += !r->ok;
		if (!r->shown)
			continue;
		wake |= r->kind == W_WAKE;
		floor |= r->backend == B_FLOOR && r->kind != W_WAKE;
		wake_floor |= r->backend == B_FLOOR && r->kind == W_WAKE;
		char fps[24] = "-", gbps[16] = "-", loss[16] = "-", dups[16] = "-", lost[24] = "-",
		     lat[48] = "-", ratio[16] = "-", rfloor[32] = "-", calls[40], cpu[64], wc[32],
		     rc[32], cpus[72], cw[16], cr[16], uw[32], ur[32];
		cpus_fmt(wc, sizeof wc, r->wcpus, ',');
		cpus_fmt(rc, sizeof rc, r->rcpus, ',');
		snprintf(cpus, sizeof cpus, "%s/%s", wc, rc);
		if (!r->ok) {
			printf(TABLE_FMT, ww, r->workload, backend_name[r->backend], "FAILED", "-", "-", "-",
			    "-", "-", "-", "-", "-", "-", cpus);
			continue;
		}
		snprintf(loss, sizeof loss, "%.2f", r->loss_pct);
		if (r->kind == W_TPUT) {
			snprintf(fps, sizeof fps, "%.0f", r->fps);
			snprintf(gbps, sizeof gbps, "%.3f", r->gbps);
			snprintf(dups, sizeof dups, "%lld", r->dups);
			if (r->bus_lost >= 0)
				snprintf(lost, sizeof lost, "%lld", r->bus_lost);
		} else if (r->kind == W_RTT)
			snprintf(lat, sizeof lat, "%.1f/%.1f/%.1f", r->rtt_med, r->rtt_p99, r->rtt_min);
		else {
			snprintf(dups, sizeof dups, "%lld", r->dups);
			snprintf(lat, sizeof lat, "%.1f/%.1f max %.1f", r->delay_med, r->delay_p99,
			    r->delay_max);
		}
		if (!isnan(r->ratio))
			snprintf(ratio, sizeof ratio, "%.2f", r->ratio);
		if (!isnan(r->ratio_floor) && !isnan(r->ratio_floor_p99))
			snprintf(rfloor, sizeof rfloor, "%.2f/%.2f", r->ratio_floor, r->ratio_floor_p99);
		else if (!isnan(r->ratio_floor))
			snprintf(rfloor, sizeof rfloor, "%.2f", r->ratio_floor);
		per1k_calls(cw, sizeof cw, &r->w);
		per1k_calls(cr, sizeof cr, &r->r);
		snprintf(calls, sizeof calls, "%s/%s", cw, cr);
		per1k_cpu(uw, sizeof uw, &r->w);
		per1k_cpu(ur, sizeof ur, &r->r);
		snprintf(cpu, sizeof cpu, "%s/%s", uw, ur);
		printf(TABLE_FMT, ww, r->workload, backend_name[r->backend], fps, gbps, loss, dups, lost, lat,
		    ratio, rfloor, calls, cpu, cpus);
	}
	printf("shmif/vde: frames/s ratio for throughput (>1: libshmif delivers more), "
	       "median rtt ratio for pingpong (<1: libshmif is faster).\n");
	if (floor)
		printf("shmif/floor: libshmif's frames/s as a fraction of the floor's (1w->1r), its median "
		       "rtt as a multiple of the floor's (pingpong); the floor, measured in this run: a "
		       "lossless single-producer single-consumer ring in a shared file, busy polling.\n");
	printf("syscalls/1k and cpu us/1k: system calls, and user+system CPU microseconds, per 1,000 "
	       "frames (pingpong: round trips) of the writers (ping) / readers (echo), every thread, "
	       "from the start of their work to its end (which begins %d ms after every process of "
	       "the run is attached and ready: attach-time work is not counted)%s; the kernel splits "
	       "CPU time into user and "
	       "system by sampling at its tick: the sum is exact, the split needs runs of many ticks "
	       "(not --quick).\n",
	    SETTLE_MS, syscount_on ? "" : "; n/a: not counted (see stderr)");
	printf("rtt or delay us: pingpong round trip median/p99/min");
	if (wake)
		printf("; the sleeping reader's delay from the writer's stamp to its copy of the frame, "
		       "median/p99 and max (one frame every %d us, then bursts of %d: see --help)",
		    opt.wake_gap_us, opt.wake_burst);
	printf(".\n");
	if (wake_floor)
		printf("wake-up floor: NetBSD's own writer (shmif_start and its wake-up write, in C) sending "
		       "the same frames to the same sleeping reader: what a NetBSD rump kernel's frames "
		       "cost that reader on this machine, most of it the kernel's inotify wake-up; "
		       "shmif/floor of the wake-up: libshmif's median/p99 delay as a multiple of the "
		       "floor's.\n");
	if (opt.repeat > 1)
		printf("each line: the median of %d runs (throughput by loss, pingpong by median rtt%s); "
		       "every run is %s.\n",
		    opt.repeat, wake ? ", wake-up by loss then p99 delay" : "",
		    opt.csv ? "in the CSV" : "on stderr");
	if (failed > 0)
		printf("%d of %d runs failed.\n", failed, nrows);
	fflush(stdout);
}

static void csv_per1k(FILE *fp, const struct row *r, const struct side *s, long long v)
{
	if (r->ok && v >= 0 && s->frames > 0)
		fprintf(fp, "%.3f", per1k(v, s));
}

void write_csv(const char *file)
{
	FILE *fp = fopen(file, "w");
	if (fp == NULL) {
		fprintf(stderr, "shmif-bench: %s: %s\n", file, strerror(errno));
		return;
	}
	fprintf(fp, "workload,backend,frame_bytes,writers,readers,count,batch,wait,spin_us,status,"
	            "frames_per_s,gbit_s,loss_pct,dups,bus_lost,rtt_median_us,rtt_p99_us,rtt_min_us,"
	            "ratio_shmif_vde,writer_cpus,reader_cpus,reader_pause_ms,run,shown,"
	            "ratio_shmif_floor,writer_syscalls_per_1k,reader_syscalls_per_1k,"
	            "writer_cpu_user_us_per_1k,writer_cpu_sys_us_per_1k,reader_cpu_user_us_per_1k,"
	            "reader_cpu_sys_us_per_1k,delay_median_us,delay_p99_us,delay_max_us,"
	            "ratio_shmif_floor_delay_p99\n");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		char wc[32], rc[32];
		cpus_fmt(wc, sizeof wc, r->wcpus, ';');
		cpus_fmt(rc, sizeof rc, r->rcpus, ';');
		fprintf(fp, "%s,%s,%d,%d,%d,%ld,%d,%s,", r->workload, backend_name[r->backend], r->size,
		    r->writers, r->readers, r->count,
		    r->kind == W_TPUT ? opt.batch : r->kind == W_WAKE ? opt.wake_burst : 1,
		    r->kind == W_WAKE ? "inotify" : opt.wait_spin ? "spin" : "block");
		if (opt.spin_us >= 0)
			fprintf(fp, "%d", opt.spin_us);
		fprintf(fp, ",%s,", r->ok ? "ok" : "failed");
		if (r->ok && r->kind == W_TPUT)
			fprintf(fp, "%.0f,%.4f,%.4f,%lld,", r->fps, r->gbps, r->loss_pct, r->dups);
		else if (r->ok && r->kind == W_WAKE)
			fprintf(fp, ",,%.4f,%lld,", r->loss_pct, r->dups);
		else if (r->ok)
			fprintf(fp, ",,%.4f,,", r->loss_pct);
		else
			fprintf(fp, ",,,,");
		if (r->ok && r->bus_lost >= 0)
			fprintf(fp, "%lld", r->bus_lost);
		if (r->ok && r->kind == W_RTT)
			fprintf(fp, ",%.2f,%.2f,%.2f,", r->rtt_med, r->rtt_p99, r->rtt_min);
		else
			fprintf(fp, ",,,,");
		if (!isnan(r->ratio))
			fprintf(fp, "%.4f", r->ratio);
		fprintf(fp, ",%s,%s,", wc, rc);
		if (r->ok && !isnan(r->pause_ms))
			fprintf(fp, "%.3f", r->pause_ms);
		fprintf(fp, ",%d,%d,", r->run, r->shown);
		if (!isnan(r->ratio_floor))
			fprintf(fp, "%.4f", r->ratio_floor);
		fputc(',', fp);
		csv_per1k(fp, r, &r->w, r->w.syscalls);
		fputc(',', fp);
		csv_per1k(fp, r, &r->r, r->r.syscalls);
		fputc(',', fp);
		csv_per1k(fp, r, &r->w, r->w.user_us);
		fputc(',', fp);
		csv_per1k(fp, r, &r->w, r->w.user_us < 0 ? -1 : r->w.sys_us);
		fputc(',', fp);
		csv_per1k(fp, r, &r->r, r->r.user_us);
		fputc(',', fp);
		csv_per1k(fp, r, &r->r, r->r.user_us < 0 ? -1 : r->r.sys_us);
		if (r->ok && r->kind == W_WAKE)
			fprintf(fp, ",%.2f,%.2f,%.2f,", r->delay_med, r->delay_p99, r->delay_max);
		else
			fprintf(fp, ",,,,");
		if (!isnan(r->ratio_floor_p99))
			fprintf(fp, "%.4f", r->ratio_floor_p99);
		fputc('\n', fp);
	}
	if (fclose(fp) != 0)
		fprintf(stderr, "shmif-bench: %s: %s\n", file, strerror(errno));
}
