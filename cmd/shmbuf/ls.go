package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// sysvTable is the kernel's list of System V segments, what ipcs -m reads.
const sysvTable = "/proc/sysvipc/shm"

// lsOutput is `shmbuf ls --json`.
type lsOutput struct {
	Posix []posixEntry `json:"posix"`
	SysV  []sysvEntry  `json:"sysv"`
}

// posixEntry is one entry of /dev/shm.
type posixEntry struct {
	Name string `json:"name"`
	// Type is file, symlink, dir, fifo, socket, device or other.
	Type   string `json:"type"`
	Target string `json:"target,omitempty"` // a symlink's target
	Size   int64  `json:"size"`
	Mode   string `json:"mode"`
	UID    int    `json:"uid"`
	Owner  string `json:"owner"`
	// Kind is raw, snapshot or ring for shmbuf segments, empty otherwise.
	Kind string `json:"kind"`
	// Stale is true for a snapshot or ring whose recorded processes are
	// all dead and that no live process maps or holds open (see rm --stale).
	Stale bool `json:"stale"`
}

// sysvEntry is one System V segment, with ipcs -m's columns.
type sysvEntry struct {
	Key        string `json:"key"`
	ShmID      int    `json:"shmid"`
	UID        int    `json:"uid"`
	Owner      string `json:"owner"`
	Perms      string `json:"perms"`
	Bytes      int64  `json:"bytes"`
	Nattch     int    `json:"nattch"`
	CreatorPid int    `json:"creator_pid"`
	LastPid    int    `json:"last_pid"`
	// Removed is true for a segment marked for removal that lives on
	// until its last process detaches (ipcs's "dest").
	Removed bool   `json:"removed"`
	Kind    string `json:"kind"`
	Stale   bool   `json:"stale"`
}

func newLsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List /dev/shm and System V segments, with the kind of shmbuf ones",
		Long: `List every entry of /dev/shm (name, type, size, mode, owner and, for
segments shmbuf created, the kind: raw, snapshot or ring; "-" for anything
else), then every System V segment as ipcs -m shows it (key, shmid, owner,
perms, bytes, nattch), with its kind. Symbolic links and other non-regular
entries are listed as such and not opened.

STATUS "stale" marks a snapshot or ring whose recorded processes (creator,
last writer, ring writers and readers, by pid and start time) are all dead
and that no live process maps, holds open or attaches: shmbuf rm --stale
removes exactly those. Raw segments record no process and are never
marked stale.

Finding a System V segment's kind attaches it read-only for a moment,
which updates its last-attach time and pid.`,
		Example: `  shmbuf ls
  shmbuf ls --json | jq '.posix[] | select(.kind == "snapshot") | .name'`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			posix, err := listPosix()
			if err != nil {
				return err
			}
			sysv, err := listSysV()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(lsOutput{Posix: posix, SysV: sysv})
			}
			return printLs(out, posix, sysv)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func listPosix() ([]posixEntry, error) {
	ents, err := os.ReadDir(shmbuf.ShmDir)
	if err != nil {
		return nil, &shmbuf.Error{Op: "list", Addr: shmbuf.ShmDir, Err: err}
	}
	list := make([]posixEntry, 0, len(ents))
	for _, de := range ents {
		name := de.Name()
		path := filepath.Join(shmbuf.ShmDir, name)
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			continue // removed while listing
		}
		e := posixEntry{
			Name:  name,
			Size:  st.Size,
			Mode:  fmt.Sprintf("%04o", st.Mode&0o7777),
			UID:   int(st.Uid),
			Owner: userName(int(st.Uid)),
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			e.Type = "file"
			a := shmbuf.Address{Backend: shmbuf.POSIX, Name: name, Path: path}
			if info, err := shmbuf.StatSegment(a); err == nil {
				e.Kind = info.Kind
				e.Stale = isStale(a, info.Kind)
			}
		case unix.S_IFLNK:
			e.Type = "symlink"
			e.Target, _ = os.Readlink(path)
		case unix.S_IFDIR:
			e.Type = "dir"
		case unix.S_IFIFO:
			e.Type = "fifo"
		case unix.S_IFSOCK:
			e.Type = "socket"
		case unix.S_IFCHR, unix.S_IFBLK:
			e.Type = "device"
		default:
			e.Type = "other"
		}
		list = append(list, e)
	}
	return list, nil
}

func listSysV() ([]sysvEntry, error) {
	b, err := os.ReadFile(sysvTable)
	if err != nil {
		return nil, &shmbuf.Error{Op: "list", Addr: sysvTable, Err: err}
	}
	return parseSysVTable(b)
}

// parseSysVTable reads /proc/sysvipc/shm by its header's column names, so
// that kernels that add columns still parse.
func parseSysVTable(b []byte) ([]sysvEntry, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() {
		return nil, nil
	}
	cols := strings.Fields(sc.Text())
	col := func(fields []string, name string) (string, bool) {
		i := slices.Index(cols, name)
		if i < 0 || i >= len(fields) {
			return "", false
		}
		return fields[i], true
	}
	num := func(fields []string, name string) int64 {
		s, _ := col(fields, name)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	var list []sysvEntry
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		permStr, ok := col(fields, "perms")
		if !ok {
			return nil, &shmbuf.Error{Op: "list", Addr: sysvTable, Err: fmt.Errorf("unexpected line %q", sc.Text())}
		}
		perms, _ := strconv.ParseUint(permStr, 8, 32)
		uid := int(num(fields, "uid"))
		e := sysvEntry{
			Key:        fmt.Sprintf("0x%08x", uint32(num(fields, "key"))),
			ShmID:      int(num(fields, "shmid")),
			UID:        uid,
			Owner:      userName(uid),
			Perms:      fmt.Sprintf("%o", perms&0o777),
			Bytes:      num(fields, "size"),
			Nattch:     int(num(fields, "nattch")),
			CreatorPid: int(num(fields, "cpid")),
			LastPid:    int(num(fields, "lpid")),
			Removed:    perms&0o1000 != 0, // SHM_DEST
		}
		a := shmbuf.Address{Backend: shmbuf.SysV, ID: e.ShmID, ByID: true}
		if info, err := shmbuf.StatSegment(a); err == nil {
			e.Kind = info.Kind
			e.Stale = isStale(a, info.Kind)
		}
		list = append(list, e)
	}
	return list, sc.Err()
}

// isStale reports whether a formatted segment is stale; a segment that
// cannot be inspected is not.
func isStale(a shmbuf.Address, kind string) bool {
	if kind != "snapshot" && kind != "ring" {
		return false
	}
	u, err := shmbuf.SegmentUsage(a)
	return err == nil && u.Stale()
}

func printLs(out io.Writer, posix []posixEntry, sysv []sysvEntry) error {
	var buf bytes.Buffer
	if err := printLsTable(&buf, posix, sysv); err != nil {
		return err
	}
	// An empty last column (STATUS) leaves padding: trim it.
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(out, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func printLsTable(out io.Writer, posix []posixEntry, sysv []sysvEntry) error {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\n", shmbuf.ShmDir)
	fmt.Fprintf(tw, "NAME\tTYPE\tKIND\tSIZE\tMODE\tOWNER\tSTATUS\n")
	for _, e := range posix {
		name := e.Name
		if e.Type == "symlink" {
			name += " -> " + e.Target
		}
		status := ""
		if e.Stale {
			status = "stale"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", name, e.Type, kindName(e.Kind), e.Size, e.Mode, e.Owner, status)
	}
	fmt.Fprintf(tw, "\nSystem V\n")
	fmt.Fprintf(tw, "KEY\tSHMID\tOWNER\tPERMS\tBYTES\tNATTCH\tKIND\tSTATUS\n")
	for _, e := range sysv {
		var status []string
		if e.Removed {
			status = append(status, "dest")
		}
		if e.Stale {
			status = append(status, "stale")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\n", e.Key, e.ShmID, e.Owner, e.Perms, e.Bytes, e.Nattch, kindName(e.Kind), strings.Join(status, ","))
	}
	return tw.Flush()
}
