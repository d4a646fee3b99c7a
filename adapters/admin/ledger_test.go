package admin

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/money"
)

// TestDecodeCommandsDetails pins the detail of each way a command can fail
// to decode: operators read these, so they name the index and the field.
func TestDecodeCommandsDetails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ cmd, want string }{
		{`{"op":"pay"}`, `commands[0].op: "pay" is not one of create_account, create_transfer, set_limit, expire`},
		{`{}`, `commands[0].op: "" is not one of`},
		{`7`, `commands[0]: want an object, got a JSON number`},
		{`{"op":"expire","when":"now"}`, `commands[0]: unknown field "when"; want one of op, account, transfer`},
		{`null`, `commands[0]: want an object, got null`},
		{`{"op":"expire","OP":"create_account"}`, `commands[0]: unknown field "OP"; names are case-sensitive: did you mean "op"?`},
		{`{"op":"expire","op":"expire"}`, `commands[0]: field "op" appears more than once`},
		{`{"op":"create_transfer","transfer":{"id":"1","amount":"1.00","AMOUNT":"900.00","currency":"KES"}}`,
			`commands[0].transfer: unknown field "AMOUNT"; names are case-sensitive: did you mean "amount"?`},
		{`{"op":"create_transfer","transfer":{"id":"1","Amount":"900.00","currency":"KES"}}`, `commands[0].transfer: unknown field "Amount"`},
		{`{"op":"create_transfer","transfer":{"id":"1","amount":"1.00","amount":"900.00","currency":"KES"}}`,
			`commands[0].transfer: field "amount" appears more than once`},
		{`{"op":"set_limit","account":{"id":"1","limit":"1.00","currency":"KES","currency":"JPY"}}`, `commands[0].account: field "currency" appears more than once`},
		{`{"op":"expire","account":{"id":"1"}}`, `commands[0].account: not allowed with op expire`},
		{`{"op":"create_account"}`, `commands[0].account: required with op create_account`},
		{`{"op":"create_transfer","account":{}}`, `commands[0].account: not allowed with op create_transfer`},
		{`{"op":"create_account","account":{"id":1}}`, `commands[0].account.id: want a string, got a JSON number`},
		{`{"op":"create_account","account":{"id":"-1"}}`, `commands[0].account.id: "-1" is not an ID`},
		{`{"op":"create_account","account":{"id":"1","balance":"5"}}`, `commands[0].account: unknown field "balance"; want one of id, participant, currency, kind, flags, limit, user_ref`},
		{`{"op":"create_account","account":{"id":"1","participant":"+5"}}`, `commands[0].account.participant: "+5" is not a decimal number below 2^64`},
		{`{"op":"create_account","account":{"id":"1","participant":"18446744073709551616"}}`, `account.participant: "18446744073709551616" is not a decimal`},
		{`{"op":"create_account","account":{"id":"1","currency":"kes"}}`, `commands[0].account.currency: "kes" is not an ISO 4217 currency code`},
		{`{"op":"create_account","account":{"id":"1","kind":"wallet"}}`, `commands[0].account.kind: "wallet" is not one of position, settlement, program, hub`},
		{`{"op":"create_account","account":{"id":"1","flags":["overdraft"]}}`, `commands[0].account.flags: "overdraft" is not one of debits_must_not_exceed_credits, credits_must_not_exceed_debits`},
		{`{"op":"create_account","account":{"id":"1","limit":"5"}}`, `commands[0].account.limit: "5" needs account.currency`},
		{`{"op":"create_account","account":{"id":"1","currency":"KES","limit":"-5"}}`, `commands[0].account.limit: "-5" is negative`},
		{`{"op":"create_account","account":{"id":"1","currency":"JPY","limit":"1.5"}}`, `commands[0].account.limit: "1.5" has 1 decimals, JPY allows 0`},
		{`{"op":"create_account","account":{"id":"1","currency":"KES","limit":"1e3"}}`, `commands[0].account.limit: "1e3" is not a plain decimal amount`},
		{`{"op":"create_account","account":{"id":"1","currency":"KES","limit":"184467440737095516.16"}}`, `is more minor units than 64 bits hold`},
		{`{"op":"set_limit","account":{"id":"1","currency":"KES"}}`, `commands[0].account.limit: required with op set_limit`},
		{`{"op":"set_limit","account":{"id":"1","currency":"KES","limit":"1","kind":"hub"}}`, `commands[0].account.kind: not allowed with op set_limit`},
		{`{"op":"create_transfer","transfer":{"id":"1","amount":"1.00"}}`, `commands[0].transfer.amount: "1.00" needs transfer.currency`},
		{`{"op":"create_transfer","transfer":{"id":"1","code":70000}}`, `commands[0].transfer.code: want a whole number from 0 to 65535, got a JSON number 70000`},
		{`{"op":"create_transfer","transfer":{"id":"1","timeout":-1}}`, `commands[0].transfer.timeout: want a whole number from 0 to 4294967295`},
		{`{"op":"create_transfer","transfer":{"id":"1","flags":"pending"}}`, `commands[0].transfer.flags: want an array of strings, got a JSON string`},
		{`{"op":"create_transfer","transfer":{"id":"1","flags":["pending","posted"]}}`, `commands[0].transfer.flags: "posted" is not one of linked, pending, post_pending, void_pending`},
		{`{"op":"create_transfer","transfer":{"id":"1","pending_id":"0x"}}`, `commands[0].transfer.pending_id: "0x" is not an ID`},
		{`{"op":"create_transfer","transfer":{"id":"1","user_ref":"` + strings.Repeat("9", 200) + `"}}`, `commands[0].transfer.user_ref: "` + strings.Repeat("9", quotedInputLenMax) + `"... is not an ID`},
	} {
		_, p := decodeCommands([]byte(commands(cmdExpire, tc.cmd)))
		want := strings.Replace(tc.want, "commands[0]", "commands[1]", 1)
		if p == nil || p.Code != CodeInvalidCommand || !strings.HasPrefix(p.Detail, want) && !strings.Contains(p.Detail, tc.want) {
			t.Errorf("%s:\n got %+v\nwant invalid_command %q", tc.cmd, p, want)
		}
	}
}

// TestDecodeCommandsValues checks what the decoder makes of the contract's
// own examples, field by field.
func TestDecodeCommandsValues(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "contract.json"))
	if err != nil {
		t.Fatal(err)
	}
	cmds, p := decodeCommands(body)
	if p != nil {
		t.Fatal(p)
	}
	want := []ledger.Command{
		{Op: ledger.OpCreateAccount, Account: ledger.Account{ID: ledger.IDFromUint64(1001), Participant: 10001, Currency: 404,
			Kind: ledger.KindPosition, Flags: ledger.DebitsMustNotExceedCredits, Limit: 25_000_000}},
		{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{ID: ledger.IDFromUint64(9001), DebitAccount: ledger.IDFromUint64(1001),
			CreditAccount: ledger.IDFromUint64(1002), Amount: 1250, Currency: 404, Code: 1, Flags: ledger.Pending, Timeout: 10}},
		{Op: ledger.OpSetLimit, Account: ledger.Account{ID: ledger.IDFromUint64(1001), Limit: 30_000_000, Currency: 404}},
		{Op: ledger.OpExpire},
		{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{ID: ledger.NewID(1<<56, 2), PendingID: ledger.IDFromUint64(9001), Flags: ledger.PostPending}},
	}
	if !reflect.DeepEqual(cmds, want) {
		t.Errorf("decoded\n %+v\nwant\n %+v", cmds, want)
	}
}

// FuzzDecodeCommands holds the decoder to two properties on any input: it
// never panics, and whatever it accepts re-encodes to a canonical form that
// decodes to the same commands and encodes to the same bytes again.
func FuzzDecodeCommands(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, name := range seeds {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		``, `{}`, `null`, `{"commands":null}`, `{"commands":[null]}`, commands(cmdExpire),
		commands(cmdHub, cmdBankA, cmdBankB),
		commands(transferCmd(`"id":"0x0","amount":"0"`)),
		commands(transferCmd(`"ID":"1","Amount":"00.10","CURRENCY":"BHD","flags":["linked","linked"]`)),
		commands(`{"op":"set_limit","account":{"id":"340282366920938463463374607431768211455","limit":"0.000","currency":"TND"}}`),
		`{"commands":[{"op":"expire"}]}  `, `{"commands":[{"op":"expire"}]}{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // the bound is the handler's; big inputs only slow the fuzzer
		}
		cmds, p := decodeCommands(data)
		if p != nil {
			if p.Status != 400 || (p.Code != CodeInvalidJSON && p.Code != CodeInvalidCommand && p.Code != CodeTooManyCommands) {
				t.Fatalf("refusal %+v is not a 400 of the decoder's codes", p)
			}
			return
		}
		if len(cmds) == 0 || len(cmds) > commandsPerRequestMax {
			t.Fatalf("accepted %d commands", len(cmds))
		}
		first, err := encodeCommands(cmds)
		if err != nil {
			t.Fatalf("accepted commands do not encode: %v", err)
		}
		again, p := decodeCommands(first)
		if p != nil {
			t.Fatalf("canonical form %s refused: %+v", first, p)
		}
		if !reflect.DeepEqual(cmds, again) {
			t.Fatalf("canonical form %s decodes to\n %+v\nnot\n %+v", first, again, cmds)
		}
		second, err := encodeCommands(again)
		if err != nil || !bytes.Equal(first, second) {
			t.Fatalf("encoding is not stable:\n%s\n%s (%v)", first, second, err)
		}
		// The ledger's own encoding takes whatever the decoder accepts.
		batch := ledger.Batch{Commands: cmds}
		if _, err := batch.AppendEncoded(nil); err != nil {
			t.Fatalf("the ledger cannot encode accepted commands: %v", err)
		}
	})
}

// TestLimits checks how the limits relate to each other and to the
// ledger's.
func TestLimits(t *testing.T) {
	t.Parallel()
	if commandsPerRequestMax > ledger.BatchCommandsMax {
		t.Errorf("a request of %d commands cannot fit a ledger batch of %d", commandsPerRequestMax, ledger.BatchCommandsMax)
	}
	if transfersPageDefault > transfersPageMax || transfersPageMax > 1000 {
		t.Errorf("page sizes %d (default) and %d (max) break the contract's 1..1000", transfersPageDefault, transfersPageMax)
	}
	if smallBodyBytesMax >= commandsBodyBytesMax {
		t.Error("the small-body bound is not small")
	}
	// The largest legal request must fit the body bound: every field of
	// every command at its longest.
	id := `"0x` + strings.Repeat("f", 32) + `"`
	// 2^64-1 cents, padded with zeros to the longest amount money reads.
	maxAmount := "184467440737095516.15"
	maxAmount += strings.Repeat("0", money.MaxAmountLen-len(maxAmount))
	longest := `{"op":"create_transfer","transfer":{"id":` + id + `,"debit_account":` + id + `,"credit_account":` + id +
		`,"amount":"` + maxAmount + `","currency":"KES","code":65535,` +
		`"flags":["linked","pending","post_pending","void_pending"],"timeout":4294967295,"pending_id":` + id + `,"user_ref":` + id + `}}`
	body := commands(slices.Repeat([]string{longest}, commandsPerRequestMax)...)
	if len(body) > commandsBodyBytesMax {
		t.Errorf("%d longest commands take %d bytes, above the %d-byte bound", commandsPerRequestMax, len(body), commandsBodyBytesMax)
	}
	if _, p := decodeCommands([]byte(body)); p != nil {
		t.Errorf("the longest request is refused: %+v", p)
	}
}

// TestStrictKnowsEveryField holds decodeStrict's key walk to
// encoding/json: a value of each body type with every field set encodes
// to keys that decodeStrict takes, and decodes back to the same value. A
// field the walk did not know (a tag it misread, an embedded struct it
// did not promote) would be refused here.
func TestStrictKnowsEveryField(t *testing.T) {
	t.Parallel()
	for _, v := range []any{&commandsBody{}, &commandJSON{}, &voterBody{}, &statusBody{}, &participantBody{}} {
		fillAll(reflect.ValueOf(v).Elem())
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(v).Elem())
		if err := decodeStrict(data, back.Interface()); err != nil {
			t.Errorf("%T: %s refused: %v", v, data, err)
			continue
		}
		if again, _ := json.Marshal(back.Interface()); !bytes.Equal(again, data) {
			t.Errorf("%T: %s decodes to %s", v, data, again)
		}
	}
}

// fillAll sets every settable field of v to a value that is not zero.
func fillAll(v reflect.Value) {
	if v.Type() == reflect.TypeFor[json.RawMessage]() {
		v.SetBytes([]byte(`{"raw":true}`))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillAll(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		elem := reflect.New(v.Type().Elem()).Elem()
		fillAll(elem)
		v.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), elem)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fillAll(v.Field(i))
			}
		}
	}
}
