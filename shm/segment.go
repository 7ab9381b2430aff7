package shm

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/inherit"
	"github.com/shmkit/shmkit/internal/pids"
)

// Options tune segment creation. A nil *Options means the defaults.
type Options struct {
	// Mode is a named segment's file mode; 0 means 0600 (owner only).
	Mode os.FileMode
	// Sparse skips reserving the pages of a named segment at creation. A sparse segment costs
	// nothing until touched, but on a full /dev/shm a later first touch of a page faults
	// (SIGBUS) instead of creation failing cleanly. Anonymous segments are always sparse.
	Sparse bool
}

// DevShm is the directory in which named segments live, as shm_open(3) places them.
const DevShm = "/dev/shm"

// NameMax is the longest segment name accepted (NAME_MAX).
const NameMax = 255

// A Segment is a shared mapping of a memfd or of a file under /dev/shm, with a shmkit header.
//
// Its methods are safe for concurrent use. The memory it maps is shared with every process that
// maps the same file; all access to shared words goes through sync/atomic. A Segment must be
// closed only when no object inside it is in use any more: Close unmaps the memory.
type Segment struct {
	id     uint64
	name   string // "" for an anonymous segment
	f      *os.File
	mem    []byte // the shared mapping (mapFile), unmapped by the last Close
	owner  bool   // created by this process: Close unlinks a named segment
	raw    bool   // no shmkit header (OpenRaw)
	closed atomic.Bool
	mu     sync.Mutex // serialises Close and guards refs
	refs   int        // handles given out by Create*, Open* and Adopt; the last Close unmaps
	shard  int        // this process's free-list shard in the heap (see heap.go), from its peer slot
}

// table holds this process's open segments by id, so that Refs find them.
var table struct {
	sync.Mutex
	byID map[uint64]*Segment
}

func register(s *Segment) {
	table.Lock()
	defer table.Unlock()
	if table.byID == nil {
		table.byID = make(map[uint64]*Segment)
	}
	if _, dup := table.byID[s.id]; !dup {
		table.byID[s.id] = s
	}
}

func unregister(s *Segment) {
	table.Lock()
	defer table.Unlock()
	if table.byID[s.id] == s {
		delete(table.byID, s.id)
	}
}

// Lookup returns the open segment of this process with the given id, or nil.
func Lookup(id uint64) *Segment {
	table.Lock()
	defer table.Unlock()
	return table.byID[id]
}

func init() {
	inherit.Inheritable = func() []inherit.Segment {
		var out []inherit.Segment
		for _, s := range inheritable() {
			out = append(out, s)
		}
		return out
	}
	inherit.Adopt = func(f *os.File) (uint64, error) {
		s, err := adopt(f)
		if err != nil {
			return 0, err
		}
		adoptDefault(s)
		return s.ID(), nil
	}
}

// inheritable returns this process's open anonymous segments: those a child process must inherit
// as descriptors to resolve Refs into them. Package proc passes them to every child it starts,
// through internal/inherit.
func inheritable() []*Segment {
	table.Lock()
	defer table.Unlock()
	var out []*Segment
	for _, s := range table.byID {
		if s.name == "" && !s.raw && !s.closed.Load() {
			out = append(out, s)
		}
	}
	return out
}

// Create makes an anonymous segment of size bytes (rounded up to 64) backed by a memfd. Its pages
// cost nothing until touched. The segment's size is sealed.
func Create(size int, opts *Options) (*Segment, error) {
	sz, err := checkSize(size)
	if err != nil {
		return nil, err
	}
	f, err := memfd("shmkit", sz)
	if err != nil {
		return nil, err
	}
	return initSegment(f, "", sz, 0)
}

// CreateNamed makes a named segment, the file /dev/shm/name, of size bytes (rounded up to 64). It
// fails if the name exists. Unless opts.Sparse, its pages are reserved now, so a full /dev/shm
// fails here. The creator's Close unlinks the name.
func CreateNamed(name string, size int, opts *Options) (*Segment, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	sz, err := checkSize(size)
	if err != nil {
		return nil, err
	}
	mode := os.FileMode(0o600)
	sparse := false
	if opts != nil {
		if opts.Mode != 0 {
			mode = opts.Mode & os.ModePerm
		}
		sparse = opts.Sparse
	}
	f, err := createFile(name, mode, sz, !sparse)
	if err != nil {
		return nil, err
	}
	s, err := initSegment(f, name, sz, flagNamed)
	if err != nil {
		unlinkName(name)
		return nil, err
	}
	return s, nil
}

// OpenNamed attaches to the named segment /dev/shm/name after validating its header.
func OpenNamed(name string) (*Segment, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	f, err := openFile(name)
	if err != nil {
		return nil, err
	}
	s, err := attach(f, name)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: open %q: %w", name, err)
	}
	return s, nil
}

// OpenRaw maps the named file /dev/shm/name as it is, with no shmkit header: for memory made by
// other programs, such as Python's multiprocessing.shared_memory. Heap and Ref operations are not
// available on it; Bytes gives the whole mapping. Close does not unlink it.
func OpenRaw(name string) (*Segment, error) {
	f, size, err := openSized(name)
	if err != nil {
		return nil, err
	}
	if size <= 0 || size > MaxSize {
		f.Close()
		return nil, fmt.Errorf("shm: open raw %q: %w: %d bytes", name, ErrBadSize, size)
	}
	mem, err := mapFile(f, int(size))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: map %q: %w", name, err)
	}
	return &Segment{name: name, f: f, mem: mem, raw: true, refs: 1}, nil
}

// openSized opens /dev/shm/name (a checked name) and returns the file and its size.
func openSized(name string) (*os.File, int64, error) {
	if err := CheckName(name); err != nil {
		return nil, 0, err
	}
	f, err := openFile(name)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("shm: stat %q: %w", name, err)
	}
	return f, fi.Size(), nil
}

// adopt maps an inherited descriptor of a shmkit segment (package proc hands them to children)
// after validating its header, and registers it so Refs into it resolve. adopt takes ownership of
// f. Adopting a segment this process already has open returns the open one and closes f.
func adopt(f *os.File) (*Segment, error) {
	if f == nil {
		return nil, fmt.Errorf("shm: adopt: nil file")
	}
	s, err := attach(f, "")
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: adopt fd %d: %w", f.Fd(), err)
	}
	return s, nil
}

// attach validates and maps an open file of a shmkit segment.
func attach(f *os.File, name string) (*Segment, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	var first [offHeads]byte
	n, _ := f.ReadAt(first[:], 0)
	if _, err := parseHeader(first[:n], size); err != nil {
		return nil, err
	}
	mem, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("map: %w", err)
	}
	// Parse again from the mapping (a private copy of it), which is what later code will use.
	var h header
	err = guard(func() error {
		copy(first[:], mem[:offHeads])
		h, err = parseHeader(first[:], size)
		return err
	})
	if err != nil {
		unmap(mem)
		return nil, err
	}
	if existing := Lookup(h.id); existing != nil && existing.hold() {
		unmap(mem)
		f.Close()
		return existing, nil
	}
	s := &Segment{id: h.id, name: name, f: f, mem: mem, refs: 1}
	register(s)
	s.recordSelf()
	return s, nil
}

// initSegment maps a new, zero-filled file and writes the header, magic last.
func initSegment(f *os.File, name string, size uint64, flags uint32) (*Segment, error) {
	mem, err := mapFile(f, int(size))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: map: %w", err)
	}
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		unmap(mem)
		f.Close()
		return nil, fmt.Errorf("shm: segment id: %w", err)
	}
	id := binary.LittleEndian.Uint64(idb[:]) | 1 // never 0
	s := &Segment{id: id, name: name, f: f, mem: mem, owner: true, refs: 1}
	atomic.StoreUint32(s.u32(offVersion), Version)
	atomic.StoreUint32(s.u32(offHdrSize), HeaderSize)
	atomic.StoreUint64(s.u64(offSize), size)
	atomic.StoreUint64(s.u64(offID), id)
	atomic.StoreUint32(s.u32(offCreator), uint32(selfPid))
	atomic.StoreUint64(s.u64(offCrStart), pids.SelfStart())
	atomic.StoreUint32(s.u32(offFlags), flags)
	atomic.StoreUint64(s.u64(offBump), HeaderSize)
	atomic.StoreUint64(s.u64(offPeers), peerWord(selfPid, pids.SelfStart()))
	atomic.StoreUint64(s.u64(offShardOwners), peerWord(selfPid, pids.SelfStart())) // shard 0 (s.shard)
	// The magic publishes everything above: a reader that sees it sees the rest (sync/atomic is
	// sequentially consistent, and the kernel keeps one copy of each page for every process).
	atomic.StoreUint64(s.u64(offMagic), magic)
	register(s)
	return s, nil
}

// CheckName reports whether name is acceptable for a named segment: not empty, no '/' or NUL, not
// "." or "..", at most NameMax bytes.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > NameMax:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrBadName, len(name), NameMax)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: %q holds '/' or NUL", ErrBadName, name)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return nil
}

func checkSize(size int) (uint64, error) {
	if size < 0 || uint64(size) > MaxSize {
		return 0, fmt.Errorf("%w: %d bytes (limits %d to %d)", ErrBadSize, size, MinSize, MaxSize)
	}
	sz := (uint64(size) + unit - 1) &^ (unit - 1)
	if sz < MinSize {
		sz = MinSize
	}
	return sz, nil
}

// ID returns the segment's identity, the same in every process that maps it.
func (s *Segment) ID() uint64 { return s.id }

// Name returns a named segment's name, or "" for an anonymous one.
func (s *Segment) Name() string { return s.name }

// Size returns the size of the mapping in bytes.
func (s *Segment) Size() int { return len(s.mem) }

// Bytes returns the whole mapping, header included. Valid until Close.
func (s *Segment) Bytes() []byte { return s.mem }

// File returns the descriptor behind the segment (for passing it to a child). It stays owned by
// the segment and is closed by Close.
func (s *Segment) File() *os.File { return s.f }

// Creator returns the pid of the process that created the segment (0 for a raw segment, or
// when the header can no longer be read).
func (s *Segment) Creator() (pid int) {
	if s.raw || s.closed.Load() {
		return 0
	}
	guard(func() error { pid = int(atomic.LoadUint32(s.u32(offCreator))); return nil })
	return pid
}

// hold counts one more handle on an open segment; false if it is already closed.
func (s *Segment) hold() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false
	}
	s.refs++
	return true
}

// Close gives back one handle on the segment. Opening or adopting a segment that this process
// already has open returns the same *Segment and counts one more handle; the Close of the last
// handle unmaps the segment and closes its descriptor, and, in the process that created a named
// segment, unlinks its name. Every object inside the segment becomes unusable then. Closing more
// often than the segment was opened does nothing.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil
	}
	if s.refs--; s.refs > 0 {
		return nil
	}
	s.closed.Store(true)
	unregister(s)
	var err error
	if s.owner && s.name != "" {
		// Only the file this segment was created as: if the name was unlinked already (by
		// Unlink, CleanStale, an operator or Python's resource tracker) and reused by another
		// program, that program's segment stays.
		_, err = unlinkSame(s.name, s.f)
	}
	if uerr := unmap(s.mem); err == nil {
		err = uerr
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Unlink removes the name of a named segment now, whoever created it, provided the name still
// refers to this segment: a name that is gone, or that was reused by a new segment after this
// one's name was removed, is left alone. Processes that have the segment mapped keep their
// mapping. Unlinking an anonymous segment does nothing.
func (s *Segment) Unlink() error {
	if s.name == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	_, err := unlinkSame(s.name, s.f)
	return err
}

// u32 and u64 return a word of the mapping at a fixed, in-range, aligned offset (our own
// constants or offsets already validated).
func (s *Segment) u32(off uint64) *uint32 { return (*uint32)(unsafe.Pointer(&s.mem[off])) }
func (s *Segment) u64(off uint64) *uint64 { return (*uint64)(unsafe.Pointer(&s.mem[off])) }
