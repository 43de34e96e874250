package jetstream

import "github.com/dmnode/dmnode"

// The typed form of DDL changes (dmnode.Change.DDLInfo) is encoded after
// a message's transactions, in a trailer: readers of the first format
// version stop after the transactions and never see it, and a message
// without it (written before) decodes with DDLInfo nil, which its reader
// then reads from the statement's text.
//
//	trailer: tagDDLInfo, count, then per change: txn index, change index,
//	kind, schema, tables (count, schema and table each), flags, and the
//	exchanged table's schema and name when flagExchanged is set.
//
// A second section, tagDDLEvents, follows with the statements' parts as
// the event filter classifies them (DDLInfo.Events), for the changes whose
// DDLInfo has them: readers before it stop after the first section.
//
//	section: tagDDLEvents, count, then per change: txn index, change
//	index, count of events, then per event: event, schema, table and
//	its further names (count, then each).
const (
	tagDDLInfo   byte = 'D'
	tagDDLEvents byte = 'E'
)

const (
	flagMaintenance byte = 1 << iota
	flagRemovesRows
	flagExchanged
)

func (e *encoder) ddlTrailer(txns []dmnode.Txn) {
	n := 0
	for i := range txns {
		for j := range txns[i].Changes {
			if txns[i].Changes[j].DDLInfo != nil {
				n++
			}
		}
	}
	if n == 0 {
		return
	}
	e.buf = append(e.buf, tagDDLInfo)
	e.uvarint(uint64(n))
	for i := range txns {
		for j := range txns[i].Changes {
			in := txns[i].Changes[j].DDLInfo
			if in == nil {
				continue
			}
			e.uvarint(uint64(i))
			e.uvarint(uint64(j))
			e.string(in.Kind)
			e.string(in.Schema)
			e.uvarint(uint64(len(in.Tables)))
			for _, t := range in.Tables {
				e.string(t.Schema)
				e.string(t.Table)
			}
			var f byte
			if in.PartitionMaintenance {
				f |= flagMaintenance
			}
			if in.RemovesPartitionRows {
				f |= flagRemovesRows
			}
			if in.Exchanged != nil {
				f |= flagExchanged
			}
			e.buf = append(e.buf, f)
			if in.Exchanged != nil {
				e.string(in.Exchanged.Schema)
				e.string(in.Exchanged.Table)
			}
		}
	}
	e.ddlEvents(txns)
}

func (e *encoder) ddlEvents(txns []dmnode.Txn) {
	n := 0
	for i := range txns {
		for j := range txns[i].Changes {
			if in := txns[i].Changes[j].DDLInfo; in != nil && in.Classified {
				n++
			}
		}
	}
	if n == 0 {
		return
	}
	e.buf = append(e.buf, tagDDLEvents)
	e.uvarint(uint64(n))
	for i := range txns {
		for j := range txns[i].Changes {
			in := txns[i].Changes[j].DDLInfo
			if in == nil || !in.Classified {
				continue
			}
			e.uvarint(uint64(i))
			e.uvarint(uint64(j))
			e.uvarint(uint64(len(in.Events)))
			for _, ev := range in.Events {
				e.string(ev.Event)
				e.string(ev.Schema)
				e.string(ev.Table)
				e.uvarint(uint64(len(ev.Also)))
				for _, a := range ev.Also {
					e.string(a)
				}
			}
		}
	}
}

// ddlTrailer reads the trailer, if the message has one, into txns.
func (d *decoder) ddlTrailer(txns []dmnode.Txn) {
	if d.err != nil || len(d.buf) == 0 {
		return
	}
	if d.byte() != tagDDLInfo {
		d.fail()
		return
	}
	n := d.count()
	for k := 0; k < n && d.err == nil; k++ {
		i, j := d.uvarint(), d.uvarint()
		in := &dmnode.DDLInfo{Kind: d.string(), Schema: d.string()}
		nt := d.count()
		for range nt {
			in.Tables = append(in.Tables, dmnode.TableID{Schema: d.string(), Table: d.string()})
		}
		f := d.byte()
		in.PartitionMaintenance, in.RemovesPartitionRows = f&flagMaintenance != 0, f&flagRemovesRows != 0
		if f&flagExchanged != 0 {
			in.Exchanged = &dmnode.TableID{Schema: d.string(), Table: d.string()}
		}
		if d.err != nil {
			return
		}
		if i >= uint64(len(txns)) || j >= uint64(len(txns[i].Changes)) {
			d.fail()
			return
		}
		txns[i].Changes[j].DDLInfo = in
	}
	d.ddlEvents(txns)
}

// ddlEvents reads the events section, if the message has one. Bytes of
// a later section this version does not know are left unread.
func (d *decoder) ddlEvents(txns []dmnode.Txn) {
	if d.err != nil || len(d.buf) == 0 || d.buf[0] != tagDDLEvents {
		return
	}
	d.byte()
	n := d.count()
	for k := 0; k < n && d.err == nil; k++ {
		i, j := d.uvarint(), d.uvarint()
		ne := d.count()
		events := make([]dmnode.DDLEvent, 0, ne)
		for range ne {
			ev := dmnode.DDLEvent{Event: d.string(), Schema: d.string(), Table: d.string()}
			na := d.count()
			for range na {
				ev.Also = append(ev.Also, d.string())
			}
			events = append(events, ev)
		}
		if d.err != nil {
			return
		}
		if i >= uint64(len(txns)) || j >= uint64(len(txns[i].Changes)) || txns[i].Changes[j].DDLInfo == nil {
			d.fail()
			return
		}
		in := txns[i].Changes[j].DDLInfo
		in.Events, in.Classified = events, true
	}
}
