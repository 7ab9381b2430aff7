// Package funcs names Go functions the way the runtime does, for the registries of proc and
// pool: a child process finds a registered function by that name, so both must agree on it and
// on which functions cannot be registered at all (closures and method values, whose captured
// state cannot follow them into another process).
package funcs

import (
	"fmt"
	"reflect"
	"regexp"
	"runtime"
	"strings"
)

// closureName matches the names the compiler gives function literals ("pkg.f.func1",
// "pkg.f.func1.2") and method values ("pkg.T.M-fm").
var closureName = regexp.MustCompile(`\.func\d+(\.\d+)*$|-fm$`)

// Name returns the runtime's name of the function v holds ("example.com/pkg.worker").
func Name(v reflect.Value) string {
	if f := runtime.FuncForPC(v.Pointer()); f != nil {
		return f.Name()
	}
	return fmt.Sprintf("func@%#x", v.Pointer())
}

// IsClosure reports whether name is a function literal's or a method value's.
func IsClosure(name string) bool { return closureName.MatchString(name) }

// Short returns name without its import path ("pkg.worker"), as a user writes it.
func Short(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}
