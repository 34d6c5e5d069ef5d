package main

import (
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/client"
)

// newAPIClient is a client of the server the shared options name, authenticated and
// verifying the server as the identity and TLS flags say (client_auth.go).
func newAPIClient(o *Options) (*client.Client, error) {
	return client.New(o.clientOptions())
}

// esc percent-encodes one path segment (IDs may contain "/").
func esc(s string) string { return url.PathEscape(s) }

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
