package network

// Units used throughout TwinFlow's models and APIs:
//
//   - capacities and rates in Gb/s (float64), as TeraFlow's LinkAttributes
//     (total_capacity_gbps, used_capacity_gbps);
//   - latencies in milliseconds (float64).

// DeviceType classifies a device (TeraFlow DeviceTypeEnum, lower-cased).
type DeviceType string

// Device types known to TwinFlow. Unknown types are rejected by validation.
const (
	DeviceRouter  DeviceType = "packet-router"
	DeviceSwitch  DeviceType = "packet-switch"
	DeviceHost    DeviceType = "host"
	DeviceOptical DeviceType = "optical-roadm"
)

// DriverKind names a southbound driver able to manage a device (TeraFlow DeviceDriverEnum).
type DriverKind string

// Drivers known to TwinFlow.
const (
	DriverGNMI     DriverKind = "gnmi-openconfig"
	DriverEmulated DriverKind = "emulated"
)

// OperStatus is an operational status (TeraFlow DeviceOperationalStatusEnum and link status).
type OperStatus string

// Operational statuses.
const (
	StatusUndefined   OperStatus = "undefined"
	StatusEnabled     OperStatus = "enabled"
	StatusDisabled    OperStatus = "disabled"
	StatusUnreachable OperStatus = "unreachable"
)

// ConfigAction says whether a config rule sets or deletes its resource.
type ConfigAction string

// Config actions (TeraFlow ConfigActionEnum).
const (
	ConfigSet    ConfigAction = "set"
	ConfigDelete ConfigAction = "delete"
)

// ConfigRule is one piece of device configuration addressed by a resource key, e.g. an
// OpenConfig path ("/interfaces/interface[name=eth1]/config/mtu") and its JSON value.
type ConfigRule struct {
	Action        ConfigAction `json:"action" yaml:"action"`
	ResourceKey   string       `json:"resource_key" yaml:"resource_key"`
	ResourceValue string       `json:"resource_value,omitempty" yaml:"resource_value,omitempty"`
}

// EndPoint is a port of a device. Its ID is unique within the device (e.g. "eth1").
type EndPoint struct {
	ID   string `json:"id" yaml:"id"`
	Type string `json:"type,omitempty" yaml:"type,omitempty"` // e.g. "copper", "optical"
	// SampleTypes lists the KPIs the endpoint can report (TeraFlow kpi_sample_types).
	SampleTypes []string `json:"sample_types,omitempty" yaml:"sample_types,omitempty"`
}

// Device is a network element.
type Device struct {
	ID          string       `json:"id" yaml:"id"`
	Name        string       `json:"name,omitempty" yaml:"name,omitempty"`
	Type        DeviceType   `json:"type" yaml:"type"`
	Drivers     []DriverKind `json:"drivers,omitempty" yaml:"drivers,omitempty"`
	Endpoints   []EndPoint   `json:"endpoints,omitempty" yaml:"endpoints,omitempty"`
	ConfigRules []ConfigRule `json:"config_rules,omitempty" yaml:"config_rules,omitempty"`
	OperStatus  OperStatus   `json:"oper_status,omitempty" yaml:"oper_status,omitempty"`
	// Address is the management address of the device's agent (gNMI host:port), if any.
	Address string `json:"address,omitempty" yaml:"address,omitempty"`
	// Domain names the administrative domain (AS) the device belongs to, if any.
	Domain string `json:"domain,omitempty" yaml:"domain,omitempty"`
	// X, Y are planar coordinates (km) used by geometric generators and latency estimates.
	X      float64           `json:"x,omitempty" yaml:"x,omitempty"`
	Y      float64           `json:"y,omitempty" yaml:"y,omitempty"`
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// EndPointRef names one endpoint of one device.
type EndPointRef struct {
	Device   string `json:"device" yaml:"device"`
	EndPoint string `json:"endpoint" yaml:"endpoint"`
}

// Link is a full-duplex link between two endpoints. Capacity applies to each direction.
// The bottleneck model treats each direction as its own resource, named by
// DirectedLinkID.
type Link struct {
	ID           string            `json:"id" yaml:"id"`
	Name         string            `json:"name,omitempty" yaml:"name,omitempty"`
	Endpoints    []EndPointRef     `json:"endpoints" yaml:"endpoints"` // exactly two
	CapacityGbps float64           `json:"capacity_gbps" yaml:"capacity_gbps"`
	UsedGbps     float64           `json:"used_capacity_gbps,omitempty" yaml:"used_capacity_gbps,omitempty"`
	LatencyMs    float64           `json:"latency_ms,omitempty" yaml:"latency_ms,omitempty"`
	OperStatus   OperStatus        `json:"oper_status,omitempty" yaml:"oper_status,omitempty"`
	Labels       map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	// Queue is the egress queue of the A→B direction, and of B→A unless ReverseQueue
	// is set; nil means DefaultQueueDiscipline (fq). See QueueOf.
	Queue        *QueueConfig `json:"queue,omitempty" yaml:"queue,omitempty"`
	ReverseQueue *QueueConfig `json:"reverse_queue,omitempty" yaml:"reverse_queue,omitempty"`
}

// Topology groups devices and links of a context.
type Topology struct {
	ID        string   `json:"id" yaml:"id"`
	Context   string   `json:"context" yaml:"context"`
	Name      string   `json:"name,omitempty" yaml:"name,omitempty"`
	DeviceIDs []string `json:"device_ids,omitempty" yaml:"device_ids,omitempty"`
	LinkIDs   []string `json:"link_ids,omitempty" yaml:"link_ids,omitempty"`
}

// Context is the top-level administrative scope (TeraFlow Context).
type Context struct {
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
}

// Flow is a traffic demand between two devices following a path of directed links.
// Flows come from services, slices and imported traffic matrices.
type Flow struct {
	ID  string `json:"id" yaml:"id"`
	Src string `json:"src" yaml:"src"` // device ID
	Dst string `json:"dst" yaml:"dst"` // device ID
	// Path is the sequence of directed link IDs (see DirectedLinkID) from Src to Dst.
	Path []string `json:"path,omitempty" yaml:"path,omitempty"`
	// DemandGbps caps the flow's rate (a traffic shaper); nil means elastic.
	DemandGbps *float64 `json:"demand_gbps,omitempty" yaml:"demand_gbps,omitempty"`
	// Class is an optional QoS class (for the Q-PGG).
	Class string `json:"class,omitempty" yaml:"class,omitempty"`
	// Owner names the service or slice the flow belongs to, if any.
	Owner string `json:"owner,omitempty" yaml:"owner,omitempty"`
	// CongestionControl is the flow's TCP congestion control (queue models);
	// empty means DefaultCongestionControl (cubic). Class selects its queue class.
	CongestionControl CongestionControl `json:"cc,omitempty" yaml:"cc,omitempty"`
}

// Network is a whole network document: the unit of import, export and `apply -f`.
type Network struct {
	Contexts   []Context  `json:"contexts,omitempty" yaml:"contexts,omitempty"`
	Topologies []Topology `json:"topologies,omitempty" yaml:"topologies,omitempty"`
	Devices    []Device   `json:"devices,omitempty" yaml:"devices,omitempty"`
	Links      []Link     `json:"links,omitempty" yaml:"links,omitempty"`
	Flows      []Flow     `json:"flows,omitempty" yaml:"flows,omitempty"`
}

// DirectedLinkID names one direction of a full-duplex link: the A→B direction (from
// Endpoints[0] to Endpoints[1]) is the link ID itself, the B→A direction is the link ID
// followed by "~r". Bottleneck inputs and flow paths use these IDs.
func DirectedLinkID(linkID string, reverse bool) string {
	if reverse {
		return linkID + ReverseSuffix
	}
	return linkID
}

// ReverseSuffix marks the B→A direction of a link in a directed link ID.
const ReverseSuffix = "~r"
