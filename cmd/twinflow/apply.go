package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twinflow/twinflow/models/network"
	"gopkg.in/yaml.v3"
)

// applyResponse mirrors nbi.ApplyResponse.
type applyResponse struct {
	Twin     string `json:"twin"`
	Revision uint64 `json:"revision"`
	Results  []struct {
		Kind   string `json:"kind"`
		ID     string `json:"id"`
		Result string `json:"result"`
	} `json:"results"`
}

func newApplyCmd(o *Options) *cobra.Command {
	var twinID, file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update every element of a network document in a twin, all or nothing",
		Long: `Send a network document (JSON or YAML: contexts, topologies, devices, links, flows)
to the server, which creates or updates each element in one transaction: either every
element is applied or none is. References may point to elements of the document or
already in the twin. Prints one result per element: created, updated or unchanged.`,
		Example: `  twinflow topology generate leaf-spine:leaves=2,spines=2,hosts=1 -o yaml > net.yaml
  twinflow apply -f net.yaml --twin fork-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("apply takes no arguments; give the document with -f FILE")
			}
			if file == "" {
				return usageErrorf("-f/--file is required (use - for standard input)")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			doc, err := readApplyDoc(cmd, file)
			if err != nil {
				return err
			}
			var res applyResponse
			if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/twins/"+esc(twinID)+"/apply", doc, nil, &res); err != nil {
				return fmt.Errorf("apply %s: nothing was applied: %w", file, err)
			}
			return render(o, cmd.OutOrStdout(), res, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "KIND\tID\tRESULT")
				for _, r := range res.Results {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", singular(r.Kind), r.ID, r.Result)
				}
				fmt.Fprintf(tw, "twin %s at revision %d\n", res.Twin, res.Revision)
			})
		},
	}
	twinFlag(cmd, &twinID)
	cmd.Flags().StringVarP(&file, "file", "f", "", "network document, .json or .yaml/.yml (- for standard input)")
	return usageFlags(cmd)
}

// readApplyDoc reads a network document strictly (unknown fields rejected) without
// validating references: the server checks them against the twin.
func readApplyDoc(cmd *cobra.Command, file string) (*network.Network, error) {
	var r io.Reader
	if file == "-" {
		r = cmd.InOrStdin()
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	b, err := io.ReadAll(io.LimitReader(r, network.MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if len(b) > network.MaxDocumentBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", file, network.MaxDocumentBytes)
	}
	var n network.Network
	ext := strings.ToLower(filepath.Ext(file))
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%s: empty document", file)
	}
	if ext == ".json" || (ext != ".yaml" && ext != ".yml" && trimmed[0] == '{') {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&n); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: unexpected data after the document", file)
		}
		return &n, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&n); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: only one YAML document is allowed", file)
	}
	return &n, nil
}
