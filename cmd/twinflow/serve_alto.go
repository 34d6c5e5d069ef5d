package main

import (
	"context"
	"net/http"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twinflow/twinflow/apps/alto"
)

// The ALTO server (apps/alto) beside the REST API: its handler is mounted under /alto/
// through serveEnv.Mounts. Kept in its own file so the server assembly can move.

var altoServe = struct {
	Enabled bool
	PIDBy   string
}{Enabled: true, PIDBy: "device"}

func init() {
	registerServeExtension(serveExtension{
		Name: "alto",
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&altoServe.Enabled, "alto", altoServe.Enabled, "serve the ALTO protocol (RFC 7285 and extensions) over the live twin under /alto/")
			fs.StringVar(&altoServe.PIDBy, "alto-pids", altoServe.PIDBy, "ALTO PIDs: device (one per device) or domain (one per administrative domain); a device's alto.pid label wins")
		},
		Check: func(*serveEnv) error {
			if p := altoServe.PIDBy; p != "device" && p != "domain" {
				return usageErrorf("--alto-pids must be device or domain, got %q", p)
			}
			return nil
		},
		Start: func(ctx context.Context, env *serveEnv) error {
			if !altoServe.Enabled {
				return nil
			}
			s, err := alto.New(alto.Options{Twins: env.Twins, Logger: env.Logger.With("component", "alto"), PIDBy: altoServe.PIDBy})
			if err != nil {
				return err
			}
			env.Mount(s.Prefix()+"/", s.Handler())
			// update streams end when shutdown starts, so they do not hold it up
			env.Go(ctx, func(ctx context.Context) { <-ctx.Done(); s.Close() })
			env.Notes = append(env.Notes, "ALTO: /alto/directory (PIDs by "+altoServe.PIDBy+")")
			return nil
		},
	})
}

// Mount serves h for every path under prefix (ending in "/") beside the API.
func (e *serveEnv) Mount(prefix string, h http.Handler) {
	e.Mounts = append(e.Mounts, mount{prefix: prefix, h: h})
}

type mount struct {
	prefix string
	h      http.Handler
}

// withMounts routes requests under a mount's prefix to it and the rest to api.
func withMounts(api http.Handler, mounts []mount) http.Handler {
	if len(mounts) == 0 {
		return api
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range mounts {
			if strings.HasPrefix(r.URL.Path, m.prefix) {
				m.h.ServeHTTP(w, r)
				return
			}
		}
		api.ServeHTTP(w, r)
	})
}
