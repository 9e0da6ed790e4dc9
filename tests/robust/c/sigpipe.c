/*
 * sigpipe.c -- a host that ignores SIGPIPE keeps ignoring it, and so do the
 * programs it runs, once libshmif is loaded (README "A Go library inside a
 * C process"): the Go runtime's handler, which exec would reset to the
 * default, must not stay in place of SIG_IGN.
 *
 * usage: sigpipe CHILD LIBRARY  (built with -DSHMIF_DLOPEN) load LIBRARY
 *                               with dlopen after ignoring SIGPIPE
 *        sigpipe CHILD          (linked with -lshmif) started with SIGPIPE
 *                               ignored
 *        sigpipe child          only report: exit 0 if SIGPIPE is ignored
 * It checks the disposition right after the load, after rump_init (which
 * waits for the Go runtime), and in CHILD, a program it runs afterwards
 * (the -DSHMIF_DLOPEN build: one that does not load libshmif itself);
 * prints "ok" and exits 0 when all hold.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rump/rump.h>

static int failed;

static int ignored(void)
{
	struct sigaction sa;

	return sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN;
}

static void check(int ok, const char *when)
{
	if (!ok) {
		printf("FAIL SIGPIPE not ignored %s\n", when);
		failed = 1;
	}
}

int main(int argc, char **argv)
{
	int (*init)(void) = NULL;

	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return ignored() ? 0 : 1;
	if (argc < 2) {
		fprintf(stderr, "usage: sigpipe CHILD [LIBRARY]\n");
		return 2;
	}
#ifdef SHMIF_DLOPEN
	if (argc < 3) {
		fprintf(stderr, "usage: sigpipe CHILD LIBRARY\n");
		return 2;
	}
	/* Only a host that has not loaded libshmif yet tests the load. */
	if (dlopen(argv[2], RTLD_NOW | RTLD_NOLOAD) != NULL) {
		printf("FAIL libshmif was loaded before dlopen\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	void *lib = dlopen(argv[2], RTLD_NOW);
	if (lib == NULL) {
		printf("FAIL dlopen: %s\n", dlerror());
		return 1;
	}
	check(ignored(), "right after dlopen");
	init = (int (*)(void))dlsym(lib, "rump_init");
#else
	check(ignored(), "when main starts");
	init = rump_init;
#endif
	if (init == NULL || init() != 0) {
		printf("FAIL rump_init\n");
		return 1;
	}
	check(ignored(), "after rump_init");
	/* Go's handler for a signal the host ignores would pass it on to
	 * SIG_IGN here: only exec tells the two apart. */
	pid_t pid = fork();
	if (pid == 0) {
		execl(argv[1], "sigpipe", "child", (char *)NULL);
		_exit(2);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "in a program run after loading");
	raise(SIGPIPE); /* ignored: the process lives on */
	if (!failed)
		printf("ok\n");
	return failed;
}
