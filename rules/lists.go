package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Lists: allow-list entries bypass every limit; deny-list entries always
// reject. Deny wins over allow.
const (
	ListAllow = "allow"
	ListDeny  = "deny"
)

// ListTypes are what a list entry can name: a user, an API key, or an IP
// address or CIDR range.
var ListTypes = []string{FieldUserID, FieldAPIKey, FieldIP}

// ListEntry is one allow- or deny-list entry. Its ID is derived from list,
// type and value, so the same entry created on two nodes is one entry.
type ListEntry struct {
	ID        string     `json:"id"`
	List      string     `json:"list"`
	Type      string     `json:"type"`
	Value     string     `json:"value"`
	Reason    string     `json:"reason,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Version   uint64     `json:"version"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by,omitempty"`
}

// Expired reports whether e has expired at now (Unix ns).
func (e *ListEntry) Expired(now int64) bool {
	return e.ExpiresAt != nil && e.ExpiresAt.UnixNano() <= now
}

// ListSpec is what an admin sends to add a list entry: type and value,
// an optional reason, and an optional expiry as an absolute time
// (expires_at, RFC 3339) or a duration from now (ttl: "1h", "7d").
type ListSpec struct {
	Type      *string    `json:"type"`
	Value     *string    `json:"value"`
	Reason    *string    `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at"`
	TTL       *string    `json:"ttl"`
}

const maxReasonLen = 1024

// Entry validates s and returns the entry it describes for list, at now.
func (s *ListSpec) Entry(list string, now int64) (ListEntry, error) {
	e := errs{}
	var en ListEntry
	en.List = list
	if list != ListAllow && list != ListDeny {
		e.add("list", "must be allow or deny")
	}
	if s.Type == nil {
		e.add("type", "is required: one of user_id, api_key, ip")
	} else if en.Type = *s.Type; en.Type == "ip_address" {
		en.Type = FieldIP
	}
	if s.Type != nil && !slices.Contains(ListTypes, en.Type) {
		e.add("type", fmt.Sprintf("unknown type %q; one of user_id, api_key, ip", en.Type))
	}
	if s.Value == nil || *s.Value == "" {
		e.add("value", "is required")
	} else {
		en.Value = *s.Value
		if len(en.Value) > maxValueLen {
			e.add("value", fmt.Sprintf("must be at most %d bytes", maxValueLen))
		} else if en.Type == FieldIP {
			p, err := ParseCIDR(en.Value)
			if err != nil {
				e.add("value", err.Error())
			} else {
				en.Value = p.String()
			}
		}
	}
	if s.Reason != nil {
		if len(*s.Reason) > maxReasonLen {
			e.add("reason", fmt.Sprintf("must be at most %d bytes", maxReasonLen))
		}
		en.Reason = *s.Reason
	}
	switch {
	case s.ExpiresAt != nil && s.TTL != nil:
		e.add("ttl", "give expires_at or ttl, not both")
	case s.ExpiresAt != nil:
		if s.ExpiresAt.UnixNano() <= now {
			e.add("expires_at", "is in the past")
		}
		t := s.ExpiresAt.UTC()
		en.ExpiresAt = &t
	case s.TTL != nil:
		secs, err := ParseWindow(*s.TTL)
		if err != nil {
			e.add("ttl", err.Error())
		} else {
			t := time.Unix(0, now+secs*1e9).UTC()
			en.ExpiresAt = &t
		}
	}
	if err := e.err(); err != nil {
		return ListEntry{}, err
	}
	en.ID = listEntryID(en.List, en.Type, en.Value)
	return en, nil
}

// listEntryID derives an entry's id from what it names.
func listEntryID(list, typ, value string) string {
	h := xxhash.Sum64String(list + "\x00" + typ + "\x00" + value)
	return list + "_" + strconv.FormatUint(h, 16)
}

// TierAssignment puts a user in a tier; rules match tiers with match.tier.
type TierAssignment struct {
	UserID    string    `json:"user_id"`
	Tier      string    `json:"tier"`
	Version   uint64    `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// TierSpec is what an admin sends to assign a tier.
type TierSpec struct {
	Tier *string `json:"tier"`
}

func validateTier(user, tier string) error {
	e := errs{}
	if user == "" || len(user) > maxValueLen {
		e.add("user_id", fmt.Sprintf("must be 1-%d bytes", maxValueLen))
	}
	if !validID(tier) {
		e.add("tier", "must be 1-64 characters of letters, digits, '_', '-', '.' or ':'")
	} else if tier == TierAnonymous {
		e.add("tier", "\"anonymous\" is the built-in tier of requests without a user or API key")
	}
	return e.err()
}

// listIndex answers "is this request on the list" in a few map lookups:
// exact maps for users and keys, and for IPs one map per prefix length in
// use (longest first).
type listIndex struct {
	users map[string]*ListEntry
	keys  map[string]*ListEntry
	nets  map[int]map[netip.Prefix]*ListEntry
	bits  []int // prefix lengths in nets, descending
}

func newListIndex(entries []*ListEntry) *listIndex {
	x := &listIndex{users: map[string]*ListEntry{}, keys: map[string]*ListEntry{}, nets: map[int]map[netip.Prefix]*ListEntry{}}
	for _, en := range entries {
		switch en.Type {
		case FieldUserID:
			x.users[en.Value] = en
		case FieldAPIKey:
			x.keys[en.Value] = en
		case FieldIP:
			p, err := ParseCIDR(en.Value)
			if err != nil {
				continue
			}
			m := x.nets[p.Bits()]
			if m == nil {
				m = map[netip.Prefix]*ListEntry{}
				x.nets[p.Bits()] = m
				x.bits = append(x.bits, p.Bits())
			}
			m[p] = en
		}
	}
	slices.SortFunc(x.bits, func(a, b int) int { return b - a })
	return x
}

// find returns a live entry naming q's user, key or address.
func (x *listIndex) find(q *Request, now int64) *ListEntry {
	if q.UserID != "" {
		if en := x.users[q.UserID]; en != nil && !en.Expired(now) {
			return en
		}
	}
	if q.APIKey != "" {
		if en := x.keys[q.APIKey]; en != nil && !en.Expired(now) {
			return en
		}
	}
	if q.addr.IsValid() {
		for _, b := range x.bits {
			if b > q.addr.BitLen() {
				continue
			}
			p, _ := q.addr.Prefix(b)
			if en := x.nets[b][p]; en != nil && !en.Expired(now) {
				return en
			}
		}
	}
	return nil
}

func (x *listIndex) empty() bool {
	return len(x.users) == 0 && len(x.keys) == 0 && len(x.bits) == 0
}
