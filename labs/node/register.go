package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/ztp"
)

// RegisterPath is the controller's zero-touch provisioning registration route.
const RegisterPath = "/api/v1/ztp/register"

// Registrar registers a node with a TwinFlow controller for zero-touch provisioning.
type Registrar struct {
	// URL is the controller's base URL (http:// or https://); RegisterPath is appended
	// when it has no path.
	URL string
	// Token is the bearer token of a user with the device role.
	Token string
	// CAFile verifies an HTTPS controller (default: the system roots).
	CAFile string
	// Logger receives progress; nil discards.
	Logger *slog.Logger
	// MaxWait caps the pause between attempts (default 10s).
	MaxWait time.Duration
}

// ReadToken reads a token file (at most 4 KiB, surrounding whitespace trimmed).
func ReadToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", err
	}
	if len(b) > 4096 {
		return "", fmt.Errorf("token file %s is larger than 4 KiB", path)
	}
	t := strings.TrimSpace(string(b))
	if t == "" || strings.ContainsAny(t, " \t\r\n") {
		return "", fmt.Errorf("token file %s must hold one token", path)
	}
	return t, nil
}

// endpoint checks the URL and returns the registration endpoint.
func (r *Registrar) endpoint() (string, error) {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--register %q: want an http:// or https:// URL of the controller", r.URL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = RegisterPath
	}
	return u.String(), nil
}

// errPermanent marks a refusal that retrying will not change (4xx).
var errPermanent = errors.New("registration refused")

// Register posts reg until the controller accepts it (2xx), refuses it (4xx: returned
// at once), or ctx is done; network errors and 5xx answers are retried with backoff.
func (r *Registrar) Register(ctx context.Context, reg ztp.Registration) error {
	if err := reg.Check(); err != nil {
		return err
	}
	ep, err := r.endpoint()
	if err != nil {
		return err
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return fmt.Errorf("--register-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--register-ca: no PEM certificates in %s", r.CAFile)
		}
		tc.RootCAs = pool
	}
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil}}
	body, _ := json.Marshal(reg)
	wait, maxWait := 200*time.Millisecond, r.MaxWait
	if maxWait <= 0 {
		maxWait = 10 * time.Second
	}
	for attempt := 1; ; attempt++ {
		err := r.post(ctx, hc, ep, body)
		if err == nil {
			log.Info("registered for zero-touch provisioning", "controller", ep)
			return nil
		}
		if errors.Is(err, errPermanent) {
			return err
		}
		log.Warn("registration failed; retrying", "attempt", attempt, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

func (r *Registrar) post(ctx context.Context, hc *http.Client, ep string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode/100 == 5:
		return fmt.Errorf("controller answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	default:
		return fmt.Errorf("%w: controller answered %s: %s", errPermanent, resp.Status, bytes.TrimSpace(msg))
	}
}
