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
			errx(fmt.Sprintf("cannot open pcap file: %s: %s", pcapPath, dump.Strerror(pe.Err)))
		}
		errx(fmt.Sprintf("cannot open pcap file: %s: %s", pcapPath, err))
	}
	h, err := dump.Inject(busPath, frames)
	if err != nil {
		var e *dump.Error
		if errors.As(err, &e) && errors.Is(err, dump.ErrFrameSize) {
			errx(fmt.Sprintf("%s: %s", pcapPath, e.Msg))
		}
		errx(err.Error())
	}
	fmt.Println(h.String())
}
