package shmbuf

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sysvID resolves a to a segment id.
func sysvID(op string, a Address) (int, error) {
	if a.byID {
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(a.ID(), unix.IPC_STAT, &d); err != nil {
			return 0, sysErr(onShmid, op, a, err)
		}
		return a.ID(), nil
	}
	id, err := unix.SysvShmGet(int(a.Key()), 0, 0)
	if err != nil {
		return 0, sysErr(onShmget, op, a, err)
	}
	return id, nil
}

func createSysV(a Address, opts CreateOptions) (*segment, error) {
	if a.byID {
		return nil, wrapErr("create", a.String(), ErrInvalidAddress, errors.New("a sysv-id: names an existing segment; create with sysv:KEY"))
	}
	if int64(int(opts.Size)) != opts.Size {
		return nil, wrapErr("create", a.String(), ErrInvalidSize, nil)
	}
	if opts.mode().Perm() == sysvBuildingMode {
		return nil, wrapErr("create", a.String(), ErrInvalidArgument,
			fmt.Errorf("mode %04o marks System V segments being created; ask for another", sysvBuildingMode))
	}
	// The segment is created marked as being built; publish gives it the
	// requested mode once the kind has formatted it.
	flags := unix.IPC_CREAT | unix.IPC_EXCL | sysvBuildingMode
	id, err := unix.SysvShmGet(int(a.Key()), int(opts.Size), flags)
	if errors.Is(err, unix.EEXIST) && opts.Force {
		if rerr := removeSysV(a); rerr != nil {
			return nil, rerr
		}
		id, err = unix.SysvShmGet(int(a.Key()), int(opts.Size), flags)
	}
	if err != nil {
		return nil, sysErr(onShmget, "create", a, err)
	}
	s, err := attachSysV(a, id, false)
	if err != nil {
		unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		return nil, err
	}
	s.building = &building{mode: opts.mode()}
	return s, nil
}

func openSysV(a Address, readOnly bool) (*segment, error) {
	id, err := sysvID("open", a)
	if err != nil {
		return nil, err
	}
	if err := awaitSysV("open", a, id); err != nil {
		return nil, err
	}
	return attachSysV(a, id, readOnly)
}

func attachSysV(a Address, id int, readOnly bool) (*segment, error) {
	flag := 0
	if readOnly {
		flag = unix.SHM_RDONLY
	}
	data, err := unix.SysvShmAttach(id, 0, flag)
	if err != nil {
		return nil, sysErr(onShmat, "attach", a, err)
	}
	return &segment{addr: a, shmid: id, data: data, readOnly: readOnly}, nil
}

func removeSysV(a Address) error {
	id, err := sysvID("remove", a)
	if err != nil {
		return err
	}
	if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
		return sysErr(onShmid, "remove", a, err)
	}
	return nil
}

func statSysV(a Address) (*SegmentInfo, error) {
	id, err := sysvID("stat", a)
	if err != nil {
		return nil, err
	}
	if err := awaitSysV("stat", a, id); err != nil {
		return nil, err
	}
	var d unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err != nil {
		return nil, sysErr(onShmid, "stat", a, err)
	}
	return &SegmentInfo{
		Addr:       a,
		Size:       int64(d.Segsz),
		Mode:       os.FileMode(d.Perm.Mode & 0o777),
		UID:        int(d.Perm.Uid),
		GID:        int(d.Perm.Gid),
		ModTime:    time.Unix(d.Ctime, 0),
		AccessTime: time.Unix(d.Atime, 0),
		ChangeTime: time.Unix(d.Ctime, 0),
		Attached:   int(d.Nattch),
		ID:         id,
		Key:        d.Perm.Key,
		CreatorPid: int(d.Cpid),
		LastPid:    int(d.Lpid),
		Removed:    d.Perm.Mode&shmDest != 0,
	}, nil
}
