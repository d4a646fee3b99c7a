package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/payswitch/payswitch/adapters/admin"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/replica/clustertest"
	"github.com/payswitch/payswitch/routing"
	"github.com/spf13/pflag"
)

const testAdminKey = "bootstrap-test-admin-key"

// startServe runs `serve` in-process on free loopback ports with args and
// returns its HTTP address and a stop function that waits for it.
func startServe(t *testing.T, dir string, args ...string) (string, func()) {
	t.Helper()
	ports, err := clustertest.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	var f serveFlags
	bindServeFlags(fl, &f)
	args = append([]string{"--data-dir", dir, "--admin-key", testAdminKey,
		"--raft-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--http-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--iso8583-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--log-level", "warn"}, args...)
	if err := fl.Parse(args); err != nil {
		t.Fatal(err)
	}
	peers, err := f.validate(fl)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, io.Discard, io.Discard, f, peers) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop")
		}
	}
	return fmt.Sprintf("http://127.0.0.1:%d", ports[1]), stop
}

func adminCall(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(data, out)
	}
	return resp.StatusCode
}

// TestServeBootstrap: `serve --bootstrap` onboards the example file on a
// first start; participants added and suspended through the admin API
// afterwards survive a restart with the same file, which changes nothing.
func TestServeBootstrap(t *testing.T) {
	dir := t.TempDir()
	file, err := filepath.Abs("../../deploy/examples/participants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base, stop := startServe(t, dir, "--bootstrap", file)
	var list struct {
		Participants []admin.ParticipantView `json:"participants"`
	}
	waitUntil(t, 15*time.Second, "the bootstrap to onboard 4 participants", func() bool {
		return adminCall(t, "GET", base+"/admin/participants", nil, &list) == 200 && len(list.Participants) == 4
	})
	var acct admin.AccountView
	pos := list.Participants[0].Accounts[0]
	// Funding and limits are applied after the participants: wait for both.
	waitUntil(t, 10*time.Second, "Alpha Bank's funding and limit", func() bool {
		return adminCall(t, "GET", base+"/admin/ledger/accounts/"+pos.ID, nil, &acct) == 200 &&
			acct.CreditsPosted == "5000000.00" && acct.Limit == "250000.00"
	})
	if pos.Kind != "position" {
		t.Fatalf("position %+v of %+v", acct, pos)
	}

	// Onboard a wallet and suspend it.
	var pv admin.ParticipantView
	put := map[string]any{"name": "Gamma Wallet", "kind": "wallet", "connection": "rest", "currencies": []string{"KES"}, "api_key": "gamma-api-key-000001"}
	if code := adminCall(t, "PUT", base+"/admin/participants/30001", put, &pv); code != 201 || pv.Status != "active" || !pv.HasAPIKey {
		t.Fatalf("PUT: %d %+v", code, pv)
	}
	if code := adminCall(t, "PUT", base+"/admin/participants/30001", put, &pv); code != 200 {
		t.Fatalf("PUT again: %d", code)
	}
	put["kind"] = "bank"
	var prob admin.Problem
	if code := adminCall(t, "PUT", base+"/admin/participants/30001", put, &prob); code != 409 || prob.Code != admin.CodeKindChanged {
		t.Fatalf("kind change: %d %+v", code, prob)
	}
	put["kind"], put["currencies"] = "wallet", []string{"KES", "XYZ"}
	if code := adminCall(t, "PUT", base+"/admin/participants/30001", put, &prob); code != 400 || !strings.Contains(prob.Detail, "currencies") {
		t.Fatalf("bad currency: %d %+v", code, prob)
	}
	if code := adminCall(t, "POST", base+"/admin/participants/30001/status", map[string]string{"status": "suspended"}, &pv); code != 200 || pv.Status != "suspended" {
		t.Fatalf("suspend: %d %+v", code, pv)
	}
	if code := adminCall(t, "POST", base+"/admin/participants/39999/status", map[string]string{"status": "suspended"}, &prob); code != 404 || prob.Code != admin.CodeParticipantNotFound {
		t.Fatalf("suspend unknown: %d %+v", code, prob)
	}
	// The CLI shows the directory.
	var out bytes.Buffer
	cli := newAdminCommand()
	cli.SetOut(&out)
	cli.SetArgs([]string{"participant", "list", "--node", base, "--admin-key", testAdminKey})
	if err := cli.Execute(); err != nil || !regexp.MustCompile(`30001 +Gamma Wallet +wallet +suspended`).MatchString(out.String()) {
		t.Fatalf("participant list: %v\n%s", err, out.String())
	}
	out.Reset()
	cli = newAdminCommand()
	cli.SetOut(&out)
	cli.SetArgs([]string{"participant", "activate", "30001", "--node", base, "--admin-key", testAdminKey})
	if err := cli.Execute(); err != nil || !strings.Contains(out.String(), "status") || !strings.Contains(out.String(), "active") {
		t.Fatalf("participant activate: %v\n%s", err, out.String())
	}
	cli = newAdminCommand()
	cli.SetOut(io.Discard)
	cli.SetArgs([]string{"participant", "suspend", "30001", "--node", base, "--admin-key", testAdminKey})
	if err := cli.Execute(); err != nil {
		t.Fatal(err)
	}
	var before map[string]any
	adminCall(t, "GET", base+"/admin/routing/state", nil, &before)
	stop()

	base, stop = startServe(t, dir, "--bootstrap", file)
	defer stop()
	var after map[string]any
	waitUntil(t, 15*time.Second, "the restarted node to serve its routing state", func() bool {
		return adminCall(t, "GET", base+"/admin/routing/state", nil, &after) == 200
	})
	time.Sleep(3 * bootstrapPoll) // the bootstrap, had it anything to do, would have done it
	adminCall(t, "GET", base+"/admin/routing/state", nil, &after)
	if after["digest"] != before["digest"] || after["participants"] != float64(5) {
		t.Fatalf("routing state after restart %v, before %v", after, before)
	}
	if code := adminCall(t, "GET", base+"/admin/participants/30001", nil, &pv); code != 200 || pv.Status != "suspended" {
		t.Fatalf("after restart: %d %+v", code, pv)
	}
}

// TestServeBootstrapLeavesOperatorChanges: the operator sets Alpha Bank's
// net debit cap to 0.00 with the admin API's set_limit; a bank is added to
// the file and the node restarted. The new bank is onboarded with its cap
// and funding, and Alpha Bank's cap stays 0.00: re-applying the file used
// to set every cap in it again.
func TestServeBootstrapLeavesOperatorChanges(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile("../../deploy/examples/participants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "participants.yaml")
	if err := os.WriteFile(file, example, 0o644); err != nil {
		t.Fatal(err)
	}
	base, stop := startServe(t, dir, "--bootstrap", file)
	alpha := positionOf(t, base, "10001", "the bootstrap to onboard Alpha Bank")
	var acct admin.AccountView
	waitUntil(t, 10*time.Second, "Alpha Bank's funding and cap", func() bool {
		return adminCall(t, "GET", base+"/admin/ledger/accounts/"+alpha, nil, &acct) == 200 &&
			acct.CreditsPosted == "5000000.00" && acct.Limit == "250000.00"
	})
	setLimit := map[string]any{"commands": []map[string]any{{"op": "set_limit",
		"account": map[string]string{"id": alpha, "currency": "KES", "limit": "0.00"}}}}
	var res struct {
		Results []admin.ResultView `json:"results"`
	}
	if code := adminCall(t, "POST", base+"/admin/ledger/commands", setLimit, &res); code != 200 || len(res.Results) != 1 || res.Results[0].Code != "ok" {
		t.Fatalf("set_limit: %d %+v", code, res)
	}
	stop()

	gamma := "  - id: 10003\n    name: Gamma Bank\n    kind: bank\n    connection: iso8583\n    currencies: [KES]\n" +
		"    mac_key: " + strings.Repeat("03", 32) + "\n    positions:\n      KES: {funding: \"1000.00\", net_debit_cap: \"500.00\"}\n"
	grown := strings.Replace(string(example), "\nlinks:\n", "\n"+gamma+"links:\n", 1)
	if grown == string(example) {
		t.Fatal("the example has no links section to add a bank before")
	}
	if err := os.WriteFile(file, []byte(grown), 0o644); err != nil {
		t.Fatal(err)
	}
	base, stop = startServe(t, dir, "--bootstrap", file)
	defer stop()
	gammaPos := positionOf(t, base, "10003", "the bootstrap to onboard Gamma Bank")
	waitUntil(t, 10*time.Second, "Gamma Bank's funding and cap", func() bool {
		return adminCall(t, "GET", base+"/admin/ledger/accounts/"+gammaPos, nil, &acct) == 200 &&
			acct.CreditsPosted == "1000.00" && acct.Limit == "500.00"
	})
	if code := adminCall(t, "GET", base+"/admin/ledger/accounts/"+alpha, nil, &acct); code != 200 || acct.Limit != "0.00" || acct.CreditsPosted != "5000000.00" {
		t.Fatalf("Alpha Bank's position after the restart: %d %+v; want the operator's cap of 0.00, funded once", code, acct)
	}
}

// positionOf waits for participant id and returns its position's account
// ID.
func positionOf(t *testing.T, base, id, what string) string {
	t.Helper()
	var pv admin.ParticipantView
	waitUntil(t, 15*time.Second, what, func() bool {
		return adminCall(t, "GET", base+"/admin/participants/"+id, nil, &pv) == 200
	})
	for _, a := range pv.Accounts {
		if a.Kind == "position" {
			return a.ID
		}
	}
	t.Fatalf("participant %s has no position: %+v", id, pv)
	return ""
}

// TestServeBootstrapMistake: a bad file stops serve before it starts,
// naming the line and the field.
func TestServeBootstrapMistake(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nparticipants:\n  - id: 7\n    name: X\n    kind: bank\n    connection: iso8583\n    currencies: [KES]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var f serveFlags
	fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	bindServeFlags(fl, &f)
	_ = fl.Parse([]string{"--data-dir", dir, "--bootstrap", path, "--admin-key", testAdminKey})
	err := runServe(context.Background(), io.Discard, io.Discard, f, nil)
	if err == nil || !strings.Contains(err.Error(), "line 3: participants[0].mac_key") {
		t.Fatalf("got %v", err)
	}
}

// TestServeBootstrapCrossEntryMistake: a link to a participant that is
// not in the file stops serve with its line, where it used to start and
// log "bootstrap link 0: participant_unknown" and leave the mandates out.
func TestServeBootstrapCrossEntryMistake(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	file := "version: 1\nparticipants:\n  - {id: 7, name: X, kind: wallet, connection: rest, currencies: [KES]}\n" +
		"links:\n  - {id: \"msisdn:+254700000001\", participant: 8, account: A1}\n"
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	var f serveFlags
	fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	bindServeFlags(fl, &f)
	ports, err := clustertest.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	_ = fl.Parse([]string{"--data-dir", dir, "--bootstrap", path, "--admin-key", testAdminKey,
		"--raft-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--http-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--iso8583-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]), "--log-level", "warn"})
	// Should the check miss the mistake, serve starts: stop it soon.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = runServe(ctx, io.Discard, io.Discard, f, nil)
	if err == nil || !strings.Contains(err.Error(), "line 5: links[0].participant: participant 8 is not one of the file's participants") {
		t.Fatalf("got %v", err)
	}
}

// TestLogBootstrap: a run that fails still logs what it left alone before
// the failing step, and only interruptions are retried.
func TestLogBootstrap(t *testing.T) {
	rep := routing.BootstrapReport{Applied: 2, Skipped: []string{"participant 10001: changed since; the file does not override it"}}
	for _, tc := range []struct {
		name    string
		err     error
		over    bool
		skipped bool
	}{
		{"applied", nil, true, true},
		{"failed", errors.New("bootstrap link 0: participant_not_active"), true, true},
		{"interrupted", fmt.Errorf("bootstrap funding: %w", replica.ErrUnknownOutcome), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, nil))
			if over := logBootstrap(logger, "p.yaml", rep, tc.err); over != tc.over {
				t.Errorf("over = %v, want %v", over, tc.over)
			}
			if got := strings.Contains(buf.String(), "participant 10001: changed since"); got != tc.skipped {
				t.Errorf("skipped logged = %v, want %v:\n%s", got, tc.skipped, buf.String())
			}
			if !strings.Contains(buf.String(), "applied=2") {
				t.Errorf("no counts:\n%s", buf.String())
			}
		})
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPlanAppliedMandateLeftAlone: a node that does not lead counts a
// mandate the leader left alone (its payer does not serve the currency) as
// applied, so it stops waiting; a mandate simply not made yet it does not.
func TestPlanAppliedMandateLeftAlone(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := replica.Open(replica.Config{NodeID: "n1", Dir: t.TempDir(), RaftAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !node.IsLeader(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
	}
	tk, err := routing.NewTokenizer([]byte("bootstrap test secret of 32 byte"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := loadBootstrap("../../deploy/examples/participants.yaml", tk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Apply(ctx, node); err != nil {
		t.Fatal(err)
	}
	if !planApplied(node, plan) {
		t.Fatal("the applied example is not counted as applied")
	}
	absent := *plan
	absent.Mandates = []routing.Command{plan.Mandates[0]}
	absent.Mandates[0].Mandate.ID = "MND-NOT-YET"
	if planApplied(node, &absent) {
		t.Fatal("a mandate not made yet, in a currency its payer serves, counts as applied")
	}
	absent.Mandates[0].Mandate.Currency = 840 // its payer serves no USD
	if !planApplied(node, &absent) {
		t.Fatal("a mandate the leader leaves alone keeps a follower waiting")
	}
}
