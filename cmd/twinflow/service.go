package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// newServiceCmd is `twinflow service`: list, show, request and remove connectivity
// services (issue #15). Requests are changes: the server compiles the service against
// the live twin and validates it like any change.
func newServiceCmd(o *Options) *cobra.Command {
	return recordCmd(o, "service", "services", change.KindService, service.IntentService, service.IntentServiceDelete,
		"Connectivity services (l3vpn, l2vpn, sr-policy): list, show, request, remove",
		func(data []byte) (string, error) {
			s, err := service.DecodeService(data)
			if err != nil {
				return "", err
			}
			return s.ID, nil
		})
}

// newSliceCmd is `twinflow slice`: the same for transport network slices.
func newSliceCmd(o *Options) *cobra.Command {
	return recordCmd(o, "slice", "slices", change.KindSlice, service.IntentSlice, service.IntentSliceDelete,
		"Transport network slices: list, show, request, remove",
		func(data []byte) (string, error) {
			sl, err := service.DecodeSlice(data)
			if err != nil {
				return "", err
			}
			return sl.ID, nil
		})
}

func recordCmd(o *Options, noun, coll string, kind change.Kind, create, remove, short string, decode func([]byte) (string, error)) *cobra.Command {
	var twinID string
	cmd := &cobra.Command{
		Use:   noun,
		Short: short,
		Long: fmt.Sprintf(`List and show the %[2]s of a twin (--twin, default live), request one from a
document (%[1]s create -f FILE: JSON, see docs/services.md) or remove one (%[1]s delete ID).
A request is a change of kind %[3]s: the server compiles it against the live twin and
validates it; it is then approved (by a person or an approval rule) and committed like
any change (twinflow change approve|commit). Exit status 1 if it is rejected.`, noun, coll, kind),
		Example: fmt.Sprintf(`  twinflow %[1]s list
  twinflow %[1]s get ID -o json
  twinflow %[1]s create -f %[1]s.json
  twinflow %[1]s delete ID`, noun),
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the " + coll + " of a twin",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("%s list takes no arguments", noun)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var out nbi.ServiceList
			if err := c.Get(cmd.Context(), "/api/v1/twins/"+esc(twinID)+"/"+coll+"?limit=1000", &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out.Items, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tREVISION")
				for _, r := range out.Items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.ID, r.Kind, r.Status, r.Revision)
				}
			})
		},
	}
	twinFlag(list, &twinID)
	var getTwin string
	get := &cobra.Command{
		Use:   "get ID",
		Short: "Show one " + noun + " (its spec and status)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("%s get takes one ID", noun)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var rec nbi.ServiceRecord
			if err := c.Get(cmd.Context(), "/api/v1/twins/"+esc(getTwin)+"/"+coll+"/"+esc(args[0]), &rec); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), rec, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "%s %s\t%s\n", noun, rec.ID, strings.ToUpper(rec.Status))
				var spec any
				_ = json.Unmarshal(rec.Spec, &spec)
				b, _ := json.MarshalIndent(spec, "", "  ")
				fmt.Fprintf(tw, "%s\n", b)
			})
		},
	}
	twinFlag(get, &getTwin)
	var file string
	createCmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Request a " + noun + " (or update it, if the live twin has one with the same id)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q (the %s is read from -f)", args[0], noun)
			}
			if file == "" {
				return usageErrorf("%s create needs -f FILE", noun)
			}
			data, err := readInput(cmd, file)
			if err != nil {
				return err
			}
			id, err := decode(data) // checked locally first, every problem named
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			return proposeIntent(cmd, o, kind, create, id, json.RawMessage(data))
		},
	}
	createCmd.Flags().StringVarP(&file, "file", "f", "", noun+" document (JSON, - for stdin)")
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Request the removal of a " + noun,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("%s delete takes one ID", noun)
			}
			if m := service.CheckID(args[0]); m != "" {
				return usageErrorf("%s", m)
			}
			spec, _ := json.Marshal(map[string]string{"id": args[0]})
			return proposeIntent(cmd, o, kind, remove, args[0], spec)
		},
	}
	for _, c := range []*cobra.Command{list, get, createCmd, del} {
		cmd.AddCommand(usageFlags(c))
	}
	return usageFlags(cmd)
}

// proposeIntent proposes a change carrying only its intent (the server compiles it).
func proposeIntent(cmd *cobra.Command, o *Options, kind change.Kind, typ, id string, spec json.RawMessage) error {
	c, err := newAPIClient(o)
	if err != nil {
		return err
	}
	cs := change.ChangeSet{Kind: kind, Intents: []change.Intent{{Type: typ, Name: id, Spec: spec}}}
	var ch pipeline.Change
	if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/changes", cs, nil, &ch); err != nil {
		return err
	}
	if err := renderChange(o, cmd.OutOrStdout(), &ch); err != nil {
		return err
	}
	return stateExit(&ch)
}
