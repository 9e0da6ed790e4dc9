package layout

import "runtime/debug"

// CatchFault runs fn and reports whether it was cut short by a memory fault
// on a mapping: a bus file truncated by another process makes its pages
// disappear, and touching them would otherwise kill the process with
// SIGBUS. Other panics pass through.
func CatchFault(fn func()) (faulted bool) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			faulted = true
		}
	}()
	fn()
	return false
}
