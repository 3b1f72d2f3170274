package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

// lsOptions is `shmbuf ls`.
type lsOptions struct {
	io *streams
	target
	asJSON, exact bool
}

func newLsCmd(s *streams) *cobra.Command {
	o := &lsOptions{io: s, target: target{op: "ls"}}
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List /dev/shm and System V segments, with the kind of shmbuf ones",
		Long: `List every entry of /dev/shm, then every System V segment, with the fields
stat shows under the same names (see docs/JSON.md):

  /dev/shm  NAME, TYPE (file; symlink, dir, fifo, socket, device or other
            for entries that are not segments, listed but never opened or
            followed), KIND, SIZE, MODE, OWNER
  System V  KEY, ID, KIND, SIZE, MODE, OWNER, ATTACHED, as ipcs -m shows
            them

then WRITTEN, how long ago the segment was last written (45s, 3m12s, 2h,
3d4h), and IN_USE, whether anyone uses it (yes or no; - where it could not
be inspected). KIND is raw, snapshot or ring for segments shmbuf made,
unknown for others (read and written as raw bytes). READERS and WRITERS
show a ring's attached readers and writers out of its slots, 1/16. Names
with spaces, quotes or control characters are quoted as GNU ls quotes
them. Sizes are shown for people (64KiB, 1.5MiB); --bytes shows them
exact.

STATUS "stale" marks what shmbuf rm --stale removes (see below), and
"removed" a System V segment removed while still attached (ipcs's
"dest"), freed when its last process detaches.

` + staleHelp + `

--json prints {"segments": [...]}, one object per entry, with the fields
of stat --json (a ring's with its "ring" object), sizes in bytes, and
"written" as a time.

Finding a System V segment's kind attaches it read-only for a moment,
which updates its last-attach time and pid.`,
		Example: `  shmbuf ls
  shmbuf ls --json | jq -r '.segments[] | select(.kind == "snapshot") | .name'`,
		Args: noArgs,
		RunE: runE(o),
	}
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print one JSON object (docs/JSON.md)")
	cmd.Flags().BoolVar(&o.exact, "bytes", false, "show sizes in bytes, not 64KiB or 1.5MiB")
	return cmd
}

func (o *lsOptions) validate([]string) error { return nil }

// lsEntry is what ls adds to a SegmentInfo, as stat does (see details):
// its Usage (nil for an entry that is not a segment or could not be
// inspected) and a ring's Stat.
type lsEntry struct {
	usage *shmbuf.Usage
	Stale bool             `json:"stale"`
	Ring  *shmbuf.RingStat `json:"ring,omitempty"`
}

func (o *lsOptions) run(context.Context) error {
	list, err := shmbuf.List()
	if err != nil {
		return o.fail(err)
	}
	extra := make([]lsEntry, len(list))
	usages := shmbuf.Usages(list)
	for i := range list {
		info := &list[i]
		if info.Type != "file" && info.Addr.Backend() != shmbuf.SysV {
			continue // not a segment
		}
		extra[i].usage, extra[i].Stale = usages[i], isStale(usages[i])
		if info.Kind == shmbuf.KindRing {
			extra[i].Ring, _ = ringStat(info.Addr)
		}
	}
	if o.asJSON {
		return o.fail(printLsJSON(o.io.out, list, extra))
	}
	return o.fail(printLs(o.io.out, list, extra, sizeFormat(o.exact)))
}

func printLsJSON(out io.Writer, list []shmbuf.SegmentInfo, extra []lsEntry) error {
	doc := struct {
		Segments []json.RawMessage `json:"segments"`
	}{Segments: []json.RawMessage{}}
	for i := range list {
		b, err := mergeJSON(segmentJSON(list[i], extra[i].usage, extra[i])...)
		if err != nil {
			return err
		}
		doc.Segments = append(doc.Segments, b)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func printLs(out io.Writer, list []shmbuf.SegmentInfo, extra []lsEntry, f sizeFormat) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\n", shmbuf.ShmDir)
	fmt.Fprintf(tw, "NAME\tTYPE\tKIND\tSIZE\tMODE\tOWNER\tWRITTEN\tIN_USE\tREADERS\tWRITERS\tSTATUS\n")
	for i, info := range list {
		if info.Addr.Backend() == shmbuf.SysV {
			continue
		}
		name := quoteName(info.Addr.Name())
		if info.Type == "symlink" {
			name += " -> " + quoteName(info.Target)
		}
		e := extra[i]
		readers, writers := ringSlots(e.Ring)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%04o\t%s\t%s\t%s\t%s\t%s\t%s\n", name, info.Type, info.Kind,
			f.size(info.Size), uint32(info.Mode.Perm()), info.Owner, ago(lastWrite(e.usage)), inUse(e.usage),
			readers, writers, status(&info, e))
	}
	fmt.Fprintf(tw, "\nSystem V\n")
	fmt.Fprintf(tw, "KEY\tID\tKIND\tSIZE\tMODE\tOWNER\tATTACHED\tWRITTEN\tIN_USE\tREADERS\tWRITERS\tSTATUS\n")
	for i, info := range list {
		if info.Addr.Backend() != shmbuf.SysV {
			continue
		}
		e := extra[i]
		readers, writers := ringSlots(e.Ring)
		fmt.Fprintf(tw, "0x%08x\t%d\t%s\t%s\t%04o\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", uint32(info.Key), info.ID, info.Kind,
			f.size(info.Size), uint32(info.Mode.Perm()), info.Owner, info.Attached, ago(lastWrite(e.usage)), inUse(e.usage),
			readers, writers, status(&info, e))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return trimTable(out, buf.String())
}

// ringSlots renders a ring's READERS and WRITERS columns: "-" for
// anything else.
func ringSlots(r *shmbuf.RingStat) (readers, writers string) {
	if r == nil {
		return "-", "-"
	}
	return slots(len(r.Readers), r.ReaderSlots), slots(len(r.Writers), r.WriterSlots)
}

// status renders the STATUS column: "removed" and "stale", or nothing.
func status(info *shmbuf.SegmentInfo, e lsEntry) string {
	var s []string
	if info.Removed {
		s = append(s, "removed")
	}
	if e.Stale {
		s = append(s, "stale")
	}
	return strings.Join(s, ",")
}
