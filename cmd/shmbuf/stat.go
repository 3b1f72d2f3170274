package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

// lockingNone is what stat says about a System V raw segment.
const lockingNone = "none: System V has no file to lock"

// statOptions is `shmbuf stat`.
type statOptions struct {
	io *streams
	target
	asJSON, exact bool

	addr shmbuf.Address
}

func newStatCmd(s *streams) *cobra.Command {
	o := &statOptions{io: s, target: target{op: "stat"}}
	cmd := &cobra.Command{
		Use:   "stat ADDR",
		Short: "Describe a segment: size, owner, mode, times, kind and its state",
		Long: `Describe the segment at ADDR, one field per line, named as in --json (see
docs/JSON.md): its address, size, mode, owner and times; for System V
its id, key, attach count and the creator's and last attacher's pids; its
kind (raw, snapshot, ring, or unknown for a segment shmbuf did not make,
which read and write treat as raw bytes); when it was last written and
whether anyone uses it, and so whether it is stale (see ls); and then

  raw       whether it is fixed-size or resizable; whether read returns
            the value exactly as written (value exact: a segment sized
            to its value, or a fixed region shmbuf made, which records
            the value's length) or with trailing NUL bytes trimmed
            (value trimmed: another program's region, or System V); and
            how access is serialised (flock, or none on System V, which
            has no file)
  snapshot  capacity, generation (values published so far), creator pid
            and whether the creator is still running
  ring      capacity, largest record, policy, positions (head: the
            oldest record held; read_mark: how far records were read;
            tail), fill (bytes held), records and bytes written,
            overruns, whether the stream ended, and each writer and
            reader with its slot (attached of all slots), pid, whether
            it is alive, a reader's cursor and lag behind the tail

Sizes are shown for people (64KiB, 1.5MiB); --bytes shows them exact.
--json prints the same fields as one JSON object, sizes in bytes.
` + addressHelp,
		Example: `  shmbuf stat shared_buffer
  shmbuf stat --json status | jq .snapshot.generation
  shmbuf stat --bytes sysv-id:5`,
		Args: oneAddr,
		RunE: runE(o),
	}
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print one JSON object (docs/JSON.md)")
	cmd.Flags().BoolVar(&o.exact, "bytes", false, "show sizes in bytes, not 64KiB or 1.5MiB")
	return cmd
}

func (o *statOptions) validate(args []string) error {
	a, err := parseAddr(o.op, args[0])
	if err != nil {
		return err
	}
	o.addr, o.target.addr = a, a.String()
	return nil
}

func (o *statOptions) run(context.Context) error {
	info, err := shmbuf.Stat(o.addr.String())
	if err != nil {
		return o.fail(err)
	}
	d := describe(o.addr, info)
	if o.asJSON {
		return o.fail(writeJSON(o.io.out, segmentJSON(*info, d.usage, d)...))
	}
	return o.fail(printStat(o.io.out, info, d, sizeFormat(o.exact)))
}

// details is what stat adds to a segment's SegmentInfo: its Usage (nil
// when it could not be inspected), then the JSON members that follow the
// SegmentInfo's and the Usage's in the one object stat --json prints.
type details struct {
	usage    *shmbuf.Usage
	Stale    bool             `json:"stale"`
	Raw      *rawStat         `json:"raw,omitempty"`
	Snapshot *snapshotStat    `json:"snapshot,omitempty"`
	Ring     *shmbuf.RingStat `json:"ring,omitempty"`
	// Problem is why the segment could not be opened as its kind (a
	// header of an unsupported version, say); the fields above are still
	// valid.
	Problem string `json:"problem,omitempty"`
}

type rawStat struct {
	Fixed   bool   `json:"fixed"`
	Value   string `json:"value"` // valueExact or valueTrimmed
	Locking string `json:"locking"`
}

// The rules by which read finds a raw segment's value (rawStat.Value).
const (
	valueExact   = "exact"
	valueTrimmed = "trimmed"
)

type snapshotStat struct {
	Capacity     int       `json:"capacity"`
	Generation   uint64    `json:"generation"`
	CreatorPid   int       `json:"creator_pid"`
	CreatorAlive bool      `json:"creator_alive"`
	Created      time.Time `json:"created"`
}

// describe opens the segment as its kind for the details.
func describe(a shmbuf.Address, info *shmbuf.SegmentInfo) *details {
	d := &details{}
	d.usage = shmbuf.Usages([]shmbuf.SegmentInfo{*info})[0]
	d.Stale = isStale(d.usage)
	problem := func(err error) { d.Problem = causeOf(err, a.String()) }
	switch info.Kind {
	case shmbuf.KindUnknown, shmbuf.KindRaw:
		r, err := shmbuf.OpenRawReadOnly(a.String())
		if err != nil {
			problem(err)
			break
		}
		fixed := r.Fixed()
		exact, err := r.Exact()
		r.Close()
		if err != nil {
			problem(err)
			break
		}
		d.Raw = &rawStat{Fixed: fixed, Value: valueTrimmed, Locking: "flock"}
		if exact {
			d.Raw.Value = valueExact
		}
		if !info.Lockable {
			d.Raw.Locking = lockingNone
		}
	case shmbuf.KindSnapshot:
		s, err := shmbuf.OpenSnapshot(a.String())
		if err != nil {
			problem(err)
			break
		}
		pid, alive, created := s.Creator()
		d.Snapshot = &snapshotStat{
			Capacity:     s.Capacity(),
			Generation:   s.Generation(),
			CreatorPid:   pid,
			CreatorAlive: alive,
			Created:      created,
		}
		s.Close()
	case shmbuf.KindRing:
		st, err := ringStat(a)
		if err != nil {
			problem(err)
			break
		}
		d.Ring = st
	}
	return d
}

// ringStat opens the ring at a for its Stat.
func ringStat(a shmbuf.Address) (*shmbuf.RingStat, error) {
	r, err := shmbuf.OpenRing(a.String())
	if err != nil {
		return nil, err
	}
	defer r.Close()
	st, err := r.Stat()
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// printStat prints stat's text form: one "name value" row per field of
// the JSON form, with the same names.
func printStat(out io.Writer, info *shmbuf.SegmentInfo, d *details, f sizeFormat) error {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...)
	}
	a := info.Addr
	row("address", "%s", quoteName(a.String()))
	row("backend", "%s", a.Backend())
	if a.Backend() == shmbuf.POSIX {
		row("name", "%s", quoteName(a.Name()))
	}
	if a.Path() != "" {
		row("path", "%s", quoteName(a.Path()))
		row("type", "%s", info.Type)
	}
	row("kind", "%s", info.Kind)
	row("size", "%s", f.size(info.Size))
	row("mode", "%04o", uint32(info.Mode.Perm()))
	row("uid", "%d", info.UID)
	row("owner", "%s", info.Owner)
	row("gid", "%d", info.GID)
	row("group", "%s", info.Group)
	if a.Backend() != shmbuf.SysV {
		row("modified", "%s", when(info.ModTime))
	}
	row("accessed", "%s", when(info.AccessTime))
	row("changed", "%s", when(info.ChangeTime))
	if a.Backend() == shmbuf.SysV {
		row("id", "%d", info.ID)
		row("key", "0x%08x", uint32(info.Key))
		row("attached", "%d", info.Attached)
		row("creator_pid", "%d", info.CreatorPid)
		row("last_pid", "%d", info.LastPid)
		row("removed", "%t", info.Removed)
	}
	if u := d.usage; u != nil {
		if !u.LastWrite.IsZero() {
			row("written", "%s", when(u.LastWrite))
		}
		row("in_use", "%t", u.InUse())
	}
	row("stale", "%t", d.Stale)
	if r := d.Raw; r != nil {
		if r.Fixed {
			row("fixed", "true (writes are zero-padded, larger ones refused)")
		} else {
			row("fixed", "false (resizable: the size is the content's size)")
		}
		if r.Value == valueExact {
			row("value", "exact (read returns the bytes written, trailing NULs included)")
		} else {
			row("value", "trimmed (read drops trailing NUL bytes: they may be padding)")
		}
		row("locking", "%s", r.Locking)
	}
	if s := d.Snapshot; s != nil {
		row("capacity", "%s", f.size(int64(s.Capacity)))
		row("generation", "%d", s.Generation)
		row("creator_pid", "%d", s.CreatorPid)
		row("creator_alive", "%t", s.CreatorAlive)
		row("created", "%s", when(s.Created))
	}
	if r := d.Ring; r != nil {
		printRingStat(row, r, f)
	}
	if d.Problem != "" {
		row("problem", "%s", d.Problem)
	}
	return tw.Flush()
}

// printRingStat adds the ring's rows to stat's text output.
func printRingStat(row func(k, format string, args ...any), r *shmbuf.RingStat, f sizeFormat) {
	row("capacity", "%s", f.size(int64(r.Capacity)))
	row("max_record", "%s", f.size(int64(r.MaxRecord)))
	row("policy", "%s", r.Policy)
	row("head", "%d", r.Head)
	row("read_mark", "%d", r.ReadMark)
	row("tail", "%d", r.Tail)
	row("fill", "%d", r.Fill)
	row("records", "%d", r.Records)
	row("bytes", "%d", r.Bytes)
	row("overruns", "%d", r.Overruns)
	if r.Ended != "" { // as in the JSON: no row while the stream is open
		row("ended", "%s", r.Ended)
		row("end_pos", "%d", r.EndPos)
	}
	row("writers", "%s", slots(len(r.Writers), r.WriterSlots))
	for _, p := range r.Writers {
		row("", "slot=%d pid=%d alive=%t records=%d bytes=%d", p.Slot, p.Pid, p.Alive, p.Records, p.Bytes)
	}
	row("readers", "%s", slots(len(r.Readers), r.ReaderSlots))
	for _, p := range r.Readers {
		row("", "slot=%d pid=%d alive=%t cursor=%d lag=%d", p.Slot, p.Pid, p.Alive, p.Cursor, p.Lag)
	}
}

// slots renders n of total slots taken: "1/16".
func slots(n, total int) string {
	return strconv.Itoa(n) + "/" + strconv.Itoa(total)
}

// trimTable removes the padding tabwriter leaves after an empty last
// column.
func trimTable(out io.Writer, table string) error {
	for line := range strings.Lines(table) {
		if _, err := io.WriteString(out, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}
