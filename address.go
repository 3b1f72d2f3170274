package shmbuf

import (
	"fmt"
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

// Address names a segment. Build one with ParseAddress; the zero value is
// not valid.
type Address struct {
	Backend Backend
	// Name is the /dev/shm file name (POSIX).
	Name string
	// Path is the file's path (POSIX: ShmDir/Name; File: as given, cleaned).
	Path string
	// Key is the System V key (SysV, when ByID is false).
	Key int32
	// ID is the System V segment id (SysV, when ByID is true).
	ID int
	// ByID is true for sysv-id: addresses.
	ByID bool
}

// String returns the canonical form: posix:NAME, file:PATH, sysv:0xKEY or
// sysv-id:ID.
func (a Address) String() string {
	switch a.Backend {
	case POSIX:
		return "posix:" + a.Name
	case File:
		return "file:" + a.Path
	case SysV:
		if a.ByID {
			return "sysv-id:" + strconv.Itoa(a.ID)
		}
		return fmt.Sprintf("sysv:0x%08x", uint32(a.Key))
	}
	return "invalid"
}

// ParseAddress parses NAME, posix:NAME, file:PATH, sysv:KEY (decimal or 0x
// hex, a 32-bit value) or sysv-id:ID. An empty string means DefaultName.
// posix:/NAME is posix:NAME, the form shm_open takes: one leading slash.
func ParseAddress(s string) (Address, error) {
	if s == "" {
		s = DefaultName
	}
	bad := func(kind error, why string) (Address, error) {
		return Address{}, wrapErr("parse address", strconv.Quote(s), kind, fmt.Errorf("%s", why))
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
		if err := ValidateName(rest); err != nil {
			return bad(ErrInvalidName, err.Error())
		}
		return Address{Backend: POSIX, Name: rest, Path: ShmDir + "/" + rest}, nil
	case "file":
		if rest == "" || strings.IndexByte(rest, 0) >= 0 {
			return bad(ErrInvalidAddress, "file: needs a path without NUL")
		}
		p := filepath.Clean(rest)
		if base := filepath.Base(p); base == "/" || base == "." || base == ".." {
			return bad(ErrInvalidAddress, "file: path names no file")
		}
		return Address{Backend: File, Path: p}, nil
	case "sysv":
		k, err := strconv.ParseInt(rest, 0, 64)
		if err != nil || k < -1<<31 || k > 1<<32-1 {
			return bad(ErrInvalidAddress, "sysv: key must be a 32-bit decimal or 0x hex number")
		}
		if k == 0 {
			return bad(ErrInvalidAddress, "sysv: key 0 is IPC_PRIVATE; use sysv-id: to name a private segment")
		}
		return Address{Backend: SysV, Key: int32(uint32(k))}, nil
	case "sysv-id":
		id, err := strconv.ParseInt(rest, 10, 32)
		if err != nil || id < 0 {
			return bad(ErrInvalidAddress, "sysv-id: id must be a non-negative decimal number")
		}
		return Address{Backend: SysV, ID: int(id), ByID: true}, nil
	}
	return bad(ErrInvalidAddress, "unknown scheme "+strconv.Quote(scheme)+" (want posix:, file:, sysv: or sysv-id:)")
}

// ValidateName reports whether name is acceptable as a /dev/shm file name:
// not empty, not "." or "..", no '/' or NUL, at most 255 bytes.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("name %q is reserved", name)
	case len(name) > maxNameLen:
		return fmt.Errorf("name is %d bytes, longer than %d", len(name), maxNameLen)
	case strings.IndexByte(name, '/') >= 0:
		return fmt.Errorf("name contains '/'")
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("name contains NUL")
	}
	return nil
}
