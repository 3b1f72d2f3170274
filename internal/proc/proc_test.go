package proc_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/shmbuf/shmbuf/internal/proc"
)

func TestSelfAlive(t *testing.T) {
	s := proc.Self()
	if int(s.Pid) != os.Getpid() || s.Start == 0 {
		t.Fatalf("Self() = %+v", s)
	}
	if !proc.Alive(s) {
		t.Fatal("self reported dead")
	}
	if proc.Alive(proc.Identity{Pid: s.Pid, Start: s.Start + 1}) {
		t.Fatal("wrong start time reported alive (pid reuse not detected)")
	}
}

func TestDeadChild(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if proc.Alive(proc.Identity{Pid: int32(cmd.Process.Pid)}) {
		t.Fatalf("reaped child %d reported alive", cmd.Process.Pid)
	}
	if proc.Alive(proc.Identity{Pid: 0}) || proc.Alive(proc.Identity{Pid: -5}) {
		t.Fatal("invalid pid reported alive")
	}
}
