package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redisProc is a real redis-server started for a test, the reference the
// differential tests compare rlserver with.
type redisProc struct {
	Addr string
	Port string
}

// startRedis runs redis-server on a free loopback port with persistence
// off, and stops it when the test ends. Under CI redis-server is required;
// elsewhere the test is skipped without it.
func startRedis(t testing.TB) *redisProc {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is required under CI but not installed")
		}
		t.Skip("redis-server not installed")
	}
	addr := launchRedis(t, path)
	_, port, _ := strings.Cut(addr, "127.0.0.1:")
	return &redisProc{Addr: addr, Port: port}
}

// rawReply reads one reply and returns its exact bytes.
func rawReply(r *bufio.Reader) ([]byte, error) {
	var out []byte
	var read func() error
	read = func() error {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return err
		}
		out = append(out, line...)
		if len(line) < 3 || line[len(line)-2] != '\r' {
			return fmt.Errorf("bad reply line %q", line)
		}
		body := string(line[1 : len(line)-2])
		switch line[0] {
		case '$', '=', '!':
			n, err := strconv.Atoi(body)
			if err != nil {
				return err
			}
			if n >= 0 {
				buf := make([]byte, n+2)
				if _, err := io.ReadFull(r, buf); err != nil {
					return err
				}
				out = append(out, buf...)
			}
		case '*', '%', '~', '>', '|':
			n, err := strconv.Atoi(body)
			if err != nil {
				return err
			}
			if line[0] == '%' || line[0] == '|' {
				n *= 2
			}
			for range max(n, 0) {
				if err := read(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := read()
	return out, err
}

// splitCommand splits a test-script line into arguments: blanks separate
// them, double quotes group, and inside quotes \" \\ \r \n \t \xHH escape.
func splitCommand(line string) ([]string, error) {
	var args []string
	var cur []byte
	in, have := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case in && ch == '\\' && i+1 < len(line):
			i++
			switch line[i] {
			case 'n':
				cur = append(cur, '\n')
			case 'r':
				cur = append(cur, '\r')
			case 't':
				cur = append(cur, '\t')
			case 'x':
				if i+2 >= len(line) {
					return nil, fmt.Errorf("short \\x escape")
				}
				v, err := strconv.ParseUint(line[i+1:i+3], 16, 8)
				if err != nil {
					return nil, err
				}
				cur = append(cur, byte(v))
				i += 2
			default:
				cur = append(cur, line[i])
			}
		case ch == '"':
			in, have = !in, true
		case !in && (ch == ' ' || ch == '\t'):
			if have {
				args = append(args, string(cur))
			}
			cur, have = cur[:0:0], false
		default:
			cur, have = append(cur, ch), true
		}
	}
	if in {
		return nil, fmt.Errorf("unterminated quote")
	}
	if have {
		args = append(args, string(cur))
	}
	return args, nil
}

// diffScript sends each command of a script to rlserver and to Redis on
// connections of their own and reports every reply that differs byte for
// byte. Blank lines and lines starting with # are skipped; a line starting
// with ~ is sent to both but its replies are not compared (HELLO's, which
// names the server).
func diffScript(t *testing.T, name, script string, ours, ref string) {
	t.Helper()
	a, b := dial(t, ours), dial(t, ref)
	ra, rb := bufio.NewReader(a), bufio.NewReader(b)
	for n, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		compare := !strings.HasPrefix(line, "~")
		args, err := splitCommand(strings.TrimPrefix(line, "~"))
		if err != nil {
			t.Fatalf("%s:%d: %v", name, n+1, err)
		}
		var replies [2][]byte
		for i, side := range []struct {
			c net.Conn
			r *bufio.Reader
		}{{a, ra}, {b, rb}} {
			side.c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := side.c.Write(encode(args...)); err != nil {
				t.Fatalf("%s:%d: %v", name, n+1, err)
			}
			if replies[i], err = rawReply(side.r); err != nil {
				t.Fatalf("%s:%d: %s: reading reply %d: %v", name, n+1, line, i, err)
			}
		}
		if compare && !bytes.Equal(replies[0], replies[1]) {
			t.Errorf("%s:%d: %s\n  rlserver: %q\n  redis:    %q", name, n+1, line, replies[0], replies[1])
		}
	}
}

// TestRedisDifferential replays every script in testdata/redisdiff against
// rlserver and Redis 7 and requires identical replies.
func TestRedisDifferential(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/redisdiff/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	ref := startRedis(t)
	srv := startServer(t)
	for _, f := range files {
		script, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			diffScript(t, filepath.Base(f), "FLUSHALL\n"+string(script), srv.Addr, ref.Addr)
		})
	}
}
