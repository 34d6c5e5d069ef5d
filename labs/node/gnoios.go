package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	ospb "github.com/openconfig/gnoi/os"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twinflow/twinflow/labs/node/osimage"
)

// OSOptions configure an OSManager.
type OSOptions struct {
	// Dir holds installed images (required): one file per version, <version>.img.
	Dir string
	// Running is the version running at start (default SoftwareVersion's version).
	Running string
	// MaxImage bounds an image's size in bytes (default 64 MiB).
	MaxImage int64
	// ProgressEvery is how many bytes pass between TransferProgress messages (default 1 MiB).
	ProgressEvery int64
	// OnActivate is called with the running version and the boot time after each
	// activation (the gNMI server reports them as software-version and boot-time).
	OnActivate func(version string, boot time.Time)
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// OSManager is the node's software manager behind the gNOI OS service
// (REQ-AUTO-06): it receives images (one transfer at a time), checks their integrity,
// keeps them under Dir, activates one, and answers what runs. Sim images may inject an
// activation failure or a boot back into the old version (package osimage).
type OSManager struct {
	ospb.UnimplementedOSServer

	opts OSOptions
	log  *slog.Logger

	mu         sync.Mutex
	installing bool
	running    string
	images     map[string]osimage.Header // installed versions (the running one included)
	failMsg    string                    // why the last activation did not take
}

// NewOSManager checks o and returns a manager whose running version is o.Running.
func NewOSManager(o OSOptions) (*OSManager, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: OS image directory is required", ErrConfig)
	}
	if o.Running == "" {
		o.Running = DefaultVersion
	}
	if err := osimage.CheckVersion(o.Running); err != nil {
		return nil, fmt.Errorf("%w: running version: %v", ErrConfig, err)
	}
	if o.MaxImage <= 0 {
		o.MaxImage = 64 << 20
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 1 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("node: image directory: %w", err)
	}
	return &OSManager{opts: o, log: log, running: o.Running,
		images: map[string]osimage.Header{o.Running: {Version: o.Running}}}, nil
}

// Register registers the gNOI OS service on g.
func (m *OSManager) Register(g *grpc.Server) { ospb.RegisterOSServer(g, m) }

// Running returns the running version.
func (m *OSManager) Running() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}

func installError(t ospb.InstallError_Type, format string, a ...any) *ospb.InstallResponse {
	return &ospb.InstallResponse{Response: &ospb.InstallResponse_InstallError{
		InstallError: &ospb.InstallError{Type: t, Detail: fmt.Sprintf(format, a...)}}}
}

// Install implements gNOI OS Install: TransferRequest, then TransferContent chunks,
// then TransferEnd; the image is checked (format, checksum, version) before it is kept.
// A version already installed answers Validated at once. Every failure removes the
// partial transfer.
func (m *OSManager) Install(stream ospb.OS_InstallServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	req := first.GetTransferRequest()
	if req == nil {
		return status.Error(codes.InvalidArgument, "gnoi.os: the first message must be a TransferRequest")
	}
	if req.GetStandbySupervisor() {
		return stream.Send(installError(ospb.InstallError_NOT_SUPPORTED_ON_BACKUP, "no standby supervisor"))
	}
	version := req.GetVersion()
	if err := osimage.CheckVersion(version); err != nil {
		return stream.Send(installError(ospb.InstallError_PARSE_FAIL, "%v", err))
	}
	if req.GetPackageSize() > uint64(m.opts.MaxImage) {
		return stream.Send(installError(ospb.InstallError_TOO_LARGE, "package size %d exceeds %d bytes", req.GetPackageSize(), m.opts.MaxImage))
	}
	m.mu.Lock()
	_, have := m.images[version]
	busy := m.installing
	if !have && !busy {
		m.installing = true
	}
	m.mu.Unlock()
	if have {
		return stream.Send(&ospb.InstallResponse{Response: &ospb.InstallResponse_Validated{
			Validated: &ospb.Validated{Version: version, Description: "already installed"}}})
	}
	if busy {
		return stream.Send(installError(ospb.InstallError_INSTALL_IN_PROGRESS, "another install is in progress"))
	}
	defer func() {
		m.mu.Lock()
		m.installing = false
		m.mu.Unlock()
	}()
	h, resp, err := m.receive(stream, version)
	if err != nil {
		return err
	}
	if resp != nil {
		m.log.Warn("install refused", "version", version, "error", resp.GetInstallError().GetDetail())
		return stream.Send(resp)
	}
	m.mu.Lock()
	m.images[version] = h
	m.mu.Unlock()
	m.log.Info("image installed", "version", version)
	return stream.Send(&ospb.InstallResponse{Response: &ospb.InstallResponse_Validated{
		Validated: &ospb.Validated{Version: version, Description: "twinflow sim image"}}})
}

// receive streams the image into a temporary file and checks it; it returns an
// InstallError response (not an error) for a refused image, having removed the file.
func (m *OSManager) receive(stream ospb.OS_InstallServer, version string) (osimage.Header, *ospb.InstallResponse, error) {
	tmp, err := os.CreateTemp(m.opts.Dir, ".install-*")
	if err != nil {
		return osimage.Header{}, nil, status.Errorf(codes.Internal, "gnoi.os: %v", err)
	}
	done := false
	defer func() {
		_ = tmp.Close()
		if !done {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := stream.Send(&ospb.InstallResponse{Response: &ospb.InstallResponse_TransferReady{TransferReady: &ospb.TransferReady{}}}); err != nil {
		return osimage.Header{}, nil, err
	}
	var n, lastAck int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return osimage.Header{}, nil, status.Error(codes.InvalidArgument, "gnoi.os: stream ended before TransferEnd")
		}
		if err != nil {
			return osimage.Header{}, nil, err
		}
		if msg.GetTransferEnd() != nil {
			break
		}
		chunk := msg.GetTransferContent()
		if chunk == nil {
			return osimage.Header{}, nil, status.Error(codes.InvalidArgument, "gnoi.os: expected TransferContent or TransferEnd")
		}
		n += int64(len(chunk))
		if n > m.opts.MaxImage {
			return osimage.Header{}, installError(ospb.InstallError_TOO_LARGE, "image exceeds %d bytes", m.opts.MaxImage), nil
		}
		if _, err := tmp.Write(chunk); err != nil {
			return osimage.Header{}, nil, status.Errorf(codes.Internal, "gnoi.os: write image: %v", err)
		}
		if n-lastAck >= m.opts.ProgressEvery {
			lastAck = n
			if err := stream.Send(&ospb.InstallResponse{Response: &ospb.InstallResponse_TransferProgress{
				TransferProgress: &ospb.TransferProgress{BytesReceived: uint64(n)}}}); err != nil {
				return osimage.Header{}, nil, err
			}
		}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return osimage.Header{}, nil, status.Errorf(codes.Internal, "gnoi.os: %v", err)
	}
	h, _, err := osimage.Read(tmp)
	switch {
	case errors.Is(err, osimage.ErrIntegrity):
		return osimage.Header{}, installError(ospb.InstallError_INTEGRITY_FAIL, "%v", err), nil
	case errors.Is(err, osimage.ErrParse):
		return osimage.Header{}, installError(ospb.InstallError_PARSE_FAIL, "%v", err), nil
	case err != nil:
		return osimage.Header{}, nil, status.Errorf(codes.Internal, "gnoi.os: read image: %v", err)
	}
	if h.Version != version {
		return osimage.Header{}, installError(ospb.InstallError_INCOMPATIBLE, "image is version %q, transfer asked for %q", h.Version, version), nil
	}
	if err := tmp.Close(); err != nil {
		return osimage.Header{}, nil, status.Errorf(codes.Internal, "gnoi.os: %v", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(m.opts.Dir, version+".img")); err != nil {
		return osimage.Header{}, nil, status.Errorf(codes.Internal, "gnoi.os: keep image: %v", err)
	}
	done = true
	return h, nil, nil
}

// Activate implements gNOI OS Activate: the installed version becomes the running one
// and the node "reboots" (its boot time changes). A sim image with inject=activate-fail
// is refused; one with inject=boot-old reboots back into the previous version and
// Verify then reports why.
func (m *OSManager) Activate(_ context.Context, req *ospb.ActivateRequest) (*ospb.ActivateResponse, error) {
	activateErr := func(t ospb.ActivateError_Type, format string, a ...any) *ospb.ActivateResponse {
		return &ospb.ActivateResponse{Response: &ospb.ActivateResponse_ActivateError{
			ActivateError: &ospb.ActivateError{Type: t, Detail: fmt.Sprintf(format, a...)}}}
	}
	if req.GetStandbySupervisor() {
		return activateErr(ospb.ActivateError_NOT_SUPPORTED_ON_BACKUP, "no standby supervisor"), nil
	}
	v := req.GetVersion()
	if err := osimage.CheckVersion(v); err != nil {
		return activateErr(ospb.ActivateError_NON_EXISTENT_VERSION, "%v", err), nil
	}
	m.mu.Lock()
	h, ok := m.images[v]
	if !ok {
		m.mu.Unlock()
		return activateErr(ospb.ActivateError_NON_EXISTENT_VERSION, "version %q is not installed", v), nil
	}
	if h.Inject == osimage.InjectActivateFail {
		m.failMsg = fmt.Sprintf("activation of %s failed (injected by the sim image)", v)
		m.mu.Unlock()
		m.log.Warn("activate refused", "version", v)
		return activateErr(ospb.ActivateError_UNSPECIFIED, "%s", m.failMsg), nil
	}
	prev := m.running
	switch h.Inject {
	case osimage.InjectBootOld:
		m.failMsg = fmt.Sprintf("%s did not boot; running %s again (injected by the sim image)", v, prev)
	default:
		m.running, m.failMsg = v, ""
	}
	running := m.running
	boot := m.opts.Now()
	m.mu.Unlock()
	m.log.Info("activated", "version", v, "running", running, "previous", prev)
	if m.opts.OnActivate != nil {
		m.opts.OnActivate(running, boot)
	}
	return &ospb.ActivateResponse{Response: &ospb.ActivateResponse_ActivateOk{ActivateOk: &ospb.ActivateOK{}}}, nil
}

// Verify implements gNOI OS Verify: the running version and, when the last activation
// did not take, why.
func (m *OSManager) Verify(context.Context, *ospb.VerifyRequest) (*ospb.VerifyResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &ospb.VerifyResponse{Version: m.running, ActivationFailMessage: m.failMsg}, nil
}
