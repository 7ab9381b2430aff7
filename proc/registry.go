package proc

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/shmkit/shmkit/internal/funcs"
)

// A target is what a child process runs: a registered top-level function, or a registered type
// with a Run method (Python's Process subclass overriding run()).
type target struct {
	name string
	fn   reflect.Value // a function target
	typ  reflect.Type  // a Runner target: the struct (not pointer) type
}

var registry struct {
	sync.RWMutex
	byName map[string]*target
	byPC   map[uintptr]*target
	byType map[reflect.Type]*target
}

var errorType = reflect.TypeFor[error]()

// Register registers target so that it can run in a child process, and returns the name under
// which it is registered. target is either
//
//   - a top-level function (not a closure or method value), with any parameters whose values the
//     codec can carry or that are shmkit shared objects, and no result or a single error; or
//   - a value of a type with a Run() or Run() error method on it or on its pointer, whose fields
//     are sent to the child (Python's Process subclass with run()): shared objects and files in
//     them as themselves, the rest encoded; see the package documentation.
//
// A child is this same binary, re-executed: it must have registered the same targets before it
// calls Main. So register from a package-level variable or an init function:
//
//	var _ = proc.Register(worker)
//
// Register panics on a target it cannot accept, or on a second registration of one name under a
// different target: both are bugs in the program, found the first time it runs.
func Register(target any) string {
	name, err := register("", target)
	if err != nil {
		panic(err)
	}
	return name
}

// RegisterName registers target under an explicit name; see Register.
func RegisterName(name string, target any) {
	if name == "" {
		panic("proc: RegisterName with an empty name")
	}
	if _, err := register(name, target); err != nil {
		panic(err)
	}
}

func register(name string, tg any) (string, error) {
	if tg == nil {
		return "", fmt.Errorf("proc: Register(nil)")
	}
	v := reflect.ValueOf(tg)
	t := &target{}
	var pc uintptr
	switch {
	case v.Kind() == reflect.Func:
		if v.IsNil() {
			return "", fmt.Errorf("proc: Register of a nil function")
		}
		pc = v.Pointer()
		fname := funcs.Name(v)
		if funcs.IsClosure(fname) {
			return "", fmt.Errorf("proc: Register(%s): closures and method values cannot run in another process; register a top-level function", fname)
		}
		if err := checkSignature(v.Type()); err != nil {
			return "", fmt.Errorf("proc: Register(%s): %w", fname, err)
		}
		if name == "" {
			name = fname
		}
		t.fn = v
	default:
		rt := v.Type()
		if rt.Kind() == reflect.Pointer {
			rt = rt.Elem()
		}
		if _, ok := runMethod(reflect.New(rt)); !ok {
			return "", fmt.Errorf("proc: Register(%v): not a function and no Run() or Run() error method", v.Type())
		}
		if name == "" {
			name = rt.PkgPath() + "." + rt.Name()
		}
		t.typ = rt
	}
	t.name = name
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName = make(map[string]*target)
		registry.byPC = make(map[uintptr]*target)
		registry.byType = make(map[reflect.Type]*target)
	}
	if old, dup := registry.byName[name]; dup {
		if (t.typ != nil && old.typ == t.typ) || (t.typ == nil && old.typ == nil && old.fn.Pointer() == pc) {
			return name, nil // the same target again: harmless
		}
		return "", fmt.Errorf("proc: %q is registered twice, for different targets", name)
	}
	registry.byName[name] = t
	if t.typ != nil {
		registry.byType[t.typ] = t
	} else if _, seen := registry.byPC[pc]; !seen {
		registry.byPC[pc] = t
	}
	return name, nil
}

// lookupTarget finds the registered target for a value given to New.
func lookupTarget(tg any) (*target, error) {
	if tg == nil {
		return nil, fmt.Errorf("%w: nil target", ErrNotRegistered)
	}
	v := reflect.ValueOf(tg)
	registry.RLock()
	defer registry.RUnlock()
	if v.Kind() == reflect.Func {
		if v.IsNil() {
			return nil, fmt.Errorf("%w: nil function", ErrNotRegistered)
		}
		fname := funcs.Name(v)
		if funcs.IsClosure(fname) {
			return nil, fmt.Errorf("%w: %s is a closure or method value, which cannot run in another process; use a registered top-level function", ErrNotRegistered, fname)
		}
		if t := registry.byPC[v.Pointer()]; t != nil {
			return t, nil
		}
		return nil, fmt.Errorf("%w: function %s; call proc.Register(%s) from a package-level var or init", ErrNotRegistered, fname, funcs.Short(fname))
	}
	rt := v.Type()
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	if t := registry.byType[rt]; t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("%w: type %v; call proc.Register(%v{}) from a package-level var or init", ErrNotRegistered, rt, rt)
}

func lookupName(name string) *target {
	registry.RLock()
	defer registry.RUnlock()
	return registry.byName[name]
}

// checkSignature accepts functions returning nothing or one error, with no variadic, channel or
// function parameters.
func checkSignature(ft reflect.Type) error {
	if ft.IsVariadic() {
		return fmt.Errorf("variadic functions are not supported as targets: %w", errors.ErrUnsupported)
	}
	switch {
	case ft.NumOut() == 0:
	case ft.NumOut() == 1 && ft.Out(0) == errorType:
	default:
		return fmt.Errorf("a target returns nothing or a single error, not %v", ft)
	}
	for i := range ft.NumIn() {
		switch ft.In(i).Kind() {
		case reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return fmt.Errorf("parameter %d is a %v, which cannot cross processes: %w", i, ft.In(i), errors.ErrUnsupported)
		}
	}
	return nil
}

// runMethod returns the Run method of ptr (a pointer value), as func() error.
func runMethod(ptr reflect.Value) (func() error, bool) {
	m := ptr.MethodByName("Run")
	if !m.IsValid() || m.Type().NumIn() != 0 {
		return nil, false
	}
	switch {
	case m.Type().NumOut() == 0:
		return func() error { m.Call(nil); return nil }, true
	case m.Type().NumOut() == 1 && m.Type().Out(0) == errorType:
		return func() error {
			if out := m.Call(nil)[0]; !out.IsNil() {
				return out.Interface().(error)
			}
			return nil
		}, true
	}
	return nil, false
}
