package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/rlserver/rlserver/rules"
)

// checkRequest is the body of POST /v1/ratelimit/check (the seed's
// fields; ip is an alias of ip_address, tier and cost are optional).
type checkRequest struct {
	UserID    string `json:"user_id"`
	APIKey    string `json:"api_key"`
	IPAddress string `json:"ip_address"`
	IP        string `json:"ip"`
	Endpoint  string `json:"endpoint"`
	Method    string `json:"method"`
	Tier      string `json:"tier"`
	Cost      *int64 `json:"cost"`
}

// checkState is what one check needs, pooled so that a check allocates
// little.
type checkState struct {
	in   checkRequest
	body []byte
	q    rules.Request
	d    rules.Decision
	out  []byte
	hdr  []byte
}

var checkPool = sync.Pool{New: func() any { return new(checkState) }}

// check answers POST /v1/ratelimit/check: 200 when allowed, 429 when a
// rule rejects, 403 when the deny list does; the rate-limit headers
// describe the most restrictive rule.
func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	st := checkPool.Get().(*checkState)
	defer checkPool.Put(st)
	st.in = checkRequest{}
	var err error
	if st.body, err = readBody(r, s.opts.MaxBodyBytes, st.body); err == nil {
		err = parseCheck(st.body, &st.in)
	}
	if err != nil {
		writeRequestError(w, err)
		return
	}
	in := &st.in
	if in.IP != "" && in.IPAddress != "" && in.IP != in.IPAddress {
		writeError(w, http.StatusBadRequest, "VALIDATION_FAILED", "invalid request", map[string]string{"ip": "ip and ip_address (its alias) differ"})
		return
	}
	st.q = rules.Request{UserID: in.UserID, APIKey: in.APIKey, IP: in.IPAddress, Endpoint: in.Endpoint, Method: in.Method, Tier: in.Tier}
	if st.q.IP == "" {
		st.q.IP = in.IP
	}
	if in.Cost != nil {
		if *in.Cost < 1 {
			writeError(w, http.StatusBadRequest, "VALIDATION_FAILED", "invalid request", map[string]string{"cost": "must be from 1 to " + strconv.Itoa(rules.MaxCost)})
			return
		}
		st.q.Cost = *in.Cost
	}
	if err := st.q.Prepare(); err != nil {
		writeRuleError(w, s, err)
		return
	}
	opt := rules.CheckOptions{}
	if s.opts.MemoryFull != nil && s.opts.MemoryFull() {
		opt.NoNewKeys = true
	}
	now := s.opts.Now()
	if err := s.opts.Rules.Check(&st.q, now, &st.d, opt); err != nil {
		if errors.Is(err, rules.ErrOOM) {
			writeError(w, http.StatusServiceUnavailable, "OUT_OF_MEMORY", "the server is at maxmemory and cannot create a new counter", nil)
			return
		}
		writeRuleError(w, s, err)
		return
	}
	d := &st.d
	h := w.Header()
	status := http.StatusOK
	switch {
	case d.Reason == rules.ReasonDenyList:
		status = http.StatusForbidden
	case !d.Allowed:
		status = http.StatusTooManyRequests
	}
	if d.Rule != nil {
		st.hdr = rateLimitHeaders(h, d, st.hdr[:0])
	}
	st.out = appendCheckBody(st.out[:0], d)
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	w.Write(st.out)
}

var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// rateLimitHeaders sets the X-RateLimit-* fields (GitHub's and Stripe's
// spelling, with X-RateLimit-Used), Retry-After on a rejection, and the
// IETF draft's RateLimit-Policy (every enforcing rule that applied:
// quota q and window w in seconds) and RateLimit (the most restrictive:
// remaining r, seconds to reset t). Values share buf to allocate once.
func rateLimitHeaders(h http.Header, d *rules.Decision, buf []byte) []byte {
	var mark [8]int
	n := 0
	cut := func() {
		mark[n] = len(buf)
		n++
	}
	buf = strconv.AppendInt(buf, d.Limit, 10)
	cut()
	buf = strconv.AppendInt(buf, d.Remaining, 10)
	cut()
	buf = strconv.AppendInt(buf, d.ResetAt, 10)
	cut()
	buf = strconv.AppendInt(buf, max(d.Limit-d.Remaining, 0), 10)
	cut()
	first := true
	for i := range d.Results {
		rr := &d.Results[i]
		if rr.Rule.Action == rules.ActionShadow {
			continue
		}
		if !first {
			buf = append(buf, ", "...)
		}
		first = false
		buf = append(buf, '"')
		buf = append(buf, rr.Rule.ID...) // ids are sf-string safe
		buf = append(buf, `";q=`...)
		buf = strconv.AppendInt(buf, rr.Limit, 10)
		buf = append(buf, ";w="...)
		buf = strconv.AppendInt(buf, int64(rr.Rule.Window), 10)
	}
	cut()
	buf = append(buf, '"')
	buf = append(buf, d.Rule.ID...)
	buf = append(buf, `";r=`...)
	buf = strconv.AppendInt(buf, d.Remaining, 10)
	buf = append(buf, ";t="...)
	buf = strconv.AppendInt(buf, d.ResetAfter, 10)
	cut()
	if !d.Allowed && d.RetryAfter >= 0 {
		buf = strconv.AppendInt(buf, d.RetryAfter, 10)
		cut()
	}
	// One string for all values and one slice for all headers; each
	// header takes a piece of both.
	all := string(buf)
	vals := make([]string, n)
	part := func(i int) []string {
		lo := 0
		if i > 0 {
			lo = mark[i-1]
		}
		vals[i] = all[lo:mark[i]]
		return vals[i : i+1 : i+1]
	}
	h["X-RateLimit-Limit"] = part(0)
	h["X-RateLimit-Remaining"] = part(1)
	h["X-RateLimit-Reset"] = part(2)
	h["X-RateLimit-Used"] = part(3)
	h["RateLimit-Policy"] = part(4)
	h["RateLimit"] = part(5)
	if n > 6 {
		h["Retry-After"] = part(6)
	}
	return buf
}

// appendCheckBody writes the check's JSON reply: the seed's fields
// (allowed, limit, remaining, reset_at; on rejection an error object with
// code RATE_LIMIT_EXCEEDED), plus why, which rule, and every rule's
// verdict.
func appendCheckBody(b []byte, d *rules.Decision) []byte {
	b = append(b, `{"allowed":`...)
	b = strconv.AppendBool(b, d.Allowed)
	b = append(b, `,"reason":"`...)
	b = append(b, d.Reason...)
	b = append(b, '"')
	b = append(b, `,"tier":`...)
	b = appendJSONString(b, d.Tier)
	switch d.Reason {
	case rules.ReasonDenyList:
		b = append(b, `,"error":{"code":"DENIED","message":"the request is on the deny list","entry_id":`...)
		b = appendJSONString(b, d.Entry.ID)
		return append(b, "}}\n"...)
	case rules.ReasonAllowList:
		b = append(b, `,"entry_id":`...)
		b = appendJSONString(b, d.Entry.ID)
		return append(b, "}\n"...)
	}
	if d.Rule != nil {
		b = append(b, `,"rule_id":`...)
		b = appendJSONString(b, d.Rule.ID)
		b = append(b, `,"limit":`...)
		b = strconv.AppendInt(b, d.Limit, 10)
		b = append(b, `,"remaining":`...)
		b = strconv.AppendInt(b, d.Remaining, 10)
		b = append(b, `,"used":`...)
		b = strconv.AppendInt(b, max(d.Limit-d.Remaining, 0), 10)
		b = append(b, `,"reset_at":`...)
		b = strconv.AppendInt(b, d.ResetAt, 10)
		b = append(b, `,"retry_after":`...)
		b = strconv.AppendInt(b, d.RetryAfter, 10)
	}
	if len(d.Results) > 0 {
		b = append(b, `,"rules":[`...)
		for i := range d.Results {
			rr := &d.Results[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rule_id":`...)
			b = appendJSONString(b, rr.Rule.ID)
			b = append(b, `,"action":"`...)
			b = append(b, rr.Rule.Action...)
			b = append(b, `","limited":`...)
			b = strconv.AppendBool(b, rr.Limited)
			b = append(b, `,"counted":`...)
			b = strconv.AppendBool(b, rr.Counted)
			b = append(b, `,"limit":`...)
			b = strconv.AppendInt(b, rr.Limit, 10)
			b = append(b, `,"remaining":`...)
			b = strconv.AppendInt(b, rr.Remaining, 10)
			b = append(b, `,"retry_after":`...)
			b = strconv.AppendInt(b, rr.RetryAfter, 10)
			b = append(b, `,"reset_after":`...)
			b = strconv.AppendInt(b, rr.ResetAfter, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if !d.Allowed {
		b = append(b, `,"error":{"code":"RATE_LIMIT_EXCEEDED","message":"Rate limit exceeded. `...)
		if d.RetryAfter >= 0 {
			b = append(b, "Try again in "...)
			b = strconv.AppendInt(b, d.RetryAfter, 10)
			b = append(b, ` seconds.","limit":`...)
		} else {
			b = append(b, `The request's cost is larger than the limit.","limit":`...)
		}
		b = strconv.AppendInt(b, d.Limit, 10)
		b = append(b, `,"retry_after":`...)
		b = strconv.AppendInt(b, d.RetryAfter, 10)
		b = append(b, `,"reset_at":`...)
		b = strconv.AppendInt(b, d.ResetAt, 10)
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
