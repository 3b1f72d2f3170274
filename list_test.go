package shmbuf_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/shmbuf/shmbuf"
	"golang.org/x/sys/unix"
)

// TestList describes every kind of entry ls shows: segments of each kind,
// a plain file shmbuf did not make, a symbolic link (listed, not followed)
// and a System V segment, each with its JSON form.
func TestList(t *testing.T) {
	name := uniqueName(t)
	if err := shmbuf.StoreRaw(name+"-raw", []byte("hello\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shmbuf.Remove(name + "-raw") })
	s, err := shmbuf.CreateSnapshot(name+"-snap", shmbuf.CreateOptions{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	t.Cleanup(func() { shmbuf.Remove(name + "-snap") })
	r, err := shmbuf.CreateRing(name+"-ring", shmbuf.RingOptions{Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { shmbuf.Remove(name + "-ring") })
	plain := filepath.Join(shmbuf.ShmDir, name+"-plain")
	if err := os.WriteFile(plain, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(plain) })
	link := filepath.Join(shmbuf.ShmDir, name+"-link")
	if err := os.Symlink("/nonexistent/target", link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link) })
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })

	list, err := shmbuf.List()
	if err != nil {
		t.Fatal(err)
	}
	byAddr := map[string]shmbuf.SegmentInfo{}
	for _, info := range list {
		byAddr[info.Addr.String()] = info
	}
	for _, tt := range []struct {
		addr, kind, typ string
		mode            os.FileMode
	}{
		{"posix:" + name + "-raw", "raw", "file", 0o640},
		{"posix:" + name + "-snap", "snapshot", "file", 0o600},
		{"posix:" + name + "-ring", "ring", "file", 0o600},
		{"posix:" + name + "-plain", "unknown", "file", 0o600},
		{"posix:" + name + "-link", "unknown", "symlink", 0o777},
		{"sysv-id:" + strconv.Itoa(id), "unknown", "", 0o600},
	} {
		info, ok := byAddr[tt.addr]
		if !ok {
			t.Errorf("List has no %s", tt.addr)
			continue
		}
		if info.Kind.String() != tt.kind || info.Type != tt.typ || info.Mode != tt.mode || info.Owner == "" {
			t.Errorf("%s: kind %q type %q mode %o owner %q; want kind %q type %q mode %o and an owner",
				tt.addr, info.Kind, info.Type, info.Mode, info.Owner, tt.kind, tt.typ, tt.mode)
		}
	}
	if l := byAddr["posix:"+name+"-link"]; l.Target != "/nonexistent/target" {
		t.Errorf("symlink target %q", l.Target)
	}
	if v := byAddr["sysv-id:"+strconv.Itoa(id)]; v.ID != id || v.Size != 4096 || v.Attached < 0 || v.Removed { // attached: 0, or another process's ls
		t.Errorf("System V entry %+v", v)
	}

	// The JSON form: the documented field names, kind "unknown" for a
	// segment shmbuf did not mark, System V fields in their own object.
	check := func(addr string, want map[string]any) {
		t.Helper()
		b, err := json.Marshal(byAddr[addr])
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || (v != nil && !jsonEqual(g, v)) {
				t.Errorf("%s: JSON %s = %v, want %v (JSON %s)", addr, k, g, v, b)
			}
		}
	}
	check("posix:"+name+"-raw", map[string]any{
		"address": "posix:" + name + "-raw", "backend": "posix", "name": name + "-raw",
		"path": "/dev/shm/" + name + "-raw", "type": "file", "kind": "raw", "size": 6.0,
		"mode": "0640", "uid": nil, "owner": nil, "gid": nil, "group": nil, "modified": nil,
	})
	check("posix:"+name+"-plain", map[string]any{"kind": "unknown"})
	check("sysv-id:"+strconv.Itoa(id), map[string]any{
		"backend": "sysv", "kind": "unknown", "mode": "0600",
		"sysv": map[string]any{"id": float64(id), "key": "0x00000000", "attached": 0.0,
			"creator_pid": float64(os.Getpid()), "last_pid": nil, "removed": false},
	})
}

// TestStat_Removed reports a System V segment marked for removal that
// still has a process attached.
func TestStat_Removed(t *testing.T) {
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Fatal(err)
	}
	b, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		t.Fatal(err)
	}
	defer unix.SysvShmDetach(b)
	if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
		t.Fatal(err)
	}
	info, err := shmbuf.Stat("sysv-id:" + strconv.Itoa(id))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Removed || info.Type != "" || info.Owner == "" {
		t.Errorf("Stat of a removed segment: %+v", info)
	}
}

// jsonEqual compares decoded JSON values: objects member by member (nil
// in want: any value), everything else exactly.
func jsonEqual(got, want any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return got == want
	}
	g, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range w {
		gv, ok := g[k]
		if !ok || (v != nil && !jsonEqual(gv, v)) {
			return false
		}
	}
	return true
}
