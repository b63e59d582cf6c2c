package tests

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/rlserver/rlserver/internal/testcerts"
)

// tlsFixture is a CA, a server certificate, a client certificate from the
// same CA and one from another CA, as files.
type tlsFixture struct {
	dir                  string
	ca                   *testcerts.CA
	caFile               string
	certFile, keyFile    string
	clientCrt, clientKey string
	alienCrt, alienKey   string
	client, alien        tls.Certificate
}

func newTLSFixture(t *testing.T) *tlsFixture {
	f := &tlsFixture{dir: t.TempDir(), ca: testcerts.NewCA(t, "rlserver test CA")}
	other := testcerts.NewCA(t, "another CA")
	w := func(name string, data []byte) string { return testcerts.Write(t, f.dir, name, data) }
	f.caFile = w("ca.crt", f.ca.CertPEM)
	srv := f.ca.Issue(t, "rlserver", 100)
	f.certFile, f.keyFile = w("server.crt", srv.CertPEM), w("server.key", srv.KeyPEM)
	cl := f.ca.Issue(t, "client", 7)
	f.clientCrt, f.clientKey = w("client.crt", cl.CertPEM), w("client.key", cl.KeyPEM)
	f.client = cl.TLS(t)
	al := other.Issue(t, "intruder", 8)
	f.alienCrt, f.alienKey = w("alien.crt", al.CertPEM), w("alien.key", al.KeyPEM)
	f.alien = al.TLS(t)
	return f
}

func (f *tlsFixture) flags(tlsPort string) []string {
	return []string{"--tls-port", tlsPort, "--tls-cert-file", f.certFile, "--tls-key-file", f.keyFile, "--tls-ca-cert-file", f.caFile}
}

// config is a client configuration presenting cert (nil: none) even when
// the server's CA list would not select it.
func (f *tlsFixture) config(cert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg
}

// tlsPing dials addr, sends PING and returns the reply line and the
// serial number of the server's certificate. TLS 1.3 reports a refused
// client certificate only at the first read, hence the PING.
func tlsPing(addr string, cfg *tls.Config) (string, int64, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return "", 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", 0, err
	}
	return line, c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

var tlsAddrRE = regexp.MustCompile(` tls=(127\.0\.0\.1:\d+)`)

// TestTLSEndToEnd: go-redis, rueidis and redis-cli --tls work over TLS on
// both I/O models; clients without a certificate or with one from another
// CA are refused (tls-auth-clients yes, the default); SIGHUP swaps the
// certificate for new connections while an old one keeps working, and a
// bad file at reload keeps the current certificate. The HTTP listener
// serves HTTPS with the same files.
func TestTLSEndToEnd(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			f := newTLSFixture(t)
			// epoll: plaintext and TLS; goroutine: TLS only (--port 0).
			srv := startOnFreePorts(t, func() []string {
				port := "0"
				if model == "epoll" {
					port = freePort(t)
				}
				return append([]string{"--io-model", model, "--port", port}, f.flags(freePort(t))...)
			})
			m := tlsAddrRE.FindStringSubmatch(srv.logs.String())
			if m == nil {
				t.Fatalf("no tls address logged:\n%s", srv.logs.String())
			}
			addr := m[1]
			if model == "epoll" {
				rc := newRaw(dial(t, srv.Addr)) // plaintext still served
				if got, err := rc.do("PING"); err != nil || got != status("PONG") {
					t.Fatalf("plaintext PING = %v %v", got, err)
				}
			} else if srv.Addr != addr {
				t.Fatalf("TLS only: ready addr %s, tls %s", srv.Addr, addr)
			}
			testTLSClients(t, f, addr)

			// Refusals.
			for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "another CA": &f.alien} {
				if line, _, err := tlsPing(addr, f.config(cert)); err == nil {
					t.Errorf("client with %s got %q", name, line)
				}
			}
			cli := requireTool(t, "redis-cli")
			host, p, _ := net.SplitHostPort(addr)
			out, err := exec.Command(cli, "--tls", "--cacert", f.caFile, "--cert", f.alienCrt, "--key", f.alienKey, "-h", host, "-p", p, "PING").CombinedOutput()
			if err == nil && strings.Contains(string(out), "PONG") {
				t.Errorf("redis-cli with another CA's certificate: %s", out)
			}

			// SIGHUP: new certificate for new connections; the old
			// connection keeps working.
			old := tlsConn(t, addr, f.config(&f.client))
			next := f.ca.Issue(t, "rlserver", 200)
			testcerts.Write(t, f.dir, "server.crt", next.CertPEM)
			testcerts.Write(t, f.dir, "server.key", next.KeyPEM)
			srv.cmd.Process.Signal(syscall.SIGHUP)
			waitLog(t, srv, `TLS certificate reloaded" serial=200`)
			if line, serial, err := tlsPing(addr, f.config(&f.client)); err != nil || serial != 200 || line != "+PONG\r\n" {
				t.Fatalf("after SIGHUP: %q serial %d, %v", line, serial, err)
			}
			if got, err := old.do("PING"); err != nil || got != status("PONG") {
				t.Fatalf("the connection made before SIGHUP: %v %v", got, err)
			}
			if got := old.c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 100 {
				t.Fatalf("old connection's serial %d", got)
			}
			// A bad file: logged, the current certificate stays.
			testcerts.Write(t, f.dir, "server.crt", []byte("-----BEGIN CERTIFICATE-----\nnot base64\n"))
			srv.cmd.Process.Signal(syscall.SIGHUP)
			waitLog(t, srv, "TLS reload failed; keeping the current certificate")
			if line, serial, err := tlsPing(addr, f.config(&f.client)); err != nil || serial != 200 || line != "+PONG\r\n" {
				t.Fatalf("after a failed reload: %q serial %d, %v", line, serial, err)
			}

			// HTTPS with the same files (and the same client policy).
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: f.config(&f.client)}}
			resp, err := hc.Get("https://" + srv.HTTP + "/health")
			if err != nil {
				t.Fatalf("HTTPS /health: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 200 {
				t.Fatalf("HTTPS /health: %d, tls %v", resp.StatusCode, resp.TLS != nil)
			}
		})
	}
}

func tlsConn(t *testing.T, addr string, cfg *tls.Config) *rawConn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := newRaw(c)
	if got, err := rc.do("PING"); err != nil || got != status("PONG") {
		t.Fatalf("PING over TLS = %v %v", got, err)
	}
	return rc
}

// testTLSClients runs go-redis, rueidis and redis-cli against a TLS port.
func testTLSClients(t *testing.T, f *tlsFixture, addr string) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: f.config(&f.client)})
	defer rdb.Close()
	got, err := rdb.Do(ctx, "CL.THROTTLE", "tls:goredis", 1, 1, 60).Int64Slice()
	if err != nil || !slices.Equal(got, []int64{0, 2, 1, -1, 60}) {
		t.Fatalf("go-redis over TLS: %v %v", got, err)
	}
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, TLSConfig: f.config(&f.client)})
	if err != nil {
		t.Fatalf("rueidis over TLS: %v", err)
	}
	defer rc.Close()
	got, err = rc.Do(ctx, rc.B().Arbitrary("CL.THROTTLE").Keys("tls:rueidis").Args("1", "1", "60").Build()).AsIntSlice()
	if err != nil || !slices.Equal(got, []int64{0, 2, 1, -1, 60}) {
		t.Fatalf("rueidis over TLS: %v %v", got, err)
	}
	cli := requireTool(t, "redis-cli")
	host, p, _ := net.SplitHostPort(addr)
	out, err := exec.Command(cli, "--tls", "--cacert", f.caFile, "--cert", f.clientCrt, "--key", f.clientKey,
		"-h", host, "-p", p, "CL.THROTTLE", "tls:cli", "1", "1", "60").CombinedOutput()
	if err != nil || strings.Fields(string(out))[0] != "0" {
		t.Fatalf("redis-cli --tls: %s %v", out, err)
	}
}

// TestTLSAuthClientsNo: with --tls-auth-clients no a client without a
// certificate is served; optional verifies a certificate if one comes.
func TestTLSAuthClientsModes(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	for _, tc := range []struct {
		mode              string
		none, good, alien bool
	}{
		{"no", true, true, true},
		{"optional", true, true, false},
	} {
		srv := startOnFreePorts(t, func() []string { return append([]string{"--tls-auth-clients", tc.mode}, f.flags(freePort(t))...) })
		addr := tlsAddrRE.FindStringSubmatch(srv.logs.String())[1]
		for _, c := range []struct {
			cert *tls.Certificate
			want bool
		}{{nil, tc.none}, {&f.client, tc.good}, {&f.alien, tc.alien}} {
			line, _, err := tlsPing(addr, f.config(c.cert))
			if ok := err == nil && line == "+PONG\r\n"; ok != c.want {
				t.Errorf("tls-auth-clients %s, cert %v: %q %v", tc.mode, c.cert != nil, line, err)
			}
		}
	}
}

// TestClusterOverTLS: two TLS-only nodes (no plaintext port at all) with a
// restricted default user: a client of one node reaches keys the other
// owns, plainly and in MULTI/EXEC, so forwarding and the peer
// authentication run over TLS with node certificates; the node's ACL
// still decides before anything is forwarded.
func TestClusterOverTLS(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	users := []string{"--user", "default off", "--user", "svc on >pw ~* +@all", "--user", "narrow on >pw ~rl:* +@limiter"}
	start := func(join string) (*proc, string) {
		// A long forwarding timeout: a reply later than the default
		// 200 ms (seen at a load average of 30) would be answered by
		// policy from a local bucket, which this test is not about.
		args := []string{"--cluster-port", "0", "--cluster-key", clusterKey(t), "--gossip-profile", "fast", "--forward-timeout", "10s"}
		if join != "" {
			args = append(args, "--join", join)
		}
		p := startOnFreePorts(t, func() []string { return slices.Concat(args, f.flags(freePort(t)), users) })
		g := gossipRE.FindStringSubmatch(p.logs.String())
		if g == nil || p.Addr != tlsAddrRE.FindStringSubmatch(p.logs.String())[1] {
			t.Fatalf("not a TLS-only cluster node:\n%s", p.logs.String())
		}
		return p, "127.0.0.1:" + g[1]
	}
	a, gossip := start("")
	b, _ := start(gossip)
	ctx := context.Background()
	client := func(addr, user string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: "pw", TLSConfig: f.config(&f.client)})
		t.Cleanup(func() { c.Close() })
		return c
	}
	ca, cb := client(a.Addr, "svc"), client(b.Addr, "svc")
	info := func(c *redis.Client) map[string]string {
		s, err := c.Info(ctx, "cluster").Result()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, l := range strings.Split(s, "\r\n") {
			if k, v, ok := strings.Cut(l, ":"); ok {
				out[k] = v
			}
		}
		return out
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		ia, ib := info(ca), info(cb)
		if ia["cluster_members"] == "2" && ib["cluster_members"] == "2" && ia["cluster_settled"] == "1" && ib["cluster_settled"] == "1" &&
			atoi(ia["cluster_slots_served"])+atoi(ib["cluster_slots_served"]) == 16384 && atoi(ia["cluster_slots_served"]) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not settle: %v / %v", ia, ib)
		}
		time.Sleep(50 * time.Millisecond) // polling the cluster's state
	}
	// Every key through node A: about half are B's, forwarded over TLS.
	for i := range 40 {
		k := "rl:tls:" + strconv.Itoa(i)
		got, err := ca.Do(ctx, "CL.THROTTLE", k, 1, 1, 60).Int64Slice()
		if err != nil || !slices.Equal(got, []int64{0, 2, 1, -1, 60}) {
			t.Fatalf("%s through A: %v %v", k, got, err)
		}
		if got, err := cb.Do(ctx, "CL.THROTTLE", k, 1, 1, 60).Int64Slice(); err != nil || got[2] != 0 {
			t.Fatalf("%s through B sees %v %v: the two nodes do not share its state (A: %v; B: %v)", k, got, err, info(ca), info(cb))
		}
	}
	if atoi(info(ca)["cluster_forwarded"]) == 0 {
		t.Fatal("nothing was forwarded")
	}
	// A transaction on one of B's keys, sent to A: forwarded whole.
	var bKey string
	for i := 0; bKey == ""; i++ {
		k := "{tx" + strconv.Itoa(i) + "}"
		before := atoi(info(ca)["cluster_forwarded"])
		ca.Get(ctx, k)
		if atoi(info(ca)["cluster_forwarded"]) > before {
			bKey = k
		}
	}
	tx := ca.TxPipeline()
	first := tx.Do(ctx, "CL.THROTTLE", bKey, 0, 1, 60)
	second := tx.Do(ctx, "CL.THROTTLE", bKey, 0, 1, 60)
	if _, err := tx.Exec(ctx); err != nil {
		t.Fatalf("forwarded MULTI/EXEC: %v", err)
	}
	if v1, _ := first.Int64Slice(); len(v1) != 5 || v1[0] != 0 {
		t.Fatalf("forwarded EXEC, first: %v", v1)
	}
	if v2, _ := second.Int64Slice(); len(v2) != 5 || v2[0] != 1 {
		t.Fatalf("forwarded EXEC, second: %v", v2)
	}
	// The receiving node's ACL decides: a narrow user cannot reach other
	// keys on either node.
	narrow := client(a.Addr, "narrow")
	if err := narrow.Do(ctx, "CL.THROTTLE", bKey, 0, 1, 60).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("narrow user on another key: %v", err)
	}
}
