/*
 * SIGPIPE: loaded as a shared library, the Go runtime installs a handler
 * for SIGPIPE even where the host ignores it. Inside the process that
 * changes nothing (the handler passes the signal on to what the host had,
 * and Go's own writes to a broken pipe get EPIPE), but a handler, unlike
 * SIG_IGN, is reset to the default by exec: every program the host started
 * afterwards would die of a broken pipe it was meant to ignore. The first
 * constructor notes the host's disposition before the runtime's constructor
 * installs its handlers; libshmif_restore_sigpipe puts SIG_IGN back if the
 * host had that and the handler now there is still Go's (the one Go gave
 * SIGSEGV too): a handler the host set meanwhile stays. It runs from the
 * second constructor when the runtime's ran before it (it does with today's
 * linkers: nothing is left for the host to see once the library is
 * loaded), else from the Go package's init, moments later.
 */
#include <signal.h>
#include <string.h>

void libshmif_restore_sigpipe(void);

static int host_ignores_sigpipe;

__attribute__((constructor(101))) static void libshmif_note_sigpipe(void)
{
	struct sigaction sa;

	host_ignores_sigpipe = sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
	    sa.sa_handler == SIG_IGN;
}

/* go_handles_sigpipe reports whether SIGPIPE's handler is the Go runtime's. */
static int go_handles_sigpipe(void)
{
	struct sigaction pipe_now, segv_now;

	if (sigaction(SIGPIPE, NULL, &pipe_now) != 0 || sigaction(SIGSEGV, NULL, &segv_now) != 0)
		return 0;
	return (pipe_now.sa_flags & SA_SIGINFO) && (segv_now.sa_flags & SA_SIGINFO) &&
	    pipe_now.sa_sigaction == segv_now.sa_sigaction;
}

void libshmif_restore_sigpipe(void)
{
	struct sigaction ign;

	if (!__atomic_exchange_n(&host_ignores_sigpipe, 0, __ATOMIC_SEQ_CST) || !go_handles_sigpipe())
		return;
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, NULL);
}

__attribute__((constructor)) static void libshmif_restore_sigpipe_early(void)
{
	if (__atomic_load_n(&host_ignores_sigpipe, __ATOMIC_SEQ_CST) && go_handles_sigpipe())
		libshmif_restore_sigpipe();
}
