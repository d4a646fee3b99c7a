package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/adapters/admin"
	"github.com/spf13/pflag"
)

func TestServeFlags(t *testing.T) {
	const peers = "n1=127.0.0.1:7001/127.0.0.1:8001,n2=127.0.0.1:7002/127.0.0.1:8002"
	for _, tc := range []struct {
		args     []string
		wantErr  string // a substring; "" for success
		wantRaft string
		wantHTTP string
	}{
		{args: nil, wantRaft: "127.0.0.1:7001", wantHTTP: "127.0.0.1:8080"},
		{args: []string{"--node-id", "n2", "--peers", peers}, wantRaft: "127.0.0.1:7002", wantHTTP: "127.0.0.1:8002"},
		{args: []string{"--node-id", "n2", "--peers", peers, "--raft-addr", "127.0.0.1:7002"}, wantRaft: "127.0.0.1:7002", wantHTTP: "127.0.0.1:8002"},
		{args: []string{"--node-id", "n2", "--peers", peers, "--http-addr", "127.0.0.1:9"}, wantErr: "--http-addr: 127.0.0.1:9 differs"},
		{args: []string{"--node-id", "n3", "--peers", peers}, wantErr: "--peers: has no entry for this node, --node-id n3"},
		{args: []string{"--peers", "n1=127.0.0.1:7001"}, wantErr: "--peers: entry \"n1=127.0.0.1:7001\": want id=raft_addr/http_addr"},
		{args: []string{"--peers", "n1=127.0.0.1:0/127.0.0.1:8001"}, wantErr: "raft address"},
		{args: []string{"--raft-addr", "[::]:7001"}, wantErr: "--raft-addr: \"[::]:7001\": peers cannot dial a wildcard host"},
		{args: []string{"--election-timeout", "1ms"}, wantErr: "--election-timeout: 1ms"},
		{args: []string{"--log-format", "xml"}, wantErr: "--log-format"},
		{args: []string{"--admin-key", "tooshort"}, wantErr: "--admin-key"},
		{args: []string{"--data-dir", ""}, wantErr: "--data-dir"},
	} {
		fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		var f serveFlags
		bindServeFlags(fl, &f)
		if err := fl.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		_, err := f.validate(fl)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.wantErr)
		case tc.wantErr == "" && (f.raftAddr != tc.wantRaft || f.httpAddr != tc.wantHTTP):
			t.Errorf("%v: raft %s http %s, want %s %s", tc.args, f.raftAddr, f.httpAddr, tc.wantRaft, tc.wantHTTP)
		}
	}
}

func TestResolveAdminKey(t *testing.T) {
	t.Setenv(adminKeyEnv, "")
	dir := t.TempDir()
	first, err := resolveAdminKey("", dir, discardLogger())
	if err != nil || len(first) != 64 {
		t.Fatalf("generated key %q, %v", first, err)
	}
	info, err := os.Stat(filepath.Join(dir, adminKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key: %v, mode %v", err, info.Mode())
	}
	if again, _ := resolveAdminKey("", dir, discardLogger()); again != first {
		t.Errorf("a restart generated a new key")
	}
	t.Setenv(adminKeyEnv, "from-the-environment")
	if key, _ := resolveAdminKey("", dir, discardLogger()); key != "from-the-environment" {
		t.Errorf("the environment did not win over the file: %q", key)
	}
	if key, _ := resolveAdminKey("from-the-flag-0001", dir, discardLogger()); key != "from-the-flag-0001" {
		t.Errorf("the flag did not win: %q", key)
	}
}

// TestAdminFollowsLeader: a follower's not_leader with the leader's HTTP
// address is followed once; a second not_leader is reported.
func TestAdminFollowsLeader(t *testing.T) {
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer key-key-key-key-key" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(admin.AccountView{ID: "1001", Currency: "KES", Limit: "5.00", Timestamp: "1795463011072104356"})
	}))
	defer leader.Close()
	notLeader := func(to string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(admin.Problem{Code: admin.CodeNotLeader, Status: 503, LeaderID: "n1", LeaderHTTPAddr: to})
		}))
	}
	follower := notLeader(strings.TrimPrefix(leader.URL, "http://"))
	defer follower.Close()
	loop := notLeader(strings.TrimPrefix(follower.URL, "http://"))
	defer loop.Close()

	run := func(node string) (string, error) {
		var out, errs bytes.Buffer
		cmd := newAdminCommand()
		cmd.SetOut(&out)
		cmd.SetErr(&errs)
		cmd.SetArgs([]string{"account", "get", "1001", "--node", node, "--admin-key", "key-key-key-key-key"})
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run(follower.URL)
	if err != nil || !strings.Contains(out, "account 1001") || !strings.Contains(out, "2026-11-23T") {
		t.Errorf("via a follower: %v\n%s", err, out)
	}
	if _, err := run(loop.URL); err == nil || !strings.Contains(err.Error(), "not_leader") {
		t.Errorf("two hops: %v, want the second not_leader reported", err)
	}
}
