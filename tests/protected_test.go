package tests

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rlserver/rlserver/internal/testcerts"
	"github.com/rlserver/rlserver/server"
)

var tlsAddrRE2 = regexp.MustCompile(` tls=([0-9.]+:\d+)`)

// netns is a network namespace joined to the host by a veth pair, with
// addresses the test assigns: traffic between HostIP and the namespace
// never leaves the machine.
type netns struct {
	Name, HostIP, NSIP string
}

// newNetns creates the namespace and the veth pair, removed when the test
// ends. The /30 is picked from 10.213.0.0/16 by process id, so concurrent
// test runs do not collide.
func newNetns(t *testing.T) (*netns, error) {
	ipBin, err := exec.LookPath("ip")
	if err != nil {
		return nil, err
	}
	n := os.Getpid() % 16000
	id := strconv.Itoa(os.Getpid() % 100000)
	ns := &netns{
		Name:   "rlsec" + id,
		HostIP: fmt.Sprintf("10.213.%d.%d", n/64, (n%64)*4+1),
		NSIP:   fmt.Sprintf("10.213.%d.%d", n/64, (n%64)*4+2),
	}
	host, peer := "rls"+id+"h", "rls"+id+"n"
	run := func(args ...string) error {
		out, err := exec.Command(ipBin, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("netns", "add", ns.Name); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		exec.Command(ipBin, "link", "del", host).Run()
		exec.Command(ipBin, "netns", "del", ns.Name).Run()
	})
	for _, step := range [][]string{
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", ns.Name},
		{"addr", "add", ns.HostIP + "/30", "dev", host},
		{"link", "set", host, "up"},
		{"-n", ns.Name, "addr", "add", ns.NSIP + "/30", "dev", peer},
		{"-n", ns.Name, "link", "set", peer, "up"},
		{"-n", ns.Name, "link", "set", "lo", "up"},
	} {
		if err := run(step...); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// cliIn runs redis-cli inside the namespace and returns its output.
func (ns *netns) cliIn(t *testing.T, addr string, args ...string) string {
	t.Helper()
	cli := requireTool(t, "redis-cli")
	host, port, _ := net.SplitHostPort(addr)
	argv := append([]string{"netns", "exec", ns.Name, cli, "--no-auth-warning", "-h", host, "-p", port}, args...)
	out, _ := exec.Command("ip", argv...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// TestProtectedMode: bound to a non-loopback address with no password,
// rlserver refuses a client from another host (here a network namespace
// the test creates) with the DENIED error; with a password, or with
// --protected-mode no, the client is served. Where namespaces cannot be
// created the decision function is checked with synthetic addresses.
func TestProtectedMode(t *testing.T) {
	t.Parallel()
	ns, err := newNetns(t)
	if err != nil {
		t.Logf("network namespaces unavailable (%v): checking protected mode's decision function with synthetic remote addresses instead of a real remote client", err)
		if !server.ProtectedRefuses(true, true, "10.1.2.3:4567") || server.ProtectedRefuses(true, true, "127.0.0.1:4567") ||
			server.ProtectedRefuses(true, false, "10.1.2.3:4567") || server.ProtectedRefuses(false, true, "10.1.2.3:4567") {
			t.Fatal("protected mode's decision is wrong")
		}
		return
	}
	t.Logf("remote client in network namespace %s (%s) → rlserver on %s", ns.Name, ns.NSIP, ns.HostIP)

	open := startServer(t, "--bind", ns.HostIP)
	if out := ns.cliIn(t, open.Addr, "PING"); !strings.Contains(out, "DENIED rlserver is running in protected mode") {
		t.Fatalf("no password, remote client: %q", out)
	}
	if !strings.Contains(ns.cliIn(t, open.Addr, "CL.THROTTLE", "k", "1", "1", "60"), "DENIED") {
		t.Fatal("a refused client ran a command")
	}

	withPass := startServer(t, "--bind", ns.HostIP, "--requirepass", "s3cret")
	if out := ns.cliIn(t, withPass.Addr, "-a", "s3cret", "PING"); out != "PONG" {
		t.Fatalf("with a password, remote client: %q", out)
	}
	if out := ns.cliIn(t, withPass.Addr, "PING"); !strings.HasPrefix(out, "NOAUTH") {
		t.Fatalf("with a password, no AUTH: %q", out)
	}

	// An ACL user does not open the server while the default user needs no
	// password; switching the default user off does.
	users := startServer(t, "--bind", ns.HostIP, "--user", "svc on >pw ~* +@all", "--user", "default off")
	if out := ns.cliIn(t, users.Addr, "--user", "svc", "--pass", "pw", "PING"); out != "PONG" {
		t.Fatalf("default off, ACL user: %q", out)
	}

	// On the TLS port the refusal comes over TLS, after the handshake.
	f := newTLSFixture(t)
	ip := net.ParseIP(ns.HostIP)
	p := f.ca.Issue(t, "rlserver", 300, ip)
	testcerts.Write(t, f.dir, "server.crt", p.CertPEM)
	testcerts.Write(t, f.dir, "server.key", p.KeyPEM)
	tlsSrv := startOnFreePorts(t, func() []string { return append([]string{"--bind", ns.HostIP}, f.flags(freePort(t))...) })
	tlsAddr := tlsAddrRE2.FindStringSubmatch(tlsSrv.logs.String())
	if tlsAddr == nil {
		t.Fatalf("no tls address in %s", tlsSrv.logs.String())
	}
	if out := ns.cliIn(t, tlsAddr[1], "--tls", "--cacert", f.caFile, "--cert", f.clientCrt, "--key", f.clientKey, "PING"); !strings.Contains(out, "DENIED rlserver is running in protected mode") {
		t.Fatalf("TLS port, no password, remote client: %q", out)
	}

	optOut := startServer(t, "--bind", ns.HostIP, "--protected-mode", "no")
	if out := ns.cliIn(t, optOut.Addr, "PING"); out != "PONG" {
		t.Fatalf("--protected-mode no: %q", out)
	}
}

// TestIdleTimeout: with --timeout 1 an idle client is closed after about
// a second, while a client that keeps sending (even one slow command in
// pieces) is not.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			srv := startServer(t, "--io-model", model, "--timeout", "1")
			idle := dial(t, srv.Addr)
			busy := newRaw(dial(t, srv.Addr))
			start := time.Now()
			// busy sends one command in pieces, 200ms apart, for 2s.
			cmd := encode("ECHO", strings.Repeat("x", 100))
			for i := range 10 {
				busy.c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := busy.c.Write(cmd[i*len(cmd)/10 : (i+1)*len(cmd)/10]); err != nil {
					t.Fatalf("busy client cut off after %v: %v", time.Since(start), err)
				}
				time.Sleep(200 * time.Millisecond) // the client's pace: the behaviour under test
			}
			if got, err := readReply(busy.r); err != nil || got != bulk(strings.Repeat("x", 100)) {
				t.Fatalf("busy client after %v: %v %v", time.Since(start), got, err)
			}
			idle.SetDeadline(time.Now().Add(5 * time.Second))
			_, err := bufio.NewReader(idle).ReadByte()
			if !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("idle client: %v", err)
			}
			// The idle client was closed within the 2s the busy one talked.
			if el := time.Since(start); el > 4*time.Second {
				t.Fatalf("idle client closed after %v", el)
			}
		})
	}
}

// TestTCPKeepAlive: accepted sockets carry the keepalive timer Redis's
// tcp-keepalive sets (seen with ss), and none with --tcp-keepalive 0.
func TestTCPKeepAlive(t *testing.T) {
	t.Parallel()
	ss, err := exec.LookPath("ss")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ss (iproute2) is required under CI")
		}
		t.Skip("ss not installed")
	}
	for _, tc := range []struct {
		model, keepalive string
		want             string
	}{
		{"epoll", "120", `timer:\(keepalive,(1min[0-9]+sec|2min),`},
		{"goroutine", "120", `timer:\(keepalive,(1min[0-9]+sec|2min),`},
		{"epoll", "0", ""},
	} {
		srv := startServer(t, "--io-model", tc.model, "--tcp-keepalive", tc.keepalive)
		rc := newRaw(dial(t, srv.Addr))
		if got, err := rc.do("PING"); err != nil || got != status("PONG") {
			t.Fatal(got, err)
		}
		out, err := exec.Command(ss, "-tnoH", "state", "established", "( sport = :"+srv.Port+" )").CombinedOutput()
		if err != nil {
			t.Fatalf("ss: %v %s", err, out)
		}
		has := strings.Contains(string(out), "keepalive")
		if (tc.want != "") != has || (tc.want != "" && !regexp.MustCompile(tc.want).Match(out)) {
			t.Errorf("%s, tcp-keepalive %s: ss shows %q", tc.model, tc.keepalive, out)
		}
	}
}
