package filter

import "github.com/dmnode/dmnode"

// Relay returns the relayed form of a statement's parts
// (dmnode.DDLInfo.Events), which the tailer sends with the statement.
func Relay(parts []DDLEvent) []dmnode.DDLEvent {
	out := make([]dmnode.DDLEvent, len(parts))
	for i, p := range parts {
		out[i] = dmnode.DDLEvent{Event: string(p.Event), Schema: p.Schema, Table: p.Table}
		for _, a := range p.Also {
			out[i].Also = append(out[i].Also, string(a))
		}
	}
	return out
}

// RelayedEvents returns the parts of a statement from their relayed form;
// ok is false when in carries none (a change relayed by an older version,
// or a text the tailer could not classify): the reader then classifies
// the text.
func RelayedEvents(in *dmnode.DDLInfo) (parts []DDLEvent, ok bool) {
	if in == nil || !in.Classified {
		return nil, false
	}
	parts = make([]DDLEvent, len(in.Events))
	for i, e := range in.Events {
		parts[i] = DDLEvent{Event: Event(e.Event), Schema: e.Schema, Table: e.Table}
		for _, a := range e.Also {
			parts[i].Also = append(parts[i].Also, Event(a))
		}
	}
	return parts, true
}
