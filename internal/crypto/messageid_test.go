package crypto

import (
	"bytes"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestMessageID(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)
	id := NewMessageID(now)
	if got, want := id.Time(), now.Truncate(time.Microsecond); !got.Equal(want) {
		t.Errorf("Time() = %v, want %v", got, want)
	}
	s := id.String()
	if len(s) != 32 || strings.ToLower(s) != s {
		t.Errorf("String() = %q", s)
	}
	back, err := ParseMessageID(s)
	if err != nil || back != id {
		t.Errorf("ParseMessageID(%q) = %v, %v", s, back, err)
	}
	if NewMessageID(now) == id {
		t.Error("two IDs for the same time are equal")
	}
	for _, tm := range []time.Time{time.Unix(0, 0), time.UnixMicro(-1), time.UnixMicro(1 << 62)} {
		if got := NewMessageID(tm).Time(); !got.Equal(tm) {
			t.Errorf("Time() = %v, want %v", got, tm)
		}
	}
}

func TestMessageIDOrder(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []MessageID
	var strs []string
	for i := range 100 {
		id := NewMessageID(base.Add(time.Duration(i) * time.Microsecond))
		ids = append(ids, id)
		strs = append(strs, id.String())
	}
	sort.Strings(strs)
	for i, s := range strs {
		if want := ids[len(ids)-1-i].String(); s != want {
			t.Fatalf("sorted position %d holds %s, want the newer %s", i, s, want)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	for i := 1; i < len(ids); i++ {
		if !ids[i].Time().Before(ids[i-1].Time()) {
			t.Fatal("ascending byte order is not newest first")
		}
	}
}

func TestParseMessageIDErrors(t *testing.T) {
	valid := fixedMessageID("x").String()
	for _, s := range []string{
		"",
		valid[:31],
		valid + "0",
		strings.ToUpper(valid),
		"g" + valid[1:],
		" " + valid[1:],
		valid[:31] + "\x00",
	} {
		if _, err := ParseMessageID(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseMessageID(%q): %v, want ErrMalformed", s, err)
		}
	}
}
