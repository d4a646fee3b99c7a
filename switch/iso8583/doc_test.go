package iso8583

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the generated blocks of docs/iso8583.md")

// docPath is the integrators' guide. Its generated blocks (field table,
// message requirements, MAC example, hex dumps) come from this package, so
// the guide cannot drift from the code.
const docPath = "../../docs/iso8583.md"

// TestDocIsCurrent regenerates the generated blocks of docs/iso8583.md and
// fails if the file differs; go test -run TestDocIsCurrent -rewrite
// updates it (review the diff).
func TestDocIsCurrent(t *testing.T) {
	old, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{
		"fields":   docFields(),
		"messages": docMessages(),
		"mac":      docMAC(t),
		"dumps":    docDumps(t),
	}
	doc := string(old)
	for name, content := range blocks {
		re := regexp.MustCompile(`(?s)(<!-- BEGIN generated:` + name + ` -->\n).*?(<!-- END generated:` + name + ` -->)`)
		if !re.MatchString(doc) {
			t.Fatalf("%s has no generated block %q", docPath, name)
		}
		doc = re.ReplaceAllLiteralString(doc, "<!-- BEGIN generated:"+name+" -->\n"+content+"<!-- END generated:"+name+" -->")
	}
	for _, c := range ResponseCodes() {
		if !strings.Contains(doc, "| `"+c.String()+"` | "+c.Meaning()) {
			t.Errorf("%s does not list response code %s (%s)", docPath, c, c.Meaning())
		}
	}
	if doc == string(old) {
		return
	}
	if *rewrite {
		if err := os.WriteFile(docPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is stale; run go test ./switch/iso8583 -run TestDocIsCurrent -rewrite and review the diff", docPath)
}

// docFields is the table of every field of Spec.
func docFields() string {
	var b strings.Builder
	b.WriteString("| field | name | format |\n| ---: | --- | --- |\n")
	fmt.Fprintf(&b, "| MTI | %s | n4 |\n", FieldMTI)
	fmt.Fprintf(&b, "| bitmap | primary, then secondary when a field above 64 is present | 16 upper-case hex characters each |\n")
	for _, f := range Fields() {
		format := f.Format()
		if f == FieldMAC {
			format += " (upper-case hex)"
		}
		fmt.Fprintf(&b, "| %d | %s | %s |\n", f, f, format)
	}
	return b.String()
}

// docMessages is the table of the fields each message type carries.
func docMessages() string {
	order := []MTI{MTINetworkRequest, MTINetworkResponse, MTIFinancialRequest, MTIFinancialResponse,
		MTIReversalAdvice, MTIReversalAdviceResponse}
	var b strings.Builder
	b.WriteString("| field |")
	for _, mti := range order {
		fmt.Fprintf(&b, " %s |", mti)
	}
	b.WriteString("\n| --- |")
	for range order {
		b.WriteString(" :---: |")
	}
	b.WriteString("\n")
	for _, f := range Fields() {
		fmt.Fprintf(&b, "| %d %s |", f, f)
		for _, mti := range order {
			fmt.Fprintf(&b, " %s |", docCell(mti, f))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// docCell says how message type mti carries field f: M mandatory, O
// optional, C conditional (38: on an approval), E echoed and mandatory, e
// echoed when the request had it, - not allowed.
func docCell(mti MTI, f Field) string {
	r := requirementOf(mti)
	switch {
	case mti.IsRequest() && r.mandatory.has(f):
		return "M"
	case mti.IsRequest() && r.optional.has(f):
		return "O"
	case mti.IsRequest():
		return "-"
	case f == FieldApprovalCode && r.approval:
		return "C"
	case f == FieldResponseCode || f == FieldMAC:
		if r.mandatory.has(f) {
			return "M"
		}
		return "O"
	case r.mandatory.has(f):
		return "E"
	case r.optional.has(f):
		return "e"
	}
	return "-"
}

// docMAC works the MAC of the sample sign-on through, step by step.
func docMAC(t *testing.T) string {
	s := sampleNamed(t, "0800")
	p := packSample(t, s)
	body := p[:len(p)-macHexLen]
	h := hmac.New(sha256.New, sampleKey)
	h.Write(body)
	sum := strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
	var b strings.Builder
	b.WriteString("```text\n")
	fmt.Fprintf(&b, "key (32 bytes, hex)   %s\n", strings.ToUpper(hex.EncodeToString(sampleKey)))
	fmt.Fprintf(&b, "message with bit 128  %s\n", p)
	fmt.Fprintf(&b, "MAC input (%d bytes)  %s\n", len(body), body)
	fmt.Fprintf(&b, "HMAC-SHA256           %s\n", sum)
	fmt.Fprintf(&b, "MAC (first 8 bytes)   %s\n", sum[:macHexLen])
	b.WriteString("```\n")
	return b.String()
}

// docDumps shows every sample as it travels: a hex dump of the frame and
// the fields it carries.
func docDumps(t *testing.T) string {
	var b strings.Builder
	for _, s := range samples(t) {
		frame, err := AppendFrame(nil, packSample(t, s))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "#### %s\n\n```text\n", s.title)
		b.WriteString(hexDump(frame))
		b.WriteString("\n")
		b.WriteString(fieldDump(t, frame[frameHeaderLen:]))
		b.WriteString("```\n\n")
	}
	return b.String()
}

// hexDump formats b as hexdump -C does: offset, 16 bytes in hex, ASCII.
func hexDump(b []byte) string {
	var s strings.Builder
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		fmt.Fprintf(&s, "%04x  ", off)
		for i := range 16 {
			if i < len(line) {
				fmt.Fprintf(&s, "%02x ", line[i])
			} else {
				s.WriteString("   ")
			}
			if i == 7 {
				s.WriteString(" ")
			}
		}
		s.WriteString(" |")
		for _, c := range line {
			if c < ' ' || c > '~' {
				c = '.'
			}
			s.WriteByte(c)
		}
		s.WriteString("|\n")
	}
	return s.String()
}

// fieldDump lists the parts of message p as they are on the wire.
func fieldDump(t *testing.T, p []byte) string {
	var m Message
	if err := Unpack(p, &m); err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	fmt.Fprintf(&s, "header  %04X: a message of %d bytes\n", len(p), len(p))
	fmt.Fprintf(&s, "  MTI   %s\n", p[:4])
	present, off, err := unpackBitmap(p, 4)
	if err != nil {
		t.Fatal(err)
	}
	bitmaps := string(p[4:20])
	if off > 20 {
		bitmaps += " " + string(p[20:off])
	}
	fmt.Fprintf(&s, "  bitmap %s (fields %v)\n", bitmaps, present)
	for f := range present.all() {
		start, n, err := fieldSpan(p, off, f)
		if err != nil {
			t.Fatal(err)
		}
		value := string(p[start : start+n])
		if start > off {
			value = string(p[off:start]) + " " + value
		}
		fmt.Fprintf(&s, "  %3d  %-44s %s\n", f, f, value)
		off = start + n
	}
	return s.String()
}
