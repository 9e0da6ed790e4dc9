//go:build race

package impair

const raceEnabled = true
