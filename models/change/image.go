package change

// Device images: what a device of a commit holds on the paths the change touches, as
// `twinflow change resolve` reports it (never "unknown": a device that cannot be read
// is reported unreachable, with its last verified status in the commit record).
const (
	ImagePreImage    = "pre-image"   // what the paths held before the change
	ImageIntent      = "intent"      // the change
	ImageOther       = "other"       // neither (another change or an out-of-band edit since)
	ImageUnreachable = "unreachable" // could not be read now
)

// DeviceImage is what one device of a commit holds.
type DeviceImage struct {
	Image string `json:"image"` // one of the Image* constants
	// Status is the device's status in the commit record.
	Status DeviceStatus `json:"status"`
	// Detail says why a device is at neither image or could not be read.
	Detail string `json:"detail,omitempty"`
}
