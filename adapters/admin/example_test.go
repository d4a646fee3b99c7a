package admin

import (
	"fmt"
	"net/http/httptest"
	"strings"
)

// A command that cannot be decoded fails the whole request before anything
// is proposed, with a problem that names the command and the field.
func Example_invalidCommand() {
	srv, err := New(Config{Cluster: &fakeCluster{}, AdminKey: "example-admin-key", Logger: quietLogger()})
	if err != nil {
		panic(err)
	}
	body := `{"commands": [
	  {"op": "create_transfer", "transfer": {"id": "9001", "debit_account": "1001",
	    "credit_account": "1002", "amount": "1.005", "currency": "KES", "code": 1}}]}`
	req := httptest.NewRequest("POST", "/admin/ledger/commands", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer example-admin-key")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Print(rec.Body.String())
	// Output:
	// 400 application/problem+json
	// {"type":"https://payswitch.dev/problems/invalid_command","title":"Invalid command","status":400,"detail":"commands[0].transfer.amount: \"1.005\" has 3 decimals, KES allows 2","code":"invalid_command"}
}
