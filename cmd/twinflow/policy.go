package main

import (
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/policy"
)

// newPolicyCmd manages policy rules on a server (docs/policies.md).
func newPolicyCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Manage policy rules: conditions, actions, limits (engineer writes, operator activates)",
		Long: `Policy rules (REQ-POL-01..07): conditions on KPIs, alarms and events, actions the
policy engine proposes as changes through the pipeline (reroute, capacity, priority,
shape, disable-interface, raise-alarm), limits l1.policy enforces on every change,
scope, priority, state (planned, active, inactive) and a timeout.`,
		Example: `  twinflow policy create -f rule.yaml
  twinflow policy activate hot-link
  twinflow policy actions hot-link`,
	}
	var file string
	write := func(use, short, method string) *cobra.Command {
		c := &cobra.Command{
			Use: use + " -f FILE", Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if file == "" {
					return usageErrorf("policy %s needs -f FILE (- for stdin)", use)
				}
				data, err := readInput(cmd, file)
				if err != nil {
					return err
				}
				rule, err := policy.Decode(data) // refused here before the server sees it
				if err != nil {
					return err
				}
				c, err := newAPIClient(o)
				if err != nil {
					return err
				}
				path := "/api/v1/policies"
				if method == http.MethodPut {
					path += "/" + esc(rule.ID)
				}
				var sr closedloop.StoredRule
				if _, err := c.Do(cmd.Context(), method, path, rule, nil, &sr); err != nil {
					return err
				}
				return renderRules(o, cmd, []closedloop.StoredRule{sr})
			},
		}
		c.Flags().StringVarP(&file, "file", "f", "", "rule file (YAML or JSON; - for stdin)")
		return usageFlags(c)
	}
	list := &cobra.Command{
		Use: "list", Short: "List the rules, by priority", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var out nbi.PolicyList
			if err := c.Get(cmd.Context(), "/api/v1/policies", &out); err != nil {
				return err
			}
			return renderRules(o, cmd, out.Items)
		},
	}
	show := &cobra.Command{
		Use: "show ID", Short: "Show a rule", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var sr closedloop.StoredRule
			if err := c.Get(cmd.Context(), "/api/v1/policies/"+esc(args[0]), &sr); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), sr, nil)
		},
	}
	state := func(use, short string, to policy.State) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := newAPIClient(o)
				if err != nil {
					return err
				}
				var sr closedloop.StoredRule
				if err := c.Post(cmd.Context(), "/api/v1/policies/"+esc(args[0])+"/state", nbi.PolicyStateRequest{State: to}, &sr); err != nil {
					return err
				}
				return renderRules(o, cmd, []closedloop.StoredRule{sr})
			},
		}
	}
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete a rule that is not active", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			if _, err := c.Do(cmd.Context(), http.MethodDelete, "/api/v1/policies/"+esc(args[0]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			return nil
		},
	}
	actions := &cobra.Command{
		Use: "actions ID", Short: "What the policy engine did for a rule", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var out nbi.PolicyActionList
			if err := c.Get(cmd.Context(), "/api/v1/policies/"+esc(args[0])+"/actions", &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out.Items, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "AT\tOUTCOME\tCHANGE\tAPPROVER\tREASON")
				for _, a := range out.Items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.At.Format(time.RFC3339), a.Outcome, a.Change, a.Approver, a.Reason)
				}
			})
		},
	}
	for _, c := range []*cobra.Command{
		write("create", "Create a rule (state planned)", http.MethodPost),
		write("update", "Replace a rule's definition (its state is kept)", http.MethodPut),
		list, show, del, actions,
		state("activate", "Activate a rule (operator): conditions evaluated, limits enforced, timeout started", policy.StateActive),
		state("deactivate", "Withdraw a rule (operator): state inactive", policy.StateInactive),
		state("plan", "Move an inactive rule back to planned (operator)", policy.StatePlanned),
	} {
		cmd.AddCommand(usageFlags(c))
	}
	return usageFlags(cmd)
}

func renderRules(o *Options, cmd *cobra.Command, rules []closedloop.StoredRule) error {
	return render(o, cmd.OutOrStdout(), rules, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tSTATE\tPRIORITY\tSCOPE\tCONDITIONS\tACTIONS\tLIMITS")
		for _, r := range rules {
			scope := "network"
			if r.Scope.Device != "" {
				scope = "device " + r.Scope.Device
			}
			var acts []string
			for _, a := range r.Actions {
				acts = append(acts, a.Type)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%d\n", r.ID, r.State, r.Priority, scope, len(r.Conditions), strings.Join(acts, ","), len(r.Limits))
		}
	})
}
