package main

import (
	"fmt"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

func newCreateCmd() *cobra.Command {
	var kindFlag, sizeFlag, modeFlag string
	var force bool
	cmd := &cobra.Command{
		Use:   "create ADDR --kind raw|snapshot|ring --size SIZE [--mode 0600] [--force]",
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
permissions (default 0600), whatever the umask.
` + sizeHelp + "\n" + addressHelp,
		Example: `  shmbuf create status --kind snapshot --size 4KiB
  shmbuf create frame --kind raw --size 4MiB --mode 0644
  shmbuf create sysv:0x1234 --kind raw --size 64KiB
  shmbuf create frames --kind ring --size 4MiB --readers 4 --policy overwrite
  shmbuf create status --kind snapshot --size 64KiB --force   # replace`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			// Everything is checked before anything is created.
			a, err := parseAddr(args[0])
			if err != nil {
				return err
			}
			kind, err := shmbuf.ParseKind(kindFlag)
			if err != nil {
				return err
			}
			size, err := shmbuf.ParseSize(sizeFlag)
			if err != nil {
				return &shmbuf.Error{Op: "create", Addr: a.String(), Err: fmt.Errorf("--size: %w", err)}
			}
			mode, err := parseMode(modeFlag)
			if err != nil {
				return err
			}
			if kind != shmbuf.KindRing {
				if err := checkNoRingFlags(cmd, a, kind); err != nil {
					return err
				}
			}
			opts := shmbuf.CreateOptions{Size: size, Mode: mode, Force: force}
			switch kind {
			case shmbuf.KindRaw:
				r, err := shmbuf.CreateRaw(a.String(), opts)
				if err != nil {
					return err
				}
				return r.Close()
			case shmbuf.KindSnapshot:
				s, err := shmbuf.CreateSnapshot(a.String(), opts)
				if err != nil {
					return err
				}
				return s.Close()
			case shmbuf.KindRing:
				return createRing(cmd, a, opts)
			}
			return usagef("shmbuf: create %s: unsupported kind %v", a, kind)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&kindFlag, "kind", "", "raw, snapshot or ring (required)")
	f.StringVar(&sizeFlag, "size", "", "region size (raw), largest value (snapshot) or data bytes (ring), e.g. 64KiB (required)")
	f.StringVar(&modeFlag, "mode", "0600", "permissions (octal)")
	f.BoolVar(&force, "force", false, "replace an existing segment")
	addRingCreateFlags(cmd)
	cmd.MarkFlagRequired("kind")
	cmd.MarkFlagRequired("size")
	return cmd
}
