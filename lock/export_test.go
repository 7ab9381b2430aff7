package lock

import "github.com/shmkit/shmkit/internal/robust"

// HoldStamp returns l's hold stamp (internal/robust), for tests.
func HoldStamp(l *Lock) robust.Stamp { return l.m.HoldStamp() }
