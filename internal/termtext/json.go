package termtext

import (
	"fmt"
	"unicode/utf8"
)

// EscapeJSON returns JSON text b with every neutralised character (see
// [Neutralised]) that encoding/json leaves raw, DEL, the C1 controls and
// the direction controls, written as a \uXXXX escape instead. The value
// is unchanged: a decoder reads the same strings; only the bytes a
// terminal would act on are gone, so Clean leaves the result as it is. b
// must be valid JSON as encoding/json writes it (such characters can then
// only be inside strings).
func EscapeJSON(b []byte) []byte {
	i := 0
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if Neutralised(r) {
			break
		}
		i += n
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if Neutralised(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}
