// Package docs holds the project's documentation and the tests that keep its code true: the
// README's example program is compiled and run, and its output compared with the output the
// README shows.
package docs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fencedBlocks returns the fenced blocks of a Markdown file with the given info string, in order.
func fencedBlocks(md, info string) []string {
	var blocks []string
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```"+info {
			continue
		}
		var b strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			b.WriteString(lines[i])
			b.WriteByte('\n')
		}
		blocks = append(blocks, b.String())
	}
	return blocks
}

// TestReadmeExample runs the README's first Go program with `go run` and requires exactly the
// output shown in the README's first ```text block after it.
func TestReadmeExample(t *testing.T) {
	md, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	progs := fencedBlocks(string(md), "go")
	if len(progs) == 0 {
		t.Fatal("README.md has no ```go block")
	}
	rest := string(md)[strings.Index(string(md), progs[0])+len(progs[0]):]
	outs := fencedBlocks(rest, "text")
	if len(outs) == 0 {
		t.Fatal("README.md shows no ```text output after its first program")
	}
	// Inside the module (so its imports resolve), in a directory `go build ./...` ignores.
	dir, err := os.MkdirTemp("..", ".readme-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(progs[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./"+filepath.Base(dir))
	cmd.Dir = ".."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go run of the README's example: %v\n%s", err, stderr.String())
	}
	if got, want := stdout.String(), outs[0]; got != want {
		t.Errorf("the README's example printed\n%s\nthe README shows\n%s", got, want)
	}
}

// TestArchitectureImports checks the import lists of docs/architecture.md's layer diagram
// against `go list`: each line `pkg/  ...  (imports a, b)` names exactly the project's packages
// that pkg imports (internal/ packages by their last element), or says "imports nothing of ours".
func TestArchitectureImports(t *testing.T) {
	md, err := os.ReadFile("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	claimed := map[string][]string{}
	for _, line := range strings.Split(string(md), "\n") {
		open, close := strings.Index(line, "(imports "), strings.LastIndex(line, ")")
		fields := strings.Fields(line)
		if open < 0 || close < open || len(fields) == 0 || !strings.HasSuffix(fields[0], "/") {
			continue
		}
		list := line[open+len("(imports ") : close]
		var deps []string
		if list != "nothing of ours" {
			for _, d := range strings.Split(list, ",") {
				deps = append(deps, strings.TrimSpace(d))
			}
		}
		claimed[strings.TrimSuffix(fields[0], "/")] = deps
	}
	if len(claimed) < 6 {
		t.Fatalf("found import lists for %d packages in architecture.md, want every layer", len(claimed))
	}
	const module = "github.com/shmkit/shmkit/"
	for pkg, deps := range claimed {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		var actual []string
		for _, imp := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if rest, ok := strings.CutPrefix(imp, module); ok {
				actual = append(actual, strings.TrimPrefix(rest, "internal/"))
			}
		}
		if !sameSet(actual, deps) {
			t.Errorf("architecture.md: %s/ imports %v, the diagram says %v", pkg, actual, deps)
		}
	}
}

func sameSet(a, b []string) bool {
	set := map[string]int{}
	for _, x := range a {
		set[x]++
	}
	for _, x := range b {
		set[x]--
	}
	for _, n := range set {
		if n != 0 {
			return false
		}
	}
	return true
}
