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
		Long: `Verify a stopped node's ledger store (DIR is <data-dir>/ledger): the
digest, the balances, the ledger's rules and every index, at the applied
index the store holds.

A node stopped cleanly holds every entry it applied. A node that crashed
holds the entries up to its store's last flush (the store keeps no WAL
of its own: the Raft log is the node's durable record), so the applied
index printed may be behind what the node acknowledged; the node replays
the rest of its Raft log when it starts again.`,
		Args: cobra.ExactArgs(1),
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
