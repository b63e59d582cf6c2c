package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
)

// reference decodes body the general way (encoding/json).
func reference(body []byte) (checkRequest, error) {
	var in checkRequest
	r := httptest.NewRequest("POST", "/v1/ratelimit/check", bytes.NewReader(body))
	err := decodeBody(httptest.NewRecorder(), r, DefaultMaxBodyBytes, &in)
	return in, err
}

func show(in checkRequest) string {
	cost := "nil"
	if in.Cost != nil {
		cost = fmt.Sprint(*in.Cost)
	}
	in.Cost = nil
	return fmt.Sprintf("%+v cost=%s", in, cost)
}

func codeOf(err error) string {
	var re *requestError
	if errors.As(err, &re) {
		return re.code
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func checkSame(t *testing.T, body []byte) {
	want, werr := reference(body)
	var got checkRequest
	gerr := parseCheck(body, &got)
	if codeOf(gerr) != codeOf(werr) {
		t.Fatalf("%q: parseCheck error %v (%s), encoding/json %v (%s)", body, gerr, codeOf(gerr), werr, codeOf(werr))
	}
	if werr == nil && show(got) != show(want) {
		t.Fatalf("%q: parseCheck %s, encoding/json %s", body, show(got), show(want))
	}
}

var checkSeeds = []string{
	`{"user_id":"u1","api_key":"k","ip_address":"192.0.2.1","endpoint":"/api/payments","method":"POST"}`,
	`{"ip":"::1","tier":"gold","cost":5}`,
	` { "USER_ID" : "a\"b\\c\/d\n\u00e9\ud83d\ude00" , "Method":null } `,
	`{"user_id":"a","user_id":"b"}`,
	`{"user_id":"\ud800x"}`,
	"{\"user_id\":\"\xff\xfe\"}",
	`{}`, `null`, ``, `[]`, `"x"`, `1`, `{"a":1}`, `{"user_id":1}`, `{"user_id":{"x":[1,true,null]}}`,
	`{"cost":1.5}`, `{"cost":1e3}`, `{"cost":-0}`, `{"cost":99999999999999999999}`, `{"cost":"1"}`, `{"cost":01}`,
	`{"user_id":"x",}`, `{"user_id" "x"}`, `{"user_id":"x"} {}`, `{"user_id":"x"`, `{"user_id":"\x"}`, "{\"user_id\":\"a\tb\"}",
	`{"tier":tru}`, `{"tier":true}`, `{"ſ":1}`, `{"ip_addreſſ":"1"}`, `{"K":1}`,
}

func TestParseCheckAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range checkSeeds {
		checkSame(t, []byte(s))
	}
}

func FuzzParseCheck(f *testing.F) {
	for _, s := range checkSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkSame(t, body) })
}
