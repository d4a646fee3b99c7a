package iso8583

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	moov "github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/field"
)

// The reference codec is moov-io/iso8583 with Spec. It is slow and
// general; the fast codec must agree with it on every input.

// errNotCanonical is the reference's answer to input that moov unpacks but
// would not write that way: trailing bytes, a lower-case bitmap, an empty
// secondary bitmap. Moov leaves that check to its caller.
var errNotCanonical = errors.New("not what moov packs back")

// moovUnpack decodes p with moov and Spec, and accepts it only if moov
// packs the result back to exactly p.
func moovUnpack(p []byte) (msg *moov.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("moov panicked: %v", r)
		}
	}()
	msg = moov.NewMessage(Spec)
	if err := msg.Unpack(p); err != nil {
		return nil, err
	}
	repacked, err := msg.Pack()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(repacked, p) {
		return nil, errNotCanonical
	}
	return msg, nil
}

// moovPack packs the fields of m with moov and Spec, setting each from
// its value as text, the way an application of moov would.
func moovPack(m *Message) ([]byte, error) {
	msg := moov.NewMessage(Spec)
	msg.MTI(fmt.Sprintf("%04d", m.MTI))
	for f := range m.Fields() {
		var err error
		switch Spec.Fields[int(f)].(type) {
		case *field.Bitmap:
			continue // written from the other fields by both codecs
		case *field.Numeric:
			err = msg.Field(int(f), strconv.FormatUint(m.uintOf(f), 10))
		case *field.String:
			err = msg.Field(int(f), valueOf(m, f))
		case *field.Binary:
			err = msg.BinaryField(int(f), m.MAC[:])
		default:
			err = fmt.Errorf("field %d not in the spec", f)
		}
		if err != nil {
			return nil, err
		}
	}
	return msg.Pack()
}

// diffMoov describes the first difference between the values of m and
// msg, or returns "".
func diffMoov(m *Message, msg *moov.Message) string {
	if mti, _ := msg.GetMTI(); mti != m.MTI.String() {
		return fmt.Sprintf("MTI %v, moov %s", m.MTI, mti)
	}
	var moovFields bitmap
	for id := range msg.GetFields() {
		if id > 1 {
			moovFields.set(Field(id))
		}
	}
	if moovFields != m.present {
		return fmt.Sprintf("fields [%v], moov [%v]", m.present, moovFields)
	}
	for f := range m.Fields() {
		var fast, slow string
		switch fl := msg.GetField(int(f)).(type) {
		case *field.Numeric:
			fast, slow = strconv.FormatUint(m.uintOf(f), 10), strconv.FormatInt(fl.Value(), 10)
		case *field.String:
			fast, slow = valueOf(m, f), fl.Value()
		case *field.Binary:
			fast, slow = string(m.MAC[:]), string(fl.Value())
		default:
			return fmt.Sprintf("field %d: moov type %T", f, fl)
		}
		if fast != slow {
			return fmt.Sprintf("field %d: %q, moov %q", f, fast, slow)
		}
	}
	return ""
}

// checkUnpackAgrees unpacks p with both codecs: both accept or both
// reject, and what they accept decodes to equal values and packs back to p.
// It returns whether p was accepted.
func checkUnpackAgrees(t *testing.T, p []byte) bool {
	t.Helper()
	var m Message
	fastErr := Unpack(p, &m)
	msg, moovErr := moovUnpack(p)
	if (fastErr == nil) != (moovErr == nil) {
		t.Fatalf("Unpack(%q): fast %v, moov %v", p, fastErr, moovErr)
	}
	if fastErr != nil {
		var fe *FieldError
		if !errors.As(fastErr, &fe) {
			t.Fatalf("Unpack(%q): %v is not a *FieldError", p, fastErr)
		}
		return false
	}
	if diff := diffMoov(&m, msg); diff != "" {
		t.Fatalf("Unpack(%q): %s", p, diff)
	}
	if q, err := m.Pack(nil); err != nil || !bytes.Equal(p, q) {
		t.Fatalf("Pack(Unpack(%q)) = %q, %v", p, q, err)
	}
	return true
}

// checkPackAgrees packs m with both codecs: both fail, or both write the
// same bytes. It returns whether they packed m.
func checkPackAgrees(t *testing.T, m *Message) bool {
	t.Helper()
	fast, fastErr := m.Pack(nil)
	slow, moovErr := moovPack(m)
	if (fastErr == nil) != (moovErr == nil) {
		t.Fatalf("Pack(%+v): fast %v, moov %v", m.present, fastErr, moovErr)
	}
	if fastErr == nil && !bytes.Equal(fast, slow) {
		t.Fatalf("Pack: fast %q, moov %q", fast, slow)
	}
	return fastErr == nil
}

// source turns fuzz bytes into choices; past the end it yields zeros.
type source struct{ data []byte }

func (s *source) byte() byte {
	if len(s.data) == 0 {
		return 0
	}
	b := s.data[0]
	s.data = s.data[1:]
	return b
}

func (s *source) uint64() uint64 {
	var v uint64
	for range 8 {
		v = v<<8 | uint64(s.byte())
	}
	return v
}

// alphabets hold the characters of each class, for generating values.
var alphabets = map[charClass]string{
	classDigits:   "0123456789",
	classAlnum:    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
	classPrint:    " !\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~",
	classHexUpper: "0123456789ABCDEF",
}

// genMessage builds a message from fuzz bytes: mostly valid fields, with
// now and then a value Pack must refuse (too many digits, a character
// outside the format, an empty variable field, an MTI of five digits, a
// field the spec does not define).
func genMessage(data []byte) Message {
	s := &source{data: data}
	var m Message
	m.MTI = [...]MTI{200, 210, 420, 430, 800, 810}[s.byte()%6]
	if s.byte()%16 == 0 {
		m.MTI = MTI(uint16(s.byte())<<8 | uint16(s.byte()))
	}
	for _, f := range Fields() {
		if s.byte()%3 != 0 {
			continue
		}
		m.present.set(f)
		fm := formats[f]
		switch fm.kind {
		case kindUint:
			v := s.uint64()
			if s.byte()%8 != 0 {
				v %= pow10[fm.lenMax]
			}
			m.setUint(f, v)
		case kindText, kindPair:
			n := int(fm.lenMax)
			if fm.prefixDigits > 0 {
				n = 1 + int(uint16(s.byte())<<8|uint16(s.byte()))%int(fm.lenMax)
				if s.byte()%16 == 0 {
					n = 0
				}
			}
			value := make([]byte, n)
			alphabet := alphabets[fm.class]
			for i := range value {
				if c := s.byte(); c%64 == 0 {
					value[i] = s.byte()
				} else {
					value[i] = alphabet[int(c)%len(alphabet)]
				}
			}
			if fm.kind == kindPair {
				m.ResponseCode = ResponseCode(value[0])<<8 | ResponseCode(value[1])
			} else {
				m.setText(f, value)
			}
		case kindHex:
			for i := range m.MAC {
				m.MAC[i] = s.byte()
			}
		}
	}
	if s.byte()%32 == 1 {
		m.present.set(Field(s.byte()%fieldNumberMax + 1))
	}
	return m
}

// differentialInputCap bounds fuzz input: two frames' worth.
const differentialInputCap = 2 * FrameSizeMax

// FuzzDifferential proves that the fast codec and moov-io/iso8583 with Spec
// are one codec: they accept and reject the same input and decode it to
// the same values, and they pack any message to the same bytes or both
// refuse it. Run it with -fuzz FuzzDifferential -fuzztime 20000x.
func FuzzDifferential(f *testing.F) {
	for _, s := range samples(f) {
		p := packSample(f, s)
		f.Add(p)
		f.Add(append(bytes.Clone(p), '0'))
		f.Add(p[:len(p)/2])
	}
	f.Add([]byte("08000000000000000000"))
	f.Add([]byte("020080000000000000000000000000000000"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > differentialInputCap {
			return
		}
		checkUnpackAgrees(t, data)
		m := genMessage(data)
		checkPackAgrees(t, &m)
	})
}

// TestDifferentialMutations runs the differential check on a few thousand
// seeded mutations of every sample, so that a plain go test compares the
// codecs on more than the fuzz seeds.
func TestDifferentialMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(8583, 61))
	interesting := []byte("0123456789AFZafz +-~\x00\x7f\x80")
	var all [][]byte
	for _, s := range samples(t) {
		all = append(all, packSample(t, s))
	}
	const rounds = 3000
	var accepted, packed int
	for range rounds {
		p := bytes.Clone(all[rng.IntN(len(all))])
		for range 1 + rng.IntN(3) {
			if len(p) == 0 {
				break
			}
			at := rng.IntN(len(p))
			switch rng.IntN(6) {
			case 0, 1, 2: // replace a byte
				p[at] = interesting[rng.IntN(len(interesting))]
			case 3: // delete one
				p = append(p[:at], p[at+1:]...)
			case 4: // insert one
				p = append(p[:at], append([]byte{interesting[rng.IntN(len(interesting))]}, p[at:]...)...)
			case 5: // cut
				p = p[:at]
			}
		}
		if checkUnpackAgrees(t, p) {
			accepted++
		}
		raw := make([]byte, 64+rng.IntN(512))
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		m := genMessage(raw)
		if checkPackAgrees(t, &m) {
			packed++
			p, _ := m.Pack(nil)
			checkUnpackAgrees(t, p)
		}
	}
	// Both outcomes must be common, or the comparison proves little.
	if accepted < rounds/20 || accepted > rounds*19/20 || packed < rounds/20 || packed > rounds*19/20 {
		t.Errorf("of %d rounds, %d mutations were accepted and %d messages packed", rounds, accepted, packed)
	}
	t.Logf("of %d rounds, %d mutations were accepted and %d messages packed", rounds, accepted, packed)
}
