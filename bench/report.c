/*
 * report.c -- what the parent prints: the header, the choice of the run the
 * table shows for each workload and backend, the libshmif/VDE ratio, the
 * table on stdout and the CSV of every run.
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
 * then more frames/s (throughput); lower median round trip (pingpong). */
static int cmp_run(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
	double kx = x->kind == W_TPUT ? x->loss_pct : x->rtt_med;
	double ky = y->kind == W_TPUT ? y->loss_pct : y->rtt_med;
	if (kx != ky)
		return kx < ky ? -1 : 1;
	if (x->kind == W_TPUT && x->fps != y->fps)
		return x->fps > y->fps ? -1 : 1;
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

/* Fills the ratio column of the shown rows: libshmif / VDE of frames/s or
 * median RTT. */
void ratios(void)
{
	for (int i = 0; i < nrows; i++) {
		if (rows[i].backend != B_SHMIF || !rows[i].ok || !rows[i].shown)
			continue;
		for (int j = 0; j < nrows; j++)
			if (rows[j].backend == B_VDE && rows[j].ok && rows[j].shown &&
			    strcmp(rows[j].workload, rows[i].workload) == 0) {
				double s = rows[i].kind == W_TPUT ? rows[i].fps : rows[i].rtt_med;
				double v = rows[j].kind == W_TPUT ? rows[j].fps : rows[j].rtt_med;
				if (v > 0)
					rows[i].ratio = s / v;
			}
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
	printf("%s\n\n", opt.backends & 1 << B_VDE ? "; vde_switch -x (hub) not pinned" : "");
	fflush(stdout);
}

void print_table(void)
{
	printf("%-24s | %-7s | %11s | %7s | %7s | %5s | %8s | %-21s | %9s | %s\n", "workload", "backend",
	    "frames/s", "Gbit/s", "loss %", "dups", "bus lost", "rtt med/p99/min us", "shmif/vde",
	    "cpus w/r");
	printf("%.*s\n", 141,
	    "-----------------------------------------------------------------------------------"
	    "-----------------------------------------------------------------------------------");
	int failed = 0;
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		failed += !r->ok;
		if (!r->shown)
			continue;
		char fps[24] = "-", gbps[16] = "-", loss[16] = "-", dups[16] = "-", lost[24] = "-",
		     rtt[40] = "-", ratio[16] = "-", wc[32], rc[32];
		cpus_fmt(wc, sizeof wc, r->wcpus, ',');
		cpus_fmt(rc, sizeof rc, r->rcpus, ',');
		if (!r->ok) {
			printf("%-24s | %-7s | %11s | %7s | %7s | %5s | %8s | %-21s | %9s | %s/%s\n",
			    r->workload, backend_name[r->backend], "FAILED", "-", "-", "-", "-", "-", "-", wc,
			    rc);
			continue;
		}
		snprintf(loss, sizeof loss, "%.2f", r->loss_pct);
		if (r->kind == W_TPUT) {
			snprintf(fps, sizeof fps, "%.0f", r->fps);
			snprintf(gbps, sizeof gbps, "%.3f", r->gbps);
			snprintf(dups, sizeof dups, "%lld", r->dups);
			if (r->bus_lost >= 0)
				snprintf(lost, sizeof lost, "%lld", r->bus_lost);
		} else
			snprintf(rtt, sizeof rtt, "%.1f/%.1f/%.1f", r->rtt_med, r->rtt_p99, r->rtt_min);
		if (!isnan(r->ratio))
			snprintf(ratio, sizeof ratio, "%.2f", r->ratio);
		printf("%-24s | %-7s | %11s | %7s | %7s | %5s | %8s | %-21s | %9s | %s/%s\n", r->workload,
		    backend_name[r->backend], fps, gbps, loss, dups, lost, rtt, ratio, wc, rc);
	}
	printf("shmif/vde: frames/s ratio for throughput (>1: libshmif delivers more), "
	       "median rtt ratio for pingpong (<1: libshmif is faster).\n");
	if (opt.repeat > 1)
		printf("each line: the median of %d runs (throughput by loss, pingpong by median rtt); "
		       "every run is %s.\n",
		    opt.repeat, opt.csv ? "in the CSV" : "on stderr");
	if (failed > 0)
		printf("%d of %d runs failed.\n", failed, nrows);
	fflush(stdout);
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
	            "ratio_shmif_vde,writer_cpus,reader_cpus,reader_pause_ms,run,shown\n");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		char wc[32], rc[32];
		cpus_fmt(wc, sizeof wc, r->wcpus, ';');
		cpus_fmt(rc, sizeof rc, r->rcpus, ';');
		fprintf(fp, "%s,%s,%d,%d,%d,%ld,%d,%s,", r->workload, backend_name[r->backend], r->size,
		    r->writers, r->readers, r->count, r->kind == W_TPUT ? opt.batch : 1,
		    opt.wait_spin ? "spin" : "block");
		if (opt.spin_us >= 0)
			fprintf(fp, "%d", opt.spin_us);
		fprintf(fp, ",%s,", r->ok ? "ok" : "failed");
		if (r->ok && r->kind == W_TPUT)
			fprintf(fp, "%.0f,%.4f,%.4f,%lld,", r->fps, r->gbps, r->loss_pct, r->dups);
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
		fprintf(fp, ",%d,%d\n", r->run, r->shown);
	}
	if (fclose(fp) != 0)
		fprintf(stderr, "shmif-bench: %s: %s\n", file, strerror(errno));
}
