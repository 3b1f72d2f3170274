package layout

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestFormatDocOffsets checks the offsets table of docs/FORMAT.md (§8)
// against the Go definitions: every documented row must match, and every
// field below must be documented, so that the published format cannot
// drift from the code.
func TestFormatDocOffsets(t *testing.T) {
	var (
		h  Header
		sc SnapshotCtl
		sh SlotHdr
		rc RingCtl
		ht HeadTriple
		ws WriterSlot
		rs ReaderSlot
		rh RecordHdr
	)
	type field struct{ off, size uintptr }
	want := map[string]field{
		"Header.Magic":          {unsafe.Offsetof(h.Magic), unsafe.Sizeof(h.Magic)},
		"Header.Version":        {unsafe.Offsetof(h.Version), unsafe.Sizeof(h.Version)},
		"Header.Kind":           {unsafe.Offsetof(h.Kind), unsafe.Sizeof(h.Kind)},
		"Header.HeaderSize":     {unsafe.Offsetof(h.HeaderSize), unsafe.Sizeof(h.HeaderSize)},
		"Header.Flags":          {unsafe.Offsetof(h.Flags), unsafe.Sizeof(h.Flags)},
		"Header.SegmentSize":    {unsafe.Offsetof(h.SegmentSize), unsafe.Sizeof(h.SegmentSize)},
		"Header.Capacity":       {unsafe.Offsetof(h.Capacity), unsafe.Sizeof(h.Capacity)},
		"Header.MaxRecord":      {unsafe.Offsetof(h.MaxRecord), unsafe.Sizeof(h.MaxRecord)},
		"Header.Readers":        {unsafe.Offsetof(h.Readers), unsafe.Sizeof(h.Readers)},
		"Header.Policy":         {unsafe.Offsetof(h.Policy), unsafe.Sizeof(h.Policy)},
		"Header.CreatorPid":     {unsafe.Offsetof(h.CreatorPid), unsafe.Sizeof(h.CreatorPid)},
		"Header.Writers":        {unsafe.Offsetof(h.Writers), unsafe.Sizeof(h.Writers)},
		"Header.CreatorStart":   {unsafe.Offsetof(h.CreatorStart), unsafe.Sizeof(h.CreatorStart)},
		"Header.CreatedNanos":   {unsafe.Offsetof(h.CreatedNanos), unsafe.Sizeof(h.CreatedNanos)},
		"Header.CreatorNS":      {unsafe.Offsetof(h.CreatorNS), unsafe.Sizeof(h.CreatorNS)},
		"Header.StampKey":       {unsafe.Offsetof(h.StampKey), unsafe.Sizeof(h.StampKey)},
		"Header.Checksum":       {unsafe.Offsetof(h.Checksum), unsafe.Sizeof(h.Checksum)},
		"SnapshotCtl.Gen":       {unsafe.Offsetof(sc.Gen), unsafe.Sizeof(sc.Gen)},
		"SnapshotCtl.LockState": {unsafe.Offsetof(sc.LockState), unsafe.Sizeof(sc.LockState)},
		"SnapshotCtl.LockStart": {unsafe.Offsetof(sc.LockStart), unsafe.Sizeof(sc.LockStart)},
		"SnapshotCtl.LastPid":   {unsafe.Offsetof(sc.LastPid), unsafe.Sizeof(sc.LastPid)},
		"SnapshotCtl.LastStart": {unsafe.Offsetof(sc.LastStart), unsafe.Sizeof(sc.LastStart)},
		"SnapshotCtl.LockOwner": {unsafe.Offsetof(sc.LockOwner), unsafe.Sizeof(sc.LockOwner)},
		"SnapshotCtl.LastNS":    {unsafe.Offsetof(sc.LastNS), unsafe.Sizeof(sc.LastNS)},
		"SnapshotCtl.LastWrite": {unsafe.Offsetof(sc.LastWrite), unsafe.Sizeof(sc.LastWrite)},
		"SlotHdr.Seq":           {unsafe.Offsetof(sh.Seq), unsafe.Sizeof(sh.Seq)},
		"SlotHdr.Len":           {unsafe.Offsetof(sh.Len), unsafe.Sizeof(sh.Len)},
		"RingCtl.Tail":          {unsafe.Offsetof(rc.Tail), unsafe.Sizeof(rc.Tail)},
		"RingCtl.WalkToken":     {unsafe.Offsetof(rc.WalkToken), unsafe.Sizeof(rc.WalkToken)},
		"RingCtl.Head":          {unsafe.Offsetof(rc.Head), unsafe.Sizeof(rc.Head)},
		"RingCtl.HeadGen":       {unsafe.Offsetof(rc.HeadGen), unsafe.Sizeof(rc.HeadGen)},
		"RingCtl.HeadCopy":      {unsafe.Offsetof(rc.HeadCopy), unsafe.Sizeof(rc.HeadCopy)},
		"RingCtl.ReadMark":      {unsafe.Offsetof(rc.ReadMark), unsafe.Sizeof(rc.ReadMark)},
		"RingCtl.End":           {unsafe.Offsetof(rc.End), unsafe.Sizeof(rc.End)},
		"RingCtl.DataWake":      {unsafe.Offsetof(rc.DataWake), unsafe.Sizeof(rc.DataWake)},
		"RingCtl.ReaderWaiters": {unsafe.Offsetof(rc.ReaderWaiters), unsafe.Sizeof(rc.ReaderWaiters)},
		"RingCtl.SpaceWake":     {unsafe.Offsetof(rc.SpaceWake), unsafe.Sizeof(rc.SpaceWake)},
		"RingCtl.WriterWaiters": {unsafe.Offsetof(rc.WriterWaiters), unsafe.Sizeof(rc.WriterWaiters)},
		"RingCtl.Overruns":      {unsafe.Offsetof(rc.Overruns), unsafe.Sizeof(rc.Overruns)},
		"RingCtl.ClosedRecords": {unsafe.Offsetof(rc.ClosedRecords), unsafe.Sizeof(rc.ClosedRecords)},
		"RingCtl.ClosedBytes":   {unsafe.Offsetof(rc.ClosedBytes), unsafe.Sizeof(rc.ClosedBytes)},
		"RingCtl.LastWrite":     {unsafe.Offsetof(rc.LastWrite), unsafe.Sizeof(rc.LastWrite)},
		"HeadTriple.Pos":        {unsafe.Offsetof(ht.Pos), unsafe.Sizeof(ht.Pos)},
		"HeadTriple.Records":    {unsafe.Offsetof(ht.Records), unsafe.Sizeof(ht.Records)},
		"HeadTriple.Bytes":      {unsafe.Offsetof(ht.Bytes), unsafe.Sizeof(ht.Bytes)},
		"WriterSlot.State":      {unsafe.Offsetof(ws.State), unsafe.Sizeof(ws.State)},
		"WriterSlot.Start":      {unsafe.Offsetof(ws.Start), unsafe.Sizeof(ws.Start)},
		"WriterSlot.Claim":      {unsafe.Offsetof(ws.Claim), unsafe.Sizeof(ws.Claim)},
		"WriterSlot.ClaimLen":   {unsafe.Offsetof(ws.ClaimLen), unsafe.Sizeof(ws.ClaimLen)},
		"WriterSlot.Records":    {unsafe.Offsetof(ws.Records), unsafe.Sizeof(ws.Records)},
		"WriterSlot.Bytes":      {unsafe.Offsetof(ws.Bytes), unsafe.Sizeof(ws.Bytes)},
		"WriterSlot.Owner":      {unsafe.Offsetof(ws.Owner), unsafe.Sizeof(ws.Owner)},
		"ReaderSlot.State":      {unsafe.Offsetof(rs.State), unsafe.Sizeof(rs.State)},
		"ReaderSlot.Start":      {unsafe.Offsetof(rs.Start), unsafe.Sizeof(rs.Start)},
		"ReaderSlot.Cursor":     {unsafe.Offsetof(rs.Cursor), unsafe.Sizeof(rs.Cursor)},
		"ReaderSlot.Owner":      {unsafe.Offsetof(rs.Owner), unsafe.Sizeof(rs.Owner)},
		"RecordHdr.Stamp":       {unsafe.Offsetof(rh.Stamp), unsafe.Sizeof(rh.Stamp)},
		"RecordHdr.Len":         {unsafe.Offsetof(rh.Len), unsafe.Sizeof(rh.Len)},
		"RecordHdr.Flags":       {unsafe.Offsetof(rh.Flags), unsafe.Sizeof(rh.Flags)},
	}
	f, err := os.Open("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile(`^\| (\w+) \| (\w+) \| (\d+) \| (\d+) \|$`)
	seen := map[string]bool{}
	lines := bufio.NewScanner(f)
	sizesLine := ""
	for lines.Scan() {
		if l := lines.Text(); sizesLine != "" || strings.HasPrefix(l, "Sizes:") {
			sizesLine += " " + l
		}
		m := row.FindStringSubmatch(lines.Text())
		if m == nil {
			continue
		}
		name := m[1] + "." + m[2]
		w, ok := want[name]
		if !ok {
			t.Errorf("FORMAT.md documents %s, which the test does not know", name)
			continue
		}
		off, _ := strconv.ParseUint(m[3], 10, 64)
		size, _ := strconv.ParseUint(m[4], 10, 64)
		if uintptr(off) != w.off || uintptr(size) != w.size {
			t.Errorf("FORMAT.md: %s at %d, %d bytes; the code has %d, %d bytes", name, off, size, w.off, w.size)
		}
		seen[name] = true
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("FORMAT.md does not document %s", name)
		}
	}
	sizes := map[string]uintptr{"Header": unsafe.Sizeof(h), "SnapshotCtl": unsafe.Sizeof(sc), "SlotHdr": unsafe.Sizeof(sh),
		"RingCtl": unsafe.Sizeof(rc), "WriterSlot": unsafe.Sizeof(ws), "ReaderSlot": unsafe.Sizeof(rs), "RecordHdr": unsafe.Sizeof(rh)}
	docSizes := map[string]uintptr{}
	for _, m := range regexp.MustCompile(`(\w+) (\d+)`).FindAllStringSubmatch(sizesLine, -1) {
		n, _ := strconv.ParseUint(m[2], 10, 64)
		docSizes[m[1]] = uintptr(n)
	}
	for name, s := range sizes {
		if docSizes[name] != s {
			t.Errorf("%s is %d bytes; FORMAT.md says %d", name, s, docSizes[name])
		}
	}
}
