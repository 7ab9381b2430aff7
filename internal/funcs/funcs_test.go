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
