package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func init() {
	register(80, "subprocess", "external programs with os/exec: call, Popen with pipes and communicate, the return code", runSubprocess)
}

// runSubprocess is the seeds' subprocess section. shmkit does not wrap subprocess: Go's os/exec
// already does what it does, in as few lines.
func runSubprocess() error {
	// subprocess.call(['echo', 'hello']): run a program, its output straight to ours.
	call := exec.Command("echo", "hello from a called program")
	call.Stdout = os.Stdout
	if err := call.Run(); err != nil {
		return err
	}

	// p = Popen(['tr', 'a-z', 'A-Z'], stdin=PIPE, stdout=PIPE); out, _ = p.communicate(b'...')
	popen := exec.Command("tr", "a-z", "A-Z")
	popen.Stdin = strings.NewReader("shmkit leaves subprocess to os/exec\n")
	var out bytes.Buffer
	popen.Stdout = &out
	if err := popen.Run(); err != nil {
		return err
	}
	fmt.Printf("communicate returned: %s", out.String())

	// p.returncode: a non-zero exit is an *exec.ExitError carrying the code.
	err := exec.Command("sh", "-c", "exit 3").Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("expected an exit status, got %v", err)
	}
	fmt.Printf("returncode: %d\n", exit.ExitCode())
	return nil
}
