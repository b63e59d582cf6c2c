package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The check's body is parsed by hand: it is the hot path, its shape is a
// flat object of strings and one integer, and encoding/json's reflection
// and decoder allocation cost more than the rest of the handler. It
// accepts exactly what decodeBody would (field names matched without
// regard to case, null for "absent", the last of duplicate fields,
// invalid UTF-8 replaced by U+FFFD) and answers the same error codes; a
// fuzz test holds the two to the same verdicts.

// readBody reads r's body into buf (at most max bytes).
func readBody(r *http.Request, max int64, buf []byte) ([]byte, error) {
	if r.ContentLength > max {
		return buf, tooLarge(max)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return buf, tooLarge(max)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, &requestError{http.StatusBadRequest, "MALFORMED_JSON", "reading the body: " + err.Error(), nil}
		}
	}
}

func malformed(msg string) error {
	return &requestError{http.StatusBadRequest, "MALFORMED_JSON", msg, nil}
}

func typeError(field, want, got string) error {
	return &requestError{http.StatusBadRequest, "VALIDATION_FAILED", "invalid request", map[string]string{field: "must be a JSON " + want + ", not " + got}}
}

// parseCheck parses a check body into in.
func parseCheck(b []byte, in *checkRequest) error {
	err := parseCheckValue(b, in)
	var re *requestError
	if err != nil && errors.As(err, &re) && re.code != "MALFORMED_JSON" {
		// encoding/json reads the whole first value before decoding it:
		// a syntax error anywhere in it wins over a field's error.
		p := jsonParser{b: b}
		p.ws()
		if serr := p.skipValue(); serr != nil {
			return serr
		}
	}
	return err
}

func parseCheckValue(b []byte, in *checkRequest) error {
	p := jsonParser{b: b}
	p.ws()
	if p.eof() {
		return malformed("the body is empty; a JSON object is required")
	}
	switch p.b[p.i] {
	case '{':
	case 'n':
		if !p.lit("null") {
			return p.syntax()
		}
		return p.end()
	default:
		if err := p.skipValue(); err != nil {
			return err
		}
		if err := p.end(); err != nil {
			return err
		}
		return malformed("the body must be a JSON object")
	}
	p.i++
	p.ws()
	if p.peek('}') {
		p.i++
		return p.end()
	}
	for {
		p.ws()
		if !p.peek('"') {
			return p.syntax()
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		p.ws()
		if !p.peek(':') {
			return p.syntax()
		}
		p.i++
		p.ws()
		if err := p.field(key, in); err != nil {
			return err
		}
		p.ws()
		switch {
		case p.peek(','):
			p.i++
		case p.peek('}'):
			p.i++
			return p.end()
		default:
			return p.syntax()
		}
	}
}

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) eof() bool { return p.i >= len(p.b) }

func (p *jsonParser) peek(c byte) bool { return p.i < len(p.b) && p.b[p.i] == c }

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) syntax() error {
	if p.eof() {
		return malformed("the body ends inside a JSON value")
	}
	return malformed("invalid JSON at byte " + strconv.Itoa(p.i+1))
}

// end checks that only whitespace follows.
func (p *jsonParser) end() error {
	p.ws()
	if !p.eof() {
		return malformed("the body must hold exactly one JSON value")
	}
	return nil
}

func (p *jsonParser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// fieldOf returns where key's value goes: a string field, or nil for
// cost (isCost) or an unknown field. Names match without regard to case,
// as encoding/json matches them.
func fieldOf(key []byte, in *checkRequest) (dst *string, isCost bool, name string) {
	eq := func(name string) bool { return string(key) == name || strings.EqualFold(string(key), name) }
	switch {
	case eq("user_id"):
		return &in.UserID, false, "user_id"
	case eq("api_key"):
		return &in.APIKey, false, "api_key"
	case eq("ip_address"):
		return &in.IPAddress, false, "ip_address"
	case eq("ip"):
		return &in.IP, false, "ip"
	case eq("endpoint"):
		return &in.Endpoint, false, "endpoint"
	case eq("method"):
		return &in.Method, false, "method"
	case eq("tier"):
		return &in.Tier, false, "tier"
	case eq("cost"):
		return nil, true, "cost"
	}
	return nil, false, ""
}

// field parses the value of key into in.
func (p *jsonParser) field(key []byte, in *checkRequest) error {
	dst, isCost, canon := fieldOf(key, in)
	if dst == nil && !isCost {
		name := validString(key)
		return &requestError{http.StatusBadRequest, "UNKNOWN_FIELD", "unknown field " + name, map[string]string{name: "unknown field"}}
	}
	if p.eof() {
		return p.syntax()
	}
	c := p.b[p.i]
	if c == 'n' {
		if !p.lit("null") {
			return p.syntax()
		}
		return nil // null leaves the field as it was
	}
	if dst != nil {
		if c != '"' {
			return p.wrongType(canon, "string")
		}
		s, err := p.str()
		if err != nil {
			return err
		}
		*dst = validString(s)
		return nil
	}
	if c != '-' && (c < '0' || c > '9') {
		return p.wrongType("cost", "number")
	}
	start := p.i
	isInt, err := p.number()
	if err != nil {
		return err
	}
	lit := string(p.b[start:p.i])
	n, perr := strconv.ParseInt(lit, 10, 64)
	if !isInt || perr != nil {
		return typeError("cost", "int64", "number "+lit)
	}
	in.Cost = &n
	return nil
}

// validString converts b, replacing invalid UTF-8 with U+FFFD as
// encoding/json does.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out = utf8.AppendRune(out, r) // RuneError for each invalid byte
		b = b[n:]
	}
	return string(out)
}

// wrongType reports a value of another JSON type, after checking that it
// is valid JSON (a syntax error wins, as in encoding/json).
func (p *jsonParser) wrongType(field, want string) error {
	got := map[byte]string{'{': "object", '[': "array", '"': "string", 't': "bool", 'f': "bool"}[p.b[p.i]]
	if got == "" {
		got = "number"
	}
	if err := p.skipValue(); err != nil {
		return err
	}
	if want == "number" {
		want = "int64"
	}
	return typeError(field, want, got)
}

// number scans a JSON number and reports whether it is an integer literal.
func (p *jsonParser) number() (bool, error) {
	isInt := true
	if p.peek('-') {
		p.i++
	}
	switch {
	case p.peek('0'):
		p.i++
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
	default:
		return false, p.syntax()
	}
	if p.peek('.') {
		isInt = false
		p.i++
		if !p.digits() {
			return false, p.syntax()
		}
	}
	if p.peek('e') || p.peek('E') {
		isInt = false
		p.i++
		if p.peek('+') || p.peek('-') {
			p.i++
		}
		if !p.digits() {
			return false, p.syntax()
		}
	}
	return isInt, nil
}

func (p *jsonParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// skipValue scans any JSON value.
func (p *jsonParser) skipValue() error {
	if p.eof() {
		return p.syntax()
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, err := p.str()
		return err
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		p.i++
		p.ws()
		if p.peek(closer) {
			p.i++
			return nil
		}
		for {
			p.ws()
			if closer == '}' {
				if !p.peek('"') {
					return p.syntax()
				}
				if _, err := p.str(); err != nil {
					return err
				}
				p.ws()
				if !p.peek(':') {
					return p.syntax()
				}
				p.i++
				p.ws()
			}
			if err := p.skipValue(); err != nil {
				return err
			}
			p.ws()
			switch {
			case p.peek(','):
				p.i++
			case p.peek(closer):
				p.i++
				return nil
			default:
				return p.syntax()
			}
		}
	case c == 't':
		if p.lit("true") {
			return nil
		}
	case c == 'f':
		if p.lit("false") {
			return nil
		}
	case c == 'n':
		if p.lit("null") {
			return nil
		}
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := p.number()
		return err
	}
	return p.syntax()
}

// str scans a JSON string starting at its quote and returns its value:
// a slice of the input when it has no escapes, else a new buffer.
func (p *jsonParser) str() ([]byte, error) {
	p.i++ // opening quote
	start := p.i
	// Fast path: no escapes, ASCII or valid UTF-8, no control bytes.
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := p.b[start:p.i]
			p.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	var out []byte
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return out, nil
		case c < 0x20:
			return nil, p.syntax()
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		p.i++
		if p.eof() {
			return nil, p.syntax()
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, p.syntax()
			}
			if utf16.IsSurrogate(r) {
				// A pair makes one rune; a lone half is U+FFFD.
				save := p.i
				if p.lit(`\u`) {
					if r2, ok := p.hex4(); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							continue
						}
					}
				}
				p.i = save
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, p.syntax()
		}
	}
	return nil, p.syntax()
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}
