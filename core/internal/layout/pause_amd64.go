//go:build amd64

package layout

// SpinPause tells the CPU that the caller is spinning on a shared word (the
// PAUSE instruction): it waits a few dozen cycles without loading, so a
// spinner pulls the cache line it watches away from the writer less often,
// and a hyperthread sibling gets the core meanwhile.
//
//go:noescape
func SpinPause()
