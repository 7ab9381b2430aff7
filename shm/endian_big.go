//go:build armbe || arm64be || m68k || mips || mips64 || mips64p32 || ppc || ppc64 || s390 || s390x || shbe || sparc || sparc64

package shm

// Every shared header and word of shmkit is little-endian by specification (Python and NumPy
// peers read the same bytes with "<" formats), while the code reads and writes words in the
// host's order through sync/atomic. On a big-endian target the two would disagree, so the build
// stops here instead of producing segments that no peer can read.
const _ = shmkitSupportsLittleEndianTargetsOnly
