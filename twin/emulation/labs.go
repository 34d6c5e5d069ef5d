package emulation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// LabSummary describes a deployed lab from its state file.
type LabSummary struct {
	Lab     string    `json:"lab"`
	Backend string    `json:"backend"`
	Nodes   int       `json:"nodes"`
	Links   int       `json:"links"`
	Queue   string    `json:"queue"`
	Scale   float64   `json:"scale"`
	Created time.Time `json:"created"`
}

// DeployedLabs lists the labs whose state files are in stateDir (DefaultStateDir when
// empty), sorted by lab name. Files that are not lab states are skipped; a missing
// directory is no lab.
func DeployedLabs(stateDir string) ([]LabSummary, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	files, err := filepath.Glob(filepath.Join(stateDir, "*.json"))
	if err != nil {
		return nil, err
	}
	labs := []LabSummary{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var st State
		if json.Unmarshal(raw, &st) != nil || st.Plan == nil {
			continue
		}
		labs = append(labs, LabSummary{Lab: st.Plan.Options.Label(), Backend: st.Backend, Nodes: len(st.Plan.Nodes),
			Links: len(st.Plan.Links), Queue: string(st.Plan.Options.Queue), Scale: st.Plan.Options.Scale, Created: st.Created})
	}
	sort.Slice(labs, func(i, j int) bool { return labs[i].Lab < labs[j].Lab })
	return labs, nil
}
