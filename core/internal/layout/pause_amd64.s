//go:build amd64

#include "textflag.h"

// func SpinPause()
TEXT ·SpinPause(SB), NOSPLIT, $0-0
	PAUSE
	RET
