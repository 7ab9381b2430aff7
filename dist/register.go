package dist

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/funcs"
	"github.com/shmkit/shmkit/pool"
)

// A runner is a registered function as a worker runs it: arguments and result as bytes. It
// is safe for concurrent use: a worker runs several tasks at once.
type runner struct {
	name  string
	typed bool
	fn    reflect.Value
	run   func(arg, dst []byte) ([]byte, error)
}

var registry struct {
	sync.RWMutex
	byName map[string]*runner
	byPC   map[uintptr]*runner
}

// Register registers fn for the calls of a distributed Pool (Map, Imap, Apply and their async
// forms) and, through pool.Register, for those of a local one; it returns the name, the same
// on every machine running the same program. As for pool.Register, fn must be a top-level
// function registered from a package-level variable, so that every worker process has it:
//
//	var _ = dist.Register(square)
//
// A worker that does not have a task's function (another program, another version) reports
// it to the submitter as an error matching pool.ErrNotRegistered; the task is not retried.
// Register panics where pool.Register does.
func Register[A, R any](fn func(A) (R, error)) string {
	name := pool.Register(fn)
	ac, rc := codec.For[A](), codec.For[R]()
	return keep(&runner{name: name, typed: true, fn: reflect.ValueOf(fn), run: func(arg, dst []byte) ([]byte, error) {
		var a A
		if err := ac.Decode(arg, &a); err != nil {
			return dst, fmt.Errorf("decode argument: %v", err)
		}
		r, err := fn(a)
		if err != nil {
			return dst, err
		}
		out, err := rc.Append(dst, &r)
		if err != nil {
			return dst, fmt.Errorf("encode result: %v", err)
		}
		return out, nil
	}})
}

// RegisterFunc registers a top-level function of any number of parameters for Starmap and
// StarmapAsync of a distributed Pool and, through pool.RegisterFunc, of a local one. Its
// parameters and its result cross machines through the codec: shared objects (a lock, a
// value) cannot. RegisterFunc panics where pool.RegisterFunc does.
func RegisterFunc(fn any) string {
	name := pool.RegisterFunc(fn)
	v := reflect.ValueOf(fn)
	t := v.Type()
	return keep(&runner{name: name, fn: v, run: func(arg, dst []byte) ([]byte, error) {
		in, err := decodeArgs(t, arg)
		if err != nil {
			return dst, err
		}
		out := v.Call(in)
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
			return dst, fmt.Errorf("encode result: %v", err)
		}
		return append(dst, b...), nil
	}})
}

var errorType = reflect.TypeFor[error]()

func keep(r *runner) string {
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName = make(map[string]*runner)
		registry.byPC = make(map[uintptr]*runner)
	}
	registry.byName[r.name] = r // pool's registration refused a clash already
	registry.byPC[r.fn.Pointer()] = r
	return r.name
}

// lookup finds fn's registration for a call; typed: by Register.
func lookup(fn any, typed bool) (*runner, error) {
	v := reflect.ValueOf(fn)
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("%w: %T is not a function", pool.ErrNotRegistered, fn)
	}
	registry.RLock()
	r := registry.byPC[v.Pointer()]
	registry.RUnlock()
	switch {
	case r == nil && typed:
		return nil, fmt.Errorf("%w: %s; call dist.Register(%s) from a package-level var", pool.ErrNotRegistered, funcs.Name(v), funcs.Short(funcs.Name(v)))
	case r == nil:
		return nil, fmt.Errorf("%w: %s; call dist.RegisterFunc(%s) from a package-level var", pool.ErrNotRegistered, funcs.Name(v), funcs.Short(funcs.Name(v)))
	case r.typed != typed:
		return nil, fmt.Errorf("%w: %s was registered the other way (Register for Map/Imap/Apply, RegisterFunc for Starmap)", pool.ErrNotRegistered, r.name)
	}
	return r, nil
}

func lookupName(name string) *runner {
	registry.RLock()
	defer registry.RUnlock()
	return registry.byName[name]
}

// encodeArgs frames a Starmap item's arguments, checked against fn's type t at the call: for
// each a little-endian uint32 length and its CBOR.
func encodeArgs(t reflect.Type, args []any) ([]byte, error) {
	if len(args) != t.NumIn() {
		return nil, fmt.Errorf("%w: %d arguments for %v", ErrBadArgs, len(args), t)
	}
	var out []byte
	for i, a := range args {
		pt := t.In(i)
		if a != nil {
			if at := reflect.TypeOf(a); !at.AssignableTo(pt) && !(numeric(at) && numeric(pt)) {
				return nil, fmt.Errorf("%w: argument %d is a %v, the parameter a %v", ErrBadArgs, i, at, pt)
			}
		}
		b, err := codec.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("%w: argument %d: %v", ErrBadArgs, i, err)
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(len(b)))
		out = append(out, b...)
	}
	return out, nil
}

func numeric(t reflect.Type) bool {
	k := t.Kind()
	return k >= reflect.Int && k <= reflect.Float64
}

// decodeArgs rebuilds what encodeArgs framed; b comes from the network and is not trusted.
func decodeArgs(t reflect.Type, b []byte) ([]reflect.Value, error) {
	parts, err := splitItems(b, t.NumIn())
	if err != nil {
		return nil, fmt.Errorf("decode arguments: %v", err)
	}
	in := make([]reflect.Value, len(parts))
	for i, part := range parts {
		pv := reflect.New(t.In(i))
		if err := codec.Unmarshal(part, pv.Interface()); err != nil {
			return nil, fmt.Errorf("decode argument %d: %v", i, err)
		}
		in[i] = pv.Elem()
	}
	return in, nil
}

// Item outcomes in a result message.
const (
	itemOK    = 0
	itemErr   = 1
	itemPanic = 2
)

// runItem runs one item, a panic included, and appends its framed outcome to dst: a kind
// byte, a little-endian uint32 length, the bytes (for a panic: uint32 length, message, stack).
func runItem(r *runner, arg, dst []byte) (out []byte) {
	at := len(dst)
	dst = append(dst, itemOK, 0, 0, 0, 0)
	defer func() {
		if p := recover(); p != nil {
			msg := fmt.Sprint(p)
			out = append(dst[:at], itemPanic, 0, 0, 0, 0)
			out = binary.LittleEndian.AppendUint32(out, uint32(len(msg)))
			out = append(out, msg...)
			out = append(out, debug.Stack()...)
			binary.LittleEndian.PutUint32(out[at+1:], uint32(len(out)-at-5))
		}
	}()
	res, err := r.run(arg, dst)
	if err != nil {
		res = append(dst[:at], itemErr, 0, 0, 0, 0)
		res = append(res, err.Error()...)
	}
	binary.LittleEndian.PutUint32(res[at+1:], uint32(len(res)-at-5))
	return res
}

// parseItems splits a result message into its n items' outcomes: the result bytes, or the
// item's error (a *pool.TaskError). b comes from the network and is not trusted.
func parseItems(b []byte, n, index int, worker string) ([][]byte, []error, error) {
	res, errs := make([][]byte, n), make([]error, n)
	for i := range n {
		if len(b) < 5 {
			return nil, nil, fmt.Errorf("%w: result of %d items truncated at %d", ErrCorrupt, n, i)
		}
		kind, l := b[0], binary.LittleEndian.Uint32(b[1:5])
		b = b[5:]
		if uint64(l) > uint64(len(b)) {
			return nil, nil, fmt.Errorf("%w: item %d of %d bytes, %d left", ErrCorrupt, i, l, len(b))
		}
		body := b[:l]
		b = b[l:]
		switch kind {
		case itemOK:
			res[i] = body
		case itemErr:
			errs[i] = &pool.TaskError{Index: index + i, Message: string(body) + " (worker " + worker + ")"}
		case itemPanic:
			if len(body) < 4 || uint64(binary.LittleEndian.Uint32(body)) > uint64(len(body)-4) {
				return nil, nil, fmt.Errorf("%w: panic message of item %d", ErrCorrupt, i)
			}
			m := binary.LittleEndian.Uint32(body)
			errs[i] = &pool.TaskError{Index: index + i, Panic: true, Message: string(body[4:4+m]) + " (worker " + worker + ")", Stack: string(body[4+m:])}
		default:
			return nil, nil, fmt.Errorf("%w: item %d of kind %d", ErrCorrupt, i, kind)
		}
	}
	if len(b) != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes after %d items", ErrCorrupt, len(b), n)
	}
	return res, errs, nil
}
