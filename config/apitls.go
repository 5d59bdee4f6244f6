package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// maxPEMFile bounds a file of api.tls: a certificate chain or a key is a
// few KiB; the bound keeps a path to /dev/zero or a huge file from eating
// the daemon's memory.
const maxPEMFile = 1 << 20

// ServerTLS reads the API's mutual-TLS files and returns the server's TLS
// config: TLS 1.3, and a client certificate signed by ClientCA required and
// verified. Its error is Problems naming the key of each file at fault
// (api.tls.cert, api.tls.key, api.tls.client_ca).
func (t APITLS) ServerTLS() (*tls.Config, error) {
	var ps Problems
	for _, f := range []struct{ key, path string }{{"cert", t.Cert}, {"key", t.Key}, {"client_ca", t.ClientCA}} {
		if f.path == "" {
			ps = append(ps, Problem{Key: "api.tls." + f.key, Msg: "required: mutual TLS needs cert, key and client_ca"})
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	cert, pool, ps := t.load()
	if len(ps) > 0 {
		return nil, ps
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		// Both ends are ours (or grpcurl's): no reason to accept older.
		MinVersion: tls.VersionTLS13,
	}, nil
}

// load reads and checks the files given (a missing one is Validate's),
// each one's problems under its own key.
func (t APITLS) load() (tls.Certificate, *x509.CertPool, Problems) {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: "api.tls." + key, Msg: fmt.Sprintf(format, args...)})
	}
	read := func(key, path string) []byte {
		if path == "" {
			return nil
		}
		if msg := checkTLSPath(path); msg != "" {
			add(key, "%s", msg)
			return nil
		}
		data, err := readPEMFile(path)
		if err != nil {
			add(key, "%v", err)
		}
		return data
	}
	certPEM, keyPEM, caPEM := read("cert", t.Cert), read("key", t.Key), read("client_ca", t.ClientCA)

	certOK, keyOK := false, false
	if certPEM != nil {
		if _, err := parseCerts(certPEM); err != nil {
			add("cert", "%s: %v", t.Cert, err)
		} else {
			certOK = true
		}
	}
	if keyPEM != nil {
		if err := parseKey(keyPEM); err != nil {
			add("key", "%s: %v", t.Key, err)
		} else {
			keyOK = true
		}
	}
	var cert tls.Certificate
	if certOK && keyOK {
		var err error
		if cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
			add("key", "%s does not match the certificate of api.tls.cert (%s): %v", t.Key, t.Cert, err)
		}
	}
	var pool *x509.CertPool
	if caPEM != nil {
		cas, err := parseCerts(caPEM)
		if err != nil {
			add("client_ca", "%s: %v", t.ClientCA, err)
		} else {
			pool = x509.NewCertPool()
			for _, c := range cas {
				pool.AddCert(c)
			}
		}
	}
	// In the order of the keys, as the file has them.
	order := map[string]int{"api.tls.cert": 0, "api.tls.key": 1, "api.tls.client_ca": 2}
	slices.SortStableFunc(ps, func(a, b Problem) int { return order[a.Key] - order[b.Key] })
	return cert, pool, ps
}

// checkTLSPath returns what is wrong with the path of a TLS file, or "".
// Relative paths are refused: they would depend on the directory the
// daemon (or --check) runs in.
func checkTLSPath(path string) string {
	switch {
	case path == "":
		return "required"
	case !filepath.IsAbs(path):
		return fmt.Sprintf("%q is not an absolute path", path)
	}
	return ""
}

// readPEMFile reads a regular file of at most maxPEMFile bytes. It opens
// without blocking, so that a FIFO is refused rather than waited on.
func readPEMFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case fi.Size() > maxPEMFile:
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxPEMFile>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	case len(data) > maxPEMFile:
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxPEMFile>>20)
	}
	return data, nil
}

// parseCerts returns the certificates of the CERTIFICATE blocks in data:
// at least one, and every one valid.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	sawKey := false
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
			}
			certs = append(certs, c)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			sawKey = true
		}
	}
	switch {
	case len(certs) > 0:
		return certs, nil
	case sawKey:
		return nil, errors.New("holds a private key, not a PEM certificate")
	}
	return nil, errors.New("holds no PEM certificate")
}

// parseKey checks that data holds a private key that crypto/tls takes:
// PKCS #8, PKCS #1 (RSA) or SEC 1 (EC), unencrypted.
func parseKey(data []byte) error {
	sawCert := false
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			sawCert = true
			continue
		}
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue
		}
		if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
			return nil
		}
		if _, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
			return nil
		}
		if _, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
			return nil
		}
		return fmt.Errorf("the %s block is not an unencrypted PKCS #8, PKCS #1 or EC private key", b.Type)
	}
	if sawCert {
		return errors.New("holds a certificate, not a PEM private key")
	}
	return errors.New("holds no PEM private key")
}
