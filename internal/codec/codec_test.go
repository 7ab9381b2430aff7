package codec_test

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/codec"
)

// equal fails t unless got and want are deeply equal.
func equal(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}

// isErr fails t unless err wraps target.
func isErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want one wrapping %v", err, target)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// roundTrip sends v through For[T] (after a prefix, to check Append appends) and through
// Marshal/Unmarshal, and returns both results.
func roundTrip[T any](t *testing.T, v T) (viaCodec, viaMarshal T) {
	t.Helper()
	viaCodec = roundTripCodec(t, v)
	m, err := codec.Marshal(v)
	noErr(t, err)
	noErr(t, codec.Unmarshal(m, &viaMarshal))
	return viaCodec, viaMarshal
}

func roundTripCodec[T any](t *testing.T, v T) (got T) {
	t.Helper()
	c := codec.For[T]()
	prefix := []byte("hdr")
	b, err := c.Append(prefix, &v)
	noErr(t, err)
	equal(t, string(b[:len(prefix)]), "hdr")
	if c.Raw() && len(b)-len(prefix) != c.Size() {
		t.Fatalf("raw encoding is %d bytes, Size is %d", len(b)-len(prefix), c.Size())
	}
	noErr(t, c.Decode(b[len(prefix):], &got))
	return got
}

func TestForCachesAndChooses(t *testing.T) {
	first, second := codec.For[point](), codec.For[point]()
	if first != second {
		t.Fatal("For returned two codecs for one type")
	}
	p := codec.For[podAll]()
	if !p.Raw() || p.Size() != int(unsafe.Sizeof(podAll{})) {
		t.Fatalf("podAll: Raw %v Size %d, want raw of %d bytes", p.Raw(), p.Size(), unsafe.Sizeof(podAll{}))
	}
	m := codec.For[message]()
	if m.Raw() || m.Size() != -1 {
		t.Fatalf("message: Raw %v Size %d, want CBOR and -1", m.Raw(), m.Size())
	}
	if z := codec.For[struct{}](); !z.Raw() || z.Size() != 0 {
		t.Fatalf("struct{}: Raw %v Size %d, want raw of 0 bytes", z.Raw(), z.Size())
	}
}

func TestRawRoundTrip(t *testing.T) {
	v := podAll{
		B: true, I: -1, I8: math.MinInt8, I16: math.MaxInt16, I32: -7, I64: math.MinInt64,
		U: 1, U8: 255, U16: 65535, U32: 1 << 31, U64: math.MaxUint64, Up: 0xdeadbeef,
		F32: 1.5, F64: math.Inf(-1), C64: 1 + 2i, C: complex(math.Pi, -math.E),
		A:    [3]point{{1, 2}, {3, 4}, {5, 6}},
		Grid: [2][2]int32{{1, 2}, {3, 4}},
	}
	v.hidden = 42
	if got := roundTripCodec(t, v); got != v {
		t.Fatalf("got %+v\nwant %+v", got, v)
	}
	a, b := roundTrip(t, point{1, -2})
	equal(t, a, point{1, -2})
	equal(t, b, point{1, -2})

	// CBOR has no complex numbers: Marshal refuses them rather than guess.
	if _, err := codec.Marshal(v); err == nil {
		t.Fatal("Marshal of a struct holding complex numbers succeeded")
	}
}

func TestRawNoAllocs(t *testing.T) {
	c := codec.For[pod64]()
	v := pod64{ID: 7, OK: true}
	buf := make([]byte, 0, c.Size())
	var out pod64
	allocs := testing.AllocsPerRun(100, func() {
		b, err := c.Append(buf[:0], &v)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Decode(b, &out); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("raw Append+Decode allocates %v times, want 0", allocs)
	}
	equal(t, out, v)
}

func TestRawDecodeWrongLength(t *testing.T) {
	c := codec.For[pod64]()
	want := pod64{ID: 1}
	for _, n := range []int{0, 1, c.Size() - 1, c.Size() + 1, 2 * c.Size()} {
		v := want
		err := c.Decode(make([]byte, n), &v)
		isErr(t, err, codec.ErrDecode)
		equal(t, v, want) // untouched
	}
	z := codec.For[struct{}]()
	isErr(t, z.Decode([]byte{0}, &struct{}{}), codec.ErrDecode)
	noErr(t, z.Decode(nil, &struct{}{}))
}

func TestRawDecodeRefusesBadBools(t *testing.T) {
	type flags struct {
		N    int32
		On   bool
		Many [3]struct {
			X  int16
			Ok bool
		}
	}
	c := codec.For[flags]()
	v := flags{N: 5, On: true}
	v.Many[2].Ok = true
	b, err := c.Append(nil, &v)
	noErr(t, err)

	offsets := []uintptr{unsafe.Offsetof(v.On)}
	for i := range v.Many {
		offsets = append(offsets, unsafe.Offsetof(v.Many)+uintptr(i)*unsafe.Sizeof(v.Many[0])+unsafe.Offsetof(v.Many[0].Ok))
	}
	for _, off := range offsets {
		bad := append([]byte(nil), b...)
		bad[off] = 2
		var got flags
		err := c.Decode(bad, &got)
		isErr(t, err, codec.ErrDecode)
		equal(t, got, flags{})
	}
	// Padding and numbers may hold any byte.
	any := append([]byte(nil), b...)
	any[unsafe.Offsetof(v.N)] = 0xff
	var got flags
	noErr(t, c.Decode(any, &got))
}

// message is the small CBOR-encoded message of the benchmarks.
type message struct {
	ID   int64
	Name string
	Vals []float64
}

type payload struct {
	Msg     message
	Ptr     *message
	NilPtr  *message
	Bytes   []byte
	NilB    []byte
	EmptyB  []byte
	Strs    []string
	NilS    []string
	EmptyS  []string
	Map     map[string]int
	NilMap  map[string]int
	IntKeys map[int][]string
	Nested  map[string]map[string]float32
	Arr     [3]uint16
	ByteArr [4]byte
	I8      int8
	Min     int64
	Max     uint64
	F       float64
	Inf     float64
	F32     float32
	B       bool
	Any     any
	private int `cbor:"-"` // left behind on purpose: not sent, and no error
}

func TestCBORRoundTrip(t *testing.T) {
	v := payload{
		Msg:     message{ID: 1, Name: "héllo", Vals: []float64{1, 2.5, -3, 1e300}},
		Ptr:     &message{Name: "\xff\xfe not UTF-8"},
		Bytes:   []byte{0, 1, 2, 255},
		EmptyB:  []byte{},
		Strs:    []string{"a", "", "c"},
		EmptyS:  []string{},
		Map:     map[string]int{"x": 1, "y": -2},
		IntKeys: map[int][]string{3: {"three"}, -1: nil},
		Nested:  map[string]map[string]float32{"a": {"b": 0.5}},
		Arr:     [3]uint16{1, 2, 65535},
		ByteArr: [4]byte{9, 8, 7, 6},
		I8:      -128,
		Min:     math.MinInt64,
		Max:     math.MaxUint64,
		F:       math.SmallestNonzeroFloat64,
		Inf:     math.Inf(1),
		F32:     float32(1) / 3,
		B:       true,
		Any:     "text",
		private: 9,
	}
	want := v
	want.private = 0
	a, b := roundTrip(t, v)
	equal(t, a, want)
	equal(t, b, want)

	for _, s := range []any{
		nil, true, int64(-5), uint8(200), 3.25, "s", []byte("b"), []int{1, 2},
		[]string(nil), map[string]bool{"t": true},
	} {
		a, b := roundTrip(t, s)
		equal(t, a, b)
	}
	sa, sb := roundTrip(t, "just a string")
	equal(t, sa, "just a string")
	equal(t, sb, "just a string")
	na, nb := roundTrip(t, []int(nil))
	equal(t, na, []int(nil))
	equal(t, nb, []int(nil))
}

func TestCBORDeterministic(t *testing.T) {
	m := map[string]int{}
	for i := range 100 {
		m[string(rune('a'+i%26))+string(rune('A'+i/26))] = i
	}
	first, err := codec.Marshal(m)
	noErr(t, err)
	for range 20 {
		again, err := codec.Marshal(m)
		noErr(t, err)
		equal(t, again, first)
	}
}

func TestCBORTime(t *testing.T) {
	type event struct {
		At   time.Time
		When []time.Time
	}
	zone := time.FixedZone("X", -(3*3600 + 30*60))
	v := event{
		At: time.Date(2024, 2, 29, 23, 59, 59, 123456789, zone),
		When: []time.Time{
			time.Date(1969, 7, 20, 20, 17, 40, 1, time.UTC),
			time.Now(), // carries a monotonic reading and time.Local
			{},
		},
	}
	a, b := roundTrip(t, v)
	for _, got := range []event{a, b} {
		if !got.At.Equal(v.At) {
			t.Fatalf("At: got %v, want %v", got.At, v.At)
		}
		if _, off := got.At.Zone(); off != -(3*3600 + 30*60) {
			t.Fatalf("At: offset %d lost", off)
		}
		for i, w := range v.When {
			if !got.When[i].Equal(w) {
				t.Fatalf("When[%d]: got %v, want %v", i, got.When[i], w)
			}
		}
		if !got.When[2].IsZero() {
			t.Fatalf("zero time came back as %v", got.When[2])
		}
	}
	// A time sent as any comes back as a time.Time.
	m, err := codec.Marshal(v.At)
	noErr(t, err)
	var x any
	noErr(t, codec.Unmarshal(m, &x))
	if tt, ok := x.(time.Time); !ok || !tt.Equal(v.At) {
		t.Fatalf("time into any: got %#v", x)
	}
}

func TestCBORUnknownFieldsIgnored(t *testing.T) {
	type v2 struct {
		ID    int64
		Name  string
		Extra map[string][]int
		More  struct{ A, B int }
	}
	b, err := codec.Marshal(v2{ID: 3, Name: "n", Extra: map[string][]int{"k": {1}}})
	noErr(t, err)
	var got message
	noErr(t, codec.For[message]().Decode(b, &got))
	equal(t, got, message{ID: 3, Name: "n"})
}

func TestDecodeIntoAny(t *testing.T) {
	type rec struct {
		Name string
		N    int
	}
	big1 := new(big.Int).Add(new(big.Int).SetUint64(math.MaxUint64), big.NewInt(0))
	v := map[string]any{
		"int":    7,
		"neg":    int8(-3),
		"huge":   uint64(math.MaxUint64),
		"float":  float32(0.5),
		"str":    "s",
		"bytes":  []byte{1, 2},
		"list":   []any{1, "two", nil, true},
		"map":    map[int]string{1: "one"},
		"struct": rec{Name: "r", N: 2},
		"nil":    nil,
	}
	b, err := codec.Marshal(v)
	noErr(t, err)
	var got any
	noErr(t, codec.Unmarshal(b, &got))
	equal(t, got, map[any]any{
		"int":    int64(7),
		"neg":    int64(-3),
		"huge":   *big1,
		"float":  0.5,
		"str":    "s",
		"bytes":  []byte{1, 2},
		"list":   []any{int64(1), "two", nil, true},
		"map":    map[any]any{int64(1): "one"},
		"struct": map[any]any{"Name": "r", "N": int64(2)},
		"nil":    nil,
	})

	// The same through a Codec of an interface type.
	c := codec.For[any]()
	if c.Raw() {
		t.Fatal("For[any] is raw")
	}
	var x any = []int{1, 2}
	enc, err := c.Append(nil, &x)
	noErr(t, err)
	var y any
	noErr(t, c.Decode(enc, &y))
	equal(t, y, []any{int64(1), int64(2)})
}

func TestDecodeZeroesTarget(t *testing.T) {
	b, err := codec.Marshal(message{Name: "new"})
	noErr(t, err)
	v := message{ID: 9, Name: "old", Vals: []float64{1}}
	noErr(t, codec.For[message]().Decode(b, &v))
	equal(t, v, message{Name: "new"})

	m := map[string]int{"stale": 1}
	mb, err := codec.Marshal(map[string]int{"fresh": 2})
	noErr(t, err)
	noErr(t, codec.Unmarshal(mb, &m))
	equal(t, m, map[string]int{"fresh": 2})
}

func TestCBORDecodeErrors(t *testing.T) {
	good, err := codec.Marshal(message{ID: 1, Name: "abc", Vals: []float64{1}})
	noErr(t, err)
	c := codec.For[message]()
	var v message
	for i := range len(good) {
		isErr(t, c.Decode(good[:i], &v), codec.ErrDecode) // every truncation
	}
	isErr(t, c.Decode(append(good, 0), &v), codec.ErrDecode) // trailing byte
	isErr(t, c.Decode([]byte{0xff}, &v), codec.ErrDecode)    // stray break
	isErr(t, c.Decode([]byte{0x1c}, &v), codec.ErrDecode)    // reserved additional info
	s, err := codec.Marshal("a string")
	noErr(t, err)
	isErr(t, c.Decode(s, &v), codec.ErrDecode) // wrong type
	var n int8
	big, err := codec.Marshal(1000)
	noErr(t, err)
	isErr(t, codec.Unmarshal(big, &n), codec.ErrDecode) // overflow
}

func TestMisuse(t *testing.T) {
	b, err := codec.Marshal(1)
	noErr(t, err)
	var n int
	for _, target := range []any{nil, n, (*int)(nil)} {
		if err := codec.Unmarshal(b, target); err == nil {
			t.Fatalf("Unmarshal into %#v succeeded", target)
		}
	}
	if _, err := codec.For[message]().Append(nil, nil); err == nil {
		t.Fatal("Append of a nil pointer succeeded")
	}
	if _, err := codec.For[point]().Append(nil, nil); err == nil {
		t.Fatal("raw Append of a nil pointer succeeded")
	}
	if err := codec.For[message]().Decode(b, nil); err == nil {
		t.Fatal("Decode into a nil pointer succeeded")
	}
	if err := codec.For[point]().Decode(make([]byte, 16), nil); err == nil {
		t.Fatal("raw Decode into a nil pointer succeeded")
	}
	if _, err := codec.Marshal(make(chan int)); err == nil {
		t.Fatal("Marshal of a chan succeeded")
	}
	dst := []byte("keep")
	out, err := codec.For[any]().Append(dst, &[]any{func() {}}[0])
	if err == nil || string(out) != "keep" {
		t.Fatalf("Append of a func: %q, %v; want dst unchanged and an error", out, err)
	}
}

// pod64 is the 64-byte POD message of the benchmarks.
type pod64 struct {
	ID    int64
	Seq   uint64
	Vals  [5]float64
	Kind  int32
	Flags uint16
	OK    bool
	_     uint8
}

// TestConcurrentUse runs For, Append and Decode from many goroutines at once; run it with
// -race.
func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			c := codec.For[message]()
			var buf []byte
			for i := range 200 {
				in := message{ID: int64(g*1000 + i), Name: "m", Vals: []float64{float64(i)}}
				var err error
				if buf, err = c.Append(buf[:0], &in); err != nil {
					errs <- err
					return
				}
				var out message
				if err := c.Decode(buf, &out); err != nil || !reflect.DeepEqual(out, in) {
					errs <- fmt.Errorf("round trip of %+v: %+v, %v", in, out, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
