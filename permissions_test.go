package shmbuf_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// The permission suite runs as root and re-executes the test binary as
// the unprivileged user nobody (uid and gid 65534) through setpriv, which
// then tries every operation on segments root created.

const nobody = "65534"

func init() {
	childRoles["as-nobody"] = asNobody
}

// nobodyResult is what the unprivileged child reports for one address.
type nobodyResult struct {
	Read                         string // content read, or "" on error
	ReadErr, WriteErr, RemoveErr string
}

// asNobody tries to read, write and remove the address in SHMBUF_ADDR and
// prints a nobodyResult as JSON.
func asNobody() int {
	addr := os.Getenv("SHMBUF_ADDR")
	var res nobodyResult
	switch os.Getenv("SHMBUF_KIND") {
	case "snapshot":
		if s, err := shmbuf.OpenSnapshot(addr); err != nil {
			res.ReadErr = err.Error()
			res.WriteErr = err.Error()
		} else {
			v, _, err := s.Load(nil)
			res.Read, res.ReadErr = string(v), errString(err)
			res.WriteErr = errString(s.Publish([]byte("owned by nobody")))
			s.Close()
		}
	default:
		if r, err := shmbuf.OpenRawReadOnly(addr); err != nil {
			res.ReadErr = err.Error()
		} else {
			v, err := r.Load()
			res.Read, res.ReadErr = string(v), errString(err)
			r.Close()
		}
		if r, err := shmbuf.OpenRaw(addr); err != nil {
			res.WriteErr = err.Error()
		} else {
			res.WriteErr = errString(r.Store([]byte("owned by nobody")))
			r.Close()
		}
	}
	res.RemoveErr = errString(shmbuf.Remove(addr))
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// nobodyBinary copies the test binary to a directory nobody may enter:
// go test builds it under a 0700 directory.
func nobodyBinary(t *testing.T) string {
	t.Helper()
	testenv.Root(t, "to act as nobody")
	testenv.Tool(t, "setpriv")
	dir, err := os.MkdirTemp("", "shmbuf-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, "shmbuf.test")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

func runAsNobody(t *testing.T, bin, addr, kind string) nobodyResult {
	t.Helper()
	cmd := exec.Command("setpriv", "--reuid="+nobody, "--regid="+nobody, "--clear-groups",
		bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=as-nobody", "SHMBUF_ADDR="+addr, "SHMBUF_KIND="+kind)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child as nobody: %v", err)
	}
	var res nobodyResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	return res
}

func TestPermissions_DefaultModeKeepsOthersOut(t *testing.T) {
	bin := nobodyBinary(t)
	for _, c := range permCases(t) {
		t.Run(c.name, func(t *testing.T) {
			addr := c.make(t, 0)
			info, err := shmbuf.Stat(addr)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode.Perm() != 0o600 {
				t.Fatalf("default mode %v, want 0600", info.Mode)
			}
			res := runAsNobody(t, bin, addr, c.kind)
			if res.Read != "" || res.ReadErr == "" {
				t.Errorf("nobody read a 0600 segment: %q (err %q)", res.Read, res.ReadErr)
			}
			if res.WriteErr == "" {
				t.Error("nobody wrote a 0600 segment")
			}
			if res.RemoveErr == "" {
				t.Error("nobody removed a 0600 segment")
			}
			if got := c.load(t, addr); got != "secret" {
				t.Errorf("content after nobody's attempts = %q, want %q", got, "secret")
			}
		})
	}
}

func TestPermissions_Mode0644LetsOthersRead(t *testing.T) {
	bin := nobodyBinary(t)
	for _, c := range permCases(t) {
		t.Run(c.name, func(t *testing.T) {
			addr := c.make(t, 0o644)
			res := runAsNobody(t, bin, addr, c.kind)
			if res.Read != "secret" || res.ReadErr != "" {
				t.Errorf("nobody read %q (err %q), want %q", res.Read, res.ReadErr, "secret")
			}
			if res.WriteErr == "" {
				t.Error("nobody wrote a 0644 segment")
			}
			if res.RemoveErr == "" {
				t.Error("nobody removed a 0644 segment")
			}
			if got := c.load(t, addr); got != "secret" {
				t.Errorf("content after nobody's attempts = %q, want %q", got, "secret")
			}
		})
	}
}

type permCase struct {
	name, kind string
	make       func(t *testing.T, mode os.FileMode) string
	load       func(t *testing.T, addr string) string
}

func permCases(t *testing.T) []permCase {
	loadRaw := func(t *testing.T, addr string) string {
		r, err := shmbuf.OpenRaw(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		v, err := r.Load()
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	return []permCase{
		{"posix-raw", "raw", func(t *testing.T, mode os.FileMode) string {
			addr := uniqueName(t)
			t.Cleanup(func() { shmbuf.Remove(addr) })
			if err := shmbuf.StoreRaw(addr, []byte("secret"), mode); err != nil {
				t.Fatal(err)
			}
			return addr
		}, loadRaw},
		{"posix-snapshot", "snapshot", func(t *testing.T, mode os.FileMode) string {
			addr := uniqueName(t)
			t.Cleanup(func() { shmbuf.Remove(addr) })
			s, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: 64, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Publish([]byte("secret")); err != nil {
				t.Fatal(err)
			}
			return addr
		}, func(t *testing.T, addr string) string {
			s, err := shmbuf.OpenSnapshot(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			v, _, err := s.Load(nil)
			if err != nil {
				t.Fatal(err)
			}
			return string(v)
		}},
		{"sysv-raw", "raw", func(t *testing.T, mode os.FileMode) string {
			addr, r := createSysVRaw(t, mode)
			defer r.Close()
			if err := r.Store([]byte("secret")); err != nil {
				t.Fatal(err)
			}
			return addr
		}, loadRaw},
	}
}

// createSysVRaw creates a 4 KiB System V raw region under a random key and
// removes it when the test ends.
func createSysVRaw(t *testing.T, mode os.FileMode) (string, *shmbuf.Raw) {
	t.Helper()
	for range 20 {
		addr := fmt.Sprintf("sysv:0x%08x", 0x5b000000|rand.Uint32N(1<<24))
		r, err := shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: 4096, Mode: mode})
		if errors.Is(err, shmbuf.ErrExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { shmbuf.Remove(addr) })
		return addr, r
	}
	t.Fatal("no free System V key after 20 tries")
	return "", nil
}
