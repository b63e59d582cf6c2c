package tlsconf

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rlserver/rlserver/internal/testcerts"
)

type fixture struct {
	dir                       string
	ca, other                 *testcerts.CA
	certFile, keyFile, caFile string
}

func newFixture(t *testing.T, serial int64) *fixture {
	f := &fixture{dir: t.TempDir(), ca: testcerts.NewCA(t, "test CA"), other: testcerts.NewCA(t, "other CA")}
	srv := f.ca.Issue(t, "server", serial)
	f.certFile = testcerts.Write(t, f.dir, "server.crt", srv.CertPEM)
	f.keyFile = testcerts.Write(t, f.dir, "server.key", srv.KeyPEM)
	f.caFile = testcerts.Write(t, f.dir, "ca.crt", f.ca.CertPEM)
	return f
}

func (f *fixture) files(auth ClientAuth) Files {
	return Files{CertFile: f.certFile, KeyFile: f.keyFile, CAFile: f.caFile, ClientAuth: auth}
}

// serve accepts TLS connections with cfg on a loopback listener, answering
// each handshake's outcome by closing; it returns the address.
func serve(t *testing.T, cfg *tls.Config) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				if tc.Handshake() == nil {
					tc.Write([]byte("ok"))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dial handshakes and reads the server's "ok": TLS 1.3 reports a refused
// client certificate only on the first read.
func dial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func TestClientAuthModes(t *testing.T) {
	f := newFixture(t, 100)
	good := f.ca.Issue(t, "client", 7).TLS(t)
	foreign := f.other.Issue(t, "intruder", 8).TLS(t)
	cases := []struct {
		auth ClientAuth
		cert *tls.Certificate
		ok   bool
	}{
		{AuthYes, &good, true},
		{AuthYes, nil, false},
		{AuthYes, &foreign, false},
		{AuthOptional, nil, true},
		{AuthOptional, &good, true},
		{AuthOptional, &foreign, false},
		{AuthNo, nil, true},
		{AuthNo, &foreign, true}, // not asked for
	}
	for _, tc := range cases {
		m, err := New(f.files(tc.auth))
		if err != nil {
			t.Fatal(err)
		}
		addr := serve(t, m.ServerConfig())
		cfg := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"}
		if tc.cert != nil {
			// Send the certificate even when it is not from a CA the server
			// named (Go's client would otherwise withhold it).
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tc.cert, nil }
		}
		c, err := dial(addr, cfg)
		if (err == nil) != tc.ok {
			t.Errorf("auth %v, cert %v: err %v, want ok=%v", tc.auth, tc.cert != nil, err, tc.ok)
		}
		if c != nil {
			c.Close()
		}
	}
}

func TestReload(t *testing.T) {
	f := newFixture(t, 100)
	m, err := New(f.files(AuthNo))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m.ServerConfig())
	client := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"}
	serial := func() int64 {
		t.Helper()
		c, err := dial(addr, client)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 100 || m.Leaf().SerialNumber.Int64() != 100 {
		t.Fatalf("serial %d, leaf %d", s, m.Leaf().SerialNumber.Int64())
	}

	// A bad certificate file is refused and the old material stays.
	testcerts.Write(t, f.dir, "server.crt", []byte("not a certificate"))
	if err := m.Reload(); err == nil || !strings.Contains(err.Error(), f.certFile) {
		t.Fatalf("Reload with a bad file: %v", err)
	}
	if s := serial(); s != 100 {
		t.Fatalf("after a failed reload the server presents serial %d", s)
	}
	// A key that does not match the certificate is refused too.
	next := f.ca.Issue(t, "server", 200)
	testcerts.Write(t, f.dir, "server.crt", next.CertPEM)
	if err := m.Reload(); err == nil {
		t.Fatal("Reload accepted a certificate with another key")
	}
	testcerts.Write(t, f.dir, "server.key", next.KeyPEM)
	testcerts.Write(t, f.dir, "ca.crt", []byte("garbage"))
	if err := m.Reload(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("Reload with a bad CA: %v", err)
	}
	if s := serial(); s != 100 {
		t.Fatalf("after a failed CA reload the server presents serial %d", s)
	}
	testcerts.Write(t, f.dir, "ca.crt", f.ca.CertPEM)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if s := serial(); s != 200 || m.Leaf().SerialNumber.Int64() != 200 {
		t.Fatalf("after reload the server presents serial %d", s)
	}
}

// TestReloadKeepsConnections: a connection made before a reload keeps
// working afterwards.
func TestReloadKeepsConnections(t *testing.T) {
	f := newFixture(t, 100)
	m, err := New(f.files(AuthNo))
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, m.ServerConfig())
	cli := tls.Client(b, &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"})
	errs := make(chan error, 1)
	go func() { errs <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	next := f.ca.Issue(t, "server", 300)
	testcerts.Write(t, f.dir, "server.crt", next.CertPEM)
	testcerts.Write(t, f.dir, "server.key", next.KeyPEM)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	go func() { _, err := srv.Write([]byte("still here")); errs <- err }()
	buf := make([]byte, 10)
	if _, err := cli.Read(buf); err != nil || string(buf) != "still here" {
		t.Fatalf("old connection after reload: %q %v", buf, err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

func TestClientConfig(t *testing.T) {
	f := newFixture(t, 100)
	m, err := New(f.files(AuthYes))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := m.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	// A node dials another node of the same CA: both sides verify.
	addr := serve(t, m.ServerConfig())
	c, err := dial(addr, cc)
	if err != nil {
		t.Fatalf("node to node: %v", err)
	}
	c.Close()
	// A server with a certificate from another CA is refused.
	dir := t.TempDir()
	p := f.other.Issue(t, "rogue", 9)
	rogue, err := New(Files{
		CertFile:   testcerts.Write(t, dir, "c", p.CertPEM),
		KeyFile:    testcerts.Write(t, dir, "k", p.KeyPEM),
		ClientAuth: AuthNo,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := dial(serve(t, rogue.ServerConfig()), cc); err == nil {
		c.Close()
		t.Fatal("ClientConfig accepted a server from another CA")
	}
	if _, err := rogue.ClientConfig(); err != ErrNoCA {
		t.Fatalf("ClientConfig without a CA: %v", err)
	}
}

func TestValidateAndParse(t *testing.T) {
	for _, tc := range []struct {
		f    Files
		want string
	}{
		{Files{KeyFile: "k", CAFile: "c"}, "both required"},
		{Files{CertFile: "c", KeyFile: "k"}, "--tls-ca-cert-file is required"},
	} {
		if _, err := New(tc.f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc.f, err)
		}
	}
	if _, err := New(Files{CertFile: "/nonexistent", KeyFile: "/nonexistent", ClientAuth: AuthNo}); err == nil {
		t.Error("missing files accepted")
	}
	for s, want := range map[string]ClientAuth{"yes": AuthYes, "no": AuthNo, "optional": AuthOptional} {
		if got, err := ParseClientAuth(s); err != nil || got != want || got.String() != s {
			t.Errorf("ParseClientAuth(%s) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseClientAuth("maybe"); err == nil {
		t.Error("ParseClientAuth accepted maybe")
	}
}
