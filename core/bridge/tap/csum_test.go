package tap

import (
	"math/rand/v2"
	"testing"

	"github.com/libshmif/libshmif/core/internal/offload"
)

// The fast sum agrees with offload's RFC 1071 checksum for every length
// and alignment.
func TestSumMatchesRFC1071(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 2000)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for n := 0; n < 300; n++ {
		for _, init := range []uint64{0, 0xFFFF, 12345} {
			want := ^offload.Checksum(b[:n], uint32(init))
			if got := sum(b[:n], init); got != want && !(got == 0xFFFF && want == 0) && !(got == 0 && want == 0xFFFF) {
				t.Fatalf("n=%d init=%d: got %#x, want %#x", n, init, got, want)
			}
		}
	}
	for i := range b {
		b[i] = 0xFF
	}
	if got, want := sum(b, 0), ^offload.Checksum(b, 0); got != want && !(got == 0xFFFF && want == 0) {
		t.Fatalf("all ones: got %#x, want %#x", got, want)
	}
}

func BenchmarkSum(b *testing.B) {
	buf := make([]byte, 1460)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		sum(buf, 0)
	}
}

func BenchmarkOffloadChecksum(b *testing.B) {
	buf := make([]byte, 1460)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		offload.Checksum(buf, 0)
	}
}
