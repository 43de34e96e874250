package precheck

import (
	"context"
	"fmt"
	"strconv"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/config"
)

// binlogFile is one line of SHOW BINARY LOGS.
type binlogFile struct {
	name string
	size uint64
}

func readBinlogFiles(ctx context.Context, q actors.Queryer) ([]binlogFile, error) {
	rows, err := q.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("show binary logs: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("show binary logs: %w", err)
	}
	var files []binlogFile
	for rows.Next() {
		vals := make([]any, len(cols)) // Log_name, File_size[, Encrypted]
		var name, size string
		vals[0], vals[1] = &name, &size
		for i := 2; i < len(vals); i++ {
			vals[i] = new(any)
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, fmt.Errorf("show binary logs: %w", err)
		}
		n, _ := strconv.ParseUint(size, 10, 64)
		files = append(files, binlogFile{name: name, size: n})
	}
	return files, rows.Err()
}

// metaFindings checks the start position of an incremental task: its
// binlog file is still on the source and the position lies within it.
func metaFindings(m *config.Meta, files []binlogFile) []Finding {
	if m == nil || m.BinlogName == "" {
		return nil
	}
	pos := uint64(max(m.BinlogPos, 4))
	const redump = "; or use task-mode: all to copy the data again and replicate from the copy's position. " +
		"To keep binlogs longer, raise expire_logs_days (MariaDB) or binlog_expire_logs_seconds (MySQL 8)"
	if len(files) == 0 {
		return []Finding{{Item: config.CheckMetaPosition, Severity: Error,
			Message: fmt.Sprintf("meta.binlog-name is %s, but the source lists no binlog file", m.BinlogName),
			Fix:     "turn binary logging on (log_bin) and give a position the source has" + redump}}
	}
	oldest, newest := files[0], files[len(files)-1]
	for _, f := range files {
		if f.name != m.BinlogName {
			continue
		}
		if pos > f.size && f.name != newest.name {
			return []Finding{{Item: config.CheckMetaPosition, Severity: Error,
				Message: fmt.Sprintf("meta.binlog-pos %d is past the end of %s, which has %d bytes", pos, f.name, f.size),
				Fix:     fmt.Sprintf("give a binlog-pos within %s, at the start of an event (SHOW BINLOG EVENTS IN '%s' lists them)", f.name, f.name)}}
		}
		if pos > f.size {
			return []Finding{{Item: config.CheckMetaPosition, Severity: Error,
				Message: fmt.Sprintf("meta.binlog-pos %d is past the current end of %s (%d bytes)", pos, f.name, f.size),
				Fix:     fmt.Sprintf("give a binlog-pos the source has written, at most %d (SHOW MASTER STATUS shows the current one)", f.size)}}
		}
		return nil
	}
	if m.BinlogName < oldest.name {
		return []Finding{{Item: config.CheckMetaPosition, Severity: Error,
			Message: fmt.Sprintf("meta.binlog-name %s has been purged from the source: its oldest binlog file is %s", m.BinlogName, oldest.name),
			Fix: fmt.Sprintf("the changes between %s and %s are gone from the source: start from a position it still has (binlog-name: %s, binlog-pos: 4) only if the target already holds them%s",
				m.BinlogName, oldest.name, oldest.name, redump)}}
	}
	return []Finding{{Item: config.CheckMetaPosition, Severity: Error,
		Message: fmt.Sprintf("meta.binlog-name %s is not a binlog file of the source (it has %s to %s)", m.BinlogName, oldest.name, newest.name),
		Fix:     "give a file SHOW BINARY LOGS lists on the source"}}
}
