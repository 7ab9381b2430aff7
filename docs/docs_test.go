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
