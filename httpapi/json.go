package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rlserver/rlserver/rules"
)

// errorBody is every error reply: {"error": {"code", "message", "fields"}}.
// Code is a stable upper-case identifier clients can switch on; fields maps
// a JSON field to what is wrong with it (validation errors).
type errorBody struct {
	Allowed *bool     `json:"allowed,omitempty"`
	Error   errorInfo `json:"error"`
}

type errorInfo struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// writeError writes a JSON error reply.
func writeError(w http.ResponseWriter, status int, code, msg string, fields map[string]string) {
	writeJSON(w, status, errorBody{Error: errorInfo{Code: code, Message: msg, Fields: fields}})
}

// writeJSON writes v as the reply body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	b := buf.Bytes()
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"INTERNAL","message":"reply could not be encoded"}}` + "\n")
	} else {
		b = buf.Bytes()
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// requestError is a client error found while reading a request.
type requestError struct {
	status int
	code   string
	msg    string
	fields map[string]string
}

func (e *requestError) Error() string { return e.msg }

func (e *requestError) write(w http.ResponseWriter) {
	writeError(w, e.status, e.code, e.msg, e.fields)
}

// decodeBody reads r's body (at most max bytes) as exactly one JSON value
// into v, refusing unknown fields. Errors are *requestError. The
// Content-Type is not checked: the body is JSON or it is refused, and
// "curl -d" sends form-encoded by default.
func decodeBody(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if r.ContentLength > max {
		return tooLarge(max)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, max)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(max)
		}
		return &requestError{http.StatusBadRequest, "MALFORMED_JSON", "the body must hold exactly one JSON value", nil}
	}
	return nil
}

func tooLarge(max int64) error {
	return &requestError{http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", fmt.Sprintf("the body is larger than %d bytes", max), nil}
}

// jsonError turns a decoding error into a client error that names the
// field when it can.
func jsonError(err error, max int64) error {
	var (
		mbe *http.MaxBytesError
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		ve  *rules.ValidationError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(max)
	case errors.Is(err, io.EOF):
		return &requestError{http.StatusBadRequest, "MALFORMED_JSON", "the body is empty; a JSON object is required", nil}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &requestError{http.StatusBadRequest, "MALFORMED_JSON", "the body ends inside a JSON value", nil}
	case errors.As(err, &syn):
		return &requestError{http.StatusBadRequest, "MALFORMED_JSON", fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, syn), nil}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &requestError{http.StatusBadRequest, "MALFORMED_JSON", "the body must be a JSON object", nil}
		}
		return &requestError{http.StatusBadRequest, "VALIDATION_FAILED", "invalid request", map[string]string{field: "must be a JSON " + typ.Type.Kind().String() + ", not " + typ.Value}}
	case errors.As(err, &ve):
		return &requestError{http.StatusBadRequest, "VALIDATION_FAILED", "invalid request: see fields", ve.Fields}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &requestError{http.StatusBadRequest, "UNKNOWN_FIELD", "unknown field " + name, map[string]string{name: "unknown field"}}
	}
	return &requestError{http.StatusBadRequest, "MALFORMED_JSON", err.Error(), nil}
}
