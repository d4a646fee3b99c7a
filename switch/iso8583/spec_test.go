package iso8583

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/moov-io/iso8583/encoding"
	"github.com/moov-io/iso8583/field"
	"github.com/moov-io/iso8583/prefix"
)

// contract is the field list of DESIGN.md 6.1, copied by hand: the test
// holds Spec and the fast codec's table to it.
var contract = map[Field]string{
	FieldPAN:              "n..19 LLVAR",
	FieldProcessingCode:   "n6",
	FieldAmount:           "n12",
	FieldTransmissionTime: "n10",
	FieldSTAN:             "n6",
	FieldLocalTime:        "n6",
	FieldLocalDate:        "n4",
	FieldAcquirer:         "n..11 LLVAR",
	FieldForwarder:        "n..11 LLVAR",
	FieldRRN:              "an12",
	FieldApprovalCode:     "an6",
	FieldResponseCode:     "an2",
	FieldTerminal:         "ans8",
	FieldAdditionalData:   "ans..999 LLLVAR",
	FieldCurrency:         "n3",
	FieldNetworkCode:      "n3",
	FieldOriginalData:     "n42",
	FieldReceiver:         "n..11 LLVAR",
	FieldPayerAccount:     "ans..28 LLVAR",
	FieldPayeeAccount:     "ans..64 LLVAR",
	FieldMAC:              "an16",
}

// contractFormat is one format of the contract, parsed.
type contractFormat struct {
	class        charClass
	lenMax       int // characters on the wire
	prefixDigits int // 0 fixed, 2 LLVAR, 3 LLLVAR
}

// parseContract parses "ans..999 LLLVAR" and friends. The MAC's an16 is
// upper-case hex by the contract's MAC rule.
func parseContract(f Field) contractFormat {
	s := contract[f]
	var cf contractFormat
	s, suffix, _ := strings.Cut(s, " ")
	cf.prefixDigits = map[string]int{"": 0, "LLVAR": 2, "LLLVAR": 3}[suffix]
	class, length, _ := strings.Cut(s, "..")
	if length == "" {
		class = strings.TrimRight(s, "0123456789")
		length = s[len(class):]
	}
	cf.class = map[string]charClass{"n": classDigits, "an": classAlnum, "ans": classPrint}[class]
	if f == FieldMAC {
		cf.class = classHexUpper
	}
	cf.lenMax, _ = strconv.Atoi(length)
	return cf
}

func TestSpecMatchesContract(t *testing.T) {
	var want []Field
	for f := range contract {
		want = append(want, f)
	}
	if got := Fields(); len(got) != len(want) {
		t.Fatalf("Fields() = %v, want the %d fields of the contract", got, len(want))
	}
	for f := range contract {
		cf := parseContract(f)
		if got := f.Format(); got != contract[f] {
			t.Errorf("field %d: Format() = %q, want %q", f, got, contract[f])
		}
		fl, ok := Spec.Fields[int(f)]
		if !ok {
			t.Errorf("field %d missing from Spec", f)
			continue
		}
		spec := fl.Spec()
		wantPref := map[int]prefix.Prefixer{0: prefix.ASCII.Fixed, 2: prefix.ASCII.LL, 3: prefix.ASCII.LLL}[cf.prefixDigits]
		if spec.Pref != wantPref {
			t.Errorf("field %d: prefix %s, want %s", f, spec.Pref.Inspect(), wantPref.Inspect())
		}
		wantLength, wantEnc := cf.lenMax, encoding.Encoder(encoding.ASCII)
		if f == FieldMAC {
			wantLength, wantEnc = cf.lenMax/2, encoding.BytesToASCIIHex
		}
		if spec.Length != wantLength || spec.Enc != wantEnc {
			t.Errorf("field %d: Length %d Enc %T, want %d %T", f, spec.Length, spec.Enc, wantLength, wantEnc)
		}
		if rule, _ := spec.Unpacker.(wireRule); rule.class != cf.class || spec.Packer != rule {
			t.Errorf("field %d: rule %v, want class %v for packing and unpacking", f, spec.Unpacker, cf.class)
		}
		if spec.Description == "" {
			t.Errorf("field %d has no description", f)
		}
	}
	mti := Spec.Fields[0].Spec()
	if mti.Length != 4 || mti.Pref != prefix.ASCII.Fixed || mti.Unpacker != (wireRule{classDigits}) {
		t.Errorf("MTI spec %+v, want n4", mti)
	}
	bm, ok := Spec.Fields[1].(*field.Bitmap)
	if !ok || bm.Spec().Length != 8 || bm.Spec().Enc != encoding.BytesToASCIIHex || bm.Spec().Pref != prefix.Hex.Fixed {
		t.Errorf("bitmap spec %+v, want 8-byte hex-ASCII", Spec.Fields[1].Spec())
	}
	if len(Spec.Fields) != len(contract)+2 {
		t.Errorf("Spec has %d fields, want the contract's %d plus MTI and bitmap", len(Spec.Fields), len(contract))
	}
	if err := Spec.Validate(); err != nil {
		t.Error(err)
	}
}

// TestTableMatchesSpec checks the fast codec's table, and the Message
// storage behind it, field by field against Spec and the contract.
func TestTableMatchesSpec(t *testing.T) {
	var m Message
	for f := range contract {
		cf, fm := parseContract(f), formats[f]
		lenMin := cf.lenMax
		if cf.prefixDigits > 0 {
			lenMin = 1
		}
		if fm.class != cf.class || int(fm.lenMax) != cf.lenMax || int(fm.lenMin) != lenMin ||
			int(fm.prefixDigits) != cf.prefixDigits {
			t.Errorf("field %d: table %+v, want %+v", f, fm, cf)
		}
		wantKind := map[reflect.Type]kind{
			reflect.TypeFor[*field.Numeric](): kindUint,
			reflect.TypeFor[*field.String]():  kindText,
			reflect.TypeFor[*field.Binary]():  kindHex,
		}[reflect.TypeOf(Spec.Fields[int(f)])]
		if f == FieldResponseCode {
			wantKind = kindPair
		}
		if fm.kind != wantKind {
			t.Errorf("field %d: kind %d, want %d", f, fm.kind, wantKind)
		}
		if fm.kind == kindText {
			storage, used := m.slot(f)
			if len(storage) != cf.lenMax || (used != nil) != (cf.prefixDigits > 0) {
				t.Errorf("field %d: storage of %d bytes (variable %v), want %d (variable %v)",
					f, len(storage), used != nil, cf.lenMax, cf.prefixDigits > 0)
			}
		}
	}
	for f := Field(0); f <= fieldNumberMax; f++ {
		_, inContract := contract[f]
		if definedFields.has(f) != inContract {
			t.Errorf("field %d: defined %v, in contract %v", f, definedFields.has(f), inContract)
		}
		if f == fieldNumberMax {
			break
		}
	}
	if formats[FieldMTI].kind != kindUint || formats[FieldMTI].lenMax != 4 {
		t.Errorf("MTI format %+v", formats[FieldMTI])
	}
}

func TestFieldNames(t *testing.T) {
	for _, tc := range []struct {
		f            Field
		name, format string
	}{
		{FieldMTI, "Message type indicator", "n4"},
		{FieldBitmap, "Bitmap", ""},
		{FieldAmount, "Amount, in minor units", "n12"},
		{FieldAdditionalData, "Additional data (mandate ID of a pull payment)", "ans..999 LLLVAR"},
		{5, "field 5", ""},
		{200, "field 200", ""},
	} {
		if got := tc.f.String(); got != tc.name {
			t.Errorf("Field(%d).String() = %q, want %q", tc.f, got, tc.name)
		}
		if got := tc.f.Format(); got != tc.format {
			t.Errorf("Field(%d).Format() = %q, want %q", tc.f, got, tc.format)
		}
	}
}

// messageSizeMax is the longest message the contract allows: every field
// at its maximum.
func messageSizeMax() int {
	n := 4 + 32
	for _, f := range Fields() {
		n += int(formats[f].prefixDigits) + int(formats[f].lenMax)
	}
	return n
}

func TestLimits(t *testing.T) {
	if n := messageSizeMax(); n > FrameSizeMax {
		t.Errorf("the longest message (%d bytes) does not fit a frame (%d)", n, FrameSizeMax)
	}
	if FrameSizeMax >= 1<<(8*frameHeaderLen) {
		t.Errorf("FrameSizeMax %d does not fit the %d-byte header", FrameSizeMax, frameHeaderLen)
	}
	if int(formats[FieldMAC].lenMax) != macHexLen || macHexLen != 2*macLen {
		t.Errorf("MAC is %d characters, want %d", formats[FieldMAC].lenMax, macHexLen)
	}
	for _, f := range Fields() {
		if fm := formats[f]; fm.kind == kindUint && int(fm.lenMax) > uintDigitsMax {
			t.Errorf("field %d: %d digits do not fit a uint64", f, fm.lenMax)
		}
		if fm := formats[f]; fm.prefixDigits > 0 && int(fm.lenMax) >= int(pow10[fm.prefixDigits]) {
			t.Errorf("field %d: maximum %d does not fit its %d-digit prefix", f, fm.lenMax, fm.prefixDigits)
		}
	}
	if stanMax != pow10[formats[FieldSTAN].lenMax]-1 || mtiMax != pow10[4]-1 {
		t.Error("stanMax or mtiMax disagrees with its field")
	}
	if originalEnd != int(formats[FieldOriginalData].lenMax) || originalTimeDigits != int(formats[FieldTransmissionTime].lenMax) ||
		originalSTANDigits != int(formats[FieldSTAN].lenMax) || originalMTIDigits != int(formats[FieldMTI].lenMax) {
		t.Error("the parts of field 90 disagree with its length or with the fields they copy")
	}
	if originalParticipantDigits != int(formats[FieldAcquirer].lenMax) {
		t.Error("field 90's participants are not as wide as field 32")
	}
	if macKeyLenMin > macKeyLenMax {
		t.Error("macKeyLenMin > macKeyLenMax")
	}
}
