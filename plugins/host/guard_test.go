package host

import (
	"bytes"
	"testing"
)

func TestGuardEntries(t *testing.T) {
	header := []byte("\x00asm\x01\x00\x00\x00")
	// One function with two i32 locals and the body `nop`, then a custom
	// section that must pass through unchanged.
	module := append(append([]byte{}, header...),
		10, 7, 1, 5, 1, 2, 0x7f, 0x01, 0x0b,
		0, 3, 1, 'x', 9)
	got, err := guardEntries(module)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, header...),
		10, 10, 1, 8, 1, 2, 0x7f, 0x03, 0x40, 0x0b, 0x01, 0x0b,
		0, 3, 1, 'x', 9)
	if !bytes.Equal(got, want) {
		t.Errorf("got  % x\nwant % x", got, want)
	}
	for name, bad := range map[string][]byte{
		"section past the end":   {10, 9, 1},
		"function past the end":  {10, 3, 1, 9, 0},
		"huge function count":    {10, 5, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"locals past the body":   {10, 4, 1, 2, 3, 1},
		"bad LEB128":             {10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		"data after a function":  {10, 5, 1, 2, 0, 0x0b, 0x0b},
		"section id and no size": {10},
	} {
		if _, err := guardEntries(append(append([]byte{}, header...), bad...)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
