package proc_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/shmbuf/shmbuf/internal/proc"
)

func TestSelfAlive(t *testing.T) {
	s := proc.Self()
	if int(s.Pid) != os.Getpid() || s.Start == 0 || s.NS == 0 {
		t.Fatalf("Self() = %+v", s)
	}
	if !proc.Alive(s) {
		t.Fatal("self reported dead")
	}
	if proc.Alive(proc.Identity{Pid: s.Pid, Start: s.Start + 1, NS: s.NS}) {
		t.Fatal("wrong start time reported alive (pid reuse not detected)")
	}
	// Another pid namespace, or none recorded: cannot tell, so alive.
	for _, ns := range []uint32{s.NS + 1, 0} {
		if !proc.Alive(proc.Identity{Pid: s.Pid, Start: s.Start + 1, NS: ns}) {
			t.Fatalf("a process of namespace %d judged dead by pid", ns)
		}
	}
}

func TestDeadChild(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ns := proc.Self().NS
	if proc.Alive(proc.Identity{Pid: int32(cmd.Process.Pid), NS: ns}) {
		t.Fatalf("reaped child %d reported alive", cmd.Process.Pid)
	}
	if proc.Alive(proc.Identity{Pid: 0, NS: ns}) || proc.Alive(proc.Identity{Pid: -5, NS: ns}) {
		t.Fatal("invalid pid reported alive")
	}
}
