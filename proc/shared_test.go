package proc_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/value"
)

var (
	_ = proc.Register(&upperCaser{})
	_ = proc.Register(workOn)
)

// upperCaser is CPython's test_subclassing _UpperCaser: a Process "subclass" that keeps pipe
// ends as fields. The child reads lines from In and sends them upper-cased on Out until "STOP",
// counts them in Log, and sets Done.
type upperCaser struct {
	In   *ring.Conn
	Out  *ring.Conn
	Log  *ring.Queue
	Done *lock.Event
}

func (u *upperCaser) Run() error {
	for n := 0; ; n++ {
		msg, err := u.In.Recv()
		if err != nil {
			return err
		}
		if string(msg) == "STOP" {
			if err := u.Log.Put([]byte(fmt.Sprint(n))); err != nil {
				return err
			}
			return u.Done.Set()
		}
		if err := u.Out.Send(bytes.ToUpper(msg)); err != nil {
			return err
		}
	}
}

// freeAfter frees objects when the test ends, after every child testutil.Start started is gone
// (its Cleanup, registered later, runs first).
func freeAfter(t *testing.T, objs ...interface{ Free() error }) {
	t.Cleanup(func() {
		for _, o := range objs {
			require.NoError(t, o.Free())
		}
	})
}

func TestRunTypeWithSharedFields(t *testing.T) {
	inR, inW, err := ring.Pipe(false, nil)
	require.NoError(t, err)
	outR, outW, err := ring.Pipe(false, nil)
	require.NoError(t, err)
	log, err := ring.NewQueue(nil)
	require.NoError(t, err)
	done, err := lock.NewEvent()
	require.NoError(t, err)
	freeAfter(t, inR, inW, outR, outW, log, done)

	p := testutil.Start(t, &upperCaser{In: inR, Out: outW, Log: log, Done: done})
	for _, s := range []string{"hello", "world", "from the parent"} {
		require.NoError(t, inW.Send([]byte(s)))
		got, err := outR.RecvTimeout(30 * time.Second)
		require.NoError(t, err)
		require.Equal(t, strings.ToUpper(s), string(got))
	}
	require.NoError(t, inW.Send([]byte("STOP")))
	require.NoError(t, done.WaitTimeout(30*time.Second))
	n, err := log.GetTimeout(30 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "3", string(n))
	testutil.WaitOK(t, p)
}

// jobs is a struct argument holding shared objects in fields, behind a pointer, in a slice, in a
// map and in an interface.
type jobs struct {
	Name    string
	Tasks   *ring.Queue
	Out     *results
	Steps   []*lock.Event
	Ready   map[string]*lock.Event
	Any     any
	Missing *lock.Event // nil: stays nil
	Counts  *value.Array[int64]
}

type results struct {
	Queue *ring.Queue
	Note  string
}

// workOn moves every task to the results queue, counting them, and sets every event it was given.
func workOn(j jobs, more [2]jobs) error {
	if j.Missing != nil || j.Name != "first" || j.Out.Note != "note" || more[1].Name != "second" {
		return fmt.Errorf("plain fields arrived wrong: %+v", j)
	}
	for {
		msg, ok, err := j.Tasks.TryGet()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if err := j.Out.Queue.Put(append([]byte("done "), msg...)); err != nil {
			return err
		}
		j.Counts.Slice()[0]++
	}
	events := append([]*lock.Event{j.Ready["go"], j.Any.(*lock.Event)}, j.Steps...)
	events = append(events, more[1].Steps...)
	for _, e := range events {
		if err := e.Set(); err != nil {
			return err
		}
	}
	return nil
}

func newEvents(t *testing.T, n int) []*lock.Event {
	var es []*lock.Event
	for range n {
		e, err := lock.NewEvent()
		require.NoError(t, err)
		freeAfter(t, e)
		es = append(es, e)
	}
	return es
}

func TestStructArgumentWithSharedObjects(t *testing.T) {
	tasks, err := ring.NewQueue(nil)
	require.NoError(t, err)
	out, err := ring.NewQueue(nil)
	require.NoError(t, err)
	counts, err := value.NewArray[int64](1)
	require.NoError(t, err)
	freeAfter(t, tasks, out, counts)
	es := newEvents(t, 5)
	for _, s := range []string{"a", "b", "c"} {
		require.NoError(t, tasks.Put([]byte(s)))
	}
	j := jobs{
		Name: "first", Tasks: tasks, Out: &results{Queue: out, Note: "note"},
		Steps: es[:2], Ready: map[string]*lock.Event{"go": es[2]}, Any: es[3], Counts: counts,
	}
	second := jobs{Name: "second", Steps: es[4:]}
	p := testutil.Start(t, workOn, j, [2]jobs{{}, second})
	testutil.WaitOK(t, p)
	for i, e := range es {
		require.True(t, e.IsSet(), "event %d", i)
	}
	for _, s := range []string{"a", "b", "c"} {
		got, err := out.GetTimeout(10 * time.Second)
		require.NoError(t, err)
		require.Equal(t, "done "+s, string(got))
	}
	require.Equal(t, int64(3), counts.Slice()[0])
	// The caller's values are untouched: Start worked on copies of what it changed.
	require.Same(t, tasks, j.Tasks)
	require.Same(t, es[2], j.Ready["go"])
	require.Same(t, out, j.Out.Queue)
}

// Run types that cannot cross whole.
type (
	withChan struct {
		Done chan struct{}
	}
	withFunc struct {
		Name string
		Cb   func()
	}
	withHidden struct {
		Q *ring.Queue
		e *lock.Event
	}
	withInterfaceHolder struct {
		Box any
	}
	withEventValue struct {
		E lock.Event
	}
)

func (withChan) Run()            {}
func (withFunc) Run()            {}
func (withHidden) Run()          {}
func (withInterfaceHolder) Run() {}
func (withEventValue) Run()      {}

var (
	_ = proc.Register(withChan{})
	_ = proc.Register(withFunc{})
	_ = proc.Register(withHidden{})
	_ = proc.Register(withInterfaceHolder{})
	_ = proc.Register(withEventValue{})
	_ = proc.Register(takeCallback)
)

func TestStartRefusesWhatCannotCross(t *testing.T) {
	q, err := ring.NewQueue(nil)
	require.NoError(t, err)
	defer q.Free()
	e, err := lock.NewEvent()
	require.NoError(t, err)
	defer e.Free()
	counts, err := value.NewArray[int64](1)
	require.NoError(t, err)
	defer counts.Free()
	for _, tc := range []struct {
		name string
		p    *proc.Process
		says []string
	}{
		{"chan field", proc.New(withChan{Done: make(chan struct{})}), []string{"field Done", "chan struct {}"}},
		{"nil chan field", proc.New(&withChan{}), []string{"field Done", "chan struct {}"}},
		{"func field", proc.New(withFunc{Name: "f", Cb: func() {}}), []string{"field Cb", "func()"}},
		{"unexported shared field", proc.New(withHidden{Q: q, e: e}), []string{"field e", "unexported"}},
		{"shared object behind an interface", proc.New(withInterfaceHolder{Box: results{Queue: q}}),
			[]string{"field Box", "give it its concrete type"}},
		{"shared object by value", proc.New(withEventValue{}), []string{"field E", "*lock.Event"}},
		{"generic shared object in an interface", proc.New(withInterfaceHolder{Box: counts}),
			[]string{"field Box", "*value.Array[int64] in an interface"}},
		{"shared object never made", proc.New(workOn, jobs{Steps: []*lock.Event{e, {}}}, [2]jobs{}),
			[]string{"argument 0 of", "field Steps[1]", "zero Ref"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Start()
			require.ErrorIs(t, err, proc.ErrBadArgs)
			for _, s := range tc.says {
				require.Contains(t, err.Error(), s)
			}
			require.False(t, tc.p.IsAlive())
		})
	}
	// In a struct argument, the field is named too, with the argument's index.
	err = proc.New(takeCallback, 1, callback{Name: "n", Fn: func() {}}).Start()
	require.ErrorIs(t, err, proc.ErrBadArgs)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.Contains(t, err.Error(), "argument 1")
	require.Contains(t, err.Error(), "field Fn")
}

type callback struct {
	Name string
	Fn   func()
}

func takeCallback(n int, c callback) {}
