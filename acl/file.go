package acl

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Definition is one user definition: a --user flag or an ACL file line.
type Definition struct {
	Name  string
	Rules []string
	// Where names the source for error messages ("--user #2", "users.acl:3").
	Where string
}

// ParseUserFlag reads a --user value, "name rule rule ..." (the words
// after "user" on an ACL file line), split as Redis splits config lines.
func ParseUserFlag(s, where string) (Definition, error) {
	args, err := SplitArgs(s)
	if err != nil {
		return Definition{}, fmt.Errorf("%s: %w", where, err)
	}
	if len(args) == 0 {
		return Definition{}, fmt.Errorf("%s: a user definition needs a name", where)
	}
	return Definition{Name: args[0], Rules: args[1:], Where: where}, nil
}

// ParseFile reads an ACL file in Redis's format: one "user <name> <rules>"
// per line. Blank lines are skipped; so are lines starting with '#'
// (comments; Redis rejects them, rlserver allows them). path is used in
// error messages only. Every line is checked; all errors are reported.
func ParseFile(data []byte, path string) ([]Definition, error) {
	var defs []Definition
	var errs []error
	for i, line := range bytes.Split(data, []byte{'\n'}) {
		where := path + ":" + strconv.Itoa(i+1)
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		args, err := SplitArgs(string(line))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if len(args) < 2 || args[0] != "user" {
			errs = append(errs, fmt.Errorf("%s: line should start with user keyword followed by a user name", where))
			continue
		}
		defs = append(defs, Definition{Name: args[1], Rules: args[2:], Where: where})
	}
	return defs, errors.Join(errs...)
}

// StartingDefault is the default user a server starts with: Redis's,
// with requirePass as its only password when set.
func StartingDefault(cat *Catalog, requirePass string) *User {
	def := DefaultDefinition(cat)
	if requirePass != "" {
		def, _ = Build(cat, DefaultUser, def, []string{"resetpass", ">" + requirePass})
	}
	return def
}

// Configure builds a set of users from definitions: def is the default
// user unless a definition of "default" replaces it (that one starts from
// "reset", as a "user default" line does in Redis); other users start as
// Redis creates them (off, no keys, no commands). A user defined twice is
// an error. Every problem is reported, with its source.
func Configure(cat *Catalog, def *User, defs []Definition) ([]*User, error) {
	users := []*User{def}
	seen := map[string]bool{}
	var errs []error
	for _, d := range defs {
		if seen[d.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate user '%s' found", d.Where, d.Name))
			continue
		}
		seen[d.Name] = true
		var base *User
		rules := d.Rules
		if d.Name == DefaultUser {
			rules = append([]string{"reset"}, rules...)
			base = def
		}
		u, err := Build(cat, d.Name, base, rules)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Where, err))
			continue
		}
		if d.Name == DefaultUser {
			users[0] = u
		} else {
			users = append(users, u)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return users, nil
}

// FormatFile renders users as an ACL file (ACL SAVE), one line each.
func FormatFile(lines []string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}

var errUnbalanced = errors.New("unbalanced quotes in configuration line")

// SplitArgs splits a line into words the way Redis splits configuration
// lines: spaces separate words; "double quotes" take \n \r \t \b \a \\ \"
// and \xHH escapes; 'single quotes' take \'; a closing quote must end the
// word.
func SplitArgs(line string) ([]string, error) {
	var args []string
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return args, nil
		}
		var cur []byte
		inDouble, inSingle := false, false
		for done := false; !done; {
			switch {
			case inDouble:
				if i == len(line) {
					return nil, errUnbalanced
				}
				ch := line[i]
				switch {
				case ch == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					v, _ := strconv.ParseUint(line[i+2:i+4], 16, 8)
					cur = append(cur, byte(v))
					i += 3
				case ch == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, line[i])
					}
				case ch == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, errUnbalanced
					}
					done = true
				default:
					cur = append(cur, ch)
				}
				i++
			case inSingle:
				if i == len(line) {
					return nil, errUnbalanced
				}
				ch := line[i]
				switch {
				case ch == '\\' && i+1 < len(line) && line[i+1] == '\'':
					cur = append(cur, '\'')
					i++
				case ch == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, errUnbalanced
					}
					done = true
				default:
					cur = append(cur, ch)
				}
				i++
			default:
				if i == len(line) {
					done = true
					break
				}
				switch ch := line[i]; {
				case isSpace(ch):
					done = true
				case ch == '"':
					inDouble = true
				case ch == '\'':
					inSingle = true
				default:
					cur = append(cur, ch)
				}
				i++
			}
		}
		args = append(args, string(cur))
	}
}

func isSpace(ch byte) bool {
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'
}

func isHex(ch byte) bool {
	return '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F'
}
