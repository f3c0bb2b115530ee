package localpg

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority made on the spot for a test: tests of
// sslmode=verify-full need a server certificate a client can check, and a
// second CA to show that a wrong one is refused. Nothing of it outlives the
// test process.
type CA struct {
	// CertPEM is the CA's certificate, what a client names in sslrootcert.
	CertPEM []byte
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA called name, valid for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("make CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("make CA certificate: %w", err)
	}
	return &CA{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert: cert, key: key}, nil
}

// WriteCert writes the CA's certificate to path, for sslrootcert.
func (ca *CA) WriteCert(path string) error {
	return os.WriteFile(path, ca.CertPEM, 0o644)
}

// serverCert issues a certificate for a server at 127.0.0.1 and localhost.
func (ca *CA) serverCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("make server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("make server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode server key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

// writeTLS gives the server a certificate from ca and turns ssl on. The key
// must belong to the server's OS user and be readable by it alone, or the
// server refuses to start. The CA's certificate is written next to the data
// directory (CAFile), where the other local cluster's server, which runs as
// the same OS user, can read it for a subscription's sslrootcert.
func (c *Cluster) writeTLS(ca *CA) (map[string]string, error) {
	certPEM, keyPEM, err := ca.serverCert()
	if err != nil {
		return nil, err
	}
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{filepath.Join(c.DataDir, "server.crt"), certPEM, 0o644},
		{filepath.Join(c.DataDir, "server.key"), keyPEM, 0o600},
		{filepath.Join(c.Dir, "root.crt"), ca.CertPEM, 0o644},
	}
	for _, f := range files {
		if err := c.writeOwned(f.path, f.data, f.mode); err != nil {
			return nil, fmt.Errorf("write %s: %w", filepath.Base(f.path), err)
		}
	}
	c.CAFile = files[2].path
	return map[string]string{"ssl": "on", "ssl_cert_file": "'server.crt'", "ssl_key_file": "'server.key'"}, nil
}

// WriteOwned writes name in the cluster's directory, mode 0600, owned by
// the server's OS user, and returns its path: a file the server itself
// reads, such as a passfile a subscription names.
func (c *Cluster) WriteOwned(name string, data []byte) (string, error) {
	path := filepath.Join(c.Dir, name)
	return path, c.writeOwned(path, data, 0o600)
}

// writeOwned writes a file that belongs to the server's OS user.
func (c *Cluster) writeOwned(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	if c.cred != nil {
		return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}
