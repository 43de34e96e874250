package actors

import (
	"errors"
	"reflect"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"
)

func TestGroupStmts(t *testing.T) {
	a := stmt{query: "DELETE FROM t WHERE id = ?", args: []any{int64(1)}}
	b := stmt{query: "UPDATE t SET c = ? WHERE id = ?", args: []any{"x", int64(2)}}
	c := stmt{query: "INSERT INTO t VALUES (?)", args: []any{[]byte("yy")}}
	l := stmt{load: &loadStmt{file: []byte("1\n"), rows: 1, fallback: []stmt{c}}}
	cases := []struct {
		name  string
		stmts []stmt
		limit int
		want  []stmt
	}{
		{"none", nil, 100, nil},
		{"one", []stmt{a}, 100, []stmt{a}},
		{"all in one query, parameters in order", []stmt{a, b, c}, 1000, []stmt{{
			query: "DELETE FROM t WHERE id = ?;\nUPDATE t SET c = ? WHERE id = ?;\nINSERT INTO t VALUES (?)",
			args:  []any{int64(1), "x", int64(2), []byte("yy")},
		}}},
		{"split at the limit", []stmt{a, b, c}, stmtSize(a) + stmtSize(b), []stmt{{
			query: "DELETE FROM t WHERE id = ?;\nUPDATE t SET c = ? WHERE id = ?",
			args:  []any{int64(1), "x", int64(2)},
		}, c}},
		{"a load goes alone", []stmt{a, l, b}, 1000, []stmt{a, l, b}},
		{"a statement over the limit goes alone", []stmt{a, b}, 1, []stmt{a, b}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := groupStmts(tc.stmts, tc.limit); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("groupStmts =\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}

// A transaction that keeps hitting deadlocks is retried, then handed back
// as an error the actor retries, never as a permanent one that stops the
// task; a statement the target rejects is permanent at once.
func TestExecTxConflicts(t *testing.T) {
	ctx := t.Context()
	stmts := []stmt{{query: "INSERT INTO `db`.`t` (`id`) VALUES (?)", args: []any{int64(1)}}}
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
	db, mock, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range txAttempts {
		mock.ExpectBegin()
		mock.ExpectExec("INSERT INTO").WillReturnError(deadlock)
		mock.ExpectRollback()
	}
	err = execTx(ctx, db, stmts, nil)
	if err == nil || IsPermanent(err) || !errors.Is(err, deadlock) {
		t.Fatalf("execTx after %d deadlocks: %v; want a retryable error", txAttempts, err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}

	mock.ExpectBegin()
	mock.ExpectExec("INSERT INTO").WillReturnError(&mysql.MySQLError{Number: 1062, Message: "Duplicate entry '1' for key 'PRIMARY'"})
	mock.ExpectRollback()
	var ae *ApplyError
	if err := execTx(ctx, db, stmts, nil); !IsPermanent(err) || !errors.As(err, &ae) || ae.Table != "db.t" {
		t.Fatalf("execTx of a rejected row: %v; want a permanent ApplyError naming db.t", err)
	}
}
