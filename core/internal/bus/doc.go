// Package bus attaches to a shmif bus file: it opens or creates the file,
// checks that it is a bus, maps it, and runs code against the mapping under
// the bus lock with protection against the file being truncated under it.
//
// A process maps each bus file once: attachments to the same file (by
// device and inode, whatever the path) share one Bus, its mapping and its
// wake-up hub, so that a thousand interfaces on one bus cost one mapping
// and one descriptor, and wake each other without a system call.
//
// Errors are syscall.Errno values (golang.org/x/sys/unix), so callers can
// compare them directly and hand them to C unchanged.
package bus
