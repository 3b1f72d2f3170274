package shmbuf

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// procFiles is what this pid namespace's /proc says about the segment
// files that live processes other than this one map or hold open, read
// once and asked per segment. Processes whose /proc entries this process
// may not read are missed, which only makes stale detection more
// cautious for root (who reads them all) than for others.
type procFiles struct {
	mapped map[uint64][]mappedFile // by inode
	open   map[fileID][]int
}

type fileID struct{ dev, ino uint64 }

// mappedFile is a line of /proc/PID/maps: the mapping's path, which ends
// in " (deleted)" for a file that lost its name.
type mappedFile struct {
	pid  int
	path []byte
}

// scanProc reads /proc for the files whose inode numbers want accepts.
func scanProc(want func(ino uint64) bool) *procFiles {
	p := &procFiles{mapped: map[uint64][]mappedFile{}, open: map[fileID][]int{}}
	self := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		p.readMaps(pid, want)
		p.readFDs(pid, want)
	}
	return p
}

// readMaps adds the file mappings of PID.
func (p *procFiles) readMaps(pid int, want func(uint64) bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 6 {
			continue
		}
		ino, err := strconv.ParseUint(string(fields[4]), 10, 64)
		if err != nil || ino == 0 || !want(ino) {
			continue
		}
		p.mapped[ino] = append(p.mapped[ino], mappedFile{pid, bytes.Clone(fields[5])})
	}
}

// readFDs adds the files PID holds open.
func (p *procFiles) readFDs(pid int, want func(uint64) bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, fd := range fds {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, fd.Name()), &st) == nil && want(st.Ino) {
			id := fileID{st.Dev, st.Ino}
			if pids := p.open[id]; len(pids) == 0 || pids[len(pids)-1] != pid {
				p.open[id] = append(pids, pid)
			}
		}
	}
}

// users returns the processes that map or hold open the file (dev, ino)
// at path, sorted. A mapping is matched by inode number and path, since
// the device numbers of /proc/PID/maps and stat(2) differ on some file
// systems.
func (p *procFiles) users(path string, dev, ino uint64) []int {
	var users []int
	for _, m := range p.mapped[ino] {
		if bytes.HasPrefix(m.path, []byte(path)) {
			users = append(users, m.pid)
		}
	}
	users = append(users, p.open[fileID{dev, ino}]...)
	slices.Sort(users)
	return slices.Compact(users)
}
