package conformance_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// TestAddressesAgree parses the address fuzz corpus (testdata/fuzz) and
// more with the C library, under the sanitizers, and with Go: both must
// accept the same addresses, on the same backend.
func TestAddressesAgree(t *testing.T) {
	t.Parallel()
	tool := cBuildASan(t)
	seeds, err := filepath.Glob(filepath.Join(root(t), "testdata", "fuzz", "FuzzParseAddress", "*"))
	if err != nil || len(seeds) == 0 {
		t.Fatalf("no address corpus: %v", err)
	}
	var addrs []string
	for _, f := range seeds {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if q, ok := strings.CutPrefix(line, "string("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				addrs = append(addrs, s)
			}
		}
	}
	addrs = append(addrs, "posix:/frames", "posix:", "posix:.", "posix:..", "posix:a:b", strings.Repeat("n", 255),
		strings.Repeat("n", 256), "file:", "file:/", "file:rel/seg", "file:/var/tmp/..", "file:/a/b/", "file:..", "file:a/../../x", "file:/a/./b//c/",
		"file://", "file:/..", "file:a/..", "file:./x", "file:/a/b/../..",
		"sysv:0", "sysv:-1", "sysv:0xffffffff", "sysv:0x100000000", "sysv:-2147483649", "sysv:12x", "sysv:",
		"sysv-id:", "sysv-id:-1", "sysv-id:98307", "sysv-id:0x10", "nope:x", ":x")
	var args []string
	for _, a := range addrs {
		if !strings.ContainsRune(a, 0) { // a C argument cannot hold NUL
			args = append(args, a)
		}
	}
	cmd := exec.Command(tool, append([]string{"parse"}, args...)...)
	cmd.Env = append(os.Environ(), sanitizerEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("shmbuf_tool_asan parse: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	if len(got) != len(args) {
		t.Fatalf("%d answers for %d addresses:\n%s", len(got), len(args), out)
	}
	for i, a := range args {
		want := "0"
		if p, err := shmbuf.ParseAddress(a); err == nil {
			want = strconv.Itoa(int(p.Backend()))
		}
		if got[i] != want {
			t.Errorf("address %q: C says backend %s, Go %s (0: invalid)", a, got[i], want)
		}
	}
}
