package proc

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/shm"
)

// Shared objects and files cross to the child as themselves wherever they sit in a start
// argument or a Runner target's value: at the top, in struct fields, in slice, array and map
// elements, behind pointers. The parent finds each one (a slot), sends the value encoded with
// the slot zeroed, and sends, beside it, the slot's path and what goes there: the object's Ref,
// or the index of the descriptor that carries the file. The child decodes the value, then
// follows each path and puts the rebuilt object, or its own descriptor of the file, in place.

// A slot is one shared object or file inside a value.
type slot struct {
	Path []step
	Ref  *shm.Ref
	File *int
}

// A step goes one level down a value.
type step struct {
	Op  byte   // stepField, stepIndex, stepKey or stepDeref
	N   int    // the field or element index
	Key []byte // the encoded map key
}

const (
	stepField = 'f' // struct field N
	stepIndex = 'i' // element N of a slice or array
	stepKey   = 'k' // the map value at Key
	stepDeref = '*' // what a pointer points to
)

// maxSteps bounds the paths a value may have; deeper means a cycle, which no codec can send.
const maxSteps = 4 * codec.MaxDepth

// A stripper takes the shared objects and files out of the values of one start spec.
type stripper struct {
	files   []*os.File
	fileIdx map[*os.File]int
	slots   []slot // of the value being stripped
	path    []step
	names   []string // path, for messages: "Inner", ".Q", "[3]"
}

// where names the part of the value being stripped that s.path leads to.
func (s *stripper) where() string {
	if len(s.names) == 0 {
		return ""
	}
	p := strings.TrimPrefix(strings.Join(s.names, ""), ".")
	if p[0] == '[' {
		return "element " + p + ": "
	}
	return "field " + p + ": "
}

func (s *stripper) errorf(format string, args ...any) error {
	return fmt.Errorf("%s%s", s.where(), fmt.Sprintf(format, args...))
}

// value strips v, the whole of one argument, and returns the value to encode and its slots.
func (s *stripper) value(v reflect.Value) (reflect.Value, []slot, error) {
	s.slots, s.path, s.names = nil, nil, nil
	out, _, err := s.strip(v)
	return out, s.slots, err
}

// down strips v, reached from the current value by st (named name in messages).
func (s *stripper) down(v reflect.Value, st step, name string) (reflect.Value, bool, error) {
	if len(s.path) >= maxSteps {
		return v, false, s.errorf("nested more than %d levels deep (a cycle of pointers?), which cannot be sent", maxSteps)
	}
	s.path, s.names = append(s.path, st), append(s.names, name)
	defer func() { s.path, s.names = s.path[:len(s.path)-1], s.names[:len(s.names)-1] }()
	return s.strip(v)
}

// strip returns v unchanged and false when it holds no shared object or file; otherwise a copy
// of v with each of them zeroed (and recorded as a slot), and true. Only the containers on the
// way to a slot are copied; v itself is never modified.
func (s *stripper) strip(v reflect.Value) (reflect.Value, bool, error) {
	t := v.Type()
	if !mayHold(t) {
		return v, false, nil
	}
	switch {
	case t == fileType:
		if v.IsNil() {
			return v, false, nil
		}
		return s.file(v.Interface().(*os.File), t)
	case t.Implements(sharedType) && t.Kind() != reflect.Interface:
		if t.Kind() == reflect.Pointer && v.IsNil() {
			return v, false, nil
		}
		return s.shared(v.Interface().(shm.Shared), t)
	case t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(sharedType):
		return v, false, s.errorf("a %v value is a copy of a shared object's handle, which cannot be sent; use a *%v", t, t)
	}
	switch t.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return v, false, nil
		}
		e := v.Elem()
		if e.Type() == fileType || e.Type().Implements(sharedType) {
			if e.Kind() == reflect.Pointer && e.IsNil() {
				return v, false, nil
			}
			if e.Type() == fileType {
				return s.file(e.Interface().(*os.File), t)
			}
			if e.Type().Implements(attacherType) {
				// Such a type is rebuilt by attaching a zero value of it, which an interface
				// does not name; its kind may not be registered in the child.
				return v, false, s.errorf("a %v in an interface (%v) cannot be rebuilt by the child: give it its concrete type", e.Type(), t)
			}
			return s.shared(e.Interface().(shm.Shared), t)
		}
		if _, changed, err := s.strip(e); err != nil {
			return v, false, err
		} else if changed {
			return v, false, s.errorf("a %v in an interface (%v) holds shared objects or files; the child would decode it as a map and lose them: give it its concrete type", e.Type(), t)
		}
		return v, false, nil
	case reflect.Pointer:
		if v.IsNil() {
			return v, false, nil
		}
		e, changed, err := s.down(v.Elem(), step{Op: stepDeref}, "")
		if err != nil || !changed {
			return v, false, err
		}
		np := reflect.New(t.Elem())
		np.Elem().Set(e)
		return np, true, nil
	case reflect.Struct:
		return s.structFields(v)
	case reflect.Array, reflect.Slice:
		if t.Kind() == reflect.Slice && v.IsNil() {
			return v, false, nil
		}
		return s.stripEach(v, v.Len(), func(x reflect.Value, i int) (reflect.Value, step, string) {
			return x.Index(i), step{Op: stepIndex, N: i}, "[" + strconv.Itoa(i) + "]"
		})
	case reflect.Map:
		return s.mapValues(v)
	}
	return v, false, nil
}

// structFields strips the fields of a struct value.
func (s *stripper) structFields(v reflect.Value) (reflect.Value, bool, error) {
	t := v.Type()
	var fields []int // those to look into
	for i := range t.NumField() {
		f := t.Field(i)
		if codec.LeftBehind(f) || !mayHold(f.Type) {
			continue
		}
		if !f.IsExported() {
			s.names = append(s.names, "."+f.Name)
			err := s.errorf("unexported, so it cannot be sent, and its type (%v) may hold shared objects or files: export it, or tag it `cbor:\"-\"` to leave it behind", f.Type)
			s.names = s.names[:len(s.names)-1]
			return v, false, err
		}
		fields = append(fields, i)
	}
	return s.stripEach(v, len(fields), func(x reflect.Value, k int) (reflect.Value, step, string) {
		i := fields[k]
		return x.Field(i), step{Op: stepField, N: i}, "." + t.Field(i).Name
	})
}

// stripEach strips n parts of v, a struct or an array or slice: part(x, k) returns the k-th part
// of x (v, or the copy of it made when a first part changes), the step to it and its name.
func (s *stripper) stripEach(v reflect.Value, n int, part func(x reflect.Value, k int) (reflect.Value, step, string)) (reflect.Value, bool, error) {
	var cp reflect.Value
	for k := range n {
		pv, st, name := part(v, k)
		e, changed, err := s.down(pv, st, name)
		if err != nil {
			return v, false, err
		}
		if changed {
			if !cp.IsValid() {
				cp = copyOf(v)
			}
			dst, _, _ := part(cp, k)
			dst.Set(e)
		}
	}
	if cp.IsValid() {
		return cp, true, nil
	}
	return v, false, nil
}

// mapValues strips the values of a map; shared objects and files as keys are refused.
func (s *stripper) mapValues(v reflect.Value) (reflect.Value, bool, error) {
	t := v.Type()
	if v.IsNil() {
		return v, false, nil
	}
	var cp reflect.Value
	it := v.MapRange()
	for it.Next() {
		if mayHold(t.Key()) {
			if _, changed, err := s.down(it.Key(), step{}, "[key]"); err != nil {
				return v, false, err
			} else if changed {
				return v, false, s.errorf("a map key holds a shared object or a file, which cannot be sent")
			}
		}
		key, err := codec.Marshal(it.Key().Interface())
		if err != nil {
			return v, false, s.errorf("map key %v: %v", it.Key(), err)
		}
		e, changed, err := s.down(it.Value(), step{Op: stepKey, Key: key}, fmt.Sprintf("[%v]", it.Key()))
		if err != nil {
			return v, false, err
		}
		if changed {
			if !cp.IsValid() {
				cp = copyOf(v)
			}
			cp.SetMapIndex(it.Key(), e)
		}
	}
	if cp.IsValid() {
		return cp, true, nil
	}
	return v, false, nil
}

// shared records a shared object as a slot whose child-side type is t. It rebuilds the object
// here as the child will, so that a Ref the child could not turn into a t (a stale one; a
// BoundedSemaphore's embedded *Semaphore, whose Ref rebuilds a *BoundedSemaphore) fails Start,
// not the child.
func (s *stripper) shared(sh shm.Shared, t reflect.Type) (reflect.Value, bool, error) {
	ref := sh.Ref()
	if ref.IsZero() {
		return reflect.Value{}, false, s.errorf("a %T with a zero Ref, so not made by its package's New or Open function, cannot be sent", sh)
	}
	if _, err := rebuildAs(ref, t); err != nil {
		return reflect.Value{}, false, s.errorf("%v", err)
	}
	s.slots = append(s.slots, slot{Path: s.pathCopy(), Ref: &ref})
	return reflect.Zero(t), true, nil
}

// file records a file, handed over as a descriptor, as a slot whose child-side type is t.
func (s *stripper) file(f *os.File, t reflect.Type) (reflect.Value, bool, error) {
	if !fileType.AssignableTo(t) {
		return reflect.Value{}, false, s.errorf("an *os.File cannot be a %v", t)
	}
	k, ok := s.fileIdx[f]
	if !ok {
		if s.fileIdx == nil {
			s.fileIdx = make(map[*os.File]int)
		}
		k = len(s.files)
		s.files = append(s.files, f)
		s.fileIdx[f] = k
	}
	s.slots = append(s.slots, slot{Path: s.pathCopy(), File: &k})
	return reflect.Zero(t), true, nil
}

func (s *stripper) pathCopy() []step { return append([]step(nil), s.path...) }

// copyOf returns a shallow copy of v (a struct, array, slice or map) that can be modified.
func copyOf(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Slice:
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(cp, v)
		return cp
	case reflect.Map:
		cp := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			cp.SetMapIndex(it.Key(), it.Value())
		}
		return cp
	}
	cp := reflect.New(v.Type()).Elem()
	cp.Set(v)
	return cp
}

var mayHoldCache sync.Map // reflect.Type -> bool

// mayHold reports whether values of t may hold a shared object or an *os.File: so whether
// strip must look into them.
func mayHold(t reflect.Type) bool {
	if b, ok := mayHoldCache.Load(t); ok {
		return b.(bool)
	}
	b := mayHoldIn(t, map[reflect.Type]bool{})
	mayHoldCache.Store(t, b)
	return b
}

func mayHoldIn(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == fileType || t.Implements(sharedType) || reflect.PointerTo(t).Implements(sharedType) {
		return true
	}
	if seen[t] {
		return false // being looked at further up: what it holds is found there
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayHoldIn(t.Elem(), seen)
	case reflect.Map:
		return mayHoldIn(t.Key(), seen) || mayHoldIn(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if mayHoldIn(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// A placer puts the shared objects and files of a spec's slots in place, in the child.
type placer struct {
	sp    *spec
	objs  map[placed]reflect.Value // one object per Ref and type, however often it is sent
	files map[int]*os.File
}

type placed struct {
	ref shm.Ref
	typ reflect.Type
}

// place puts each slot's object or file in v (addressable), along the slot's path.
func (pl *placer) place(v reflect.Value, slots []slot) error {
	for _, sl := range slots {
		if err := pl.at(v, sl.Path, sl); err != nil {
			return err
		}
	}
	return nil
}

func (pl *placer) at(v reflect.Value, path []step, sl slot) error {
	if len(path) == 0 {
		return pl.put(v, sl)
	}
	st := path[0]
	switch {
	case st.Op == stepDeref && v.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return pl.at(v.Elem(), path[1:], sl)
	case st.Op == stepField && v.Kind() == reflect.Struct && st.N >= 0 && st.N < v.NumField() && v.Field(st.N).CanSet():
		return pl.at(v.Field(st.N), path[1:], sl)
	case st.Op == stepIndex && (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) && st.N >= 0 && st.N < v.Len():
		return pl.at(v.Index(st.N), path[1:], sl)
	case st.Op == stepKey && v.Kind() == reflect.Map:
		k := reflect.New(v.Type().Key())
		if err := codec.Unmarshal(st.Key, k.Interface()); err != nil {
			return fmt.Errorf("map key of a shared object: %v", err)
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		e := reflect.New(v.Type().Elem()).Elem()
		if cur := v.MapIndex(k.Elem()); cur.IsValid() {
			e.Set(cur)
		}
		if err := pl.at(e, path[1:], sl); err != nil {
			return err
		}
		v.SetMapIndex(k.Elem(), e)
		return nil
	}
	return fmt.Errorf("a shared object's path does not fit a %v (step %q %d)", v.Type(), st.Op, st.N)
}

// put puts the object or file of sl in v.
func (pl *placer) put(v reflect.Value, sl slot) error {
	switch {
	case sl.Ref != nil:
		key := placed{*sl.Ref, v.Type()}
		obj, ok := pl.objs[key]
		if !ok {
			var err error
			if obj, err = rebuildAs(*sl.Ref, v.Type()); err != nil {
				return err
			}
			if pl.objs == nil {
				pl.objs = make(map[placed]reflect.Value)
			}
			pl.objs[key] = obj
		}
		v.Set(obj)
	case sl.File != nil:
		k := *sl.File
		if k < 0 || k >= maxFiles || !fileType.AssignableTo(v.Type()) {
			return fmt.Errorf("descriptor %d for a %v", k, v.Type())
		}
		f, ok := pl.files[k]
		if !ok {
			fd := fdSegments + len(pl.sp.Segments) + k
			closeOnExec(fd)
			f = os.NewFile(uintptr(fd), "shmkit-arg-"+strconv.Itoa(k))
			if pl.files == nil {
				pl.files = make(map[int]*os.File)
			}
			pl.files[k] = f
		}
		v.Set(reflect.ValueOf(f))
	default:
		return errors.New("a slot with neither a Ref nor a file")
	}
	return nil
}
