package shmbuf

import (
	"os"
	"sync/atomic"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
)

// Liveness of the processes a segment records. A peer is dead only on
// proof that holds across pid namespaces; "cannot tell" means alive.
// File-backed segments prove it with open-file-description locks, System
// V segments with pid, start time and pid namespace. The protocol, which
// every implementation follows, is described in internal/layout/locks.go.

// ownerOf reads the identity of the owner of a State word (a ring slot or
// the snapshot lock) consistently: State, Owner, Start, then State again.
// ok is false when the fields may not all be that owner's (the owner is
// still storing them, or the word changed hands meanwhile). Partner: the
// owner's Start and Owner stores after the CAS that took the word.
func ownerOf(state, start, owner *atomic.Uint64) (id proc.Identity, st uint64, ok bool) {
	st = state.Load()
	o := owner.Load()
	begin := start.Load()
	if state.Load() != st || layout.OwnerGen(o) != layout.SlotGen(st) {
		return proc.Identity{}, st, false
	}
	return proc.Identity{Pid: layout.SlotPid(st), Start: begin, NS: layout.OwnerNS(o)}, st, true
}

// identityDead reports whether the owner of a State word is proven dead
// by its identity (System V segments), and the State it judged.
func identityDead(state, start, owner *atomic.Uint64) (st uint64, dead bool) {
	id, st, ok := ownerOf(state, start, owner)
	if !ok {
		return st, false
	}
	return st, !proc.Alive(id)
}

// peerAlive reports whether the owner of a ring slot is alive, or cannot
// be proven dead: on a file-backed ring, whether another open file
// description holds the slot's lock (asked from the ring's own
// description, which holds no slot lock but while this process reaps the
// slot, which it does only for a dead owner); on System V, by identity.
func (r *Ring) peerAlive(state, start, owner *atomic.Uint64, lock int64) bool {
	if r.lf != nil {
		held, ok := ofdHeld(r.lf, lock)
		return held || !ok
	}
	_, dead := identityDead(state, start, owner)
	return !dead
}

// takeDead proves that the owner of a slot that is not free is dead and
// takes the slot for reclaiming. It returns the State the owner left.
// The caller reclaims the slot, stores it free, then calls releaseDead.
// Callers hold r.reapMu: locks of the ring's one description do not
// exclude each other, so reapers of one Ring must take turns.
//
// File-backed: the reaper takes the slot's lock; success proves the
// owner dead (lock first: a live owner holds it). The State is re-read
// under the lock, since the slot may have been freed, and taken again,
// before. A slot left by a reaper that died is reclaimed again: State is
// unchanged until the final free.
//
// System V: the owner's identity must prove it dead, and a CAS to
// SlotReaping makes this reaper the only one.
func (r *Ring) takeDead(state, start, owner *atomic.Uint64, lock int64) (st uint64, ok bool) {
	if layout.SlotStateOf(state.Load()) == layout.SlotFree {
		return 0, false
	}
	if r.lf != nil {
		if got, _ := ofdTryLock(r.lf, lock, lockExclusive); !got {
			return 0, false
		}
		st = state.Load()
		if layout.SlotStateOf(st) == layout.SlotFree {
			ofdUnlock(r.lf, lock)
			return 0, false
		}
		return st, true
	}
	st, dead := identityDead(state, start, owner)
	k := layout.SlotStateOf(st)
	if !dead || (k != layout.SlotActive && k != layout.SlotAttaching) {
		return 0, false
	}
	if !state.CompareAndSwap(st, layout.SlotState(layout.SlotGen(st), layout.SlotPid(st), layout.SlotReaping)) {
		return 0, false
	}
	return st, true
}

// releaseDead ends a reclaim that takeDead began, after the slot was
// stored free.
func (r *Ring) releaseDead(lock int64) {
	if r.lf != nil {
		ofdUnlock(r.lf, lock)
	}
}

// freeState is the State of a free slot that was taken at st's
// generation: the generation stays, so the next CAS that takes the slot
// moves it on.
func freeState(st uint64) uint64 { return layout.SlotState(layout.SlotGen(st), 0, layout.SlotFree) }

// writersAttached reports whether any writer slot is taken (attaching,
// active or being reaped): while one is, the stream has not ended.
func writersAttached(l *layout.Ring) bool {
	for i := range l.Writers {
		// Partner: the attaching writer's CAS and the Store that frees a
		// slot (closer or reaper), both after their End store.
		if layout.SlotStateOf(l.Writers[i].State.Load()) != layout.SlotFree {
			return true
		}
	}
	return false
}

// userLock returns the description liveness checks of seg ask from (nil
// on System V) and, for a user, takes the users' shared lock on it.
func userLock(seg *segment, user bool) (*os.File, error) {
	if seg.f == nil {
		return nil, nil
	}
	if user {
		if _, err := ofdTryLock(seg.f, layout.LockUsers, lockShared); err != nil {
			return nil, sysErr(onFile, "open", seg.addr, err)
		}
	}
	return seg.f, nil
}
