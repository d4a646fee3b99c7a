package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/adapters/admin"
)

// TestAdminKeyWhiteSpace: a key in $PAYSWITCH_ADMIN_KEY (or the flag)
// ending in a newline, as $(cat admin.key) or a paste leaves it, is the
// key without it; it failed with Go's `invalid header field value for
// "Authorization"`. A control character inside the key is named.
func TestAdminKeyWhiteSpace(t *testing.T) {
	const key = "key-key-key-key-key"
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(admin.AccountView{ID: "1001", Currency: "KES", Timestamp: "1795463011072104356"})
	}))
	defer node.Close()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := newAdminCommand()
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"account", "get", "1001", "--node", node.URL, "--admin-key-file", t.TempDir() + "/none"}, args...))
		err := cmd.Execute()
		return out.String(), err
	}
	for _, env := range []string{key + "\n", " " + key + "\r\n", "\t" + key} {
		t.Setenv(adminKeyEnv, env)
		if out, err := run(); err != nil || !strings.Contains(out, "account 1001") {
			t.Errorf("$%s=%q: %v\n%s", adminKeyEnv, env, err, out)
		}
	}
	t.Setenv(adminKeyEnv, "")
	if out, err := run("--admin-key", key+"\n"); err != nil || !strings.Contains(out, "account 1001") {
		t.Errorf("--admin-key with a newline: %v\n%s", err, out)
	}
	t.Setenv(adminKeyEnv, "key-key\x01-key-key")
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "the admin key from $"+adminKeyEnv+" contains a control character (U+0001 at byte 7)") {
		t.Errorf("a control character in the key: %v", err)
	}
}
