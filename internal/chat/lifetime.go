package chat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxLifetime is the longest a disappearing message may live: a year.
const MaxLifetime = maxDisappear * time.Second

// ParseLifetime reads how long messages are to live, as both front ends
// take it: a Go duration ("30m", "1h30m") or a number of days ("7d"); "0"
// means for good. It refuses what SetDisappear would: less than a second,
// more than MaxLifetime.
func ParseLifetime(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q: give a duration such as 30m, 1h or 7d (0: messages stay)", s)
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 1000 {
			return 0, bad
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	switch {
	case d < 0:
		return 0, bad
	case d > 0 && d < time.Second:
		return 0, fmt.Errorf("%q: at least a second", s)
	case d > MaxLifetime:
		return 0, errors.New(s + ": at most a year (" + FormatLifetime(MaxLifetime) + ")")
	}
	return d.Truncate(time.Second), nil
}

// FormatLifetime says a lifetime the short way: "1h", "90m" as "1h30m",
// "7d".
func FormatLifetime(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := strings.TrimSuffix(d.String(), "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		return "0s"
	}
	return s
}
