package tap

import (
	"encoding/binary"
	"math/bits"
)

// sum returns the 16-bit one's complement sum (RFC 1071) of b added to
// acc, folded, not complemented. It adds 64-bit words with carries, which
// gives the same result as 16-bit words (2^16 ≡ 1 mod 0xFFFF) several
// times faster. b may have an odd length only if it is the last piece of
// what is summed.
func sum(b []byte, acc uint64) uint16 {
	var carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	acc, carry = bits.Add64(acc, carry, 0)
	acc += carry
	var tail uint64
	switch {
	case len(b) >= 4:
		tail = uint64(binary.BigEndian.Uint32(b)) << 32
		b = b[4:]
		if len(b) >= 2 {
			tail |= uint64(binary.BigEndian.Uint16(b)) << 16
			b = b[2:]
		}
		if len(b) == 1 {
			tail |= uint64(b[0]) << 8
		}
	case len(b) >= 2:
		tail = uint64(binary.BigEndian.Uint16(b)) << 48
		if len(b) == 3 {
			tail |= uint64(b[2]) << 40
		}
	case len(b) == 1:
		tail = uint64(b[0]) << 56
	}
	acc, carry = bits.Add64(acc, tail, 0)
	acc += carry
	// Fold 64 bits to 16.
	s := acc>>32 + acc&0xFFFFFFFF
	s = s>>16 + s&0xFFFF
	s = s>>16 + s&0xFFFF
	s = s>>16 + s&0xFFFF
	return uint16(s)
}

// pseudo returns the sum of the TCP pseudo-header of the IP header ip with
// a TCP length of n.
func pseudo(ip []byte, v6 bool, n int) uint64 {
	if v6 {
		return uint64(sum(ip[8:40], 6+uint64(n)))
	}
	return uint64(sum(ip[12:20], 6+uint64(n)))
}
