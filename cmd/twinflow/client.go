package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// apiClient talks to a twinflow server over the REST API.
type apiClient struct {
	base string
	http *http.Client
	// authz is the Authorization header value ("" sends none).
	authz string
}

func newAPIClient(o *Options) (*apiClient, error) {
	base := strings.TrimRight(o.Server, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--server must be an http(s) URL such as %s, got %q", DefaultServer, o.Server)
	}
	c := &apiClient{base: base, http: &http.Client{Timeout: 60 * time.Second}}
	tok, err := o.Security.token(u)
	if err != nil {
		return nil, err
	}
	if tok != "" {
		c.authz = "Bearer " + tok
	}
	if u.Scheme == "https" {
		tc, err := o.Security.tlsConfig(u)
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		c.http.Transport = tr
	}
	return c, nil
}

// apiProblem is a problem+json error returned by the server.
type apiProblem struct {
	Status    int    `json:"status"`
	Type      string `json:"type"`
	Title     string `json:"title"`
	Detail    string `json:"detail"`
	Field     string `json:"field"`
	RequestID string `json:"request_id"`
}

func (p *apiProblem) Error() string {
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

// esc percent-encodes one path segment (IDs may contain "/").
func esc(s string) string { return url.PathEscape(s) }

// do sends a request with an optional JSON body and decodes a JSON response into out
// (if not nil). It returns the response headers.
func (c *apiClient) do(ctx context.Context, method, path string, body any, hdr map[string]string, out any) (http.Header, error) {
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
		return nil, fmt.Errorf("cannot reach the twinflow server at %s: %w\n  start one with `twinflow serve --demo`, or point --server / TWINFLOW_SERVER at it", c.base, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if res.StatusCode >= 400 {
		p := &apiProblem{}
		if json.Unmarshal(b, p) != nil || p.Title == "" {
			p = &apiProblem{Status: res.StatusCode, Title: http.StatusText(res.StatusCode), Detail: strings.TrimSpace(string(b))}
		}
		if p.Status == http.StatusUnauthorized {
			p.Detail += "\n  authenticate with --as NAME, --token-file FILE or TWINFLOW_TOKEN (a loopback demo server's tokens are found by themselves)"
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

// listAll fetches every page of a list endpoint.
func listAll[T any](ctx context.Context, c *apiClient, path string) ([]T, error) {
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
		if _, err := c.do(ctx, http.MethodGet, p, nil, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextPageToken == "" {
			return all, nil
		}
		token = page.NextPageToken
	}
}

// usageFlags makes flag errors usage errors (exit 2) for a command and its children.
func usageFlags(cmd *cobra.Command) *cobra.Command {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	return cmd
}

// twinFlag adds --twin.
func twinFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "twin", "live", "twin to work on (live or a fork ID)")
}

// kinds maps the nouns the CLI accepts to API collections.
var kinds = map[string]string{
	"device": "devices", "devices": "devices", "dev": "devices",
	"link": "links", "links": "links",
	"topology": "topologies", "topologies": "topologies", "topo": "topologies",
	"context": "contexts", "contexts": "contexts", "ctx": "contexts",
	"flow": "flows", "flows": "flows",
	"twin": "twins", "twins": "twins",
	"observed-devices": "observed/devices", "observed-device": "observed/devices",
	"observed-links": "observed/links", "observed-link": "observed/links",
	"observed-interfaces": "observed/interfaces", "observed-interface": "observed/interfaces",
}

func kindOf(arg string, allowTwins bool) (string, error) {
	k, ok := kinds[strings.ToLower(arg)]
	if !ok || (!allowTwins && (k == "twins" || strings.HasPrefix(k, "observed/"))) {
		list := "devices, links, topologies, contexts, flows"
		if allowTwins {
			list += ", twins, observed-devices, observed-links, observed-interfaces"
		}
		return "", usageErrorf("unknown kind %q (one of %s)", arg, list)
	}
	return k, nil
}
