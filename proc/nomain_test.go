package proc_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/proc"
)

// noMainEnv makes this test binary behave as a program whose main does not call proc.Main:
// TestMain then runs programWithoutMain instead of the tests.
const noMainEnv = "PROC_TEST_NO_MAIN"

// programWithoutMain is the main of such a program. Its mode says what main does: "start"
// starts a child and waits for it, "print" only prints. A copy that finds itself nested
// more than two deep stops, so that the test ends even where proc would let the copies go on.
func programWithoutMain(mode string) {
	depth, _ := strconv.Atoi(os.Getenv("PROC_TEST_DEPTH"))
	fmt.Printf("main running at depth %d\n", depth)
	if depth > 2 {
		fmt.Printf("runaway copy at depth %d\n", depth)
		os.Exit(0)
	}
	if mode != "start" {
		os.Exit(0)
	}
	p := proc.New(sleepFor, time.Duration(0))
	p.Env = []string{noMainEnv + "=" + os.Getenv("PROC_TEST_CHILD_MODE"), fmt.Sprintf("PROC_TEST_DEPTH=%d", depth+1)}
	if err := p.Start(); err != nil {
		fmt.Printf("depth %d: Start: %v\n", depth, err)
		os.Exit(1)
	}
	fmt.Printf("depth %d started a child\n", depth)
	fmt.Printf("depth %d: Wait: %v\n", depth, p.WaitTimeout(time.Minute))
	os.Exit(0)
}

// TestChildWithoutMain runs this binary as a program whose main forgets proc.Main. Its child,
// re-executed, runs that main too: it must stop at its first Start, saying what to do, never start
// a grandchild; and a child whose main starts nothing must not pass for one that ran its target.
func TestChildWithoutMain(t *testing.T) {
	for _, childMode := range []string{"start", "print"} {
		t.Run(childMode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), noMainEnv+"=start", "PROC_TEST_CHILD_MODE="+childMode)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out, stderr.String())
			got := string(out)
			require.Contains(t, got, "main running at depth 1", "the child ran the program's main")
			require.Contains(t, got, "depth 0 started a child")
			require.NotContains(t, got, "depth 1 started a child", "the child started a grandchild")
			require.NotContains(t, got, "depth 2")
			require.Contains(t, got, "without running its target: the program's main does not call proc.Main() first")
			if childMode == "start" {
				require.Contains(t, got, fmt.Sprintf("exited with code %d", proc.ExitCodeStartFailed))
				require.Contains(t, stderr.String(), "its main did not call proc.Main() first")
				require.Contains(t, stderr.String(), "Call proc.Main() as the first statement of main")
			} else {
				require.Contains(t, got, "exited with code 0")
			}
		})
	}
}
