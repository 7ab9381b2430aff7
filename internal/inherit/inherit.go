// Package inherit is the door between package shm and package proc for what only proc needs:
// the anonymous segments a child must inherit, and their adoption in the child. shm fills the
// functions in when it loads; proc calls them. It keeps these hooks out of shm's public API, where
// users had no use for them. It also tells the packages that register functions whether this
// process is a child that proc re-executed (Reexecuted).
package inherit

import "os"

// EnvChild is the environment variable proc.Start sets in a process it re-executes.
const EnvChild = "SHMKIT_CHILD"

// Reexecuted is true in a process that proc.Start re-executed, from package initialisation on
// (before proc.Main runs). Registration functions use it to skip the checks of what they register
// that the parent, the same binary, has already made and passed: every worker of a pool would
// otherwise pay for them again at its start.
var Reexecuted = os.Getenv(EnvChild) != ""

// Segment is what proc needs of a segment a child inherits.
type Segment interface {
	ID() uint64
	File() *os.File
}

var (
	// Inheritable returns this process's open anonymous segments: those a child process must
	// inherit as descriptors to resolve Refs into them.
	Inheritable func() []Segment

	// Adopt maps an inherited descriptor of a shmkit segment after validating its header,
	// registers it so Refs into it resolve, makes it the default heap if it is marked as the
	// parent's and this process has none yet, and returns its id. It takes ownership of f.
	Adopt func(f *os.File) (id uint64, err error)
)
