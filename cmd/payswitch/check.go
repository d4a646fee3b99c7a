package main

import (
	"fmt"

	"github.com/payswitch/payswitch/ledger/store"
	"github.com/spf13/cobra"
)

func newCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check DIR",
		Short: "Verify a stopped node's ledger store: digest, balances, rules and indexes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(store.Options{Dir: args[0], Logger: discardLogger()})
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Check(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: applied index %d, digest %s\n", st.AppliedIndex(), st.Digest())
			return nil
		},
	}
}
