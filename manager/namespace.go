package manager

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/shm"
)

// A Namespace is a set of named attributes of any type the codec can encode, in shared memory:
// Python's Manager().Namespace(). It is a Dict[string, any] underneath, with its guarantees
// (lock-free reads, atomic writes, kill safety), and reaches child processes as a start argument.
//
// Python's rule that mutating a value held in a namespace (ns.lst.append(4)) does not change the
// namespace until the value is assigned again (ns.lst = lst) holds here by construction, and
// without the surprise: Get returns a decoded copy, so changing it changes nothing shared, and Set
// stores a new copy. To share a structure that several processes mutate in place, store a shared
// object's Ref instead (a *Dict, *List, a lock.Lock...: ns.Set("d", d.Ref()), then OpenDict on
// what Get returns, decoded with Load[shm.Ref]): every process then works on the same memory,
// which Python's Manager cannot do for nested values.
type Namespace struct {
	d *Dict[string, any]
}

// NewNamespace allocates an empty Namespace in the process's default heap, or in the heap In names.
func NewNamespace(options ...Option) (*Namespace, error) {
	d, err := NewDict[string, any](options...)
	if err != nil {
		return nil, err
	}
	return &Namespace{d: d}, nil
}

// OpenNamespace returns a handle on the Namespace that ref names.
func OpenNamespace(ref shm.Ref) (*Namespace, error) {
	d, err := OpenDict[string, any](ref)
	if err != nil {
		return nil, err
	}
	return &Namespace{d: d}, nil
}

// AttachRef makes the zero Namespace n a handle on the Namespace that ref names: how package proc
// rebuilds a child's *Namespace parameter.
func (n *Namespace) AttachRef(ref shm.Ref) error {
	o, err := OpenNamespace(ref)
	if err == nil {
		n.d = o.d
	}
	return err
}

// Ref returns the Namespace's Ref.
func (n *Namespace) Ref() shm.Ref { return n.d.Ref() }

// Close releases this handle; Free returns the memory to the heap (see Dict.Close and Dict.Free).
func (n *Namespace) Close() error { return n.d.Close() }

// Free returns the Namespace's memory to the heap, for every process.
func (n *Namespace) Free() error { return n.d.Free() }

// Set sets attribute name to v (Python's ns.name = v). It fails when v cannot be encoded.
func (n *Namespace) Set(name string, v any) error { return n.d.Set(name, v) }

// SetContext is Set bounded by ctx while it waits for the lock.
func (n *Namespace) SetContext(ctx context.Context, name string, v any) error {
	return n.d.SetContext(ctx, name, v)
}

// Get returns a copy of attribute name, decoded as the codec decodes into any (integers as int64
// or uint64, floats as float64, text as string, arrays as []any, maps as map[any]any; see
// internal/codec), and whether it is set. Use Load for a typed copy.
func (n *Namespace) Get(name string) (any, bool, error) { return n.d.Get(name) }

// Delete removes attribute name (Python's del ns.name) and reports whether it was set.
func (n *Namespace) Delete(name string) (bool, error) { return n.d.Delete(name) }

// Names returns the attribute names, sorted.
func (n *Namespace) Names() ([]string, error) {
	keys, err := n.d.Keys()
	slices.Sort(keys)
	return keys, err
}

// Watch returns a channel of the changes of attribute name; see Dict.Watch.
func (n *Namespace) Watch(ctx context.Context, name string) (<-chan Change[any], error) {
	return n.d.Watch(ctx, name)
}

// WatchAll returns a channel of the changes of every attribute, each naming the attribute set
// (with its new value) or deleted; see Dict.WatchKeys for what is delivered and what it costs.
func (n *Namespace) WatchAll(ctx context.Context) (<-chan KeyChange[string, any], error) {
	return n.d.WatchKeys(ctx, func(string) bool { return true })
}

// WatchPrefix returns a channel of the changes of the attributes whose names begin with prefix;
// see Dict.WatchKeys.
func (n *Namespace) WatchPrefix(ctx context.Context, prefix string) (<-chan KeyChange[string, any], error) {
	return WatchPrefix(ctx, n.d, prefix)
}

// Load returns attribute name of n decoded as a T: the value is re-encoded and decoded through
// the codec, so a struct stored by one process comes back as the struct in another.
func Load[T any](n *Namespace, name string) (v T, ok bool, err error) {
	x, ok, err := n.Get(name)
	if err != nil || !ok {
		return v, ok, err
	}
	b, err := codec.Marshal(x)
	if err != nil {
		return v, false, err
	}
	if err := codec.Unmarshal(b, &v); err != nil {
		return v, false, fmt.Errorf("manager: Load %q as %v: %w", name, reflect.TypeFor[T](), err)
	}
	return v, true, nil
}

// String prints the Namespace as Python prints one: Namespace(x=10, y='hello'), attributes
// sorted by name, values in Python's repr where Python has one (None, True, False, numbers, 'text',
// [lists], {maps}), Go's %v otherwise. A Namespace that cannot be read prints the error.
func (n *Namespace) String() string {
	items, err := n.d.Items()
	if err != nil {
		return fmt.Sprintf("Namespace(<%v>)", err)
	}
	slices.SortFunc(items, func(a, b Item[string, any]) int { return strings.Compare(a.Key, b.Key) })
	var sb strings.Builder
	sb.WriteString("Namespace(")
	for i, it := range items {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(it.Key)
		sb.WriteByte('=')
		pyRepr(&sb, it.Value)
	}
	sb.WriteByte(')')
	return sb.String()
}

// pyRepr writes v as Python's repr would.
func pyRepr(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		sb.WriteString("None")
	case bool:
		if x {
			sb.WriteString("True")
		} else {
			sb.WriteString("False")
		}
	case string:
		sb.WriteString(pyString(x))
	case float64:
		switch {
		case math.IsInf(x, 1):
			sb.WriteString("inf")
		case math.IsInf(x, -1):
			sb.WriteString("-inf")
		case math.IsNaN(x):
			sb.WriteString("nan")
		case x == math.Trunc(x) && math.Abs(x) < 1e16:
			sb.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
		default:
			sb.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
	case []any:
		pySeq(sb, '[', ']', len(x), func(i int) { pyRepr(sb, x[i]) })
	case map[any]any:
		keys := make([]any, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		pySeq(sb, '{', '}', len(keys), func(i int) {
			pyRepr(sb, keys[i])
			sb.WriteString(": ")
			pyRepr(sb, x[keys[i]])
		})
	default:
		fmt.Fprint(sb, x)
	}
}

// pySeq writes n elements, each by elem, separated by commas, between open and close.
func pySeq(sb *strings.Builder, open, close byte, n int, elem func(i int)) {
	sb.WriteByte(open)
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		elem(i)
	}
	sb.WriteByte(close)
}

// pyString quotes s as Python's repr does: single quotes unless s holds one and no double quote.
func pyString(s string) string {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var sb strings.Builder
	sb.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(&sb, `\x%02x`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte(q)
	return sb.String()
}
