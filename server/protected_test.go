package server

import "testing"

func TestProtectedRefuses(t *testing.T) {
	cases := []struct {
		enabled, open bool
		remote        string
		want          bool
	}{
		{true, true, "127.0.0.1:5000", false},
		{true, true, "127.9.8.7:5000", false},
		{true, true, "[::1]:5000", false},
		{true, true, "[::ffff:127.0.0.1]:5000", false},
		{true, true, "10.1.2.3:5000", true},
		{true, true, "[fe80::1%eth0]:5000", true},
		{true, true, "[::ffff:10.0.0.1]:5000", true},
		{true, true, "garbage", true},
		{true, false, "10.1.2.3:5000", false}, // a password is set (or default is off)
		{false, true, "10.1.2.3:5000", false}, // --protected-mode no
	}
	for _, tc := range cases {
		if got := ProtectedRefuses(tc.enabled, tc.open, tc.remote); got != tc.want {
			t.Errorf("ProtectedRefuses(%v, %v, %s) = %v, want %v", tc.enabled, tc.open, tc.remote, got, tc.want)
		}
	}
}
