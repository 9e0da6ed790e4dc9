//go:build !amd64

package layout

// SpinPause tells the CPU that the caller is spinning on a shared word;
// elsewhere than on amd64 it does nothing.
func SpinPause() {}
