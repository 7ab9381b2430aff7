package deadline

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	for _, d := range []time.Duration{0, 1, time.Second, Forever} {
		if err := Check("x", d); err != nil {
			t.Errorf("Check(%v) = %v", d, err)
		}
	}
	for _, d := range []time.Duration{-2, -time.Second} {
		err := Check("lock: Lock", d)
		if !errors.Is(err, ErrBadTimeout) || !strings.Contains(err.Error(), "lock: Lock") {
			t.Errorf("Check(%v) = %v", d, err)
		}
	}
}

func TestTimeoutMatches(t *testing.T) {
	err := Timeout("ring: Get", 250*time.Millisecond)
	for _, target := range []error{ErrTimeout, os.ErrDeadlineExceeded, context.DeadlineExceeded} {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = false", err, target)
		}
	}
	if got := err.Error(); got != "ring: Get: timed out after 250ms" {
		t.Errorf("message %q", got)
	}
	var te interface{ Timeout() bool }
	if !errors.As(err, &te) || !te.Timeout() {
		t.Error("no Timeout() == true")
	}
	if errors.Is(err, ErrBadTimeout) {
		t.Error("a timeout matches ErrBadTimeout")
	}
}

func TestD(t *testing.T) {
	d, err := New("op", nil, 0)
	if err != nil || !d.IsTry() {
		t.Fatalf("New(0) = %+v, %v", d, err)
	}
	if _, err := d.Left(-1); err != ErrTimeout {
		t.Errorf("try Left = %v", err)
	}
	if err := d.Err("op", ErrTimeout); err.Error() != "op: would block (timeout 0)" {
		t.Errorf("try Err = %v", err)
	}
	d, _ = New("op", nil, Forever)
	if l, err := d.Left(time.Second); err != nil || l != time.Second || !d.Forever() {
		t.Errorf("forever Left = %v, %v", l, err)
	}
	if _, err := New("op", nil, -5); !errors.Is(err, ErrBadTimeout) {
		t.Errorf("New(-5) = %v", err)
	}
	d, _ = New("op", nil, time.Hour)
	if l, err := d.Left(time.Millisecond); err != nil || l != time.Millisecond {
		t.Errorf("bounded Left = %v, %v", l, err)
	}
	d, _ = New("op", nil, time.Nanosecond)
	time.Sleep(time.Millisecond)
	if _, err := d.Left(-1); err != ErrTimeout {
		t.Errorf("expired Left = %v", err)
	}
	if err := d.Err("op", ErrTimeout); !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "1ns") {
		t.Errorf("expired Err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Ctx(ctx).Left(-1); err != context.Canceled {
		t.Errorf("cancelled Left = %v", err)
	}
}

func TestWaitChan(t *testing.T) {
	done := make(chan struct{})
	if err := WaitChan("x: Wait", done, 0); !errors.Is(err, ErrTimeout) {
		t.Errorf("open, 0 = %v", err)
	}
	if err := WaitChan("x: Wait", done, time.Millisecond); !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "x: Wait") {
		t.Errorf("open, 1ms = %v", err)
	}
	if err := WaitChan("x: Wait", done, -3); !errors.Is(err, ErrBadTimeout) {
		t.Errorf("bad timeout = %v", err)
	}
	go close(done)
	if err := WaitChan("x: Wait", done, Forever); err != nil {
		t.Errorf("closed, Forever = %v", err)
	}
	if err := WaitChan("x: Wait", done, 0); err != nil {
		t.Errorf("closed, 0 = %v", err)
	}
}
