package layout

// Liveness: how a peer proves that it is alive, and how another proves
// that it died. Shared memory outlives processes, and a slot or lock word
// left by a dead process must be reclaimed, but a live peer must never be
// declared dead, in any pid namespace. This is the protocol every
// implementation follows.
//
// # File-backed segments (posix and file backends): OFD locks
//
// Every peer holds open-file-description locks (fcntl F_OFD_SETLK, whole
// byte: l_whence SEEK_SET, l_len 1, l_pid 0) on bytes of the segment's
// file at the offsets below, far past the end of any segment this format
// allows. The locks are advisory and never touch the data. The kernel
// drops them when the last descriptor of the open file description is
// closed, which happens when the process dies, in whatever pid namespace
// it lives, so they are proof that crosses namespaces.
//
//   - LockUsers: every process that has a ring or a snapshot open holds a
//     shared lock (F_RDLCK) on it, from the description it mapped the
//     segment with. It tells `ls` and `rm --stale` that the segment is in
//     use, whoever and wherever the user is.
//   - LockSnapshotWriter: a snapshot writer takes an exclusive lock
//     (F_WRLCK, F_OFD_SETLKW: it may wait, it is a kernel lock, not a
//     lock in shared memory) before it takes the lock word in
//     SnapshotCtl, and releases it after releasing the word. So a lock
//     word found held by a writer that holds the kernel lock belongs to a
//     process that died, and is taken over at once.
//   - WriterLock(i), ReaderLock(i): the owner of ring writer (reader)
//     slot i holds an exclusive lock on its byte for as long as the slot is
//     not free.
//
// Slot protocol, lock first: a peer takes the lock of slot i (F_OFD_SETLK,
// F_WRLCK; it does not wait) before it moves the slot's State from free
// to attaching with a CAS; a peer that fails to get the lock skips the
// slot (a live owner or a reaper is at work). On close it stores the slot
// free, then releases the lock. Therefore a slot that is not free while
// its lock is free belongs to a dead process, with no window in between.
// A reaper proves the death by taking the lock itself (F_OFD_SETLK
// succeeds), re-reads State under the lock, reclaims the slot, stores it
// free and releases the lock. A reaper that dies midway leaves the slot
// not free with its lock free: the next reaper starts again, so every
// step of a reap is idempotent. File-backed slots are never in the
// reaping state.
//
// Reclaiming a dead ring writer's slot, in this order: if it was active,
// turn the unpublished pieces of its last claim (Claim, ClaimLen) into
// pads; add its Records and Bytes to ClosedRecords and ClosedBytes with a
// swap to zero; clear WalkToken if it names the slot; if it was active,
// record an end of stream (RingCtl.End, kind EndLost); store the slot
// free; release the lock. A writer that died attaching wrote nothing and
// ends nothing. A dead reader's slot: if it was active under policy
// block, raise Head to its Cursor; store it free; release the lock.
// A writer that closes: pads a pending claim, moves its counters, records
// the end of stream (EndEOF, or EndAborted), stores its slot free,
// releases the lock, then wakes waiting readers.
//
// OFD locks of one open file description never conflict with each other.
// So each ring Writer and Reader opens the segment file again for itself
// (through /proc/self/fd/N, O_RDWR|O_CLOEXEC) and holds its slot lock on
// that description, and a checker asks (F_OFD_GETLK with F_WRLCK, or a
// reaper's F_OFD_SETLK) from a description that holds no slot lock of
// its own. A process that forks without exec shares its descriptions,
// and with them its locks, with the child: the peer then counts as alive
// while either lives, the safe direction.
//
// # System V segments: pid, start time and pid namespace
//
// A System V segment has no file to lock. Every recorded process there
// carries its pid, its start time (clock ticks since boot,
// /proc/PID/stat field 22) and its pid namespace (the inode number of
// /proc/self/ns/pid, 32 bits). A checker judges a process by pid and
// start time only when the namespace equals its own and the /proc it
// sees is its own namespace's (/proc/self names its own pid); a process
// of any other namespace is alive, since nobody can tell. The cost: a
// dead peer of another namespace is never reaped on System V, and a
// snapshot writer lock it held makes other writers give up with an error
// (they never take it over) after a bounded wait.
//
// The identity of a slot's owner is written after the owner took the
// slot, so a checker must know whether the fields it reads are that
// owner's: State carries a generation, incremented by every CAS that
// takes the slot, and the owner stores its namespace and that generation
// together in Owner after storing Start. A checker loads State, Owner,
// Start, then State again; unless both States are equal and Owner's
// generation is State's, it cannot tell, and the owner is alive. (So a
// System V peer killed in the instant between taking a slot and storing
// Owner is never reaped either.) A System V reaper moves the slot to
// SlotReaping with a CAS before it reclaims it, so reapers exclude each
// other; one killed midway leaves the slot in that state for good.
const (
	// LockBase is the first lock offset: 2^56, past the end of any
	// segment (rings hold at most 2^40 data bytes, snapshots 2^50).
	LockBase = 1 << 56
	// LockUsers is the users' shared lock.
	LockUsers = LockBase
	// LockSnapshotWriter is the snapshot writers' exclusive lock.
	LockSnapshotWriter = LockBase + 1
	lockWriters        = LockBase + MaxSlots
	lockReaders        = LockBase + 2*MaxSlots
)

// WriterLock is the lock offset of ring writer slot i (0 <= i < MaxSlots).
func WriterLock(i int) int64 { return lockWriters + int64(i) }

// ReaderLock is the lock offset of ring reader slot i (0 <= i < MaxSlots).
func ReaderLock(i int) int64 { return lockReaders + int64(i) }

// A State word (ring slots, the snapshot lock) packs, from the low bits:
// the state (8 bits), the owner's pid (32 bits) and a generation (24
// bits) that every CAS taking the word increments, so that a word taken
// again by a process with the same pid still differs.
const (
	genShift = 40
	genMask  = 1<<24 - 1
)

// SlotState packs a generation, a pid and a state.
func SlotState(gen uint32, pid int32, state uint64) uint64 {
	return uint64(gen&genMask)<<genShift | uint64(uint32(pid))<<8 | state&0xff
}

// SlotPid, SlotGen and SlotStateOf unpack a State word.
func SlotPid(s uint64) int32      { return int32(uint32(s >> 8)) }
func SlotGen(s uint64) uint32     { return uint32(s>>genShift) & genMask }
func SlotStateOf(s uint64) uint64 { return s & 0xff }

// NextGen is the generation of the CAS that takes a word now at s.
func NextGen(s uint64) uint32 { return (SlotGen(s) + 1) & genMask }

// OwnerWord packs the pid namespace of a State word's owner with the
// generation it took the word at.
func OwnerWord(ns, gen uint32) uint64 { return uint64(ns)<<32 | uint64(gen&genMask) }

// OwnerNS and OwnerGen unpack an Owner word.
func OwnerNS(o uint64) uint32  { return uint32(o >> 32) }
func OwnerGen(o uint64) uint32 { return uint32(o) & genMask }
