package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/twinflow/twinflow/labs/node/dataplane"
	"github.com/twinflow/twinflow/labs/node/linux"
	"github.com/twinflow/twinflow/labs/node/sim"
	"github.com/twinflow/twinflow/models/ztp"
)

// Ready is the JSON line twinflow-node prints on stdout once it serves.
type Ready struct {
	Name      string `json:"name"`
	GNMIAddr  string `json:"gnmi_addr"`
	FaultAddr string `json:"fault_addr,omitempty"`
	TLS       bool   `json:"tls"`
	Dataplane string `json:"dataplane"`
}

// Main runs twinflow-node with command-line args (without the program name) until ctx
// is done; it returns the process exit code (2 for usage errors).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("twinflow-node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "node name, reported as /system/config/hostname (required)")
	addr := fs.String("gnmi-addr", "127.0.0.1:9339", "gNMI listen address host:port (port 0 picks a free port)")
	dp := fs.String("dataplane", "sim", "dataplane: sim (in memory) or linux (netlink, this network namespace)")
	ports := fs.String("ports", "", "comma-separated port names (sim: required; linux: default all links but lo)")
	insecure := fs.Bool("insecure", false, "serve plaintext gRPC instead of TLS")
	certFile := fs.String("tls-cert", "", "TLS certificate PEM file (default: a generated self-signed certificate)")
	keyFile := fs.String("tls-key", "", "TLS private key PEM file")
	certOut := fs.String("tls-cert-out", "", "write the generated self-signed certificate (PEM) to this file")
	user := fs.String("username", "", "require this username in per-RPC metadata")
	passFile := fs.String("password-file", "", "require the password in this file in per-RPC metadata (else env TWINFLOW_NODE_PASSWORD; never a flag value)")
	clientCA := fs.String("client-ca", "", "require client certificates signed by a CA of this PEM bundle (mutual TLS, REQ-SEC-04)")
	faultAddr := fs.String("fault-addr", "", "sim: listen address of the HTTP fault endpoint (empty: none)")
	stateInt := fs.Duration("state-interval", 100*time.Millisecond, "how stale operational state may be when read; also how often it is polled while an ON_CHANGE subscription is open")
	procs := fs.Int("procs", 1, "threads running Go code at once (GOMAXPROCS; 0: one per CPU); the GOMAXPROCS environment variable wins")
	maxMsg := fs.Int("max-msg-size", 4<<20, "largest accepted gRPC message in bytes")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	swVersion := fs.String("software-version", DefaultVersion, "software version running at start (gNOI OS Activate changes it)")
	imageDir := fs.String("image-dir", "", "directory of installed OS images (gNOI OS Install; default: a temporary directory removed at exit)")
	maxImage := fs.Int64("max-image-size", 64<<20, "largest accepted OS image in bytes")
	register := fs.String("register", "", "controller URL to register with for zero-touch provisioning once serving (needs --token-file)")
	tokenFile := fs.String("token-file", "", "file holding the registration token (a user with the device role)")
	registerCA := fs.String("register-ca", "", "PEM CA bundle to verify an HTTPS controller (default: system roots)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "twinflow-node: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	if *name == "" {
		return usage("--name is required")
	}
	if (*certFile == "") != (*keyFile == "") {
		return usage("--tls-cert and --tls-key go together")
	}
	if *insecure && *certFile != "" {
		return usage("--insecure conflicts with --tls-cert")
	}
	if *insecure && *clientCA != "" {
		return usage("--insecure conflicts with --client-ca")
	}
	pass := os.Getenv("TWINFLOW_NODE_PASSWORD")
	if *passFile != "" {
		b, err := os.ReadFile(*passFile)
		if err != nil {
			return usage("--password-file: %v", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	if *stateInt < time.Millisecond {
		return usage("--state-interval must be at least 1ms")
	}
	if *maxMsg < 1024 {
		return usage("--max-msg-size must be at least 1024")
	}
	var regToken string
	if (*register == "") != (*tokenFile == "") {
		return usage("--register and --token-file go together")
	}
	if *tokenFile != "" {
		t, err := ReadToken(*tokenFile)
		if err != nil {
			return usage("--token-file: %v", err)
		}
		regToken = t
		if _, err := (&Registrar{URL: *register}).endpoint(); err != nil {
			return usage("%v", err)
		}
	}
	if *maxImage < 1024 {
		return usage("--max-image-size must be at least 1024")
	}
	if *procs < 0 {
		return usage("--procs must be 0 or more, got %d", *procs)
	}
	if *procs > 0 && os.Getenv("GOMAXPROCS") == "" {
		// A node serves a few RPCs at a time; one thread avoids the scheduler's
		// cross-thread wake-ups, which cost more CPU than they save when many nodes
		// share a machine.
		runtime.GOMAXPROCS(*procs)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return usage("--log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})).With("node", *name)
	var portList []string
	if *ports != "" {
		portList = strings.Split(*ports, ",")
	}

	var d dataplane.Dataplane
	var simDP *sim.Dataplane
	switch *dp {
	case "sim":
		if len(portList) == 0 {
			return usage("--dataplane sim needs --ports")
		}
		s, err := sim.New(portList, nil)
		if err != nil {
			return usage("%v", err)
		}
		d, simDP = s, s
	case "linux":
		if *faultAddr != "" {
			return usage("--fault-addr is only for --dataplane sim")
		}
		l, err := linux.New(ctx, linux.Options{Ports: portList, Logger: log})
		if err != nil {
			fmt.Fprintln(stderr, "twinflow-node:", err)
			return 1
		}
		d = l
	default:
		return usage("--dataplane must be sim or linux, got %q", *dp)
	}
	defer d.Close()

	srv, err := New(ctx, Options{Name: *name, Dataplane: d, Username: *user, Password: pass, StateInterval: *stateInt,
		SoftwareVersion: *swVersion, Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "twinflow-node:", err)
		return 1
	}
	if *imageDir == "" {
		dir, err := os.MkdirTemp("", "twinflow-node-images-")
		if err != nil {
			fmt.Fprintln(stderr, "twinflow-node:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		*imageDir = dir
	}
	osm, err := NewOSManager(OSOptions{Dir: *imageDir, Running: *swVersion, MaxImage: *maxImage, Logger: log,
		OnActivate: func(v string, boot time.Time) { srv.SetSoftware(context.WithoutCancel(ctx), v, boot) }})
	if err != nil {
		return usage("%v", err)
	}
	gopts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(*maxMsg),
		grpc.ChainUnaryInterceptor(srv.UnaryInterceptor),
		grpc.ChainStreamInterceptor(srv.StreamInterceptor),
	}
	if !*insecure {
		cert, err := loadOrGenerate(*certFile, *keyFile, *name, *certOut)
		if err != nil {
			fmt.Fprintln(stderr, "twinflow-node:", err)
			return 1
		}
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if *clientCA != "" {
			pem, err := os.ReadFile(*clientCA)
			if err != nil {
				return usage("--client-ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return usage("--client-ca: no PEM certificates in %s", *clientCA)
			}
			tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(tc)))
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "twinflow-node: listen:", err)
		return 1
	}
	gs := grpc.NewServer(gopts...)
	srv.Register(gs)
	osm.Register(gs) // gNOI OS beside gNMI, behind the same credentials
	ready := Ready{Name: *name, GNMIAddr: lis.Addr().String(), TLS: !*insecure, Dataplane: *dp}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	var hs *http.Server
	if *faultAddr != "" {
		flis, err := net.Listen("tcp", *faultAddr)
		if err != nil {
			fmt.Fprintln(stderr, "twinflow-node: fault listen:", err)
			return 1
		}
		ready.FaultAddr = flis.Addr().String()
		hs = &http.Server{Handler: simDP.Handler(), ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := hs.Serve(flis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("fault endpoint: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error { return srv.Run(ctx) })
	g.Go(func() error {
		if err := gs.Serve(lis); err != nil {
			return fmt.Errorf("grpc: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		if hs != nil {
			_ = hs.Close()
		}
		// Streams never end by themselves: stop at once, as a device going away would.
		gs.Stop()
		return nil
	})
	b, _ := json.Marshal(ready)
	fmt.Fprintln(stdout, string(b))
	log.Info("serving", "gnmi", ready.GNMIAddr, "tls", ready.TLS, "fault", ready.FaultAddr)
	if *register != "" {
		// Register once serving: the controller checks the management address answers.
		ports, err := d.Ports(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "twinflow-node: list ports:", err)
			return 1
		}
		reg := ztp.Registration{Name: *name, Address: ready.GNMIAddr}
		for _, p := range ports {
			reg.Ports = append(reg.Ports, p.Name)
		}
		rg := &Registrar{URL: *register, Token: regToken, CAFile: *registerCA, Logger: log}
		g.Go(func() error {
			if err := rg.Register(ctx, reg); err != nil && ctx.Err() == nil {
				// The node keeps serving: an operator can still add it to the inventory.
				log.Error("registration failed", "err", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		fmt.Fprintln(stderr, "twinflow-node:", err)
		return 1
	}
	return 0
}

// loadOrGenerate loads a key pair, or generates a self-signed certificate for the node
// (valid for 127.0.0.1, ::1, localhost and the node name), optionally writing it out.
func loadOrGenerate(certFile, keyFile, name, certOut string) (tls.Certificate, error) {
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("load TLS key pair: %w", err)
		}
		return c, nil
	}
	cert, certPEM, err := SelfSigned(name)
	if err != nil {
		return tls.Certificate{}, err
	}
	if certOut != "" {
		if err := os.WriteFile(certOut, certPEM, 0o644); err != nil {
			return tls.Certificate{}, fmt.Errorf("write certificate: %w", err)
		}
	}
	return cert, nil
}

// SelfSigned generates a self-signed ECDSA certificate for a node and returns it with
// its PEM encoding.
func SelfSigned(name string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"twinflow-node"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", name},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("create certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	return c, certPEM, err
}
