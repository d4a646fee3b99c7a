package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/payswitch/payswitch/adapters/admin"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/switch/engine"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Bounds of the HTTP server. The admin API's largest body is 4 MiB; a
// minute reads it over a slow link.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = time.Minute
	httpWriteTimeout      = time.Minute
	httpIdleTimeout       = 2 * time.Minute
	// shutdownTimeout bounds the wait for requests in flight at shutdown;
	// the node then stops whatever is left.
	shutdownTimeout = 10 * time.Second
	// raftTimeoutMin is the replica's floor for its timeouts.
	raftTimeoutMin = 20 * time.Millisecond

	adminKeyEnv       = "PAYSWITCH_ADMIN_KEY"
	adminKeyFile      = "admin.key"
	clusterSecretEnv  = "PAYSWITCH_CLUSTER_SECRET"
	clusterSecretFile = "cluster.secret"
)

type serveFlags struct {
	dataDir, nodeID, raftAddr, httpAddr string
	peers                               string
	join                                bool
	adminKey                            string
	clusterSecret, bootstrap            string
	iso8583Addr                         string
	paymentTimeout                      time.Duration
	logLevel, logFormat                 string
	heartbeat, election                 time.Duration
	snapshotThreshold                   uint64 // hidden: tests lower it
}

// peerEntry is one element of --peers: id=raft_addr/http_addr.
type peerEntry struct {
	id, raftAddr, httpAddr string
}

func newServeCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run one node: the replicated ledger and its admin HTTP API",
		Long: `Runs one node of a payswitch cluster: the Raft-replicated ledger on
--raft-addr and the admin API (docs/admin-api.md) on --http-addr. With no
--peers it is a one-node cluster. Every initial member of a larger cluster
gets the same --peers list; a node started with --join waits to be added
with 'payswitch admin cluster add-voter'.

Prints one line to stdout once it serves:

  serving node=<id> raft=<addr> http=<addr> iso8583=<addr>

Logs go to stderr. SIGINT or SIGTERM stops it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			peers, err := f.validate(cmd.Flags())
			if err != nil {
				return err
			}
			return runServe(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, peers)
		},
	}
	bindServeFlags(cmd.Flags(), &f)
	return cmd
}

func bindServeFlags(fl *pflag.FlagSet, f *serveFlags) {
	fl.StringVar(&f.dataDir, "data-dir", "./data", "the node's state: ledger, Raft log, snapshots, admin.key")
	fl.StringVar(&f.nodeID, "node-id", "node1", "this node's ID in the cluster")
	fl.StringVar(&f.raftAddr, "raft-addr", "127.0.0.1:7001", "host:port Raft listens on and peers reach (default: this node's entry in --peers)")
	fl.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:8080", "host:port of the admin HTTP API (default: this node's entry in --peers)")
	fl.StringVar(&f.peers, "peers", "", "the initial voters, id=raft_addr/http_addr,... (this node included); empty: a one-node cluster")
	fl.BoolVar(&f.join, "join", false, "start without bootstrapping and wait to be added by the leader (--peers then only gives HTTP addresses)")
	fl.StringVar(&f.adminKey, "admin-key", "", "the admin API's bearer key (default $"+adminKeyEnv+", else <data-dir>/"+adminKeyFile+", generated if missing)")
	fl.StringVar(&f.clusterSecret, "cluster-secret", "", "the secret identifiers are tokenised with, the same on every node (default $"+clusterSecretEnv+", else <data-dir>/"+clusterSecretFile+", generated if missing)")
	fl.StringVar(&f.iso8583Addr, "iso8583-addr", "127.0.0.1:8583", "host:port of the ISO 8583 listener for banks (docs/iso8583.md); empty: none")
	fl.DurationVar(&f.paymentTimeout, "payment-timeout", 10*time.Second, "how long the switch waits for a payee without a timeout of its own")
	fl.StringVar(&f.bootstrap, "bootstrap", "", "a participants file (docs/bootstrap.md) to apply once this node leads; idempotent")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fl.DurationVar(&f.heartbeat, "heartbeat-timeout", 250*time.Millisecond, "how long a follower waits for the leader's heartbeat before campaigning")
	fl.DurationVar(&f.election, "election-timeout", 250*time.Millisecond, "how long a candidate waits for votes before a new election")
	fl.Uint64Var(&f.snapshotThreshold, "snapshot-threshold", 0, "log entries between snapshots, and kept behind one (0: the replica's default, 1024)")
	_ = fl.MarkHidden("snapshot-threshold") // for tests that need a compacted log quickly
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// validate checks every flag and reports every problem at once, each
// naming its flag. It fills --raft-addr and --http-addr from this node's
// --peers entry when they were not given.
func (f *serveFlags) validate(set *pflag.FlagSet) ([]peerEntry, error) {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if f.dataDir == "" {
		bad("data-dir", "must not be empty")
	}
	if !nodeIDPattern.MatchString(f.nodeID) {
		bad("node-id", "%q: want 1 to 64 letters, digits, '.', '_' or '-'", f.nodeID)
	}
	peers, err := parsePeers(f.peers)
	if err != nil {
		bad("peers", "%v", err)
	}
	self := -1
	for i, p := range peers {
		if p.id == f.nodeID {
			self = i
		}
	}
	switch {
	case len(peers) > 0 && self < 0:
		bad("peers", "has no entry for this node, --node-id %s", f.nodeID)
	case self >= 0:
		f.raftAddr = fromPeers(set, "raft-addr", f.raftAddr, peers[self].raftAddr, bad)
		f.httpAddr = fromPeers(set, "http-addr", f.httpAddr, peers[self].httpAddr, bad)
	}
	if err := checkAddr(f.raftAddr, true); err != nil {
		bad("raft-addr", "%v", err)
	}
	if err := checkAddr(f.httpAddr, false); err != nil {
		bad("http-addr", "%v", err)
	}
	if f.heartbeat < raftTimeoutMin {
		bad("heartbeat-timeout", "%v: want at least %v", f.heartbeat, raftTimeoutMin)
	}
	if f.election < raftTimeoutMin {
		bad("election-timeout", "%v: want at least %v", f.election, raftTimeoutMin)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		bad("log-level", "%q: want debug, info, warn or error", f.logLevel)
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		bad("log-format", "%q: want text or json", f.logFormat)
	}
	if f.adminKey != "" && len(f.adminKey) < 16 {
		bad("admin-key", "want at least 16 characters")
	}
	if f.iso8583Addr != "" {
		if err := checkAddr(f.iso8583Addr, false); err != nil {
			bad("iso8583-addr", "%v", err)
		}
	}
	if f.paymentTimeout < 100*time.Millisecond || f.paymentTimeout > 2*time.Minute {
		bad("payment-timeout", "%v: want 100ms to 2m", f.paymentTimeout)
	}
	if f.clusterSecret != "" && len(f.clusterSecret) < 32 {
		bad("cluster-secret", "want at least 32 characters")
	}
	return peers, errors.Join(errs...)
}

// fromPeers takes an address from this node's --peers entry unless the
// flag was given, in which case the two must agree: peers would otherwise
// dial an address this node does not listen on.
func fromPeers(set *pflag.FlagSet, flag, given, listed string, bad func(string, string, ...any)) string {
	if !set.Changed(flag) {
		return listed
	}
	if given != listed {
		bad(flag, "%s differs from this node's entry in --peers (%s)", given, listed)
	}
	return given
}

// parsePeers reads id=raft_addr/http_addr,... .
func parsePeers(text string) ([]peerEntry, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var peers []peerEntry
	seen := map[string]bool{}
	for _, item := range strings.Split(text, ",") {
		item = strings.TrimSpace(item)
		id, addrs, ok := strings.Cut(item, "=")
		raftAddr, httpAddr, ok2 := strings.Cut(addrs, "/")
		if !ok || !ok2 {
			return nil, fmt.Errorf("entry %q: want id=raft_addr/http_addr, e.g. n1=127.0.0.1:7001/127.0.0.1:8001", item)
		}
		if !nodeIDPattern.MatchString(id) {
			return nil, fmt.Errorf("entry %q: node ID %q: want 1 to 64 letters, digits, '.', '_' or '-'", item, id)
		}
		if seen[id] {
			return nil, fmt.Errorf("node ID %s appears twice", id)
		}
		seen[id] = true
		if err := checkAddr(raftAddr, true); err != nil {
			return nil, fmt.Errorf("entry %q: raft address: %w", item, err)
		}
		if err := checkAddr(httpAddr, false); err != nil {
			return nil, fmt.Errorf("entry %q: http address: %w", item, err)
		}
		peers = append(peers, peerEntry{id: id, raftAddr: raftAddr, httpAddr: httpAddr})
	}
	return peers, nil
}

// checkAddr checks a host:port. Raft advertises its address to peers, so
// there the host must be one they can dial, not a wildcard.
func checkAddr(addr string, advertised bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (advertised && n == 0) {
		return fmt.Errorf("%q: port %q: want 1 to 65535", addr, port)
	}
	if advertised {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return fmt.Errorf("%q: peers cannot dial a wildcard host; give the address they reach this node at", addr)
		}
	}
	return nil
}

func newLogger(level, format string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runServe wires the node and the admin API together and runs them until
// ctx ends: then it stops taking requests, lets those in flight finish
// (up to shutdownTimeout), and stops the node.
func runServe(ctx context.Context, stdout, stderr io.Writer, f serveFlags, peers []peerEntry) error {
	logger := newLogger(f.logLevel, f.logFormat, stderr)
	if err := os.MkdirAll(f.dataDir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	key, err := resolveAdminKey(f.adminKey, f.dataDir, logger)
	if err != nil {
		return err
	}
	secret, err := resolveClusterSecret(f.clusterSecret, f.dataDir, logger)
	if err != nil {
		return err
	}
	tokens, err := routing.NewTokenizer([]byte(secret))
	if err != nil {
		return fmt.Errorf("cluster secret: %w", err)
	}
	logger.Info("cluster secret", "fingerprint", tokens.Fingerprint())
	var plan *routing.Plan
	if f.bootstrap != "" {
		if plan, err = loadBootstrap(f.bootstrap, tokens); err != nil {
			return err
		}
	}
	cfg := replica.Config{
		NodeID: f.nodeID, Dir: f.dataDir, RaftAddr: f.raftAddr, Join: f.join,
		HeartbeatTimeout: f.heartbeat, ElectionTimeout: f.election, Logger: logger,
		SnapshotThreshold: f.snapshotThreshold,
	}
	httpAddrs := map[string]string{}
	for _, p := range peers {
		httpAddrs[p.id] = p.httpAddr
		if !f.join {
			cfg.Peers = append(cfg.Peers, replica.Peer{ID: p.id, RaftAddr: p.raftAddr})
		}
	}
	node, err := replica.Open(cfg)
	if err != nil {
		return err
	}
	// The node outlives ctx: it stops after the HTTP server has drained.
	nodeCtx, stopNode := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNode()
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(nodeCtx) }()

	var sw *engine.Engine
	if f.iso8583Addr != "" {
		sw, err = engine.Start(engine.Config{Node: node, Tokenizer: tokens, Addr: f.iso8583Addr,
			DefaultTimeout: f.paymentTimeout, Logger: logger, Registerer: node.Registry()})
		if err != nil {
			stopNode()
			return errors.Join(fmt.Errorf("--iso8583-addr: %w", err), <-nodeDone)
		}
	}
	stopSwitch := func() {
		if sw == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := sw.Stop(ctx); err != nil {
			logger.Warn("switch stopped with payments in flight", "err", err)
		}
		sw = nil
	}
	defer stopSwitch()
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		stopSwitch()
		stopNode()
		return errors.Join(fmt.Errorf("--http-addr: %w", err), <-nodeDone)
	}
	httpAddrs[f.nodeID] = ln.Addr().String()
	srv, err := admin.New(admin.Config{Cluster: node, Routing: node, AdminKey: key, HTTPAddrs: httpAddrs, Metrics: node.Registry(), Logger: logger})
	if err != nil {
		_ = ln.Close()
		stopNode()
		return errors.Join(err, <-nodeDone)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- hs.Serve(ln) }()
	logger.Info("serving", "node", f.nodeID, "raft_addr", node.RaftAddr(), "http_addr", ln.Addr().String(), "data_dir", f.dataDir)
	isoAddr := "-"
	if sw != nil {
		isoAddr = sw.Addr()
	}
	fmt.Fprintf(stdout, "serving node=%s raft=%s http=%s iso8583=%s\n", f.nodeID, node.RaftAddr(), ln.Addr(), isoAddr)
	if plan != nil {
		go runBootstrap(nodeCtx, node, plan, f.bootstrap, logger)
	}

	var failure error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "cause", context.Cause(ctx))
	case err := <-serveDone:
		failure = fmt.Errorf("http server: %w", err)
	case err := <-nodeDone:
		nodeDone <- err // for the wait below
		failure = fmt.Errorf("node stopped: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		logger.Warn("requests still in flight at the shutdown deadline; closing them", "err", err)
		_ = hs.Close()
	}
	stopSwitch()
	stopNode()
	if err := <-nodeDone; err != nil {
		failure = errors.Join(failure, err)
	}
	logger.Info("stopped", "node", f.nodeID)
	return failure
}

// resolveAdminKey takes the key from the flag, else the environment, else
// <data-dir>/admin.key; when that file does not exist it generates a key
// and writes it there, readable by the owner only. Reusing the file keeps
// the key stable across restarts.
func resolveAdminKey(flagKey, dataDir string, logger *slog.Logger) (string, error) {
	return resolveSecret("admin key", flagKey, adminKeyEnv, filepath.Join(dataDir, adminKeyFile), 16, logger)
}

// resolveClusterSecret finds the cluster secret that tokenises
// identifiers the same way. Every node of a cluster must hold the same
// one (give it by flag or environment); a generated file suits a one-node
// cluster only, and the log says which fingerprint a node uses.
func resolveClusterSecret(flagSecret, dataDir string, logger *slog.Logger) (string, error) {
	return resolveSecret("cluster secret", flagSecret, clusterSecretEnv, filepath.Join(dataDir, clusterSecretFile), 32, logger)
}

// resolveSecret takes a secret from the flag, else the environment
// variable env, else the file at path; when the file does not exist it
// generates 32 random bytes as hex and writes them there, readable by the
// owner only.
func resolveSecret(what, flagValue, env, path string, minLen int, logger *slog.Logger) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if v := os.Getenv(env); v != "" {
		if len(v) < minLen {
			return "", fmt.Errorf("$%s: want at least %d characters", env, minLen)
		}
		return v, nil
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil && strings.TrimSpace(string(data)) != "":
		logger.Info(what+" read", "path", path)
		return strings.TrimSpace(string(data)), nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%s: %w", what, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	v := hex.EncodeToString(raw[:])
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	_, err = file.WriteString(v + "\n")
	if err == nil {
		err = file.Sync()
	}
	if err = errors.Join(err, file.Close()); err != nil {
		return "", fmt.Errorf("%s: write %s: %w", what, path, err)
	}
	logger.Info("generated a "+what, "path", path)
	return v, nil
}
