package node_test

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	ospb "github.com/openconfig/gnoi/os"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/twinflow/twinflow/labs/node"
	"github.com/twinflow/twinflow/labs/node/osimage"
	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

type userPass struct{ u, p string }

func (c userPass) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"username": c.u, "password": c.p}, nil
}
func (userPass) RequireTransportSecurity() bool { return true }

// install streams img as version with the gnoi module's own generated client and
// returns the terminal response.
func install(t *testing.T, c ospb.OSClient, version string, img []byte) *ospb.InstallResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := c.Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&ospb.InstallRequest{Request: &ospb.InstallRequest_TransferRequest{
		TransferRequest: &ospb.TransferRequest{Version: version, PackageSize: uint64(len(img))}}}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r.GetTransferReady() == nil {
		return r
	}
	for off := 0; off < len(img); off += 1000 {
		end := min(off+1000, len(img))
		if err := st.Send(&ospb.InstallRequest{Request: &ospb.InstallRequest_TransferContent{TransferContent: img[off:end]}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Send(&ospb.InstallRequest{Request: &ospb.InstallRequest_TransferEnd{TransferEnd: &ospb.TransferEnd{}}}); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetTransferProgress() == nil {
			return r
		}
	}
}

func softwareVersion(t *testing.T, g *tfgnmi.Client) string {
	t.Helper()
	vs, err := g.GetJSON(context.Background(), gpb.GetRequest_STATE, "/system/state/software-version")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 {
		t.Fatalf("software-version: %d values", len(vs))
	}
	return strings.Trim(string(vs[0].JSON), `"`)
}

// TestGNOIOSInterop drives a twinflow-node process (TLS, username and password) with
// the gnoi module's own generated OS client from this test process: Install (streamed,
// checksum checked), Activate, Verify, and the new version read back over gNMI
// (REQ-AUTO-06, REQ-AUTO-08).
func TestGNOIOSInterop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	n, err := standin.StartNode(ctx, nodetest.Binary(t), standin.NodeSpec{Name: "os1", Ports: []string{"eth1"}, TLS: true,
		Username: "admin", Password: "s3cret", ExtraArgs: []string{"--image-dir", dir, "--max-image-size", "100000"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	g, err := tfgnmi.Dial(n.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if v := softwareVersion(t, g); v != node.DefaultVersion {
		t.Fatalf("initial software-version %q, want %q", v, node.DefaultVersion)
	}

	tc := credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the node's self-signed certificate
	conn, err := grpc.NewClient(n.GNMIAddr, grpc.WithTransportCredentials(tc), grpc.WithPerRPCCredentials(userPass{"admin", "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := ospb.NewOSClient(conn)

	// Without credentials the service is closed like gNMI.
	anon, err := grpc.NewClient(n.GNMIAddr, grpc.WithTransportCredentials(tc))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := ospb.NewOSClient(anon).Verify(ctx, &ospb.VerifyRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Verify without credentials: %v, want Unauthenticated", err)
	}

	// A damaged image is refused and leaves nothing behind.
	good, err := osimage.Build("2.0", []byte(strings.Repeat("nos", 3000)), "")
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{}, good...)
	bad[len(bad)-5] ^= 0xff
	if r := install(t, c, "2.0", bad); r.GetInstallError().GetType() != ospb.InstallError_INTEGRITY_FAIL {
		t.Fatalf("damaged image: %v, want INTEGRITY_FAIL", r)
	}
	if r := install(t, c, "2.1", good); r.GetInstallError().GetType() != ospb.InstallError_INCOMPATIBLE {
		t.Fatalf("image of another version: %v, want INCOMPATIBLE", r)
	}
	huge := make([]byte, 100001)
	if r := install(t, c, "3.0", huge); r.GetInstallError().GetType() != ospb.InstallError_TOO_LARGE {
		t.Fatalf("oversized image: %v, want TOO_LARGE", r)
	}
	if r := install(t, c, "../x", good); r.GetInstallError().GetType() != ospb.InstallError_PARSE_FAIL {
		t.Fatalf("path-like version: %v, want PARSE_FAIL", r)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("refused transfers left files: %v", left)
	}
	if r, err := c.Activate(ctx, &ospb.ActivateRequest{Version: "2.0"}); err != nil || r.GetActivateError().GetType() != ospb.ActivateError_NON_EXISTENT_VERSION {
		t.Fatalf("activate before install: %v %v", r, err)
	}

	// The good image installs, activates, verifies, and gNMI reports it.
	if r := install(t, c, "2.0", good); r.GetValidated().GetVersion() != "2.0" {
		t.Fatalf("install: %v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "2.0.img")); err != nil {
		t.Fatalf("installed image not kept: %v", err)
	}
	if r := install(t, c, "2.0", good); r.GetValidated() == nil {
		t.Fatalf("second install of a held version: %v, want Validated at once", r)
	}
	if r, err := c.Activate(ctx, &ospb.ActivateRequest{Version: "2.0"}); err != nil || r.GetActivateOk() == nil {
		t.Fatalf("activate: %v %v", r, err)
	}
	if v, err := c.Verify(ctx, &ospb.VerifyRequest{}); err != nil || v.GetVersion() != "2.0" || v.GetActivationFailMessage() != "" {
		t.Fatalf("verify: %v %v", v, err)
	}
	if v := softwareVersion(t, g); v != "2.0" {
		t.Fatalf("gNMI software-version after activate %q, want 2.0", v)
	}

	// Injected faults: an image that fails to activate, one that boots back into the old version.
	fail, _ := osimage.Build("2.1-fail", []byte("x"), osimage.InjectActivateFail)
	if r := install(t, c, "2.1-fail", fail); r.GetValidated() == nil {
		t.Fatalf("install: %v", r)
	}
	if r, err := c.Activate(ctx, &ospb.ActivateRequest{Version: "2.1-fail"}); err != nil || r.GetActivateError() == nil {
		t.Fatalf("activate of a failing image: %v %v, want ActivateError", r, err)
	}
	old, _ := osimage.Build("2.2", []byte("y"), osimage.InjectBootOld)
	if r := install(t, c, "2.2", old); r.GetValidated() == nil {
		t.Fatalf("install: %v", r)
	}
	if r, err := c.Activate(ctx, &ospb.ActivateRequest{Version: "2.2"}); err != nil || r.GetActivateOk() == nil {
		t.Fatalf("activate: %v %v", r, err)
	}
	v, err := c.Verify(ctx, &ospb.VerifyRequest{})
	if err != nil || v.GetVersion() != "2.0" || v.GetActivationFailMessage() == "" {
		t.Fatalf("verify after a boot back into the old image: %v %v", v, err)
	}
	if v := softwareVersion(t, g); v != "2.0" {
		t.Fatalf("gNMI software-version %q, want 2.0", v)
	}
	// Rolling back to the version the node started with works: it counts as installed.
	if r, err := c.Activate(ctx, &ospb.ActivateRequest{Version: node.DefaultVersion}); err != nil || r.GetActivateOk() == nil {
		t.Fatalf("activate the start version: %v %v", r, err)
	}
	if v := softwareVersion(t, g); v != node.DefaultVersion {
		t.Fatalf("gNMI software-version %q, want %q", v, node.DefaultVersion)
	}
}
