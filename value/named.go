package value

import (
	"errors"
	"fmt"

	"github.com/shmkit/shmkit/shm"
)

// A named Value or Array lives in a segment of its own, the file /dev/shm/name, as the segment's
// root object, so that any process can attach by name: another Go program with OpenNamedArray,
// or Python's multiprocessing.shared_memory (see the package documentation for the recipe). Its
// block is the segment's first, so an Array made by NewNamedArray always has its header at byte
// 4160 and its data at byte 4224 (FirstDataOffset); readers should still check the header.

// FirstDataOffset is where the data of a named Array or Value made by this package starts, in
// bytes from the start of its segment: the 4096-byte segment header, the 64-byte heap block
// header, the 64-byte Value/Array header. It is a multiple of 64, so aligned for every type.
const FirstDataOffset = shm.HeaderSize + 64 + headerSize

// NewNamedArray creates the named segment name holding an Array of n zero elements with its lock.
// It fails if the name exists. The segment's pages are reserved now unless opts.Sparse (see
// shm.Options). The creator's Close (or Free) unlinks the name.
func NewNamedArray[T any](name string, n int, opts *shm.Options) (*Array[T], error) {
	ti := infoOf[T]()
	blk, err := createNamed(name, ti, formArray, n, true, opts, func(h *shm.Heap) (*block, error) {
		return newBlock(h, ti, ti.kinds.array, formArray, ti.code, n, true, nil)
	})
	if err != nil {
		return nil, err
	}
	return &Array[T]{e: newElems[T](blk, blk.data, 0)}, nil
}

// OpenNamedArray attaches to the Array that NewNamedArray made under name, after validating the
// segment's header and the Array's (element size and typecode against T, length and data offset
// against the segment). The handle keeps the segment mapped until Close.
func OpenNamedArray[T any](name string) (*Array[T], error) {
	ti := infoOf[T]()
	blk, err := openNamed(name, ti, ti.kinds.array, formArray, true)
	if err != nil {
		return nil, err
	}
	return &Array[T]{e: newElems[T](blk, blk.data, 0)}, nil
}

// NewNamedRawArray is NewNamedArray without a lock.
func NewNamedRawArray[T any](name string, n int, opts *shm.Options) (*RawArray[T], error) {
	ti := infoOf[T]()
	blk, err := createNamed(name, ti, formArray, n, false, opts, func(h *shm.Heap) (*block, error) {
		return newBlock(h, ti, ti.kinds.rawArray, formArray, ti.code, n, false, nil)
	})
	if err != nil {
		return nil, err
	}
	return &RawArray[T]{e: newElems[T](blk, blk.data, 0)}, nil
}

// OpenNamedRawArray attaches to the RawArray that NewNamedRawArray made under name.
func OpenNamedRawArray[T any](name string) (*RawArray[T], error) {
	ti := infoOf[T]()
	blk, err := openNamed(name, ti, ti.kinds.rawArray, formArray, false)
	if err != nil {
		return nil, err
	}
	return &RawArray[T]{e: newElems[T](blk, blk.data, 0)}, nil
}

// NewNamedValue creates the named segment name holding a Value (with its lock) set to init.
func NewNamedValue[T any](name string, init T, opts *shm.Options) (*Value[T], error) {
	ti := infoOf[T]()
	blk, err := createNamed(name, ti, formValue, 1, true, opts, func(h *shm.Heap) (*block, error) {
		return newBlock(h, ti, ti.kinds.value, formValue, ti.code, 1, true, initValue(init))
	})
	if err != nil {
		return nil, err
	}
	return &Value[T]{blk: blk}, nil
}

// OpenNamedValue attaches to the Value that NewNamedValue made under name.
func OpenNamedValue[T any](name string) (*Value[T], error) {
	ti := infoOf[T]()
	blk, err := openNamed(name, ti, ti.kinds.value, formValue, true)
	if err != nil {
		return nil, err
	}
	return &Value[T]{blk: blk}, nil
}

// OpenForeignArray maps the named file /dev/shm/name, made by another program (Python's
// multiprocessing.shared_memory, C's shm_open), and returns its bytes [off, off+n*size of T) as a
// RawArray: the other way round from NewNamedArray. There is no header to check, so the caller
// states the layout; off must be aligned for T (and a multiple of T's size for 2-, 4- and 8-byte
// T, which are accessed atomically), and the elements must fit the file. Close unmaps it and never
// unlinks the name. The RawArray has no Ref.
func OpenForeignArray[T any](name string, off, n int) (*RawArray[T], error) {
	ti := infoOf[T]()
	if ti.err != nil {
		return nil, ti.err
	}
	seg, err := shm.OpenRaw(name)
	if err != nil {
		return nil, err
	}
	mem := seg.Bytes()
	switch {
	case off < 0 || n < 0:
		err = fmt.Errorf("%w: offset %d, length %d", ErrLength, off, n)
	case off%ti.align != 0 || (ti.elem > 1 && off%ti.elem != 0):
		err = fmt.Errorf("%w: offset %d is not aligned for %v", ErrMismatch, off, ti.t)
	case off > len(mem) || (n > 0 && ti.size > (len(mem)-off)/n):
		err = fmt.Errorf("%w: %d elements of %d bytes at offset %d do not fit %d bytes", ErrLength, n, ti.size, off, len(mem))
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("value: open foreign %q: %w", name, err), seg.Close())
	}
	end := off + n*ti.size
	blk := &block{seg: seg, ti: ti, form: formArray, code: ti.code, n: n, data: mem[off:end:end]}
	blk.named = seg
	return &RawArray[T]{e: newElems[T](blk, mem, off)}, nil
}

// createNamed makes the segment, builds the object in it as its first block, and sets it as root.
func createNamed(name string, ti *typeInfo, form byte, n int, locked bool, opts *shm.Options, build func(*shm.Heap) (*block, error)) (*block, error) {
	if ti.err != nil {
		return nil, ti.err
	}
	double := form == formValue && locked && !ti.word
	nb, err := dataBytes(ti, form, n, double)
	if err != nil {
		return nil, err
	}
	// The segment: its header, the object's block and two lock blocks, exactly.
	size := shm.HeaderSize + shm.BlockSize(headerSize+nb) + 2*shm.BlockSize(8)
	seg, err := shm.CreateNamed(name, size, opts)
	if err != nil {
		return nil, fmt.Errorf("value: create %q: %w", name, err)
	}
	blk, err := func() (*block, error) {
		h, err := seg.Heap()
		if err != nil {
			return nil, err
		}
		blk, err := build(h)
		if err != nil {
			return nil, err
		}
		if err := seg.SetRoot(blk.ref); err != nil {
			return nil, errors.Join(err, blk.free())
		}
		return blk, nil
	}()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("value: create %q: %w", name, err), seg.Close())
	}
	blk.named = seg
	return blk, nil
}

// openNamed attaches to a named segment and validates its root object.
func openNamed(name string, ti *typeInfo, kind shm.Kind, form byte, locked bool) (*block, error) {
	if ti.err != nil {
		return nil, ti.err
	}
	seg, err := shm.OpenNamed(name)
	if err != nil {
		return nil, fmt.Errorf("value: open %q: %w", name, err)
	}
	ref, err := seg.Root()
	if err == nil && ref.Kind != kind {
		err = fmt.Errorf("%w: the segment holds a %v, not a %v", ErrMismatch, ref.Kind, kind)
	}
	var blk *block
	if err == nil {
		blk, err = openBlock(ref, ti, kind, form, locked)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("value: open %q: %w", name, err), seg.Close())
	}
	blk.named = seg
	return blk, nil
}
