//go:build !race

package testlib

// Race reports whether this binary was built with the race detector, for
// tests that shorten or skip what it only slows down.
const Race = false
