package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "1048576", want: 1 << 20},
		{in: "512MiB", want: 512 << 20},
		{in: "10GiB", want: 10 << 30},
		{in: "10 GiB", want: 10 << 30},
		{in: "20GB", want: 20e9},
		{in: "64m", want: 64 << 20},
		{in: "3B", want: 3},
		{in: "1.5GiB", bad: true},
		{in: "-1", bad: true},
		{in: "GiB", bad: true},
		{in: "99999999999TiB", bad: true},
	} {
		got, err := ParseSize(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestSourceRelaySettings(t *testing.T) {
	base := "source-id: s1\nfrom: {host: 127.0.0.1, port: 3306, user: root}\n"
	src, err := DecodeSource("source.yaml", []byte(base+"relay-max-size: 256MiB\nbinlog-purge-margin: 6h\npurge: {expires: 24}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if src.RelayMaxBytes != 256<<20 || src.BinlogPurgeWarn != 6*time.Hour || src.Purge.Expires != 24 {
		t.Errorf("got max %d, margin %s, expires %d", src.RelayMaxBytes, src.BinlogPurgeWarn, src.Purge.Expires)
	}
	if len(src.Warnings) != 0 {
		t.Errorf("warnings: %q", src.Warnings)
	}
	for in, want := range map[string]string{
		"relay-max-size: lots\n":      `source.yaml:3:1: relay-max-size: invalid size "lots"`,
		"relay-max-size: 4KiB\n":      `source.yaml:3:1: relay-max-size: "4KiB" is below the minimum of 1MiB`,
		"binlog-purge-margin: soon\n": `source.yaml:3:1: binlog-purge-margin: invalid duration "soon"`,
		"binlog-purge-margin: -1h\n":  `source.yaml:3:1: binlog-purge-margin: must be positive`,
		"purge: {expires: -2}\n":      `source.yaml:3:9: purge.expires: must be positive or 0`,
	} {
		_, err := DecodeSource("source.yaml", []byte(base+in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", in, err, want)
		}
	}
}
