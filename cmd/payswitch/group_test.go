package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runRoot runs the binary's command tree with args and returns its error
// and everything it printed.
func runRoot(args ...string) (string, error) {
	var out bytes.Buffer
	root := newRootCommand()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// TestUnknownSubcommand: a mistyped or missing subcommand is an error (exit
// status 1 from main) that names it, never help and success. A script that
// runs 'payswitch admin participant suspnd 10001' must not believe the
// participant is suspended.
func TestUnknownSubcommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"admin", "participant", "suspnd", "10001"}, `unknown command "suspnd" for "payswitch admin participant"; did you mean suspend?`},
		{[]string{"admin", "bogus"}, `unknown command "bogus" for "payswitch admin"`},
		{[]string{"admin", "participant"}, "payswitch admin participant needs a subcommand: one of activate, close, get, list, suspend"},
		{[]string{"admin", "--json", "account"}, "payswitch admin account needs a subcommand"},
		{[]string{"bench", "bogus"}, `unknown command "bogus" for "payswitch bench"`},
		{[]string{"bench"}, "payswitch bench needs a subcommand"},
		{[]string{"bogus"}, `unknown command "bogus" for "payswitch"`},
		{[]string{"completion", "fsh"}, `unknown command "fsh" for "payswitch completion"`},
	} {
		out, err := runRoot(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("payswitch %s: error %v, want one containing %q; printed:\n%s", strings.Join(tc.args, " "), err, tc.want, out)
		}
	}

	// Every group of the tree, present and future, refuses a word it has
	// no subcommand for.
	var walk func(cmd *cobra.Command, path []string)
	walk = func(cmd *cobra.Command, path []string) {
		if !cmd.HasSubCommands() {
			return
		}
		if len(path) > 0 { // the root is cobra's own: it refuses unknown words already
			args := append(append([]string{}, path...), "no-such-subcommand")
			if _, err := runRoot(args...); err == nil || !strings.Contains(err.Error(), `unknown command "no-such-subcommand"`) {
				t.Errorf("payswitch %s: error %v, want the unknown command named", strings.Join(args, " "), err)
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(newRootCommand(), nil)
}
