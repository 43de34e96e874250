package precheck

import (
	"context"
	"fmt"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/config"
)

// connLimits are a server's connection limits as one account sees them.
type connLimits struct {
	maxConnections int // @@GLOBAL.max_connections
	connected      int // Threads_connected, this check's connection included
	// maxUser is the account's limit: its MAX_USER_CONNECTIONS, else the
	// global max_user_connections; 0 means none.
	maxUser int
	// userConnected counts the account's open connections, this one
	// included (information_schema.PROCESSLIST shows an account without
	// the PROCESS privilege its own).
	userConnected int
}

func readConnLimits(ctx context.Context, q actors.Queryer) (connLimits, error) {
	var l connLimits
	err := q.QueryRowContext(ctx, "SELECT @@GLOBAL.max_connections, @@max_user_connections").Scan(&l.maxConnections, &l.maxUser)
	if err != nil {
		return l, fmt.Errorf("read connection limits: %w", err)
	}
	var name string
	if err := q.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_connected'").Scan(&name, &l.connected); err != nil {
		return l, fmt.Errorf("read connection count: %w", err)
	}
	err = q.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.PROCESSLIST
		WHERE USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1)`).Scan(&l.userConnected)
	if err != nil {
		return l, fmt.Errorf("count the account's connections: %w", err)
	}
	return l, nil
}

// connFindings checks that a server accepts need more connections from
// the account, besides those already open (the check's own connection
// closes before the task runs). why says what opens them.
func connFindings(l connLimits, need int, acct account, why string, severity Severity, target bool) []Finding {
	var out []Finding
	if free := l.maxConnections - l.connected + 1; free < need {
		want := l.maxConnections + need - free
		out = append(out, Finding{Item: config.CheckConnNumber, Severity: severity, Target: target,
			Message: fmt.Sprintf("the server accepts %d connections (max_connections) and %d are open, but the task opens up to %d (%s)",
				l.maxConnections, l.connected-1, need, why),
			Fix: fmt.Sprintf("run SET GLOBAL max_connections = %d and set max_connections = %d under [mysqld] in the server's configuration file, or lower the task's threads", want, want)})
	}
	if l.maxUser > 0 {
		if free := l.maxUser - l.userConnected + 1; free < need {
			out = append(out, Finding{Item: config.CheckConnNumber, Severity: severity, Target: target,
				Message: fmt.Sprintf("%s may open %d connections (max_user_connections) and %d are open, but the task opens up to %d (%s)",
					acct, l.maxUser, l.userConnected-1, need, why),
				Fix: fmt.Sprintf("run ALTER USER %s WITH MAX_USER_CONNECTIONS %d (0 lifts the limit), or lower the task's threads", acct, l.maxUser+need-free)})
		}
	}
	return out
}

// sourceConns is how many connections dmnode opens to a source at most
// for one instance: the dump's snapshot lock and readers, and the binlog
// reader; or, without a dump, the binlog reader and the connection that
// reads the schemas where it starts.
func sourceConns(mode string, inst *config.Instance) (int, string) {
	if mode == config.ModeIncremental {
		return 2, "the binlog reader and a schema reader"
	}
	threads := max(inst.Dump.Threads, 1)
	why := fmt.Sprintf("%d dump readers, the snapshot lock", threads)
	if mode == config.ModeAll {
		return threads + 2, why + " and the binlog reader"
	}
	return threads + 1, why
}

// targetConns is how many connections the task opens to the target at
// most: each source's loader pool (pool-size) or its applier's two.
func targetConns(t *config.Task) (int, string) {
	n := 0
	for i := range t.MySQLInstances {
		if t.TaskMode == config.ModeIncremental {
			n += 2
			continue
		}
		n += max(t.MySQLInstances[i].Load.PoolSize, 2)
	}
	if t.TaskMode == config.ModeIncremental {
		return n, fmt.Sprintf("2 per applier of %d sources", len(t.MySQLInstances))
	}
	return n, fmt.Sprintf("the loader pools (pool-size) of %d sources", len(t.MySQLInstances))
}
