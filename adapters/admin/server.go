package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Cluster is what the admin API needs of a replicated ledger node. It is
// owned here, by its consumer; *replica.Node implements it.
type Cluster interface {
	// Submit proposes commands and returns their results in order.
	Submit(ctx context.Context, cmds []ledger.Command) ([]ledger.Result, error)
	// Account and Transfer read linearizably (leader only).
	Account(ctx context.Context, id ledger.ID) (ledger.Account, bool, error)
	Transfer(ctx context.Context, id ledger.ID) (ledger.Transfer, bool, error)
	// ReadBarrier makes the Local reads that follow linearizable.
	ReadBarrier(ctx context.Context) error
	// Local runs fn against this node's store as it stands.
	Local(fn func(*store.Store) error) error

	Status() replica.Status
	Servers(ctx context.Context) ([]replica.Peer, error)
	AddVoter(ctx context.Context, id, raftAddr string) error
	RemoveServer(ctx context.Context, id string) error
	Snapshot(ctx context.Context) error
}

var _ Cluster = (*replica.Node)(nil)

// Config configures a Server.
type Config struct {
	// Cluster is the node the server fronts. Required.
	Cluster Cluster
	// AdminKey is the bearer key every /admin/ request must carry. Required,
	// at least 16 characters.
	AdminKey string
	// HTTPAddrs maps node IDs to their admin HTTP addresses (host:port), so
	// that a follower's not_leader answer can say where the leader serves.
	// Optional; a leader missing from it is answered without
	// leader_http_addr.
	HTTPAddrs map[string]string
	// Metrics is gathered together with the server's own metrics at
	// /metrics: the node's registry. Optional.
	Metrics prometheus.Gatherer
	// Routing serves the participant directory endpoints; nil answers them
	// not_found. *replica.Node implements it.
	Routing Routing
	// Logger receives one record per request. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Cluster == nil {
		errs = append(errs, errors.New("Cluster is required"))
	}
	if len(c.AdminKey) < adminKeyLenMin {
		errs = append(errs, fmt.Errorf("AdminKey: want at least %d characters, got %d", adminKeyLenMin, len(c.AdminKey)))
	}
	if strings.TrimSpace(c.AdminKey) != c.AdminKey {
		errs = append(errs, errors.New("AdminKey: must not begin or end with white space"))
	}
	for id, addr := range c.HTTPAddrs {
		if id == "" || addr == "" {
			errs = append(errs, fmt.Errorf("HTTPAddrs: empty node ID or address in %q=%q", id, addr))
		}
	}
	return errors.Join(errs...)
}

// Server is the admin HTTP API of one node: an http.Handler. It is safe
// for concurrent use.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	routes   map[string]string // mux pattern -> the path label of metrics and logs
	keys     keyChecker
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	metrics  http.Handler
}

var _ http.Handler = (*Server)(nil)

// New builds a server. It does not listen: pass it to an http.Server.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("admin: invalid config: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		mux:      http.NewServeMux(),
		routes:   map[string]string{},
		keys:     newKeyChecker(cfg.AdminKey),
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served by the admin API, by route and status code.",
		}, []string{"path", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer an admin API request, by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"path"}),
	}
	s.registry.MustRegister(s.requests, s.latency)
	gatherers := prometheus.Gatherers{s.registry}
	if cfg.Metrics != nil {
		gatherers = append(gatherers, cfg.Metrics)
	}
	s.metrics = promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)})

	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /metrics", s.metrics.ServeHTTP)
	s.handle("POST /admin/ledger/commands", s.postCommands)
	s.handle("GET /admin/ledger/accounts/{id}", s.getAccount)
	s.handle("GET /admin/ledger/accounts/{id}/transfers", s.getAccountTransfers)
	s.handle("GET /admin/ledger/transfers/{id}", s.getTransfer)
	s.handle("GET /admin/ledger/state", s.getState)
	s.handle("GET /admin/cluster", s.getCluster)
	s.handle("POST /admin/cluster/voters", s.postVoter)
	s.handle("DELETE /admin/cluster/voters/{id}", s.deleteVoter)
	s.handle("POST /admin/cluster/snapshot", s.postSnapshot)
	s.handle("GET /admin/participants", s.getParticipants)
	s.handle("GET /admin/participants/{id}", s.getParticipant)
	s.handle("PUT /admin/participants/{id}", s.putParticipant)
	s.handle("POST /admin/participants/{id}/status", s.postParticipantStatus)
	s.handle("GET /admin/routing/state", s.getRoutingState)
	return s, nil
}

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
	_, path, _ := strings.Cut(pattern, " ")
	s.routes[pattern] = path
}

// Registry holds the server's own metrics (also served at /metrics).
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// ServeHTTP authenticates /admin/ paths, routes the request, answers
// unknown paths and methods with problems, and records metrics and a log
// record.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	h, pattern := s.mux.Handler(r)
	canonical := isCanonical(r)
	label, known := s.routes[pattern]
	if !known || !canonical {
		label = "other" // never the raw path: metrics labels must stay few
	}
	var denied *Problem
	if needsKey(r.URL.Path) || needsKey(cleanPath(r.URL.Path)) {
		denied = s.keys.check(r)
	}
	switch {
	case denied != nil:
		writeProblem(sw, denied)
	case !canonical:
		// The mux would answer a redirect to the clean path, in HTML, and
		// only for paths it routes: that told a client without the key
		// which admin paths exist. A client of this API sends clean paths.
		writeProblem(sw, newProblem(CodeNotFound, "no such path: %s; send the path without empty, . or .. segments", quote(r.URL.Path)))
	case pattern == "":
		s.unmatched(sw, r, h)
	default:
		s.mux.ServeHTTP(sw, r)
	}
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(start)
	s.requests.WithLabelValues(label, strconv.Itoa(status)).Inc()
	s.latency.WithLabelValues(label).Observe(elapsed.Seconds())
	s.logRequest(r, label, status, sw.problem, elapsed)
}

// unmatched answers a request no route takes, as a problem: the mux's own
// handler decides between 404 and 405 (and the Allow header); its plain
// text body is dropped.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeProblem(w, newProblem(CodeMethodNotAllowed, "%s is not allowed on %s; allowed: %s", quote(r.Method), quote(r.URL.Path), allow))
		return
	}
	writeProblem(w, newProblem(CodeNotFound, "no such path: %s", quote(r.URL.Path)))
}

func (s *Server) logRequest(r *http.Request, label string, status int, problem string, elapsed time.Duration) {
	level := slog.LevelInfo
	switch {
	case status >= 500 && status != http.StatusServiceUnavailable:
		level = slog.LevelError
	case status >= 500 && problem != CodeNotLeader:
		level = slog.LevelWarn // a follower's redirect is routine; the rest are worth a look
	case !needsKey(r.URL.Path):
		level = slog.LevelDebug // probes and scrapes come every few seconds
	}
	ctx := r.Context()
	if !s.cfg.Logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("path", label), slog.Int("status", status),
		slog.Duration("elapsed", elapsed), slog.String("remote", r.RemoteAddr),
	}
	if problem != "" {
		attrs = append(attrs, slog.String("code", problem))
	}
	s.cfg.Logger.LogAttrs(ctx, level, "admin request", attrs...)
}

// statusWriter remembers the status and the problem code of an answer.
type statusWriter struct {
	http.ResponseWriter
	status  int
	problem string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headerRecorder catches the status and headers of the mux's 404 and 405
// handlers.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (h *headerRecorder) WriteHeader(code int)        { h.status = code }

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, newProblem(CodeInternal, "encoding the answer failed"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// readBody reads a request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *Problem) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, newProblem(CodeBodyTooLarge, "the body exceeds %d bytes", limit)
	case err != nil:
		return nil, newProblem(CodeInvalidJSON, "reading the body: %v", err)
	}
	return body, nil
}

// readJSON reads a small request body and decodes it strictly into v
// (decodeStrict). It answers the problem itself and reports false when
// the body is too large or not the object v describes.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, p := readBody(w, r, smallBodyBytesMax)
	if p == nil {
		if err := decodeStrict(body, v); err != nil {
			p = newProblem(CodeInvalidJSON, "%s", jsonErrorDetail("body", err))
		}
	}
	if p != nil {
		writeProblem(w, p)
		return false
	}
	return true
}

// problemFor maps an error of the cluster to a problem. write says whether
// the request proposed something: a write whose outcome is unknown must be
// retried by ID, a read that timed out may simply be repeated.
func (s *Server) problemFor(err error, write bool) *Problem {
	var notLeader *replica.NotLeaderError
	switch {
	case errors.As(err, &notLeader):
		return s.notLeader(notLeader.Leader, notLeader.LeaderAddr)
	case errors.Is(err, replica.ErrOverloaded):
		return newProblem(CodeOverloaded, "the node's proposal queue is full; nothing was proposed; retry shortly")
	case errors.Is(err, replica.ErrStopped):
		// Nothing was proposed: leadership ended or the node is stopping.
		st := s.cfg.Cluster.Status()
		if st.Leader == st.ID {
			return s.notLeader("", "")
		}
		return s.notLeader(st.Leader, st.LeaderAddr)
	case write && (errors.Is(err, replica.ErrUnknownOutcome) || errors.Is(err, context.DeadlineExceeded)):
		return newProblem(CodeOutcomeUnknown, "the commands were proposed but their outcome could not be learnt; retry with the same IDs, which is always safe")
	case errors.Is(err, replica.ErrUnknownOutcome), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return newProblem(CodeUnavailable, "the node could not answer in time; retry")
	}
	s.cfg.Logger.Error("admin: cluster call failed", "err", err)
	return newProblem(CodeInternal, "the node failed; see its log")
}

// notLeader builds the not_leader problem, with the leader's addresses
// when one is known.
func (s *Server) notLeader(leaderID, leaderRaftAddr string) *Problem {
	if leaderID == "" {
		return newProblem(CodeNotLeader, "this node is not the leader and no leader is known yet (an election is running); retry shortly")
	}
	p := newProblem(CodeNotLeader, "this node is not the leader; send the request to %s", leaderID)
	p.LeaderID = leaderID
	p.LeaderRaftAddr = leaderRaftAddr
	p.LeaderHTTPAddr = s.cfg.HTTPAddrs[leaderID]
	return p
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 on a leader that serves, and on a follower that knows
// its leader and has applied within readyLagEntriesMax entries of its
// commit index.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	st := s.cfg.Cluster.Status()
	switch {
	case st.Ready:
	case st.Leader == "":
		writeProblem(w, newProblem(CodeNotReady, "no leader is known"))
		return
	case st.Leader == st.ID:
		writeProblem(w, newProblem(CodeNotReady, "elected leader, still applying the entries of earlier terms"))
		return
	case st.CommitIndex > st.AppliedIndex && st.CommitIndex-st.AppliedIndex > readyLagEntriesMax:
		writeProblem(w, newProblem(CodeNotReady, "applied index %d is more than %d entries behind commit index %d",
			st.AppliedIndex, readyLagEntriesMax, st.CommitIndex))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) postCommands(w http.ResponseWriter, r *http.Request) {
	body, p := readBody(w, r, commandsBodyBytesMax)
	if p != nil {
		writeProblem(w, p)
		return
	}
	cmds, p := decodeCommands(body)
	if p == nil {
		p = s.checkLimitCurrencies(cmds)
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	results, err := s.cfg.Cluster.Submit(ctx, cmds)
	if err != nil {
		writeProblem(w, s.problemFor(err, true))
		return
	}
	if len(results) != len(cmds) {
		s.cfg.Logger.Error("admin: results do not match commands", "commands", len(cmds), "results", len(results))
		writeProblem(w, newProblem(CodeOutcomeUnknown, "the node answered %d results for %d commands; retry with the same IDs", len(results), len(cmds)))
		return
	}
	out := struct {
		Results []ResultView `json:"results"`
	}{Results: make([]ResultView, len(results))}
	for i, res := range results {
		out.Results[i] = ResultView{Code: res.Code.String(), Timestamp: strconv.FormatUint(res.Timestamp, 10)}
	}
	writeJSON(w, http.StatusOK, out)
}

// checkLimitCurrencies holds set_limit to the account's own currency. The
// ledger's set_limit carries only a number of minor units, so a limit
// written in another currency ("300.00" KES for a JPY account) would be
// applied at the wrong scale. An account's currency never changes, so this
// node's store, or else the account's creation earlier in the request,
// settles it; an account that exists nowhere yet is left to the ledger,
// which answers account_not_found.
func (s *Server) checkLimitCurrencies(cmds []ledger.Command) *Problem {
	created := map[ledger.ID]uint16{} // accounts created earlier in the request
	for i := range cmds {
		c := &cmds[i]
		if c.Op == ledger.OpCreateAccount {
			if _, seen := created[c.Account.ID]; !seen { // a second create is refused
				created[c.Account.ID] = c.Account.Currency
			}
		}
		if c.Op != ledger.OpSetLimit {
			continue
		}
		// The store first: an account that exists there keeps its currency,
		// and a create of it in this request is refused by the ledger.
		var held uint16
		found := false
		err := s.cfg.Cluster.Local(func(st *store.Store) error {
			a, ok, err := st.Account(c.Account.ID)
			held, found = a.Currency, ok
			return err
		})
		if err != nil {
			return s.problemFor(err, false)
		}
		if !found {
			held, found = created[c.Account.ID]
		}
		if found && held != c.Account.Currency {
			return newProblem(CodeInvalidCommand, "commands[%d].account.currency: account %s holds %s, not %s",
				i, c.Account.ID, currencyText(held), currencyText(c.Account.Currency))
		}
	}
	return nil
}

// pathID reads the {id} of a path.
func pathID(r *http.Request) (ledger.ID, *Problem) {
	text := r.PathValue("id")
	id, err := ledger.ParseID(text)
	if err != nil {
		return id, newProblem(CodeInvalidRequest, "path ID %s: want a non-zero decimal number below 2^128, or 0x and up to 32 hex digits", quote(text))
	}
	return id, nil
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	serveRecord(s, w, r, s.cfg.Cluster.Account, CodeAccountNotFound, "account", accountView)
}

func (s *Server) getTransfer(w http.ResponseWriter, r *http.Request) {
	serveRecord(s, w, r, s.cfg.Cluster.Transfer, CodeTransferNotFound, "transfer", transferView)
}

// serveRecord answers a linearizable read of one record by the ID in the
// path: the record's view, its not-found problem, or the read's failure.
func serveRecord[T, V any](s *Server, w http.ResponseWriter, r *http.Request,
	read func(context.Context, ledger.ID) (T, bool, error), notFound, noun string, view func(*T) V) {
	id, p := pathID(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	record, found, err := read(ctx, id)
	switch {
	case err != nil:
		writeProblem(w, s.problemFor(err, false))
	case !found:
		writeProblem(w, newProblem(notFound, "no %s %s", noun, id))
	default:
		writeJSON(w, http.StatusOK, view(&record))
	}
}

// getAccountTransfers lists the transfers that moved money on an account,
// in time order, after a timestamp: the last timestamp of a page asks for
// the next one.
func (s *Server) getAccountTransfers(w http.ResponseWriter, r *http.Request) {
	id, p := pathID(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	after, limit, p := pageParams(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	if err := s.cfg.Cluster.ReadBarrier(ctx); err != nil {
		writeProblem(w, s.problemFor(err, false))
		return
	}
	var page []ledger.Transfer
	found := false
	err := s.cfg.Cluster.Local(func(st *store.Store) error {
		var err error
		if _, found, err = st.Account(id); err != nil || !found {
			return err
		}
		page, err = st.AccountTransfers(id, after, limit)
		return err
	})
	switch {
	case err != nil:
		writeProblem(w, s.problemFor(err, false))
	case !found:
		writeProblem(w, newProblem(CodeAccountNotFound, "no account %s", id))
	default:
		out := struct {
			Transfers []TransferView `json:"transfers"`
		}{Transfers: make([]TransferView, len(page))}
		for i := range page {
			out.Transfers[i] = transferView(&page[i])
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func pageParams(r *http.Request) (after uint64, limit int, p *Problem) {
	q := r.URL.Query()
	limit = transfersPageDefault
	if text := q.Get("after"); text != "" {
		v, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return 0, 0, newProblem(CodeInvalidRequest, "after %s: want a timestamp, a decimal number below 2^64", quote(text))
		}
		after = v
	}
	if text := q.Get("limit"); text != "" {
		v, err := strconv.Atoi(text)
		if err != nil || v < 1 || v > transfersPageMax {
			return 0, 0, newProblem(CodeInvalidRequest, "limit %s: want 1 to %d", quote(text), transfersPageMax)
		}
		limit = v
	}
	return after, limit, nil
}

// StateView is this node's local ledger state, for comparing replicas.
type StateView struct {
	Node         string `json:"node"`
	AppliedIndex string `json:"applied_index"`
	Digest       string `json:"digest"`
	Records      string `json:"records"`
}

// getState reports the store's applied index with the digest of exactly
// that index: the node may apply between the two reads, so they are read
// again until the index holds still.
func (s *Server) getState(w http.ResponseWriter, _ *http.Request) {
	var index uint64
	var digest ledger.Digest
	consistent := false
	err := s.cfg.Cluster.Local(func(st *store.Store) error {
		for range stateReadAttemptsMax {
			index = st.AppliedIndex()
			digest = st.Digest()
			if st.AppliedIndex() == index {
				consistent = true
				return nil
			}
		}
		return nil
	})
	switch {
	case err != nil:
		writeProblem(w, s.problemFor(err, false))
	case !consistent:
		writeProblem(w, newProblem(CodeUnavailable, "the node is applying too fast to read a consistent state; retry"))
	default:
		writeJSON(w, http.StatusOK, StateView{
			Node:         s.cfg.Cluster.Status().ID,
			AppliedIndex: strconv.FormatUint(index, 10),
			Digest:       fmt.Sprintf("%016x", digest.Sum),
			Records:      strconv.FormatUint(digest.Records, 10),
		})
	}
}
