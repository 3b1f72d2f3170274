package shmbuf

import (
	"encoding/json"
	"fmt"
	"time"
)

// segmentJSON is the JSON form of a SegmentInfo, the schema of
// docs/JSON.md that `shmbuf ls --json` and `shmbuf stat --json` print.
type segmentJSON struct {
	Address  string     `json:"address"`
	Backend  string     `json:"backend"`
	Name     string     `json:"name,omitempty"`
	Path     string     `json:"path,omitempty"`
	Type     string     `json:"type,omitempty"`
	Target   string     `json:"target,omitempty"`
	Kind     Kind       `json:"kind"`
	Size     int64      `json:"size"`
	Mode     string     `json:"mode"`
	UID      int        `json:"uid"`
	Owner    string     `json:"owner"`
	GID      int        `json:"gid"`
	Group    string     `json:"group"`
	Modified *time.Time `json:"modified,omitempty"`
	Accessed *time.Time `json:"accessed,omitempty"`
	Changed  *time.Time `json:"changed,omitempty"`
	SysV     *sysvJSON  `json:"sysv,omitempty"`
}

// sysvJSON is the System V part of segmentJSON, ipcs -m's columns.
type sysvJSON struct {
	ID         int    `json:"id"`
	Key        string `json:"key"`
	Attached   int    `json:"attached"`
	CreatorPid int    `json:"creator_pid"`
	LastPid    int    `json:"last_pid"`
	Removed    bool   `json:"removed"`
}

// MarshalJSON renders the segment in the schema of docs/JSON.md: the
// address in its canonical form, the kind by name, the mode as four
// octal digits, times in RFC 3339 (left out when never), and the System V
// fields in a "sysv" object of their own.
func (i SegmentInfo) MarshalJSON() ([]byte, error) {
	j := segmentJSON{
		Address: i.Addr.String(),
		Backend: i.Addr.Backend().String(),
		Type:    i.Type,
		Target:  i.Target,
		Kind:    i.Kind,
		Size:    i.Size,
		Mode:    fmt.Sprintf("%04o", uint32(i.Mode.Perm())),
		UID:     i.UID,
		Owner:   i.Owner,
		GID:     i.GID,
		Group:   i.Group,
		Changed: when(i.ChangeTime),
	}
	if j.Owner == "" {
		j.Owner = userName(i.UID)
	}
	if j.Group == "" {
		j.Group = groupName(i.GID)
	}
	switch i.Addr.Backend() {
	case POSIX:
		j.Name, j.Path = i.Addr.Name(), i.Addr.Path()
	case File:
		j.Path = i.Addr.Path()
	}
	if i.Addr.Backend() == SysV {
		// System V records attaches, not writes: no modification time.
		j.Accessed = when(i.AccessTime)
		j.SysV = &sysvJSON{
			ID:         i.ID,
			Key:        fmt.Sprintf("0x%08x", uint32(i.Key)),
			Attached:   i.Attached,
			CreatorPid: i.CreatorPid,
			LastPid:    i.LastPid,
			Removed:    i.Removed,
		}
	} else {
		j.Modified, j.Accessed = when(i.ModTime), when(i.AccessTime)
	}
	return json.Marshal(j)
}

// usageJSON is the JSON form of a Usage: the "written" and "in_use"
// members of docs/JSON.md's segment object.
type usageJSON struct {
	Written *time.Time `json:"written,omitempty"`
	InUse   bool       `json:"in_use"`
}

// MarshalJSON renders the usage as the members "written" (LastWrite, left
// out when unknown) and "in_use" (InUse) of docs/JSON.md's segment object:
// `shmbuf ls --json` and `shmbuf stat --json` print them after the
// SegmentInfo's.
func (u Usage) MarshalJSON() ([]byte, error) {
	return json.Marshal(usageJSON{Written: when(u.LastWrite), InUse: u.InUse()})
}

// when is t for JSON, nil for the zero time or the epoch (System V's
// "never attached").
func when(t time.Time) *time.Time {
	if t.IsZero() || t.Unix() == 0 {
		return nil
	}
	return &t
}

// MarshalText renders the policy by name ("block", "overwrite"), as
// RingStat's JSON shows it.
func (p Policy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }
