package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandleAddsRoutesBesideTheBuiltIns(t *testing.T) {
	t.Parallel()
	var observed []string
	s := New(Options{
		Now:     func() int64 { return 5e9 },
		Version: "test",
		Health:  func() map[string]any { return map[string]any{"keys": 3} },
		Observe: func(pattern string, status int, _ float64) {
			observed = append(observed, pattern+" "+http.StatusText(status))
		},
	})
	s.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("m 1\n")) })
	s.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) })

	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/metrics", 200, "m 1\n"},
		{"GET", "/", 200, "<html>"},
		{"GET", "/health", 200, `"keys":3`},
		{"GET", "/nope", 404, `"code":"NOT_FOUND"`},
		{"DELETE", "/metrics", 405, `"code":"METHOD_NOT_ALLOWED"`},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s = %d %q; want %d containing %q", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.body)
		}
		if tc.status >= 400 {
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Errorf("%s %s: error body is not JSON: %q", tc.method, tc.path, rec.Body)
			}
		}
	}
	want := []string{"GET /metrics OK", "GET /{$} OK", "GET /health OK", " Not Found", " Method Not Allowed"}
	if strings.Join(observed, "|") != strings.Join(want, "|") {
		t.Errorf("Observe saw %q, want %q", observed, want)
	}
}

func TestHealthReportsUnhealthyAs503(t *testing.T) {
	t.Parallel()
	s := New(Options{Health: func() map[string]any { return map[string]any{"status": "loading"} }})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"status":"loading"`) {
		t.Fatalf("GET /health = %d %s", rec.Code, rec.Body)
	}
}
