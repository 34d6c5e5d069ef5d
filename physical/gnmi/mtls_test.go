package gnmi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/twinflow/twinflow/labs/standin"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

// pki writes a CA and certificates it signs (and a self-signed impostor) as PEM files.
type pki struct {
	t   *testing.T
	dir string
	ca  *x509.Certificate
	key *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{t: t, dir: t.TempDir(), ca: ca, key: key}
	p.write("ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// issue returns cert and key files for name, signed by the CA (or by itself).
func (p *pki) issue(name string, server, selfSigned bool) (string, string) {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	parent, signer := p.ca, p.key
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		p.t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return p.write(name+".pem", "CERTIFICATE", der), p.write(name+".key", "EC PRIVATE KEY", kb)
}

// TestMutualTLS (REQ-SEC-04): a twinflow-node started with --client-ca serves only
// clients presenting a certificate its CA signed; the controller verifies the node's
// certificate against the CA (no skip-verify). Real processes over gRPC.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	srvCert, srvKey := p.issue("node", true, false)
	cliCert, cliKey := p.issue("controller", false, false)
	rogueCert, rogueKey := p.issue("rogue", false, true)
	caFile := filepath.Join(p.dir, "ca.pem")
	// StartNode itself must reach the node with the client certificate
	n := startNode(t, standin.NodeSpec{Name: "m1", Ports: []string{"eth1"}, TLS: true,
		ExtraArgs: []string{"--tls-cert", srvCert, "--tls-key", srvKey},
		ClientCA:  caFile, ClientCert: cliCert, ClientKey: cliKey})
	ctx := context.Background()
	try := func(cert, key string) error {
		c, err := tfgnmi.Dial(tfgnmi.Options{Address: n.GNMIAddr, CAFile: caFile, CertFile: cert, KeyFile: key, Timeout: 2 * time.Second})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.GetJSON(ctx, gpb.GetRequest_CONFIG, "/system/config/hostname")
		return err
	}
	if err := try(cliCert, cliKey); err != nil {
		t.Fatalf("controller with a CA-signed certificate: %v", err)
	}
	if err := try("", ""); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if err := try(rogueCert, rogueKey); err == nil {
		t.Fatal("a client with a self-signed certificate was served")
	}
	// and the controller refuses a node its CA did not sign
	other := newPKI(t)
	c, err := tfgnmi.Dial(tfgnmi.Options{Address: n.GNMIAddr, CAFile: filepath.Join(other.dir, "ca.pem"), CertFile: cliCert, KeyFile: cliKey, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetJSON(ctx, gpb.GetRequest_CONFIG, "/system/config/hostname"); err == nil {
		t.Fatal("the controller accepted a node certificate its CA did not sign")
	}
	if err := (tfgnmi.Options{Address: "x:1", Insecure: true, CertFile: cliCert, KeyFile: cliKey}).CheckTransport(); err == nil {
		t.Fatal("insecure with a client certificate accepted")
	}
	if err := (tfgnmi.Options{Address: "x:1", CertFile: cliCert}).CheckTransport(); err == nil {
		t.Fatal("a client certificate without its key accepted")
	}
}
