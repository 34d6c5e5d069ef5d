package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StateDir is the per-user state directory of twinflow: $XDG_STATE_HOME/twinflow, or
// ~/.local/state/twinflow. It holds the demo's token files, the CLI's trusted server
// fingerprints and a server's generated TLS certificate.
func StateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "twinflow")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(os.TempDir(), "twinflow-state-"+strings.TrimSpace(os.Getenv("USER")))
	}
	return filepath.Join(home, ".local", "state", "twinflow")
}

// ServerKey names a server in file names: "127.0.0.1-8080".
func ServerKey(hostport string) string {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		h, p = hostport, ""
	}
	r := strings.NewReplacer(":", "_", "/", "_", "[", "", "]", "")
	return r.Replace(h) + "-" + p
}

// DemoTokenDir is where a demo server listening on hostport writes its users' token
// files by default, and where the CLI looks for them.
func DemoTokenDir(hostport string) string {
	return filepath.Join(StateDir(), "tokens", ServerKey(hostport))
}

// WriteSecretFile writes data to path with mode 0600, replacing any file there
// atomically (a reader never sees half a secret).
func WriteSecretFile(path, data string) error {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := path + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// CertFingerprint is the SHA-256 fingerprint (hex) of a DER certificate: what the CLI
// pins on first use.
func CertFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// SelfSignedCert loads dir/server.pem (certificate and key, mode 0600), generating it
// (ECDSA P-256, one year, for localhost, the loopback addresses, this host's name and
// the listen address) when absent or about to expire, so restarts keep the fingerprint
// clients pinned. dir/cert.pem gets the certificate alone (for clients' --ca).
func SelfSignedCert(dir, listen string) (tls.Certificate, error) {
	pair, certPath := filepath.Join(dir, "server.pem"), filepath.Join(dir, "cert.pem")
	if c, err := tls.LoadX509KeyPair(pair, pair); err == nil {
		if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil && time.Now().Add(24*time.Hour).Before(leaf.NotAfter) {
			return c, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "twinflow " + host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	if h, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if ip == nil && h != "" && !strings.EqualFold(h, "localhost") {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, err
	}
	// one file, renamed into place: concurrent first starts never pair one's key with
	// another's certificate
	if err := WriteSecretFile(pair, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))+
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))); err != nil {
		return tls.Certificate{}, err
	}
	c, err := tls.LoadX509KeyPair(pair, pair)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := WriteSecretFile(certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))); err != nil {
		return tls.Certificate{}, err
	}
	return c, nil
}
