package proc_test

import (
	"errors"
	"math"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
)

var _ = proc.Register(numbers)

// numbers stores what it was given in the cell, for the parent to check.
func numbers(c *cell, i int, i8 int8, u uint, f float32) {
	atomic.StoreUint64(dword(c, 0), uint64(i))
	atomic.StoreUint64(dword(c, 1), uint64(i8))
	atomic.StoreUint64(dword(c, 2), uint64(u))
	atomic.StoreUint64(dword(c, 3), uint64(math.Float32bits(f)))
}

// TestNumberArguments: a number given for a parameter of another number type is converted at
// Start when it fits exactly, and refused there (ErrBadArgs naming the argument) when it does not,
// instead of a child that fails to decode it.
func TestNumberArguments(t *testing.T) {
	c := newCell(t)
	p := testutil.Start(t, numbers, c, 2.0, -5, uint8(7), 0.5)
	testutil.WaitOK(t, p)
	require.Equal(t, uint64(2), atomic.LoadUint64(dword(c, 0)))
	require.Equal(t, uint64(math.MaxUint64-4), atomic.LoadUint64(dword(c, 1)), "int8 -5")
	require.Equal(t, uint64(7), atomic.LoadUint64(dword(c, 2)))
	require.Equal(t, uint64(math.Float32bits(0.5)), atomic.LoadUint64(dword(c, 3)))

	for _, tc := range []struct {
		name string
		args []any
		says string
	}{
		{"fraction for an int", []any{c, 2.5, 0, 0, 0}, "argument 1 of"},
		{"NaN for an int", []any{c, math.NaN(), 0, 0, 0}, "not an integer"},
		{"too big for an int8", []any{c, 0, 300, 0, 0}, "argument 2 of"},
		{"too small for an int8", []any{c, 0, -129.0, 0, 0}, "out of range"},
		{"negative for a uint", []any{c, 0, 0, -1, 0}, "negative"},
		{"huge for an int", []any{c, uint64(math.MaxUint64), 0, 0, 0}, "out of range"},
		{"huge float for an int", []any{c, 1e19, 0, 0, 0}, "out of range"},
		{"too big for a float32", []any{c, 0, 0, 0, 1e39}, "out of range"},
		{"inexact for a float32", []any{c, 0, 0, 0, 1<<24 + 1}, "not exactly representable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := proc.New(numbers, tc.args...)
			err := p.Start()
			require.ErrorIs(t, err, proc.ErrBadArgs)
			require.Contains(t, err.Error(), tc.says)
			require.False(t, p.IsAlive())
		})
	}
}

// TestNotSupportedMatchesErrUnsupported: every "not supported" error of proc matches
// errors.ErrUnsupported.
func TestNotSupportedMatchesErrUnsupported(t *testing.T) {
	require.ErrorIs(t, proc.ErrUnsupported, errors.ErrUnsupported)
	for _, target := range []any{variadicTarget, chanTarget} {
		func() {
			defer func() {
				err, _ := recover().(error)
				require.ErrorIs(t, err, errors.ErrUnsupported)
			}()
			proc.Register(target)
		}()
	}
}

func variadicTarget(xs ...int) {}
func chanTarget(c chan int)    {}
