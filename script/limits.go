package script

// Compile-time limits.
//
// gopher-lua's compiler recurses over the syntax tree and its cost grows
// faster than the source in some shapes: nested blocks (each local lookup
// walks every enclosing block: cubic in the depth) and many distinct
// constants in one function (each constant is found by a linear search of
// the function's constants: quadratic). Compiling runs on the client's
// event loop, where no SCRIPT KILL reaches, so a hostile script of a few
// hundred kilobytes could hold it for minutes. Lua 5.1, which Redis runs,
// refuses nesting deeper than 200 "C levels" (LUAI_MAXCCALLS) with "chunk
// has too many syntax levels"; the checks below refuse the same scripts
// (exactly so for brackets, braces, parentheses and blocks, nearly so for
// operator chains), refuse a function whose constants would make the
// search slow, and refuse a table constructor with more positional fields
// than gopher-lua compiles correctly (past 25550 it stores them at the
// wrong indices and corrupts the code that follows).

// maxSyntaxLevels is LUAI_MAXCCALLS.
const maxSyntaxLevels = 200

// maxConstWork bounds, per function, the number of constant uses times the
// number of distinct constants (the cost of gopher-lua's constant search):
// about 0.2 s of compiling. Real scripts stay below 10^5.
const maxConstWork = 50_000_000

// maxListFields is how many positional fields gopher-lua compiles right in
// one table constructor (511 SETLIST blocks of 50).
const maxListFields = 511 * 50

// syntaxLevelsLine scans body as Lua tokens and returns the line where the
// nesting passes Lua 5.1's limit, or 0. Lua counts a level for every chunk
// (the main one, and each block's body) and every subexpression: a value
// nested in n brackets or blocks is at level n+2, a function body costs two
// levels (its expression and its chunk), and operators add theirs: each
// unary operator one for its operand, each right-associative operator (^
// and ..) one more for everything to its right, any other binary operator
// one for its right operand (a slight over-estimate where precedence
// would let Lua parse it in the same subexpression).
func syntaxLevelsLine(body []byte) int {
	type frame struct {
		weight int // levels the bracket or block adds
		chain  int // the enclosing operand's chain, restored at its close
	}
	var stack []frame
	depth, line := 0, 1
	chain, unary := 0, 0 // operator levels of the operand being read
	value := false       // the last token ends a value (a '-' next is binary)
	over := func() bool { return 1+depth+1+chain+unary > maxSyntaxLevels }
	open := func(w int) bool {
		stack = append(stack, frame{weight: w + chain + unary, chain: chain})
		depth += w + chain + unary
		chain, unary, value = 0, 0, false
		return 1+depth > maxSyntaxLevels
	}
	closeOne := func() {
		if n := len(stack); n > 0 {
			depth -= stack[n-1].weight
			chain = stack[n-1].chain
			stack = stack[:n-1]
		}
		unary, value = 0, true
	}
	atom := func() bool {
		if over() {
			return true
		}
		unary, value = 0, true
		return false
	}
	binary := func(rightAssoc bool) {
		if rightAssoc {
			chain++
		} else {
			chain = max(chain, 1)
		}
		unary, value = 0, false
	}
	separator := func() { chain, unary, value = 0, 0, false }
	n := len(body)
	for i := 0; i < n; {
		c := body[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < n && body[i+1] == '-':
			i += 2
			if lvl, ok := longBracket(body, i); ok {
				i = skipLong(body, i, lvl, &line)
				continue
			}
			for i < n && body[i] != '\n' {
				i++
			}
		case c == '[':
			if lvl, ok := longBracket(body, i); ok {
				if atom() {
					return line
				}
				i = skipLong(body, i, lvl, &line)
				continue
			}
			if open(1) {
				return line
			}
			i++
		case c == '(' || c == '{':
			if over() || open(1) {
				return line
			}
			i++
		case c == ')' || c == ']' || c == '}':
			closeOne()
			i++
		case c == '"' || c == '\'':
			if atom() {
				return line
			}
			i++
			for i < n && body[i] != c {
				if body[i] == '\\' && i+1 < n {
					if body[i+1] == '\n' {
						line++
					}
					i++
				} else if body[i] == '\n' {
					break // unfinished string: the parser reports it
				}
				i++
			}
			i++
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			j := i
			for j < n && (body[j] == '_' || 'a' <= body[j] && body[j] <= 'z' || 'A' <= body[j] && body[j] <= 'Z' || '0' <= body[j] && body[j] <= '9') {
				j++
			}
			switch string(body[i:j]) {
			case "function":
				if over() || open(2) {
					return line
				}
			case "do", "if", "repeat":
				if open(1) {
					return line
				}
			case "end", "until":
				closeOne()
				if string(body[i:j]) == "until" {
					value = false
				}
			case "not":
				unary++
				value = false
			case "and", "or":
				binary(false)
			case "then", "else", "elseif", "while", "for", "in", "local", "return", "break":
				separator()
			default: // a name, nil, true, false
				if atom() {
					return line
				}
			}
			i = j
		case '0' <= c && c <= '9' || c == '.' && i+1 < n && '0' <= body[i+1] && body[i+1] <= '9':
			if atom() {
				return line
			}
			for i < n && (body[i] == '.' || body[i] == '_' || 'a' <= body[i] && body[i] <= 'z' || 'A' <= body[i] && body[i] <= 'Z' || '0' <= body[i] && body[i] <= '9' ||
				(body[i] == '+' || body[i] == '-') && (body[i-1] == 'e' || body[i-1] == 'E')) {
				i++
			}
		case c == '.' && i+2 < n && body[i+1] == '.' && body[i+2] == '.':
			if atom() { // ...
				return line
			}
			i += 3
		case c == '.' && i+1 < n && body[i+1] == '.':
			binary(true)
			i += 2
		case c == '^':
			binary(true)
			i++
		case c == '-' || c == '#':
			if c == '-' && value {
				binary(false)
			} else {
				unary++
				value = false
			}
			i++
		case c == ',' || c == ';' || c == '=' && !(i+1 < n && body[i+1] == '='):
			separator()
			i++
		case c == '.' || c == ':':
			value = false // a field or method name follows
			i++
		default: // + * / % == ~= < <= > >=
			binary(false)
			i++
			if i < n && body[i] == '=' {
				i++
			}
		}
	}
	return 0
}

// longBracket reports whether body[i:] opens a long bracket ([[ or [=*[)
// and its level.
func longBracket(body []byte, i int) (int, bool) {
	if i >= len(body) || body[i] != '[' {
		return 0, false
	}
	j := i + 1
	for j < len(body) && body[j] == '=' {
		j++
	}
	if j < len(body) && body[j] == '[' {
		return j - i - 1, true
	}
	return 0, false
}

// skipLong skips a long string or comment opened at body[i] and returns
// the index after its closing bracket (or the end), counting lines.
func skipLong(body []byte, i, level int, line *int) int {
	i += level + 2
	for i < len(body) {
		if body[i] == '\n' {
			*line++
		}
		if body[i] == ']' {
			j := i + 1
			for j < len(body) && body[j] == '=' {
				j++
			}
			if j < len(body) && body[j] == ']' && j-i-1 == level {
				return j + 1
			}
		}
		i++
	}
	return i
}
