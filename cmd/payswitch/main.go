// Command payswitch is the one binary of the payment switch: the demo, the
// benchmarks and (as they land) the server and the operator's tools. It
// holds wiring only; the work lives in the packages it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	setProcs()
	setGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "payswitch: interrupted")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "payswitch:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "payswitch",
		Short: "A real-time interoperable payment switch",
		Long: `payswitch moves money between banks, wallets and government payers on a
replicated double-entry ledger. Start with 'payswitch demo'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDemoCommand(), newBenchCommand(), newCheckCommand(), newServeCommand(), newAdminCommand(), newSimBankCommand(), newSimCommand())
	// Cobra adds its 'completion' group at Execute, printing help and
	// exiting 0 on an unknown shell; adding it now lets it refuse one
	// like every other group.
	root.InitDefaultCompletionCmd()
	for _, cmd := range root.Commands() {
		if cmd.Name() == "completion" {
			cmd.Args = unknownSubcommand
			cmd.SuggestionsMinimumDistance = 2
			cmd.RunE = newCommandGroup(cmd.Use, cmd.Short).RunE
		}
	}
	var cpuProfile, memProfile string
	var memFile *os.File
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file")
	root.PersistentFlags().StringVar(&memProfile, "memprofile", "", "write a heap profile to this file when the command ends (what it allocated, sampled, and what was still live)")
	// Both files are created before the command runs, so that a path that
	// cannot be written fails at once rather than after a long benchmark.
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if memProfile != "" {
			f, err := os.Create(memProfile)
			if err != nil {
				return err
			}
			memFile = f
		}
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		return pprof.StartCPUProfile(f)
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error {
		if cpuProfile != "" {
			pprof.StopCPUProfile()
		}
		if memFile == nil {
			return nil
		}
		runtime.GC() // the live figures are as of the last collection: make it now
		err := pprof.Lookup("allocs").WriteTo(memFile, 0)
		return errors.Join(err, memFile.Close())
	}
	return root
}
