package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"100": 100, "1k": 1000, "1kb": 1024, "2mb": 2 << 20, "1gb": 1 << 30, "3m": 3_000_000, " 5KB ": 5120} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5mb", "ten"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestEnvironmentSetsFlagsAndFlagsWin(t *testing.T) {
	t.Setenv("RLSERVER_MAX_KEY_BYTES", "2kb")
	t.Setenv("RLSERVER_PORT", "7000")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	key := fs.String("max-key-bytes", "65536", "")
	port := fs.Int("port", 6379, "")
	if err := applyEnv(fs); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--port", "7001"}); err != nil {
		t.Fatal(err)
	}
	if *key != "2kb" || *port != 7001 {
		t.Fatalf("max-key-bytes %q port %d", *key, *port)
	}
}

func TestBadFlagsAreReported(t *testing.T) {
	for _, args := range [][]string{
		{"--snapshot-recover", "maybe"},
		{"--log-level", "loud"},
		{"--max-key-bytes", "huge"},
		{"--io-model", "threads"},
		{"--port", "70000"},
	} {
		err := run(append(args, "--data-dir", ""), io.Discard)
		if err == nil {
			t.Errorf("%v: accepted", args)
		} else if !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) && !strings.Contains(err.Error(), "port") && !strings.Contains(err.Error(), "io-model") {
			t.Errorf("%v: error %q does not name the flag", args, err)
		}
	}
}
