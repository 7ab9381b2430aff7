package pool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/funcs"
	"github.com/shmkit/shmkit/internal/inherit"
	"github.com/shmkit/shmkit/shm"
)

// An entry is a registered task function. Its run function is what a worker executes for one
// item: it decodes the argument bytes, calls the function and appends the encoded result.
type entry struct {
	name  string
	typed bool // registered by Register: one argument in A's codec, result in R's codec
	fn    reflect.Value
	run   func(arg, dst []byte) ([]byte, error)
	// bulk runs a bulk chunk's items (Register of raw types only, see bulk.go); asz and rsz are
	// the sizes of the argument and result.
	bulk     bulkFunc
	asz, rsz int
}

var registry struct {
	sync.RWMutex
	byName map[string]*entry
	byPC   map[uintptr]*entry
}

// Register registers fn as a task function for Map, Imap, ImapUnordered, Apply and their async
// forms, and returns the name it is registered under. fn must be a top-level function (not a
// closure or a method value: what those capture cannot follow them into a worker process). Its
// argument and result travel raw when they are pointer-free fixed-size types (no encoding, no
// allocation per item) and through the project's codec (CBOR with limits) otherwise.
//
// A worker is this same binary, re-executed: register from a package-level variable or an init
// function, so that the worker has fn registered before proc.Main runs:
//
//	var _ = pool.Register(square)
//
// Register panics on a closure, on an argument or result type the codec cannot carry (a channel,
// a function), or on a second registration of the name for another function: all are bugs in the
// program, found the first time it runs.
func Register[A, R any](fn func(A) (R, error)) string {
	v := reflect.ValueOf(fn)
	ac, rc := codec.For[A](), codec.For[R]()
	// A type the codec cannot carry (a channel, a function) fails here, the first time the
	// program runs, rather than at each item in a worker. A worker skips the check: the parent,
	// the same binary, made it before starting it, and a first encoding of a codec type costs
	// tens of µs, at every worker's start.
	if !inherit.Reexecuted {
		if _, err := ac.Append(nil, new(A)); err != nil {
			panic(fmt.Sprintf("pool: Register(%s): its argument type cannot cross processes: %v", funcs.Name(v), err))
		}
		if _, err := rc.Append(nil, new(R)); err != nil {
			panic(fmt.Sprintf("pool: Register(%s): its result type cannot cross processes: %v", funcs.Name(v), err))
		}
	}
	// A worker runs one item at a time, in one goroutine: the argument and the result are decoded
	// and encoded through one value each, allocated once, not once per item.
	a, r := new(A), new(R)
	e := &entry{typed: true, fn: v, run: func(arg, dst []byte) ([]byte, error) {
		if err := ac.Decode(arg, a); err != nil {
			return dst, fmt.Errorf("%w: decode argument: %v", errDecode, err)
		}
		var err error
		if *r, err = fn(*a); err != nil {
			return dst, err
		}
		return encodeResult(rc, dst, r)
	}}
	e.bulk, e.asz, e.rsz = bulkOf(fn)
	return mustRegister(v, e)
}

// encodeResult appends the encoding of *r, an encoding failure marked so that the worker reports
// it as the task's error rather than as the function's.
func encodeResult[R any](rc *codec.Codec[R], dst []byte, r *R) ([]byte, error) {
	out, err := rc.Append(dst, r)
	if err != nil {
		return dst, fmt.Errorf("%w: encode result: %v", errDecode, err)
	}
	return out, nil
}

// RegisterFunc registers a top-level function of any number of parameters for Starmap and
// StarmapAsync (Python's starmap: each item is a list of arguments), and as an Options.Initializer.
// Its results are (R, error), (R), (error) or none; its parameters are anything the codec carries,
// or shmkit shared objects (for an initializer only: a *lock.Lock, a *value.Array, ...). Register
// from a package-level variable, as for Register; RegisterFunc panics where Register does, and on
// a variadic function or one whose parameters cannot cross processes (channels, functions).
func RegisterFunc(fn any) string {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		panic(fmt.Sprintf("pool: RegisterFunc(%T): not a function", fn))
	}
	t := v.Type()
	if err := checkFuncType(t); err != nil {
		panic(fmt.Sprintf("pool: RegisterFunc(%s): %v", funcs.Name(v), err))
	}
	e := &entry{fn: v, run: func(arg, dst []byte) ([]byte, error) {
		in, err := decodeArgs(t, arg)
		if err != nil {
			return dst, err
		}
		return callReflect(v, in, dst)
	}}
	return mustRegister(v, e)
}

func checkFuncType(t reflect.Type) error {
	if t.IsVariadic() {
		return errors.New("variadic functions are not supported")
	}
	for i := range t.NumIn() {
		switch t.In(i).Kind() {
		case reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return fmt.Errorf("parameter %d is a %v, which cannot cross processes", i, t.In(i))
		}
	}
	if rt := resultType(t); rt != nil {
		switch rt.Kind() {
		case reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return fmt.Errorf("its result is a %v, which cannot cross processes", rt)
		}
	}
	switch t.NumOut() {
	case 0:
	case 1:
	case 2:
		if t.Out(1) != errorType {
			return fmt.Errorf("a second result must be an error, not %v", t.Out(1))
		}
	default:
		return fmt.Errorf("at most two results, (R, error); not %v", t)
	}
	return nil
}

var (
	errorType  = reflect.TypeFor[error]()
	sharedType = reflect.TypeFor[shm.Shared]()
	attachType = reflect.TypeFor[shm.Attacher]()
)

// resultType is what Starmap[R] decodes: the first result of fn unless that is the error.
func resultType(t reflect.Type) reflect.Type {
	if t.NumOut() == 0 || (t.NumOut() == 1 && t.Out(0) == errorType) {
		return nil
	}
	return t.Out(0)
}

// callReflect calls v and appends its encoded result (CBOR) to dst.
func callReflect(v reflect.Value, in []reflect.Value, dst []byte) ([]byte, error) {
	out := v.Call(in)
	t := v.Type()
	if n := t.NumOut(); n > 0 && t.Out(n-1) == errorType {
		if err, _ := out[n-1].Interface().(error); err != nil {
			return dst, err
		}
		out = out[:n-1]
	}
	if len(out) == 0 {
		return dst, nil
	}
	b, err := codec.Marshal(out[0].Interface())
	if err != nil {
		return dst, fmt.Errorf("%w: encode result: %v", errDecode, err)
	}
	return append(dst, b...), nil
}

// Argument lists (Starmap items, initializer arguments) are framed: for each argument a tag byte
// (0 encoded value, 1 shared object's Ref), a little-endian uint32 length, then the bytes.
const (
	argValue  = 0
	argShared = 1
)

// encodeArgs encodes args for a call of fn's type t, checking their number and types here, in
// the caller, so that a mistake is an error at the call and never in a worker.
func encodeArgs(t reflect.Type, args []any, allowShared bool) ([]byte, error) {
	if len(args) != t.NumIn() {
		return nil, fmt.Errorf("%w: %d arguments for %v", ErrBadArgs, len(args), t)
	}
	var out []byte
	for i, a := range args {
		pt := t.In(i)
		tag, v := byte(argValue), any(a)
		if s, ok := a.(shm.Shared); ok && pt.Implements(sharedType) {
			if !allowShared {
				return nil, fmt.Errorf("%w: argument %d is a shared object, which a task argument cannot be; pass it to the initializer", ErrBadArgs, i)
			}
			tag, v = argShared, s.Ref()
		} else if a == nil {
			switch pt.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			default:
				return nil, fmt.Errorf("%w: argument %d is nil for a %v", ErrBadArgs, i, pt)
			}
		} else if at := reflect.TypeOf(a); !at.AssignableTo(pt) && !(numeric(at) && numeric(pt)) {
			return nil, fmt.Errorf("%w: argument %d is a %v, the parameter a %v", ErrBadArgs, i, at, pt)
		}
		b, err := codec.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: argument %d: %v", ErrBadArgs, i, err)
		}
		out = append(out, tag)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(b)))
		out = append(out, b...)
	}
	return out, nil
}

// decodeArgs rebuilds the arguments encodeArgs framed; b comes from another process and is
// validated, never trusted.
func decodeArgs(t reflect.Type, b []byte) ([]reflect.Value, error) {
	in := make([]reflect.Value, t.NumIn())
	for i := range in {
		if len(b) < 5 {
			return nil, fmt.Errorf("%w: argument %d truncated", errDecode, i)
		}
		tag, n := b[0], binary.LittleEndian.Uint32(b[1:5])
		b = b[5:]
		if uint64(n) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: argument %d: %d bytes, %d left", errDecode, i, n, len(b))
		}
		data := b[:n]
		b = b[n:]
		pt := t.In(i)
		switch tag {
		case argValue:
			pv := reflect.New(pt)
			if err := codec.Unmarshal(data, pv.Interface()); err != nil {
				return nil, fmt.Errorf("%w: argument %d: %v", errDecode, i, err)
			}
			in[i] = pv.Elem()
		case argShared:
			v, err := rebuildShared(data, pt)
			if err != nil {
				return nil, fmt.Errorf("%w: argument %d: %v", errDecode, i, err)
			}
			in[i] = v
		default:
			return nil, fmt.Errorf("%w: argument %d has tag %d", errDecode, i, tag)
		}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the arguments", errDecode, len(b))
	}
	return in, nil
}

// rebuildShared rebuilds a shared object from its encoded Ref as a value of type pt, as proc
// does for a child's parameters.
func rebuildShared(data []byte, pt reflect.Type) (reflect.Value, error) {
	var ref shm.Ref
	if err := codec.Unmarshal(data, &ref); err != nil {
		return reflect.Value{}, err
	}
	if pt.Kind() == reflect.Pointer && pt.Implements(attachType) {
		v := reflect.New(pt.Elem())
		if err := v.Interface().(shm.Attacher).AttachRef(ref); err != nil {
			return reflect.Value{}, err
		}
		return v, nil
	}
	obj, err := shm.Rebuild(ref)
	if err != nil {
		return reflect.Value{}, err
	}
	v := reflect.ValueOf(obj)
	if !v.IsValid() || !v.Type().AssignableTo(pt) {
		return reflect.Value{}, fmt.Errorf("a %v cannot be passed as a %v", reflect.TypeOf(obj), pt)
	}
	return v, nil
}

func numeric(t reflect.Type) bool {
	k := t.Kind()
	return k >= reflect.Int && k <= reflect.Float64
}

func mustRegister(v reflect.Value, e *entry) string {
	name := funcs.Name(v)
	if funcs.IsClosure(name) {
		panic(fmt.Sprintf("pool: Register(%s): closures and method values cannot run in another process; register a top-level function", name))
	}
	e.name = name
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName = make(map[string]*entry)
		registry.byPC = make(map[uintptr]*entry)
	}
	if old, dup := registry.byName[name]; dup {
		if old.fn.Pointer() == v.Pointer() && old.typed == e.typed {
			return name
		}
		panic(fmt.Sprintf("pool: %s is registered twice, differently (Register and RegisterFunc?)", name))
	}
	registry.byName[name] = e
	registry.byPC[v.Pointer()] = e
	return name
}

// lookup finds the entry of a function value given to a call; typed says which registration the
// call needs.
func lookup(fn any, typed bool) (*entry, error) {
	v := reflect.ValueOf(fn)
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("%w: %T is not a function", ErrNotRegistered, fn)
	}
	registry.RLock()
	e := registry.byPC[v.Pointer()] // registered: never a closure (mustRegister refuses those)
	registry.RUnlock()
	if e != nil && e.typed == typed {
		return e, nil
	}
	name := funcs.Name(v)
	if e == nil && funcs.IsClosure(name) {
		return nil, fmt.Errorf("%w: %s is a closure or method value, which cannot run in a worker process; use a registered top-level function", ErrNotRegistered, name)
	}
	switch {
	case e == nil && typed:
		return nil, fmt.Errorf("%w: %s; call pool.Register(%s) from a package-level var", ErrNotRegistered, name, funcs.Short(name))
	case e == nil:
		return nil, fmt.Errorf("%w: %s; call pool.RegisterFunc(%s) from a package-level var", ErrNotRegistered, name, funcs.Short(name))
	case typed:
		return nil, fmt.Errorf("%w: %s was registered with RegisterFunc; Map, Imap and Apply need pool.Register", ErrNotRegistered, name)
	}
	return nil, fmt.Errorf("%w: %s was registered with Register; Starmap and initializers need pool.RegisterFunc", ErrNotRegistered, name)
}

func lookupName(name string) *entry {
	registry.RLock()
	defer registry.RUnlock()
	return registry.byName[name]
}
