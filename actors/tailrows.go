package actors

import (
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
)

// rowsMemo keeps what the tailer derived for the last rows event's table,
// for the next rows events of the same table: its name and the column
// names a change carries (a change shares them, as it would a copy).
type rowsMemo struct {
	id    dmnode.TableID
	tbl   *schema.Table
	names []string
}

// tableID names the table of a rows event.
func (m *rowsMemo) tableID(t *replication.TableMapEvent) dmnode.TableID {
	if string(t.Schema) != m.id.Schema || string(t.Table) != m.id.Table {
		m.id = dmnode.TableID{Schema: string(t.Schema), Table: string(t.Table)}
	}
	return m.id
}

// columnNames returns tbl's column names.
func (m *rowsMemo) columnNames(tbl *schema.Table) []string {
	if m.tbl != tbl || len(m.names) != len(tbl.Columns) {
		m.tbl, m.names = tbl, tbl.ColumnNames()
		return m.names
	}
	for i, c := range tbl.Columns {
		if c.Name != m.names[i] {
			m.names = tbl.ColumnNames()
			return m.names
		}
	}
	return m.names
}
