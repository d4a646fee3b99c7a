package iso8583

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// wireWith builds, by hand, a 0200 whose only field is f with the given
// wire text (length prefix included).
func wireWith(f Field, fieldWire string) []byte {
	var b bitmap
	b.set(f)
	if f > 64 {
		return fmt.Appendf(nil, "0200%016X%016X%s", b[0]|1<<63, b[1], fieldWire)
	}
	return fmt.Appendf(nil, "0200%016X%s", b[0], fieldWire)
}

// accepted and rejected characters at the edges of each class.
var (
	classAccepts = map[charClass]string{
		classDigits:   "09",
		classAlnum:    "09AZaz",
		classPrint:    " ~!09Az",
		classHexUpper: "09AF",
	}
	classRejects = map[charClass]string{
		classDigits:   "A /:+-\x00",
		classAlnum:    " -/:@[`{~\x00",
		classPrint:    "\x00\x1f\x7f\x80\xff",
		classHexUpper: "afG/:@ ",
	}
)

// wantFieldError fails unless err is a *FieldError for field f wrapping
// sentinel want.
func wantFieldError(t *testing.T, err error, f Field, want error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != f || !errors.Is(err, want) {
		t.Errorf("error %v, want field %d: %v", err, f, want)
	}
}

// valueOf returns field f of m as text, whatever its kind.
func valueOf(m *Message, f Field) string {
	switch formats[f].kind {
	case kindUint:
		return strconv.FormatUint(m.uintOf(f), 10)
	case kindPair:
		return m.ResponseCode.String()
	case kindHex:
		return fmt.Sprintf("%X", m.MAC)
	}
	return string(m.Bytes(f))
}

// TestFieldBoundaries unpacks and packs every field at its shortest and
// longest, with each edge character of its class, and checks each way it
// can be wrong: every length and character just outside the format, a
// malformed or cut length prefix, and a cut value.
func TestFieldBoundaries(t *testing.T) {
	for f := range contract {
		cf := parseContract(f)
		lengths := []int{cf.lenMax}
		if cf.prefixDigits > 0 {
			lengths = []int{1, 2, cf.lenMax}
		}
		prefix := func(n int) string {
			if cf.prefixDigits == 0 {
				return ""
			}
			return fmt.Sprintf("%0*d", cf.prefixDigits, n)
		}
		t.Run(fmt.Sprintf("field%d", f), func(t *testing.T) {
			var m Message
			for _, n := range lengths {
				for _, c := range classAccepts[cf.class] {
					value := strings.Repeat(string(c), n)
					p := wireWith(f, prefix(n)+value)
					if err := Unpack(p, &m); err != nil {
						t.Fatalf("%q: %v", p, err)
					}
					if !m.Has(f) {
						t.Fatalf("%q: field %d missing", p, f)
					}
					want := value
					if formats[f].kind == kindUint {
						v, _ := strconv.ParseUint(value, 10, 64)
						want = strconv.FormatUint(v, 10)
					}
					if got := valueOf(&m, f); got != want {
						t.Fatalf("%q: value %q, want %q", p, got, want)
					}
					if q, err := m.Pack(nil); err != nil || !bytes.Equal(p, q) {
						t.Fatalf("Pack(Unpack(%q)) = %q, %v", p, q, err)
					}
				}
				for _, c := range classRejects[cf.class] {
					for _, at := range []int{0, n - 1} {
						value := []byte(strings.Repeat(string(classAccepts[cf.class][0]), n))
						value[at] = byte(c)
						wantFieldError(t, Unpack(wireWith(f, prefix(n)+string(value)), &m), f, ErrCharset)
					}
				}
			}
			ok := strings.Repeat(string(classAccepts[cf.class][0]), cf.lenMax)
			// Cut short: the message ends inside the value.
			wantFieldError(t, Unpack(wireWith(f, prefix(cf.lenMax)+ok[1:]), &m), f, ErrTruncated)
			if cf.prefixDigits == 0 {
				return
			}
			wantFieldError(t, Unpack(wireWith(f, prefix(0)), &m), f, ErrLength)
			if cf.lenMax+1 < int(pow10[cf.prefixDigits]) {
				wantFieldError(t, Unpack(wireWith(f, prefix(cf.lenMax+1)+ok+ok[:1]), &m), f, ErrLength)
			}
			for _, bad := range []string{"+1", " 1", "1 ", "-1", "1A", "\x001"} {
				if cf.prefixDigits == 3 {
					bad = "0" + bad
				}
				wantFieldError(t, Unpack(wireWith(f, bad+ok), &m), f, ErrLength)
			}
			wantFieldError(t, Unpack(wireWith(f, prefix(1)[:1]), &m), f, ErrTruncated)
		})
	}
}

// TestPackBoundaries checks what Pack and SetBytes refuse, field by field.
func TestPackBoundaries(t *testing.T) {
	for f := range contract {
		cf := parseContract(f)
		t.Run(fmt.Sprintf("field%d", f), func(t *testing.T) {
			var m Message
			m.MTI = MTIFinancialRequest
			m.Set(f)
			switch formats[f].kind {
			case kindUint:
				m.setUint(f, pow10[cf.lenMax]-1)
				if _, err := m.Pack(nil); err != nil {
					t.Errorf("largest value: %v", err)
				}
				m.setUint(f, pow10[cf.lenMax])
				_, err := m.Pack(nil)
				wantFieldError(t, err, f, ErrTooLarge)
				if err := m.SetBytes(f, []byte("1")); !errors.Is(err, ErrNotText) {
					t.Errorf("SetBytes: %v, want ErrNotText", err)
				}
			case kindText:
				lenMin := cf.lenMax
				if cf.prefixDigits > 0 {
					lenMin = 1
					// An empty variable field cannot be packed.
					if _, err := m.Pack(nil); !errors.Is(err, ErrLength) {
						t.Errorf("empty field: %v, want ErrLength", err)
					}
				}
				ok := classAccepts[cf.class][:1]
				for _, n := range []int{lenMin, cf.lenMax} {
					if err := m.SetBytes(f, []byte(strings.Repeat(ok, n))); err != nil {
						t.Errorf("SetBytes of %d characters: %v", n, err)
					}
					if _, err := m.Pack(nil); err != nil {
						t.Errorf("Pack of %d characters: %v", n, err)
					}
				}
				wantFieldError(t, m.SetBytes(f, []byte(strings.Repeat(ok, lenMin-1))), f, ErrLength)
				wantFieldError(t, m.SetBytes(f, []byte(strings.Repeat(ok, cf.lenMax+1))), f, ErrLength)
				for _, c := range classRejects[cf.class] {
					value := []byte(strings.Repeat(ok, cf.lenMax))
					value[cf.lenMax-1] = byte(c)
					wantFieldError(t, m.SetBytes(f, value), f, ErrCharset)
					m.setText(f, value) // what SetBytes refused, written behind its back
					_, err := m.Pack(nil)
					wantFieldError(t, err, f, ErrCharset)
				}
			case kindPair:
				m.ResponseCode = ResponseCode('0')<<8 | ' '
				_, err := m.Pack(nil)
				wantFieldError(t, err, f, ErrCharset)
				m.ResponseCode = ResponseCode('z')<<8 | 'Z'
				if _, err := m.Pack(nil); err != nil {
					t.Error(err)
				}
			case kindHex:
				m.MAC = [8]byte{0xFF, 0, 0xAB}
				p, err := m.Pack(nil)
				if err != nil || !bytes.HasSuffix(p, []byte("FF00AB0000000000")) {
					t.Errorf("Pack = %q, %v", p, err)
				}
			}
		})
	}
}

func TestUnpackErrors(t *testing.T) {
	payment := packSample(t, sampleNamed(t, "0200"))
	for _, tc := range []struct {
		name  string
		input string
		field Field
		err   error
	}{
		{"empty", "", FieldMTI, ErrTruncated},
		{"short MTI", "020", FieldMTI, ErrTruncated},
		{"letter in MTI", "02A0", FieldMTI, ErrCharset},
		{"sign in MTI", "+200", FieldMTI, ErrCharset},
		{"no bitmap", "0200", FieldBitmap, ErrTruncated},
		{"short bitmap", "0200000000000000000", FieldBitmap, ErrTruncated},
		{"lower-case bitmap", "0200b238000108808000", FieldBitmap, ErrCharset},
		{"non-hex bitmap", "0200G000000000000000", FieldBitmap, ErrCharset},
		{"secondary announced, absent", "02008000000000000000", FieldBitmap, ErrTruncated},
		{"lower-case secondary", "02008000000000000000000000000000000a", FieldBitmap, ErrCharset},
		{"empty secondary", "020080000000000000000000000000000000", FieldBitmap, ErrEmptyBitmap},
		{"third bitmap (bit 65)", "020080000000000000008000000000000000", 65, ErrUnknownField},
		{"field 5", "02000800000000000000", 5, ErrUnknownField},
		{"field 64", "02000000000000000001", 64, ErrUnknownField},
		{"field 127", "020080000000000000000000000000000002", 127, ErrUnknownField},
		{"unknown after a bad field", "02004800000000000000" + "AA", 5, ErrUnknownField},
		{"bytes after the bitmap", "02000000000000000000" + "0", FieldBitmap, ErrTrailing},
		{"bytes after the MAC", string(payment) + "0", FieldMAC, ErrTrailing},
		{"bytes after field 11", "02000020000000000000" + "0000010", FieldSTAN, ErrTrailing},
		{"cut MAC", string(payment[:len(payment)-1]), FieldMAC, ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			wantFieldError(t, Unpack([]byte(tc.input), &m), tc.field, tc.err)
		})
	}
	var m Message
	if err := Unpack([]byte("08000000000000000000"), &m); err != nil || m.MTI != MTINetworkRequest {
		t.Errorf("a message without fields: %v", err)
	}
}

func TestPackErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(m *Message)
		field Field
		err   error
	}{
		{"MTI of five digits", func(m *Message) { m.MTI = 10000 }, FieldMTI, ErrTooLarge},
		{"field 5", func(m *Message) { m.Set(5) }, 5, ErrUnknownField},
		{"field 65", func(m *Message) { m.Set(65) }, 65, ErrUnknownField},
		{"amount of 13 digits", func(m *Message) { m.Amount = 1e12 }, FieldAmount, ErrTooLarge},
		{"STAN of 7 digits", func(m *Message) { m.STAN = 1e6 }, FieldSTAN, ErrTooLarge},
		{"empty PAN", func(m *Message) { m.Set(FieldPAN) }, FieldPAN, ErrLength},
		{"RRN never written", func(m *Message) { m.RRN = [12]byte{} }, FieldRRN, ErrCharset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleNamed(t, "0200").m
			tc.edit(&m)
			dst := []byte("keep")
			dst, err := m.Pack(dst)
			wantFieldError(t, err, tc.field, tc.err)
			if string(dst) != "keep" {
				t.Errorf("dst after a failed Pack: %q", dst)
			}
		})
	}
	var m Message
	m.Set(FieldBitmap, FieldMTI) // ignored: Pack writes both always
	if p, err := m.Pack(nil); err != nil || string(p) != "00000000000000000000" {
		t.Errorf("Pack = %q, %v", p, err)
	}
	for _, f := range []Field{FieldMTI, FieldBitmap, 5, FieldResponseCode, FieldMAC, 200} {
		if err := m.SetBytes(f, []byte("00")); !errors.Is(err, ErrNotText) {
			t.Errorf("SetBytes(%d): %v, want ErrNotText", f, err)
		}
	}
}

func TestFieldErrorText(t *testing.T) {
	var m Message
	err := Unpack([]byte("02001000000000000000"+"00000001250X"), &m)
	want := "iso8583: field 4 (Amount, in minor units): character outside the field's format"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !m.Has(FieldMTI) && m.MTI != MTIFinancialRequest {
		t.Errorf("MTI %v not kept", m.MTI)
	}
}

func TestRoundTripSamples(t *testing.T) {
	for _, s := range samples(t) {
		p := packSample(t, s)
		var m Message
		if err := Unpack(p, &m); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := m.CheckFields(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		want := s.m
		if s.mac {
			want.MAC = m.MAC // set by PackMAC
			want.Set(FieldMAC)
		}
		if diff := diffMessages(&m, &want); diff != "" {
			t.Errorf("%s: Unpack(Pack(m)) differs from m: %s", s.name, diff)
		}
		if q, err := m.Pack(nil); err != nil || !bytes.Equal(p, q) {
			t.Errorf("%s: Pack(Unpack(p)) = %q, want %q (%v)", s.name, q, p, err)
		}
	}
}

// TestUnpackKeepsNothingOfTheInput checks that a Message owns its bytes.
func TestUnpackKeepsNothingOfTheInput(t *testing.T) {
	p := packSample(t, sampleNamed(t, "0200"))
	var m Message
	if err := Unpack(p, &m); err != nil {
		t.Fatal(err)
	}
	for i := range p {
		p[i] = 'X'
	}
	if got := string(m.Bytes(FieldPayerAccount)); got != "0011223344" {
		t.Errorf("payer account %q after the input changed", got)
	}
}

func TestPeekMTISTAN(t *testing.T) {
	payment := string(packSample(t, sampleNamed(t, "0200")))
	signOn := string(packSample(t, sampleNamed(t, "0800")))
	// Field 3 of the payment starts after MTI, two bitmaps and no PAN.
	badProcessingCode := payment[:36] + "40000X" + payment[42:]
	for _, tc := range []struct {
		name  string
		input string
		mti   MTI
		stan  uint32
		ok    bool
	}{
		{"payment", payment, 200, 42, true},
		{"sign-on", signOn, 800, 1, true},
		{"bad field before 11", badProcessingCode, 200, 42, true},
		{"cut after 11", payment[:70], 200, 42, true},
		{"PAN with a bad length", "0200C000000000000000" + "0000000000000000" + "X1", 200, 0, false},
		{"PAN and STAN", "02004020000000000000" + "0512345" + "000077", 200, 77, true},
		{"STAN of letters", "02000020000000000000" + "00007A", 200, 0, false},
		{"no STAN", "02001000000000000000" + "000000012500", 200, 0, false},
		{"unknown field before 11", "02000820000000000000" + "000077", 200, 0, false},
		{"bad bitmap", "0200XX20000000000000" + "000077", 200, 0, false},
		{"cut STAN", "02000020000000000000" + "00007", 200, 0, false},
		{"MTI only", "0210", 210, 0, false},
		{"bad MTI", "02X0", 0, 0, false},
		{"empty", "", 0, 0, false},
	} {
		mti, stan, ok := PeekMTISTAN([]byte(tc.input))
		if mti != tc.mti || stan != tc.stan || ok != tc.ok {
			t.Errorf("%s: PeekMTISTAN = %v %d %v, want %v %d %v", tc.name, mti, stan, ok, tc.mti, tc.stan, tc.ok)
		}
	}
}

// diffMessages describes the first difference between the fields of a and
// b, or returns "" when they carry the same fields with the same values.
func diffMessages(a, b *Message) string {
	if a.MTI != b.MTI {
		return fmt.Sprintf("MTI %v != %v", a.MTI, b.MTI)
	}
	if a.present != b.present {
		return fmt.Sprintf("fields [%v] != [%v]", a.present, b.present)
	}
	for f := range a.Fields() {
		if x, y := valueOf(a, f), valueOf(b, f); x != y {
			return fmt.Sprintf("field %d: %q != %q", f, x, y)
		}
	}
	return ""
}
