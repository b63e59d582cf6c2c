package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// File is a rules file (--rules FILE): rules, allow and deny entries and
// tier assignments, as teams keep them in git. In YAML:
//
//	rules:
//	  - id: github-unauthenticated
//	    match: {tier: anonymous}
//	    per: [ip]
//	    algorithm: fixed_window
//	    limit: 60
//	    window: 1h
//	allow:
//	  - {type: ip, value: 10.0.0.0/8, reason: office}
//	deny:
//	  - {type: api_key, value: sk_leaked}
//	tiers:
//	  user_42: premium
//
// Every rule needs an id, so that loading the file again updates the same
// rules instead of adding copies.
type File struct {
	Rules []Rule
	Allow []ListSpec
	Deny  []ListSpec
	Tiers map[string]string
}

type fileJSON struct {
	Rules []json.RawMessage `json:"rules"`
	Allow []json.RawMessage `json:"allow"`
	Deny  []json.RawMessage `json:"deny"`
	Tiers map[string]string `json:"tiers"`
}

// maxFileBytes caps a rules file (100,000 rules fit comfortably).
const maxFileBytes = 64 << 20

// LoadFile reads and validates a rules file (YAML, or JSON which is YAML
// too). Every problem is reported, by field ("rules[2].window").
func LoadFile(path string, lim Limits) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileBytes)
	}
	file, err := ParseFile(data, lim)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return file, nil
}

// ParseFile parses and validates the contents of a rules file.
func ParseFile(data []byte, lim Limits) (*File, error) {
	// YAML is turned into JSON and read exactly as the HTTP API reads
	// bodies: same fields, same aliases, same errors.
	var doc any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("not valid YAML or JSON: %w", err)
	}
	if doc == nil {
		return &File{}, nil
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, errors.New("the file must be a mapping with rules, allow, deny and tiers")
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("cannot convert to JSON: %w", err)
	}
	var fj fileJSON
	if err := strictJSON(js, &fj); err != nil {
		return nil, err
	}
	e := errs{}
	out := &File{Tiers: fj.Tiers}
	seen := map[string]int{}
	for i, raw := range fj.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		var spec RuleSpec
		if err := strictJSON(raw, &spec); err != nil {
			addNested(e, at, err)
			continue
		}
		r, err := spec.Apply(NewRuleDefaults())
		if r.ID == "" {
			err = joinValidation(err, fieldErr("id", "is required in a file (so that loading it again updates the same rule)"))
			r.ID = "file-rule"
		}
		err = joinValidation(err, r.Validate(lim))
		if err != nil {
			addNested(e, at, err)
			continue
		}
		if j, dup := seen[r.ID]; dup {
			e.add(at+".id", fmt.Sprintf("%q is also the id of rules[%d]", r.ID, j))
			continue
		}
		seen[r.ID] = i
		out.Rules = append(out.Rules, r)
	}
	for _, l := range []struct {
		name string
		raw  []json.RawMessage
		dst  *[]ListSpec
	}{{ListAllow, fj.Allow, &out.Allow}, {ListDeny, fj.Deny, &out.Deny}} {
		for i, raw := range l.raw {
			at := fmt.Sprintf("%s[%d]", l.name, i)
			var spec ListSpec
			if err := strictJSON(raw, &spec); err != nil {
				addNested(e, at, err)
				continue
			}
			// Expiry is checked against the load time later; here only
			// the shape.
			if _, err := spec.Entry(l.name, 0); err != nil {
				addNested(e, at, err)
				continue
			}
			*l.dst = append(*l.dst, spec)
		}
	}
	for user, tier := range fj.Tiers {
		if err := validateTier(user, tier); err != nil {
			addNested(e, "tiers["+user+"]", err)
		}
	}
	return out, e.err()
}

// strictJSON decodes exactly one JSON value, refusing unknown fields.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ve *ValidationError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ve):
			return ve
		case errors.As(err, &te) && te.Field != "":
			return fieldErr(te.Field, "must be a "+jsonType(te.Type.Kind().String())+", not "+te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return fieldErr(name, "unknown field")
		}
		return err
	}
	return nil
}

func jsonType(kind string) string {
	switch kind {
	case "int", "int64", "uint64", "float64":
		return "number"
	case "slice":
		return "list"
	case "struct", "map", "ptr":
		return "mapping"
	}
	return kind
}

func addNested(e errs, at string, err error) {
	var ve *ValidationError
	if errors.As(err, &ve) {
		for k, v := range ve.Fields {
			e.add(at+"."+k, v)
		}
		return
	}
	e.add(at, err.Error())
}

// ApplyFile creates or updates what f holds, in one durable commit. Rules,
// entries and assignments identical to the stored ones are left alone (no
// new version, no audit entry), so loading the same file at every start
// is free; objects not in the file are kept. It returns how many objects
// changed.
func (e *Engine) ApplyFile(f *File, actor string, now int64) (int, error) {
	e.mu.Lock()
	t := time.Unix(0, now).UTC()
	var chs []*Change
	for i := range f.Rules {
		r := f.Rules[i]
		k := objKey{KindRule, r.ID}
		action := "create"
		if cur := e.objects[k]; cur != nil && !cur.Deleted {
			if withoutMeta(*cur.Rule) == withoutMeta(r) {
				continue
			}
			action = "update"
			r.CreatedAt, r.CreatedBy = cur.Rule.CreatedAt, cur.Rule.CreatedBy
		} else {
			r.CreatedAt, r.CreatedBy = t, actor
		}
		r.Version, r.UpdatedAt, r.UpdatedBy = e.nextVersion(now), t, actor
		chs = append(chs, &Change{Kind: KindRule, ID: r.ID, Version: r.Version, Origin: e.cfg.Node, Rule: &r, Actor: actor, Action: action, At: t})
	}
	for _, l := range []struct {
		name  string
		specs []ListSpec
	}{{ListAllow, f.Allow}, {ListDeny, f.Deny}} {
		for _, spec := range l.specs {
			en, err := spec.Entry(l.name, now)
			if err != nil {
				e.mu.Unlock()
				return 0, err
			}
			if cur := e.objects[objKey{KindList, en.ID}]; cur != nil && !cur.Deleted && cur.Entry.Reason == en.Reason && sameExpiry(cur.Entry.ExpiresAt, en.ExpiresAt) {
				continue
			}
			en.Version, en.CreatedAt, en.CreatedBy = e.nextVersion(now), t, actor
			chs = append(chs, &Change{Kind: KindList, ID: en.ID, Version: en.Version, Origin: e.cfg.Node, Entry: &en, Actor: actor, Action: "create", At: t})
		}
	}
	users := make([]string, 0, len(f.Tiers))
	for u := range f.Tiers {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		tier := f.Tiers[u]
		if cur := e.objects[objKey{KindTier, u}]; cur != nil && !cur.Deleted && cur.Tier.Tier == tier {
			continue
		}
		a := TierAssignment{UserID: u, Tier: tier, Version: e.nextVersion(now), UpdatedAt: t, UpdatedBy: actor}
		chs = append(chs, &Change{Kind: KindTier, ID: u, Version: a.Version, Origin: e.cfg.Node, Tier: &a, Actor: actor, Action: "update", At: t})
	}
	if len(chs) == 0 {
		e.mu.Unlock()
		return 0, nil
	}
	return len(chs), e.commitLocal(chs...)
}

func sameExpiry(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
