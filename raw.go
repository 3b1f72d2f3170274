package shmbuf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"

	"github.com/shmbuf/shmbuf/internal/bytesize"
	"github.com/shmbuf/shmbuf/internal/layout"
	"golang.org/x/sys/unix"
)

// Raw is a segment of plain bytes with no header: what `cat
// /dev/shm/NAME` shows is exactly what was stored.
//
// On posix and file segments, Store takes an exclusive flock and Load a
// shared one, so a Load never sees half of a Store. System V segments have
// no file to lock: their Store and Load are unsynchronised copies, and a
// Load that races a Store may see a mix of both.
//
// A raw segment is resizable or fixed. Resizable ones (created by Store on
// a missing address) take the size of each value, so the file's size is
// its content's size. Store never shrinks one, since a process that has
// the file mapped would take SIGBUS past the new end: it writes the value
// into a new file and renames it over the old one, whose mappings keep the
// old content. Load reads the file the path names now. Where the writer
// may write the file but not replace it (another user's file in a sticky
// directory such as /dev/shm), a value at least as long as the current one
// is written in place and a shorter one is refused; the same holds when
// the file system has no room for the old value and the new one at once.
//
// Fixed ones (System V segments, raw segments made by CreateRaw, and files
// another program created, such as Python's multiprocessing.shared_memory)
// keep their size: values are written in place and padded with zeros, and
// a value larger than the region is refused with ErrTooLarge. Load returns
// a value exactly as stored, trailing NUL bytes included, from a
// resizable segment and from a fixed region made by CreateRaw (its length
// is recorded beside the file, see Exact); from a region another program
// made, or a System V one, it trims trailing NUL bytes, which it cannot
// tell from padding.
//
// On posix and file segments, an open Raw holds a shared lock on the
// file that `shmbuf ls` and `shmbuf rm --stale`, in any pid namespace,
// see as a user (locks are held on the file the Raw last used: a Store
// in another process that replaces the file moves this Raw's lock to
// the new one at its next call).
//
// A Raw's methods may be called from several goroutines at once.
type Raw struct {
	// mu orders this process's goroutines: flock is held per open file,
	// so it does not exclude two goroutines sharing one (one's unlock
	// would release the other's lock).
	mu    sync.Mutex
	addr  Address
	f     *os.File // posix and file: the file last found at the path
	seg   *segment // sysv
	fixed bool
	// marked is set for a fixed region made by CreateRaw, which keeps a
	// length mark (see raw_length.go).
	marked bool
	// readOnly is set by OpenRawReadOnly on posix and file segments (the
	// sysv mapping records it itself), so Store refuses before it locks.
	readOnly bool
}

// CreateRaw creates a fixed-size raw region of opts.Size zero bytes,
// holding an empty value.
func CreateRaw(addr string, opts CreateOptions) (*Raw, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	seg, err := newSegment(a, opts)
	if err != nil {
		return nil, err
	}
	if a.Backend() != SysV {
		// The marks go on before the file has a name, so that no opener
		// takes it for another program's region.
		fd := int(seg.f.Fd())
		if unix.Fsetxattr(fd, rawKindXattr, []byte(rawFixed), 0) == nil {
			setLengthMark(fd, nil)
		}
	}
	if err := seg.publish("create"); err != nil {
		return nil, err
	}
	if a.Backend() == SysV {
		return &Raw{addr: a, seg: seg, fixed: true}, nil
	}
	// The file stays open for locking; the mapping is not needed.
	f := seg.f
	seg.f = nil
	seg.Close()
	r := &Raw{addr: a, f: f}
	if err := r.classify(); err != nil {
		f.Close()
		return nil, err
	}
	r.fixed = true // even where the file system refused the marks
	return r, nil
}

// OpenRaw opens an existing segment as raw bytes. A shmbuf snapshot or ring
// is refused with ErrWrongKind: writing raw bytes over it would destroy its
// header.
func OpenRaw(addr string) (*Raw, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	return openRaw(a, false)
}

// OpenRawReadOnly opens an existing segment as raw bytes for Load only,
// which is all a reader of another user's 0644 segment is allowed.
func OpenRawReadOnly(addr string) (*Raw, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	return openRaw(a, true)
}

func openRaw(a Address, readOnly bool) (*Raw, error) {
	if a.Backend() == SysV {
		seg, err := openSegment(a, readOnly)
		if err != nil {
			return nil, err
		}
		if k := layout.KindOf(seg.data); k != 0 {
			seg.Close()
			return nil, wrapErr("open", a.String(), ErrWrongKind, fmt.Errorf("segment is a %v, not raw", formattedKind(k)))
		}
		return &Raw{addr: a, seg: seg, fixed: true}, nil
	}
	flags := unix.O_RDWR
	if readOnly {
		flags = unix.O_RDONLY
	}
	f, err := openNoFollow("open", a, flags)
	if err != nil {
		return nil, err
	}
	r := &Raw{addr: a, f: f, readOnly: readOnly}
	if err := r.classify(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// classify refuses formatted segments and decides whether the file r.f
// is fixed-size, from the mark shmbuf leaves on the raw files it creates.
// It then takes the users' shared lock on r.f, which tells stale
// detection in any pid namespace that the segment is in use.
func (r *Raw) classify() error {
	fd := int(r.f.Fd())
	var head [layout.HeaderSize]byte
	if _, err := unix.Pread(fd, head[:], 0); err != nil {
		return wrapErr("open", r.addr.String(), nil, err)
	}
	if k := layout.KindOf(head[:]); k != 0 {
		return wrapErr("open", r.addr.String(), ErrWrongKind, fmt.Errorf("segment is a %v, not raw", formattedKind(k)))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return wrapErr("open", r.addr.String(), nil, err)
	}
	r.marked = false
	switch mark, xerr := rawMark(fd); {
	case mark == rawResizable:
		r.fixed = false
	case mark == rawFixed:
		r.fixed, r.marked = true, true
	default:
		// Another program's region: keep its size unless it is empty, or
		// the file system cannot hold marks at all (then it is an ordinary
		// file, resizable like any).
		r.fixed = st.Size > 0 && !errors.Is(xerr, unix.EOPNOTSUPP)
	}
	if _, err := ofdTryLock(r.f, layout.LockUsers, lockShared); err != nil {
		return sysErr(onFile, "open", r.addr, err)
	}
	return nil
}

func formattedKind(k uint32) Kind {
	switch k {
	case layout.KindSnapshot:
		return KindSnapshot
	case layout.KindRing:
		return KindRing
	}
	return KindUnknown
}

// maxRawLoad is the largest raw segment Load reads into memory.
const maxRawLoad = 1 << 30

// StoreRaw replaces the content of the raw segment at addr with p. When
// none exists, it creates a resizable raw segment holding p (mode 0600, or
// mode), which appears at addr only with p in it; if another process
// creates a segment there first, p is stored into that one as raw bytes
// (a snapshot or ring there gives ErrWrongKind).
func StoreRaw(addr string, p []byte, mode os.FileMode) error {
	a, err := ParseAddress(addr)
	if err != nil {
		return err
	}
	r, err := openRaw(a, false)
	if errors.Is(err, ErrNotExist) && a.Backend() != SysV {
		err = createRawValue(a, p, mode)
		if !errors.Is(err, ErrExist) {
			return err
		}
		r, err = openRaw(a, false) // lost a race with another creator
	}
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Store(p)
}

// createRawValue creates a resizable raw segment holding p at a, failing
// with ErrExist if anything is there.
func createRawValue(a Address, p []byte, mode os.FileMode) error {
	if err := occupied("create", a, false); err != nil {
		return err
	}
	u, err := newUnnamed("create", a, CreateOptions{Mode: mode}.mode())
	if err != nil {
		return err
	}
	defer u.f.Close()
	unix.Fsetxattr(int(u.f.Fd()), rawKindXattr, []byte(rawResizable), 0)
	if err := writeNew("create", a, u.f, p); err != nil {
		u.discard()
		return err
	}
	return u.link("create", a, false)
}

// writeNew writes p into the new, empty file f. Space need not be
// reserved first: the file has no name yet, so a full file system
// (ErrNoSpace) changes nothing anyone sees.
func writeNew(op string, a Address, f *os.File, p []byte) error {
	if err := pwriteAll(int(f.Fd()), p, 0); err != nil {
		return sysErr(onFile, op, a, err)
	}
	return nil
}

// Addr returns the segment's address.
func (r *Raw) Addr() Address { return r.addr }

// Fixed reports whether the segment keeps its size (see Raw).
func (r *Raw) Fixed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fixed
}

// Store replaces the segment's content with p. Readers using Load see the
// old content or the new, never a mix (except on System V, see Raw).
func (r *Raw) Store(p []byte) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seg != nil {
		return r.storeMapped(p)
	}
	if r.f == nil {
		return wrapErr("write", r.addr.String(), ErrClosed, nil)
	}
	if r.readOnly {
		return wrapErr("write", r.addr.String(), ErrReadOnly, nil)
	}
	if err := r.lockCurrent("write", unix.LOCK_EX); err != nil {
		return err
	}
	locked := r.f
	defer func() {
		lockFile(locked, unix.LOCK_UN)
		if locked != r.f {
			locked.Close() // replaced: no longer at the path
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(int(locked.Fd()), &st); err != nil {
		return wrapErr("write", r.addr.String(), nil, err)
	}
	n := int64(len(p))
	if r.fixed {
		if n > st.Size {
			return wrapErr("write", r.addr.String(), ErrTooLarge,
				fmt.Errorf("%d bytes into a fixed region of %d", n, st.Size))
		}
		return r.writeInPlace(p, st.Size)
	}
	nf, err := r.replace(p, &st)
	if err == nil {
		r.f = nf // this handle goes on with the file now at the path
		return nil
	}
	// The file cannot be replaced: this process may not, or there is no
	// room for the old value and the new one at once. Then a value at
	// least as long is written in place (no mapping minds a file that
	// grows), and a shorter one, which would shrink it, is refused.
	var denied *noReplaceError
	full := errors.Is(err, ErrNoSpace)
	switch {
	case !full && !errors.As(err, &denied):
		return err
	case n >= st.Size:
		return r.writeInPlace(p, st.Size)
	case full:
		return wrapErr("write", r.addr.String(), ErrNoSpace, fmt.Errorf(
			"replacing the %d-byte value with %d bytes needs room for both, and writing in place would shrink the file under processes that may have it mapped",
			st.Size, n))
	}
	return wrapErr("write", r.addr.String(), nil, fmt.Errorf(
		"%d bytes refused: the %d-byte file (owner uid %d) may be written but not replaced here (%w), and writing it in place would shrink it under processes that may have it mapped",
		n, st.Size, st.Uid, denied.cause))
}

// writeInPlace rewrites the locked file with p: zero-padded to size when
// the file is fixed, growing it when p is longer (a resizable file is
// written in place only when it cannot be replaced, and never shrunk).
func (r *Raw) writeInPlace(p []byte, size int64) error {
	fd := int(r.f.Fd())
	n := int64(len(p))
	// The dirty mark brackets the rewrite. flock dies with its holder, so
	// a writer killed half-way would otherwise hand the next reader half
	// a value; with the mark still set, Load reports ErrInterrupted
	// instead, until the next Store completes. File systems without
	// extended attributes go unprotected.
	marked := unix.Fsetxattr(fd, rawDirtyXattr, []byte{1}, 0) == nil
	// Reserve the space without changing the file's size (KEEP_SIZE): on a
	// full file system this fails before the content changes, and
	// afterwards the write cannot run out of space.
	if n > size {
		err := retryEINTR0(func() error { return unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 0, n) })
		if err != nil && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
			if marked {
				unix.Fremovexattr(fd, rawDirtyXattr) // nothing was changed
			}
			return sysErr(onFile, "write", r.addr, err)
		}
	}
	if r.marked {
		// Gone before the content changes: a mark that failed to follow
		// it must not describe a prefix of the new value.
		if err := clearLengthMark(fd); err != nil {
			return wrapErr("write", r.addr.String(), nil, err)
		}
	}
	if err := pwriteAll(fd, p, 0); err != nil {
		return sysErr(onFile, "write", r.addr, err)
	}
	if err := r.zero(fd, n, size); err != nil {
		return err
	}
	if r.marked {
		// Without it (an attribute the file system refused), Load trims.
		setLengthMark(fd, p)
	}
	if marked {
		if err := unix.Fremovexattr(fd, rawDirtyXattr); err != nil {
			return wrapErr("write", r.addr.String(), nil, err)
		}
	}
	return nil
}

// zero clears [from, to) of the file: the padding after a shorter value.
func (r *Raw) zero(fd int, from, to int64) error {
	var zeros [32 << 10]byte
	for off := from; off < to; {
		chunk := min(to-off, int64(len(zeros)))
		if err := pwriteAll(fd, zeros[:chunk], off); err != nil {
			return sysErr(onFile, "write", r.addr, err)
		}
		off += chunk
	}
	return nil
}

func (r *Raw) storeMapped(p []byte) (err error) {
	data := r.seg.data
	if r.seg.readOnly {
		return wrapErr("write", r.addr.String(), ErrReadOnly, nil)
	}
	if len(p) > len(data) {
		return wrapErr("write", r.addr.String(), ErrTooLarge,
			fmt.Errorf("%d bytes into a fixed region of %d", len(p), len(data)))
	}
	defer faultGuard(&err, "write", r.addr.String(), nil, nil, debug.SetPanicOnFault(true))
	copy(data, p)
	clear(data[len(p):])
	return nil
}

// Load returns a copy of the segment's value: exactly the bytes stored,
// or, from a region of another program or a System V one, its content
// with trailing NUL bytes trimmed (see Raw and Exact). It reads the file
// at the segment's path now, which a Store in another process may have
// replaced since the last Load; a path that holds nothing any more gives
// ErrNotExist.
func (r *Raw) Load() (v []byte, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seg != nil {
		defer faultGuard(&err, "read", r.addr.String(), nil, nil, debug.SetPanicOnFault(true))
		return bytes.TrimRight(bytes.Clone(r.seg.data), "\x00"), nil
	}
	if r.f == nil {
		return nil, wrapErr("read", r.addr.String(), ErrClosed, nil)
	}
	if err := r.lockCurrent("read", unix.LOCK_SH); err != nil {
		return nil, err
	}
	defer lockFile(r.f, unix.LOCK_UN)
	fd := int(r.f.Fd())
	var mark [1]byte
	if _, err := unix.Fgetxattr(fd, rawDirtyXattr, mark[:]); err == nil {
		return nil, wrapErr("read", r.addr.String(), ErrInterrupted, nil)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, wrapErr("read", r.addr.String(), nil, err)
	}
	// The size comes from the file, which anyone with write access can
	// make huge and sparse: refuse rather than let the allocation kill the
	// process.
	if st.Size > maxRawLoad {
		return nil, wrapErr("read", r.addr.String(), ErrTooLarge,
			fmt.Errorf("%s raw segment, Load reads at most %s", bytesize.Format(st.Size), bytesize.Format(maxRawLoad)))
	}
	buf := make([]byte, st.Size)
	n, err := preadFull(fd, buf, 0)
	if err != nil {
		return nil, sysErr(onFile, "read", r.addr, err)
	}
	buf = buf[:n]
	if !r.fixed {
		return buf, nil
	}
	if r.marked {
		if n, sum, ok := readLengthMark(fd); ok {
			if v, ok := markedValue(buf, n, sum); ok {
				return v, nil
			}
		}
	}
	return bytes.TrimRight(buf, "\x00"), nil
}

// Exact reports whether Load returns the value exactly as it was stored,
// trailing NUL bytes included: true for a resizable segment, whose size
// is its value's, and for a fixed region made by CreateRaw whose content
// is still what its last Store wrote (the length mark matches); false
// when Load trims trailing NUL bytes, which it cannot tell from padding:
// a fixed region another program made (Python's shared_memory, ipcmk), a
// System V region, or a region of shmbuf's that another program has
// written since. It reads the segment under the same lock as Load.
func (r *Raw) Exact() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seg != nil {
		return false, nil
	}
	if r.f == nil {
		return false, wrapErr("stat", r.addr.String(), ErrClosed, nil)
	}
	if err := r.lockCurrent("stat", unix.LOCK_SH); err != nil {
		return false, err
	}
	defer lockFile(r.f, unix.LOCK_UN)
	if !r.fixed {
		return true, nil
	}
	if !r.marked {
		return false, nil
	}
	fd := int(r.f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, wrapErr("stat", r.addr.String(), nil, err)
	}
	ok, err := matchesMark(fd, st.Size)
	if err != nil {
		return false, sysErr(onFile, "stat", r.addr, err)
	}
	return ok, nil
}

// Close releases the segment.
func (r *Raw) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seg != nil {
		err := r.seg.Close()
		r.seg = nil
		return err
	}
	if r.f != nil {
		err := r.f.Close()
		r.f = nil
		return err
	}
	return nil
}

func pwriteAll(fd int, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := unix.Pwrite(fd, p, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// preadFull reads len(p) bytes at off, fewer only at the end of the
// file.
func preadFull(fd int, p []byte, off int64) (int, error) {
	total := 0
	for total < len(p) {
		n, err := unix.Pread(fd, p[total:], off+int64(total))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, err
		}
		if n == 0 {
			break // the file shrank: only a writer without our lock does that
		}
		total += n
	}
	return total, nil
}
