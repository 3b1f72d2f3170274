package bridge

import (
	"errors"
	"net/url"
	"strconv"
)

// HeaderRecord is the one header every bridged message carries: where
// its record came from, "ID WRITER POS SESSION SEQ HOST RING CREATED":
//
//   - ID, the digest (hex) of the origin, the host and the ring's
//     identity, that message ids use;
//   - WRITER and POS, the writer slot that wrote the record and its
//     position in the ring (-1 and 0 in a heartbeat);
//   - SESSION, the sending bridge's session (random, hex), and SEQ, the
//     message's number in it (1, 2, …), by which a receiver counts what
//     is missing;
//   - HOST, RING (the address, path-escaped) and CREATED (the ring's
//     creation time, Unix nanoseconds, hex), for people.
//
// One header rather than several because nats.go encodes and decodes
// each header of each message through a map: at small records a second
// header costs more than the bridge's own work. The fields a receiver
// needs come first, so that it parses them without looking at the rest.
const HeaderRecord = "Shmbuf"

// origin is the outbound side's constant part of the header.
type origin struct {
	host string
	ring ringIdentity
	id   uint64
	// idHex is the digest for message ids; tail is the header's end,
	// " HOST RING CREATED".
	idHex, tail string
}

func newOrigin(host string, r ringIdentity) origin {
	return newOriginID(host, r, r.id(host))
}

// newOriginID is the origin of ring r on host with the digest id, which
// a spool entry recorded for a ring that has been created again since.
func newOriginID(host string, r ringIdentity, id uint64) origin {
	o := origin{host: host, ring: r, id: id}
	o.idHex = strconv.FormatUint(id, 16)
	o.tail = " " + host + " " + url.PathEscape(r.addr) + " " + strconv.FormatInt(r.created, 16)
	return o
}

// appendHeader appends HeaderRecord's value to b.
func (o *origin) appendHeader(b []byte, writer int, pos, session, seq uint64) []byte {
	b = append(b, o.idHex...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(writer), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, pos, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, session, 16)
	b = append(b, ' ')
	b = strconv.AppendUint(b, seq, 10)
	return append(b, o.tail...)
}

// appendMsgID appends the Nats-Msg-Id of the record at pos to b: the
// same record always gets the same id, so JetStream drops a re-send
// within its duplicate window.
func (o *origin) appendMsgID(b []byte, pos uint64) []byte {
	b = append(b, o.idHex...)
	b = append(b, '-')
	return strconv.AppendUint(b, pos, 16)
}

// parsedRecord is what a receiver reads from the header.
type parsedRecord struct {
	originID uint64
	writer   int
	pos      uint64
	session  uint64
	seq      uint64
}

var (
	errNoOrigin  = errors.New("no " + HeaderRecord + " header: not sent by a shmbuf bridge")
	errMalformed = errors.New("malformed " + HeaderRecord + " header")
)

// parseHeader reads HeaderRecord's value (the first value of the
// header, as nats.Header.Get gives it) without allocating.
func parseHeader(v string) (parsedRecord, error) {
	var p parsedRecord
	if v == "" {
		return p, errNoOrigin
	}
	var f [5]string
	for i := range f {
		j := 0
		for j < len(v) && v[j] != ' ' {
			j++
		}
		if j == 0 || (i < len(f)-1 && j == len(v)) {
			return p, errMalformed
		}
		f[i] = v[:j]
		if j < len(v) {
			v = v[j+1:]
		} else {
			v = ""
		}
	}
	id, err1 := strconv.ParseUint(f[0], 16, 64)
	w, err2 := strconv.Atoi(f[1])
	pos, err3 := strconv.ParseUint(f[2], 10, 64)
	ses, err4 := strconv.ParseUint(f[3], 16, 64)
	seq, err5 := strconv.ParseUint(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
		return p, errMalformed
	}
	p.originID, p.writer, p.pos, p.session, p.seq = id, w, pos, ses, seq
	return p, nil
}
