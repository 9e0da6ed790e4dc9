package dump

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// A Filter selects Ethernet frames with a small expression language modelled
// on tcpdump's (pcap-filter(7)), parsed and matched here, without libpcap:
//
//	filter    = [ expr ]                     (an empty filter takes every frame)
//	expr      = unary { "and" unary } | unary { "or" unary }
//	unary     = ( "not" | "!" ) unary | "(" expr ")" | primitive
//	primitive = "arp" | "rarp" | "ip" | "ip6" | ETHERTYPE | "ether" "proto" TYPE
//	          | "vlan" [ VLANID ]
//	          | "tcp" | "udp" | "icmp" | "icmp6"
//	          | [ "ip" | "ip6" ] "proto" PROTO
//	          | [ DIR ] "host" ADDR | DIR ADDR | ADDR
//	          | [ DIR ] "net" PREFIX
//	          | [ "tcp" | "udp" ] [ DIR ] "port" PORT
//	          | "ether" [ DIR ] "host" MAC | "ether" DIR MAC
//	          | [ "ether" ] ( "broadcast" | "multicast" )
//	DIR       = "src" | "dst"
//
// "&&" and "||" may stand for "and" and "or". Mixing "and" with "or" without
// parentheses is refused: tcpdump gives them equal precedence, most
// languages do not, and a filter that silently means something else would
// make a harness wait for the wrong frame. ETHERTYPE is a hexadecimal
// number with 0x; TYPE one of arp, rarp, ip, ip6, vlan or a number; PROTO
// tcp, udp, icmp, icmp6 or a number up to 255; MAC a MAC address (six
// groups of one or two hexadecimal digits separated by ':' or '-'); ADDR a
// MAC, IPv4 or IPv6 address; PREFIX an IP address with an optional /bits.
//
// Frames are looked into through up to four VLAN tags (802.1Q, 802.1ad and
// 0x9100): "ip" takes an IPv4 frame whether tagged or not, and an ethertype
// takes a frame that carries it at any level ("0x8100" takes tagged frames).
// "vlan" takes tagged frames, "vlan N" those with a tag of VLAN ID N.
// Host and net primitives with an IPv4 address also take ARP and RARP
// packets by their sender (src) and target (dst) protocol addresses, as
// tcpdump's do. "port" takes TCP and UDP over IPv4 and IPv6 (not later
// fragments); "icmp" is IPv4's, "icmp6" IPv6's; "tcp" and "udp" either.
type Filter struct {
	root node // nil: every frame
}

// ParseFilter parses a filter expression; words are separated by white
// space, and parentheses and "!" need none around them. A malformed
// expression gives a *FilterError.
func ParseFilter(expr string) (*Filter, error) {
	toks := tokenize(expr)
	p := &parser{toks: toks, end: len(expr)}
	if len(toks) == 0 {
		return &Filter{}, nil
	}
	root, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t, ok := p.peek(); ok {
		if t.text == ")" {
			return nil, p.fail(FilterUnmatched, t, ValueNone)
		}
		return nil, p.fail(FilterUnexpected, t, ValueOperator)
	}
	return &Filter{root: root}, nil
}

// Match reports whether frame passes the filter.
func (f *Filter) Match(frame []byte) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.match(decode(frame))
}

// String returns the filter in a canonical form, with every group in
// parentheses: "" for the empty filter.
func (f *Filter) String() string {
	if f == nil || f.root == nil {
		return ""
	}
	return f.root.String()
}

// FilterProblem names what is wrong with a filter expression.
type FilterProblem int

const (
	// FilterUnknown: a word that is neither a keyword nor a value where
	// a primitive must start.
	FilterUnknown FilterProblem = iota
	// FilterMissing: the expression ended where Want was needed.
	FilterMissing
	// FilterBadValue: Word is not a valid Want.
	FilterBadValue
	// FilterUnexpected: Word stands where Want was needed.
	FilterUnexpected
	// FilterUnmatched: a ")" without its "(".
	FilterUnmatched
	// FilterMixed: "and" and "or" in one group without parentheses.
	FilterMixed
)

// FilterValue names what the parser wanted where it failed.
type FilterValue int

const (
	ValueNone       FilterValue = iota
	ValuePrimitive              // a primitive, "not" or "("
	ValueOperator               // "and", "or", ")" or the end
	ValueClose                  // ")"
	ValueAddress                // a MAC, IPv4 or IPv6 address
	ValueMAC                    // a MAC address
	ValuePrefix                 // an IPv4 or IPv6 address or prefix
	ValuePort                   // a port number, 0 to 65535
	ValueProto                  // tcp, udp, icmp, icmp6 or 0 to 255
	ValueEtherType              // arp, rarp, ip, ip6, vlan or 0 to 0xffff
	ValueVLAN                   // a VLAN ID, 0 to 4095 (for "vlan", optional)
	ValueAfterEther             // proto, src, dst, host, broadcast or multicast
	ValueAfterDir               // host, net, port or an address
)

// FilterError is a filter expression ParseFilter refuses.
type FilterError struct {
	Problem FilterProblem
	Word    string      // the word at fault ("" at the end of the expression)
	Offset  int         // its byte offset in the expression (its length at the end)
	After   string      // the keyword before it, if it wanted a value
	Want    FilterValue // what was wanted there
}

func (e *FilterError) Error() string {
	word := strconv.Quote(e.Word)
	if e.Word == "" {
		word = "end of filter"
	}
	switch e.Problem {
	case FilterUnknown:
		return fmt.Sprintf("dump: filter: unknown word %s", word)
	case FilterUnmatched:
		return "dump: filter: \")\" without \"(\""
	case FilterMixed:
		return fmt.Sprintf("dump: filter: %s mixed with the other operator without parentheses", word)
	}
	after := ""
	if e.After != "" {
		after = fmt.Sprintf(" after %q", e.After)
	}
	return fmt.Sprintf("dump: filter: wanted %s%s, found %s", valueNames[e.Want], after, word)
}

var valueNames = map[FilterValue]string{
	ValueNone:       "nothing",
	ValuePrimitive:  "a primitive, \"not\" or \"(\"",
	ValueOperator:   "\"and\", \"or\", \")\" or the end",
	ValueClose:      "\")\"",
	ValueAddress:    "a MAC, IPv4 or IPv6 address",
	ValueMAC:        "a MAC address",
	ValuePrefix:     "an IPv4 or IPv6 address or prefix",
	ValuePort:       "a port number",
	ValueProto:      "a protocol",
	ValueEtherType:  "an ethertype",
	ValueVLAN:       "a VLAN ID",
	ValueAfterEther: "proto, src, dst, host, broadcast or multicast",
	ValueAfterDir:   "host, net, port or an address",
}

func (e *FilterError) Is(target error) bool { return target == ErrFilter }

type token struct {
	text string
	off  int
}

// tokenize splits expr into words, with "(", ")", "!", "&&" and "||" words
// of their own wherever they stand.
func tokenize(expr string) []token {
	var toks []token
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '!':
			toks = append(toks, token{expr[i : i+1], i})
			i++
		case strings.HasPrefix(expr[i:], "&&") || strings.HasPrefix(expr[i:], "||"):
			toks = append(toks, token{expr[i : i+2], i})
			i += 2
		default:
			j := i
			for j < len(expr) && !strings.ContainsRune(" \t\n\r()!", rune(expr[j])) &&
				!strings.HasPrefix(expr[j:], "&&") && !strings.HasPrefix(expr[j:], "||") {
				j++
			}
			toks = append(toks, token{expr[i:j], i})
			i = j
		}
	}
	return toks
}

type parser struct {
	toks []token
	pos  int
	end  int // length of the expression
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{off: p.end}, false
}

func (p *parser) next() (token, bool) {
	t, ok := p.peek()
	if ok {
		p.pos++
	}
	return t, ok
}

func (p *parser) fail(problem FilterProblem, t token, want FilterValue) error {
	return &FilterError{Problem: problem, Word: t.text, Offset: t.off, Want: want}
}

// value takes the word after keyword, which must be a want.
func (p *parser) value(keyword token, want FilterValue) (token, error) {
	t, ok := p.next()
	if !ok {
		return t, &FilterError{Problem: FilterMissing, Offset: t.off, After: keyword.text, Want: want}
	}
	return t, nil
}

func (p *parser) bad(keyword, t token, want FilterValue) error {
	return &FilterError{Problem: FilterBadValue, Word: t.text, Offset: t.off, After: keyword.text, Want: want}
}

func opOf(s string) string {
	switch s {
	case "and", "&&":
		return "and"
	case "or", "||":
		return "or"
	}
	return ""
}

func (p *parser) expr() (node, error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	kids := []node{first}
	op := ""
	for {
		t, ok := p.peek()
		o := opOf(t.text)
		if !ok || o == "" {
			break
		}
		if op != "" && o != op {
			return nil, &FilterError{Problem: FilterMixed, Word: t.text, Offset: t.off}
		}
		op = o
		p.pos++
		k, err := p.unary()
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	switch op {
	case "and":
		return andNode(kids), nil
	case "or":
		return orNode(kids), nil
	}
	return first, nil
}

func (p *parser) unary() (node, error) {
	t, ok := p.next()
	if !ok {
		return nil, &FilterError{Problem: FilterMissing, Offset: t.off, Want: ValuePrimitive}
	}
	switch t.text {
	case "not", "!":
		k, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{k}, nil
	case "(":
		k, err := p.expr()
		if err != nil {
			return nil, err
		}
		c, ok := p.next()
		if !ok {
			return nil, &FilterError{Problem: FilterMissing, Offset: c.off, Want: ValueClose}
		}
		if c.text != ")" {
			return nil, &FilterError{Problem: FilterUnexpected, Word: c.text, Offset: c.off, Want: ValueOperator}
		}
		return groupNode{k}, nil
	case ")", "and", "or", "&&", "||":
		return nil, &FilterError{Problem: FilterUnexpected, Word: t.text, Offset: t.off, Want: ValuePrimitive}
	}
	return p.primitive(t)
}

func (p *parser) primitive(t token) (node, error) {
	switch t.text {
	case "arp":
		return etherNode{etherARP}, nil
	case "rarp":
		return etherNode{etherRARP}, nil
	case "ip", "ip6":
		v := 4
		if t.text == "ip6" {
			v = 6
		}
		if n, ok := p.peek(); ok && n.text == "proto" {
			p.pos++
			return p.proto(n, v)
		}
		return ipNode{v}, nil
	case "vlan":
		if n, ok := p.peek(); ok && isDecimal(n.text) {
			p.pos++
			id, err := strconv.ParseUint(n.text, 10, 16)
			if err != nil || id > 4095 {
				return nil, p.bad(t, n, ValueVLAN)
			}
			return vlanNode{int(id)}, nil
		}
		return vlanNode{-1}, nil
	case "tcp":
		return p.protoPort(protoNode{0, protoTCP})
	case "udp":
		return p.protoPort(protoNode{0, protoUDP})
	case "icmp":
		return protoNode{4, protoICMP}, nil
	case "icmp6":
		return protoNode{6, protoICMP6}, nil
	case "proto":
		return p.proto(t, 0)
	case "ether":
		return p.ether(t)
	case "broadcast", "multicast":
		return castNode{t.text == "broadcast"}, nil
	case "src", "dst":
		return p.directed(t)
	case "host", "net", "port":
		return p.qualified("", t)
	}
	if strings.HasPrefix(t.text, "0x") {
		v, err := strconv.ParseUint(t.text[2:], 16, 16)
		if err != nil {
			return nil, &FilterError{Problem: FilterBadValue, Word: t.text, Offset: t.off, Want: ValueEtherType}
		}
		return etherNode{uint16(v)}, nil
	}
	if n, ok := addrNode(t.text, ""); ok {
		return n, nil
	}
	return nil, &FilterError{Problem: FilterUnknown, Word: t.text, Offset: t.off, Want: ValuePrimitive}
}

// protoPort parses the port that may follow "tcp" or "udp", as tcpdump
// takes "udp port 53" and "tcp dst port 80": the port of that protocol.
func (p *parser) protoPort(proto protoNode) (node, error) {
	dir := ""
	t, ok := p.peek()
	if ok && (t.text == "src" || t.text == "dst") && p.pos+1 < len(p.toks) && p.toks[p.pos+1].text == "port" {
		dir = t.text
		p.pos++
		t, ok = p.peek()
	}
	if !ok || t.text != "port" {
		return proto, nil
	}
	p.pos++
	port, err := p.qualified(dir, t)
	if err != nil {
		return nil, err
	}
	return protoPortNode{proto, port.(portNode)}, nil
}

// directed parses what follows "src" or "dst" (kw).
func (p *parser) directed(kw token) (node, error) {
	t, err := p.value(kw, ValueAfterDir)
	if err != nil {
		return nil, err
	}
	switch t.text {
	case "host", "net", "port":
		return p.qualified(kw.text, t)
	}
	if n, ok := addrNode(t.text, kw.text); ok {
		return n, nil
	}
	return nil, p.bad(kw, t, ValueAfterDir)
}

// qualified parses the value after "host", "net" or "port" (kw), for
// direction dir ("src", "dst" or "" for either).
func (p *parser) qualified(dir string, kw token) (node, error) {
	want := map[string]FilterValue{"host": ValueAddress, "net": ValuePrefix, "port": ValuePort}[kw.text]
	t, err := p.value(kw, want)
	if err != nil {
		return nil, err
	}
	switch kw.text {
	case "host":
		if n, ok := addrNode(t.text, dir); ok {
			return n, nil
		}
	case "net":
		if pfx, ok := parsePrefix(t.text); ok {
			return netNode{dir, pfx, false}, nil
		}
	case "port":
		if port, err := strconv.ParseUint(t.text, 10, 16); err == nil && isDecimal(t.text) {
			return portNode{dir, uint16(port)}, nil
		}
	}
	return nil, p.bad(kw, t, want)
}

// proto parses the protocol after "proto" (kw), for IP version v (0: both).
func (p *parser) proto(kw token, v int) (node, error) {
	t, err := p.value(kw, ValueProto)
	if err != nil {
		return nil, err
	}
	switch t.text {
	case "tcp":
		return protoNode{v, protoTCP}, nil
	case "udp":
		return protoNode{v, protoUDP}, nil
	case "icmp":
		if v == 0 {
			v = 4
		}
		return protoNode{v, protoICMP}, nil
	case "icmp6":
		if v == 0 {
			v = 6
		}
		return protoNode{v, protoICMP6}, nil
	}
	n, err := strconv.ParseUint(t.text, 0, 8)
	if err != nil || strings.HasPrefix(t.text, "+") {
		return nil, p.bad(kw, t, ValueProto)
	}
	return protoNode{v, int(n)}, nil
}

// ether parses what follows "ether".
func (p *parser) ether(kw token) (node, error) {
	t, err := p.value(kw, ValueAfterEther)
	if err != nil {
		return nil, err
	}
	switch t.text {
	case "proto":
		v, err := p.value(t, ValueEtherType)
		if err != nil {
			return nil, err
		}
		switch v.text {
		case "arp":
			return etherNode{etherARP}, nil
		case "rarp":
			return etherNode{etherRARP}, nil
		case "ip":
			return etherNode{etherIPv4}, nil
		case "ip6":
			return etherNode{etherIPv6}, nil
		case "vlan":
			return etherNode{etherVLAN}, nil
		}
		n, err := strconv.ParseUint(v.text, 0, 16)
		if err != nil || strings.HasPrefix(v.text, "+") {
			return nil, p.bad(t, v, ValueEtherType)
		}
		return etherNode{uint16(n)}, nil
	case "broadcast", "multicast":
		return castNode{t.text == "broadcast"}, nil
	case "src", "dst", "host":
		dir := t.text
		if dir == "host" {
			dir = ""
		}
		a, err := p.value(t, ValueMAC)
		if err != nil {
			return nil, err
		}
		if dir != "" && a.text == "host" {
			kw := a
			if a, err = p.value(kw, ValueMAC); err != nil {
				return nil, err
			}
		}
		mac, ok := parseMAC(a.text)
		if !ok {
			return nil, p.bad(t, a, ValueMAC)
		}
		return macNode{dir, mac}, nil
	}
	return nil, p.bad(kw, t, ValueAfterEther)
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// addrNode makes a host primitive of s, a MAC or IP address.
func addrNode(s, dir string) (node, bool) {
	if mac, ok := parseMAC(s); ok {
		return macNode{dir, mac}, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return nil, false
	}
	return netNode{dir, netip.PrefixFrom(a, a.BitLen()), true}, true
}

// parseMAC reads six groups of one or two hexadecimal digits separated by
// ':' or '-'.
func parseMAC(s string) ([6]byte, bool) {
	var mac [6]byte
	sep := ":"
	if strings.Contains(s, "-") {
		sep = "-"
	}
	parts := strings.Split(s, sep)
	if len(parts) != 6 {
		return mac, false
	}
	for i, part := range parts {
		if len(part) < 1 || len(part) > 2 {
			return mac, false
		}
		v, err := strconv.ParseUint(part, 16, 8)
		if err != nil {
			return mac, false
		}
		mac[i] = byte(v)
	}
	return mac, true
}

// parsePrefix reads an address or address/bits, with the bits after the
// prefix cleared.
func parsePrefix(s string) (netip.Prefix, bool) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return pfx.Masked(), true
}

// The nodes of a parsed filter.
type node interface {
	match(p *packet) bool
	String() string
}

type andNode []node

func (n andNode) match(p *packet) bool {
	for _, k := range n {
		if !k.match(p) {
			return false
		}
	}
	return true
}

func (n andNode) String() string { return join(n, " and ") }

type orNode []node

func (n orNode) match(p *packet) bool {
	for _, k := range n {
		if k.match(p) {
			return true
		}
	}
	return false
}

func (n orNode) String() string { return join(n, " or ") }

func join(kids []node, op string) string {
	s := make([]string, len(kids))
	for i, k := range kids {
		s[i] = k.String()
	}
	return "(" + strings.Join(s, op) + ")"
}

type notNode struct{ kid node }

func (n notNode) match(p *packet) bool { return !n.kid.match(p) }
func (n notNode) String() string       { return "not " + n.kid.String() }

// groupNode is a parenthesised expression: its own parentheses when its
// content has none.
type groupNode struct{ kid node }

func (n groupNode) match(p *packet) bool { return n.kid.match(p) }
func (n groupNode) String() string {
	s := n.kid.String()
	if strings.HasPrefix(s, "(") {
		return s
	}
	return "(" + s + ")"
}

// etherNode takes frames that carry an ethertype at any level: a VLAN
// tag's TPID or the type after the tags.
type etherNode struct{ t uint16 }

func (n etherNode) match(p *packet) bool {
	if p.dst == nil {
		return false
	}
	for _, tg := range p.tags[:p.ntags] {
		if tg.tpid == n.t {
			return true
		}
	}
	return p.etype == n.t
}

func (n etherNode) String() string {
	switch n.t {
	case etherARP:
		return "arp"
	case etherRARP:
		return "rarp"
	}
	return fmt.Sprintf("ether proto %#04x", n.t)
}

// ipNode takes IPv4 (v 4) or IPv6 (v 6) frames, by ethertype.
type ipNode struct{ v int }

func (n ipNode) match(p *packet) bool {
	if n.v == 4 {
		return p.etype == etherIPv4
	}
	return p.etype == etherIPv6
}

func (n ipNode) String() string {
	if n.v == 4 {
		return "ip"
	}
	return "ip6"
}

type vlanNode struct{ id int }

func (n vlanNode) match(p *packet) bool {
	for _, tg := range p.tags[:p.ntags] {
		if n.id < 0 || int(tg.tci&0x0fff) == n.id {
			return true
		}
	}
	return false
}

func (n vlanNode) String() string {
	if n.id < 0 {
		return "vlan"
	}
	return fmt.Sprintf("vlan %d", n.id)
}

// protoNode takes IP packets of a protocol, over IP version v (0: both).
type protoNode struct{ v, proto int }

func (n protoNode) match(p *packet) bool {
	return p.ipv != 0 && (n.v == 0 || n.v == p.ipv) && p.proto == n.proto
}

func (n protoNode) String() string {
	name := map[int]string{protoTCP: "tcp", protoUDP: "udp", protoICMP: "icmp", protoICMP6: "icmp6"}[n.proto]
	// "proto icmp" reads as IPv4's and "proto icmp6" as IPv6's: over
	// either version, the number says it.
	if name == "" || (n.v == 0 && (n.proto == protoICMP || n.proto == protoICMP6)) {
		name = strconv.Itoa(n.proto)
	}
	switch n.v {
	case 4:
		return "ip proto " + name
	case 6:
		return "ip6 proto " + name
	}
	return "proto " + name
}

func dirWord(dir string) string {
	if dir == "" {
		return ""
	}
	return dir + " "
}

type macNode struct {
	dir string // "src", "dst" or "" for either
	mac [6]byte
}

func (n macNode) match(p *packet) bool {
	if p.dst == nil {
		return false
	}
	return (n.dir != "dst" && bytes.Equal(p.src, n.mac[:])) ||
		(n.dir != "src" && bytes.Equal(p.dst, n.mac[:]))
}

func (n macNode) String() string {
	return "ether " + dirWord(n.dir) + "host " + net.HardwareAddr(n.mac[:]).String()
}

// netNode takes IP packets, and ARP and RARP packets for IPv4, from or to
// an address in a prefix.
type netNode struct {
	dir  string
	pfx  netip.Prefix
	host bool // written as an address: "host"
}

func (n netNode) match(p *packet) bool {
	var src, dst netip.Addr
	switch {
	case p.ipv != 0:
		src, dst = p.ipSrc, p.ipDst
	case p.arp:
		src, dst = p.arpSPA, p.arpTPA
	default:
		return false
	}
	return (n.dir != "dst" && n.pfx.Contains(src)) || (n.dir != "src" && n.pfx.Contains(dst))
}

func (n netNode) String() string {
	if n.host {
		return dirWord(n.dir) + "host " + n.pfx.Addr().String()
	}
	return dirWord(n.dir) + "net " + n.pfx.String()
}

// protoPortNode is "tcp port N" or "udp port N": a port of one protocol.
type protoPortNode struct {
	proto protoNode
	port  portNode
}

func (n protoPortNode) match(p *packet) bool { return n.proto.match(p) && n.port.match(p) }

func (n protoPortNode) String() string {
	return map[int]string{protoTCP: "tcp", protoUDP: "udp"}[n.proto.proto] + " " + n.port.String()
}

type portNode struct {
	dir  string
	port uint16
}

func (n portNode) match(p *packet) bool {
	src, dst, ok := p.ports()
	return ok && ((n.dir != "dst" && src == n.port) || (n.dir != "src" && dst == n.port))
}

func (n portNode) String() string { return fmt.Sprintf("%sport %d", dirWord(n.dir), n.port) }

// castNode takes frames sent to the Ethernet broadcast address, or to any
// group address (multicast, broadcast included).
type castNode struct{ broadcast bool }

func (n castNode) match(p *packet) bool {
	if p.dst == nil {
		return false
	}
	if n.broadcast {
		return bytes.Equal(p.dst, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	}
	return p.dst[0]&1 != 0
}

func (n castNode) String() string {
	if n.broadcast {
		return "ether broadcast"
	}
	return "ether multicast"
}
