package shmbuf

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sysvErr maps shmget/shmat/shmctl errors to the package's sentinels.
func sysvErr(op string, a Address, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EIDRM),
		a.ByID && errors.Is(err, unix.EINVAL):
		return wrapErr(op, a.String(), ErrNotExist, nil)
	case errors.Is(err, unix.EEXIST):
		return wrapErr(op, a.String(), ErrExist, nil)
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.ENOMEM):
		return wrapErr(op, a.String(), ErrNoSpace, err)
	case !a.ByID && errors.Is(err, unix.EINVAL):
		return wrapErr(op, a.String(), ErrInvalidSize, errors.New("size outside the kernel's SHMMIN..SHMMAX or larger than the existing segment"))
	}
	return wrapErr(op, a.String(), nil, err)
}

// sysvID resolves a to a segment id.
func sysvID(op string, a Address) (int, error) {
	if a.ByID {
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(a.ID, unix.IPC_STAT, &d); err != nil {
			return 0, sysvErr(op, a, err)
		}
		return a.ID, nil
	}
	id, err := unix.SysvShmGet(int(a.Key), 0, 0)
	if err != nil {
		return 0, sysvErr(op, a, err)
	}
	return id, nil
}

func createSysV(a Address, opts CreateOptions) (*Segment, error) {
	if a.ByID {
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
	id, err := unix.SysvShmGet(int(a.Key), int(opts.Size), flags)
	if errors.Is(err, unix.EEXIST) && opts.Force {
		if rerr := removeSysV(a); rerr != nil {
			return nil, rerr
		}
		id, err = unix.SysvShmGet(int(a.Key), int(opts.Size), flags)
	}
	if err != nil {
		return nil, sysvErr("create", a, err)
	}
	s, err := attachSysV(a, id, false)
	if err != nil {
		unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		return nil, err
	}
	s.building = &building{mode: opts.mode()}
	return s, nil
}

func openSysV(a Address, readOnly bool) (*Segment, error) {
	id, err := sysvID("open", a)
	if err != nil {
		return nil, err
	}
	if err := awaitSysV("open", a, id); err != nil {
		return nil, err
	}
	return attachSysV(a, id, readOnly)
}

func attachSysV(a Address, id int, readOnly bool) (*Segment, error) {
	flag := 0
	if readOnly {
		flag = unix.SHM_RDONLY
	}
	data, err := unix.SysvShmAttach(id, 0, flag)
	if err != nil {
		if lerr := mapLimitErr("attach", a, err); lerr != nil {
			return nil, lerr
		}
		return nil, sysvErr("attach", a, err)
	}
	return &Segment{addr: a, shmid: id, data: data, readOnly: readOnly}, nil
}

func removeSysV(a Address) error {
	id, err := sysvID("remove", a)
	if err != nil {
		return err
	}
	if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
		return sysvErr("remove", a, err)
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
		return nil, sysvErr("stat", a, err)
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
