package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/routing"
)

// commands wraps command objects into a request body.
func commands(cmds ...string) string {
	return `{"commands":[` + strings.Join(cmds, ",") + `]}`
}

const (
	cmdExpire = `{"op":"expire"}`
	cmdHub    = `{"op":"create_account","account":{"id":"1","participant":"1","currency":"KES","kind":"settlement"}}`
	cmdBankA  = `{"op":"create_account","account":{"id":"1001","participant":"10001","currency":"KES","kind":"position",
		"flags":["debits_must_not_exceed_credits"],"limit":"100.00","user_ref":"0"}}`
	cmdBankB = `{"op":"create_account","account":{"id":"1002","participant":"10002","currency":"KES","kind":"position",
		"flags":["debits_must_not_exceed_credits"],"limit":"0"}}`
)

func transferCmd(fields string) string {
	return `{"op":"create_transfer","transfer":{` + fields + `}}`
}

type problemCase struct {
	name       string
	method     string
	path       string
	body       string
	auth       string // "" sends the right key; "-" sends none
	wantCode   string
	wantDetail string // a substring of the detail
}

// TestProblems answers one request per row and checks its problem. The
// first table runs against a real one-node cluster; the second against a
// fake cluster for the failures a healthy node does not show on demand.
// Together they cover every problem code.
func TestProblems(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	_, real := startLeader(t)
	real.submit(commands(cmdHub, cmdBankA, `{"op":"create_account","account":{"id":"2001","participant":"2","currency":"JPY","kind":"position"}}`))
	runProblemCases(t, real, seen, []problemCase{
		{name: "no key", method: "GET", path: "/admin/cluster", auth: "-", wantCode: CodeUnauthorized, wantDetail: "Bearer"},
		{name: "wrong key", method: "GET", path: "/admin/ledger/state", auth: "Bearer nope-nope-nope-nope", wantCode: CodeUnauthorized, wantDetail: "does not match"},
		{name: "basic scheme", method: "GET", path: "/admin/cluster", auth: "Basic " + testKey, wantCode: CodeUnauthorized, wantDetail: "Bearer scheme"},
		{name: "unknown admin path without key", method: "GET", path: "/admin/secret", auth: "-", wantCode: CodeUnauthorized},
		{name: "not json", method: "POST", path: "/admin/ledger/commands", body: `{"commands":`, wantCode: CodeInvalidJSON, wantDetail: "body:"},
		{name: "empty body", method: "POST", path: "/admin/ledger/commands", wantCode: CodeInvalidJSON, wantDetail: "empty"},
		{name: "array body", method: "POST", path: "/admin/ledger/commands", body: `[]`, wantCode: CodeInvalidJSON},
		{name: "unknown top-level field", method: "POST", path: "/admin/ledger/commands", body: `{"commands":[{"op":"expire"}],"dry_run":true}`, wantCode: CodeInvalidJSON, wantDetail: "dry_run"},
		{name: "top-level field in other case", method: "POST", path: "/admin/ledger/commands", body: `{"Commands":[{"op":"expire"}]}`,
			wantCode: CodeInvalidJSON, wantDetail: `body: unknown field "Commands"; names are case-sensitive: did you mean "commands"?`},
		{name: "repeated top-level field", method: "POST", path: "/admin/ledger/commands", body: `{"commands":[{"op":"expire"}],"commands":[]}`,
			wantCode: CodeInvalidJSON, wantDetail: `body: field "commands" appears more than once`},
		{name: "null body", method: "POST", path: "/admin/ledger/commands", body: `null`, wantCode: CodeInvalidJSON, wantDetail: "body: want an object, got null"},
		{name: "amount twice in other case", method: "POST", path: "/admin/ledger/commands",
			body:     commands(cmdExpire, transferCmd(`"id":"7","debit_account":"1","credit_account":"1001","amount":"1.00","AMOUNT":"900.00","currency":"KES","code":1`)),
			wantCode: CodeInvalidCommand, wantDetail: `commands[1].transfer: unknown field "AMOUNT"`},
		{name: "voter field in other case", method: "POST", path: "/admin/cluster/voters", body: `{"id":"n9","raft_addr":"127.0.0.1:1","Raft_Addr":"127.0.0.1:2"}`,
			wantCode: CodeInvalidJSON, wantDetail: `body: unknown field "Raft_Addr"`},
		{name: "trailing data", method: "POST", path: "/admin/ledger/commands", body: commands(cmdExpire) + `{}`, wantCode: CodeInvalidJSON, wantDetail: "trailing"},
		{name: "too precise amount", method: "POST", path: "/admin/ledger/commands",
			body:       commands(cmdExpire, cmdExpire, cmdExpire, transferCmd(`"id":"7","debit_account":"1","credit_account":"1001","amount":"1.005","currency":"KES"`)),
			wantCode:   CodeInvalidCommand,
			wantDetail: `commands[3].transfer.amount: "1.005" has 3 decimals, KES allows 2`},
		{name: "no commands", method: "POST", path: "/admin/ledger/commands", body: commands(), wantCode: CodeInvalidCommand, wantDetail: "send 1 to 4096"},
		{name: "unknown currency", method: "POST", path: "/admin/ledger/commands",
			body: commands(transferCmd(`"id":"7","amount":"1","currency":"XXX"`)), wantCode: CodeInvalidCommand, wantDetail: `commands[0].transfer.currency: "XXX"`},
		{name: "set_limit in another currency", method: "POST", path: "/admin/ledger/commands",
			body:     commands(`{"op":"set_limit","account":{"id":"2001","limit":"300.00","currency":"KES"}}`),
			wantCode: CodeInvalidCommand, wantDetail: "commands[0].account.currency: account 2001 holds JPY, not KES"},
		{name: "set_limit in another currency than its create", method: "POST", path: "/admin/ledger/commands",
			body: commands(`{"op":"create_account","account":{"id":"3001","participant":"3","currency":"BHD","kind":"hub"}}`,
				`{"op":"set_limit","account":{"id":"3001","limit":"1.00","currency":"KES"}}`),
			wantCode: CodeInvalidCommand, wantDetail: "commands[1].account.currency: account 3001 holds BHD, not KES"},
		{name: "set_limit against the store, not a refused create", method: "POST", path: "/admin/ledger/commands",
			body: commands(`{"op":"create_account","account":{"id":"2001","participant":"2","currency":"KES","kind":"position"}}`,
				`{"op":"set_limit","account":{"id":"2001","limit":"1.00","currency":"KES"}}`),
			wantCode: CodeInvalidCommand, wantDetail: "commands[1].account.currency: account 2001 holds JPY, not KES"},
		{name: "too many commands", method: "POST", path: "/admin/ledger/commands",
			body: commands(slices.Repeat([]string{cmdExpire}, commandsPerRequestMax+1)...), wantCode: CodeTooManyCommands, wantDetail: "4097 commands"},
		{name: "body too large", method: "POST", path: "/admin/ledger/commands",
			body: `{"commands":[` + strings.Repeat(" ", commandsBodyBytesMax) + `]}`, wantCode: CodeBodyTooLarge},
		{name: "huge number", method: "POST", path: "/admin/ledger/commands",
			body:     commands(transferCmd(`"id":"7","code":` + strings.Repeat("7", 3<<20))),
			wantCode: CodeInvalidCommand, wantDetail: "commands[0].transfer.code: want a whole number from 0 to 65535, got a JSON number " + strings.Repeat("7", quotedInputLenMax) + "..."},
		{name: "huge unknown field", method: "POST", path: "/admin/ledger/commands",
			body:     commands(transferCmd(`"id":"7","` + strings.Repeat("k", 3<<20) + `":1`)),
			wantCode: CodeInvalidCommand, wantDetail: `commands[0].transfer: unknown field "` + strings.Repeat("k", quotedInputLenMax) + `"...`},
		{name: "huge unknown top-level field", method: "POST", path: "/admin/ledger/commands",
			body:     `{"` + strings.Repeat("k", 3<<20) + `":1}`,
			wantCode: CodeInvalidJSON, wantDetail: `body: unknown field "` + strings.Repeat("k", quotedInputLenMax) + `"...`},
		{name: "huge method", method: strings.Repeat("X", 100<<10), path: "/healthz", wantCode: CodeMethodNotAllowed, wantDetail: `"` + strings.Repeat("X", quotedInputLenMax) + `"...`},
		{name: "huge voter address", method: "POST", path: "/admin/cluster/voters", body: `{"id":"n9","raft_addr":"` + strings.Repeat("h", 60<<10) + `:7000"}`,
			wantCode: CodeInvalidRequest, wantDetail: `raft_addr "` + strings.Repeat("h", quotedInputLenMax) + `"...`},
		{name: "bad path ID", method: "GET", path: "/admin/ledger/accounts/12ab", wantCode: CodeInvalidRequest, wantDetail: `"12ab"`},
		{name: "bad page limit", method: "GET", path: "/admin/ledger/accounts/1001/transfers?limit=1001", wantCode: CodeInvalidRequest, wantDetail: "limit"},
		{name: "bad voter", method: "POST", path: "/admin/cluster/voters", body: `{"id":"n9","raft_addr":"nowhere"}`, wantCode: CodeInvalidRequest, wantDetail: "raft_addr"},
		{name: "dead voter", method: "POST", path: "/admin/cluster/voters", body: `{"id":"n9","raft_addr":"127.0.0.1:1"}`, wantCode: CodeVoterUnreachable, wantDetail: `"127.0.0.1:1" does not answer (connection refused)`},
		{name: "no account", method: "GET", path: "/admin/ledger/accounts/404", wantCode: CodeAccountNotFound, wantDetail: "404"},
		{name: "no account for history", method: "GET", path: "/admin/ledger/accounts/404/transfers", wantCode: CodeAccountNotFound},
		{name: "no transfer", method: "GET", path: "/admin/ledger/transfers/0x1f", wantCode: CodeTransferNotFound, wantDetail: "31"},
		{name: "no server", method: "DELETE", path: "/admin/cluster/voters/n9", wantCode: CodeServerNotFound},
		{name: "no such path", method: "GET", path: "/nope", wantCode: CodeNotFound},
		{name: "no such admin path", method: "GET", path: "/admin/ledger", wantCode: CodeNotFound},
		{name: "wrong method", method: "DELETE", path: "/healthz", wantCode: CodeMethodNotAllowed, wantDetail: "allowed: GET, HEAD"},
		{name: "wrong admin method", method: "GET", path: "/admin/ledger/commands", wantCode: CodeMethodNotAllowed, wantDetail: "POST"},
	})

	// The participant directory.
	conflict := idText(routing.PositionAccount(77, 404))
	real.submit(commands(`{"op":"create_account","account":{"id":"` + conflict + `","participant":"1","currency":"KES","kind":"position"}}`))
	const wallet = `{"name":"W","kind":"wallet","connection":"rest","currencies":["KES","UGX"]}`
	for _, id := range []string{"5", "6"} {
		if a := real.do("PUT", "/admin/participants/"+id, wallet); a.status != 201 {
			t.Fatalf("onboard %s: %d %s", id, a.status, a.body)
		}
	}
	real.ok("POST", "/admin/participants/6/status", `{"status":"closed"}`, nil)
	runProblemCases(t, real, seen, []problemCase{
		{name: "no participant", method: "GET", path: "/admin/participants/404", wantCode: CodeParticipantNotFound, wantDetail: "404"},
		{name: "bad participant id", method: "GET", path: "/admin/participants/0", wantCode: CodeInvalidRequest, wantDetail: "1 to 11 digits"},
		{name: "bad participant", method: "PUT", path: "/admin/participants/7", body: `{"name":"X","kind":"bank","connection":"iso8583","currencies":["KES"]}`, wantCode: CodeInvalidRequest, wantDetail: "mac_key: required"},
		{name: "positions by API", method: "PUT", path: "/admin/participants/7", body: `{"positions":{"KES":{"funding":"1.00"}}}`, wantCode: CodeInvalidRequest, wantDetail: "bootstrap-file only"},
		{name: "unknown participant field", method: "PUT", path: "/admin/participants/7", body: `{"nmae":"X"}`, wantCode: CodeInvalidJSON, wantDetail: "nmae"},
		{name: "participant name in other case", method: "PUT", path: "/admin/participants/5", body: `{"name":"W","Name":"Y","kind":"wallet","connection":"rest","currencies":["KES","UGX"]}`,
			wantCode: CodeInvalidJSON, wantDetail: `body: unknown field "Name"; names are case-sensitive: did you mean "name"?`},
		{name: "participant id as a string", method: "PUT", path: "/admin/participants/30001", body: `{"id":"30001"}`,
			wantCode: CodeInvalidJSON, wantDetail: "body.id: want a whole number from 0 to 18446744073709551615, got a JSON string"},
		{name: "program as a string", method: "PUT", path: "/admin/participants/30001", body: `{"programs":[7,"8"]}`,
			wantCode: CodeInvalidJSON, wantDetail: "body.programs[1]: want a whole number from 0 to 65535, got a JSON string"},
		{name: "empty participant", method: "PUT", path: "/admin/participants/30001", body: `{}`,
			wantCode: CodeInvalidRequest, wantDetail: "name: required; kind: required; connection: required; currencies: required"},
		{name: "participant without kind", method: "PUT", path: "/admin/participants/30001", body: `{"name":"\u0007","connection":"iso8583","currencies":["KES","XXX"]}`,
			wantCode: CodeInvalidRequest, wantDetail: `kind: required; currencies: "XXX" is not an ISO 4217 code; name: want 1 to 64 printable characters; mac_key: required`},
		{name: "null participant", method: "PUT", path: "/admin/participants/30001", body: `null`, wantCode: CodeInvalidJSON, wantDetail: "body: want an object, got null"},
		{name: "huge currency", method: "PUT", path: "/admin/participants/7", body: `{"name":"X","kind":"wallet","connection":"rest","currencies":["` + strings.Repeat("Z", 60<<10) + `"]}`,
			wantCode: CodeInvalidRequest, wantDetail: `currencies: "` + strings.Repeat("Z", quotedInputLenMax) + `..." is not an ISO 4217 code`},
		{name: "participant name twice", method: "PUT", path: "/admin/participants/5", body: `{"name":"W","kind":"wallet","connection":"rest","currencies":["KES","UGX"],"name":"Y"}`,
			wantCode: CodeInvalidJSON, wantDetail: `body: field "name" appears more than once`},
		{name: "program budgets by API", method: "PUT", path: "/admin/participants/7", body: `{"program_budgets":null}`, wantCode: CodeInvalidRequest, wantDetail: "bootstrap-file only"},
		{name: "status twice", method: "POST", path: "/admin/participants/5/status", body: `{"status":"suspended","status":"active"}`,
			wantCode: CodeInvalidJSON, wantDetail: `body: field "status" appears more than once`},
		{name: "bad status", method: "POST", path: "/admin/participants/5/status", body: `{"status":"asleep"}`, wantCode: CodeInvalidRequest, wantDetail: "asleep"},
		{name: "status of no participant", method: "POST", path: "/admin/participants/404/status", body: `{"status":"suspended"}`, wantCode: CodeParticipantNotFound},
		{name: "currency removed", method: "PUT", path: "/admin/participants/5", body: `{"name":"W","kind":"wallet","connection":"rest","currencies":["KES"]}`, wantCode: CodeCurrenciesRemoved},
		{name: "kind changed", method: "PUT", path: "/admin/participants/5", body: `{"name":"W","kind":"government","connection":"rest","currencies":["KES","UGX"]}`, wantCode: CodeKindChanged},
		{name: "closed", method: "POST", path: "/admin/participants/6/status", body: `{"status":"active"}`, wantCode: CodeParticipantClosed},
		{name: "account conflict", method: "PUT", path: "/admin/participants/77", body: wallet, wantCode: CodeAccountConflict},
	})

	fake := func(f *fakeCluster) *client {
		if f.status.ID == "" {
			f.status = replica.Status{ID: "n1", State: "Follower", Leader: "n2", LeaderAddr: "127.0.0.1:7002"}
		}
		return serve(t, Config{Cluster: f, HTTPAddrs: map[string]string{"n1": "127.0.0.1:8001", "n2": "127.0.0.1:8002"}})
	}
	notLeader := &replica.NotLeaderError{Leader: "n2", LeaderAddr: "127.0.0.1:7002"}
	leading := replica.Status{ID: "n1", State: "Leader", Leader: "n1", Ready: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a voter that answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	listening := ln.Addr().String()
	for _, c := range []struct {
		cluster *fakeCluster
		problemCase
	}{
		{&fakeCluster{submitErr: notLeader}, problemCase{name: "follower write", method: "POST", path: "/admin/ledger/commands", body: commands(cmdExpire), wantCode: CodeNotLeader}},
		{&fakeCluster{submitErr: replica.ErrOverloaded}, problemCase{name: "full queue", method: "POST", path: "/admin/ledger/commands", body: commands(cmdExpire), wantCode: CodeOverloaded}},
		{&fakeCluster{submitErr: fmt.Errorf("%w: leadership lost", replica.ErrUnknownOutcome)}, problemCase{name: "lost outcome", method: "POST", path: "/admin/ledger/commands", body: commands(cmdExpire), wantCode: CodeOutcomeUnknown, wantDetail: "same IDs"}},
		{&fakeCluster{readErr: replica.ErrUnknownOutcome}, problemCase{name: "slow read", method: "GET", path: "/admin/ledger/accounts/1", wantCode: CodeUnavailable}},
		{&fakeCluster{submitErr: errors.New("disk on fire")}, problemCase{name: "broken node", method: "POST", path: "/admin/ledger/commands", body: commands(cmdExpire), wantCode: CodeInternal}},
		{&fakeCluster{status: replica.Status{ID: "n1", State: "Candidate"}}, problemCase{name: "no leader", method: "GET", path: "/readyz", wantCode: CodeNotReady, wantDetail: "no leader"}},
		{&fakeCluster{changeErr: errors.New("configuration changed since 7 (latest is 9)"), status: leading}, problemCase{name: "raft refuses change", method: "POST", path: "/admin/cluster/voters", body: `{"id":"n4","raft_addr":"` + listening + `"}`, wantCode: CodeMembershipFailed, wantDetail: "configuration changed"}},
		{&fakeCluster{snapshotErr: errors.New("nothing new to snapshot")}, problemCase{name: "snapshot refused", method: "POST", path: "/admin/cluster/snapshot", wantCode: CodeSnapshotFailed, wantDetail: "nothing new"}},
	} {
		runProblemCases(t, fake(c.cluster), seen, []problemCase{c.problemCase})
	}
	if missing := slices.DeleteFunc(slices.Sorted(maps.Keys(problemKinds)), func(code string) bool { return seen[code] }); len(missing) > 0 {
		t.Errorf("problem codes without a row: %v", missing)
	}
}

func runProblemCases(t *testing.T, c *client, seen map[string]bool, cases []problemCase) {
	t.Helper()
	for _, tc := range cases {
		auth := "Bearer " + c.key
		switch tc.auth {
		case "":
		case "-":
			auth = ""
		default:
			auth = tc.auth
		}
		a := c.doAuth(tc.method, tc.path, tc.body, auth)
		p := a.problem(t)
		// However much a client sends, a detail repeats at most
		// quotedInputLenMax bytes of any of its text.
		if len(a.body) > 1<<10 {
			t.Errorf("%s: a problem of %d bytes: %.200s...", tc.name, len(a.body), a.body)
		}
		if p.Code != tc.wantCode || !strings.Contains(p.Detail, tc.wantDetail) {
			t.Errorf("%s: got %d %s %q, want code %s with detail containing %q", tc.name, p.Status, p.Code, p.Detail, tc.wantCode, tc.wantDetail)
		}
		if p.Status == http.StatusServiceUnavailable && a.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", tc.name)
		}
		if p.Code == CodeNotLeader && (p.LeaderID != "n2" || p.LeaderRaftAddr != "127.0.0.1:7002" || p.LeaderHTTPAddr != "127.0.0.1:8002") {
			t.Errorf("%s: leader fields %+v", tc.name, p)
		}
		seen[p.Code] = true
	}
}

// TestAuth checks which paths need the key and how the key is read.
func TestAuth(t *testing.T) {
	t.Parallel()
	c := serve(t, Config{Cluster: &fakeCluster{status: replica.Status{ID: "n1", State: "Leader", Leader: "n1", Ready: true}}})
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/healthz", "", http.StatusOK},
		{"/readyz", "", http.StatusOK},
		{"/metrics", "", http.StatusOK},
		{"/admin/cluster", "", http.StatusUnauthorized},
		{"/admin/cluster", "Bearer", http.StatusUnauthorized},
		{"/admin/cluster", "Bearer " + testKey + "x", http.StatusUnauthorized},
		{"/admin/cluster", "Bearer " + testKey[:len(testKey)-1], http.StatusUnauthorized},
		{"/admin/cluster", "Token " + testKey, http.StatusUnauthorized},
		{"/admin/cluster", "Bearer " + testKey, http.StatusOK},
		{"/admin/cluster", "bearer " + testKey, http.StatusOK},
		{"/admin/cluster", "BEARER  " + testKey + " ", http.StatusOK},
		{"/admin", "", http.StatusUnauthorized},
	} {
		a := c.doAuth("GET", tc.path, "", tc.auth)
		if a.status != tc.want {
			t.Errorf("GET %s with %q: %d, want %d: %s", tc.path, tc.auth, a.status, tc.want, a.body)
		}
		if a.status == http.StatusUnauthorized && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET %s: 401 without a Bearer challenge", tc.path)
		}
	}
	if _, err := New(Config{Cluster: &fakeCluster{}, AdminKey: "short"}); err == nil {
		t.Error("New accepted a 5-character admin key")
	}
	if _, err := New(Config{AdminKey: testKey}); err == nil {
		t.Error("New accepted a config without a cluster")
	}
}

// TestNonCanonicalPaths: a path the mux would clean ("//admin/x",
// "/./admin/x") needs the key like any admin path, and then answers a 404
// problem; never the mux's HTML redirect, which answered only for routed
// paths and so told a client without the key which admin paths exist.
func TestNonCanonicalPaths(t *testing.T) {
	t.Parallel()
	c := serve(t, Config{Cluster: &fakeCluster{status: replica.Status{ID: "n1", State: "Leader", Leader: "n1", Ready: true}}})
	var unauthorized []byte
	for _, path := range []string{
		"//admin/ledger/accounts/1", "//admin/nope", "/./admin/cluster", "/admin/./cluster", "/admin//cluster",
		"/admin/cluster/.", "/healthz/../admin/cluster", "/nope/../admin/ledger/state", "//admin", "/admin/%2e%2e/healthz",
	} {
		a := c.doAuth("GET", path, "", "")
		if p := a.problem(t); p.Code != CodeUnauthorized {
			t.Errorf("GET %s without the key: %d %s, want unauthorized", path, a.status, p.Code)
		}
		if unauthorized == nil {
			unauthorized = a.body
		} else if !bytes.Equal(a.body, unauthorized) {
			t.Errorf("GET %s without the key: %s differs from %s", path, a.body, unauthorized)
		}
		a = c.do("GET", path, "")
		if p := a.problem(t); p.Code != CodeNotFound || a.header.Get("Location") != "" {
			t.Errorf("GET %s with the key: %d %s (Location %q), want not_found", path, a.status, p.Code, a.header.Get("Location"))
		}
	}
	for _, path := range []string{"//healthz", "/./metrics", "/admin/../healthz"} {
		a := c.do("GET", path, "")
		if p := a.problem(t); p.Code != CodeNotFound {
			t.Errorf("GET %s: %d %s, want not_found", path, a.status, p.Code)
		}
	}
	// The mux also redirects "/x" to a pattern "/x/"; none is registered.
	srv, err := New(Config{Cluster: &fakeCluster{}, AdminKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	for pattern := range srv.routes {
		if strings.HasSuffix(pattern, "/") {
			t.Errorf("pattern %q ends in a slash: the mux redirects to it", pattern)
		}
	}
}

// TestRoundTrip creates accounts and transfers on a one-node cluster and
// reads them back in every shape the API has.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	_, c := startLeader(t)
	res := c.submit(commands(cmdHub, cmdBankA, cmdBankB,
		transferCmd(`"id":"9001","debit_account":"1","credit_account":"1001","amount":"1000","currency":"KES","code":1`),
		transferCmd(`"id":"9002","debit_account":"1001","credit_account":"1002","amount":"12.50","currency":"KES","code":1,"user_ref":"0x00000000000000010000000000000002"`),
		transferCmd(`"id":"9003","debit_account":"1001","credit_account":"1002","amount":"5.00","currency":"KES","code":1,"flags":["pending"],"timeout":60`),
		transferCmd(`"id":"9004","pending_id":"9003","amount":"3.000","currency":"KES","code":1,"flags":["post_pending"]`),
		transferCmd(`"id":"9005","debit_account":"1001","credit_account":"1002","amount":"5000.00","currency":"KES","code":1`),
	))
	wantCodes := []string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "exceeds_credits"}
	if got := codesOf(res); !slices.Equal(got, wantCodes) {
		t.Fatalf("codes %v, want %v", got, wantCodes)
	}
	retry := c.submit(commands(transferCmd(`"id":"9002","debit_account":"1001","credit_account":"1002","amount":"12.5","currency":"KES","code":1,"user_ref":"0x10000000000000002"`)))
	if retry[0].Code != "exists" || retry[0].Timestamp != res[4].Timestamp {
		t.Fatalf("retry of 9002: %+v, want exists at %s", retry[0], res[4].Timestamp)
	}

	var acct map[string]any
	c.ok("GET", "/admin/ledger/accounts/1001", "", &acct)
	wantAcct := map[string]any{
		"id": "1001", "participant": "10001", "currency": "KES", "kind": "position",
		"flags": []any{"debits_must_not_exceed_credits"}, "limit": "100.00",
		"debits_pending": "0.00", "debits_posted": "15.50", "credits_pending": "0.00", "credits_posted": "1000.00",
		"user_ref": "0", "timestamp": res[1].Timestamp,
	}
	if !jsonEqual(acct, wantAcct) {
		t.Errorf("account 1001:\n got %v\nwant %v", acct, wantAcct)
	}

	var post TransferView
	c.ok("GET", "/admin/ledger/transfers/9004", "", &post)
	wantPost := TransferView{ID: "9004", DebitAccount: "1001", CreditAccount: "1002", Amount: "3.00", Currency: "KES",
		Code: 1, Flags: []string{"post_pending"}, PendingID: "9003", Timestamp: res[6].Timestamp, Status: "posted", Result: "ok"}
	if !jsonEqual(post, wantPost) {
		t.Errorf("transfer 9004:\n got %+v\nwant %+v", post, wantPost)
	}
	var rejected, withRef TransferView
	c.ok("GET", "/admin/ledger/transfers/9005", "", &rejected)
	c.ok("GET", "/admin/ledger/transfers/9002", "", &withRef)
	if rejected.Status != "rejected" || rejected.Result != "exceeds_credits" || withRef.UserRef != "0x00000000000000010000000000000002" {
		t.Errorf("9005 %+v, 9002 %+v", rejected, withRef)
	}

	// The account's history, two at a time: 9001, 9002, then 9003 (posted
	// now) and 9004; the rejected 9005 moved nothing.
	var ids []string
	after := ""
	for page := 0; page < 4; page++ {
		var out struct{ Transfers []TransferView }
		c.ok("GET", "/admin/ledger/accounts/1001/transfers?limit=2"+after, "", &out)
		if len(out.Transfers) == 0 {
			break
		}
		for _, tr := range out.Transfers {
			ids = append(ids, tr.ID)
		}
		after = "&after=" + out.Transfers[len(out.Transfers)-1].Timestamp
	}
	if want := []string{"9001", "9002", "9003", "9004"}; !slices.Equal(ids, want) {
		t.Errorf("history of 1001: %v, want %v", ids, want)
	}

	if got := codesOf(c.submit(commands(
		`{"op":"set_limit","account":{"id":"1001","limit":"250000.00","currency":"KES"}}`,
		`{"op":"create_account","account":{"id":"0xff000000000000000000000000000001","participant":"99999999999","currency":"JPY","kind":"hub"}}`,
		`{"op":"set_limit","account":{"id":"0xff000000000000000000000000000001","limit":"5","currency":"JPY"}}`,
		cmdExpire,
	))); !slices.Equal(got, []string{"ok", "ok", "ok", "ok"}) {
		t.Fatalf("set_limit, big ID, expire: %v", got)
	}
	var big, limited AccountView
	c.ok("GET", "/admin/ledger/accounts/0xFF000000000000000000000000000001", "", &big)
	c.ok("GET", "/admin/ledger/accounts/1001", "", &limited)
	if big.ID != "0xff000000000000000000000000000001" || big.Limit != "5" || big.Participant != "99999999999" || limited.Limit != "250000.00" {
		t.Errorf("big-ID account %+v; 1001's limit %s", big, limited.Limit)
	}

	var state StateView
	c.ok("GET", "/admin/ledger/state", "", &state)
	if state.Node != "n1" || len(state.Digest) != 16 || state.Records != "9" || state.AppliedIndex == "0" {
		t.Errorf("state %+v, want node n1, a 16-digit digest and 4 accounts + 5 transfers", state)
	}

	a := c.do("GET", "/metrics", "")
	for _, want := range []string{
		`http_requests_total{code="200",path="/admin/ledger/commands"}`,
		`http_request_duration_seconds_bucket{path="/admin/ledger/accounts/{id}"`,
		"payswitch_raft_applied_index", // the node's registry, gathered alongside
	} {
		if !strings.Contains(string(a.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func codesOf(results []ResultView) []string {
	var codes []string
	for _, r := range results {
		codes = append(codes, r.Code)
	}
	return codes
}

// jsonEqual compares two values by their JSON encodings.
func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// TestReadyz follows the contract's rule for followers.
func TestReadyz(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status replica.Status
		want   int
	}{
		{"serving leader", replica.Status{ID: "n1", Leader: "n1", Ready: true}, http.StatusOK},
		{"leader catching up", replica.Status{ID: "n1", Leader: "n1"}, http.StatusServiceUnavailable},
		{"follower in step", replica.Status{ID: "n2", Leader: "n1", CommitIndex: 5000, AppliedIndex: 4000}, http.StatusOK},
		{"follower behind", replica.Status{ID: "n2", Leader: "n1", CommitIndex: 5001, AppliedIndex: 4000}, http.StatusServiceUnavailable},
		{"no leader", replica.Status{ID: "n2"}, http.StatusServiceUnavailable},
	} {
		c := serve(t, Config{Cluster: &fakeCluster{status: tc.status}})
		if a := c.doAuth("GET", "/readyz", "", ""); a.status != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, a.status, tc.want, a.body)
		}
	}
}

// TestPutParticipantConcurrently: of ten PUTs of a new participant at
// once, exactly one created it (201) and the others updated it (200), and
// each answer shows the participant as its own command left it: its own
// name, the one creation time, and its own update time.
func TestPutParticipantConcurrently(t *testing.T) {
	t.Parallel()
	_, c := startLeader(t)
	const puts = 10
	answers := make([]answer, puts)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			answers[i] = c.do("PUT", "/admin/participants/30001", fmt.Sprintf(`{"name":"Wallet %d","kind":"wallet","connection":"rest","currencies":["KES"]}`, i))
		})
	}
	wg.Wait()
	var created []ParticipantView
	updated := map[string]bool{}
	for i, a := range answers {
		var v ParticipantView
		if err := json.Unmarshal(a.body, &v); err != nil || (a.status != http.StatusCreated && a.status != http.StatusOK) {
			t.Fatalf("PUT %d: %d %s (%v)", i, a.status, a.body, err)
		}
		if want := fmt.Sprintf("Wallet %d", i); v.Name != want || v.Status != "active" {
			t.Errorf("PUT %d answered %s, %s: want its own %q, active", i, v.Name, v.Status, want)
		}
		if a.status == http.StatusCreated {
			created = append(created, v)
			if v.Updated != v.Created {
				t.Errorf("PUT %d created the participant at %s but shows it updated at %s", i, v.Created, v.Updated)
			}
		} else if updated[v.Updated] {
			t.Errorf("PUT %d shows the update time %s of another", i, v.Updated)
		} else {
			updated[v.Updated] = true
		}
	}
	if len(created) != 1 {
		t.Fatalf("%d PUTs answered 201, want exactly 1", len(created))
	}
	for i, a := range answers {
		var v ParticipantView
		_ = json.Unmarshal(a.body, &v)
		if v.Created != created[0].Created {
			t.Errorf("PUT %d shows created %s, the creation was at %s", i, v.Created, created[0].Created)
		}
	}
}

// TestParticipantAdvicesOwed: a participant's view counts the reversal
// advices the switch owes it, in the list and alone.
func TestParticipantAdvicesOwed(t *testing.T) {
	t.Parallel()
	n, c := startLeader(t)
	if a := c.do("PUT", "/admin/participants/5", `{"name":"W","kind":"wallet","connection":"rest","currencies":["KES"]}`); a.status != 201 {
		t.Fatalf("onboard: %d %s", a.status, a.body)
	}
	var one ParticipantView
	c.ok("GET", "/admin/participants/5", "", &one)
	if one.AdvicesOwed != 0 {
		t.Fatalf("advices_owed %d before any advice", one.AdvicesOwed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	owe := make([]routing.Command, 3)
	for i := range owe {
		owe[i] = routing.Command{Op: routing.OpOweAdvice, Advice: routing.Advice{To: 5, Transfer: ledger.ID{15: byte(i + 1)}, Kind: routing.AdviceTimeout}}
	}
	if _, err := n.SubmitRouting(ctx, owe); err != nil {
		t.Fatal(err)
	}
	c.ok("GET", "/admin/participants/5", "", &one)
	var list struct{ Participants []ParticipantView }
	c.ok("GET", "/admin/participants", "", &list)
	if one.AdvicesOwed != 3 || len(list.Participants) != 1 || list.Participants[0].AdvicesOwed != 3 {
		t.Fatalf("advices_owed %d alone, %+v in the list; want 3", one.AdvicesOwed, list.Participants)
	}
}
