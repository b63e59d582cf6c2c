package tests

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// httpDo sends one request to the server's HTTP API and decodes the JSON
// reply into a map (nil for an empty body).
func httpDo(t *testing.T, p *proc, method, path, token, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+p.HTTP+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 {
		return resp.StatusCode, resp.Header, nil
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: reply is not a JSON object: %v\n%s", method, path, err, raw)
	}
	return resp.StatusCode, resp.Header, m
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// errCode returns a JSON error reply's code.
func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestHTTPHealthAndUnroutedRequests(t *testing.T) {
	t.Parallel()
	p := startServer(t)
	if p.HTTP == "" {
		t.Fatal("the ready line does not report the HTTP address")
	}
	code, _, m := httpDo(t, p, "GET", "/health", "", "")
	if code != 200 || m["status"] != "healthy" || m["version"] == nil {
		t.Fatalf("GET /health = %d %v", code, m)
	}
	if up, ok := m["uptime_seconds"].(float64); !ok || up < 0 {
		t.Fatalf("uptime_seconds = %v", m["uptime_seconds"])
	}

	code, _, m = httpDo(t, p, "GET", "/no/such/route", "", "")
	if code != 404 || errCode(m) != "NOT_FOUND" {
		t.Fatalf("unknown route = %d %v", code, m)
	}
	code, h, m := httpDo(t, p, "POST", "/health", "", "")
	if code != 405 || errCode(m) != "METHOD_NOT_ALLOWED" || !strings.Contains(h.Get("Allow"), "GET") {
		t.Fatalf("POST /health = %d %v Allow=%q", code, m, h.Get("Allow"))
	}
}

func TestHTTPOffAndGracefulShutdown(t *testing.T) {
	t.Parallel()
	off := startServer(t, "--http-addr", "")
	if off.HTTP != "" {
		t.Fatalf("--http-addr '' still serves HTTP on %s", off.HTTP)
	}

	p := startServer(t)
	// Hold an idle keep-alive connection: shutdown must not wait for it.
	c, err := net.Dial("tcp", p.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Fatalf("keep-alive request: %v %q", err, buf[:n])
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not stop within 15s of SIGTERM")
	}
	if _, err := net.DialTimeout("tcp", p.HTTP, time.Second); err == nil {
		t.Fatal("the HTTP port still accepts connections after shutdown")
	}
}

func TestHTTPAddressInUseIsReported(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(binary(t), "--port", "0", "--data-dir", "", "--http-addr", ln.Addr().String())
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--http-addr") {
		t.Fatalf("a busy HTTP port: %v\n%s", err, out)
	}
}
