package commit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twinflow/twinflow/models/change"
)

// Device images reported by Resolve (models/change).
const (
	ImagePreImage    = change.ImagePreImage
	ImageIntent      = change.ImageIntent
	ImageOther       = change.ImageOther
	ImageUnreachable = change.ImageUnreachable
)

// DeviceImage is what one device of a commit holds, read by Resolve.
type DeviceImage = change.DeviceImage

// ErrInWindow is returned by Resolve for a commit whose confirm window is open in this
// process: it is not stuck (confirm, rollback, or let the window expire).
var ErrInWindow = errors.New("commit: in its confirm window")

// Resolve settles one commit now, from its journal record and what its devices hold,
// without a restart — the one operator command for a commit that did not end on its
// own (REQ-REL-02):
//
//   - confirmed (the devices were verified at the intent, the change's final
//     transition was not stored): nothing is sent, the record is returned (roll
//     forward);
//   - not final (applying, rolling back, a window whose process died) or with devices
//     still pending restoration (a device lost during a rollback or the confirm
//     window): every device that may have changed is restored from its pre-image,
//     devices already at their pre-image are left alone (roll back), as Recover does
//     after a restart;
//   - otherwise (a final record) nothing is sent.
//
// It then reads every device of the commit and reports, per device, whether it holds
// the pre-image or the intent on the touched paths (or neither, or cannot be read now,
// with the reason). A device still unreachable stays pending: Resolve can be run again
// once it is back, and the record says which device is at which image meanwhile.
func (e *Engine) Resolve(ctx context.Context, changeID string) (*Record, map[string]DeviceImage, error) {
	if err := e.acquire(changeID); err != nil {
		return nil, nil, err
	}
	defer e.release(changeID)
	e.mu.Lock()
	w := e.windows[changeID]
	e.mu.Unlock()
	if w != nil && !w.done {
		return nil, nil, fmt.Errorf("%w: %s until %s: confirm or roll it back", ErrInWindow, changeID, w.rec.ConfirmDeadline.UTC().Format(time.RFC3339))
	}
	rec, err := e.Journal.Load(ctx, changeID)
	if err != nil {
		return nil, nil, err
	}
	if !rec.Phase.Final() || rec.Pending {
		reason := "resolved by the operator during " + string(rec.Phase)
		if rec.Pending {
			reason = "resolved by the operator: " + rec.Reason
		}
		for _, dr := range rec.Devices {
			switch dr.Status {
			case DevicePending, DeviceApplied, DeviceRestoreFailed:
				// the journal is written at phase boundaries: check and restore it
				dr.Status = DeviceUnknown
			}
		}
		rec.Reason = ""
		rec, _ = e.rollback(ctx, rec, reason)
	}
	return rec, e.images(ctx, rec), nil
}

// images reads every device of rec and says which image its touched paths hold.
func (e *Engine) images(ctx context.Context, rec *Record) map[string]DeviceImage {
	out := map[string]DeviceImage{}
	for _, id := range rec.DeviceIDs() {
		dr := rec.Devices[id]
		img := DeviceImage{Status: dr.Status}
		func() {
			dctx, cancel := context.WithTimeout(ctx, e.devTimeout())
			defer cancel()
			d, err := e.Devices.Device(dctx, id)
			if err != nil {
				img.Image, img.Detail = ImageUnreachable, err.Error()
				return
			}
			// one read of every path either image needs, then compared offline: a
			// device that cannot be read is unreachable, one that reads is at an image
			paths := make([]string, len(dr.PreImage))
			for i, pv := range dr.PreImage {
				paths[i] = pv.Path
			}
			all := append(append([]string(nil), paths...), touchedPaths(dr.Ops)...)
			slices.Sort(all)
			got, err := d.Get(dctx, slices.Compact(all))
			if err != nil {
				img.Image, img.Detail = ImageUnreachable, err.Error()
				return
			}
			read := readDevice(got)
			pre, err := expected(dr, false)
			if err != nil {
				img.Image, img.Detail = ImageOther, err.Error()
				return
			}
			perr := verify(dctx, read, paths, pre)
			switch {
			case perr == nil:
				img.Image = ImagePreImage
			case verifyIntent(dctx, read, dr) == nil:
				img.Image = ImageIntent
			default:
				img.Image, img.Detail = ImageOther, perr.Error()
			}
		}()
		out[id] = img
	}
	return out
}

// readDevice answers Get from what was read once.
type readDevice map[string]json.RawMessage

func (r readDevice) Get(_ context.Context, paths []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for _, p := range paths {
		if v, ok := r[p]; ok {
			out[p] = v
		}
	}
	return out, nil
}

func (readDevice) Set(context.Context, []change.Op) error {
	return errors.New("commit: a device read for Resolve takes no Set")
}
