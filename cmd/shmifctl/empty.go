package main

import (
	"errors"

	"github.com/libshmif/libshmif/core/dump"
)

// empty removes every frame from the bus, under the bus lock, and prints
// nothing. An empty file holds no frames: nothing to do.
func empty(args []string) {
	_, operands := getopt(args, "")
	path := oneBus(operands)
	if _, err := dump.Empty(path); err != nil && !errors.Is(err, dump.ErrEmpty) {
		errx(message(err))
	}
}
