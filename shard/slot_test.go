package shard

import (
	"testing"
)

// Golden values from redis-server 7.0.15 started with --cluster-enabled yes
// and asked CLUSTER KEYSLOT for each key.
var goldenSlots = []struct {
	key  string
	slot uint16
}{
	{"foo", 12182},
	{"bar", 5061},
	{"{user1000}.following", 3443},
	{"{user1000}.followers", 3443},
	{"foo{}{bar}", 8363},
	{"foo{{bar}}zap", 4015},
	{"foo{bar}{zap}", 5061},
	{"{}", 15257},
	{"}{", 12793},
	{"{", 4092},
	{"a{b", 13340},
	{"", 0},
	{"key:__rand_int__", 13782},
	{"user:12345", 1800},
	{"123456789", 12739},
	{"{a}", 15495},
	{"{{}}", 4092},
	{"x{}y{z}", 15453},
	{"ratelimit:ip:10.0.0.1", 6157},
	{"CL.THROTTLE", 5577},
	{"🙂", 6396},
	{"abc{", 3048},
	{"}abc{def}", 16148},
}

func TestSlotMatchesRedis(t *testing.T) {
	for _, g := range goldenSlots {
		if got := Slot([]byte(g.key)); got != g.slot {
			t.Errorf("Slot(%q) = %d, Redis says %d", g.key, got, g.slot)
		}
	}
}

func TestCRC16CheckValue(t *testing.T) {
	// The published check value of CRC-16/XMODEM.
	if got := crc16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3", got)
	}
}

func TestSlotDoesNotAllocate(t *testing.T) {
	key := []byte("{user1000}.following")
	if n := testing.AllocsPerRun(100, func() { Slot(key) }); n != 0 {
		t.Fatalf("Slot allocates %v times", n)
	}
}

func FuzzSlot(f *testing.F) {
	for _, g := range goldenSlots {
		f.Add([]byte(g.key))
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		s := Slot(key)
		if s >= NumSlots {
			t.Fatalf("slot %d out of range", s)
		}
		// A key and the same key wrapped as a hash tag of another agree
		// whenever the key has no braces of its own.
		for _, ch := range key {
			if ch == '{' || ch == '}' {
				return
			}
		}
		if len(key) > 0 {
			tagged := append(append([]byte("pre{"), key...), "}post"...)
			if Slot(tagged) != s {
				t.Fatalf("tagged %q: %d, plain: %d", tagged, Slot(tagged), s)
			}
		}
	})
}
