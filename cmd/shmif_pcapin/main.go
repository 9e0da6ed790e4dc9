// Command shmif_pcapin puts the frames of a capture file (pcap or pcapng,
// Ethernet) on a shmif bus, like NetBSD's shmif_pcapin(1): same usage,
// header line and exit statuses. Unlike it, frames keep their capture
// timestamps, carry a fresh random sender id, and are all checked before
// any is written. See man/shmif_pcapin.1.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/libshmif/libshmif/core/dump"
	"github.com/libshmif/libshmif/core/pcap"
	"github.com/libshmif/libshmif/internal/errtext"
)

var progname = filepath.Base(os.Args[0])

func errx(msg string) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", progname, msg)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "usage: %s pcap-file-path bus-path\n", progname)
		os.Exit(1)
	}
	pcapPath, busPath := os.Args[1], os.Args[2]
	frames, err := pcap.ReadFile(pcapPath)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			errx(fmt.Sprintf("cannot open pcap file: %s: %s", pcapPath, errtext.Strerror(pe.Err)))
		}
		errx(fmt.Sprintf("cannot open pcap file: %s: %s", pcapPath, err))
	}
	h, err := dump.Inject(busPath, frames)
	var (
		fe *dump.FrameSizeError
		ve *dump.VersionError
		pe *os.PathError
	)
	switch {
	case err == nil:
	case errors.As(err, &fe):
		problem := fmt.Sprintf("frame of %d bytes is longer than 1514", fe.Len)
		switch {
		case fe.Len < fe.OrigLen:
			problem = fmt.Sprintf("only %d of %d bytes captured", fe.Len, fe.OrigLen)
		case fe.Len < 14:
			problem = fmt.Sprintf("frame of %d bytes is shorter than 14", fe.Len)
		}
		errx(fmt.Sprintf("%s: record %d: %s", pcapPath, fe.Record, problem))
	case errors.Is(err, dump.ErrNotBus):
		errx(fmt.Sprintf("%s not a shmif bus", busPath))
	case errors.As(err, &ve):
		errx(fmt.Sprintf("bus version %d, program 3", int32(ve.Version)))
	case errors.As(err, &pe) && pe.Op == "open":
		errx("open bus: " + errtext.Strerror(pe.Err))
	case errors.As(err, &pe):
		errx("writev for wakeup: " + errtext.Strerror(pe.Err))
	default:
		errx(err.Error())
	}
	fmt.Println(h.String())
}
