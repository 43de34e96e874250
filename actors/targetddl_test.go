package actors

import (
	"database/sql/driver"
	"errors"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
)

// mariaTarget's side of the DDL, parts and resync seams against a
// stand-in server (go-sqlmock): the statements it sends and how it reads
// the server's answers.

func TestMariaTargetExecDDL(t *testing.T) {
	ctx := t.Context()
	db, mock := newSourceMock(t)
	m := &mariaTarget{db: db, task: "t", source: "s"}
	const stmt = "ALTER TABLE `db`.`t` ADD COLUMN `c` INT"
	for _, tc := range []struct {
		answer             error
		present, partition bool
		permanent          bool
	}{
		{nil, false, false, false},
		{&mysql.MySQLError{Number: 1060, Message: "Duplicate column name 'c'"}, true, false, true},
		{&mysql.MySQLError{Number: 1517, Message: "Duplicate partition name p1"}, false, true, true},
		{&mysql.MySQLError{Number: 1118, Message: "Row size too large"}, false, false, true},
		{&mysql.MySQLError{Number: 1213, Message: "Deadlock found"}, false, false, false},
		{driver.ErrBadConn, false, false, false},
	} {
		e := mock.ExpectExec(q(stmt))
		if tc.answer != nil {
			e.WillReturnError(tc.answer)
		} else {
			e.WillReturnResult(sqlmock.NewResult(0, 0))
		}
		err := m.ExecDDL(ctx, stmt)
		if (tc.answer == nil) != (err == nil) || errors.Is(err, errDDLPresent) != tc.present ||
			errors.Is(err, errPartitionPresent) != tc.partition || IsPermanent(err) != tc.permanent {
			t.Errorf("answer %v: %v (present %v, partition %v, permanent %v)", tc.answer, err,
				errors.Is(err, errDDLPresent), errors.Is(err, errPartitionPresent), IsPermanent(err))
		}
		var refusal *ddlRefusal
		if tc.present && (!errors.As(err, &refusal) || refusal.Message != "Duplicate column name 'c'" || err.Error() != tc.answer.Error()) {
			t.Errorf("answer %v: refusal %+v, text %q: want the server's", tc.answer, refusal, err)
		}
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}

func TestMariaTargetReads(t *testing.T) {
	ctx := t.Context()
	db, mock := newSourceMock(t)
	m := &mariaTarget{db: db, task: "t", source: "s"}

	mock.ExpectQuery(q("SHOW CREATE TABLE `db`.`t`")).WillReturnRows(sqlmock.NewRows([]string{"Table", "Create Table"}).AddRow("t", "CREATE TABLE `t` (`id` int)"))
	mock.ExpectQuery(q("SHOW CREATE TABLE `db`.`gone`")).WillReturnError(&mysql.MySQLError{Number: 1146, Message: "doesn't exist"})
	if c, ok, err := m.ShowCreateTable(ctx, "db", "t"); err != nil || !ok || c != "CREATE TABLE `t` (`id` int)" {
		t.Errorf("show create: %q %v %v", c, ok, err)
	}
	if _, ok, err := m.ShowCreateTable(ctx, "db", "gone"); err != nil || ok {
		t.Errorf("show create of a missing table: %v %v", ok, err)
	}

	mock.ExpectQuery(q("SELECT COUNT(*) FROM information_schema.TABLES")).WithArgs("db", "t").WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow(1))
	if ok, err := m.TableExists(ctx, "db", "t"); err != nil || !ok {
		t.Errorf("table exists: %v %v", ok, err)
	}

	mock.ExpectQuery(q("SELECT COLUMN_NAME FROM information_schema.COLUMNS")).WithArgs("db", "t").WillReturnRows(sqlmock.NewRows([]string{"c"}).AddRow("id").AddRow("v"))
	mock.ExpectQuery(q("SELECT COUNT(*), SUM(CRC32(CONCAT_WS(',', `id`, ISNULL(`id`), `v`, ISNULL(`v`)))) FROM `db`.`t`")).
		WillReturnRows(sqlmock.NewRows([]string{"n", "sum"}).AddRow("3", "12345"))
	if fp, err := m.RowsFingerprint(ctx, "db", "t"); err != nil || fp != "3:12345" {
		t.Errorf("rows fingerprint: %q %v", fp, err)
	}
	mock.ExpectQuery(q("SELECT COLUMN_NAME FROM information_schema.COLUMNS")).WithArgs("db", "gone").WillReturnRows(sqlmock.NewRows([]string{"c"}))
	if fp, err := m.RowsFingerprint(ctx, "db", "gone"); err != nil || fp != "" {
		t.Errorf("rows fingerprint of a missing table: %q %v", fp, err)
	}

	mock.ExpectQuery(q("FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND PARTITION_NAME IS NOT NULL")).WithArgs("db", "t").
		WillReturnRows(sqlmock.NewRows([]string{"n", "list"}).AddRow("2", "p0:10,p1:20"))
	mock.ExpectQuery(q("FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND PARTITION_NAME IS NOT NULL")).WithArgs("db", "t").
		WillReturnRows(sqlmock.NewRows([]string{"n", "list"}).AddRow("3", "p0:10,p1:20,p2:30"))
	fp1, err1 := m.PartitionsFingerprint(ctx, "db", "t")
	fp2, err2 := m.PartitionsFingerprint(ctx, "db", "t")
	if err1 != nil || err2 != nil || fp1 == fp2 || len(fp1) != 32 {
		t.Errorf("partitions fingerprints %q %q: %v %v", fp1, fp2, err1, err2)
	}
	mock.ExpectQuery(q("SELECT MAX(PARTITION_METHOD)")).WithArgs("db", "t").WillReturnRows(sqlmock.NewRows([]string{"m"}).AddRow("LINEAR KEY"))
	if method, err := m.PartitionMethod(ctx, "db", "t"); err != nil || method != "LINEAR KEY" {
		t.Errorf("partition method: %q %v", method, err)
	}

	mock.ExpectQuery(q("SELECT pos, fingerprint FROM dmnode_meta.ddl_inflight")).WithArgs("t", "s").WillReturnRows(sqlmock.NewRows([]string{"pos", "fp"}))
	mock.ExpectExec(q("REPLACE INTO dmnode_meta.ddl_inflight")).WithArgs("t", "s", "bin.000001:100", "3:1").WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectQuery(q("SELECT pos, fingerprint FROM dmnode_meta.ddl_inflight")).WithArgs("t", "s").WillReturnRows(sqlmock.NewRows([]string{"pos", "fp"}).AddRow("bin.000001:100", "3:1"))
	if pos, fp, err := m.InflightDDL(ctx); err != nil || pos != "" || fp != "" {
		t.Errorf("no in-flight DDL: %q %q %v", pos, fp, err)
	}
	if err := m.RecordInflightDDL(ctx, "bin.000001:100", "3:1"); err != nil {
		t.Fatal(err)
	}
	if pos, fp, err := m.InflightDDL(ctx); err != nil || pos != "bin.000001:100" || fp != "3:1" {
		t.Errorf("in-flight DDL: %q %q %v", pos, fp, err)
	}

	mock.ExpectQuery(q("SELECT current_db, stmt FROM dmnode_meta.online_ddl")).WithArgs("t", "s", "db", "t").
		WillReturnRows(sqlmock.NewRows([]string{"db", "stmt"}).AddRow("db", "ALTER TABLE _t_gho ADD c int").AddRow("db", "ALTER TABLE _t_gho DROP d"))
	if kept, err := m.KeptOnlineDDL(ctx, "db", "t"); err != nil || len(kept) != 2 || kept[1].Query != "ALTER TABLE _t_gho DROP d" {
		t.Errorf("kept online DDL: %+v %v", kept, err)
	}

	mock.ExpectExec(q("CREATE TABLE IF NOT EXISTS dmnode_meta.shard_resync")).WillReturnResult(sqlmock.NewResult(0, 0))
	mock.ExpectQuery(q("SELECT state FROM dmnode_meta.shard_resync")).WithArgs("t", "s").WillReturnRows(sqlmock.NewRows([]string{"state"}))
	mock.ExpectExec(q("CREATE TABLE IF NOT EXISTS dmnode_meta.shard_resync")).WillReturnResult(sqlmock.NewResult(0, 0))
	mock.ExpectQuery(q("SELECT state FROM dmnode_meta.shard_resync")).WithArgs("t", "s").WillReturnRows(sqlmock.NewRows([]string{"state"}).AddRow(`{"reached":{}}`))
	if st, ok, err := m.ResyncState(ctx); err != nil || ok || st != "" {
		t.Errorf("no resync state: %q %v %v", st, ok, err)
	}
	if st, ok, err := m.ResyncState(ctx); err != nil || !ok || st != `{"reached":{}}` {
		t.Errorf("resync state: %q %v %v", st, ok, err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}

// The target transaction of a sequence of parts, a piece and the apply
// window: each checks the fence; the sequence's checkpoint commits in it.
func TestMariaTargetParts(t *testing.T) {
	ctx := t.Context()
	db, mock := newSourceMock(t)
	m := &mariaTarget{db: db, task: "t", source: "s", epoch: 7}
	end := dmnode.Position{File: "bin.000001", Pos: 900}
	fence := func() {
		mock.ExpectQuery(q("SELECT epoch FROM dmnode_meta.fence WHERE task = ? AND source = ? LOCK IN SHARE MODE")).WithArgs("t", "s").
			WillReturnRows(sqlmock.NewRows([]string{"epoch"}).AddRow(7))
	}

	mock.ExpectBegin()
	mock.ExpectExec(q("INSERT INTO `db`.`t`")).WithArgs(1).WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectExec(q("INSERT INTO `db`.`t`")).WithArgs(2).WillReturnError(&mysql.MySQLError{Number: 8004, Message: "Transaction is too large"})
	mock.ExpectRollback()
	tx, err := m.BeginParts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec(ctx, stmt{query: "INSERT INTO `db`.`t` (`id`) VALUES (?)", args: []any{1}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec(ctx, stmt{query: "INSERT INTO `db`.`t` (`id`) VALUES (?)", args: []any{2}}); !isTxnTooLarge(err) {
		t.Fatalf("refused for its size: %v", err)
	}
	tx.Rollback()

	mock.ExpectBegin()
	mock.ExpectExec(q("INSERT INTO `db`.`t`")).WithArgs(3).WillReturnResult(sqlmock.NewResult(0, 1))
	fence()
	mock.ExpectExec(q("INSERT INTO dmnode_meta.checkpoint")).WithArgs("t", "s", uint64(7), "bin.000001", uint32(900), "", uint32(9)).WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectExec(q("INSERT INTO dmnode_meta.shard_resync")).WithArgs("t", "s", "{}").WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectCommit()
	if tx, err = m.BeginParts(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Exec(ctx, stmt{query: "INSERT INTO `db`.`t` (`id`) VALUES (?)", args: []any{3}}); err != nil {
		t.Fatal(err)
	}
	state := []stmt{{query: "INSERT INTO dmnode_meta.shard_resync (task, source, state) VALUES (?, ?, ?)", args: []any{"t", "s", "{}"}}}
	if err := tx.Checkpoint(ctx, targetTxn{State: state, Pos: end, At: 9}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	// A piece: the fence, its statements, no checkpoint.
	mock.ExpectBegin()
	fence()
	mock.ExpectExec(q("REPLACE INTO `db`.`t`")).WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectCommit()
	if err := m.CommitPiece(ctx, targetTxn{Stmts: []stmt{{query: "REPLACE INTO `db`.`t` (`id`) VALUES (4)"}}}); err != nil {
		t.Fatal(err)
	}
	// The apply window.
	mock.ExpectBegin()
	fence()
	mock.ExpectExec(q("INSERT INTO dmnode_meta.apply_window")).WithArgs("t", "s", "bin.000001", uint32(900), "").WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectCommit()
	if err := m.RecordWindow(ctx, end); err != nil {
		t.Fatal(err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}
