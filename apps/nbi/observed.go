package nbi

import (
	"net/http"

	"github.com/twinflow/twinflow/twin"
)

// observedRoutes serve the observed state telemetry records in a twin (read-only).
func observedRoutes(s *Server) []Route {
	tags := []string{"observed"}
	var (
		devs  List[twin.ObservedDevice]
		links List[twin.ObservedLink]
		ifs   List[twin.ObservedInterface]
	)
	return []Route{
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/observed/devices", Summary: "Observed reachability of devices",
			Tags: tags, Params: listParams, Response: devs, Errors: []int{400, 404},
			Handler: observedList(s, func(r *twin.Reader, o twin.ListOptions) ([]twin.ObservedDevice, string, error) {
				return r.ObservedDevices(o)
			})},
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/observed/devices/{id}", Summary: "Observed reachability of a device",
			Tags: tags, Response: twin.ObservedDevice{}, Errors: []int{404},
			Handler: observedOne(s, func(r *twin.Reader, id string) (twin.ObservedDevice, error) { return r.ObservedDevice(id) })},
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/observed/links", Summary: "Observed status and rates of links",
			Tags: tags, Params: listParams, Response: links, Errors: []int{400, 404},
			Handler: observedList(s, func(r *twin.Reader, o twin.ListOptions) ([]twin.ObservedLink, string, error) {
				return r.ObservedLinks(o)
			})},
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/observed/links/{id}", Summary: "Observed status and rates of a link",
			Tags: tags, Response: twin.ObservedLink{}, Errors: []int{404},
			Handler: observedOne(s, func(r *twin.Reader, id string) (twin.ObservedLink, error) { return r.ObservedLink(id) })},
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/observed/interfaces",
			Summary: "Observed status, counters and rates of interfaces (IDs \"device/interface\")",
			Tags:    tags, Params: listParams, Response: ifs, Errors: []int{400, 404},
			Handler: observedList(s, func(r *twin.Reader, o twin.ListOptions) ([]twin.ObservedInterface, string, error) {
				return r.ObservedInterfacesPage(o)
			})},
	}
}

func observedList[T any](s *Server, list func(*twin.Reader, twin.ListOptions) ([]T, string, error)) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.twinOf(r)
		if err != nil {
			return err
		}
		p, err := ParsePage(r)
		if err != nil {
			return err
		}
		out := List[T]{Items: []T{}}
		err = t.View(func(rd *twin.Reader) error {
			items, next, err := list(rd, twin.ListOptions{After: p.After, Limit: p.Limit})
			if items != nil {
				out.Items = items
			}
			out.NextPageToken = PageToken(next)
			setRevisionHeader(w, rd.Revision())
			return err
		})
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	}
}

func observedOne[T any](s *Server, get func(*twin.Reader, string) (T, error)) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.twinOf(r)
		if err != nil {
			return err
		}
		id, err := PathParam(r, "id")
		if err != nil {
			return err
		}
		var v T
		err = t.View(func(rd *twin.Reader) error {
			v, err = get(rd, id)
			return err
		})
		if err != nil {
			return toError(err, "", "")
		}
		return writeJSON(w, http.StatusOK, v)
	}
}
