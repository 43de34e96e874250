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
const tagDDLInfo byte = 'D'

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
}
