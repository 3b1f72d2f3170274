package shmbuf

import "golang.org/x/sys/unix"

// Sync writes the ring's memory to the file behind it and waits until the
// storage has it (msync with MS_SYNC): every record published before Sync
// was called is then on disk whole, with the control words that find it,
// and survives a crash of the machine (until a writer reuses its space;
// a reader after the crash gets those records, and an ErrCorrupt at the
// first later one that did not reach the disk). It matters for a file: ring on a
// disk, which is a journal a later process can read back: without Sync
// the file holds, after a crash, only what the kernel happened to write
// back, page by page in no particular order. A posix ring (/dev/shm,
// tmpfs) and a System V ring live in memory and survive no reboot; Sync
// does nothing for them.
//
// Sync may be called from any goroutine, while writers write; records
// published after it began may or may not be included.
func (r *Ring) Sync() error {
	if err := r.hold("sync"); err != nil {
		return err
	}
	defer r.release()
	if r.seg.f == nil {
		return nil // System V: no file behind the memory
	}
	if err := unix.Msync(r.seg.data, unix.MS_SYNC); err != nil {
		return wrapErr("sync", r.addr, nil, err)
	}
	return nil
}
