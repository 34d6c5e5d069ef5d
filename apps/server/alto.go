package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/twinflow/twinflow/apps/alto"
	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/broker"
	"github.com/twinflow/twinflow/apps/nbi"
)

// ALTOConfig serves the ALTO protocol (RFC 7285 and extensions, apps/alto) over the
// live twin under /alto/, beside the API and behind the same authentication (a viewer
// may query it).
type ALTOConfig struct {
	// PIDBy groups devices into PIDs: "device" (default) or "domain"; a device's
	// alto.pid label wins.
	PIDBy string
	// Broker, if set, is the configuration file of the multi-domain ALTO broker
	// (apps/broker): /alto/ then serves the broker, over the domains the file names,
	// instead of the live twin's ALTO.
	Broker string
}

func (c *ALTOConfig) check() error {
	if p := c.PIDBy; p != "" && p != "device" && p != "domain" {
		return fmt.Errorf("%w: ALTO.PIDBy must be device or domain, got %q", ErrConfig, p)
	}
	return nil
}

// altoMaxBody bounds ALTO request bodies (filters, path-vector and update-stream
// requests are small).
const altoMaxBody = 1 << 20

// startALTO builds the ALTO server, guarded as the API's read routes are, and returns
// the handler serving the API and it side by side.
func startALTO(ctx context.Context, env *assembly, api *nbi.Server, c ALTOConfig) (http.Handler, error) {
	if c.Broker != "" {
		return startBroker(ctx, env, api, c.Broker)
	}
	pidBy := c.PIDBy
	if pidBy == "" {
		pidBy = "device"
	}
	s, err := alto.New(alto.Options{Twins: env.twins, Logger: env.log.With("component", "alto"), PIDBy: pidBy,
		MaxBodyBytes: altoMaxBody, Middleware: altoGuard(api), Prefix: "/alto"})
	if err != nil {
		return nil, err
	}
	// update streams end when shutdown starts, so they do not hold it up
	env.goRun(ctx, func(ctx context.Context) { <-ctx.Done(); s.Close() })
	env.notes = append(env.notes, "ALTO: /alto/directory (PIDs by "+pidBy+")")
	prefix, h := s.Prefix()+"/", s.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, prefix) {
			h.ServeHTTP(w, r)
			return
		}
		api.Handler().ServeHTTP(w, r)
	}), nil
}

// startBroker serves the multi-domain ALTO broker under /alto/, behind the API's
// authentication, and reads its domains in the background.
func startBroker(ctx context.Context, env *assembly, api *nbi.Server, file string) (http.Handler, error) {
	domains, refresh, err := broker.LoadConfig(file)
	if err != nil {
		return nil, err
	}
	b, err := broker.New(broker.Options{Domains: domains, Refresh: refresh, Logger: env.log.With("component", "broker"),
		MaxBodyBytes: altoMaxBody, Middleware: api.Guard("/alto", auth.Read, altoMaxBody), Prefix: "/alto"})
	if err != nil {
		return nil, err
	}
	b.Refresh(ctx) // the first answers already know the domains that answer now
	env.goRun(ctx, b.Run)
	env.notes = append(env.notes, fmt.Sprintf("ALTO broker: /alto/directory (%d domains from %s)", len(domains), file))
	prefix, h := b.Prefix()+"/", b.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, prefix) {
			h.ServeHTTP(w, r)
			return
		}
		api.Handler().ServeHTTP(w, r)
	}), nil
}

// altoGuard guards the twin's ALTO server as the API's read routes are, except the
// inter-domain abstraction, which the peer role may read too (apps/interdomain).
func altoGuard(api *nbi.Server) func(http.Handler) http.Handler {
	read, abs := api.Guard("/alto", auth.Read, altoMaxBody), api.Guard("/alto", auth.Abstraction, altoMaxBody)
	return func(next http.Handler) http.Handler {
		r, a := read(next), abs(next)
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/alto/interdomain" {
				a.ServeHTTP(w, req)
				return
			}
			r.ServeHTTP(w, req)
		})
	}
}
