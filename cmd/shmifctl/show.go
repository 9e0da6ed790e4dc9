package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/libshmif/libshmif/core/dump"
	"golang.org/x/sys/unix"
)

// show prints the bus header, what the ring holds and who sent it, one
// "key value" line each, from a copy taken under the bus lock:
//
//	version 3
//	byteorder native
//	lock free
//	generation 8
//	first 0x5b4e8
//	last 0x5aee0
//	frames 715
//	bytes 1048520
//	senders 2
//	sender 0x8f2b1c4de3a95b20 frames 358 macs b2:a0:6d:80:fa:89
//	sender 0x51c6a0e9d7f3b284 frames 357 macs b2:a0:77:00:25:25
//	cursor v1,gen=8,off=0x5aee0,...
func show(args []string) {
	_, operands := getopt(args, "")
	path := oneBus(operands)
	img, err := dump.Snapshot(path)
	if errors.Is(err, dump.ErrEmpty) {
		warnx(emptyFile(path))
		printInfo(dump.Info{})
		return
	}
	if err != nil {
		errx(message(err))
	}
	if img.LockBusy {
		warnx(fmt.Sprintf("bus `%s' stayed locked for %v: copied without the lock", path, dump.DefaultLockWait))
	}
	h, err := img.Header()
	if err != nil {
		errx(message(err))
	}
	info, err := img.Inspect()
	if err != nil {
		printHeader(h)
		errx(message(err))
	}
	printInfo(info)
}

func printHeader(h dump.Header) {
	order := "native"
	if h.Swapped {
		order = "swapped"
	}
	fmt.Fprintf(stdout, "version %d\nbyteorder %s\nlock %s\ngeneration %d\nfirst 0x%04x\nlast 0x%04x\n",
		h.Version, order, lockText(h), h.Gen, h.First, h.Last)
}

func printInfo(info dump.Info) {
	printHeader(info.Header)
	fmt.Fprintf(stdout, "frames %d\nbytes %d\nsenders %d\n", info.Frames, info.Bytes, len(info.Senders))
	for _, s := range info.Senders {
		macs := make([]string, len(s.MACs))
		for i, m := range s.MACs {
			macs[i] = net.HardwareAddr(m[:]).String()
		}
		if len(macs) == 0 {
			macs = []string{"none"}
		}
		fmt.Fprintf(stdout, "sender 0x%016x frames %d macs %s\n", s.ID, s.Frames, strings.Join(macs, ","))
	}
	fmt.Fprintf(stdout, "cursor %s\n", info.Newest)
}

// lockText describes the lock word and its holder, whose process id
// libshmif records in the spare header word (NetBSD records none).
func lockText(h dump.Header) string {
	switch {
	case h.Lock == 0:
		return "free"
	case h.Lock != 1:
		return fmt.Sprintf("word %#x (damaged)", h.Lock)
	case h.Holder == 0:
		return "held, holder unknown (no pid recorded: a NetBSD peer, or a holder just starting)"
	case unix.Kill(int(h.Holder), 0) == unix.ESRCH:
		return fmt.Sprintf("held by pid %d, which no longer exists", h.Holder)
	}
	return fmt.Sprintf("held by pid %d", h.Holder)
}
