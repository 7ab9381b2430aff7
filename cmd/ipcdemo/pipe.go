package main

import (
	"fmt"
	"time"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
)

func init() {
	register(30, "pipe", "two-way connections with Pipe", runPipe)
}

// Targets of the pipe demo, run in child processes.
var (
	_ = proc.Register(pipeSendList)
	_ = proc.Register(pipeReply)
)

func pipeSendList(conn *ring.Conn) error {
	if err := ring.Send(conn, []any{42, nil, "hello"}); err != nil {
		return err
	}
	return conn.Close()
}

func pipeReply(conn *ring.Conn) error {
	msg, err := ring.Recv[string](conn)
	if err != nil {
		return err
	}
	fmt.Printf("child received: %s\n", ringRepr(msg))
	return ring.Send(conn, "reply to "+msg)
}

func runPipe() error {
	// 1. parent_conn, child_conn = Pipe(); the child sends a list and closes its end.
	parentConn, childConn, err := ring.Pipe(true, nil)
	if err != nil {
		return err
	}
	defer parentConn.Free()
	defer childConn.Free()
	p, err := proc.Start(pipeSendList, childConn)
	if err != nil {
		return err
	}
	if ok, err := parentConn.Poll(10 * time.Second); err != nil || !ok {
		return fmt.Errorf("nothing from the child: %v", err)
	}
	v, err := ring.Recv[[]any](parentConn)
	if err != nil {
		return err
	}
	fmt.Println(ringRepr(v))
	if err := p.WaitTimeout(10 * time.Second); err != nil {
		return err
	}

	// 2. Duplex: the parent sends, the child replies on the same connection.
	a, b, err := ring.Pipe(true, nil)
	if err != nil {
		return err
	}
	defer a.Free()
	defer b.Free()
	p, err = proc.Start(pipeReply, b)
	if err != nil {
		return err
	}
	if err := ring.Send(a, "hello from the parent"); err != nil {
		return err
	}
	reply, err := ring.Recv[string](a)
	if err != nil {
		return err
	}
	fmt.Printf("parent received: %s\n", ringRepr(reply))
	return p.WaitTimeout(10 * time.Second)
}
