// Package vxlan is the VXLAN endpoint of libshmif's bridges: it carries the
// Ethernet frames of a shmif bus to other hosts in UDP datagrams, as RFC 7348
// describes, so that a bus reaches a Linux VXLAN device, another libshmif
// bridge or any other VXLAN tunnel endpoint. The bus itself stays as it is,
// NetBSD-compatible: the bridge copies frames between it and an Endpoint.
//
// # URL
//
// A bridge names the endpoint with a URL; Open takes what follows vxlan://
// (the prefix may be left on):
//
//	vxlan://ADDRESS[,ADDRESS...][/OPTION[=VALUE]]...
//
//	vxlan://192.0.2.2/vni=42
//	vxlan://192.0.2.2,192.0.2.3:8472/vni=42/local=192.0.2.1/ttl=4
//	vxlan://239.1.1.1/dev=eth0/vni=42
//	vxlan://[2001:db8::2]/vni=42/dstport=8472
//	vxlan://[fe80::2%eth0]/vni=42
//	vxlan:///vni=42/fdb=00:00:00:00:00:00@192.0.2.2
//
// Each ADDRESS is a numeric IPv4 address, an IPv6 address (in brackets when
// a port follows; a link-local one with its %zone), optionally with :PORT.
// A unicast address is a remote, a multicast one the group. Host names are
// not looked up. Options are named as ip-link(8) names them for "type
// vxlan", written /key=value; flags have no value:
//
//	vni=N, id=N          the VXLAN Network Identifier, 0..16777215 (required)
//	remote=ADDR[:PORT]   one more unicast remote (as in the address list)
//	group=ADDR           the multicast group (as in the address list)
//	local=ADDR           the source address of sent datagrams
//	dev=NAME             the underlay device: the group is joined and sent
//	                     to on it, unicast leaves through it (IP_UNICAST_IF),
//	                     link-local addresses without a zone are on it
//	ttl=N|auto           TTL or hop limit of sent datagrams, 1..255
//	dstport=N            the UDP port datagrams are sent to and received on
//	srcport=MIN-MAX      source ports MIN..MAX-1 (MAX excluded, as in Linux)
//	learning, nolearning learn source MACs, or not
//	ageing=SECONDS       how long a learned entry lives after its last frame
//	maxaddress=N         at most N per-MAC entries (static and learned)
//	fdb=MAC@ADDR[:PORT]  a static entry, as "bridge fdb add MAC dst ADDR";
//	                     with MAC 00:00:00:00:00:00 one more flood
//	                     destination, as "bridge fdb append 00:00:00:00:00:00"
//
// remote and fdb may be repeated; every other option may appear once.
// Defaults: dstport=4789 (IANA's port; 8472 is what Linux uses when ip link
// is given no dstport), ttl=auto (the system's default, 64, for unicast and 1
// for multicast, as Linux),
// learning, ageing=300 (as Linux), no maxaddress, source ports from the
// kernel's net.ipv4.ip_local_port_range (32768 60999 by default, so ports
// 32768..60998: Linux's vxlan uses that range when given no srcport, and the
// same mapping of the hash into it). The endpoint's String is the URL written
// back with the defaults left out.
//
// Parsing is strict: an unknown option, a bad or mixed-family address, a VNI
// over 2^24-1, a group without dev (which Linux refuses too), a link-local
// address without zone or dev, an option given twice: each gives one error
// that quotes the spec, names the problem and matches unix.EINVAL. Options
// of ip-link that this endpoint does not implement (tos, df, l2miss, proxy,
// gbp, external, ...) are refused by name.
//
// # Forwarding
//
// Like Linux's vxlan, the endpoint keeps a forwarding table (FDB). The
// source MAC of every frame received is learned against the outer source
// address of its datagram; frames to that MAC then go there, to dstport.
// Broadcast, multicast and unknown unicast frames go to every remote, to the
// group and to the fdb=00:00:00:00:00:00 destinations. A learned entry ages
// out ageing seconds after the last frame from its MAC; a station seen behind
// another tunnel endpoint moves there. Static (fdb=) entries never age and
// never move: a frame whose source MAC has a static entry at another
// endpoint is dropped, as Linux does. FDB returns the table, with the flood
// destinations as 00:00:00:00:00:00 entries.
//
// # What is accepted
//
// A datagram is taken when it holds at least a VXLAN header and an Ethernet
// header, has the I flag set, carries this endpoint's VNI, and has a unicast
// inner source MAC. The reserved bits are ignored, as RFC 7348 says
// receivers must (Linux, stricter, drops datagrams that set them). In
// unicast mode (no group) only datagrams from configured peers are taken:
// the remotes and the fdb destinations. Learning never widens that set: an
// entry is learned only from a datagram already taken, so every learned
// destination is a configured peer; what learning lets an accepted peer do
// is claim any inner MAC not pinned by a static entry, and so draw the
// unicast frames to it. A peer must therefore send from the address
// configured for it (give a Linux peer "local ADDR" when it has several). In
// multicast mode datagrams from any address are taken, since members of the
// group are not known in advance. Everything refused is counted in Stats by
// reason. Our own multicast datagrams do not come back: multicast loopback
// is off on the sending socket.
//
// # Sending
//
// With CAP_NET_RAW (root, or a user namespace's root) datagrams leave from a
// raw UDP socket, so that each gets a source port hashed from its inner
// frame as Linux does (addresses, protocol and TCP/UDP/SCTP ports of the
// inner IPv4 or IPv6 packet, or the MACs of other frames), spreading flows
// over ECMP paths while keeping each flow on one; IPv4 datagrams carry UDP
// checksum 0 (RFC 7348), IPv6 ones a checksum the kernel computes. Without
// CAP_NET_RAW they leave from the receiving socket, so from dstport, which
// receivers accept too (the hash is a SHOULD); srcport then fails at Open.
// SourcePorts tells which. Datagrams are never fragmented (DF, or
// IPV6_DONTFRAG): a frame larger than the underlay allows (the route's or
// the device's MTU less 36 bytes over IPv4, 56 over IPv6, for the outer IP,
// UDP and VXLAN headers; that is Linux's 50 and 70 bytes counted from the
// inner IP packet) is refused by the kernel and counted in Stats.TxTooBig.
// A 1500-byte underlay thus carries frames up to 1464 bytes (IPv4); give the
// underlay an MTU of 1550 (1570 for IPv6) to carry every 1514-byte frame of
// a bus, or the bus interfaces an MTU of 1450 (1430).
//
// # Sockets
//
// Open makes its sockets in the network namespace of the calling thread; a
// socket keeps its namespace, so a program may open an endpoint on a thread
// moved with setns(2) and use it from any goroutine. It listens on the
// wildcard address at dstport, like Linux, so one endpoint (or one Linux
// VXLAN device) per dstport and namespace. Descriptors are non-blocking and
// close-on-exec; ReadFrames and WriteFrames use recvmmsg and sendmmsg and
// wait in poll(2) together with an eventfd that Close signals.
//
// # Linux peers
//
// A Linux host B (192.0.2.2 on eth0) and a libshmif bridge on host A
// (192.0.2.1):
//
//	B# ip link add vx0 type vxlan id 42 remote 192.0.2.1 local 192.0.2.2 dstport 4789 dev eth0
//	B# ip addr add 10.42.0.2/24 dev vx0 && ip link set vx0 up
//	A: vxlan://192.0.2.2/vni=42
//
// Over multicast, every member alike:
//
//	B# ip link add vx0 type vxlan id 42 group 239.1.1.1 dstport 4789 dev eth0 ttl 4
//	A: vxlan://239.1.1.1/dev=eth0/vni=42/ttl=4
//
// A device made without dstport uses port 8472: add /dstport=8472. Several
// unicast peers: list them (vxlan://192.0.2.2,192.0.2.3/vni=42), as B lists
// them with "bridge fdb append 00:00:00:00:00:00 dev vx0 dst ...". "bridge
// fdb show dev vx0" on B lists the MACs of the bus with dst 192.0.2.1 once
// they have sent.
//
// # Security
//
// VXLAN has no authentication and no encryption: anyone who can send UDP to
// dstport with the VNI can put frames on the bus, and anyone on the path
// reads them. Keep it on a trusted underlay, or inside an encrypted tunnel
// (WireGuard, IPsec). The endpoint takes only its VNI and, in unicast mode,
// only configured peers (above); source addresses can be forged where the
// underlay is not trusted, so that is a filter, not authentication. Static
// fdb entries pin the MACs that matter; maxaddress bounds the table.
package vxlan
