package value_test

import (
	"fmt"
	"os"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/value"
)

// negate runs in a child process: it sees the parent's Value and Array, not copies.
func negate(num *value.Value[float64], arr *value.Array[int32]) error {
	if err := num.Store(3.1415927); err != nil {
		return err
	}
	for i := range arr.Len() {
		arr.Set(i, -arr.At(i))
	}
	return nil
}

var _ = proc.Register(negate)

// Python's
//
//	num = Value('d', 0.0)
//	arr = Array('i', range(10))
//	p = Process(target=f, args=(num, arr)); p.start(); p.join()
//	print(num.value); print(arr[:])
func Example() {
	num, err := value.NewValue(0.0)
	if err != nil {
		panic(err)
	}
	defer num.Free()
	arr, err := value.NewArrayFrom([]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	if err != nil {
		panic(err)
	}
	defer arr.Free()

	p, err := proc.Start(negate, num, arr)
	if err != nil {
		panic(err)
	}
	if err := p.Join(proc.Forever); err != nil {
		panic(err)
	}
	fmt.Println(num.Load())
	fmt.Println(arr.Slice())
	// Output:
	// 3.1415927
	// [0 -1 -2 -3 -4 -5 -6 -7 -8 -9]
}

// Add is an atomic counter shared by processes, without a lock.
func ExampleAdd() {
	hits, err := value.NewValue[int64](0)
	if err != nil {
		panic(err)
	}
	defer hits.Free()
	value.Add(hits, 1)
	fmt.Println(value.Add(hits, 41))
	// Output: 42
}

// Update holds the Value's lock, as Python's "with v.get_lock(): ..." does.
func ExampleValue_Update() {
	type point struct{ X, Y float64 }
	pt, err := value.NewValue(point{1, 2})
	if err != nil {
		panic(err)
	}
	defer pt.Free()
	if err := pt.Update(func(p *point) { p.X, p.Y = p.Y, p.X }); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", pt.Load())
	// Output: {X:2 Y:1}
}

// Locker is Python's get_lock(): "with v.get_lock(): v.value += 1" is the lock's Do around a
// Load and a Store. ownerDied is true when a process died holding the lock.
func ExampleValue_Locker() {
	v, err := value.NewValue[int64](41)
	if err != nil {
		panic(err)
	}
	defer v.Free()
	err = v.Locker().Do(func(ownerDied bool) error {
		return v.Store(v.Load() + 1)
	})
	fmt.Println(v.Load(), err, v.Locker().Locked())
	// Output: 42 <nil> false
}

// A named Array is found by name, by Go or by Python's multiprocessing.shared_memory (see the
// package documentation for the Python side). Its data starts at FirstDataOffset.
func ExampleNewNamedArray() {
	name := fmt.Sprintf("shmkit-example-%d", os.Getpid())
	temps, err := value.NewNamedArray[float64](name, 4, nil)
	if err != nil {
		panic(err)
	}
	defer temps.Close() // the creator's Close unlinks the name
	temps.CopyFrom([]float64{21.5, 22, 19.25, 20})

	other, err := value.OpenNamedArray[float64](name) // as another process would
	if err != nil {
		panic(err)
	}
	defer other.Close()
	fmt.Println(other.Slice(), string(other.Typecode()), value.FirstDataOffset)
	// Output: [21.5 22 19.25 20] d 4224
}

// The zero-copy view is an ordinary slice over shared memory.
func ExampleArray_Slice() {
	arr, err := value.NewArray[float64](1000)
	if err != nil {
		panic(err)
	}
	defer arr.Free()
	s := arr.Slice()
	for i := range s {
		s[i] = float64(i)
	}
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	fmt.Println(sum)
	// Output: 499500
}

// Counting into an Array from many processes needs no lock: AddAt is one atomic
// read-modify-write of the element (Python: `with hist.get_lock(): hist[b] += 1`).
func ExampleAddAt() {
	hist, err := value.NewArray[int64](4)
	if err != nil {
		panic(err)
	}
	defer hist.Free()
	for _, x := range []int{3, 1, 3, 0, 3} {
		if _, err := value.AddAt(hist, x, 1); err != nil {
			panic(err)
		}
	}
	swapped, err := hist.CompareAndSwap(1, 1, 10) // element 1 holds 1: set it to 10
	if err != nil {
		panic(err)
	}
	fmt.Println(hist.Slice(), swapped)
	// Output: [1 10 0 3] true
}
