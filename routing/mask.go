package routing

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaskName returns the display form of a registered name that a resolve
// may show to the payer: the first letter of each word followed by one '*'
// per further character, "Jane Wanjiku Doe" → "J*** W****** D**". It keeps
// at most 4 words and shows at most 24 characters of any word, so a
// masked name is short whatever was registered. A word whose first
// character is not a letter or digit (punctuation, a control character,
// invalid UTF-8) is masked completely. Words are separated by Unicode
// white space; the result separates them with single spaces.
func MaskName(name string) string {
	var b strings.Builder
	words := 0
	for i := 0; i < len(name) && words < maskWordsMax; {
		r, size := utf8.DecodeRuneInString(name[i:])
		if unicode.IsSpace(r) {
			i += size
			continue
		}
		// A word starts at i; find its end and count its characters.
		runes := 0
		end := i
		for end < len(name) {
			r2, size2 := utf8.DecodeRuneInString(name[end:])
			if unicode.IsSpace(r2) {
				break
			}
			runes++
			end += size2
		}
		if words > 0 {
			b.WriteByte(' ')
		}
		if (unicode.IsLetter(r) || unicode.IsDigit(r)) && r != utf8.RuneError {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
		b.WriteString(strings.Repeat("*", min(runes, maskWordRunesMax)-1))
		words++
		i = end
	}
	return b.String()
}

// MaskIdentifier returns a form of id that is safe for logs and errors:
// the type and enough of the value for a person to tell two identifiers
// apart in an investigation, never enough to recover it.
//
//   - msisdn: the country code and first digit, the last two digits:
//     "msisdn:+2547******01".
//   - nid: the last two characters of a long ID: "nid:******7A".
//   - alias: the first letter of the name, the participant:
//     "alias:j*******@10002".
//   - email: the first letter of the local part and of each domain label
//     but the last: "email:j***@e******.com".
//   - acct: the participant and the last four characters of a long
//     account: "acct:10002/****3456".
//
// At least half of every masked value is stars. The zero Identifier
// gives "none".
func MaskIdentifier(id Identifier) string {
	v := id.value
	var masked string
	switch id.typ {
	case IDTypeMSISDN:
		head := 3
		if len(v)-1 >= 11 {
			head = 4
		}
		masked = "+" + maskMiddle(v[1:], head, 2)
	case IDTypeNID:
		masked = maskMiddle(v, 0, 2)
	case IDTypeAlias:
		at := strings.LastIndexByte(v, '@')
		masked = maskMiddle(v[:at], 1, 0) + v[at:]
	case IDTypeEmail:
		masked = maskEmail(v)
	case IDTypeAcct:
		slash := strings.IndexByte(v, '/')
		masked = v[:slash+1] + maskMiddle(v[slash+1:], 0, 4)
	default:
		return "none"
	}
	return id.typ.String() + ":" + masked
}

// maskEmail masks a normalised e-mail address for MaskIdentifier.
func maskEmail(v string) string {
	at := strings.IndexByte(v, '@')
	labels := strings.Split(v[at+1:], ".")
	for i := range labels[:len(labels)-1] {
		labels[i] = maskMiddle(labels[i], 1, 0)
	}
	return maskMiddle(v[:at], 1, 0) + "@" + strings.Join(labels, ".")
}

// maskMiddle keeps the first head and last tail bytes of an ASCII string
// and replaces the rest with stars, keeping its length. It shows fewer
// when that would leave less than half of s masked: the head goes first.
func maskMiddle(s string, head, tail int) string {
	limit := len(s) / 2
	for head+tail > limit && head > 0 {
		head--
	}
	for tail > limit {
		tail--
	}
	return s[:head] + strings.Repeat("*", len(s)-head-tail) + s[len(s)-tail:]
}
