package shmbuf_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// Raw stores into files of another user. /dev/shm is sticky: a user may
// write another user's 0666 file but not rename over it, so the value is
// written in place when that does not shrink the file, and refused when
// it would. Root replacing a user's file leaves it the user's.

func init() {
	// nobody-store stores each value of SHMBUF_VALUES ("|"-separated) at
	// SHMBUF_ADDR with StoreRaw (mode 0644 when it creates) and prints the
	// errors, "" for success, as a JSON list.
	childRoles["nobody-store"] = func() int {
		var errs []string
		for _, v := range strings.Split(os.Getenv("SHMBUF_VALUES"), "|") {
			errs = append(errs, errString(shmbuf.StoreRaw(os.Getenv("SHMBUF_ADDR"), []byte(v), 0o644)))
		}
		json.NewEncoder(os.Stdout).Encode(errs)
		return 0
	}
}

func storeAsNobody(t *testing.T, bin, addr string, values ...string) []string {
	t.Helper()
	cmd := exec.Command("setpriv", "--reuid="+nobody, "--regid="+nobody, "--clear-groups", bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=nobody-store", "SHMBUF_ADDR="+addr, "SHMBUF_VALUES="+strings.Join(values, "|"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child as nobody: %v", err)
	}
	var errs []string
	if err := json.Unmarshal(out, &errs); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	return errs
}

// fileOwner returns the owner, mode and content of path.
func fileOwner(t *testing.T, path string) (uid int, mode os.FileMode, content string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid), fi.Mode(), string(b)
}

func TestRaw_OtherUsersFile(t *testing.T) {
	testenv.Root(t, "to act as two users")
	testenv.Tool(t, "setpriv")
	bin := nobodyBinary(t)

	t.Run("nobody-writes-roots-0666", func(t *testing.T) {
		name := uniqueName(t)
		path := filepath.Join(shmbuf.ShmDir, name)
		t.Cleanup(func() { os.Remove(path) })
		const long = "root's value, twenty-nine b.."
		if err := shmbuf.StoreRaw(name, []byte(long), 0o666); err != nil {
			t.Fatal(err)
		}
		errs := storeAsNobody(t, bin, name, "short", strings.Repeat("L", 40), strings.Repeat("E", 40))
		if !strings.Contains(errs[0], "not replaced") || !strings.Contains(errs[0], "shrink") || !strings.Contains(errs[0], name) {
			t.Errorf("a shorter value into root's file in sticky /dev/shm: error %q, want a refusal naming the reason", errs[0])
		}
		t.Logf("refusal: %s", errs[0])
		if errs[1] != "" || errs[2] != "" {
			t.Errorf("longer and equal values: errors %q, %q; want none (written in place)", errs[1], errs[2])
		}
		uid, mode, content := fileOwner(t, path)
		if uid != 0 || mode != 0o666 || content != strings.Repeat("E", 40) {
			t.Fatalf("file: uid %d mode %v content %q", uid, mode, content)
		}
		r, err := shmbuf.OpenRaw(name)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if got := mustLoadRaw(t, r); string(got) != strings.Repeat("E", 40) {
			t.Fatalf("Load = %q", got)
		}
	})

	t.Run("root-writes-nobodys", func(t *testing.T) {
		name := uniqueName(t)
		path := filepath.Join(shmbuf.ShmDir, name)
		t.Cleanup(func() { os.Remove(path) })
		if errs := storeAsNobody(t, bin, name, "nobody's first value"); errs[0] != "" {
			t.Fatalf("nobody creating: %s", errs[0])
		}
		if err := shmbuf.StoreRaw(name, []byte("root"), 0); err != nil {
			t.Fatal(err)
		}
		uid, mode, content := fileOwner(t, path)
		if uid != 65534 || mode != 0o644 || content != "root" {
			t.Fatalf("after root's shorter value: uid %d mode %v content %q; want nobody's 0644 file holding %q", uid, mode, content, "root")
		}
		if k, err := kindAt(name); err != nil || k != shmbuf.KindRaw {
			t.Fatalf("kind = %v, %v: the kind mark was lost", k, err)
		}
		// nobody still owns it, so nobody can still replace it.
		if errs := storeAsNobody(t, bin, name, "n"); errs[0] != "" {
			t.Fatalf("nobody storing a shorter value into its own file: %s", errs[0])
		}
		if _, _, content := fileOwner(t, path); content != "n" {
			t.Fatalf("content %q", content)
		}
	})
}
