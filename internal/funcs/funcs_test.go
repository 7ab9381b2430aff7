package funcs

import (
	"reflect"
	"strings"
	"testing"
)

func worker() {}

type T struct{}

func (T) M() {}

func TestNames(t *testing.T) {
	name := Name(reflect.ValueOf(worker))
	if !strings.HasSuffix(name, "internal/funcs.worker") || IsClosure(name) {
		t.Errorf("worker: %q, closure %v", name, IsClosure(name))
	}
	if got := Short(name); got != "funcs.worker" {
		t.Errorf("Short(%q) = %q", name, got)
	}
	lit := func() {}
	if n := Name(reflect.ValueOf(lit)); !IsClosure(n) {
		t.Errorf("a function literal %q is not seen as a closure", n)
	}
	if n := Name(reflect.ValueOf(T{}.M)); !IsClosure(n) {
		t.Errorf("a method value %q is not seen as a closure", n)
	}
	if got := Short("noslash.f"); got != "noslash.f" {
		t.Errorf("Short = %q", got)
	}
}

// IsClosure against the names the compiler gives, and near misses.
func TestIsClosureNames(t *testing.T) {
	for name, want := range map[string]bool{
		"pkg.f.func1": true, "pkg.f.func12.3": true, "pkg.f.func1.2.3": true, "pkg.T.M-fm": true,
		"example.com/a/pkg.worker": false, "pkg.func": false, "pkg.f.funcx": false, "pkg.f.1": false,
		"pkg.f.func1x": false, "pkg.f.func1.": false, "func1": false, "pkg.functor": false, "": false,
	} {
		if got := IsClosure(name); got != want {
			t.Errorf("IsClosure(%q) = %v, want %v", name, got, want)
		}
	}
}
