package proc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/shmkit/shmkit/shm"
)

// The start spec crosses to the child in a binary form of its own rather than through the codec:
// the codec's first decode of a struct type in a process builds that type's description by
// reflection, and a new child decoded four of them (spec, arg, slot, step), about 80 µs of every
// start on the 2-vCPU VM of docs/benchmarks.md; this decoder takes a few µs. Both ends are the same
// binary, but the child still checks every length and count against what is left of the message
// (the parent may have died mid-write, or the descriptor may not be what it seems), never
// allocates more than the message could hold, and refuses rather than panics (FuzzSpecWire).
//
// The form: specMagic, then the fields in the order of the spec struct. Integers are varints
// (zigzag for signed ones), strings and byte slices a uvarint length and the bytes, a bool or a
// present/absent mark one byte, a list a uvarint count and its elements.
const specMagic = 0x53 // 'S', for this version of the form

// errSpec marks a spec the child could not decode.
var errSpec = errors.New("malformed start spec")

// encode marshals sp, refusing a spec longer than a child accepts.
func (sp *spec) encode() ([]byte, error) {
	b := sp.marshal()
	if len(b) > maxSpec {
		return nil, fmt.Errorf("%w: the start arguments encode to %d bytes, more than the %d a child accepts", ErrBadArgs, len(b), maxSpec)
	}
	return b, nil
}

func (sp *spec) marshal() []byte {
	b := []byte{specMagic}
	b = putString(b, sp.Target)
	b = putString(b, sp.Name)
	b = putBool(b, sp.Daemon)
	b = putString(b, sp.Ident)
	b = binary.AppendVarint(b, int64(sp.Parent))
	b = putString(b, sp.PName)
	b = putBytes(b, sp.Self)
	b = putSlots(b, sp.SelfSlots)
	b = binary.AppendUvarint(b, uint64(len(sp.Args)))
	for _, a := range sp.Args {
		b = putBytes(b, a.Data)
		b = putSlots(b, a.Slots)
	}
	b = binary.AppendUvarint(b, uint64(len(sp.Segments)))
	for _, id := range sp.Segments {
		b = binary.LittleEndian.AppendUint64(b, id)
	}
	b = putBool(b, sp.LogLevel != nil)
	if sp.LogLevel != nil {
		b = binary.AppendVarint(b, int64(*sp.LogLevel))
	}
	return b
}

func putBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func putString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// putBytes keeps nil apart from empty, as the codec did: an argument with no data (a nil
// pointer) is not decoded at all.
func putBytes(b []byte, v []byte) []byte {
	if v == nil {
		return append(b, 0)
	}
	return append(binary.AppendUvarint(append(b, 1), uint64(len(v))), v...)
}

func putSlots(b []byte, slots []slot) []byte {
	b = binary.AppendUvarint(b, uint64(len(slots)))
	for _, s := range slots {
		b = binary.AppendUvarint(b, uint64(len(s.Path)))
		for _, st := range s.Path {
			b = append(b, st.Op)
			b = binary.AppendVarint(b, int64(st.N))
			b = putBytes(b, st.Key)
		}
		b = putBool(b, s.Ref != nil)
		if r := s.Ref; r != nil {
			b = binary.LittleEndian.AppendUint64(b, r.Seg)
			b = putString(b, r.Name)
			b = binary.LittleEndian.AppendUint64(b, r.Off)
			b = binary.AppendUvarint(b, uint64(r.Kind))
			b = binary.AppendUvarint(b, uint64(r.Gen))
		}
		b = putBool(b, s.File != nil)
		if s.File != nil {
			b = binary.AppendVarint(b, int64(*s.File))
		}
	}
	return b
}

// unmarshalSpec decodes what marshal made; any other input is an error wrapping errSpec.
func unmarshalSpec(b []byte) (*spec, error) {
	if len(b) == 0 || b[0] != specMagic {
		return nil, fmt.Errorf("%w: no spec mark", errSpec)
	}
	r := &specReader{b: b[1:]}
	sp := &spec{}
	sp.Target = r.string()
	sp.Name = r.string()
	sp.Daemon = r.bool()
	sp.Ident = r.string()
	sp.Parent = r.int()
	sp.PName = r.string()
	sp.Self = r.bytes()
	sp.SelfSlots = r.slots()
	if n := r.count(2); n > 0 {
		sp.Args = make([]arg, n)
		for i := range sp.Args {
			sp.Args[i] = arg{Data: r.bytes(), Slots: r.slots()}
		}
	}
	if n := r.count(8); n > 0 {
		sp.Segments = make([]uint64, n)
		for i := range sp.Segments {
			sp.Segments[i] = r.u64()
		}
	}
	if r.bool() {
		v := r.int()
		sp.LogLevel = &v
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the end", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return sp, nil
}

// A specReader reads the binary spec; the first failure sticks, and every read after it returns
// a zero value.
type specReader struct {
	b   []byte
	err error
}

func (r *specReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errSpec, fmt.Sprintf(format, args...))
	}
	r.b = nil
}

func (r *specReader) byte() byte {
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *specReader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("a mark is neither 0 nor 1")
	return false
}

func (r *specReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// int reads a signed varint that must fit an int.
func (r *specReader) int() int {
	v, n := binary.Varint(r.b)
	if n <= 0 || v < math.MinInt || v > math.MaxInt {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

// count reads a list length whose elements take at least min bytes each: a count the rest of
// the message cannot hold is refused before anything is allocated for it.
func (r *specReader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.fail("a count of %d with %d bytes left", n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *specReader) take(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.fail("a length of %d with %d bytes left", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *specReader) string() string { return string(r.take(r.uvarint())) }

func (r *specReader) bytes() []byte {
	if !r.bool() {
		return nil
	}
	v := r.take(r.uvarint())
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}

func (r *specReader) u64() uint64 {
	v := r.take(8)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(v)
}

func (r *specReader) slots() []slot {
	n := r.count(3) // a path count and two marks
	if n == 0 {
		return nil
	}
	slots := make([]slot, n)
	for i := range slots {
		s := &slots[i]
		if np := r.count(3); np > 0 { // an op, a varint and a mark
			if np > maxSteps {
				r.fail("a path of %d steps", np)
				return nil
			}
			s.Path = make([]step, np)
			for j := range s.Path {
				s.Path[j] = step{Op: r.byte(), N: r.int(), Key: r.bytes()}
			}
		}
		if r.bool() {
			s.Ref = &shm.Ref{Seg: r.u64(), Name: r.string(), Off: r.u64()}
			kind, gen := r.uvarint(), r.uvarint()
			if kind > math.MaxUint32 || gen > math.MaxUint32 {
				r.fail("a kind or generation beyond 32 bits")
				return nil
			}
			s.Ref.Kind, s.Ref.Gen = shm.Kind(kind), uint32(gen)
		}
		if r.bool() {
			f := r.int()
			s.File = &f
		}
	}
	return slots
}
