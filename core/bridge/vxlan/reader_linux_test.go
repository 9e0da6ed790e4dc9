package vxlan

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// frames is what a reader goroutine received, plus a count of frames whose
// source is ourMAC (which would be our own frames coming back).
type frames struct {
	ch  chan []byte
	own atomic.Int64
}

// startReader reads ep in a goroutine until the test ends.
func startReader(t *testing.T, ep *Endpoint) *frames {
	fr := &frames{ch: make(chan []byte, 1024)}
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		ep.Close()
		<-done
	})
	go func() {
		defer close(done)
		bufs := make([][]byte, 8)
		for i := range bufs {
			bufs[i] = make([]byte, ep.MaxFrame())
		}
		lens := make([]int, len(bufs))
		for {
			k, err := ep.ReadFrames(bufs, lens)
			if err != nil {
				return
			}
			for i := range k {
				f := slices.Clone(bufs[i][:min(lens[i], len(bufs[i]))])
				if macAt(f[6:12]) == ourMAC {
					fr.own.Add(1)
				}
				select {
				case fr.ch <- f:
				case <-stop:
					return
				}
			}
		}
	}()
	return fr
}

// wait returns the first frame that match accepts, within d.
func (fr *frames) wait(d time.Duration, match func([]byte) bool) []byte {
	timeout := time.After(d)
	for {
		select {
		case f := <-fr.ch:
			if match(f) {
				return f
			}
		case <-timeout:
			return nil
		}
	}
}

func write(t *testing.T, ep *Endpoint, fs ...[]byte) {
	t.Helper()
	n, err := ep.WriteFrames(fs)
	if err != nil || n != len(fs) {
		t.Fatalf("WriteFrames: %d of %d, %v", n, len(fs), err)
	}
}

// resolve ARPs for ip from ourMAC/ourIP through ep, a few times if need be,
// and returns the MAC that answered.
func resolve(t *testing.T, ep *Endpoint, fr *frames, ip netip.Addr) mac {
	t.Helper()
	req := arpFrame(1, broadcast, ourMAC, ourIP, mac{}, ip)
	for range 10 {
		write(t, ep, req)
		f := fr.wait(time.Second, func(f []byte) bool {
			op, _, spa, tpa, ok := parseARP(f)
			return ok && op == 2 && spa == ip && tpa == ourIP && macAt(f[0:6]) == ourMAC
		})
		if f != nil {
			_, sha, _, _, _ := parseARP(f)
			return sha
		}
	}
	t.Fatalf("no ARP reply from %s through %s: %v", ip, ep, ep.Stats())
	return mac{}
}

// ping sends one ICMP echo request of a frame of size bytes to the kernel and
// waits for its reply; false if none came within a second, three times.
func ping(t *testing.T, ep *Endpoint, fr *frames, seq uint16, size int) bool {
	t.Helper()
	data := bytes.Repeat([]byte{byte(seq)}, size-14-20-8)
	req := ipv4Frame(kernelMAC, ourMAC, ourIP, kernelIP, ipProtoICMP, icmpEcho(8, 0x77, seq, data))
	if len(req) != size {
		t.Fatalf("echo frame is %d bytes, want %d", len(req), size)
	}
	for range 3 {
		write(t, ep, req)
		f := fr.wait(time.Second, func(f []byte) bool {
			src, dst, proto, p, ok := parseIPv4(f)
			return ok && src == kernelIP && dst == ourIP && proto == ipProtoICMP && len(p) >= 8 &&
				p[0] == 0 && binary.BigEndian.Uint16(p[4:]) == 0x77 &&
				binary.BigEndian.Uint16(p[6:]) == seq && bytes.Equal(p[8:], data)
		})
		if f != nil {
			return true
		}
	}
	return false
}
