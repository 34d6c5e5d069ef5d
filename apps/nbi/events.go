package nbi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twinflow/twinflow/twin"
)

func eventRoutes(s *Server) []Route {
	return []Route{{
		Method: http.MethodGet, Pattern: "/api/v1/events",
		Summary: "Server-sent event stream of every change (create, update, remove; lagged when events were dropped)",
		Tags:    []string{"events"},
		Params: []Param{
			{Name: "twin", In: "query", Description: "only events of this twin"},
			{Name: "table", In: "query", Description: "only events of these tables, comma-separated (e.g. devices,links)"},
			{Name: "Last-Event-ID", In: "header", Description: "resume after this event sequence number"},
			{Name: "last_event_id", In: "query", Type: "integer", Description: "as Last-Event-ID, for clients that cannot set headers"},
		},
		ContentType: "text/event-stream", Errors: []int{400, 404}, Handler: s.events,
	}}
}

// events streams twin events as SSE. Each event has "id: <seq>", "event: <op>" and the
// JSON twin.Event as data; a lagged marker ("event: lagged") has no id.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	filter := r.URL.Query().Get("twin")
	if filter != "" {
		if _, err := s.Twins.Get(filter); err != nil {
			return Errorf(http.StatusNotFound, "twin-not-found", "Twin not found", "twin", "no twin %q", filter)
		}
	}
	var tables map[twin.Table]bool
	if q := r.URL.Query().Get("table"); q != "" {
		tables = map[twin.Table]bool{}
		for _, t := range strings.Split(q, ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				return BadRequest("table", "table must be a comma-separated list of table names, got %q", q)
			}
			tables[twin.Table(t)] = true
		}
	}
	keep := func(ev twin.Event) bool { return tables == nil || ev.Op == twin.OpLagged || tables[ev.Table] }
	var after uint64
	lastID := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	field := "Last-Event-ID"
	if lastID == "" {
		lastID, field = r.URL.Query().Get("last_event_id"), "last_event_id"
	}
	if lastID != "" {
		n, err := strconv.ParseUint(lastID, 10, 64)
		if err != nil {
			return BadRequest(field, "%s must be an event sequence number, got %q", field, lastID)
		}
		after = n
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("nbi: response writer cannot flush")
	}
	sub := s.Twins.Events().Subscribe(filter, after)
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": twinflow events\n\n")
	flusher.Flush()
	tick := time.NewTicker(s.heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.done:
			return nil
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			flusher.Flush()
		case ev, ok := <-sub.C:
			if !ok {
				return nil
			}
			if keep(ev) {
				if err := writeEvent(w, ev); err != nil {
					s.log.Debug("event stream ended", "request_id", RequestID(r.Context()), "err", err)
					return nil
				}
			}
			// Drain what is queued before flushing.
			for n := len(sub.C); n > 0; n-- {
				if ev := <-sub.C; keep(ev) {
					if err := writeEvent(w, ev); err != nil {
						return nil
					}
				}
			}
			flusher.Flush()
		}
	}
}

func writeEvent(w http.ResponseWriter, ev twin.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if ev.Op == twin.OpLagged {
		_, err = fmt.Fprintf(w, "event: lagged\ndata: %s\n\n", b)
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Op, b)
	return err
}
