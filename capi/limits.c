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
 * before Go initialised: whatever Go and the restore did meanwhile, the
 * host gets the limit it had when it made that call. rump_init is such a
 * call (it waits for Go), so a host that calls it before changing its
 * limit has no window at all.
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
	if (now.rlim_max != before_first.rlim_max || now.rlim_cur == before_first.rlim_cur)
		return;
	/* A limit of one below the hard limit, noted before the call, was
	 * Go's raise (Go started before the call, but libshmif_restore_nofile
	 * had not run yet): the restore has put back the host's. */
	if (before_first.rlim_max != RLIM_INFINITY && before_first.rlim_cur == before_first.rlim_max - 1 &&
	    host.rlim_cur != before_first.rlim_cur)
		return;
	/* The first call waited for Go to initialise. Go may have raised the
	 * limit (to one below the hard limit) and libshmif_restore_nofile
	 * put back the one noted at the load: a host that lowered or raised
	 * it between the load and this call gets its own back. */
	if ((before_first.rlim_max != RLIM_INFINITY && now.rlim_cur == before_first.rlim_max - 1) ||
	    now.rlim_cur == host.rlim_cur)
		setrlimit(RLIMIT_NOFILE, &before_first);
}
