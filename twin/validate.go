package twin

import (
	"errors"
	"strings"

	"github.com/twinflow/twinflow/models/network"
)

// fromValidation turns a *network.ValidationError about one object into an
// *ObjectError of the given kind whose Field is relative to the object (the
// "devices[<id>]." prefix removed). Only the first field error is kept in Field/Msg;
// Cause holds them all.
func fromValidation(t Table, id string, kind, err error) error {
	if err == nil {
		return nil
	}
	oe := &ObjectError{Table: t, ID: id, Kind: kind, Cause: err, Msg: err.Error()}
	var fe *network.FieldError
	if errors.As(err, &fe) {
		oe.Field, oe.Msg = relField(fe.Field), fe.Msg
	}
	return oe
}

// relField strips the "coll[id]" locator of the object itself: "links[l1].endpoints[0]"
// becomes "endpoints[0]".
func relField(f string) string {
	if i := strings.Index(f, "]."); i >= 0 && !strings.Contains(f[:i], ".") {
		return f[i+2:]
	}
	if strings.HasSuffix(f, "]") && !strings.Contains(f, ".") {
		return ""
	}
	return f
}

func validateDevice(d *network.Device) error {
	return fromValidation(TableDevices, d.ID, ErrInvalid, network.ValidateDevice(*d))
}

func validateLink(l *network.Link) error {
	return fromValidation(TableLinks, l.ID, ErrInvalid, network.ValidateLink(*l, nil))
}

func validateContext(c *network.Context) error {
	return fromValidation(TableContexts, c.ID, ErrInvalid, network.ValidateContext(*c))
}

func validateTopology(t *network.Topology) error {
	return fromValidation(TableTopologies, t.ID, ErrInvalid, network.ValidateTopology(*t, nil))
}

func validateFlow(f *network.Flow) error {
	return fromValidation(TableFlows, f.ID, ErrInvalid, network.ValidateFlow(*f, nil, nil))
}
