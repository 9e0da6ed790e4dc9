/*
 * RLIMIT_NOFILE: Go's syscall package raises the soft limit to one below
 * the hard limit for its own process when it initialises, and a C host, and
 * every program it later runs, would inherit that. The constructor notes
 * the host's limit when the library is loaded, before the Go runtime
 * starts initialising; once Go has initialised (the runtime does so in a
 * thread of its own, within a millisecond or so of the load),
 * libshmif_restore_nofile puts it back if Go raised it. The first call into
 * the library notes the limit again before it enters Go and restores it
 * after, for a host that changed its limit after loading the library but
 * before Go initialised. A host that changes it in that first millisecond
 * and calls libshmif only after Go has initialised gets the limit it had
 * at the load.
 */
#include <sys/resource.h>

#include "limits.h"

void libshmif_restore_nofile(void);

static struct rlimit host;
static int noted;
int libshmif_first_call = 1;

__attribute__((constructor(101))) static void libshmif_note_nofile(void)
{
	noted = getrlimit(RLIMIT_NOFILE, &host) == 0;
}

void libshmif_restore_nofile(void)
{
	struct rlimit now;

	if (!noted || getrlimit(RLIMIT_NOFILE, &now) != 0)
		return;
	/* Go sets the soft limit to exactly one below the hard limit, and
	 * only when it was lower. */
	if (host.rlim_max != RLIM_INFINITY && host.rlim_max > 1 && host.rlim_cur < host.rlim_max - 1 &&
	    now.rlim_max == host.rlim_max && now.rlim_cur == host.rlim_max - 1)
		setrlimit(RLIMIT_NOFILE, &host);
	noted = 0;
}

static struct rlimit before_first;
static int before_noted;

void libshmif_before_first(void)
{
	before_noted = getrlimit(RLIMIT_NOFILE, &before_first) == 0;
}

void libshmif_after_first(void)
{
	struct rlimit now;

	if (__atomic_exchange_n(&libshmif_first_call, 0, __ATOMIC_SEQ_CST) == 0)
		return;
	if (!before_noted || getrlimit(RLIMIT_NOFILE, &now) != 0)
		return;
	if (before_first.rlim_max != RLIM_INFINITY && before_first.rlim_max > 1 &&
	    before_first.rlim_cur < before_first.rlim_max - 1 &&
	    now.rlim_max == before_first.rlim_max && now.rlim_cur == before_first.rlim_max - 1)
		setrlimit(RLIMIT_NOFILE, &before_first);
}
