package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

// lockingNone is what stat says about a System V raw segment.
const lockingNone = "none: System V has no file to lock"

// statOutput is `shmbuf stat --json`; the text form shows the same fields.
type statOutput struct {
	Address string `json:"address"`
	Backend string `json:"backend"`
	Path    string `json:"path,omitempty"`
	// Kind is raw, snapshot or ring; empty for a segment shmbuf did not
	// mark, which read and write treat as raw bytes.
	Kind     string     `json:"kind"`
	Size     int64      `json:"size"`
	Mode     string     `json:"mode"`
	UID      int        `json:"uid"`
	User     string     `json:"user"`
	GID      int        `json:"gid"`
	Group    string     `json:"group"`
	Modified *time.Time `json:"modified,omitempty"`
	Accessed *time.Time `json:"accessed,omitempty"`
	Changed  time.Time  `json:"changed"`

	SysV     *sysvStat     `json:"sysv,omitempty"`
	Raw      *rawStat      `json:"raw,omitempty"`
	Snapshot *snapshotStat `json:"snapshot,omitempty"`
	Ring     *ringStat     `json:"ring,omitempty"`
	// Problem is why the segment could not be opened as its kind (a
	// header of an unsupported version, say); the fields above are still
	// valid.
	Problem string `json:"problem,omitempty"`
}

type sysvStat struct {
	ID         int       `json:"id"`
	Key        string    `json:"key"`
	Attached   int       `json:"attached"`
	CreatorPid int       `json:"creator_pid"`
	LastPid    int       `json:"last_pid"`
	LastAttach time.Time `json:"last_attach"`
}

type rawStat struct {
	Fixed   bool   `json:"fixed"`
	Locking string `json:"locking"`
}

type snapshotStat struct {
	Capacity     int       `json:"capacity"`
	Generation   uint64    `json:"generation"`
	CreatorPid   int       `json:"creator_pid"`
	CreatorAlive bool      `json:"creator_alive"`
	Created      time.Time `json:"created"`
}

func newStatCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stat ADDR",
		Short: "Describe a segment: size, owner, mode, times, kind and its state",
		Long: `Describe the segment at ADDR: its size, owner, permissions and times; for
System V its id, key, attach count and the creator's and last attacher's
pids; its kind, and then

  raw       whether it is fixed-size or resizable, and how access is
            serialised (flock, or none on System V, which has no file)
  snapshot  capacity, generation (values published so far), creator pid
            and whether the creator is still running
  ring      capacity, largest record, policy, head and tail positions,
            fill, records and bytes written, overruns, whether the stream
            ended, and each writer and reader (pid, running or dead, a
            reader's cursor and lag behind the tail)

A segment shmbuf did not create (Python's, ipcmk's) shows kind "-": read
and write treat it as raw bytes. --json prints the same as one JSON object.
` + addressHelp,
		Example: `  shmbuf stat shared_buffer
  shmbuf stat --json status | jq .snapshot.generation
  shmbuf stat sysv-id:5`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			a, err := parseAddr(args[0])
			if err != nil {
				return err
			}
			st, err := statSegment(a)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return printStat(out, st)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func statSegment(a shmbuf.Address) (*statOutput, error) {
	info, err := shmbuf.StatSegment(a)
	if err != nil {
		return nil, err
	}
	st := &statOutput{
		Address: a.String(),
		Backend: a.Backend.String(),
		Path:    a.Path,
		Kind:    info.Kind,
		Size:    info.Size,
		Mode:    fmt.Sprintf("%04o", uint32(info.Mode.Perm())),
		UID:     info.UID,
		User:    userName(info.UID),
		GID:     info.GID,
		Group:   groupName(info.GID),
		Changed: info.ChangeTime,
	}
	if a.Backend == shmbuf.SysV {
		st.SysV = &sysvStat{
			ID:         info.ID,
			Key:        fmt.Sprintf("0x%08x", uint32(info.Key)),
			Attached:   info.Attached,
			CreatorPid: info.CreatorPid,
			LastPid:    info.LastPid,
			LastAttach: info.AccessTime,
		}
	} else {
		st.Modified, st.Accessed = &info.ModTime, &info.AccessTime
	}
	switch info.Kind {
	case "", "raw":
		r, err := shmbuf.OpenRawReadOnly(a.String())
		if err != nil {
			st.Problem = err.Error()
			break
		}
		st.Raw = &rawStat{Fixed: r.Fixed(), Locking: "flock"}
		if !info.Lockable {
			st.Raw.Locking = lockingNone
		}
		r.Close()
	case "snapshot":
		s, err := shmbuf.OpenSnapshot(a.String())
		if err != nil {
			st.Problem = err.Error()
			break
		}
		pid, alive, created := s.Creator()
		st.Snapshot = &snapshotStat{
			Capacity:     s.Capacity(),
			Generation:   s.Generation(),
			CreatorPid:   pid,
			CreatorAlive: alive,
			Created:      created,
		}
		s.Close()
	case "ring":
		d, err := ringDetails(a)
		if err != nil {
			st.Problem = err.Error()
		}
		st.Ring = d
	}
	return st, nil
}

func printStat(out io.Writer, st *statOutput) error {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...)
	}
	when := func(t time.Time) string {
		if t.Unix() == 0 {
			return "never"
		}
		return t.Format(time.RFC3339Nano)
	}
	row("address", "%s", st.Address)
	if st.Path != "" {
		row("path", "%s", st.Path)
	}
	if st.Kind == "" {
		row("kind", "- (not created by shmbuf: read and written as raw bytes)")
	} else {
		row("kind", "%s", st.Kind)
	}
	row("size", "%s", sizeText(int64(st.Size)))
	row("mode", "%s", st.Mode)
	row("owner", "%s (uid %d), group %s (gid %d)", st.User, st.UID, st.Group, st.GID)
	if st.Modified != nil {
		row("modified", "%s", when(*st.Modified))
		row("accessed", "%s", when(*st.Accessed))
	}
	row("changed", "%s", when(st.Changed))
	if v := st.SysV; v != nil {
		row("sysv id", "%d", v.ID)
		row("sysv key", "%s", v.Key)
		row("attached", "%d", v.Attached)
		row("creator pid", "%d", v.CreatorPid)
		row("last pid", "%d", v.LastPid)
		row("last attach", "%s", when(v.LastAttach))
	}
	if r := st.Raw; r != nil {
		if r.Fixed {
			row("raw", "fixed size: writes are zero-padded, larger ones refused")
		} else {
			row("raw", "resizable: the size is the content's size")
		}
		row("locking", "%s", r.Locking)
	}
	if s := st.Snapshot; s != nil {
		row("capacity", "%s", sizeText(int64(s.Capacity)))
		row("generation", "%d", s.Generation)
		alive := "exited"
		if s.CreatorAlive {
			alive = "running"
		}
		row("creator", "pid %d (%s)", s.CreatorPid, alive)
		row("created", "%s", when(s.Created))
	}
	if r := st.Ring; r != nil {
		printRingStat(row, r)
	}
	if st.Problem != "" {
		row("problem", "%s", st.Problem)
	}
	return tw.Flush()
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// sizeText renders a byte count, with its binary unit when it has one:
// "65536 (64KiB)".
func sizeText(n int64) string {
	if f := shmbuf.FormatSize(n); f != strconv.FormatInt(n, 10) {
		return strconv.FormatInt(n, 10) + " (" + f + ")"
	}
	return strconv.FormatInt(n, 10)
}
