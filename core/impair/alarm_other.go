//go:build !linux

package impair

func newAlarm() alarm { return newTimerAlarm() }
