package main

import (
	"fmt"
	"time"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/value"
)

func init() {
	register(40, "value", "Value and Array in shared memory, changed by a child", runValue)
}

// Target of the value demo, run in a child process: Python's
//
//	def f(n, a):
//	    n.value = 3.1415927
//	    for i in range(len(a)):
//	        a[i] = -a[i]
var _ = proc.Register(valueNegate)

func valueNegate(num *value.Value[float64], arr *value.Array[int32]) error {
	if err := num.Store(3.1415927); err != nil {
		return err
	}
	for i := range arr.Len() {
		arr.Set(i, -arr.At(i))
	}
	return nil
}

func runValue() error {
	// num = Value('d', 0.0); arr = Array('i', range(10))
	num, err := value.NewValue(0.0)
	if err != nil {
		return err
	}
	defer num.Free()
	arr, err := value.NewArrayFrom([]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	if err != nil {
		return err
	}
	defer arr.Free()

	p, err := proc.Start(valueNegate, num, arr)
	if err != nil {
		return err
	}
	if err := p.WaitTimeout(30 * time.Second); err != nil {
		return err
	}
	// print(num.value); print(arr[:])
	fmt.Println(num.Load())
	fmt.Println(arr.Slice())
	return nil
}
