package bridge

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Headers every bridged message carries.
const (
	// HeaderOrigin is "HOST RING CREATED ID": the host, the ring's
	// address (path-escaped), its creation time (Unix nanoseconds, hex)
	// and the digest of the three that message ids use.
	HeaderOrigin = "Shmbuf-Origin"
	// HeaderRecord is "WRITER POS SESSION SEQ": the writer slot that
	// wrote the record and its position in the ring, then the sending
	// bridge's session (random, hex) and the message's number in it
	// (1, 2, …), by which a receiver counts what is missing.
	HeaderRecord = "Shmbuf-Record"
)

// origin is the outbound side's constant part of the headers.
type origin struct {
	host string
	ring ringIdentity
	id   uint64
	// header is HeaderOrigin's value; idHex the digest for message ids.
	header, idHex string
}

func newOrigin(host string, r ringIdentity) origin {
	return newOriginID(host, r, r.id(host))
}

// newOriginID is the origin of ring r on host with the digest id, which
// a spool entry recorded for a ring that has been created again since.
func newOriginID(host string, r ringIdentity, id uint64) origin {
	o := origin{host: host, ring: r, id: id}
	o.idHex = strconv.FormatUint(id, 16)
	o.header = host + " " + url.PathEscape(r.addr) + " " + strconv.FormatInt(r.created, 16) + " " + o.idHex
	return o
}

// msgID is the Nats-Msg-Id of the record at pos of the ring whose
// digest is idHex (origin.idHex): the same record always gets the same id, so JetStream drops a
// re-send within its duplicate window.
func msgID(idHex string, pos uint64) string {
	return idHex + "-" + strconv.FormatUint(pos, 16)
}

// recordHeader is HeaderRecord's value.
func recordHeader(writer int, pos, session, seq uint64) string {
	var b []byte
	b = strconv.AppendInt(b, int64(writer), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, pos, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, session, 16)
	b = append(b, ' ')
	b = strconv.AppendUint(b, seq, 10)
	return string(b)
}

// parsedRecord is what a receiver reads from the headers.
type parsedRecord struct {
	originID uint64
	writer   int
	pos      uint64
	session  uint64
	seq      uint64
}

var errNoOrigin = errors.New("no " + HeaderRecord + " header: not sent by a shmbuf bridge")

// parseHeaders reads the origin headers of m.
func parseHeaders(h nats.Header) (parsedRecord, error) {
	var p parsedRecord
	rec := h.Get(HeaderRecord)
	if rec == "" {
		return p, errNoOrigin
	}
	f := strings.Fields(rec)
	if len(f) != 4 {
		return p, errors.New("malformed " + HeaderRecord + " header")
	}
	w, err1 := strconv.Atoi(f[0])
	pos, err2 := strconv.ParseUint(f[1], 10, 64)
	ses, err3 := strconv.ParseUint(f[2], 16, 64)
	seq, err4 := strconv.ParseUint(f[3], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return p, errors.New("malformed " + HeaderRecord + " header")
	}
	p.writer, p.pos, p.session, p.seq = w, pos, ses, seq
	if o := strings.Fields(h.Get(HeaderOrigin)); len(o) == 4 {
		p.originID, _ = strconv.ParseUint(o[3], 16, 64)
	}
	return p, nil
}
