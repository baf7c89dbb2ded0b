package control

import (
	"unicode"
	"unicode/utf8"
)

// checkText validates a free-text field: valid UTF-8, at most max bytes, no
// control characters (newlines only when multiline). Messages name the field
// and never echo the value, which may be anything a client sent.
func checkText(field, s string, max int, multiline bool) error {
	if len(s) > max {
		return Errorf(EINVALID, "%s is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return Errorf(EINVALID, "%s contains control characters", field)
		}
	}
	return nil
}

// checkIdent validates an identifier-like field (request ids, model names,
// providers): non-empty, at most max bytes of printable ASCII without spaces.
func checkIdent(field, s string, max int) error {
	if s == "" {
		return Errorf(EINVALID, "%s is required", field)
	}
	if len(s) > max {
		return Errorf(EINVALID, "%s is longer than %d bytes", field, max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return Errorf(EINVALID, "%s must be printable ASCII without spaces", field)
		}
	}
	return nil
}
