package ledger_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/payswitch/payswitch/ledger"
)

// fuzzInputMax caps fuzz inputs. A full batch is larger, but 64 KiB holds
// hundreds of commands, which is all the decoder's paths need.
const fuzzInputMax = 64 << 10

// Encoded sizes, spelt out here as the wire contract; they must not change
// in place, since the Raft log keeps old batches.
const (
	headerSize   = 1 + 4 + 8
	accountSize  = 1 + 45
	transferSize = 1 + 98
	limitSize    = 1 + 24
	expireSize   = 1
)

// FuzzDecodeBatch checks that DecodeBatch never panics, that it accepts
// only what AppendEncoded produces, byte for byte, and that applying any
// batch it accepts keeps the ledger's invariants.
func FuzzDecodeBatch(f *testing.F) {
	for _, b := range seedBatches() {
		f.Add(mustEncode(f, b))
	}
	for _, b := range scriptBatches(f) {
		f.Add(mustEncode(f, b))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzInputMax {
			return
		}
		var b ledger.Batch
		if err := ledger.DecodeBatch(data, &b); err != nil {
			if !errors.Is(err, ledger.ErrBatchMalformed) && !errors.Is(err, ledger.ErrBatchTooLarge) {
				t.Fatalf("DecodeBatch error %v is neither ErrBatchMalformed nor ErrBatchTooLarge", err)
			}
			return
		}
		enc, err := b.AppendEncoded(nil)
		if err != nil {
			t.Fatalf("decoded batch does not encode: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, data)
		}
		h := newFuzzLedger(t)
		prev := h.last
		out := h.m.Apply(&b)
		// A fuzzed clock near 2^64 wraps the timestamps around; the
		// timestamp and event checks hold only below that.
		sane := b.Timestamp < 1<<62
		checkApplied(t, h.m, &b, out, prev, sane)
	})
}

// newFuzzLedger is a small ledger for fuzzed batches to act on: the table
// fixture plus transfers in every status.
func newFuzzLedger(t testing.TB) *harness {
	h := newFixture(t)
	h.mustApply(t0+second,
		reserve(10, pos7, pos8, 600, 5),
		reserve(11, set7, set8, 100, 0),
		reserve(12, set7, set8, 100, 0),
		reserve(13, set7, set8, 100, 1),
		transfer(14, set8, pos8, 1000),
	)
	h.mustApply(t0+2*second, post(15, 11, 40), void(16, 12))
	h.apply(t0+3*second, transfer(17, pos8, pos7, 5000)) // exceeds_credits, burnt
	return h
}

// seedBatches are valid batches that reach every op and, applied to the
// fuzz ledger, many result codes.
func seedBatches() []*ledger.Batch {
	batches := []*ledger.Batch{
		{Timestamp: t0 + 10*second, Commands: []ledger.Command{
			account(20, 7, kes, ledger.KindPosition, ledger.DebitsMustNotExceedCredits, 500),
			transfer(30, pos8, pos7, 10),
			reserve(31, pos7, set7, 10, 30),
			post(32, 10, 0),
			void(33, 31),
			setLimit(pos7, 5000),
			expire(),
		}},
		{Timestamp: t0 + 20*second, Commands: []ledger.Command{
			expire(),
			post(34, 10, 1),
			linked(transfer(35, set7, pos7, 1)),
			linked(transfer(36, pos8, set8, 1e9)),
			transfer(37, set7, hub, 1),
		}},
		{Timestamp: 0, Commands: nil},
		{Timestamp: math.MaxUint64, Commands: []ledger.Command{transfer(38, set7, set8, 1), transfer(39, set7, set8, 1)}},
	}
	for _, tc := range applyCases {
		for _, st := range tc.steps {
			b := &ledger.Batch{Timestamp: t0 + st.at, Commands: st.cmds}
			if _, err := b.AppendEncoded(nil); err == nil {
				batches = append(batches, b)
			}
		}
	}
	return batches
}

func mustEncode(t testing.TB, b *ledger.Batch) []byte {
	t.Helper()
	data, err := b.AppendEncoded(nil)
	if err != nil {
		t.Fatalf("encoding %+v: %v", b, err)
	}
	return data
}

// everyOp is a batch with one command per op, every encoded field set to a
// distinct value that is not zero.
func everyOp() *ledger.Batch {
	return &ledger.Batch{Timestamp: 0x0102030405060708, Commands: []ledger.Command{
		{Op: ledger.OpCreateAccount, Account: ledger.Account{
			ID: ledger.NewID(0x1112131415161718, 0x191a1b1c1d1e1f20), Participant: 12345678901, Currency: 404,
			Kind: ledger.KindProgram, Flags: ledger.CreditsMustNotExceedDebits, Limit: 1 << 40, UserRef: math.MaxUint64,
		}},
		{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
			ID: ledger.NewID(1, 2), DebitAccount: ledger.NewID(3, 4), CreditAccount: ledger.NewID(5, 6),
			Amount: math.MaxUint64 - 1, PendingID: ledger.NewID(7, 8), Timeout: 0xa0b0c0d, Currency: 840,
			Code: 0xbeef, Flags: ledger.Linked | ledger.PostPending, UserRef: ledger.NewID(9, 10),
		}},
		{Op: ledger.OpSetLimit, Account: ledger.Account{ID: ledger.NewID(11, 12), Limit: 0x2122232425262728}},
		{Op: ledger.OpExpire},
	}}
}

func TestBatchRoundTrip(t *testing.T) {
	full := everyOp()
	cases := []*ledger.Batch{full, {Timestamp: 5}}
	for _, c := range full.Commands {
		cases = append(cases, &ledger.Batch{Timestamp: 9, Commands: []ledger.Command{c}})
	}
	for _, want := range cases {
		data := mustEncode(t, want)
		var got ledger.Batch
		if err := ledger.DecodeBatch(data, &got); err != nil {
			t.Fatalf("DecodeBatch(%x): %v", data, err)
		}
		if got.Timestamp != want.Timestamp || len(got.Commands) != len(want.Commands) ||
			(len(want.Commands) > 0 && !reflect.DeepEqual(got.Commands, want.Commands)) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, *want)
		}
	}
}

// TestBatchLayout pins the wire layout of each op against an encoding
// written out by hand.
func TestBatchLayout(t *testing.T) {
	b := everyOp()
	le := binary.LittleEndian
	var want []byte
	want = append(want, 1)
	want = le.AppendUint32(want, 4)
	want = le.AppendUint64(want, b.Timestamp)

	a := &b.Commands[0].Account
	want = append(want, 1)
	want = append(want, a.ID[:]...)
	want = le.AppendUint64(want, a.Participant)
	want = le.AppendUint16(want, a.Currency)
	want = append(want, byte(a.Kind))
	want = le.AppendUint16(want, uint16(a.Flags))
	want = le.AppendUint64(want, uint64(a.Limit))
	want = le.AppendUint64(want, a.UserRef)

	tr := &b.Commands[1].Transfer
	want = append(want, 2)
	for _, id := range []ledger.ID{tr.ID, tr.DebitAccount, tr.CreditAccount} {
		want = append(want, id[:]...)
	}
	want = le.AppendUint64(want, uint64(tr.Amount))
	want = append(want, tr.PendingID[:]...)
	want = le.AppendUint32(want, tr.Timeout)
	want = le.AppendUint16(want, tr.Currency)
	want = le.AppendUint16(want, tr.Code)
	want = le.AppendUint16(want, uint16(tr.Flags))
	want = append(want, tr.UserRef[:]...)

	l := &b.Commands[2].Account
	want = append(want, 3)
	want = append(want, l.ID[:]...)
	want = le.AppendUint64(want, uint64(l.Limit))

	want = append(want, 4)

	got := mustEncode(t, b)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding:\n got %x\nwant %x", got, want)
	}
	if n := headerSize + accountSize + transferSize + limitSize + expireSize; len(got) != n {
		t.Fatalf("%d bytes, want %d", len(got), n)
	}
	// AppendEncoded appends: what is already in dst stays.
	prefixed, err := b.AppendEncoded([]byte("xy"))
	if err != nil || !bytes.Equal(prefixed, append([]byte("xy"), want...)) {
		t.Fatalf("AppendEncoded onto a prefix: %x, %v", prefixed, err)
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	valid := mustEncode(t, everyOp())
	header := func(version byte, count uint32) []byte {
		h := []byte{version}
		h = binary.LittleEndian.AppendUint32(h, count)
		return binary.LittleEndian.AppendUint64(h, 0)
	}
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ledger.ErrBatchMalformed},
		{"short header", valid[:headerSize-1], ledger.ErrBatchMalformed},
		{"version 0", header(0, 0), ledger.ErrBatchMalformed},
		{"version 2", header(2, 0), ledger.ErrBatchMalformed},
		{"trailing byte", append(bytes.Clone(valid), 0), ledger.ErrBatchMalformed},
		{"trailing byte after an empty batch", append(header(1, 0), 4), ledger.ErrBatchMalformed},
		{"count above the commands", append(header(1, 2), 4), ledger.ErrBatchMalformed},
		{"op 0", append(header(1, 1), 0), ledger.ErrBatchMalformed},
		{"op 5", append(header(1, 1), 5), ledger.ErrBatchMalformed},
		{"op 255", append(header(1, 1), 255), ledger.ErrBatchMalformed},
		{"unknown op after a valid one", append(header(1, 2), 4, 9), ledger.ErrBatchMalformed},
		{"too many commands", header(1, ledger.BatchCommandsMax+1), ledger.ErrBatchTooLarge},
		{"count of 2^32-1", header(1, math.MaxUint32), ledger.ErrBatchTooLarge},
	}
	for _, tc := range cases {
		var b ledger.Batch
		err := ledger.DecodeBatch(tc.data, &b)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if tc.want == ledger.ErrBatchTooLarge && errors.Is(err, ledger.ErrBatchMalformed) {
			t.Errorf("%s: %v is also ErrBatchMalformed", tc.name, err)
		}
	}
	// Every cut of a valid batch is truncated, at a command boundary or
	// inside one.
	for n := range len(valid) {
		var b ledger.Batch
		if err := ledger.DecodeBatch(valid[:n], &b); !errors.Is(err, ledger.ErrBatchMalformed) {
			t.Fatalf("first %d of %d bytes: %v, want ErrBatchMalformed", n, len(valid), err)
		}
	}
}

// TestBatchSizeLimit checks both sides of BatchCommandsMax, on encode and
// on decode.
func TestBatchSizeLimit(t *testing.T) {
	b := &ledger.Batch{Commands: make([]ledger.Command, ledger.BatchCommandsMax)}
	for i := range b.Commands {
		b.Commands[i].Op = ledger.OpExpire
	}
	data := mustEncode(t, b)
	var got ledger.Batch
	if err := ledger.DecodeBatch(data, &got); err != nil || len(got.Commands) != ledger.BatchCommandsMax {
		t.Fatalf("full batch: %d commands, %v", len(got.Commands), err)
	}
	b.Commands = append(b.Commands, expire())
	if _, err := b.AppendEncoded(nil); !errors.Is(err, ledger.ErrBatchTooLarge) {
		t.Fatalf("encoding %d commands: %v", len(b.Commands), err)
	}
	bad := &ledger.Batch{Commands: []ledger.Command{expire(), {Op: 9}}}
	if _, err := bad.AppendEncoded(nil); !errors.Is(err, ledger.ErrBatchMalformed) {
		t.Fatalf("encoding op 9: %v", err)
	}
}

// TestDecodeBatchReusesStorage checks that decoding into a used Batch
// leaves nothing of the old commands behind.
func TestDecodeBatchReusesStorage(t *testing.T) {
	var b ledger.Batch
	if err := ledger.DecodeBatch(mustEncode(t, everyOp()), &b); err != nil {
		t.Fatal(err)
	}
	small := &ledger.Batch{Timestamp: 3, Commands: []ledger.Command{setLimit(5, 6), expire()}}
	if err := ledger.DecodeBatch(mustEncode(t, small), &b); err != nil {
		t.Fatal(err)
	}
	if b.Timestamp != 3 || !reflect.DeepEqual(b.Commands, small.Commands) {
		t.Fatalf("got %+v, want %+v", b, *small)
	}
}

// TestRecordRoundTrip checks the canonical record encodings that the store
// writes and the digest hashes.
func TestRecordRoundTrip(t *testing.T) {
	a := ledger.Account{ID: ledger.NewID(1, 2), Participant: 7, Currency: 404, Kind: ledger.KindPosition,
		Flags: ledger.DebitsMustNotExceedCredits, Limit: 1, DebitsPending: 2, DebitsPosted: 3,
		CreditsPending: 4, CreditsPosted: 5, UserRef: 6, Timestamp: 7}
	enc := ledger.AppendAccountRecord(nil, &a)
	var a2 ledger.Account
	if len(enc) != ledger.AccountRecordSize || ledger.DecodeAccountRecord(a.ID, enc, &a2) != nil || a2 != a {
		t.Errorf("account record: %d bytes, decoded %+v", len(enc), a2)
	}
	if ledger.DecodeAccountRecord(a.ID, enc[1:], &a2) == nil {
		t.Error("short account record accepted")
	}
	tr := everyOp().Commands[1].Transfer
	tr.Timestamp, tr.Status, tr.Result = 99, ledger.StatusRejected, ledger.ExceedsDebits
	enc = ledger.AppendTransferRecord(nil, &tr)
	var tr2 ledger.Transfer
	if len(enc) != ledger.TransferRecordSize || ledger.DecodeTransferRecord(tr.ID, enc, &tr2) != nil || tr2 != tr {
		t.Errorf("transfer record: %d bytes, decoded %+v", len(enc), tr2)
	}
	if ledger.DecodeTransferRecord(tr.ID, append(enc, 0), &tr2) == nil {
		t.Error("long transfer record accepted")
	}
	// The digest tells an account from a transfer and counts records.
	var d1, d2 ledger.Digest
	d1.AddAccount(&a)
	d2.AddTransfer(&tr)
	if d1 == d2 || d1.Records != 1 {
		t.Errorf("digests %s and %s", d1, d2)
	}
}
