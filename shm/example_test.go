//go:build linux

package shm_test

import (
	"fmt"
	"os"

	"github.com/shmkit/shmkit/shm"
)

// noteKind is registered from init: its rebuild function refers to it.
var noteKind shm.Kind

func init() {
	noteKind = shm.RegisterKind("example.note", func(r shm.Ref) (any, error) {
		_, b, err := shm.Resolve(r, noteKind)
		return b, err
	})
}

// A named segment, an object allocated in its heap, and a second attachment finding it by name,
// as an unrelated process would. Named segments outlive their processes unless unlinked: the
// creator's Close unlinks the name.
func Example() {
	name := fmt.Sprintf("shmkit-example-%d", os.Getpid())
	seg, err := shm.CreateNamed(name, 1<<16, nil)
	if err != nil {
		panic(err)
	}
	defer seg.Close() // unmaps and unlinks /dev/shm/<name>

	heap, _ := seg.Heap()
	ref, _ := heap.Alloc(32, noteKind)
	note, _ := seg.Object(ref)
	copy(note, "hello from shared memory")
	seg.SetRoot(ref)

	// Elsewhere: open by name, find the root object, rebuild it from its Ref.
	other, err := shm.OpenNamed(name) // in this process, the same segment: one more handle
	if err != nil {
		panic(err)
	}
	defer other.Close() // every handle is closed; the last Close unmaps and unlinks
	root, _ := other.Root()
	obj, _ := shm.Rebuild(root)
	fmt.Printf("%s: %q\n", root.Kind, obj.([]byte)[:24])

	heap.Free(ref)
	_, err = shm.Rebuild(root)
	fmt.Println("after Free:", err != nil)
	// Output:
	// example.note: "hello from shared memory"
	// after Free: true
}
