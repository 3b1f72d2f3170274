package conformance_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// nobody is the uid and gid the observer runs as, with setpriv.
const nobody = "65534"

// asNobody returns the command that runs the C tool with args as user
// nobody (as root, with setpriv), or as ourselves when we are not root:
// the tool's observe opens the ring read-only either way.
func asNobody(t *testing.T, ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	dir := cBuild(t)
	tool := filepath.Join(dir, "shmbuf_tool")
	if os.Geteuid() != 0 {
		return exec.CommandContext(ctx, tool, args...)
	}
	setpriv := testenv.Tool(t, "setpriv")
	// The build directory is made 0700; nobody must reach the tool.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return exec.CommandContext(ctx, setpriv, append([]string{"--reuid=" + nobody, "--regid=" + nobody, "--clear-groups", tool}, args...)...)
}

// TestObserverCReadsGoWriterReadOnly: a Go writer writes into a ring of
// mode 0644; a C observer run as another user (nobody), who may only read
// it, reads it to the end of stream: every record it returns is intact and
// in order, and it counts exactly the records and bytes it missed, under
// both policies (under policy block a registered Go reader keeps the
// writer going, and the observer holds nobody back).
func TestObserverCReadsGoWriterReadOnly(t *testing.T) {
	t.Parallel()
	const count, maxlen = 3000, 300
	for _, policy := range []shmbuf.Policy{shmbuf.PolicyBlock, shmbuf.PolicyOverwrite} {
		t.Run(policy.String(), func(t *testing.T) {
			name := uniqueName(t, "observe")
			r, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: 8192, Policy: policy, Mode: 0o644})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			if os.Geteuid() == 0 {
				// Without write permission a reader cannot register.
				c := asNobody(t, ctx, "read", name, "timeout-ms=1000")
				out, err := c.CombinedOutput()
				if err == nil || !strings.Contains(strings.ToLower(string(out)), "permission denied") {
					t.Fatalf("a reader as nobody on a 0644 ring: %v, %q; want a permission error", err, out)
				}
			}
			ob := startCmd(t, "c observe (nobody)", asNobody(t, ctx, "observe", name, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=60000"), cancel)
			var rd *proc
			if policy == shmbuf.PolicyBlock {
				rd = langGo.start(t, "read", name, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=60000")
			}
			w := langGo.start(t, "write", name, "3", fmt.Sprint(count), fmt.Sprint(maxlen))
			w.wait()
			if rd != nil {
				if s := parseSummary(t, rd.line()); s.end != "eof" || s.records != count || s.lostRecords != 0 {
					t.Fatalf("the registered reader: %+v, want all %d records then eof", s, count)
				}
				rd.wait()
			}
			s := parseSummary(t, ob.line())
			ob.wait()
			if s.end != "eof" {
				t.Fatalf("the observer ended with %q, want eof: %+v", s.end, s)
			}
			var want uint64
			for k := uint32(0); k < count; k++ {
				want += patternLen(3, k, maxlen)
			}
			if s.records+s.lostRecords != count || s.bytes+s.lostBytes != want {
				t.Fatalf("the observer read %d records (%d bytes) and counted %d (%d bytes) lost, want %d (%d bytes) in all",
					s.records, s.bytes, s.lostRecords, s.lostBytes, count, want)
			}
			if s.records == 0 {
				t.Fatal("the observer read nothing")
			}
			t.Logf("%s: the observer read %d records and counted %d lost", policy, s.records, s.lostRecords)
		})
	}
}

// TestObserverPairs: an observer of each language counts exactly what it
// missed of a writer of another language, under both policies. A Go
// observer of a C writer needs the C writer to keep the (Head, records,
// bytes) triple under policy block too (format 3). A registered reader of
// the writer's language keeps the writer going under policy block.
// The C observer also runs under -fsanitize=address,undefined.
func TestObserverPairs(t *testing.T) {
	t.Parallel()
	// 1500 records lap the 8 KiB ring some thirty times (SHMBUF_LONG=1:
	// 3000).
	count, maxlen := testenv.ShortOrLong[uint64](1500, 3000), uint64(300)
	pairs := [][2]lang{{langC, langGo}, {langGo, langPython}, {langC, langPython}, {langPython, langC}, {langGo, langCASan}}
	for _, policy := range []string{"block", "overwrite"} {
		for _, pair := range pairs {
			wl, ol := pair[0], pair[1]
			t.Run(fmt.Sprintf("%s/%s-to-%s", policy, wl, ol), func(t *testing.T) {
				name := uniqueName(t, "observe-pair")
				wl.run(t, "create-ring", name, "8192", policy)
				ob := ol.start(t, "observe", name, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=60000")
				var rd *proc
				if policy == "block" {
					rd = wl.start(t, "read", name, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=60000")
				}
				w := wl.start(t, "write", name, "3", fmt.Sprint(count), fmt.Sprint(maxlen))
				w.wait()
				if rd != nil {
					if s := parseSummary(t, rd.line()); s.end != "eof" || s.records != count {
						t.Fatalf("the registered reader: %+v, want all %d records then eof", s, count)
					}
					rd.wait()
				}
				s := parseSummary(t, ob.line())
				ob.wait()
				var want uint64
				for k := range count {
					want += patternLen(3, uint32(k), maxlen)
				}
				if s.end != "eof" || s.records+s.lostRecords != count || s.bytes+s.lostBytes != want || s.records == 0 {
					t.Fatalf("the observer: %+v, want eof after %d records (%d bytes) read or counted lost", s, count, want)
				}
				t.Logf("the observer read %d records and counted %d lost", s.records, s.lostRecords)
			})
		}
	}
}
