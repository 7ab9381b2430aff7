package shm

import (
	"fmt"
	"hash/fnv"
	"sync"
)

// A Kind names a type of shared object ("lock.Lock", "ring.Queue"). It is stored in each heap
// block, so a Ref of the wrong kind is refused instead of reinterpreting memory.
type Kind uint32

// A Ref is what crosses process boundaries in place of a shared object: which segment, where in
// it, and what kind of object lives there. It is plain data (encode it with any codec); it is
// meaningful in any process that maps the segment: one that inherited it (anonymous segments, see
// package proc) or can open it by name.
type Ref struct {
	Seg  uint64 // the segment's id
	Name string // a named segment's name, "" for an anonymous one
	Off  uint64 // the object's payload offset in the segment
	Kind Kind   // the kind of object
	Gen  uint32 // the block's allocation generation: a Ref outliving a Free is refused
}

// IsZero reports whether r is the zero Ref, which names nothing.
func (r Ref) IsZero() bool { return r == Ref{} }

// String describes the Ref for messages: kind, segment (name, or memfd and id) and offset.
func (r Ref) String() string {
	seg := r.Name
	if seg == "" {
		seg = fmt.Sprintf("memfd:%016x", r.Seg)
	}
	return fmt.Sprintf("%v@%s+%#x", r.Kind, seg, r.Off)
}

// Shared is implemented by every shmkit object that lives in shared memory: it gives the Ref by
// which another process rebuilds it. Package proc passes such values to children as Refs.
type Shared interface {
	Ref() Ref
}

// Attacher is implemented by shared types whose Go type says more than their kind, generic ones
// above all (a Value[Point] and a Value[int] are rebuilt differently). Package proc rebuilds a
// child's parameter of such a type by calling AttachRef on a new zero value of it, as
// encoding/json calls UnmarshalJSON; so such types need no registration beyond their package's.
// AttachRef must validate ref (kind, layout) as the type's Open function does.
type Attacher interface {
	Shared
	AttachRef(Ref) error
}

type kindEntry struct {
	name    string
	rebuild func(Ref) (any, error)
}

var kinds struct {
	sync.RWMutex
	m map[Kind]kindEntry
}

// RegisterKind registers a kind of shared object under a unique name, with the function that
// rebuilds such an object from a Ref in any process, and returns its Kind. Call it from a package
// variable initialiser, so that it has run in a child before the child decodes its arguments.
// Registering one name twice, or two names with the same hash, panics: a program bug.
func RegisterKind(name string, rebuild func(Ref) (any, error)) Kind {
	if name == "" || rebuild == nil {
		panic("shm: RegisterKind needs a name and a rebuild function")
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	k := Kind(h.Sum32())
	kinds.Lock()
	defer kinds.Unlock()
	if kinds.m == nil {
		kinds.m = make(map[Kind]kindEntry)
	}
	if e, dup := kinds.m[k]; dup {
		panic(fmt.Sprintf("shm: kind %q registered twice (or its hash collides with %q)", name, e.name))
	}
	kinds.m[k] = kindEntry{name: name, rebuild: rebuild}
	return k
}

// String returns the registered name of the kind, or its number.
func (k Kind) String() string {
	kinds.RLock()
	e, ok := kinds.m[k]
	kinds.RUnlock()
	if ok {
		return e.name
	}
	return fmt.Sprintf("kind(%#x)", uint32(k))
}

// Rebuild returns the object that ref names, built by its kind's registered function: for
// example a *lock.Lock for a Ref of kind "lock.Lock".
func Rebuild(ref Ref) (any, error) {
	kinds.RLock()
	e, ok := kinds.m[ref.Kind]
	kinds.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %v is not a registered kind", ErrBadRef, ref.Kind)
	}
	return e.rebuild(ref)
}

// Resolve finds the segment ref points into, opening a named segment if this process has not yet,
// and returns it with the object's payload, validated as a live block of the given kind.
func Resolve(ref Ref, want Kind) (*Segment, []byte, error) {
	if ref.Kind != want {
		return nil, nil, fmt.Errorf("%w: %v is not a %v", ErrBadRef, ref.Kind, want)
	}
	s := Lookup(ref.Seg)
	if s == nil {
		if ref.Name == "" {
			return nil, nil, fmt.Errorf("%w: anonymous segment %#x is not mapped in this process (was it inherited?)", ErrBadRef, ref.Seg)
		}
		var err error
		s, err = openShared(ref.Name)
		if err != nil {
			return nil, nil, err
		}
		if s.id != ref.Seg {
			return nil, nil, fmt.Errorf("%w: segment %q has id %#x, the ref wants %#x (re-created?)", ErrBadRef, ref.Name, s.id, ref.Seg)
		}
	}
	b, err := s.Object(ref)
	if err != nil {
		return nil, nil, err
	}
	return s, b, nil
}

// openShared opens a named segment once per process for Refs that name it; it stays open for the
// life of the process, as the objects rebuilt from it refer into it.
func openShared(name string) (*Segment, error) {
	named.Lock()
	defer named.Unlock()
	if s := named.m[name]; s != nil && !s.closed.Load() {
		return s, nil
	}
	s, err := OpenNamed(name)
	if err != nil {
		return nil, err
	}
	if named.m == nil {
		named.m = make(map[string]*Segment)
	}
	named.m[name] = s
	return s, nil
}

var named struct {
	sync.Mutex
	m map[string]*Segment
}
