package hostile_test

import (
	"testing"
	"time"
)

// TestSignalStorm: SIGALRM every 100 us from an interval timer and SIGUSR1
// aimed at the receiving threads every 20 us, with SA_ONSTACK handlers
// (each thread with its own alternate stack) that use 8 KiB of stack and
// nest, installed before or after the first libshmif call, with and without
// SA_RESTART. Receives with timeouts on an idle interface end with
// ETIMEDOUT, never before the timeout and never a second after it; frames
// from a sender arrive whole; no EINTR; the handlers stay installed and the
// threads' signal masks unchanged (rump.h, "Loading libshmif ... into a C
// process", and the timeout convention).
//
// Handlers without SA_ONSTACK (sa_flags 0 or SA_RESTART) get the same
// storm once every thread has made its first call, using 512 bytes of
// stack each, within the limit rump.h states for them (2 KiB nested
// handlers aborted now and then under load: see
// TestDefectSignalHandlersWithoutOnstack, kept as the record).
func TestSignalStorm(t *testing.T) {
	t.Parallel()
	ms := pick(250, 5000)
	for _, flags := range []string{"onstack", "both", "none", "restart"} {
		for _, when := range []string{"before", "after"} {
			t.Run(flags+"/"+when, func(t *testing.T) {
				args := []string{busPath(t), flags, when, itoa(ms), "8192"}
				if flags == "none" || flags == "restart" {
					args = []string{busPath(t), flags, when, itoa(ms), "512", "warm"}
				}
				run(t, time.Duration(ms)*time.Millisecond+30*time.Second, nil, program(t, "signals"), args...)
			})
		}
	}
}
