package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/rlserver/rlserver/rules"
)

// admin wraps h with the bearer-token check: 401 without credentials, 403
// with a wrong token (or when no --admin-token is configured: the admin
// API is then off). Tokens are compared in constant time over their
// SHA-256 digests, so neither content nor length leaks through timing.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, tok, ok := strings.Cut(auth, " ")
		if auth == "" || !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rlserver"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "this endpoint needs Authorization: Bearer <admin token>", nil)
			return
		}
		if s.adminDigest == nil {
			writeError(w, http.StatusForbidden, "ADMIN_DISABLED", "the admin API is off: start rlserver with --admin-token", nil)
			return
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if subtle.ConstantTimeCompare(got[:], s.adminDigest) != 1 {
			writeError(w, http.StatusForbidden, "FORBIDDEN", "wrong admin token", nil)
			return
		}
		h(w, r)
	}
}

// actor names who made a change, for the audit log: the X-Actor header
// when given (a person or tool behind the shared token), else "admin".
func actor(r *http.Request) string {
	a := strings.TrimSpace(r.Header.Get("X-Actor"))
	if a == "" || len(a) > 128 || strings.IndexFunc(a, func(c rune) bool { return c < 0x20 || c == 0x7f }) >= 0 {
		return "admin"
	}
	return a
}

func (s *Server) adminRoutes() {
	s.mux.HandleFunc("GET /v1/admin/rules", s.admin(s.listRules))
	s.mux.HandleFunc("POST /v1/admin/rules", s.admin(s.createRule))
	s.mux.HandleFunc("GET /v1/admin/rules/{id}", s.admin(s.getRule))
	s.mux.HandleFunc("PUT /v1/admin/rules/{id}", s.admin(s.updateRule))
	s.mux.HandleFunc("PATCH /v1/admin/rules/{id}", s.admin(s.updateRule))
	s.mux.HandleFunc("DELETE /v1/admin/rules/{id}", s.admin(s.deleteRule))
	s.mux.HandleFunc("POST /v1/admin/rules/{id}/enable", s.admin(s.enableRule(true)))
	s.mux.HandleFunc("POST /v1/admin/rules/{id}/disable", s.admin(s.enableRule(false)))
	s.mux.HandleFunc("GET /v1/admin/lists/{list}", s.admin(s.listEntries))
	s.mux.HandleFunc("POST /v1/admin/lists/{list}", s.admin(s.addEntry))
	s.mux.HandleFunc("GET /v1/admin/lists/{list}/{id}", s.admin(s.getEntry))
	s.mux.HandleFunc("DELETE /v1/admin/lists/{list}/{id}", s.admin(s.deleteEntry))
	s.mux.HandleFunc("GET /v1/admin/tiers", s.admin(s.listTiers))
	s.mux.HandleFunc("GET /v1/admin/tiers/{user_id}", s.admin(s.getTier))
	s.mux.HandleFunc("PUT /v1/admin/tiers/{user_id}", s.admin(s.setTier))
	s.mux.HandleFunc("DELETE /v1/admin/tiers/{user_id}", s.admin(s.deleteTier))
	s.mux.HandleFunc("GET /v1/admin/audit", s.admin(s.audit))
	s.mux.HandleFunc("GET /v1/stats/users/{user_id}", s.admin(s.userStats))
	s.mux.HandleFunc("GET /v1/stats/global", s.admin(s.globalStats))
}

// ruleView is a rule as the API shows it: the stored fields plus the
// seed's rule_id and status, and the window in seconds.
type ruleView struct {
	*rules.Rule
	RuleID        string `json:"rule_id"`
	Status        string `json:"status"`
	WindowSeconds int64  `json:"window_seconds"`
}

func viewRule(r *rules.Rule) ruleView {
	st := "active"
	if !r.Enabled {
		st = "disabled"
	}
	return ruleView{Rule: r, RuleID: r.ID, Status: st, WindowSeconds: int64(r.Window)}
}

// paging reads page (from 1) and limit (alias page_size; 1-1000, default 50).
func paging(r *http.Request) (page, size int, err error) {
	q := r.URL.Query()
	fields := map[string]string{}
	page, size = 1, 50
	if v := q.Get("page"); v != "" {
		n, e := strconv.Atoi(v)
		if e != nil || n < 1 || n > 1_000_000_000 {
			fields["page"] = "must be a positive integer"
		}
		page = n
	}
	lim := q.Get("limit")
	if lim == "" {
		lim = q.Get("page_size")
	}
	if lim != "" {
		n, e := strconv.Atoi(lim)
		if e != nil || n < 1 || n > 1000 {
			fields["limit"] = "must be from 1 to 1000"
		}
		size = n
	}
	if len(fields) > 0 {
		return 0, 0, &requestError{http.StatusBadRequest, "VALIDATION_FAILED", "invalid query", fields}
	}
	return page, size, nil
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	rs, total := s.opts.Rules.Rules(page, size)
	views := make([]ruleView, len(rs))
	for i, x := range rs {
		views[i] = viewRule(x)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": views, "total": total, "page": page, "page_size": size})
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request) {
	var spec rules.RuleSpec
	if err := decodeBody(w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		writeRequestError(w, err)
		return
	}
	rule, err := s.opts.Rules.CreateRule(&spec, actor(r), s.opts.Now())
	if err != nil {
		writeRuleError(w, s, err)
		return
	}
	w.Header().Set("Location", "/v1/admin/rules/"+rule.ID)
	writeJSON(w, http.StatusCreated, viewRule(&rule))
}

func (s *Server) getRule(w http.ResponseWriter, r *http.Request) {
	rule, ok := s.opts.Rules.Rule(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no rule "+strconv.Quote(r.PathValue("id")), nil)
		return
	}
	writeJSON(w, http.StatusOK, viewRule(&rule))
}

func (s *Server) updateRule(w http.ResponseWriter, r *http.Request) {
	var spec rules.RuleSpec
	if err := decodeBody(w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		writeRequestError(w, err)
		return
	}
	rule, err := s.opts.Rules.UpdateRule(r.PathValue("id"), &spec, actor(r), s.opts.Now())
	if err != nil {
		writeRuleError(w, s, err)
		return
	}
	writeJSON(w, http.StatusOK, viewRule(&rule))
}

func (s *Server) enableRule(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rule, err := s.opts.Rules.SetEnabled(r.PathValue("id"), on, actor(r), s.opts.Now())
		if err != nil {
			writeRuleError(w, s, err)
			return
		}
		writeJSON(w, http.StatusOK, viewRule(&rule))
	}
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.opts.Rules.DeleteRule(id, actor(r), s.opts.Now()); err != nil {
		writeRuleError(w, s, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "deleted": true})
}

// listName checks the {list} path value.
func listName(w http.ResponseWriter, r *http.Request) (string, bool) {
	l := r.PathValue("list")
	if l != rules.ListAllow && l != rules.ListDeny {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no list "+strconv.Quote(l)+"; the lists are allow and deny", nil)
		return "", false
	}
	return l, true
}

// entryView is a list entry with whether it has expired.
type entryView struct {
	*rules.ListEntry
	Expired bool `json:"expired"`
}

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request) {
	list, ok := listName(w, r)
	if !ok {
		return
	}
	page, size, err := paging(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	now := s.opts.Now()
	es, total := s.opts.Rules.ListEntries(list, page, size)
	views := make([]entryView, len(es))
	for i, e := range es {
		views[i] = entryView{e, e.Expired(now)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": views, "total": total, "page": page, "page_size": size})
}

func (s *Server) addEntry(w http.ResponseWriter, r *http.Request) {
	list, ok := listName(w, r)
	if !ok {
		return
	}
	var spec rules.ListSpec
	if err := decodeBody(w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		writeRequestError(w, err)
		return
	}
	now := s.opts.Now()
	en, err := s.opts.Rules.AddListEntry(list, &spec, actor(r), now)
	if err != nil {
		writeRuleError(w, s, err)
		return
	}
	w.Header().Set("Location", "/v1/admin/lists/"+list+"/"+en.ID)
	writeJSON(w, http.StatusCreated, entryView{&en, en.Expired(now)})
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request) {
	list, ok := listName(w, r)
	if !ok {
		return
	}
	en, found := s.opts.Rules.ListEntry(list, r.PathValue("id"))
	if !found {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no "+list+"-list entry "+strconv.Quote(r.PathValue("id")), nil)
		return
	}
	writeJSON(w, http.StatusOK, entryView{&en, en.Expired(s.opts.Now())})
}

func (s *Server) deleteEntry(w http.ResponseWriter, r *http.Request) {
	list, ok := listName(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := s.opts.Rules.DeleteListEntry(list, id, actor(r), s.opts.Now()); err != nil {
		writeRuleError(w, s, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "deleted": true})
}

func (s *Server) listTiers(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	ts, total := s.opts.Rules.Tiers(page, size)
	writeJSON(w, http.StatusOK, map[string]any{"tiers": ts, "total": total, "page": page, "page_size": size})
}

func (s *Server) getTier(w http.ResponseWriter, r *http.Request) {
	a, ok := s.opts.Rules.Tier(r.PathValue("user_id"))
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no tier assignment for "+strconv.Quote(r.PathValue("user_id")), nil)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) setTier(w http.ResponseWriter, r *http.Request) {
	var spec rules.TierSpec
	if err := decodeBody(w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		writeRequestError(w, err)
		return
	}
	if spec.Tier == nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_FAILED", "invalid request", map[string]string{"tier": "is required"})
		return
	}
	a, err := s.opts.Rules.SetTier(r.PathValue("user_id"), *spec.Tier, actor(r), s.opts.Now())
	if err != nil {
		writeRuleError(w, s, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) deleteTier(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user_id")
	if err := s.opts.Rules.DeleteTier(user, actor(r), s.opts.Now()); err != nil {
		writeRuleError(w, s, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_id": user, "deleted": true})
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	aq := rules.AuditQuery{Kind: q.Get("kind"), ID: q.Get("id"), Limit: 50}
	fields := map[string]string{}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fields["limit"] = "must be from 1 to 1000"
		}
		aq.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			fields["before"] = "must be a positive sequence number"
		}
		aq.Before = n
	}
	if aq.Kind != "" && aq.Kind != rules.KindRule && aq.Kind != rules.KindList && aq.Kind != rules.KindTier {
		fields["kind"] = "must be rule, list or tier"
	}
	if len(fields) > 0 {
		writeError(w, http.StatusBadRequest, "VALIDATION_FAILED", "invalid query", fields)
		return
	}
	entries, next, err := s.opts.Rules.Audit(aq)
	if err != nil {
		writeRuleError(w, s, err)
		return
	}
	body := map[string]any{"entries": entries}
	if next != 0 {
		body["next_before"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

// window reads ?window= (a duration up to max; def when absent).
func window(r *http.Request, def, max int64) (int64, error) {
	v := r.URL.Query().Get("window")
	if v == "" {
		return def, nil
	}
	secs, err := rules.ParseWindow(v)
	if err == nil && secs > max {
		err = errors.New("must be at most " + rules.Window(max).String())
	}
	if err != nil {
		return 0, &requestError{http.StatusBadRequest, "VALIDATION_FAILED", "invalid query", map[string]string{"window": err.Error()}}
	}
	return secs, nil
}

func (s *Server) userStats(w http.ResponseWriter, r *http.Request) {
	win, err := window(r, 3600, 86400)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	st, err := s.opts.Rules.User(r.PathValue("user_id"), s.opts.Now(), win)
	if err != nil {
		writeRuleError(w, s, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) globalStats(w http.ResponseWriter, r *http.Request) {
	win, err := window(r, 0, 86400)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Rules.Global(s.opts.Now(), win, 10))
}

// writeRequestError writes a *requestError (or a 500 for anything else).
func writeRequestError(w http.ResponseWriter, err error) {
	var re *requestError
	if errors.As(err, &re) {
		re.write(w)
		return
	}
	writeError(w, http.StatusInternalServerError, "INTERNAL", "internal error", nil)
}

// writeRuleError maps the rules engine's errors to replies.
func writeRuleError(w http.ResponseWriter, s *Server, err error) {
	var ve *rules.ValidationError
	switch {
	case errors.As(err, &ve):
		writeError(w, http.StatusBadRequest, "VALIDATION_FAILED", "invalid request: see fields", ve.Fields)
	case errors.Is(err, rules.ErrNotFound):
		writeError(w, http.StatusNotFound, "NOT_FOUND", err.Error(), nil)
	case errors.Is(err, rules.ErrExists):
		writeError(w, http.StatusConflict, "ALREADY_EXISTS", err.Error(), nil)
	case errors.Is(err, rules.ErrVersion):
		writeError(w, http.StatusConflict, "VERSION_CONFLICT", err.Error(), nil)
	case errors.Is(err, rules.ErrTooMany):
		writeError(w, http.StatusConflict, "TOO_MANY", err.Error(), nil)
	default:
		s.log.Error("http api", "error", err)
		writeError(w, http.StatusInternalServerError, "INTERNAL", "internal error", nil)
	}
}

// adminDigestOf hashes the configured token (nil when there is none).
func adminDigestOf(token string) []byte {
	if token == "" {
		return nil
	}
	d := sha256.Sum256([]byte(token))
	return d[:]
}
