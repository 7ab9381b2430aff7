// Package funcs names Go functions the way the runtime does, for the registries of proc and
// pool: a child process finds a registered function by that name, so both must agree on it and
// on which functions cannot be registered at all (closures and method values, whose captured
// state cannot follow them into another process).
package funcs

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
)

// Name returns the runtime's name of the function v holds ("example.com/pkg.worker").
func Name(v reflect.Value) string {
	if f := runtime.FuncForPC(v.Pointer()); f != nil {
		return f.Name()
	}
	return fmt.Sprintf("func@%#x", v.Pointer())
}

// IsClosure reports whether name is one the compiler gives a function literal ("pkg.f.func1",
// "pkg.f.func1.2": it ends in .funcN, then any .N) or a method value ("pkg.T.M-fm"). Written
// out rather than as a regular expression: compiling one at package initialisation cost every
// child process ~0.9 ms of its start on this VM (GODEBUG=inittrace=1).
func IsClosure(name string) bool {
	if strings.HasSuffix(name, "-fm") {
		return true
	}
	for {
		i := strings.LastIndexByte(name, '.')
		if i < 0 {
			return false
		}
		tail := name[i+1:]
		if n, ok := strings.CutPrefix(tail, "func"); ok && digits(n) {
			return true
		}
		if !digits(tail) {
			return false
		}
		name = name[:i]
	}
}

// digits reports whether s is one or more ASCII digits.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Short returns name without its import path ("pkg.worker"), as a user writes it.
func Short(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}
