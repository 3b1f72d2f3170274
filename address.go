package shmbuf

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultName is the segment used when no address is given: the file
// /dev/shm/shared_buffer of the classic exercise.
const DefaultName = "shared_buffer"

// ShmDir is where POSIX shared memory lives on Linux: shm_open(NAME) opens
// ShmDir/NAME.
const ShmDir = "/dev/shm"

// maxNameLen is NAME_MAX, the longest file name /dev/shm accepts.
const maxNameLen = 255

// Backend says which kernel mechanism holds a segment.
type Backend int

const (
	// POSIX is a file in /dev/shm, what shm_open creates.
	POSIX Backend = iota + 1
	// File is a regular file anywhere, memory-mapped.
	File
	// SysV is a System V shared-memory segment (shmget/shmat).
	SysV
)

func (b Backend) String() string {
	switch b {
	case POSIX:
		return "posix"
	case File:
		return "file"
	case SysV:
		return "sysv"
	}
	return "backend(" + strconv.Itoa(int(b)) + ")"
}

// Address names a segment: posix:NAME, file:PATH, sysv:KEY or sysv-id:ID.
// Build one with ParseAddress or the constructor of its form; every
// Address they return is valid, and the zero Address names nothing.
// Addresses are comparable: two are == when they are the same form naming
// the same segment, and ParseAddress(a.String()) == a.
type Address struct {
	backend Backend
	name    string // posix: the /dev/shm file name
	path    string // posix and file: the file's path
	key     int32  // sysv: the key
	id      int    // sysv-id: the segment id
	byID    bool   // sysv-id: rather than sysv:
}

// PosixAddress is the address posix:NAME, the file /dev/shm/NAME. It
// fails with ErrInvalidName unless name is a valid file name: not empty,
// not "." or "..", no '/' or NUL, at most 255 bytes. Unlike ParseAddress,
// it takes any such name, one holding a ':' included.
func PosixAddress(name string) (Address, error) {
	if strings.HasPrefix(name, "/") { // which ParseAddress would drop
		return Address{}, wrapErr("parse address", strconv.Quote(name), ErrInvalidName, errors.New("name contains '/'"))
	}
	return ParseAddress("posix:" + name)
}

// FileAddress is the address file:PATH, the regular file at path
// (cleaned, as filepath.Clean does). It fails with ErrInvalidAddress for
// a path that names no file ("", "/", ".", "..") or holds a NUL.
func FileAddress(path string) (Address, error) { return ParseAddress("file:" + path) }

// SysVKeyAddress is the address sysv:KEY, the System V segment with that
// key. Key 0 is IPC_PRIVATE, which names no segment: it fails with
// ErrInvalidAddress (name a private segment by its id).
func SysVKeyAddress(key int32) (Address, error) {
	return ParseAddress("sysv:" + strconv.Itoa(int(key)))
}

// SysVIDAddress is the address sysv-id:ID, the System V segment with that
// id. A negative id fails with ErrInvalidAddress.
func SysVIDAddress(id int) (Address, error) { return ParseAddress("sysv-id:" + strconv.Itoa(id)) }

// ParseAddress parses NAME, posix:NAME, file:PATH, sysv:KEY (decimal or 0x
// hex, a 32-bit value) or sysv-id:ID. An empty string means DefaultName.
// posix:/NAME is posix:NAME, the form shm_open takes: one leading slash.
func ParseAddress(s string) (Address, error) {
	if s == "" {
		s = DefaultName
	}
	bad := func(sentinel error, why string) (Address, error) {
		return Address{}, wrapErr("parse address", strconv.Quote(s), sentinel, errors.New(why))
	}
	scheme, rest, found := strings.Cut(s, ":")
	if !found {
		scheme, rest = "posix", s
	}
	switch scheme {
	case "posix":
		if found {
			rest = strings.TrimPrefix(rest, "/") // shm_open("/NAME")
		}
		if err := validName(rest); err != nil {
			return bad(ErrInvalidName, err.Error())
		}
		return Address{backend: POSIX, name: rest, path: ShmDir + "/" + rest}, nil
	case "file":
		if rest == "" || strings.IndexByte(rest, 0) >= 0 {
			return bad(ErrInvalidAddress, "file: needs a path without NUL")
		}
		p := filepath.Clean(rest)
		if base := filepath.Base(p); base == "/" || base == "." || base == ".." {
			return bad(ErrInvalidAddress, "file: path names no file")
		}
		return Address{backend: File, path: p}, nil
	case "sysv":
		k, err := strconv.ParseInt(rest, 0, 64)
		if err != nil || k < math.MinInt32 || k > math.MaxUint32 {
			return bad(ErrInvalidAddress, "sysv: key must be a 32-bit decimal or 0x hex number")
		}
		if k == 0 {
			return bad(ErrInvalidAddress, "sysv: key 0 is IPC_PRIVATE; use sysv-id: to name a private segment")
		}
		return Address{backend: SysV, key: int32(uint32(k))}, nil
	case "sysv-id":
		id, err := strconv.ParseInt(rest, 10, 32)
		if err != nil || id < 0 {
			return bad(ErrInvalidAddress, "sysv-id: id must be a non-negative decimal number")
		}
		return Address{backend: SysV, id: int(id), byID: true}, nil
	}
	return bad(ErrInvalidAddress, "unknown scheme "+strconv.Quote(scheme)+" (want posix:, file:, sysv: or sysv-id:)")
}

// Backend returns the kernel mechanism that holds the segment.
func (a Address) Backend() Backend { return a.backend }

// Name returns the /dev/shm file name of a posix address, "" for the
// other forms.
func (a Address) Name() string { return a.name }

// Path returns the file of a posix or file address (ShmDir/NAME, or the
// cleaned PATH), "" for System V.
func (a Address) Path() string { return a.path }

// Key returns the key of a sysv:KEY address, 0 for the other forms (0 is
// IPC_PRIVATE, which no address names).
func (a Address) Key() int32 { return a.key }

// ID returns the id of a sysv-id:ID address, -1 for the other forms.
func (a Address) ID() int {
	if !a.byID {
		return -1
	}
	return a.id
}

// String returns the canonical form: posix:NAME, file:PATH, sysv:0xKEY or
// sysv-id:ID; "invalid" for the zero Address.
func (a Address) String() string {
	switch a.backend {
	case POSIX:
		return "posix:" + a.name
	case File:
		return "file:" + a.path
	case SysV:
		if a.byID {
			return "sysv-id:" + strconv.Itoa(a.id)
		}
		return fmt.Sprintf("sysv:0x%08x", uint32(a.key))
	}
	return "invalid"
}

// validName reports why name is not acceptable as a /dev/shm file name.
func validName(name string) error {
	switch {
	case name == "":
		return errors.New("name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("name %q is reserved", name)
	case len(name) > maxNameLen:
		return fmt.Errorf("name is %d bytes, longer than %d", len(name), maxNameLen)
	case strings.IndexByte(name, '/') >= 0:
		return errors.New("name contains '/'")
	case strings.IndexByte(name, 0) >= 0:
		return errors.New("name contains NUL")
	}
	return nil
}
