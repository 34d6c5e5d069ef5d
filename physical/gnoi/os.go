// Package gnoi is TwinFlow's gNOI driver: the OS service (Install, Activate, Verify) of
// `github.com/openconfig/gnoi/os` over a device's gRPC connection (the one its gNMI
// client already holds, with the same TLS and credentials). REQ-AUTO-06.
package gnoi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	ospb "github.com/openconfig/gnoi/os"
	"google.golang.org/grpc"
)

// Errors of the driver.
var (
	// ErrInstall is wrapped when a device refuses an image (InstallError).
	ErrInstall = errors.New("gnoi: install refused")
	// ErrActivate is wrapped when a device refuses to activate a version.
	ErrActivate = errors.New("gnoi: activate refused")
	// ErrProtocol is wrapped when a device answers out of the protocol's order.
	ErrProtocol = errors.New("gnoi: unexpected response")
)

// ChunkSize is the size of the TransferContent messages Install sends.
const ChunkSize = 64 << 10

// OS drives the gNOI OS service of one device.
type OS struct {
	c ospb.OSClient
	// Timeout bounds Activate and Verify (default 10s) when ctx has no earlier deadline.
	Timeout time.Duration
}

// NewOS returns an OS driver over conn.
func NewOS(conn grpc.ClientConnInterface) *OS { return &OS{c: ospb.NewOSClient(conn)} }

// InstallError is a device's refusal of an image.
type InstallError struct {
	Type   ospb.InstallError_Type
	Detail string
}

func (e *InstallError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrInstall, e.Type, e.Detail)
}

func (e *InstallError) Unwrap() error { return ErrInstall }

// Install transfers image (size bytes) as version and waits for the device to
// validate it. A version the device already holds is not transferred again.
func (o *OS) Install(ctx context.Context, version string, image io.Reader, size int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := o.c.Install(ctx)
	if err != nil {
		return fmt.Errorf("gnoi: install: %w", err)
	}
	if err := st.Send(&ospb.InstallRequest{Request: &ospb.InstallRequest_TransferRequest{
		TransferRequest: &ospb.TransferRequest{Version: version, PackageSize: uint64(size)}}}); err != nil {
		return fmt.Errorf("gnoi: install: %w", err)
	}
	first, err := st.Recv()
	if err != nil {
		return fmt.Errorf("gnoi: install: %w", err)
	}
	if done, err := final(first, version); done {
		return err
	}
	if first.GetTransferReady() == nil {
		return fmt.Errorf("%w: wanted TransferReady, got %v", ErrProtocol, first)
	}
	// Progress acknowledgements arrive while we send; drain them so neither side blocks.
	res := make(chan error, 1)
	go func() {
		for {
			r, err := st.Recv()
			if err != nil {
				res <- fmt.Errorf("gnoi: install: %w", err)
				return
			}
			if r.GetTransferProgress() != nil {
				continue
			}
			_, err = final(r, version)
			res <- err
			return
		}
	}()
	buf := make([]byte, ChunkSize)
	for {
		n, rerr := image.Read(buf)
		if n > 0 {
			if err := st.Send(&ospb.InstallRequest{Request: &ospb.InstallRequest_TransferContent{TransferContent: buf[:n]}}); err != nil {
				break // the device ended the stream: its answer says why
			}
		}
		if errors.Is(rerr, io.EOF) {
			if err := st.Send(&ospb.InstallRequest{Request: &ospb.InstallRequest_TransferEnd{TransferEnd: &ospb.TransferEnd{}}}); err != nil {
				break
			}
			break
		}
		if rerr != nil {
			return fmt.Errorf("gnoi: read image: %w", rerr)
		}
	}
	err = <-res
	_ = st.CloseSend()
	return err
}

// final interprets a terminal Install response: Validated (of the right version) or
// InstallError; done is false for any other response.
func final(r *ospb.InstallResponse, version string) (done bool, err error) {
	if v := r.GetValidated(); v != nil {
		if v.GetVersion() != version {
			return true, fmt.Errorf("%w: validated version %q, sent %q", ErrProtocol, v.GetVersion(), version)
		}
		return true, nil
	}
	if e := r.GetInstallError(); e != nil {
		return true, &InstallError{Type: e.GetType(), Detail: e.GetDetail()}
	}
	return false, nil
}

func (o *OS) unary(ctx context.Context) (context.Context, context.CancelFunc) {
	t := o.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < t {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, t)
}

// Activate makes version the running version (the device reboots into it).
func (o *OS) Activate(ctx context.Context, version string) error {
	ctx, cancel := o.unary(ctx)
	defer cancel()
	r, err := o.c.Activate(ctx, &ospb.ActivateRequest{Version: version})
	if err != nil {
		return fmt.Errorf("gnoi: activate: %w", err)
	}
	if e := r.GetActivateError(); e != nil {
		return fmt.Errorf("%w: %s: %s", ErrActivate, e.GetType(), e.GetDetail())
	}
	if r.GetActivateOk() == nil {
		return fmt.Errorf("%w: empty ActivateResponse", ErrProtocol)
	}
	return nil
}

// Verify returns the running version and, if the last activation did not take, the
// device's reason.
func (o *OS) Verify(ctx context.Context) (version, failMessage string, err error) {
	ctx, cancel := o.unary(ctx)
	defer cancel()
	r, err := o.c.Verify(ctx, &ospb.VerifyRequest{})
	if err != nil {
		return "", "", fmt.Errorf("gnoi: verify: %w", err)
	}
	return r.GetVersion(), r.GetActivationFailMessage(), nil
}
