package commit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/physical/gnmi"
)

// GNMIDevices reaches devices through a physical/gnmi Pool. A device missing from the
// pool is dialed with the options Resolve returns for it (once: concurrent callers
// share the client registered first). Resolve is asked on every use, so a device
// whose address changed (in the live twin) is dialed again at its new address and
// its old client closed, instead of being reached at an address it no longer has.
type GNMIDevices struct {
	Pool *gnmi.Pool
	// Resolve returns the dial options of a device; nil means only pooled devices
	// are reachable, as they were added.
	Resolve func(ctx context.Context, id string) (gnmi.Options, error)
}

var _ Devices = (*GNMIDevices)(nil)

// Device returns the device's gNMI client wrapped as a Device.
func (g *GNMIDevices) Device(ctx context.Context, id string) (Device, error) {
	c, ok := g.Pool.Client(id)
	if g.Resolve == nil {
		if !ok {
			return nil, fmt.Errorf("commit: device %s: %w", id, gnmi.ErrNotInPool)
		}
		return GNMIDevice{C: c}, nil
	}
	o, err := g.Resolve(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("commit: device %s: %w", id, err)
	}
	switch {
	case !ok:
		c, err = g.Pool.AddIfAbsent(id, o)
	case c.Address() != o.Address:
		c, err = g.Pool.Replace(id, o, c)
	}
	if err != nil {
		return nil, err
	}
	return GNMIDevice{C: c}, nil
}

// GNMIDevice adapts one gNMI client to Device: Get reads the config data store as
// JSON_IETF (a path without data is absent), Set sends one SetRequest.
type GNMIDevice struct{ C *gnmi.Client }

var _ Device = GNMIDevice{}

// rejected wraps a device error that says the device refused the request and left its
// configuration unchanged (gNMI Set is atomic).
type rejected struct{ err error }

func (r rejected) Error() string  { return r.err.Error() }
func (r rejected) Unwrap() error  { return r.err }
func (r rejected) Rejected() bool { return true }

// Get implements Device.
func (d GNMIDevice) Get(ctx context.Context, paths []string) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	vals, err := d.C.GetJSON(ctx, gpb.GetRequest_CONFIG, paths...)
	if err == nil && collect(out, paths, vals) {
		return out, nil
	}
	if err != nil && status.Code(errors.Unwrap(err)) != codes.NotFound && status.Code(err) != codes.NotFound {
		return nil, err
	}
	// Some path has no data (the whole Get fails with NotFound): read one by one.
	clear(out)
	for _, p := range paths {
		vals, err := d.C.GetJSON(ctx, gpb.GetRequest_CONFIG, p)
		if err != nil {
			if status.Code(err) == codes.NotFound || status.Code(errors.Unwrap(err)) == codes.NotFound {
				continue
			}
			return nil, err
		}
		collect(out, []string{p}, vals)
	}
	return out, nil
}

// collect maps the values returned for concrete paths onto the requested paths; it
// reports false if some requested path has no value.
func collect(out map[string]json.RawMessage, paths []string, vals []gnmi.Value) bool {
	// Devices usually answer with the requested spelling: match that first and
	// canonicalize (parse) paths only when some request is not matched verbatim.
	raw := make(map[string]json.RawMessage, len(vals))
	for _, v := range vals {
		raw[v.Path] = v.JSON
	}
	var byPath map[string]json.RawMessage
	ok := true
	for _, p := range paths {
		if v, found := raw[p]; found {
			out[p] = v
			continue
		}
		if byPath == nil {
			byPath = make(map[string]json.RawMessage, len(vals))
			for _, v := range vals {
				byPath[canonical(v.Path)] = v.JSON
			}
		}
		if v, found := byPath[canonical(p)]; found {
			out[p] = v
		} else {
			ok = false
		}
	}
	return ok
}

func canonical(p string) string {
	pp, err := change.ParsePath("/" + trimSlash(p))
	if err != nil {
		return p
	}
	return pp.String()
}

func trimSlash(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	return p
}

// Set implements Device. InvalidArgument, NotFound, FailedPrecondition, Aborted,
// Unimplemented and ResourceExhausted answers are rejections: the device is unchanged.
func (d GNMIDevice) Set(ctx context.Context, ops []change.Op) error {
	gops := make([]gnmi.Op, len(ops))
	for i, op := range ops {
		gops[i] = gnmi.Op{Kind: gnmi.OpKind(op.Op), Path: op.Path, Value: op.Value}
	}
	_, err := d.C.Apply(ctx, gops)
	if err == nil {
		return nil
	}
	code := status.Code(err)
	if code == codes.Unknown {
		code = status.Code(errors.Unwrap(err))
	}
	switch code {
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.Aborted, codes.Unimplemented, codes.ResourceExhausted, codes.PermissionDenied:
		return rejected{err}
	}
	return err
}

// SetRequests builds the gNMI SetRequest each device of a change would receive (the
// dry run shown by `twinflow change diff`).
func SetRequests(ops map[string][]change.Op) (map[string]*gpb.SetRequest, error) {
	out := make(map[string]*gpb.SetRequest, len(ops))
	for dev, dops := range ops {
		gops := make([]gnmi.Op, len(dops))
		for i, op := range dops {
			gops[i] = gnmi.Op{Kind: gnmi.OpKind(op.Op), Path: op.Path, Value: op.Value}
		}
		req, err := gnmi.BuildSetRequest(dev, gops)
		if err != nil {
			return nil, fmt.Errorf("commit: device %s: %w", dev, err)
		}
		out[dev] = req
	}
	return out, nil
}

// ReadConfig reads a device's running configuration at paths (for drift detection):
// twin/pipeline.DeviceReader.
func (g *GNMIDevices) ReadConfig(ctx context.Context, device string, paths []string) (map[string]json.RawMessage, error) {
	d, err := g.Device(ctx, device)
	if err != nil {
		return nil, err
	}
	return d.Get(ctx, paths)
}
