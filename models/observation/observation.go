// Package observation is the vocabulary of what the physical network reports about
// itself: samples of interfaces, links and devices, handed in batches to a Sink.
// physical/telemetry produces them from gNMI subscriptions; the twin layer maps them
// into a twin's observed state (twin/telesync) and the repository's telemetry history.
//
// The package is pure: types only, no I/O, no clocks, no globals.
package observation

import (
	"time"

	"github.com/twinflow/twinflow/models/network"
)

// InterfaceSample is what one notification said about one interface. Fields match the
// twin's observed interface state; Has* say which parts the notification carried.
type InterfaceSample struct {
	Device, Interface string
	// At is the device's timestamp of the sample.
	At                                           time.Time
	OperStatus                                   network.OperStatus // StatusEnabled (UP), StatusDisabled (not UP), or "" if not carried
	InOctets, OutOctets, InPkts, OutPkts         uint64
	InErrors, OutErrors, InDiscards, OutDiscards uint64
	HasCounters                                  bool
	// InRateGbps and OutRateGbps come from octet deltas since the previous sample.
	InRateGbps, OutRateGbps float64
	HasRates                bool
}

// LinkSample is the observed state of one link after an interface sample changed it.
//
// A link's two ends are different devices whose batches reach the sink concurrently, so
// the sink may see a link's samples out of order: the one computed first (older) can
// arrive last. Version orders them: the collector numbers each link's samples 1, 2, 3,
// … under the link's lock, in the order it computes them, so of two samples of one link
// the one with the higher Version is the newer and carries everything the older one
// did (status, rates and utilisation are the link's whole state, not a delta). A sink
// that keeps the latest state per link must ignore a sample whose Version is not above
// the one it holds (physical/telemetry.Coalescer and twin/telesync do). Versions count per producer (a physical/telemetry Collector): a sink that
// outlives a Collector must forget them. Zero means unversioned.
type LinkSample struct {
	Link    string
	Version uint64
	At      time.Time
	// Status is StatusEnabled when both ends are oper UP on reachable devices,
	// StatusDisabled otherwise (unknown ends count as up).
	Status network.OperStatus
	// RateGbps and Utilisation per direction: [0] is A→B (Endpoints[0] to [1], the
	// directed link ID = link ID), [1] is B→A (ID + network.ReverseSuffix).
	RateGbps    [2]float64
	Utilisation [2]float64
	HasRates    bool
}

// DeviceSample reports a device's reachability.
type DeviceSample struct {
	Device    string
	Reachable bool
	At        time.Time
	Err       string // why it became unreachable, if known
}

// Batch is a set of observations handed to a Sink at once.
type Batch struct {
	Interfaces []InterfaceSample
	Links      []LinkSample
	Devices    []DeviceSample
	// Updates is the number of gNMI updates the batch was decoded from.
	Updates int
	// Received is when the batch's message arrived.
	Received time.Time
}

// Sink consumes observations. Observe is called concurrently from one goroutine per
// device; it must not retain b (or its slices) after returning. One device's batches
// arrive in order, so its interface and device samples do; a link's samples come from
// both ends' devices and may arrive out of order (see LinkSample.Version).
type Sink interface {
	Observe(b *Batch)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(*Batch)

// Observe implements Sink.
func (f SinkFunc) Observe(b *Batch) { f(b) }
