package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// createOptions is `shmbuf create`.
type createOptions struct {
	io    *streams
	flags *pflag.FlagSet
	target

	kindText, sizeText, modeText    string
	policyText, readersText, maxRec string
	force                           bool

	addr shmbuf.Address
	spec segmentSpec
}

func newCreateCmd(s *streams) *cobra.Command {
	o := &createOptions{io: s, target: target{op: "create"}}
	cmd := &cobra.Command{
		Use:   "create ADDR --kind KIND --size SIZE [flags]",
		Short: "Create a segment of a given kind and size",
		Long: `Create the segment at ADDR. Its space is reserved now, so a full /dev/shm
fails here with "no space" instead of crashing a writer later.

  --kind raw       a fixed-size region of SIZE zero bytes: writes are padded
                   with zeros, a value larger than SIZE is refused
  --kind snapshot  a latest-value segment holding values of up to SIZE bytes
  --kind ring      a stream of records with SIZE bytes of data (rounded up
                   to a power of two, at least 256); --readers sets how many
                   readers may attach at once, --policy what writers do
                   when it is full: wait for the slowest reader (block, the
                   default: nothing is lost) or overwrite the oldest records
                   (readers that fall behind are told how much they lost);
                   --max-record the largest record (default a quarter of
                   SIZE, at most 16MiB)

An existing segment is refused unless --force replaces it; a symbolic link
at the path is refused even then. The new segment gets exactly --mode
permissions (default 0600), whatever the umask. A new System V segment's
id is printed as ipcmk prints it: "Shared memory id: ID".
` + sizeHelp + "\n" + addressHelp,
		Example: `  shmbuf create status --kind snapshot --size 4KiB
  shmbuf create frame --kind raw --size 4MiB --mode 0644
  shmbuf create sysv:0x1234 --kind raw --size 64KiB
  shmbuf create frames --kind ring --size 4MiB --readers 4 --policy overwrite
  shmbuf create status --kind snapshot --size 64KiB --force   # replace`,
		Args: oneAddr,
		RunE: runE(o),
	}
	f := cmd.Flags()
	o.flags = f
	f.StringVar(&o.kindText, "kind", "", "raw, snapshot or ring (required)")
	f.StringVar(&o.sizeText, "size", "", "raw: the region's size; snapshot: the largest value; ring: data bytes (required)")
	f.StringVar(&o.modeText, "mode", "0600", "permissions (octal)")
	f.BoolVar(&o.force, "force", false, "replace an existing segment")
	textVar(f, &o.readersText, "readers", "int", "0", "ring: reader slots, how many readers attach at once (0: 16)")
	f.StringVar(&o.policyText, "policy", "block", "ring: when full, writers wait for the slowest reader (block) or overwrite the oldest records (overwrite)")
	f.StringVar(&o.maxRec, "max-record", "", "ring: the largest record, e.g. 4KiB (default: a quarter of --size, at most 16MiB)")
	kindChoice.complete(cmd)
	policyChoice.complete(cmd)
	return cmd
}

// ringCreateFlags are create's flags that only a ring takes.
var ringCreateFlags = []string{"readers", "policy", "max-record"}

// validate checks everything before anything is created.
func (o *createOptions) validate(args []string) error {
	a, err := parseAddr(o.op, args[0])
	if err != nil {
		return err
	}
	o.addr, o.target.addr = a, a.String()
	if o.kindText == "" {
		return o.usagef("--kind is required: %s", kindChoice.want())
	}
	if o.spec.kind, err = parseKind(kindChoice, o.kindText); err != nil {
		return o.fail(err)
	}
	if o.sizeText == "" {
		return o.usagef("--size is required: %s", sizeWant)
	}
	if o.spec.size, err = parseSize("size", o.sizeText); err != nil {
		return o.fail(err)
	}
	if o.spec.mode, err = parseMode(o.modeText); err != nil {
		return o.fail(err)
	}
	o.spec.force = o.force
	if o.spec.kind != shmbuf.KindRing {
		for _, name := range ringCreateFlags {
			if o.flags.Changed(name) {
				return o.usagef("--%s applies only to --kind ring, not %v", name, o.spec.kind)
			}
		}
		return nil
	}
	if o.spec.readers, err = parseCount("readers", o.readersText, "the default, 16"); err != nil {
		return o.fail(err)
	}
	if o.spec.policy, err = parsePolicy(o.policyText); err != nil {
		return o.fail(err)
	}
	if o.maxRec != "" {
		n, err := parseSize("max-record", o.maxRec)
		if err != nil {
			return o.fail(err)
		}
		if n > o.spec.size {
			return o.fail(&flagError{"max-record", o.maxRec, shmbuf.ErrInvalidSize,
				"at most --size, " + humanSize(o.spec.size)})
		}
		o.spec.maxRecord = int(n)
	}
	return nil
}

func (o *createOptions) run(context.Context) error {
	c, err := o.spec.create(o.addr, o.io.out)
	if err != nil {
		return o.fail(err)
	}
	return o.fail(c.Close())
}

// segmentSpec is a segment to create: by create, and by write when the
// segment it writes is missing.
type segmentSpec struct {
	kind  shmbuf.Kind
	size  int64 // raw: the region; snapshot: the largest value; ring: data bytes
	mode  os.FileMode
	force bool
	// A ring's options.
	readers, maxRecord int
	policy             shmbuf.Policy
}

// created is the segment create made, open as its kind: one field is set.
type created struct {
	raw  *shmbuf.Raw
	snap *shmbuf.Snapshot
	ring *shmbuf.Ring
}

func (c *created) Close() error {
	switch {
	case c.raw != nil:
		return c.raw.Close()
	case c.snap != nil:
		return c.snap.Close()
	case c.ring != nil:
		return c.ring.Close()
	}
	return nil
}

// create makes the segment at a. A new System V segment's id is printed
// on out as ipcmk prints it, since its key alone may not find it again
// (a private key, or a key reused once it is removed).
func (s segmentSpec) create(a shmbuf.Address, out io.Writer) (*created, error) {
	opts := shmbuf.CreateOptions{Size: s.size, Mode: s.mode, Force: s.force}
	c := &created{}
	var err error
	switch s.kind {
	case shmbuf.KindRaw:
		c.raw, err = shmbuf.CreateRaw(a.String(), opts)
	case shmbuf.KindSnapshot:
		c.snap, err = shmbuf.CreateSnapshot(a.String(), opts)
	case shmbuf.KindRing:
		c.ring, err = shmbuf.CreateRing(a.String(), shmbuf.RingOptions{
			Size: s.size, MaxRecord: s.maxRecord, Readers: s.readers,
			Policy: s.policy, Mode: s.mode, Force: s.force,
		})
	default:
		err = fmt.Errorf("%w: cannot create kind %v", shmbuf.ErrInvalidArgument, s.kind)
	}
	if err != nil {
		return nil, err
	}
	if a.Backend() == shmbuf.SysV {
		info, err := shmbuf.Stat(a.String())
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		fmt.Fprintf(out, "Shared memory id: %d\n", info.ID)
	}
	return c, nil
}
