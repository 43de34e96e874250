// Package exprfilter evaluates the row conditions of TiDB DM's
// expression-filter rules: MySQL expressions over the columns of one
// table, such as `c_status = 'deleted' AND c_id % 10 <> 0`.
//
// Parse checks an expression once, when the task is decoded; Bind compiles
// it against a table's columns into a Cond, a closure the per-row path
// calls. Nothing is interpreted from the syntax tree per row.
//
// # Semantics
//
// Evaluation follows MySQL for the values a binlog row carries (nil, int64,
// uint64, float32, float64, string, []byte):
//
//   - NULL propagates: a comparison or an arithmetic operation with a NULL
//     operand is NULL, and a NULL condition is not true. <=> and IS [NOT]
//     NULL/TRUE/FALSE are never NULL; AND, OR and XOR use three-valued
//     logic (false AND NULL is false, true OR NULL is true).
//   - Two strings compare as strings; two integers as integers (signed and
//     unsigned mixed correctly); anything else, a string against a number
//     included, as doubles, the string read up to its first non-numeric
//     character ('12abc' is 12, 'abc' is 0).
//   - Strings compare as a case-insensitive PAD SPACE collation would
//     (utf8mb4_general_ci-like: simple Unicode lower-case mapping, trailing
//     spaces ignored), except that accented letters are distinct. A binary
//     string (BINARY x, CAST(x AS BINARY), x COLLATE utf8mb4_bin, hex
//     literals) compares byte by byte. Byte-slice row values are treated as
//     text, because the binlog does not tell TEXT from BLOB.
//   - Integer + - * DIV % stay integers (unsigned when an operand is
//     unsigned) and overflow is an evaluation error; / and any operation
//     on a double or a string are computed in double precision. DECIMAL
//     column values (strings) and literals are approximated by doubles.
//     Division by zero is NULL.
//   - Dates and times arrive as strings: compare them with string literals
//     ('2024-01-31 00:00:00'); YEAR, MONTH and DAY read 'YYYY-MM-DD[ ...]'
//     and YYYYMMDD. ENUM and SET columns arrive as their index and bit set,
//     so compare them with numbers.
//
// Supported: = <> != < <= > >= <=>, + - * / DIV % MOD, AND OR XOR NOT !,
// [NOT] IN (list), [NOT] BETWEEN, [NOT] LIKE with ESCAPE, IS [NOT]
// NULL/TRUE/FALSE, CASE, COLLATE, parentheses, string and number literals,
// and the functions ABS, LENGTH, OCTET_LENGTH, CHAR_LENGTH,
// CHARACTER_LENGTH, LOWER, LCASE, UPPER, UCASE, CONCAT, SUBSTRING, SUBSTR,
// MID, TRIM, LTRIM, RTRIM, IFNULL, COALESCE, IF, NULLIF, YEAR, MONTH, DAY,
// DAYOFMONTH and CAST/CONVERT to SIGNED, UNSIGNED, CHAR, BINARY, DECIMAL,
// DOUBLE and FLOAT, JSON_EXTRACT and JSON_UNQUOTE (with -> and ->>; see
// json.go). Anything else is refused by Parse with an error that wraps
// ErrUnsupported and names it. Functions that read the clock (NOW,
// CURDATE, UNIX_TIMESTAMP(), ...) read the clock given to BindClock (Bind:
// time.Now in UTC) when the row is evaluated, as DM's do when it
// replicates the row; a row replayed later may so get another verdict
// (Expr.ReadsClock tells).
//
// Apart from Bind's clock, the package is pure and its values are immutable and safe for concurrent
// use.
package exprfilter
