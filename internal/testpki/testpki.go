// Package testpki makes throwaway certificate authorities and
// certificates for tests of the API's mutual TLS: made in memory, written
// as PEM files to the test's temporary directory, valid for an hour.
//
// It is for tests only: keys are ECDSA P-256 without care for their
// lifetime, and nothing here checks what a real PKI would.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority that signs certificates.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// File is the CA's certificate as a PEM file.
	File string
	dir  string
}

// Leaf is a certificate signed by a CA, with its key, and the two as PEM
// files.
type Leaf struct {
	Cert              *x509.Certificate
	Key               *ecdsa.PrivateKey
	CertFile, KeyFile string
}

// TLS returns the leaf as crypto/tls takes it.
func (l *Leaf) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.Key, Leaf: l.Cert}
}

// NewCA makes a self-signed CA named name; its files go to a directory of
// their own under t.TempDir().
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	dir := t.TempDir()
	cert, key := sign(t, nil, nil, name, nil, true)
	ca := &CA{Cert: cert, Key: key, File: filepath.Join(dir, name+".pem"), dir: dir}
	WritePEM(t, ca.File, "CERTIFICATE", cert.Raw)
	return ca
}

// Pool is a pool holding the CA alone.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue makes a certificate named name for both server and client use,
// valid for the given IP addresses and DNS names (hosts), signed by ca.
func (ca *CA) Issue(t testing.TB, name string, hosts ...string) *Leaf {
	t.Helper()
	cert, key := sign(t, ca.Cert, ca.Key, name, hosts, false)
	l := &Leaf{Cert: cert, Key: key, CertFile: filepath.Join(ca.dir, name+".pem"), KeyFile: filepath.Join(ca.dir, name+".key")}
	WritePEM(t, l.CertFile, "CERTIFICATE", cert.Raw)
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	WritePEM(t, l.KeyFile, "EC PRIVATE KEY", der)
	return l
}

func sign(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string, hosts []string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// WritePEM writes one PEM block of type typ to path, mode 0600.
func WritePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
