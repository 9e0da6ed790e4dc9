package bridge

import "time"

// Admit runs the loop and learning rules over frames as read from the bus.
func Admit(b *Bridge, frames [][]byte) int {
	var t tally
	return len(b.admit(busSide, append([][]byte(nil), frames...), time.Now(), &t))
}
