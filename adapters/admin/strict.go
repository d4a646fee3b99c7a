package admin

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// This file holds the one way the admin API decodes a JSON body:
// decodeStrict. encoding/json alone is too lenient for an API that moves
// money. It matches object keys to fields regardless of case and lets the
// last of two equal keys win, so {"amount":"1.00","AMOUNT":"900.00"}
// decoded to 900.00, and a proxy or a log that reads the first key saw
// another request than the ledger did. The encoding/json/v2 package
// refuses both, but Go 1.26 builds it only with GOEXPERIMENT=jsonv2, so
// decodeStrict walks the body's tokens first, against the target's Go
// type, and refuses any key that is not exactly a field's name and any key
// that appears twice in one object; only then does encoding/json decode.

// keyError is what decodeStrict's walk refuses: a key that is unknown
// (including a known name in other case) or repeated, or a value of
// another JSON kind than its field takes (a string for a number, a number
// out of the field's range). Path is where it is, below the decoded value
// ("transfer.code", "" for the value itself); Msg says what is wrong,
// repeating at most quotedInputLenMax bytes of the client's text.
type keyError struct {
	Path string
	Msg  string
}

func (e *keyError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Types that decode themselves. The walk leaves a json.Unmarshaler's
// value to it (json.RawMessage is one: the commands of a request are
// checked one by one, so that an error names its index), and holds a
// TextUnmarshaler's to a string.
var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodeStrict decodes exactly one JSON object into v, a pointer to a
// struct. Every object key at every level must be exactly the JSON name
// of a field (or any key of a map, once); unknown keys, keys in other case,
// repeated keys, a value of a kind its field does not take, a value other
// than an object, and trailing data are errors. The *keyError and
// *json.SyntaxError it returns are for jsonErrorDetail.
func decodeStrict(data []byte, v any) error {
	if err := checkKeys(data, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	// The key walk already refused unknown keys; this is the backstop.
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// errNotJSON stops the key walk on input that is not JSON: reporting it
// is json.Decoder's job, with the byte offset.
var errNotJSON = errors.New("admin: not JSON")

// checkKeys walks the first JSON value of data against type t. It returns
// nil when data is not JSON at all (Decode then reports where), and a
// *keyError for the first key it refuses.
func checkKeys(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a huge number stays text; it is never parsed here
	tok, err := dec.Token()
	if err != nil {
		return nil
	}
	if tok != json.Delim('{') {
		return &keyError{Msg: "want an object, got " + tokenKind(tok)}
	}
	w := keyWalker{dec: dec}
	err = w.object(derefType(t), "")
	if errors.Is(err, errNotJSON) {
		return nil
	}
	return err
}

// tokenKind names the JSON kind of a value's first token.
func tokenKind(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '[' {
			return "a JSON array"
		}
		return "a JSON object"
	case string:
		return "a JSON string"
	case json.Number:
		return "a JSON number"
	case bool:
		return "a JSON boolean"
	}
	return "null"
}

// keyWalker walks the tokens of one value. Each value's type says which
// JSON kinds it takes (kindMismatch) and which keys its objects may have:
// a struct's JSON field names, or any key for a map or for a value whose
// type is not known (nil: an interface). Every object refuses a repeated
// key.
type keyWalker struct {
	dec *json.Decoder
}

func (w *keyWalker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, errNotJSON
	}
	return tok, nil
}

// value walks the next value, of type t.
func (w *keyWalker) value(t reflect.Type, path string) error {
	t = derefType(t)
	if t != nil && reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
		var raw json.RawMessage
		if w.dec.Decode(&raw) != nil {
			return errNotJSON
		}
		return nil
	}
	tok, err := w.token()
	if err != nil {
		return err
	}
	if msg := kindMismatch(t, tok); msg != "" {
		return &keyError{Path: path, Msg: msg}
	}
	switch tok {
	case json.Delim('{'):
		return w.object(t, path)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		_, err = w.token() // ']'
		return err
	}
	return nil // a scalar: Decode checks that it fits t
}

// kindMismatch says what is wrong when a value starting with tok cannot
// decode into type t, and is "" when it can (or when t is not known). Null
// fits every type, as encoding/json leaves the field as it was.
func kindMismatch(t reflect.Type, tok json.Token) string {
	if t == nil || tok == nil || t.Kind() == reflect.Interface {
		return ""
	}
	fits := false
	switch tok := tok.(type) {
	case json.Delim:
		switch t.Kind() {
		case reflect.Struct, reflect.Map:
			fits = tok == '{'
		case reflect.Slice, reflect.Array:
			fits = tok == '['
		}
	case string:
		fits = t.Kind() == reflect.String || reflect.PointerTo(t).Implements(textUnmarshalerType)
	case bool:
		fits = t.Kind() == reflect.Bool
	case json.Number:
		fits = numberFits(t, tok.String())
	}
	if fits {
		return ""
	}
	got := tokenKind(tok)
	if n, ok := tok.(json.Number); ok {
		got += " " + cut(n.String(), quotedInputLenMax) + ellipsis(n.String(), quotedInputLenMax)
	}
	return "want " + typeWant(t) + ", got " + got
}

// numberFits reports whether the JSON number text decodes into type t.
func numberFits(t reflect.Type, text string) bool {
	var err error
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		_, err = strconv.ParseUint(text, 10, t.Bits())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err = strconv.ParseInt(text, 10, t.Bits())
	case reflect.Float32, reflect.Float64:
		_, err = strconv.ParseFloat(text, t.Bits())
	default:
		return false
	}
	return err == nil
}

// typeWant says in the API's words what a value of type t must be.
func typeWant(t reflect.Type) string {
	t = derefType(t)
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number from 0 to " + strconv.FormatUint(1<<t.Bits()-1, 10)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number from " + strconv.FormatInt(-1<<(t.Bits()-1), 10) + " to " + strconv.FormatInt(1<<(t.Bits()-1)-1, 10)
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		switch elem := derefType(t.Elem()); {
		case elem.Kind() == reflect.String:
			return "an array of strings"
		case elem.Kind() >= reflect.Int && elem.Kind() <= reflect.Uintptr:
			return "an array of whole numbers"
		case elem.Kind() == reflect.Struct || elem.Kind() == reflect.Map || elem == reflect.TypeFor[json.RawMessage]():
			return "an array of objects"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a JSON value"
}

// object walks the members of an object whose '{' was read, up to and
// including its '}'.
func (w *keyWalker) object(t reflect.Type, path string) error {
	var fields []jsonField
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = jsonFields(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	default:
		t = nil // not an object in Go: Decode refuses it
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return errNotJSON
		}
		if seen[key] {
			return &keyError{Path: path, Msg: "field " + quote(key) + " appears more than once"}
		}
		seen[key] = true
		var childType reflect.Type
		var childPath string
		if t != nil && t.Kind() == reflect.Struct {
			f, ok := fieldNamed(fields, key)
			if !ok {
				return &keyError{Path: path, Msg: unknownFieldMsg(fields, key)}
			}
			childType, childPath = f.typ, joinPath(path, f.name)
		} else {
			childType, childPath = elem, path+"["+quote(key)+"]"
		}
		if err := w.value(childType, childPath); err != nil {
			return err
		}
	}
	_, err := w.token() // '}'
	return err
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func derefType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// unknownFieldMsg says that key is not a field, and which one the client
// may have meant: the same name in other case, or else the list.
func unknownFieldMsg(fields []jsonField, key string) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		if strings.EqualFold(f.name, key) {
			return "unknown field " + quote(key) + `; names are case-sensitive: did you mean "` + f.name + `"?`
		}
		names[i] = f.name
	}
	return "unknown field " + quote(key) + "; want one of " + strings.Join(names, ", ")
}

// jsonField is one field of a struct as encoding/json names it.
type jsonField struct {
	name string
	typ  reflect.Type
}

func fieldNamed(fields []jsonField, name string) (jsonField, bool) {
	for _, f := range fields {
		if f.name == name {
			return f, true
		}
	}
	return jsonField{}, false
}

// jsonFields lists the fields encoding/json decodes into a struct of type
// t, by their JSON names: exported fields named by their tag or else
// their Go name, except those tagged "-"; the fields of an embedded
// struct without a tag name are promoted, and a field of the outer struct
// hides an embedded one of the same name. (Two embedded structs with a
// field of the same name at the same depth, which encoding/json would
// then ignore, do not occur in this package's bodies.)
// TestStrictKnowsEveryField holds it to encoding/json for every body type.
func jsonFields(t reflect.Type) []jsonField {
	var fields, promoted []jsonField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			if inner := derefType(sf.Type); inner.Kind() == reflect.Struct {
				promoted = append(promoted, jsonFields(inner)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields = append(fields, jsonField{name: name, typ: sf.Type})
	}
	for _, f := range promoted {
		if _, hidden := fieldNamed(fields, f.name); !hidden {
			fields = append(fields, f)
		}
	}
	return fields
}
