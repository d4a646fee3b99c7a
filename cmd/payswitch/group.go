package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newCommandGroup returns a command that only holds subcommands, such as
// 'payswitch admin participant'. Cobra would print the help of a group
// without a Run and exit 0, whatever the arguments: 'payswitch admin
// participant suspnd 10001' looked to a script like a suspension that
// worked. A group is therefore runnable only to fail: an unknown
// subcommand is an error that names it, and a missing one an error that
// lists the choices.
func newCommandGroup(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  unknownSubcommand,
		// Cobra's default for its own suggestions; a group's field is
		// zero unless set.
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("%s needs a subcommand: one of %s (see '%s --help')",
				cmd.CommandPath(), strings.Join(subcommandNames(cmd), ", "), cmd.CommandPath())
		},
	}
}

// unknownSubcommand refuses any argument left to a group: cobra passes a
// group the words it found no subcommand for.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
		msg += "; did you mean " + strings.Join(suggestions, " or ") + "?"
	} else {
		msg += "; want one of " + strings.Join(subcommandNames(cmd), ", ")
	}
	return fmt.Errorf("%s", msg)
}

// subcommandNames lists the names of a group's visible subcommands.
func subcommandNames(cmd *cobra.Command) []string {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return names
}
