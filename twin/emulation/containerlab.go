package emulation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/srl-labs/containerlab/types"
	"gopkg.in/yaml.v3"

	"github.com/twinflow/twinflow/labs/probe"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin/emulation/clab"
)

// Containerlab is the containerlab backend: it writes a topology file (nodes of kind
// linux running the twinflow-node image, one veth link per network link, a management
// network), validates it against containerlab's JSON schema, and drives the
// containerlab CLI as a subprocess (deploy, inspect -f json, exec, destroy).
//
// Node agents serve gNMI on their management address (from inspect); with a Configurer
// the backend pushes each node's interface addresses and the lab's routes (the same
// Plan as the netns backend, as static routes at metric BaseRouteMetric) through it. In
// containerlab a node's address is the address of its first data interface.
type Containerlab struct {
	Options Options
	// Bin is the containerlab executable (default "containerlab" from PATH).
	Bin string
	// Dir receives the topology file <label>.clab.yml (default: a directory under the
	// state dir, /run/twinflow/labs).
	Dir string
	// Image is the node image (default twinflow-node:latest, built from labs/node's
	// Dockerfile).
	Image string
	// SchemaPath, if set, is containerlab's clab.schema.json: the file is validated
	// before every deploy.
	SchemaPath string
	// MgmtNetwork and MgmtSubnet configure the lab's management network (defaults
	// "<label>-mgmt" and containerlab's default subnet).
	MgmtNetwork string
	MgmtSubnet  string
	// Config pushes interface addresses and routes to the node agents (optional).
	Config Configurer

	plan *Plan
}

// DefaultImage is the node image of containerlab labs.
const DefaultImage = "twinflow-node:latest"

func (c *Containerlab) bin() string {
	if c.Bin == "" {
		return "containerlab"
	}
	return c.Bin
}

// TopologyPath is where the lab's topology file is written.
func (c *Containerlab) TopologyPath() (string, error) {
	o, err := c.Options.withDefaults(0)
	if err != nil {
		return "", err
	}
	dir := c.Dir
	if dir == "" {
		dir = filepath.Join(DefaultStateDir, "clab")
	}
	return filepath.Join(dir, o.Label()+".clab.yml"), nil
}

// ContainerlabAvailable reports why containerlab cannot deploy here, or nil. It checks for the
// CLI and for what stock containerlab needs on the host (a container engine socket
// and /proc/modules).
func ContainerlabAvailable(bin string) error {
	if bin == "" {
		bin = "containerlab"
	}
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("%w: containerlab CLI not installed (%v)", ErrUnavailable, err)
	}
	if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		return fmt.Errorf("%w: no container engine (/var/run/docker.sock: %v)", ErrUnavailable, err)
	}
	if _, err := os.Stat("/proc/modules"); err != nil {
		return fmt.Errorf("%w: containerlab needs /proc/modules, which this kernel lacks", ErrUnavailable)
	}
	return nil
}

// Topology renders the containerlab topology file for n with containerlab's own types
// (clab.Encode: nodes, links, TwinFlow labels and link vars) plus, per node, the agent
// command and, if set, the management subnet.
func (c *Containerlab) Topology(n *network.Network) ([]byte, error) {
	o, err := c.Options.withDefaults(len(n.Flows))
	if err != nil {
		return nil, err
	}
	image := c.Image
	if image == "" {
		image = DefaultImage
	}
	mgmt := c.MgmtNetwork
	if mgmt == "" {
		mgmt = o.Label() + "-mgmt"
	}
	if c.MgmtSubnet != "" {
		if _, err := netip.ParsePrefix(c.MgmtSubnet); err != nil {
			return nil, fmt.Errorf("%w: management subnet %q: %v", ErrInvalid, c.MgmtSubnet, err)
		}
	}
	// Each node runs its agent: gNMI on all addresses (the management one from
	// outside), linux dataplane over its data ports.
	ports := map[string][]string{}
	for _, l := range n.Links {
		for _, ep := range l.Endpoints {
			ports[ep.Device] = append(ports[ep.Device], ep.EndPoint)
		}
	}
	var buf bytes.Buffer
	err = clab.Encode(&buf, n, clab.Options{Name: o.Label(), Kind: "linux", Image: image, MgmtNetwork: mgmt,
		MgmtIPv4Subnet: c.MgmtSubnet,
		Node: func(d network.Device, name string, nd *types.NodeDefinition) {
			nd.Cmd = fmt.Sprintf("/twinflow-node --name %s --dataplane linux --insecure --gnmi-addr :%d", name, GNMIPort)
			if p := ports[d.ID]; len(p) > 0 {
				nd.Cmd += " --ports " + strings.Join(p, ",")
			}
		}})
	if err != nil {
		return nil, fmt.Errorf("%w: containerlab export: %v", ErrInvalid, err)
	}
	return buf.Bytes(), nil
}

var (
	schemaMu    sync.Mutex
	schemaCache = map[string]*jsonschema.Schema{}
)

// ValidateContainerlab checks a topology file against containerlab's JSON schema
// (schemaPath: clab.schema.json). Errors wrap ErrInvalid and name the offending
// location.
func ValidateContainerlab(schemaPath string, topo []byte) error {
	schemaMu.Lock()
	sch, ok := schemaCache[schemaPath]
	if !ok {
		f, err := os.Open(schemaPath)
		if err != nil {
			schemaMu.Unlock()
			return fmt.Errorf("%w: containerlab schema: %v", ErrUnavailable, err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			schemaMu.Unlock()
			return fmt.Errorf("%w: containerlab schema %s: %v", ErrInvalid, schemaPath, err)
		}
		comp := jsonschema.NewCompiler()
		if err := comp.AddResource("clab.schema.json", doc); err != nil {
			schemaMu.Unlock()
			return fmt.Errorf("%w: containerlab schema: %v", ErrInvalid, err)
		}
		sch, err = comp.Compile("clab.schema.json")
		if err != nil {
			schemaMu.Unlock()
			return fmt.Errorf("%w: containerlab schema: %v", ErrInvalid, err)
		}
		schemaCache[schemaPath] = sch
	}
	schemaMu.Unlock()
	var v any
	if err := yaml.Unmarshal(topo, &v); err != nil {
		return fmt.Errorf("%w: topology file: %v", ErrInvalid, err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: topology file: %v", ErrInvalid, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return fmt.Errorf("%w: topology file: %v", ErrInvalid, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%w: topology file violates the containerlab schema: %v", ErrInvalid, err)
	}
	return nil
}

// ClabContainer is one container of `containerlab inspect -f json`.
type ClabContainer struct {
	LabName     string `json:"lab_name"`
	Name        string `json:"name"`
	ContainerID string `json:"container_id"`
	Image       string `json:"image"`
	Kind        string `json:"kind"`
	State       string `json:"state"`
	IPv4Address string `json:"ipv4_address"`
	IPv6Address string `json:"ipv6_address"`
}

// ParseInspect parses `containerlab inspect -f json` in both shapes it has had: the flat
// {"containers": [...]} of older releases and the per-lab map {"<lab>": [...]} of newer
// ones. Containers come back sorted by name.
func ParseInspect(raw []byte) ([]ClabContainer, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("%w: containerlab inspect output: %v", ErrInvalid, err)
	}
	var out []ClabContainer
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var list []ClabContainer
		if err := json.Unmarshal(top[k], &list); err != nil {
			return nil, fmt.Errorf("%w: containerlab inspect output: %q: want a list of containers: %v", ErrInvalid, k, err)
		}
		for i, ct := range list {
			if ct.Name == "" {
				return nil, fmt.Errorf("%w: containerlab inspect output: %q[%d]: container without a name", ErrInvalid, k, i)
			}
			if k != "containers" && ct.LabName == "" {
				ct.LabName = k
			}
			out = append(out, ct)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (c *Containerlab) run(ctx context.Context, args ...string) ([]byte, error) {
	return runCmd(ctx, "", c.bin(), args...)
}

// Deploy implements Backend.
func (c *Containerlab) Deploy(ctx context.Context, n *network.Network) error {
	plan, err := NewPlan(n, c.Options, nil, 0)
	if err != nil {
		return err
	}
	topo, err := c.Topology(n)
	if err != nil {
		return err
	}
	if c.SchemaPath != "" {
		if err := ValidateContainerlab(c.SchemaPath, topo); err != nil {
			return err
		}
	}
	path, err := c.TopologyPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("emulation: topology dir: %w", err)
	}
	if err := os.WriteFile(path, topo, 0o644); err != nil {
		return fmt.Errorf("emulation: write topology: %w", err)
	}
	if _, err := c.run(ctx, "deploy", "-t", path, "--reconfigure"); err != nil {
		// containerlab cleans up a failed deploy itself only partly: destroy too.
		_, _ = c.run(context.WithoutCancel(ctx), "destroy", "-t", path, "--cleanup")
		return fmt.Errorf("emulation: containerlab deploy: %w", err)
	}
	c.plan = clabPlan(plan)
	raw, err := json.MarshalIndent(c.plan, "", "  ")
	if err != nil {
		return fmt.Errorf("emulation: encode plan: %w", err)
	}
	if err := os.WriteFile(strings.TrimSuffix(path, ".clab.yml")+".plan.json", raw, 0o644); err != nil {
		return fmt.Errorf("emulation: write plan: %w", err)
	}
	return c.pushPlumbing(ctx)
}

// Load reads the plan a deploy (possibly by another process) left beside the topology
// file.
func (c *Containerlab) Load() error {
	path, err := c.TopologyPath()
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(strings.TrimSuffix(path, ".clab.yml") + ".plan.json")
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: no plan beside %s", ErrNotDeployed, path)
	}
	if err != nil {
		return fmt.Errorf("emulation: read plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("%w: plan beside %s: %v", ErrInvalid, path, err)
	}
	c.plan = &p
	return nil
}

// Plan returns the deployed plan (nil if not deployed or not loaded).
func (c *Containerlab) Plan() *Plan { return c.plan }

// clabPlan adapts a netns plan to containerlab: a node's address is its first data
// interface's, and routes point there.
func clabPlan(p *Plan) *Plan {
	addr := map[netip.Addr]netip.Addr{}
	for i := range p.Nodes {
		n := &p.Nodes[i]
		if len(n.Ifaces) > 0 {
			addr[n.Addr] = n.Ifaces[0].Addr.Addr()
			n.Addr = n.Ifaces[0].Addr.Addr()
		}
	}
	for i := range p.Nodes {
		for j := range p.Nodes[i].Routes {
			r := &p.Nodes[i].Routes[j]
			if a, ok := addr[r.Dst.Addr()]; ok {
				r.Dst = netip.PrefixFrom(a, 32)
			}
		}
	}
	return p
}

// RouteRules returns the OpenConfig static routes of a node at BaseRouteMetric.
func RouteRules(n *PlanNode) []network.ConfigRule {
	if len(n.Routes) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(`{"static-routes":{"static":[`)
	for i, r := range n.Routes {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"prefix":%q,"next-hops":{"next-hop":[{"index":"0","config":{"next-hop":%q,"metric":%d}}]}}`, r.Dst.String(), r.Via.String(), BaseRouteMetric)
	}
	b.WriteString(`]}}`)
	return []network.ConfigRule{{
		Action:        network.ConfigSet,
		ResourceKey:   "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]",
		ResourceValue: b.String(),
	}}
}

func (c *Containerlab) pushPlumbing(ctx context.Context) error {
	if c.Config == nil {
		return nil
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return err
	}
	for _, ni := range nodes {
		pn, ok := c.plan.Node(ni.ID)
		if !ok {
			continue
		}
		rules := append(InterfaceRules(pn), RouteRules(pn)...)
		if len(rules) == 0 {
			continue
		}
		if err := c.Config.Push(ctx, ni, rules); err != nil {
			return fmt.Errorf("emulation: node %q: push plumbing: %w", ni.ID, err)
		}
	}
	return nil
}

// Reconfigure implements Backend. containerlab has no in-place add/remove of nodes, so
// the lab is redeployed with --reconfigure (containers are recreated).
func (c *Containerlab) Reconfigure(ctx context.Context, n *network.Network) error {
	return c.Deploy(ctx, n)
}

// Nodes implements Backend (containerlab inspect -t <file> -f json).
func (c *Containerlab) Nodes(ctx context.Context) ([]NodeInfo, error) {
	path, err := c.TopologyPath()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: no topology file %s", ErrNotDeployed, path)
	}
	raw, err := c.run(ctx, "inspect", "-t", path, "-f", "json")
	if err != nil {
		return nil, fmt.Errorf("emulation: containerlab inspect: %w", err)
	}
	cts, err := ParseInspect(raw)
	if err != nil {
		return nil, err
	}
	if c.plan == nil {
		_ = c.Load() // addresses, if a deploy left its plan
	}
	o, _ := c.Options.withDefaults(0)
	prefix := "clab-" + o.Label() + "-"
	var out []NodeInfo
	for _, ct := range cts {
		name := strings.TrimPrefix(ct.Name, prefix)
		ni := NodeInfo{ID: name, Namespace: ct.Name}
		if c.plan != nil {
			if pn, ok := c.plan.Node(name); ok {
				ni.Address = pn.Addr.String()
			}
		}
		if a, err := netip.ParsePrefix(ct.IPv4Address); err == nil {
			ni.MgmtAddress = a.Addr().String()
		} else if a, err := netip.ParseAddr(ct.IPv4Address); err == nil {
			ni.MgmtAddress = a.String()
		}
		if ni.MgmtAddress != "" {
			ni.GNMIAddress = netip.AddrPortFrom(netip.MustParseAddr(ni.MgmtAddress), GNMIPort).String()
		}
		out = append(out, ni)
	}
	return out, nil
}

// Probe implements Backend: probes run as `containerlab exec --label
// clab-node-name=<node> --cmd "/twinflow-node probe ..."`.
func (c *Containerlab) Probe(ctx context.Context, specs []ProbeSpec) ([]ProbeResult, error) {
	if c.plan == nil {
		if err := c.Load(); err != nil {
			return nil, err
		}
	}
	path, err := c.TopologyPath()
	if err != nil {
		return nil, err
	}
	for i, s := range specs {
		if err := s.validate(i, c.plan); err != nil {
			return nil, err
		}
		if s.Kind == ProbeL2Ping {
			return nil, fmt.Errorf("%w: probes[%d] %q: l2-ping probes need the netns backend", ErrUnavailable, i, s.ID)
		}
	}
	exec := func(ctx context.Context, node, cmd string) ([]byte, error) {
		return c.run(ctx, "exec", "-t", path, "--label", "clab-node-name="+node, "--cmd", cmd)
	}
	results := make([]ProbeResult, len(specs))
	slot := 0
	var wg sync.WaitGroup
	for i, s := range specs {
		src, _ := c.plan.Node(s.Src)
		addr := s.DstAddr
		if addr == "" {
			d, _ := c.plan.Node(s.Dst)
			addr = d.Addr.String()
		}
		r := ProbeResult{ID: s.ID, Kind: s.Kind, Src: s.Src, Dst: s.Dst}
		var cmd string
		switch s.Kind {
		case ProbePing:
			cmd = fmt.Sprintf("/twinflow-node probe ping --dst %s --src %s --count %d", addr, src.Addr, max(s.Count, 1))
		case ProbeTCP:
			port := ProbePortBase + slot
			slot++
			srv := fmt.Sprintf("/twinflow-node probe tcp-server --listen %s --max-conns 1", netip.AddrPortFrom(netip.MustParseAddr(addr), uint16(port)))
			go func() { _, _ = exec(ctx, s.Dst, srv) }()
			cc, dur := s.CC, s.Duration
			if cc == "" {
				cc = "cubic"
			}
			if dur == 0 {
				dur = 10 * time.Second
			}
			cmd = fmt.Sprintf("/twinflow-node probe tcp-client --dst %s --src %s --cc %s --duration %s --warmup %s --id %s",
				netip.AddrPortFrom(netip.MustParseAddr(addr), uint16(port)), src.Addr, cc, dur, s.Warmup, s.ID)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec(ctx, s.Src, cmd)
			r.Evidence = strings.TrimSpace(string(out))
			line := jsonLine(out)
			switch {
			case line == nil && err != nil:
				r.Error = err.Error()
			case s.Kind == ProbePing:
				var pr probe.PingResult
				if jerr := json.Unmarshal(line, &pr); jerr != nil {
					r.Error = jerr.Error()
					break
				}
				r.Ping, r.OK = &pr, pr.Received > 0
				if !r.OK {
					r.Error = fmt.Sprintf("ping %s from %s: %d sent, 0 received", addr, s.Src, pr.Sent)
				}
			default:
				var tr probe.TCPClientResult
				if jerr := json.Unmarshal(line, &tr); jerr != nil {
					r.Error = jerr.Error()
					break
				}
				r.TCP, r.OK = &tr, tr.BytesAcked > 0
			}
			results[i] = r
		}()
	}
	wg.Wait()
	return results, nil
}

// jsonLine finds the first line of out that holds a JSON object (containerlab exec may
// decorate the command's output).
func jsonLine(out []byte) []byte {
	for _, l := range bytes.Split(out, []byte("\n")) {
		if i := bytes.IndexByte(l, '{'); i >= 0 && json.Valid(bytes.TrimSpace(l[i:])) {
			return bytes.TrimSpace(l[i:])
		}
	}
	return nil
}

// Destroy implements Backend (containerlab destroy -t <file> --cleanup).
func (c *Containerlab) Destroy(ctx context.Context) error {
	path, err := c.TopologyPath()
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	if _, err := c.run(ctx, "destroy", "-t", path, "--cleanup"); err != nil {
		return fmt.Errorf("emulation: containerlab destroy: %w", err)
	}
	c.plan = nil
	for _, f := range []string{path, strings.TrimSuffix(path, ".clab.yml") + ".plan.json"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("emulation: remove %s: %w", f, err)
		}
	}
	return nil
}

var _ Backend = (*Containerlab)(nil)
var _ Backend = (*Netns)(nil)
