package shmif

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Issue 10 (smaller points): SetMedia(MediaAuto) after MediaNone skips the
// reader to the present under the bus lock; when that fails (here EIO: the
// bus file was truncated under the mapping) SetMedia returns the error
// instead of dropping it, and the media stays none.
func TestSetMediaReportsRestartError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus")
	a, err := Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	if err := a.SetMedia(MediaNone); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	err = a.SetMedia(MediaAuto)
	if !errors.Is(err, unix.EIO) {
		t.Fatalf("SetMedia(MediaAuto) on a truncated bus: got %v, want EIO", err)
	}
	if m := a.Media(); m != MediaNone {
		t.Fatalf("media %v after a failed SetMedia, want none", m)
	}
	if l := a.LinkState(); l != LinkDown {
		t.Fatalf("link state %v after a failed SetMedia, want down", l)
	}
}
