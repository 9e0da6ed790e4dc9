package dump

// Info is what Inspect finds on a bus.
type Info struct {
	Header Header
	Frames int // frames on the ring: the records a dump shows
	// Bytes is how much of the data area the records hold, frame
	// headers and empty records included: from the oldest record to the
	// end of the newest.
	Bytes   int
	Senders []Sender // in the order of their oldest frame on the bus
	Newest  Cursor   // the cursor of the newest record
}

// Sender is what one sender id put on the bus.
type Sender struct {
	ID     uint64
	Frames int
	// MACs are the source addresses of its frames, in the order of
	// first use (frames shorter than 12 bytes have none).
	MACs [][6]byte
}

// Inspect walks the bus as Walk does and sums up what it holds.
func (img *Image) Inspect() (Info, error) {
	h, err := img.Header()
	if err != nil {
		return Info{}, err
	}
	info := Info{Header: h}
	hdrSize := int(recordHeaderSize(h))
	index := map[uint64]int{}
	err = img.walkAll(h, func(r *Record) error {
		info.Bytes += hdrSize + len(r.Frame)
		info.Newest = r.Cursor()
		if len(r.Frame) == 0 {
			return nil
		}
		info.Frames++
		i, ok := index[r.Sender]
		if !ok {
			i = len(info.Senders)
			index[r.Sender] = i
			info.Senders = append(info.Senders, Sender{ID: r.Sender})
		}
		s := &info.Senders[i]
		s.Frames++
		if len(r.Frame) >= 12 {
			src := [6]byte(r.Frame[6:12])
			for _, m := range s.MACs {
				if m == src {
					return nil
				}
			}
			s.MACs = append(s.MACs, src)
		}
		return nil
	})
	if err != nil {
		return Info{}, err
	}
	return info, nil
}
