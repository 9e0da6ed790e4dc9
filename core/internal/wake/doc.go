// Package wake carries shmif's wake-ups between processes and threads
// (docs/protocol.md §5).
//
// Stores into the bus mapping notify nobody. NetBSD's answer, which every
// peer understands, is a real write system call after a batch of frames:
// the 4-byte value 3 (the bus version) at file offset 4 (Notify). Waiting
// NetBSD readers watch the bus file for modification (inotify IN_MODIFY on
// Linux) and look at the ring when they wake.
//
// Inside libshmif, waiters wait on a futex word, the Hub's, that every
// change of the bus bumps; writers wake it only when a waiter has announced
// itself (Hub.Changed). The word lives in process memory, or in state shared
// by the libshmif processes of a bus, so that they wake each other without a
// file write. One inotify instance per process (Watcher) turns the wake-up
// writes of NetBSD peers into bumps of the word of every hub whose bus was
// written; its watch on a bus exists only while someone waits there: every
// watch on the bus file makes every wake-up write dearer for every sender.
//
// Hub.Wait is the one way to wait for a bus in libshmif: load the word,
// announce, look at the bus, sleep only if the look found nothing. No
// wake-up that comes after the look is lost.
//
// This package, like libshmif, is Linux only: it uses futexes, inotify and
// eventfd.
package wake
