package store_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// The crash test runs its own test binary as a child process that applies
// a seeded batch sequence to a store as fast as it can, and kills it with
// SIGKILL at random moments: while Pebble recovers, between batches, in
// the middle of a commit. After every kill the parent opens the store and
// requires that it holds exactly batches 1..AppliedIndex: Check passes and
// the digest equals ledger.Memory's after replaying those batches. The
// next child resumes at AppliedIndex+1, so a batch is never applied twice
// and never lost once the store says it is applied.
//
// Most children sync every batch, as a standalone store does; every third
// runs NoWAL, as a replica does, where a kill may lose the batches since
// the last memtable flush but never half of one.
const (
	crashEnvDir   = "PAYSWITCH_CRASH_DIR"   // set in the child only
	crashEnvSeed  = "PAYSWITCH_CRASH_SEED"  // the child's seed; in the parent, a seed to replay
	crashEnvNoWAL = "PAYSWITCH_CRASH_NOWAL" // "1": the child's store keeps no WAL

	crashReady       = "ready" // the child's line once it has opened the store and is about to apply
	crashReadyMax    = 5 * time.Second
	crashKillsMin    = 8
	crashRunsMax     = 16
	crashBudget      = 12 * time.Second // all runs together, kills and checks
	crashDelayMin    = 20 * time.Millisecond
	crashDelayRange  = 380 * time.Millisecond
	crashChildLife   = 10 * time.Second      // a child whose parent vanished stops by itself
	crashBatchesMax  = 3000                  // the child idles past this index, which bounds the parent's replay
	crashContinueMax = 8                     // batches the parent applies itself after the last kill
	crashFlushEvery  = 15 * time.Millisecond // a NoWAL child flushes its memtable this often
)

var crashLimits = generatorLimits{commandsMax: 48, accountsMax: 200}

// crashModel regenerates the child's batches and applies them to the
// reference model, moving forward only.
type crashModel struct {
	seed   uint64
	gen    *generator
	memory *ledger.Memory
	index  uint64
}

func newCrashModel(seed uint64) *crashModel {
	return &crashModel{seed: seed, gen: newGenerator(nil, crashLimits), memory: ledger.NewMemory()}
}

func (m *crashModel) next() ledger.Batch {
	m.index++
	return m.gen.batchAt(m.seed, m.index)
}

func (m *crashModel) advanceTo(index uint64) {
	for m.index < index {
		b := m.next()
		m.memory.Apply(&b)
	}
}

func TestCrash(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashEnvSeed); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashEnvSeed, s, err)
		}
	}
	// The seed replays the batches; the kill moments depend on timing and
	// do not replay.
	t.Logf("seed %d (set %s to replay the batches)", seed, crashEnvSeed)
	dir := t.TempDir()
	model := newCrashModel(seed)
	delays := rand.New(rand.NewPCG(seed, 1))

	start := time.Now()
	var kills, progressed int
	var applied uint64
	for run := 0; run < crashRunsMax; run++ {
		if (kills >= crashKillsMin && progressed >= 2) || time.Since(start) > crashBudget {
			break
		}
		delay := crashDelayMin + time.Duration(delays.Int64N(int64(crashDelayRange)))
		noWAL, fromReady := run%3 == 2, run%2 == 1
		runCrashChild(t, dir, seed, noWAL, fromReady, delay)
		kills++
		got := verifyAfterCrash(t, dir, model)
		t.Logf("run %d: killed %v after %s (nowal %v): applied index %d -> %d",
			run, delay, map[bool]string{false: "start", true: "ready"}[fromReady], noWAL, applied, got)
		if got < applied {
			t.Fatalf("run %d: applied index went back from %d to %d", run, applied, got)
		}
		if got > applied {
			progressed++
		}
		applied = got
	}
	if kills < crashKillsMin {
		t.Fatalf("only %d kills in %v, want at least %d", kills, crashBudget, crashKillsMin)
	}
	if progressed == 0 || applied == 0 {
		t.Fatalf("the child applied nothing in %d runs", kills)
	}
	continueAfterCrash(t, dir, model)
}

// runCrashChild starts a child on dir and kills it after delay, counted
// from the start, when the kill may land while Pebble recovers, or from
// the child's "ready" line, when it lands among the batches. A child that
// exits by itself before the kill has failed.
func runCrashChild(t *testing.T, dir string, seed uint64, noWAL, fromReady bool, delay time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		crashEnvDir+"="+dir,
		crashEnvSeed+"="+strconv.FormatUint(seed, 10),
		crashEnvNoWAL+"="+map[bool]string{false: "0", true: "1"}[noWAL])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	// The reader owns lines until eof is closed; Wait comes after eof, as
	// StdoutPipe requires.
	var lines []string
	ready, eof := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(eof)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			lines = append(lines, scanner.Text())
			if scanner.Text() == crashReady {
				close(ready)
			}
		}
	}()
	failed := func(why string) {
		_ = cmd.Process.Kill()
		<-eof
		err := cmd.Wait()
		t.Fatalf("child %s (%v):\n%s\n%s", why, err, strings.Join(lines, "\n"), stderr.String())
	}
	if fromReady {
		select {
		case <-ready:
		case <-eof:
			failed("exited before it was ready")
		case <-time.After(crashReadyMax):
			failed(fmt.Sprintf("not ready after %v", crashReadyMax))
		}
	}
	select {
	case <-eof:
		failed("exited by itself before the kill")
	case <-time.After(delay):
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	<-eof
	_ = cmd.Wait() // "signal: killed"
}

// verifyAfterCrash opens the store a child left, checks it and compares it
// with the model replayed to its applied index, which it returns.
func verifyAfterCrash(t *testing.T, dir string, model *crashModel) uint64 {
	t.Helper()
	s, err := store.Open(store.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer s.Close()
	applied := s.AppliedIndex()
	if applied < model.index {
		t.Fatalf("applied index %d is below %d, seen before", applied, model.index)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("check after kill at applied index %d: %v", applied, err)
	}
	model.advanceTo(applied)
	if got, want := s.Digest(), model.memory.Digest(); got != want {
		t.Fatalf("applied index %d: digest %s, model after batches 1..%d %s", applied, got, applied, want)
	}
	if got, want := s.LastTimestamp(), model.memory.LastTimestamp(); got != want {
		t.Fatalf("applied index %d: last timestamp %d, model %d", applied, got, want)
	}
	return applied
}

// continueAfterCrash applies a few more batches to the recovered store and
// compares every answer with the model: recovery left a store that works,
// not only one that reads back right.
func continueAfterCrash(t *testing.T, dir string, model *crashModel) {
	t.Helper()
	s, err := store.Open(store.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("open to continue: %v", err)
	}
	defer s.Close()
	for range crashContinueMax {
		b := model.next()
		got, err := s.Apply(model.index, &b)
		if err != nil {
			t.Fatalf("continue at index %d: %v", model.index, err)
		}
		compareOutputs(t, model.index, &b, got, model.memory.Apply(&b))
	}
	if err := s.Check(); err != nil {
		t.Fatalf("check after continuing: %v", err)
	}
}

// TestCrashChild is the child side of TestCrash; run on its own it skips.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("the child process of TestCrash")
	}
	seed, err := strconv.ParseUint(os.Getenv(crashEnvSeed), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", crashEnvSeed, err)
	}
	deadline := time.Now().Add(crashChildLife)
	noWAL := os.Getenv(crashEnvNoWAL) == "1"
	s, err := store.Open(store.Options{
		Dir:             dir,
		NoWAL:           noWAL,
		PendingCacheMax: 2,
		FilterBytes:     1024,
		Logger:          quiet,
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	applied := s.AppliedIndex()
	gen := newGenerator(nil, crashLimits)
	for i := uint64(1); i <= applied; i++ {
		gen.batchAt(seed, i) // the generator's memory of batches 1..applied
	}
	if noWAL {
		// Without a WAL, batches reach disk only when the memtable is
		// flushed, which these small batches would never fill: flush
		// alongside the applies, as a replica's snapshots do, so that the
		// kills land before, during and after flushes.
		go func() {
			for time.Now().Before(deadline) {
				time.Sleep(crashFlushEvery)
				if err := s.Sync(); err != nil {
					fmt.Printf("sync: %v\n", err)
					return
				}
			}
		}()
	}
	fmt.Println(crashReady)
	for i := applied + 1; i <= crashBatchesMax && time.Now().Before(deadline); i++ {
		b := gen.batchAt(seed, i)
		if _, err := s.Apply(i, &b); err != nil {
			t.Fatalf("apply index %d: %v", i, err)
		}
	}
	fmt.Printf("reached index %d\n", s.AppliedIndex())
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // wait for the kill
	}
	_ = s.Close()
}
