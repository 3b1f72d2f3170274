package bridge_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"
)

// child is a bridge in a process of its own.
type child struct {
	t   *testing.T
	cfg childConfig
	cmd *exec.Cmd
}

func startChild(t *testing.T, cfg childConfig) *child {
	c := &child{t: t, cfg: cfg}
	c.start()
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *child) start() {
	b, _ := json.Marshal(c.cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=bridge", "SHMBUF_BRIDGE_CONFIG="+string(b))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.cmd = cmd
}

func (c *child) kill() {
	if c.cmd != nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		c.cmd = nil
	}
}

// TestBridge_KillNine kills either JetStream bridge with SIGKILL at
// random moments mid-stream and starts it again with the same arguments
// (20 trials; 500 under SHMBUF_LONG): ring B receives every record
// exactly once, in each writer's order.
func TestBridge_KillNine(t *testing.T) {
	trials := 20
	l := load{writers: 2, per: 10000, max: 1024}
	if long() {
		trials = 500
		l.per = 200000
	}
	ns := startServer(t)
	a, b := ringName(t, "a"), ringName(t, "b")
	createRing(t, a, 256<<10)
	createRing(t, b, 256<<10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	col := collect(t, ctx, b, l, true)
	url := ns.url("kill.data")
	in := startChild(t, childConfig{Ring: b, URL: url, Stream: "KILL", Durable: "kill"})
	out := startChild(t, childConfig{Out: true, Ring: a, URL: url, Stream: "KILL"})
	produced := make(chan struct{})
	go func() { defer close(produced); produce(t, a, l) }()
	for i := 0; i < trials; i++ {
		time.Sleep(time.Duration(10+rand.IntN(100)) * time.Millisecond)
		victim := in
		if rand.IntN(2) == 0 {
			victim = out
		}
		victim.kill()
		time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		victim.start()
	}
	t.Logf("%d kills done at %d of %d records", trials, col.count(), l.total())
	<-produced
	if !col.wait(l.total(), 2*time.Minute) {
		t.Errorf("ring B got %d of %d records", col.count(), l.total())
	}
	time.Sleep(200 * time.Millisecond) // nothing more may come
	cancel()
	<-col.done
	col.check(t)
	if got := col.count(); got != l.total() {
		t.Errorf("ring B got %d records, want %d", got, l.total())
	}
}
