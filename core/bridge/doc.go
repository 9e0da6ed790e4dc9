// Package bridge joins a shmif bus to the world outside it. A Bridge
// copies Ethernet frames between a bus (its left side: an interface of its
// own in promiscuous mode, or one the caller gives it) and an Endpoint
// (its right side: a TAP device, a socket, a VDE network, a VXLAN tunnel,
// another bus), in both directions, until stopped. To the nodes on the
// bus the endpoint's side looks like more nodes on the same wire, and the
// other way round, as with a bridge between two Ethernet segments.
//
//	ep, err := bridge.OpenEndpoint("tap://tap0")
//	b, err := bridge.Open("/tmp/bus", ep, bridge.Config{})
//	err = b.Start()
//	...
//	b.Stop()
//
// The command shmif_bridge(1) does the same from a shell.
//
// # Endpoints
//
// Endpoints are named by URLs in the manner of VDE's libvdeplug; options
// follow the address as /name=value and are named as iproute2 names them:
//
//	tap://NAME[/mtu=N][/vnet_hdr=off]   a TAP device, made if missing, set up (package tap)
//	tap://fd=N[/mtu=N]                  a TAP descriptor handed over (rootless bridges)
//	udp://[SRC:]SPORT->DST:DPORT        a frame per UDP datagram (VDE's udp plug), /ttl=, /dev=
//	stream://[listen:]unix:PATH         a 4-byte big-endian length before each frame
//	stream://[listen:]tcp:HOST:PORT       (QEMU -netdev stream, passt, gvproxy)
//	seqpacket://[listen:]unix:PATH      a frame per packet (slirp4netns bess, UML)
//	dgram://unix:[LOCAL->unix:]REMOTE   a frame per unix datagram (QEMU dgram, vfkit)
//	dgram://listen:unix:LOCAL
//	stdio                               a 2-byte length on stdin/stdout (vde_plug URL = CMD)
//	vde://VDEURL                        anything libvdeplug opens (package vde)
//	shmif://PATH[/mode=0644]            another bus (package shmifbus)
//	vxlan://REMOTE/vni=N                a VXLAN tunnel (package vxlan)
//
// Listeners listen on a unix socket with mode 0600 unless /mode= says
// otherwise (exactly that mode, whatever the umask), or on TCP loopback;
// any other address needs /public, since whoever reaches it reaches the
// bus. Bus files a bridge creates get mode 0644 under the umask, as
// shmif_open's, unless Config.Mode says otherwise.
//
// # What crosses
//
// Every frame crosses, unless:
//
//   - it is under 14 or over 1514 bytes: a bus carries Ethernet frames
//     without FCS up to a 1500-byte MTU; frames are dropped, never
//     truncated (counted as TooSmall, TooBig);
//   - it is a loop or an echo (Loop; see below);
//   - with Config.Learning, its unicast destination was last seen as a
//     source on the side it came from (Filtered), as a learning bridge;
//     learned addresses age after Config.AgeingTime;
//   - the destination refuses it (Errors), or the endpoint cannot carry it
//     (the endpoint's own counters: over its MTU, no peer connected, ...).
//
// # Loops and echoes
//
// A bridge never sends a frame back where it came from. Its bus interface
// drops the frames it wrote itself (by sender id), so its own frames are
// never read back from the bus; on the endpoint side an echo (a peer that
// reflects, multicast loopback) would bring them back, and two bridges
// between the same two networks carry each frame round and round. So each
// direction keeps a short memory (a second) of hashes of the frames it
// forwarded: a frame arriving from the side a copy of it was sent to is
// dropped and counted as Loop. A frame read from one side that the bridge
// forwarded from that same side within 20 ms (500 ms for ten seconds
// after a loop was seen) is dropped too: that ends the loop two bridges
// make when each reads the other's copy before the original. Two bridges
// between the same buses therefore deliver each frame once or twice
// (three times if one is kept off the CPU for longer than 20 ms as the
// loop forms), never in a storm, and count the copies they drop;
// shmif_bridge says so.
// Config.NoRepeatGuard turns the 20 ms rule off.
//
// # Counters
//
// Stats counts each direction: frames and bytes written, and frames
// dropped by reason (TooSmall, TooBig, Loop, Filtered, Errors), with the
// bus interface's counters (Lost: frames the bus overwrote before the
// bridge read them) and the endpoint's own. Its String form is the line
// shmif_bridge prints.
//
// # Stages
//
// Config.ToEndpoint and Config.ToBus put a Stage between the reader and the
// writer of a direction: it takes each frame with the time it was read and
// hands frames on through an Emit, at once or later. Impairment models
// (delay, loss, reordering, rate) plug in there; without a stage a batch
// read is written at once.
//
// # Threads and descriptors
//
// Each direction runs in its own goroutines; the bus is read into a queue
// of batches so that a slow write never holds up reading the ring.
// Endpoints use non-blocking, close-on-exec descriptors; Stop ends blocked
// reads at once. OpenEndpoint makes its descriptors in the network
// namespace of the calling thread, which lets a caller put a tap in
// another namespace (lock the thread, setns, open, set it back).
package bridge
