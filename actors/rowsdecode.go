package actors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-mysql-org/go-mysql/utils"
)

// decodeRows is the tailer's RowsEventDecodeFunc: it decodes the rows of
// an event whose columns are all integers, strings or blobs, with full
// row images, the most common events by far, in fewer allocations than
// go-mysql: integers come as int64 or uint64 (what normalizeValue makes
// of go-mysql's narrower types anyway, so it need not box them again),
// and the rows of an event share their values' backing arrays. Every
// other event (another column type, a partial image, a compressed or a
// partial-JSON event, or bytes it cannot read) go-mysql decodes as it
// would without it. Each value is what go-mysql gives, widened: strings
// and blobs refer to the event's buffer, as go-mysql's do.
func decodeRows(e *replication.RowsEvent, data []byte) error {
	pos, err := e.DecodeHeader(data)
	if err != nil {
		return err
	}
	images, ok := plainRowsEvent(e)
	if !ok || !plainColumns(e) {
		return e.DecodeData(pos, data)
	}
	if err := decodePlainRows(e, data[pos:], images); err != nil {
		e.Rows = nil
		return e.DecodeData(pos, data)
	}
	return nil
}

// rowsEventFields are the indexes of RowsEvent's unexported fields
// compressed and eventType, which say whether decodeRows can read an
// event; -1 when go-mysql has no such fields (then it reads none).
var rowsEventFields = func() (f struct{ compressed, eventType int }) {
	f.compressed, f.eventType = -1, -1
	t := reflect.TypeFor[replication.RowsEvent]()
	c, ok1 := t.FieldByName("compressed")
	et, ok2 := t.FieldByName("eventType")
	if ok1 && ok2 && len(c.Index) == 1 && len(et.Index) == 1 &&
		c.Type.Kind() == reflect.Bool && et.Type == reflect.TypeFor[replication.EventType]() {
		f.compressed, f.eventType = c.Index[0], et.Index[0]
	}
	return f
}()

// plainRowsEvent reports whether e is an uncompressed write, update or
// delete rows event (version 1 or 2) and how many images a row has.
func plainRowsEvent(e *replication.RowsEvent) (images int, ok bool) {
	if rowsEventFields.compressed < 0 {
		return 0, false
	}
	v := reflect.ValueOf(e).Elem()
	if v.Field(rowsEventFields.compressed).Bool() {
		return 0, false
	}
	switch replication.EventType(v.Field(rowsEventFields.eventType).Uint()) {
	case replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2,
		replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2:
		return 1, true
	case replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2:
		return 2, true
	}
	return 0, false
}

// plainColumns reports whether every column of e's table is of a type
// decodePlainRows reads and present in every image.
func plainColumns(e *replication.RowsEvent) bool {
	t := e.Table
	n := int(e.ColumnCount)
	if t == nil || n == 0 || len(t.ColumnType) != n || len(t.ColumnMeta) != n {
		return false
	}
	for _, bm := range [][]byte{e.ColumnBitmap1, e.ColumnBitmap2} {
		if bm == nil {
			continue
		}
		if len(bm) != (n+7)/8 {
			return false
		}
		for i := range n {
			if bm[i>>3]&(1<<(i&7)) == 0 {
				return false
			}
		}
	}
	for i, tp := range t.ColumnType {
		switch tp {
		case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG,
			mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_BLOB:
		case mysql.MYSQL_TYPE_STRING:
			if _, ok := stringLength(t.ColumnMeta[i]); !ok {
				return false // ENUM or SET
			}
		default:
			return false
		}
	}
	return true
}

// stringLength decodes a MYSQL_TYPE_STRING column's metadata as go-mysql
// does: the column's maximum length, and false when its real type is not
// a string (ENUM and SET are logged as strings).
func stringLength(meta uint16) (int, bool) {
	if meta < 256 {
		return int(meta), true
	}
	b0, b1 := uint8(meta>>8), uint8(meta&0xFF)
	if b0&0x30 != 0x30 {
		return int(uint16(b1) | uint16((b0&0x30)^0x30)<<4), b0|0x30 == mysql.MYSQL_TYPE_STRING
	}
	return int(meta & 0xFF), b0 == mysql.MYSQL_TYPE_STRING
}

var errRowsShort = errors.New("rows event ends inside a row")

// decodePlainRows decodes the images of an event plainColumns accepted.
func decodePlainRows(e *replication.RowsEvent, data []byte, images int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode rows: %v", r)
		}
	}()
	t := e.Table
	n := int(e.ColumnCount)
	nullBytes := (n + 7) / 8
	unsigned := t.UnsignedMap()
	var backing []any
	rows := 0
	for start := len(data); len(data) > 0; {
		for range images {
			if len(backing) < n {
				// Room for one image, then for as many more as the
				// size of those before says the event holds.
				more := 1
				if rows > 0 {
					size := max((start-len(data))/rows, 1)
					more = min((len(data)+size-1)/size, 1024)
				}
				backing = make([]any, n*more)
				if rows == 1 {
					e.Rows = append(make([][]any, 0, 1+more), e.Rows...)
				}
			}
			row := backing[:n:n]
			backing = backing[n:]
			if len(data) < nullBytes {
				return errRowsShort
			}
			nulls := data[:nullBytes]
			data = data[nullBytes:]
			for i := range n {
				if nulls[i>>3]&(1<<(i&7)) != 0 {
					continue
				}
				v, size, err := plainValue(data, t.ColumnType[i], t.ColumnMeta[i], unsigned[i])
				if err != nil {
					return err
				}
				row[i] = v
				data = data[size:]
			}
			e.Rows = append(e.Rows, row)
			rows++
		}
	}
	return nil
}

// plainValue decodes one value of a type plainColumns accepts, as
// go-mysql's decodeValue does, integers widened to 64 bits.
func plainValue(data []byte, tp byte, meta uint16, unsigned bool) (any, int, error) {
	switch tp {
	case mysql.MYSQL_TYPE_TINY:
		if unsigned {
			return uint64(data[0]), 1, nil
		}
		return int64(int8(data[0])), 1, nil
	case mysql.MYSQL_TYPE_SHORT:
		if unsigned {
			return uint64(binary.LittleEndian.Uint16(data)), 2, nil
		}
		return int64(int16(binary.LittleEndian.Uint16(data))), 2, nil
	case mysql.MYSQL_TYPE_INT24:
		if unsigned {
			return uint64(mysql.ParseBinaryUint24(data)), 3, nil
		}
		return int64(mysql.ParseBinaryInt24(data)), 3, nil
	case mysql.MYSQL_TYPE_LONG:
		if unsigned {
			return uint64(binary.LittleEndian.Uint32(data)), 4, nil
		}
		return int64(int32(binary.LittleEndian.Uint32(data))), 4, nil
	case mysql.MYSQL_TYPE_LONGLONG:
		if unsigned {
			return binary.LittleEndian.Uint64(data), 8, nil
		}
		return int64(binary.LittleEndian.Uint64(data)), 8, nil
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		s, size := plainString(data, int(meta))
		return s, size, nil
	case mysql.MYSQL_TYPE_STRING:
		length, _ := stringLength(meta)
		s, size := plainString(data, length)
		return s, size, nil
	case mysql.MYSQL_TYPE_BLOB:
		var length, size int
		switch meta {
		case 1:
			length, size = int(data[0]), 1
		case 2:
			length, size = int(binary.LittleEndian.Uint16(data)), 2
		case 3:
			length, size = int(mysql.FixedLengthInt(data[:3])), 3
		case 4:
			length, size = int(binary.LittleEndian.Uint32(data)), 4
		default:
			return nil, 0, fmt.Errorf("blob length of %d bytes", meta)
		}
		return data[size : size+length], size + length, nil
	}
	return nil, 0, fmt.Errorf("column type %d", tp)
}

// plainString is go-mysql's decodeString: a string of at most length
// bytes after a one- or two-byte length, referring to data's bytes.
func plainString(data []byte, length int) (string, int) {
	if length < 256 {
		n := int(data[0])
		return utils.ByteSliceToString(data[1 : 1+n]), 1 + n
	}
	n := int(binary.LittleEndian.Uint16(data))
	return utils.ByteSliceToString(data[2 : 2+n]), 2 + n
}
