//go:build !linux

package layout

// libshmif runs on Linux only: it waits with futexes, inotify and eventfd,
// maps buses with MAP_POPULATE and reads /proc. Building it elsewhere stops
// here, with the name below in the error.
var _ = libshmif_builds_on_Linux_only
