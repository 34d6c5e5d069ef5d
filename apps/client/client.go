// Package client is a Go client of the TwinFlow REST API, for any program that talks
// to a TwinFlow server: the twinflow CLI, CI certification jobs, a peer controller,
// scripts. It finds the token to send (an explicit token file, a user's file in a token
// directory, or a loopback demo server's own tokens), verifies an https server (a CA
// bundle, the system roots, or a certificate pinned on first use) and decodes the
// server's problem+json errors into a *Problem.
//
//	c, err := client.New(client.Options{Server: "https://127.0.0.1:8443", As: "alice"})
//	var twins struct{ Items []twin.Info }
//	err = c.Get(ctx, "/api/v1/twins", &twins)
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/twinflow/twinflow/apps/auth"
)

// DefaultTimeout bounds one request (connect, send, read the whole response) when
// Options.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// MaxResponse is the largest response body read; a longer one is cut here.
const MaxResponse = 256 << 20

// Options configure a Client. Only Server is required. Errors about an option name it
// as the twinflow CLI's flag does (--server, --as, --ca, ...).
type Options struct {
	// Server is the server's base URL, http or https (the CLI's --server).
	Server string
	// TokenFile holds the token to send (--token-file); it wins over every other
	// source.
	TokenFile string
	// As selects a user whose token file is in the token directory (--as).
	As string
	// Token is sent when neither TokenFile nor As is given (the CLI passes
	// TWINFLOW_TOKEN here).
	Token string
	// TokenDir is the directory of per-user token files (--token-dir). Empty means
	// the demo's per-server directory for a loopback server, and none otherwise.
	// Without TokenFile, As or Token, its user "alice" (or its only file) is sent.
	TokenDir string
	// CAFile is a PEM bundle verifying an https server's certificate (--ca). Empty
	// means the system roots, and a certificate none of them vouches for is trusted on
	// first use and pinned in KnownServers.
	CAFile string
	// KnownServers is the file of pinned certificate fingerprints, one
	// "host:port sha256hex" a line. Empty means known_servers in auth.StateDir().
	KnownServers string
	// Notices receives the trust-on-first-use notice naming a newly pinned
	// fingerprint (nil: none is written).
	Notices io.Writer
	// Timeout bounds one request; zero means DefaultTimeout.
	Timeout time.Duration
	// UnauthorizedHint is appended to the detail of a 401 Problem, telling the user
	// how to authenticate (e.g. the CLI's flags).
	UnauthorizedHint string
	// UnreachableHint is appended to the error when the server cannot be reached.
	UnreachableHint string
}

// OptionError is a malformed or unusable Options value (the CLI exits 2 on it).
type OptionError struct{ Msg string }

func (e *OptionError) Error() string { return e.Msg }

func optionErrorf(format string, a ...any) error {
	return &OptionError{Msg: fmt.Sprintf(format, a...)}
}

// Client talks to one TwinFlow server. It is safe for concurrent use.
type Client struct {
	base  string
	http  *http.Client
	authz string // the Authorization header value ("" sends none)
	o     Options
}

// New checks o, finds the token to send and prepares TLS verification; it does not
// contact the server.
func New(o Options) (*Client, error) {
	base := strings.TrimRight(o.Server, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, optionErrorf("--server must be an http(s) URL such as http://127.0.0.1:8080, got %q", o.Server)
	}
	if o.KnownServers == "" {
		o.KnownServers = filepath.Join(auth.StateDir(), "known_servers")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	c := &Client{base: base, http: &http.Client{Timeout: o.Timeout}, o: o}
	tok, err := o.token(u)
	if err != nil {
		return nil, err
	}
	if tok != "" {
		c.authz = "Bearer " + tok
	}
	if u.Scheme == "https" {
		tc, err := o.tlsConfig(u)
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		c.http.Transport = tr
	}
	return c, nil
}

// Base is the server's base URL, without a trailing slash.
func (c *Client) Base() string { return c.base }

// HTTPClient is the client's HTTP client: its transport verifies the server as the
// Options say (for callers sending requests of their own, e.g. a load generator).
func (c *Client) HTTPClient() *http.Client { return c.http }

// Problem is a problem+json error (RFC 9457) returned by the server, or one made from
// a non-JSON error response.
type Problem struct {
	Status    int    `json:"status"`
	Type      string `json:"type"`
	Title     string `json:"title"`
	Detail    string `json:"detail"`
	Field     string `json:"field"`
	RequestID string `json:"request_id"`
}

func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (HTTP %d)", p.Title, p.Status)
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	if p.Field != "" {
		b.WriteString("\n  field: " + p.Field)
	}
	if p.RequestID != "" && p.Status >= 500 {
		b.WriteString("\n  request id: " + p.RequestID)
	}
	return b.String()
}

// Do sends a request to path (below the base URL, with any query) with body encoded
// as JSON if not nil and the headers hdr, and decodes a JSON response into out if not
// nil. It returns the response headers. A response of status 400 and above is returned
// as a *Problem.
func (c *Client) Do(ctx context.Context, method, path string, body any, hdr map[string]string, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.authz != "" {
		req.Header.Set("Authorization", c.authz)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		msg := fmt.Sprintf("cannot reach the twinflow server at %s", c.base)
		if c.o.UnreachableHint != "" {
			return nil, fmt.Errorf("%s: %w\n  %s", msg, err, c.o.UnreachableHint)
		}
		return nil, fmt.Errorf("%s: %w", msg, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, MaxResponse))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if res.StatusCode >= 400 {
		p := &Problem{}
		if json.Unmarshal(b, p) != nil || p.Title == "" {
			p = &Problem{Status: res.StatusCode, Title: http.StatusText(res.StatusCode), Detail: strings.TrimSpace(string(b))}
		}
		if p.Status == 0 {
			p.Status = res.StatusCode
		}
		if res.StatusCode == http.StatusUnauthorized && c.o.UnauthorizedHint != "" {
			p.Detail += "\n  " + c.o.UnauthorizedHint
		}
		return nil, p
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("decode response of %s %s: %w", method, path, err)
		}
	}
	return res.Header, nil
}

// Get fetches path and decodes the JSON response into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	_, err := c.Do(ctx, http.MethodGet, path, nil, nil, out)
	return err
}

// Post sends body as JSON to path and decodes the JSON response into out.
func (c *Client) Post(ctx context.Context, path string, body, out any) error {
	_, err := c.Do(ctx, http.MethodPost, path, body, nil, out)
	return err
}

// ListAll fetches every page of a list endpoint (path without a query): the items of
// each page, following next_page_token.
func ListAll[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var all []T
	token := ""
	for {
		p := path + "?limit=1000"
		if token != "" {
			p += "&page_token=" + url.QueryEscape(token)
		}
		var page struct {
			Items         []T    `json:"items"`
			NextPageToken string `json:"next_page_token"`
		}
		if err := c.Get(ctx, p, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextPageToken == "" {
			return all, nil
		}
		token = page.NextPageToken
	}
}
