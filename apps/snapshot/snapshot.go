// Package snapshot keeps named, immutable snapshots of a network (the live twin's
// intended network, or a network file) in the repository's Snapshots store (issue #18).
//
// A named snapshot is stored as twin ID "snapshot:<name>" at revision 1, so the
// store's uniqueness of (twin, revision) makes names immutable: creating an existing
// name fails with repository.ErrConflict and nothing is overwritten. The twin IDs of
// live-twin checkpoints ("live") never collide with these. The data is a JSON document
// holding the name, the source, the source twin's revision and the network.
package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
)

// Prefix marks the repository twin IDs of named snapshots.
const Prefix = "snapshot:"

// ErrInvalid marks a bad name or document.
var ErrInvalid = errors.New("snapshot: invalid")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// Snapshot is a named network snapshot.
type Snapshot struct {
	Name string `json:"name"`
	// Source says where the network came from ("server:<url> twin live", "file:<path>").
	Source string `json:"source"`
	// Revision is the source twin's revision (0 for a file).
	Revision uint64           `json:"revision"`
	Taken    time.Time        `json:"taken"`
	Network  *network.Network `json:"network,omitempty"`
	// Devices, Links and Flows count the network's elements (List fills them without
	// the network).
	Devices int `json:"devices"`
	Links   int `json:"links"`
	Flows   int `json:"flows"`
}

// CheckName validates a snapshot name: 1-100 of [A-Za-z0-9._-], starting alphanumeric.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: name must be 1-100 of [A-Za-z0-9._-] starting with a letter or digit, got %q", ErrInvalid, name)
	}
	return nil
}

// Create stores n as the immutable snapshot name. The network is validated first.
func Create(ctx context.Context, st repository.Store, name, source string, revision uint64, n *network.Network) (Snapshot, error) {
	if err := CheckName(name); err != nil {
		return Snapshot{}, err
	}
	if n == nil {
		return Snapshot{}, fmt.Errorf("%w: no network", ErrInvalid)
	}
	// round-trip through the codec: what is stored decodes and validates
	var buf bytes.Buffer
	if err := network.Encode(&buf, n, network.FormatJSON); err != nil {
		return Snapshot{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := network.DecodeJSON(bytes.NewReader(buf.Bytes())); err != nil {
		return Snapshot{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s := Snapshot{Name: name, Source: source, Revision: revision, Network: n,
		Devices: len(n.Devices), Links: len(n.Links), Flows: len(n.Flows)}
	data, err := json.Marshal(s)
	if err != nil {
		return Snapshot{}, err
	}
	saved, err := st.Snapshots().Save(ctx, repository.Snapshot{TwinID: Prefix + name, Revision: 1, Data: data})
	if err != nil {
		if errors.Is(err, repository.ErrConflict) {
			return Snapshot{}, fmt.Errorf("snapshot %q exists (snapshots are immutable): %w", name, repository.ErrConflict)
		}
		return Snapshot{}, err
	}
	s.Taken = saved.Taken
	return s, nil
}

// Get returns the snapshot name with its network.
func Get(ctx context.Context, st repository.Store, name string) (Snapshot, error) {
	if err := CheckName(name); err != nil {
		return Snapshot{}, err
	}
	r, err := st.Snapshots().Get(ctx, Prefix+name, 1)
	if err != nil {
		return Snapshot{}, err
	}
	var s Snapshot
	if err := json.Unmarshal(r.Data, &s); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %q: stored document: %w", name, err)
	}
	s.Taken = r.Taken
	return s, nil
}

// List returns every named snapshot (without networks), by name.
func List(ctx context.Context, st repository.Store) ([]Snapshot, error) {
	rs, err := st.Snapshots().List(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	for _, r := range rs {
		name, ok := strings.CutPrefix(r.TwinID, Prefix)
		if !ok {
			continue
		}
		s, err := Get(ctx, st, name)
		if err != nil {
			return nil, err
		}
		s.Network = nil
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
