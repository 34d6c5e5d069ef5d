package node

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	ospb "github.com/openconfig/gnoi/os"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/twinflow/twinflow/labs/node/osimage"
	"github.com/twinflow/twinflow/physical/gnoi"
)

// TestInstallOneAtATime: a second transfer while one is open is refused with
// INSTALL_IN_PROGRESS; the first completes with progress acknowledgements, and the
// physical/gnoi driver installs, activates and verifies through the same service.
func TestInstallOneAtATime(t *testing.T) {
	var activated string
	m, err := NewOSManager(OSOptions{Dir: t.TempDir(), ProgressEvery: 1000, OnActivate: func(v string, _ time.Time) { activated = v }})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	m.Register(gs)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := ospb.NewOSClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	img, _ := osimage.Build("5.0", make([]byte, 5000), "")
	first, err := c.Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(st ospb.OS_InstallClient, r *ospb.InstallRequest) {
		if err := st.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	send(first, &ospb.InstallRequest{Request: &ospb.InstallRequest_TransferRequest{TransferRequest: &ospb.TransferRequest{Version: "5.0"}}})
	if r, err := first.Recv(); err != nil || r.GetTransferReady() == nil {
		t.Fatalf("first: %v %v", r, err)
	}
	second, err := c.Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send(second, &ospb.InstallRequest{Request: &ospb.InstallRequest_TransferRequest{TransferRequest: &ospb.TransferRequest{Version: "6.0"}}})
	if r, err := second.Recv(); err != nil || r.GetInstallError().GetType() != ospb.InstallError_INSTALL_IN_PROGRESS {
		t.Fatalf("second: %v %v, want INSTALL_IN_PROGRESS", r, err)
	}
	send(first, &ospb.InstallRequest{Request: &ospb.InstallRequest_TransferContent{TransferContent: img}})
	send(first, &ospb.InstallRequest{Request: &ospb.InstallRequest_TransferEnd{TransferEnd: &ospb.TransferEnd{}}})
	progress := 0
	for {
		r, err := first.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetTransferProgress() != nil {
			progress++
			continue
		}
		if r.GetValidated().GetVersion() != "5.0" {
			t.Fatalf("first ended %v", r)
		}
		break
	}
	if progress == 0 {
		t.Error("no TransferProgress for a 5 kB image acknowledged every 1000 bytes")
	}

	// The driver: install (streamed in chunks), activate, verify.
	o := gnoi.NewOS(conn)
	img7, _ := osimage.Build("7.0", make([]byte, 3*gnoi.ChunkSize+5), "")
	if err := o.Install(ctx, "7.0", bytesReader(img7), int64(len(img7))); err != nil {
		t.Fatal(err)
	}
	if err := o.Activate(ctx, "7.0"); err != nil || activated != "7.0" {
		t.Fatalf("activate: %v (OnActivate saw %q)", err, activated)
	}
	if v, fail, err := o.Verify(ctx); err != nil || v != "7.0" || fail != "" {
		t.Fatalf("verify: %q %q %v", v, fail, err)
	}
	bad := append([]byte{}, img7...)
	bad[len(bad)-1] ^= 1
	if err := o.Install(ctx, "7.1", bytesReader(bad), int64(len(bad))); err == nil {
		t.Fatal("a damaged image installed")
	}
	if err := o.Activate(ctx, "9.9"); err == nil {
		t.Fatal("activated a version never installed")
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
