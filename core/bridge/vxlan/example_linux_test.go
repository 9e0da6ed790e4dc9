package vxlan_test

import (
	"fmt"
	"log"

	"github.com/libshmif/libshmif/core/bridge/vxlan"
)

// A tunnel to a Linux host made with
// "ip link add vx0 type vxlan id 42 remote 192.0.2.1 local 192.0.2.2 dstport 4789 dev eth0":
// frames from it are read in batches and answered.
func ExampleOpen() {
	ep, err := vxlan.Open("192.0.2.2/vni=42")
	if err != nil {
		log.Fatal(err)
	}
	defer ep.Close()

	bufs, lens := make([][]byte, 32), make([]int, 32)
	for i := range bufs {
		bufs[i] = make([]byte, ep.MaxFrame())
	}
	n, err := ep.ReadFrames(bufs, lens) // blocks until frames come, or Close
	if err != nil {
		log.Fatal(err)
	}
	for i := range n {
		fmt.Printf("%d bytes from %x\n", lens[i], bufs[i][6:12])
	}
	reply := []byte{ /* an Ethernet frame */ }
	if _, err := ep.WriteFrames([][]byte{reply}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(ep, ep.Stats())
	for _, e := range ep.FDB() {
		fmt.Println(e)
	}
}
