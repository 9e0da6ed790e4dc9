package offload

import (
	"math/rand/v2"
	"testing"
)

// RFC 1071 §3 works an example: the words 0001 f203 f4f5 f6f7 sum to ddf2,
// so the checksum is 220d.
func TestChecksumRFC1071Example(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b, 0); got != 0x220d {
		t.Fatalf("got %#04x, want 0x220d", got)
	}
	if got := refChecksum(b); got != 0x220d {
		t.Fatalf("reference: got %#04x, want 0x220d", got)
	}
}

func TestChecksumEdgeCases(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		init uint32
		want uint16
	}{
		{nil, 0, 0xFFFF},
		{[]byte{0xAB}, 0, ^uint16(0xAB00)},                 // odd byte padded with a zero
		{[]byte{0xFF, 0xFF}, 0, 0x0000},                    // one's complement -0
		{[]byte{0xFF, 0xFF, 0x00, 0x01}, 0, 0xFFFE},        // end-around carry
		{nil, 0x0001_0002, ^uint16(0x0003)},                // initial is folded
		{[]byte{0x12, 0x34}, 0xFFFF_FFFF, ^uint16(0x1234)}, // FFFF+FFFF+1234 ≡ 1234
	} {
		if got := Checksum(c.b, c.init); got != c.want {
			t.Errorf("Checksum(% x, %#x) = %#04x, want %#04x", c.b, c.init, got, c.want)
		}
	}
}

// Checksum agrees with the big.Int reference for every length up to a few
// words (odd ones included) and some long buffers, and a buffer holding its
// own checksum sums to 0.
func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	lengths := []int{1500, 4095, 65536}
	for n := 0; n < 64; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for range 8 {
			b := randBytes(n, r.Uint64())
			if got, want := Checksum(b, 0), refChecksum(b); got != want {
				t.Fatalf("len %d: got %#04x, want %#04x", n, got, want)
			}
			init := r.Uint32()
			withInit := append([]byte{byte(init >> 24), byte(init >> 16), byte(init >> 8), byte(init)}, b...)
			if got, want := Checksum(b, init), refChecksum(withInit); got != want {
				t.Fatalf("len %d initial %#x: got %#04x, want %#04x", n, init, got, want)
			}
			if n >= 2 && n%2 == 0 {
				b[0], b[1] = 0, 0
				c := Checksum(b, 0)
				b[0], b[1] = byte(c>>8), byte(c)
				if got := Checksum(b, 0); got != 0 {
					t.Fatalf("len %d: buffer with its checksum sums to %#04x", n, got)
				}
			}
		}
	}
}
