package nbi

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/ztp"
	mztp "github.com/twinflow/twinflow/models/ztp"
	"github.com/twinflow/twinflow/repository"
)

// ZTPDeviceList is the response of GET /ztp/devices.
type ZTPDeviceList struct {
	Items []repository.ZTPDevice `json:"items"`
}

// ZTPRoleList is the response of GET /ztp/roles.
type ZTPRoleList struct {
	Items []ztp.RoleView `json:"items"`
}

// ZTPRoutes serve zero-touch provisioning (issue 17 item 4, docs/ztp.md): device
// registration (the dedicated device role), the inventory's provisioning records, and
// the versioned roles with their day-0 templates. Served through Options.Routes.
func ZTPRoutes(z *ztp.Service) RouteGroup {
	return func(s *Server) []Route {
		tags := []string{"ztp"}
		h := ztpHandlers{s: s, z: z}
		register := Access{Perm: auth.Register, MaxBody: mztp.MaxRegistrationBytes}
		admin := Access{Perm: auth.Administer, MaxBody: mztp.MaxRoleBytes}
		operate := Access{Perm: auth.Operate, MaxBody: 64 << 10}
		read := Access{Perm: auth.Read}
		return []Route{
			{Method: http.MethodPost, Pattern: "/api/v1/ztp/register", Summary: "A device registers itself for zero-touch provisioning (device role)",
				Tags: tags, Request: mztp.Registration{}, Response: repository.ZTPDevice{}, Status: http.StatusAccepted,
				Errors: []int{400, 409, 413, 503}, Handler: h.register, Access: &register},
			{Method: http.MethodPost, Pattern: "/api/v1/ztp/devices", Summary: "Add a device to the inventory and provision it (optionally naming its role)",
				Tags: tags, Request: mztp.Registration{}, Response: repository.ZTPDevice{}, Status: http.StatusAccepted,
				Errors: []int{400, 413, 503}, Handler: h.add, Access: &Access{Perm: auth.Administer, MaxBody: mztp.MaxRegistrationBytes}},
			{Method: http.MethodGet, Pattern: "/api/v1/ztp/devices", Summary: "Provisioning records of devices",
				Tags: tags, Response: ZTPDeviceList{}, Errors: []int{503}, Handler: h.devices, Access: &read},
			{Method: http.MethodGet, Pattern: "/api/v1/ztp/devices/{id}", Summary: "One device's provisioning record",
				Tags: tags, Response: repository.ZTPDevice{}, Errors: []int{400, 404, 503}, Handler: h.device, Access: &read},
			{Method: http.MethodPost, Pattern: "/api/v1/ztp/devices/{id}/provision", Summary: "Provision a known device again (e.g. after its role changed)",
				Tags: tags, Response: repository.ZTPDevice{}, Status: http.StatusAccepted, Errors: []int{400, 404, 503}, Handler: h.provision, Access: &operate},
			{Method: http.MethodPost, Pattern: "/api/v1/ztp/roles", Summary: "Store a role (YAML or JSON) as its next version",
				Tags: tags, Request: mztp.Role{}, Response: ztp.RoleView{}, Status: http.StatusCreated, Errors: []int{400, 413, 503}, Handler: h.putRole, Access: &admin},
			{Method: http.MethodGet, Pattern: "/api/v1/ztp/roles", Summary: "The latest version of every role",
				Tags: tags, Response: ZTPRoleList{}, Errors: []int{503}, Handler: h.roles, Access: &read},
			{Method: http.MethodGet, Pattern: "/api/v1/ztp/roles/{name}", Summary: "A role (the latest version, or ?version=N)",
				Tags: tags, Params: []Param{{Name: "version", In: "query", Type: "integer", Description: "role version (default: the latest)"}},
				Response: ztp.RoleView{}, Errors: []int{400, 404, 503}, Handler: h.role, Access: &read},
		}
	}
}

type ztpHandlers struct {
	s *Server
	z *ztp.Service
}

// ztpError maps service errors to problems.
func ztpError(err error) error {
	switch {
	case errors.Is(err, mztp.ErrInvalid), errors.Is(err, repository.ErrInvalid):
		return BadRequest("", "%v", err)
	case errors.Is(err, ztp.ErrNotFound):
		return Errorf(http.StatusNotFound, "not-found", "Not found", "", "%v", err)
	case errors.Is(err, ztp.ErrConflict), errors.Is(err, repository.ErrConflict):
		return Errorf(http.StatusConflict, "conflict", "Conflict", "", "%v", err)
	case errors.Is(err, ztp.ErrUnavailable):
		return Errorf(http.StatusServiceUnavailable, "unavailable", "Service unavailable", "",
			"zero-touch provisioning needs the change pipeline and a data repository")
	}
	return err
}

func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(max)
		}
		return nil, BadRequest("", "read body: %v", err)
	}
	return b, nil
}

func (h ztpHandlers) registration(w http.ResponseWriter, r *http.Request, inventory bool) error {
	b, err := readBody(w, r, mztp.MaxRegistrationBytes)
	if err != nil {
		return err
	}
	reg, err := mztp.ParseRegistration(b)
	if err != nil {
		return ztpError(err)
	}
	d, err := h.z.Register(r.Context(), reg, inventory)
	if err != nil {
		return ztpError(err)
	}
	return writeJSON(w, http.StatusAccepted, d)
}

func (h ztpHandlers) register(w http.ResponseWriter, r *http.Request) error {
	return h.registration(w, r, false)
}

func (h ztpHandlers) add(w http.ResponseWriter, r *http.Request) error {
	return h.registration(w, r, true)
}

func (h ztpHandlers) devices(w http.ResponseWriter, r *http.Request) error {
	ds, err := h.z.Devices(r.Context())
	if err != nil {
		return ztpError(err)
	}
	return writeJSON(w, http.StatusOK, ZTPDeviceList{Items: ds})
}

func (h ztpHandlers) device(w http.ResponseWriter, r *http.Request) error {
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	d, err := h.z.Device(r.Context(), id)
	if err != nil {
		return ztpError(err)
	}
	return writeJSON(w, http.StatusOK, d)
}

func (h ztpHandlers) provision(w http.ResponseWriter, r *http.Request) error {
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	if err := decodeOptionalEmpty(w, r, 64<<10); err != nil {
		return err
	}
	d, err := h.z.Provision(r.Context(), id)
	if err != nil {
		return ztpError(err)
	}
	return writeJSON(w, http.StatusAccepted, d)
}

func (h ztpHandlers) putRole(w http.ResponseWriter, r *http.Request) error {
	b, err := readBody(w, r, mztp.MaxRoleBytes)
	if err != nil {
		return err
	}
	author := ""
	if p := Principal(r); p != nil {
		author = p.Name
	}
	v, err := h.z.PutRole(r.Context(), b, author)
	if err != nil {
		return ztpError(err)
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (h ztpHandlers) roles(w http.ResponseWriter, r *http.Request) error {
	rs, err := h.z.Roles(r.Context())
	if err != nil {
		return ztpError(err)
	}
	return writeJSON(w, http.StatusOK, ZTPRoleList{Items: rs})
}

func (h ztpHandlers) role(w http.ResponseWriter, r *http.Request) error {
	name, err := PathParam(r, "name")
	if err != nil {
		return err
	}
	var version int64
	if v := r.URL.Query().Get("version"); v != "" {
		if version, err = strconv.ParseInt(v, 10, 64); err != nil || version < 1 {
			return BadRequest("version", "version must be a positive integer")
		}
	}
	rv, err := h.z.Role(r.Context(), name, version)
	if err != nil {
		return ztpError(err)
	}
	return writeJSON(w, http.StatusOK, rv)
}
