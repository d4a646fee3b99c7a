package iso8583

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestCheckFields(t *testing.T) {
	for _, s := range samples(t) {
		m := s.m
		m.Set(FieldMAC)
		if !MACRequired(m.MTI) && s.name != "0810" {
			t.Errorf("%s: MAC not required", s.name)
		}
		if err := m.CheckFields(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
	}
	for _, tc := range []struct {
		name   string
		sample string
		edit   func(m *Message)
		field  Field
		err    error
	}{
		{"0800 without 33", "0800", func(m *Message) { m.Clear(FieldForwarder) }, FieldForwarder, ErrMissing},
		{"0800 without MAC", "0800", func(m *Message) { m.Clear(FieldMAC) }, FieldMAC, ErrMissing},
		{"0800 with an amount", "0800", func(m *Message) { m.Set(FieldAmount) }, FieldAmount, ErrNotAllowed},
		{"0810 without 39", "0810", func(m *Message) { m.Clear(FieldResponseCode) }, FieldResponseCode, ErrMissing},
		{"0200 without 103", "0200", func(m *Message) { m.Clear(FieldPayeeAccount) }, FieldPayeeAccount, ErrMissing},
		{"0200 without 3 and 4", "0200", func(m *Message) { m.Clear(FieldProcessingCode, FieldAmount) }, FieldProcessingCode, ErrMissing},
		{"0200 with 39", "0200", func(m *Message) { m.Set(FieldResponseCode) }, FieldResponseCode, ErrNotAllowed},
		{"0200 with 90", "0200", func(m *Message) { m.Set(FieldOriginalData) }, FieldOriginalData, ErrNotAllowed},
		{"0210 approved without 38", "0210", func(m *Message) { m.Clear(FieldApprovalCode) }, FieldApprovalCode, ErrMissing},
		{"0210 without 102", "0210", func(m *Message) { m.Clear(FieldPayerAccount) }, FieldPayerAccount, ErrMissing},
		{"0420 without 90", "0420", func(m *Message) { m.Clear(FieldOriginalData) }, FieldOriginalData, ErrMissing},
		{"0430 with 38", "0430", func(m *Message) { m.Set(FieldApprovalCode) }, FieldApprovalCode, ErrNotAllowed},
		{"0100", "0200", func(m *Message) { m.MTI = 100 }, FieldMTI, ErrUnsupportedMTI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleNamed(t, tc.sample).m
			m.Set(FieldMAC)
			tc.edit(&m)
			wantFieldError(t, m.CheckFields(), tc.field, tc.err)
		})
	}
	declined := sampleNamed(t, "0210").m
	declined.Set(FieldMAC)
	declined.Clear(FieldApprovalCode)
	declined.ResponseCode = ResponseDoNotHonour
	if err := declined.CheckFields(); err != nil {
		t.Errorf("0210 declined without 38: %v", err)
	}
	if MACRequired(MTINetworkResponse) || MACRequired(100) || !MACRequired(MTIReversalAdviceResponse) {
		t.Error("MACRequired disagrees with DESIGN.md 6.1")
	}
}

func TestResponseTo(t *testing.T) {
	req := sampleNamed(t, "0200").m
	req.Set(FieldMAC, FieldApprovalCode, FieldResponseCode) // a confused request
	req.MAC = [8]byte{1}
	var resp Message
	if err := resp.ResponseTo(&req); err != nil {
		t.Fatal(err)
	}
	if resp.MTI != MTIFinancialResponse {
		t.Errorf("MTI %v", resp.MTI)
	}
	for f := range req.Fields() {
		switch f {
		case FieldMAC, FieldApprovalCode, FieldResponseCode:
			if resp.Has(f) {
				t.Errorf("field %d echoed", f)
			}
		default:
			if !resp.Has(f) || valueOf(&resp, f) != valueOf(&req, f) {
				t.Errorf("field %d not echoed", f)
			}
		}
	}
	if resp.MAC != ([8]byte{}) {
		t.Error("MAC value kept")
	}
	// In place, as a front end answering into the request's own Message.
	inPlace := req
	if err := inPlace.ResponseTo(&inPlace); err != nil || diffMessages(&inPlace, &resp) != "" {
		t.Errorf("in place: %v %s", err, diffMessages(&inPlace, &resp))
	}
	if err := resp.ResponseTo(&resp); !errors.Is(err, ErrNotRequest) || resp.MTI != MTIFinancialResponse {
		t.Errorf("ResponseTo(0210) = %v, MTI %v", err, resp.MTI)
	}
}

func TestMTI(t *testing.T) {
	for _, tc := range []struct {
		mti     MTI
		text    string
		request bool
		resp    MTI
	}{
		{MTIFinancialRequest, "0200", true, MTIFinancialResponse},
		{MTIFinancialResponse, "0210", false, 0},
		{MTIReversalAdvice, "0420", true, MTIReversalAdviceResponse},
		{MTIReversalAdviceResponse, "0430", false, 0},
		{MTINetworkRequest, "0800", true, MTINetworkResponse},
		{MTINetworkResponse, "0810", false, 0},
		{1220, "1220", true, 1230},
		{9999, "9999", false, 0},
		{10000, "MTI(10000)", false, 0},
	} {
		resp, ok := tc.mti.Response()
		if tc.mti.String() != tc.text || tc.mti.IsRequest() != tc.request || resp != tc.resp || ok != tc.request {
			t.Errorf("%d: %q %v %v %v", tc.mti, tc.mti.String(), tc.mti.IsRequest(), resp, ok)
		}
	}
}

func TestResponseCodes(t *testing.T) {
	var texts []string
	for _, c := range ResponseCodes() {
		if c.Meaning() == "" {
			t.Errorf("%s has no meaning", c)
		}
		texts = append(texts, c.String())
	}
	want := []string{"00", "05", "12", "13", "14", "25", "30", "51", "57", "63", "68", "91", "92", "94", "96"}
	if !slices.Equal(texts, want) {
		t.Errorf("codes %v, want %v", texts, want)
	}
	if ResponseApproved.String() != "00" || ResponseSystemError.Meaning() != "system error" ||
		ResponseCode('A'<<8|'1').Meaning() != "" {
		t.Error("String or Meaning wrong")
	}
}

func TestOriginal(t *testing.T) {
	orig := sampleNamed(t, "0200").m
	mustSet(t, &orig, FieldForwarder, "00000000007")
	o := OriginalOf(&orig)
	var m Message
	if err := m.SetOriginal(o); err != nil {
		t.Fatal(err)
	}
	if got := string(m.OriginalData[:]); got != "0200"+"000042"+"0612093020"+"00000010001"+"00000000007" {
		t.Errorf("field 90 = %q", got)
	}
	back, err := m.Original()
	if err != nil || back != o || !back.Matches(&orig) {
		t.Errorf("Original() = %+v, %v; want %+v", back, err, o)
	}
	other := orig
	other.STAN++
	if back.Matches(&other) {
		t.Error("matches a different STAN")
	}
	for _, bad := range []Original{
		{MTI: 10000, TransmissionTime: o.TransmissionTime},
		{STAN: 1e6, TransmissionTime: o.TransmissionTime},
		{Acquirer: 1e11, TransmissionTime: o.TransmissionTime},
		{Forwarder: 1e11, TransmissionTime: o.TransmissionTime},
		{},
	} {
		if err := m.SetOriginal(bad); !errors.Is(err, ErrOriginalData) {
			t.Errorf("SetOriginal(%+v) = %v", bad, err)
		}
	}
	var empty Message
	if _, err := empty.Original(); !errors.Is(err, ErrOriginalData) {
		t.Errorf("Original() of a message without 90: %v", err)
	}
	empty.Set(FieldOriginalData) // set but never written: 42 zero bytes
	if _, err := empty.Original(); !errors.Is(err, ErrOriginalData) {
		t.Errorf("Original() of zero bytes: %v", err)
	}
}

func TestParticipantAndPaymentKey(t *testing.T) {
	var m Message
	if _, ok := m.PaymentKey(); ok {
		t.Error("PaymentKey of an empty message")
	}
	mustSet(t, &m, FieldAcquirer, "0010002")
	mustSet(t, &m, FieldReceiver, "99999999999")
	if p, ok := m.Participant(FieldAcquirer); !ok || p != 10002 {
		t.Errorf("Participant(32) = %d %v", p, ok)
	}
	if p, ok := m.Participant(FieldReceiver); !ok || p != 99999999999 {
		t.Errorf("Participant(100) = %d %v", p, ok)
	}
	if _, ok := m.Participant(FieldForwarder); ok {
		t.Error("Participant(33) of a message without 33")
	}
	if _, ok := m.Participant(FieldPAN); ok {
		t.Error("Participant(2)")
	}
	if _, ok := m.PaymentKey(); ok {
		t.Error("PaymentKey without 37")
	}
	mustSet(t, &m, FieldRRN, "616309000042")
	key, ok := m.PaymentKey()
	if !ok || key != (PaymentKey{Acquirer: 10002, RRN: [12]byte([]byte("616309000042"))}) {
		t.Errorf("PaymentKey() = %+v %v", key, ok)
	}
	// Resends of one payment share the key; leading zeros do not matter.
	mustSet(t, &m, FieldAcquirer, "10002")
	if again, _ := m.PaymentKey(); again != key {
		t.Errorf("key %+v, want %+v", again, key)
	}
}

func TestSTANSequence(t *testing.T) {
	var s STANSequence
	if s.Next() != 1 || s.Next() != 2 {
		t.Error("the sequence does not start at 1")
	}
	s.last.Store(stanMax - 1)
	if s.Next() != stanMax || s.Next() != 1 {
		t.Error("the sequence does not wrap to 1 after 999999")
	}
	var wg sync.WaitGroup
	seen := make([][]uint32, 4)
	for g := range seen {
		wg.Go(func() {
			for range 1000 {
				seen[g] = append(seen[g], s.Next())
			}
		})
	}
	wg.Wait()
	all := slices.Concat(seen...)
	slices.Sort(all)
	if len(slices.Compact(all)) != 4000 {
		t.Error("concurrent callers got the same STAN")
	}
}

func TestTimeSetters(t *testing.T) {
	var m Message
	at := time.Date(2026, 12, 31, 23, 59, 58, 0, time.FixedZone("EAT", 3*3600))
	m.SetTransmissionTime(at)
	m.SetLocalTime(at)
	if string(m.TransmissionTime[:]) != "1231205958" || string(m.LocalTime[:]) != "235958" || string(m.LocalDate[:]) != "1231" {
		t.Errorf("7 %s, 12 %s, 13 %s", m.TransmissionTime[:], m.LocalTime[:], m.LocalDate[:])
	}
	if !m.Has(FieldTransmissionTime) || !m.Has(FieldLocalTime) || !m.Has(FieldLocalDate) {
		t.Error("fields not set")
	}
}

func TestPresence(t *testing.T) {
	var m Message
	m.Set(FieldSTAN, FieldMAC, 0, 200)
	if !m.Has(FieldSTAN) || !m.Has(FieldMAC) || m.Has(FieldMTI) || m.Has(200) {
		t.Error("Set or Has wrong")
	}
	if got := slices.Collect(m.Fields()); !slices.Equal(got, []Field{FieldSTAN, FieldMAC}) {
		t.Errorf("Fields() = %v", got)
	}
	m.Clear(FieldSTAN, 0, 255)
	if m.Has(FieldSTAN) || m.Bytes(FieldRRN) != nil {
		t.Error("Clear or Bytes wrong")
	}
	m.Reset()
	if m.Has(FieldMAC) {
		t.Error("Reset kept a field")
	}
}
