// Package gnmi is the controller's southbound gNMI driver: a Client per device (TLS with
// an optional CA or explicit skip-verify, username/password per-RPC metadata, timeouts),
// typed helpers for Get (JSON), Set (update/replace/delete ops with JSON values) and
// Subscribe (with reconnect, exponential backoff and jitter), and a Pool that manages
// clients for thousands of devices with bounded concurrency.
package gnmi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/twinflow/twinflow/models/ocpath"
)

// Errors of the driver.
var (
	// ErrOptions is wrapped by invalid Options.
	ErrOptions = errors.New("gnmi: invalid options")
	// ErrPath is wrapped by malformed path strings.
	ErrPath = errors.New("gnmi: invalid path")
	// ErrResponse is wrapped when a device answers something unexpected.
	ErrResponse = errors.New("gnmi: unexpected response")
	// ErrNotInPool is returned for a device name the Pool does not know.
	ErrNotInPool = errors.New("gnmi: device not in pool")
	// ErrClosed is returned by a closed Client or Pool.
	ErrClosed = errors.New("gnmi: closed")
)

// Options configure a Client.
type Options struct {
	// Address is the device's gNMI address host:port (required).
	Address string
	// Target is sent as the path prefix target, if set.
	Target string
	// Insecure uses plaintext gRPC (no TLS).
	Insecure bool
	// CAFile is a PEM bundle to verify the device certificate; empty uses system roots.
	CAFile string
	// SkipVerify accepts any device certificate (self-signed demo nodes). Explicit, never
	// implied.
	SkipVerify bool
	// ServerName overrides the name verified in the device certificate.
	ServerName string
	// CertFile and KeyFile are this client's certificate and key (PEM), for devices
	// that require mutual TLS (twinflow-node --client-ca, REQ-SEC-04).
	CertFile, KeyFile string
	// Username and Password are sent as per-RPC metadata when set.
	Username, Password string
	// Timeout bounds each unary RPC (default 10s) when ctx has no earlier deadline.
	Timeout time.Duration
	// MaxMsgSize bounds received messages (default 16 MiB).
	MaxMsgSize int
	// Dialer, if set, opens the TCP connection (e.g. inside another network namespace).
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
}

// Client talks gNMI to one device. It is safe for concurrent use. The underlying gRPC
// connection reconnects by itself (with gRPC's exponential backoff).
type Client struct {
	opts Options
	log  *slog.Logger
	conn *grpc.ClientConn
	gnmi gpb.GNMIClient
}

type creds struct {
	user, pass string
	secure     bool
}

func (c creds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"username": c.user, "password": c.pass}, nil
}
func (c creds) RequireTransportSecurity() bool { return c.secure }

// CheckTransport reports whether the options' transport security is usable (plaintext
// without TLS settings; for TLS, a readable CA bundle holding a certificate), as Dial
// would find, without an address: check configuration before any device is dialled.
func (o Options) CheckTransport() error {
	_, err := o.transport()
	return err
}

// transport returns the connection's transport credentials.
func (o Options) transport() (credentials.TransportCredentials, error) {
	if o.Insecure {
		if o.CAFile != "" || o.SkipVerify || o.CertFile != "" {
			return nil, fmt.Errorf("%w: insecure conflicts with ca-file/skip-verify/cert-file", ErrOptions)
		}
		return insecure.NewCredentials(), nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName, InsecureSkipVerify: o.SkipVerify} //nolint:gosec // explicit opt-in
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: read CA file: %v", ErrOptions, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: no certificates in %s", ErrOptions, o.CAFile)
		}
		tc.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, fmt.Errorf("%w: cert-file and key-file go together", ErrOptions)
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate: %v", ErrOptions, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(tc), nil
}

// Dial creates a client. It does not block: connection problems show up on the first RPC.
func Dial(o Options) (*Client, error) {
	if o.Address == "" {
		return nil, fmt.Errorf("%w: address is required", ErrOptions)
	}
	tcreds, err := o.transport()
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxMsgSize <= 0 {
		o.MaxMsgSize = 16 << 20
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dopts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(o.MaxMsgSize)),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second,
		}, MinConnectTimeout: 2 * time.Second}),
	}
	if o.Dialer != nil {
		dopts = append(dopts, grpc.WithContextDialer(o.Dialer))
	}
	dopts = append(dopts, grpc.WithTransportCredentials(tcreds))
	if o.Username != "" || o.Password != "" {
		dopts = append(dopts, grpc.WithPerRPCCredentials(creds{user: o.Username, pass: o.Password, secure: !o.Insecure}))
	}
	conn, err := grpc.NewClient(o.Address, dopts...)
	if err != nil {
		return nil, fmt.Errorf("gnmi: dial %s: %w", o.Address, err)
	}
	return &Client{opts: o, log: log.With("device", o.Address), conn: conn, gnmi: gpb.NewGNMIClient(conn)}, nil
}

// Address returns the device address.
func (c *Client) Address() string { return c.opts.Address }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Conn returns the client's gRPC connection, for other services of the same device
// agent (gNOI) over the same transport and credentials.
func (c *Client) Conn() grpc.ClientConnInterface { return c.conn }

// Raw returns the generated gNMI client, for requests the helpers do not cover.
func (c *Client) Raw() gpb.GNMIClient { return c.gnmi }

func (c *Client) unaryCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) < c.opts.Timeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.Timeout)
}

func (c *Client) wrap(op string, err error) error {
	return fmt.Errorf("gnmi: %s %s: %w", op, c.opts.Address, err)
}

// Capabilities asks the device for its models and encodings. Unavailable errors are
// retried with backoff until the per-call timeout.
func (c *Client) Capabilities(ctx context.Context) (*gpb.CapabilityResponse, error) {
	ctx, cancel := c.unaryCtx(ctx)
	defer cancel()
	var resp *gpb.CapabilityResponse
	err := retryUnavailable(ctx, func() error {
		var err error
		resp, err = c.gnmi.Capabilities(ctx, &gpb.CapabilityRequest{}, grpc.WaitForReady(false))
		return err
	})
	if err != nil {
		return nil, c.wrap("capabilities", err)
	}
	return resp, nil
}

// retryUnavailable retries fn while it fails with codes.Unavailable (idempotent RPCs
// only), with exponential backoff and jitter, until ctx is done.
func retryUnavailable(ctx context.Context, fn func() error) error {
	b := Backoff{Base: 50 * time.Millisecond, Max: time.Second}
	for {
		err := fn()
		if status.Code(err) != codes.Unavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(b.Next()):
		}
	}
}

// Backoff computes exponential backoff delays with full jitter.
type Backoff struct {
	Base, Max time.Duration
	attempt   int
}

// Next returns the next delay: uniformly random in [d/2, d] where d doubles from Base up
// to Max.
func (b *Backoff) Next() time.Duration {
	d := b.Base << min(b.attempt, 20)
	if d > b.Max || d <= 0 {
		d = b.Max
	}
	b.attempt++
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Reset starts over from Base.
func (b *Backoff) Reset() { b.attempt = 0 }

// Value is one result of GetJSON: the concrete path and its JSON value.
type Value struct {
	Path string          `json:"path"`
	JSON json.RawMessage `json:"value"`
}

// PathToProto parses a string path into a gNMI Path.
func PathToProto(s string) (*gpb.Path, error) {
	p, err := ocpath.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPath, err)
	}
	out := &gpb.Path{Elem: make([]*gpb.PathElem, len(p))}
	for i, e := range p {
		out.Elem[i] = &gpb.PathElem{Name: e.Name, Key: e.Key}
	}
	return out, nil
}

// PathString formats a gNMI Path (prefix and path joined) in string form.
func PathString(prefix, p *gpb.Path) string {
	var out ocpath.Path
	for _, x := range []*gpb.Path{prefix, p} {
		for _, e := range x.GetElem() {
			out = append(out, ocpath.Elem{Name: e.Name, Key: e.Key})
		}
	}
	return out.String()
}

// GetJSON reads paths (string form) as JSON_IETF with the given data type (nil: ALL).
func (c *Client) GetJSON(ctx context.Context, dataType gpb.GetRequest_DataType, paths ...string) ([]Value, error) {
	req := &gpb.GetRequest{Encoding: gpb.Encoding_JSON_IETF, Type: dataType}
	if c.opts.Target != "" {
		req.Prefix = &gpb.Path{Target: c.opts.Target}
	}
	for _, s := range paths {
		p, err := PathToProto(s)
		if err != nil {
			return nil, err
		}
		req.Path = append(req.Path, p)
	}
	resp, err := c.Get(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []Value
	for _, n := range resp.Notification {
		for _, u := range n.Update {
			var js []byte
			switch v := u.GetVal().GetValue().(type) {
			case *gpb.TypedValue_JsonIetfVal:
				js = v.JsonIetfVal
			case *gpb.TypedValue_JsonVal:
				js = v.JsonVal
			default:
				return nil, c.wrap("get", fmt.Errorf("%w: value of %s is %T, not JSON", ErrResponse, PathString(n.Prefix, u.Path), v))
			}
			out = append(out, Value{Path: PathString(n.Prefix, u.Path), JSON: js})
		}
	}
	return out, nil
}

// Get sends a raw GetRequest (retried while the device is unavailable).
func (c *Client) Get(ctx context.Context, req *gpb.GetRequest) (*gpb.GetResponse, error) {
	ctx, cancel := c.unaryCtx(ctx)
	defer cancel()
	var resp *gpb.GetResponse
	err := retryUnavailable(ctx, func() error {
		var err error
		resp, err = c.gnmi.Get(ctx, req)
		return err
	})
	if err != nil {
		return nil, c.wrap("get", err)
	}
	return resp, nil
}

// OpKind is the kind of a Set operation.
type OpKind string

// Set operation kinds.
const (
	OpUpdate  OpKind = "update"
	OpReplace OpKind = "replace"
	OpDelete  OpKind = "delete"
)

// Op is one Set operation on a string path with a JSON_IETF value (none for delete).
type Op struct {
	Kind  OpKind          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
}

// BuildSetRequest turns ops into a SetRequest (values sent as json_ietf_val).
func BuildSetRequest(target string, ops []Op) (*gpb.SetRequest, error) {
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: no operations", ErrOptions)
	}
	req := &gpb.SetRequest{}
	if target != "" {
		req.Prefix = &gpb.Path{Target: target}
	}
	for i, op := range ops {
		p, err := PathToProto(op.Path)
		if err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
		switch op.Kind {
		case OpDelete:
			if len(op.Value) > 0 {
				return nil, fmt.Errorf("%w: op %d: delete %s takes no value", ErrOptions, i, op.Path)
			}
			req.Delete = append(req.Delete, p)
		case OpUpdate, OpReplace:
			if !json.Valid(op.Value) {
				return nil, fmt.Errorf("%w: op %d: %s %s: value is not valid JSON", ErrOptions, i, op.Kind, op.Path)
			}
			u := &gpb.Update{Path: p, Val: &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: op.Value}}}
			if op.Kind == OpUpdate {
				req.Update = append(req.Update, u)
			} else {
				req.Replace = append(req.Replace, u)
			}
		default:
			return nil, fmt.Errorf("%w: op %d: unknown kind %q (update, replace, delete)", ErrOptions, i, op.Kind)
		}
	}
	return req, nil
}

// Apply builds a SetRequest from ops and sends it (the device applies all or none).
func (c *Client) Apply(ctx context.Context, ops []Op) (*gpb.SetResponse, error) {
	req, err := BuildSetRequest(c.opts.Target, ops)
	if err != nil {
		return nil, err
	}
	return c.Set(ctx, req)
}

// Set sends a raw SetRequest. It is not retried: the caller decides (the device may
// have applied it before a connection broke).
func (c *Client) Set(ctx context.Context, req *gpb.SetRequest) (*gpb.SetResponse, error) {
	ctx, cancel := c.unaryCtx(ctx)
	defer cancel()
	resp, err := c.gnmi.Set(ctx, req)
	if err != nil {
		return nil, c.wrap("set", err)
	}
	return resp, nil
}

// Subscribe opens one subscription stream and calls fn for every response until ctx is
// done, the stream fails, or fn returns an error (returned as is). It does not reconnect;
// see SubscribeLoop.
func (c *Client) Subscribe(ctx context.Context, req *gpb.SubscribeRequest, fn func(*gpb.SubscribeResponse) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.gnmi.Subscribe(ctx)
	if err != nil {
		return c.wrap("subscribe", err)
	}
	if err := st.Send(req); err != nil {
		return c.wrap("subscribe", err)
	}
	for {
		resp, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return c.wrap("subscribe", err)
		}
		if err := fn(resp); err != nil {
			return err
		}
	}
}

// SubscribeLoop keeps a subscription up: after any failure it calls onDown (if set) and
// reconnects with exponential backoff (base..max) plus jitter; the backoff resets once a
// stream has delivered a response. It returns when ctx is done, or when fn returns an
// error wrapping ErrStop.
func (c *Client) SubscribeLoop(ctx context.Context, req *gpb.SubscribeRequest, base, max time.Duration, fn func(*gpb.SubscribeResponse) error, onDown func(error)) error {
	return c.loop(ctx, base, max, onDown, func(got func()) error {
		return c.Subscribe(ctx, req, func(r *gpb.SubscribeResponse) error { got(); return fn(r) })
	})
}

// loop runs once until ctx ends or it fails with ErrStop, backing off between runs;
// once calls got for every response (which resets the backoff).
func (c *Client) loop(ctx context.Context, base, max time.Duration, onDown func(error), once func(got func()) error) error {
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if max < base {
		max = 5 * time.Second
	}
	b := Backoff{Base: base, Max: max}
	for {
		seen := false
		err := once(func() {
			if !seen {
				seen = true
				b.Reset()
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrStop) {
			return err
		}
		if onDown != nil {
			onDown(err)
		}
		c.log.Debug("subscription down", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(b.Next()):
		}
	}
}

// ErrStop, returned (wrapped) by a SubscribeLoop callback, ends the loop.
var ErrStop = errors.New("gnmi: stop subscription")
