// Package tlsconf loads the TLS material rlserver serves with (Redis's
// tls-cert-file, tls-key-file, tls-ca-cert-file and tls-auth-clients) and
// reloads it on demand, without dropping connections: a reload swaps the
// material new handshakes use, while established connections keep the
// session they negotiated. A reload that cannot read or parse a file keeps
// the previous material.
//
// One Manager serves every listener that speaks TLS (RESP, HTTP) and the
// connections a node opens to other nodes (ClientConfig), so SIGHUP
// renews all of them at once. Standard library only.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// ClientAuth is tls-auth-clients: whether clients must present a
// certificate signed by the CA.
type ClientAuth int

// The values of tls-auth-clients.
const (
	AuthYes      ClientAuth = iota // a valid client certificate is required (Redis's default)
	AuthOptional                   // a certificate is verified if presented
	AuthNo                         // certificates are not asked for
)

// ParseClientAuth reads "yes", "no" or "optional".
func ParseClientAuth(s string) (ClientAuth, error) {
	switch s {
	case "yes":
		return AuthYes, nil
	case "optional":
		return AuthOptional, nil
	case "no":
		return AuthNo, nil
	}
	return 0, fmt.Errorf("tls-auth-clients must be yes, no or optional, not %q", s)
}

func (a ClientAuth) String() string {
	switch a {
	case AuthOptional:
		return "optional"
	case AuthNo:
		return "no"
	}
	return "yes"
}

// Files names the PEM files. The zero value means TLS is not configured.
type Files struct {
	CertFile string // server certificate chain (leaf first)
	KeyFile  string // its private key
	// CAFile holds the CA certificates client certificates (and, for
	// ClientConfig, other nodes' certificates) are verified against.
	// Required unless ClientAuth is AuthNo, as in Redis.
	CAFile     string
	ClientAuth ClientAuth
}

// Validate reports a combination that cannot work, before any file is read.
func (f Files) Validate() error {
	switch {
	case f.CertFile == "" || f.KeyFile == "":
		return errors.New("tls: --tls-cert-file and --tls-key-file are both required")
	case f.CAFile == "" && f.ClientAuth != AuthNo:
		return errors.New("tls: --tls-ca-cert-file is required unless --tls-auth-clients is no")
	}
	return nil
}

// material is one loaded generation of certificate, key and CA pool, with
// the server configuration built from it.
type material struct {
	cert   *tls.Certificate
	pool   *x509.CertPool // nil without a CA file
	server *tls.Config
}

// Manager holds the current TLS material. Create it with New; safe for
// concurrent use.
type Manager struct {
	files Files
	cur   atomic.Pointer[material]
}

// New loads the files; any problem is an error (a server must not start
// without its certificate).
func New(f Files) (*Manager, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{files: f}
	mat, err := m.load()
	if err != nil {
		return nil, err
	}
	m.cur.Store(mat)
	return m, nil
}

// Reload reads the files again and, if they all load, makes new
// handshakes use them. On error the previous material stays in use and
// the error says which file failed.
func (m *Manager) Reload() error {
	mat, err := m.load()
	if err != nil {
		return err
	}
	m.cur.Store(mat)
	return nil
}

func (m *Manager) load() (*material, error) {
	cert, err := tls.LoadX509KeyPair(m.files.CertFile, m.files.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: loading %s and %s: %w", m.files.CertFile, m.files.KeyFile, err)
	}
	mat := &material{cert: &cert}
	if m.files.CAFile != "" {
		pem, err := os.ReadFile(m.files.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		mat.pool = x509.NewCertPool()
		if !mat.pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: %s holds no PEM certificate", m.files.CAFile)
		}
	}
	mat.server = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    mat.pool,
	}
	switch m.files.ClientAuth {
	case AuthYes:
		mat.server.ClientAuth = tls.RequireAndVerifyClientCert
	case AuthOptional:
		mat.server.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		mat.server.ClientAuth = tls.NoClientCert
	}
	return mat, nil
}

// Leaf returns the certificate new handshakes present (for logs: its
// serial number and expiry).
func (m *Manager) Leaf() *x509.Certificate {
	c := m.cur.Load().cert
	if c.Leaf != nil {
		return c.Leaf
	}
	leaf, _ := x509.ParseCertificate(c.Certificate[0])
	return leaf
}

// ServerConfig returns the configuration for a TLS listener (RESP, HTTPS).
// Every handshake picks up the material current at that moment, so the
// returned value never needs replacing after a Reload.
func (m *Manager) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return m.cur.Load().server, nil
		},
	}
}

// ErrNoCA is returned by ClientConfig when no CA file is configured.
var ErrNoCA = errors.New("tls: connections to other nodes need --tls-ca-cert-file to verify them")

// ClientConfig returns the configuration for connections this node opens
// to other nodes (cluster forwarding): it presents the node's own
// certificate as its client certificate (so it must allow client
// authentication when peers require it) and accepts a peer whose chain
// verifies against the CA file. Nodes are dialled by address, so the
// peer's host name is not checked: the CA is the trust boundary, as for
// Redis replication over TLS. Both certificate and CA follow Reload.
func (m *Manager) ClientConfig() (*tls.Config, error) {
	if m.files.CAFile == "" {
		return nil, ErrNoCA
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return m.cur.Load().cert, nil
		},
		// Verification happens in VerifyConnection, without the host name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: the peer presented no certificate")
			}
			opts := x509.VerifyOptions{
				Roots:         m.cur.Load().pool,
				Intermediates: x509.NewCertPool(),
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		},
	}, nil
}
