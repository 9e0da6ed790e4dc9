package laps_test

import (
	"os"
	"testing"
)

// TestMain lets the storms (storm_test.go) re-execute this test binary as
// their writers, receivers and strangers: a child finds its part in
// SHMIF_STORM_ROLE and never runs the tests.
func TestMain(m *testing.M) {
	if role := os.Getenv(stormRoleEnv); role != "" {
		os.Exit(stormChild(role))
	}
	os.Exit(m.Run())
}
