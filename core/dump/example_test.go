package dump_test

import (
	"fmt"

	"github.com/libshmif/libshmif/core/dump"
)

// A filter as shmifctl wait takes it, and what it matches.
func ExampleParseFilter() {
	f, err := dump.ParseFilter("arp or (udp and port 53)")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f)
	query := []byte{
		0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x00, // Ethernet, IPv4
		0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // UDP
		0x9c, 0x40, 0, 53, 0, 8, 0, 0, // 40000 > 53
	}
	fmt.Println(f.Match(query))
	fmt.Println(dump.Summary(query))

	_, err = dump.ParseFilter("arp and ip or udp")
	fmt.Println(err)
	// Output:
	// (arp or (proto udp and port 53))
	// true
	// 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 42: 10.0.0.1.40000 > 10.0.0.2.53: UDP, length 0
	// dump: filter: "or" mixed with the other operator without parentheses
}

// Successive dumps that show only what is new, as NetBSD's test scripts
// get by diffing dumps.
func ExampleImage_WalkSince() {
	var since dump.Cursor // the zero cursor: the start of the bus
	for range 3 {
		img, err := dump.Snapshot("bus")
		if err != nil {
			return
		}
		if res, err := img.Locate(since); err == nil && !res.Complete {
			fmt.Println("lost frames:", res.Lost) // -1: an unknown number
		}
		img.WalkSince(since, func(r *dump.Record) error {
			fmt.Println(dump.Summary(r.Frame))
			return nil
		})
		since, _ = img.Newest()
		// since.String() is one word, for a file or a command line;
		// dump.ParseCursor reads it back.
	}
}
