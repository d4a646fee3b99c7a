package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/payswitch/payswitch/adapters/admin"
	"github.com/spf13/cobra"
)

// adminAnswerBytesMax bounds what the CLI reads of one answer.
const adminAnswerBytesMax = 8 << 20

type adminFlags struct {
	node    string
	key     string
	keyFile string
	json    bool
	timeout time.Duration
}

func newAdminCommand() *cobra.Command {
	var f adminFlags
	cmd := newCommandGroup("admin", "Operate a running cluster through a node's admin API")
	cmd.Long = `Talks to the admin API of a running 'payswitch serve' node. The admin key
comes from --admin-key, else $` + adminKeyEnv + `, else --admin-key-file. A node that
is not the leader answers with the leader's address, and the request is
sent there once. --json prints the node's raw answer.`
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.node, "node", "http://127.0.0.1:8080", "the node's admin API URL (or host:port)")
	pf.StringVar(&f.key, "admin-key", "", "the admin key (default $"+adminKeyEnv+", else --admin-key-file)")
	pf.StringVar(&f.keyFile, "admin-key-file", filepath.Join("data", adminKeyFile), "file holding the admin key")
	pf.BoolVar(&f.json, "json", false, "print the raw JSON answer")
	pf.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up on the node after this long")

	cluster := newCommandGroup("cluster", "Cluster status and membership")
	cluster.AddCommand(
		adminSubcommand(&f, "status", "Show the node's view of the cluster", cobra.NoArgs,
			func(c *adminClient, _ []string) error { return c.clusterStatus() }),
		newAddVoterCommand(&f),
		newRemoveVoterCommand(&f),
		adminSubcommand(&f, "snapshot", "Take a snapshot on the node now", cobra.NoArgs,
			func(c *adminClient, _ []string) error { return c.snapshot() }),
	)
	account := newCommandGroup("account", "Ledger accounts")
	account.AddCommand(adminSubcommand(&f, "get ID", "Show an account and its balances (read on the leader)", cobra.ExactArgs(1),
		func(c *adminClient, args []string) error { return c.account(args[0]) }))
	transfer := newCommandGroup("transfer", "Ledger transfers")
	transfer.AddCommand(adminSubcommand(&f, "get ID", "Show a transfer (read on the leader)", cobra.ExactArgs(1),
		func(c *adminClient, args []string) error { return c.transfer(args[0]) }))
	participant := newCommandGroup("participant", "The participant directory")
	participant.AddCommand(
		adminSubcommand(&f, "list", "List the participants", cobra.NoArgs,
			func(c *adminClient, _ []string) error { return c.participants() }),
		adminSubcommand(&f, "get ID", "Show a participant and its ledger accounts", cobra.ExactArgs(1),
			func(c *adminClient, args []string) error { return c.participant(args[0]) }),
	)
	for _, st := range []struct{ verb, status, short string }{
		{"suspend", "suspended", "Suspend a participant: no new payments from or to it; those in flight finish"},
		{"activate", "active", "Reactivate a suspended participant"},
		{"close", "closed", "Close a participant for good"},
	} {
		participant.AddCommand(adminSubcommand(&f, st.verb+" ID", st.short, cobra.ExactArgs(1),
			func(c *adminClient, args []string) error { return c.setParticipantStatus(args[0], st.status) }))
	}
	cmd.AddCommand(cluster, account, transfer, participant)
	return cmd
}

func adminSubcommand(f *adminFlags, use, short string, args cobra.PositionalArgs, run func(*adminClient, []string) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAdminClient(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return run(c, args)
		},
	}
}

func newAddVoterCommand(f *adminFlags) *cobra.Command {
	var id, raftAddr string
	cmd := adminSubcommand(f, "add-voter", "Add a node (started with --join) as a voter", cobra.NoArgs,
		func(c *adminClient, _ []string) error { return c.addVoter(id, raftAddr) })
	cmd.Flags().StringVar(&id, "id", "", "the new node's --node-id")
	cmd.Flags().StringVar(&raftAddr, "raft-addr", "", "the new node's --raft-addr")
	_ = cmd.MarkFlagRequired("id")
	_ = cmd.MarkFlagRequired("raft-addr")
	return cmd
}

func newRemoveVoterCommand(f *adminFlags) *cobra.Command {
	var id string
	cmd := adminSubcommand(f, "remove-voter", "Remove a node from the cluster", cobra.NoArgs,
		func(c *adminClient, _ []string) error { return c.removeVoter(id) })
	cmd.Flags().StringVar(&id, "id", "", "the node's ID")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

// adminClient sends one request at a time to a node's admin API.
type adminClient struct {
	ctx  context.Context
	base string
	key  string
	json bool
	out  io.Writer
	errs io.Writer // notices, such as following the leader
	http *http.Client
}

func newAdminClient(ctx context.Context, f *adminFlags, out, errs io.Writer) (*adminClient, error) {
	base, err := nodeURL(f.node)
	if err != nil {
		return nil, fmt.Errorf("--node: %w", err)
	}
	key, err := adminKeyForClient(f)
	if err != nil {
		return nil, err
	}
	return &adminClient{ctx: ctx, base: base, key: key, json: f.json, out: out, errs: errs, http: &http.Client{Timeout: f.timeout}}, nil
}

// nodeURL accepts a URL or a bare host:port.
func nodeURL(text string) (string, error) {
	if !strings.Contains(text, "://") {
		text = "http://" + text
	}
	u, err := url.Parse(text)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q: want http://host:port", text)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// adminKeyForClient finds the admin key: --admin-key, else the
// environment, else the key file. White space around the key is dropped
// wherever it comes from: a key set with $(cat admin.key) or pasted with
// its newline is the same key (the server refuses keys that begin or end
// with white space), and a newline in the Authorization header made the
// request fail with Go's "invalid header field value". A control
// character inside the key cannot be sent at all, and says so.
func adminKeyForClient(f *adminFlags) (string, error) {
	key, source := strings.TrimSpace(f.key), "--admin-key"
	if key == "" {
		key, source = strings.TrimSpace(os.Getenv(adminKeyEnv)), "$"+adminKeyEnv
	}
	var err error
	if key == "" {
		var data []byte
		data, err = os.ReadFile(f.keyFile)
		key, source = strings.TrimSpace(string(data)), f.keyFile
	}
	if key == "" {
		return "", fmt.Errorf("no admin key: pass --admin-key, set $%s, or point --admin-key-file at the node's admin.key (%s: %v)",
			adminKeyEnv, f.keyFile, err)
	}
	if i := strings.IndexFunc(key, unicode.IsControl); i >= 0 {
		return "", fmt.Errorf("the admin key from %s contains a control character (%U at byte %d); an HTTP header cannot carry it", source, []rune(key[i:])[0], i)
	}
	return key, nil
}

// call sends a request and decodes the answer into out, or prints it raw
// with --json. A not_leader answer that names the leader's HTTP address
// is followed once.
func (c *adminClient) call(method, path string, body any, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	base := c.base
	for attempt := 0; ; attempt++ {
		status, data, err := c.send(method, base+path, payload)
		if err != nil {
			return err
		}
		if status == http.StatusOK {
			if c.json {
				return c.printRaw(data)
			}
			return json.Unmarshal(data, out)
		}
		var p admin.Problem
		if json.Unmarshal(data, &p) != nil || p.Code == "" {
			return fmt.Errorf("%s %s: HTTP %d: %s", method, base+path, status, bytes.TrimSpace(data))
		}
		if p.Code == admin.CodeNotLeader && p.LeaderHTTPAddr != "" && attempt == 0 {
			base = "http://" + p.LeaderHTTPAddr
			fmt.Fprintf(c.errs, "%s is not the leader; asking %s at %s\n", c.base, p.LeaderID, base)
			continue
		}
		if c.json {
			_ = c.printRaw(data)
		}
		return &p
	}
}

func (c *adminClient) send(method, target string, payload []byte) (int, []byte, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, target, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, adminAnswerBytesMax))
	return resp.StatusCode, data, err
}

func (c *adminClient) printRaw(data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		buf.Reset()
		buf.Write(data)
	}
	buf.WriteByte('\n')
	_, err := c.out.Write(buf.Bytes())
	return err
}

func (c *adminClient) clusterStatus() error {
	var v admin.ClusterView
	if err := c.call("GET", "/admin/cluster", nil, &v); err != nil || c.json {
		return err
	}
	n := v.Node
	ready := ""
	if n.Ready {
		ready = ", serving"
	}
	fmt.Fprintf(c.out, "node %s: %s%s, term %s, commit index %s, applied index %s\n",
		n.ID, n.State, ready, n.Term, n.CommitIndex, n.AppliedIndex)
	if n.LeaderID == "" {
		fmt.Fprintln(c.out, "leader: none known (an election is running)")
	} else {
		fmt.Fprintf(c.out, "leader: %s (raft %s, http %s)\n", n.LeaderID, n.LeaderRaftAddr, orDash(n.LeaderHTTPAddr))
	}
	c.printServers(v.Servers, n.LeaderID)
	return nil
}

func (c *adminClient) printServers(servers []admin.ServerView, leader string) {
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRAFT\tHTTP\tROLE")
	for _, s := range servers {
		role := "voter"
		if s.ID == leader {
			role = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.RaftAddr, orDash(s.HTTPAddr), role)
	}
	_ = tw.Flush()
}

func (c *adminClient) addVoter(id, raftAddr string) error {
	var v admin.ServersView
	if err := c.call("POST", "/admin/cluster/voters", map[string]string{"id": id, "raft_addr": raftAddr}, &v); err != nil || c.json {
		return err
	}
	fmt.Fprintf(c.out, "added %s (%s); the cluster now has %d voters:\n", id, raftAddr, len(v.Servers))
	c.printServers(v.Servers, "")
	return nil
}

func (c *adminClient) removeVoter(id string) error {
	var v admin.ServersView
	if err := c.call("DELETE", "/admin/cluster/voters/"+url.PathEscape(id), nil, &v); err != nil || c.json {
		return err
	}
	fmt.Fprintf(c.out, "removed %s; the cluster now has %d voters:\n", id, len(v.Servers))
	c.printServers(v.Servers, "")
	return nil
}

func (c *adminClient) snapshot() error {
	var v admin.SnapshotView
	if err := c.call("POST", "/admin/cluster/snapshot", nil, &v); err != nil || c.json {
		return err
	}
	fmt.Fprintf(c.out, "snapshot taken on %s at applied index %s\n", v.Node, v.AppliedIndex)
	return nil
}

func (c *adminClient) account(id string) error {
	var a admin.AccountView
	if err := c.call("GET", "/admin/ledger/accounts/"+url.PathEscape(id), nil, &a); err != nil || c.json {
		return err
	}
	rows := [][2]string{
		{"participant", a.Participant}, {"currency", a.Currency}, {"kind", a.Kind},
		{"flags", orDash(strings.Join(a.Flags, ", "))}, {"limit", a.Limit},
		{"debits pending", a.DebitsPending}, {"debits posted", a.DebitsPosted},
		{"credits pending", a.CreditsPending}, {"credits posted", a.CreditsPosted},
		{"user ref", a.UserRef}, {"created", timestampText(a.Timestamp)},
	}
	return c.printRecord("account "+a.ID, rows)
}

func (c *adminClient) transfer(id string) error {
	var t admin.TransferView
	if err := c.call("GET", "/admin/ledger/transfers/"+url.PathEscape(id), nil, &t); err != nil || c.json {
		return err
	}
	amount := strings.TrimSpace(t.Amount + " " + t.Currency)
	rows := [][2]string{
		{"status", t.Status}, {"result", t.Result}, {"amount", orDash(amount)},
		{"debit account", orDash(t.DebitAccount)}, {"credit account", orDash(t.CreditAccount)},
		{"flags", orDash(strings.Join(t.Flags, ", "))}, {"pending id", orDash(t.PendingID)},
		{"timeout", strconv.FormatUint(uint64(t.Timeout), 10) + " s"}, {"code", strconv.Itoa(int(t.Code))},
		{"user ref", orDash(t.UserRef)}, {"time", timestampText(t.Timestamp)},
	}
	return c.printRecord("transfer "+t.ID, rows)
}

func (c *adminClient) participants() error {
	var v struct {
		Participants []admin.ParticipantView `json:"participants"`
	}
	if err := c.call("GET", "/admin/participants", nil, &v); err != nil || c.json {
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tSTATUS\tCONNECTION\tCURRENCIES")
	for _, p := range v.Participants {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Kind, p.Status, p.Connection, strings.Join(p.Currencies, ","))
	}
	return tw.Flush()
}

func (c *adminClient) participant(id string) error {
	var p admin.ParticipantView
	if err := c.call("GET", "/admin/participants/"+url.PathEscape(id), nil, &p); err != nil || c.json {
		return err
	}
	return c.printParticipant(&p)
}

func (c *adminClient) setParticipantStatus(id, status string) error {
	var p admin.ParticipantView
	if err := c.call("POST", "/admin/participants/"+url.PathEscape(id)+"/status", map[string]string{"status": status}, &p); err != nil || c.json {
		return err
	}
	return c.printParticipant(&p)
}

func (c *adminClient) printParticipant(p *admin.ParticipantView) error {
	rows := [][2]string{
		{"name", p.Name}, {"kind", p.Kind}, {"status", p.Status}, {"connection", p.Connection},
		{"currencies", strings.Join(p.Currencies, ", ")}, {"webhook", orDash(p.WebhookURL)},
		{"mac key", strconv.FormatBool(p.HasMACKey)}, {"api key", strconv.FormatBool(p.HasAPIKey)},
		{"created", timestampText(p.Created)}, {"updated", timestampText(p.Updated)},
	}
	for _, a := range p.Accounts {
		label := a.Kind + " " + a.Currency
		if a.Program != 0 {
			label += " program " + strconv.Itoa(int(a.Program))
		}
		rows = append(rows, [2]string{"account " + label, a.ID})
	}
	return c.printRecord("participant "+p.ID, rows)
}

func (c *adminClient) printRecord(title string, rows [][2]string) error {
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, title)
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// timestampText shows a ledger timestamp (ns since the Unix epoch) as UTC
// time, keeping the exact value.
func timestampText(text string) string {
	ns, err := strconv.ParseInt(text, 10, 64)
	if err != nil || ns <= 0 {
		return text
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) + " (" + text + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
