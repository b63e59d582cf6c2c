package script

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// chunkName is what Redis names every script: errors read user_script:N.
const chunkName = "user_script"

// concatName is the global holding our concatenation function. No Lua
// identifier can spell it, so no script can shadow it.
const concatName = "concat#"

// compile parses and compiles a script. Before compiling, every ".." chain
// is rewritten into a call of our concatenation function: gopher-lua formats
// numbers in concatenations with Go's shortest form where Lua writes %.14g
// (0.1+0.2 .. "" is "0.3" in Redis), and the function also charges the
// bytes it builds to the script's memory budget, so doubling a string in a
// loop stops at the limit instead of exhausting memory.
func compile(body []byte) (*lua.FunctionProto, error) {
	if line := syntaxLevelsLine(body); line > 0 {
		return nil, fmt.Errorf("ERR Error compiling script (new function): %s:%d: %s", chunkName, line, errSyntaxLevels)
	}
	chunk, err := parse.Parse(bytes.NewReader(body), chunkName)
	if err != nil {
		return nil, compileError(err)
	}
	var rw rewriter
	rw.rewriteChunk(chunk)
	if rw.bad != nil || rw.limit != "" {
		return nil, errors.New("ERR Error compiling script (new function): " + rw.badText(chunkName))
	}
	proto, err := lua.Compile(chunk, chunkName)
	if err != nil {
		return nil, compileError(err)
	}
	// gopher-lua gives every vararg function Lua 5.0's "arg" table, the
	// main chunk too, where no name reaches it (Lua 5.1 gives the main
	// chunk none): building it cost a table and a map on every run.
	proto.IsVarArg &^= lua.VarArgNeedsArg | lua.VarArgHasArg
	return proto, nil
}

func compileError(err error) error {
	var pe *parse.Error
	if errors.As(err, &pe) {
		if pe.Pos.Line == parse.EOF {
			return fmt.Errorf("ERR Error compiling script (new function): %s: %s near <eof>", chunkName, pe.Message)
		}
		return fmt.Errorf("ERR Error compiling script (new function): %s:%d: %s near '%s'", chunkName, pe.Pos.Line, pe.Message, pe.Token)
	}
	return fmt.Errorf("ERR Error compiling script (new function): %s: %v", chunkName, err)
}

// rewriter rewrites a chunk's concatenations (see compile) and finds the
// first goto or label: gopher-lua parses Lua 5.2's, Redis's Lua 5.1 does
// not, so a script using them must not compile here either.
type rewriter struct {
	bad ast.Stmt // the first goto or label statement met

	// The compile-time limits (limits.go): the first one passed, and
	// the line where.
	limit     string
	limitLine int
	depth     int          // of the syntax tree at the node being rewritten
	consts    []constCount // per enclosing function, innermost last
}

// constCount counts one function's constants (an over-estimate: every
// name counts, locals too).
type constCount struct {
	uses     int
	distinct map[string]struct{}
}

const errSyntaxLevels = "chunk has too many syntax levels"

// maxTreeDepth bounds the depth of the syntax tree the rewriter and the
// compiler recurse into (operator chains such as "not not ... x" deepen
// it without brackets).
const maxTreeDepth = 3 * maxSyntaxLevels

// rewriteChunk rewrites a whole chunk (a script or a loadstring source).
func (rw *rewriter) rewriteChunk(stmts []ast.Stmt) {
	rw.consts = append(rw.consts[:0], constCount{distinct: map[string]struct{}{}})
	rw.rewriteStmts(stmts)
}

// enter descends one level of the tree at line; false when the tree is too
// deep (the limit is recorded and the subtree left alone).
func (rw *rewriter) enter(line int) bool {
	rw.depth++
	if rw.depth > maxTreeDepth {
		rw.fail(errSyntaxLevels, line)
		return false
	}
	return rw.limit == ""
}

func (rw *rewriter) fail(msg string, line int) {
	if rw.limit == "" {
		rw.limit, rw.limitLine = msg, line
	}
}

// name counts a name as a possible constant (a global), without a use.
func (rw *rewriter) name(text string) {
	c := &rw.consts[len(rw.consts)-1]
	if len(c.distinct) < 1<<20 {
		c.distinct["g"+text] = struct{}{}
	}
}

// constant counts one use of a constant (kind distinguishes numbers,
// strings and names with the same text).
func (rw *rewriter) constant(kind byte, text string, line int) {
	c := &rw.consts[len(rw.consts)-1]
	c.uses++
	if len(c.distinct) < 1<<20 {
		c.distinct[string(kind)+text] = struct{}{}
	}
	if c.uses*len(c.distinct) > maxConstWork {
		rw.fail("constant table overflow", line)
	}
}

// badText is the syntax error Lua 5.1 gives for rw.bad in the chunk
// named name (as luaO_chunkid prints it): it reads "goto" as a variable
// name, and "::" as an unexpected symbol.
func (rw *rewriter) badText(name string) string {
	if rw.limit != "" && (rw.bad == nil || rw.limitLine <= rw.bad.Line()) {
		return fmt.Sprintf("%s:%d: %s", name, rw.limitLine, rw.limit)
	}
	near := "':'"
	msg := "unexpected symbol"
	if g, ok := rw.bad.(*ast.GotoStmt); ok {
		near, msg = "'"+g.Label+"'", "'=' expected"
	}
	return fmt.Sprintf("%s:%d: %s near %s", name, rw.bad.Line(), msg, near)
}

// chunkID is how Lua 5.1 names a chunk in messages: "=name" and "@file"
// as they are, any other source as [string "<its first line, at most 63
// bytes>..."].
func chunkID(src string) string {
	if strings.HasPrefix(src, "=") || strings.HasPrefix(src, "@") {
		return src[1:min(len(src), 80)]
	}
	n := strings.IndexAny(src, "\r\n")
	if n < 0 {
		n = len(src)
	}
	cut := n < len(src)
	if n > 63 { // MAXSRC (80) less the brackets and quotes
		n, cut = 63, true
	}
	if cut {
		return `[string "` + src[:n] + `..."]`
	}
	return `[string "` + src + `"]`
}

func (rw *rewriter) rewriteStmts(stmts []ast.Stmt) {
	for _, s := range stmts {
		rw.rewriteStmt(s)
	}
}

func (rw *rewriter) rewriteStmt(s ast.Stmt) {
	defer func() { rw.depth-- }()
	if !rw.enter(s.Line()) {
		return
	}
	switch s := s.(type) {
	case *ast.AssignStmt:
		rw.rewriteExprs(s.Lhs)
		rw.rewriteExprs(s.Rhs)
	case *ast.LocalAssignStmt:
		rw.rewriteExprs(s.Exprs)
	case *ast.FuncCallStmt:
		s.Expr = rw.rewriteExpr(s.Expr)
	case *ast.DoBlockStmt:
		rw.rewriteStmts(s.Stmts)
	case *ast.WhileStmt:
		s.Condition = rw.rewriteExpr(s.Condition)
		rw.rewriteStmts(s.Stmts)
	case *ast.RepeatStmt:
		s.Condition = rw.rewriteExpr(s.Condition)
		rw.rewriteStmts(s.Stmts)
	case *ast.IfStmt:
		s.Condition = rw.rewriteExpr(s.Condition)
		rw.rewriteStmts(s.Then)
		rw.rewriteStmts(s.Else)
	case *ast.NumberForStmt:
		s.Init = rw.rewriteExpr(s.Init)
		s.Limit = rw.rewriteExpr(s.Limit)
		if s.Step != nil {
			s.Step = rw.rewriteExpr(s.Step)
		}
		rw.rewriteStmts(s.Stmts)
	case *ast.GenericForStmt:
		rw.rewriteExprs(s.Exprs)
		rw.rewriteStmts(s.Stmts)
	case *ast.FuncDefStmt:
		if s.Name != nil {
			if s.Name.Func != nil {
				s.Name.Func = rw.rewriteExpr(s.Name.Func)
			}
			if s.Name.Receiver != nil {
				s.Name.Receiver = rw.rewriteExpr(s.Name.Receiver)
			}
		}
		rw.rewriteFunc(s.Func)
	case *ast.ReturnStmt:
		rw.rewriteExprs(s.Exprs)
	case *ast.GotoStmt, *ast.LabelStmt:
		if rw.bad == nil || s.Line() < rw.bad.Line() {
			rw.bad = s
		}
	}
}

func (rw *rewriter) rewriteExprs(es []ast.Expr) {
	for i, e := range es {
		es[i] = rw.rewriteExpr(e)
	}
}

// rewriteFunc rewrites a function's body, counting its constants apart.
func (rw *rewriter) rewriteFunc(f *ast.FunctionExpr) {
	rw.consts = append(rw.consts, constCount{distinct: map[string]struct{}{}})
	rw.rewriteStmts(f.Stmts)
	rw.consts = rw.consts[:len(rw.consts)-1]
}

func (rw *rewriter) rewriteExpr(e ast.Expr) ast.Expr {
	defer func() { rw.depth-- }()
	if !rw.enter(e.Line()) {
		return e
	}
	switch x := e.(type) {
	case *ast.NumberExpr:
		rw.constant('n', x.Value, x.Line())
	case *ast.StringExpr:
		rw.constant('s', x.Value, x.Line())
	case *ast.IdentExpr:
		// Only globals are constants; a local's name costs nothing,
		// so its uses are not counted, only its name.
		rw.name(x.Value)
	case *ast.StringConcatOpExpr:
		var parts []ast.Expr
		flattenConcat(x, &parts)
		rw.rewriteExprs(parts)
		fn := &ast.IdentExpr{Value: concatName}
		fn.SetLine(x.Line())
		fn.SetLastLine(x.LastLine())
		call := &ast.FuncCallExpr{Func: fn, Args: parts, AdjustRet: true}
		call.SetLine(x.Line())
		call.SetLastLine(x.LastLine())
		return call
	case *ast.AttrGetExpr:
		x.Object = rw.rewriteExpr(x.Object)
		x.Key = rw.rewriteExpr(x.Key)
	case *ast.TableExpr:
		positional := 0
		for _, f := range x.Fields {
			if f.Key == nil {
				positional++
			}
		}
		if positional > maxListFields {
			rw.fail("table constructor with more than "+itoa(maxListFields)+" positional fields", x.Line())
			return e
		}
		for _, f := range x.Fields {
			if f.Key != nil {
				f.Key = rw.rewriteExpr(f.Key)
			}
			f.Value = rw.rewriteExpr(f.Value)
		}
	case *ast.FuncCallExpr:
		if x.Func != nil {
			x.Func = rw.rewriteExpr(x.Func)
		}
		if x.Receiver != nil {
			x.Receiver = rw.rewriteExpr(x.Receiver)
		}
		if x.Method != "" {
			rw.constant('s', x.Method, x.Line())
		}
		rw.rewriteExprs(x.Args)
	case *ast.LogicalOpExpr:
		x.Lhs = rw.rewriteExpr(x.Lhs)
		x.Rhs = rw.rewriteExpr(x.Rhs)
	case *ast.RelationalOpExpr:
		x.Lhs = rw.rewriteExpr(x.Lhs)
		x.Rhs = rw.rewriteExpr(x.Rhs)
	case *ast.ArithmeticOpExpr:
		x.Lhs = rw.rewriteExpr(x.Lhs)
		x.Rhs = rw.rewriteExpr(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		x.Expr = rw.rewriteExpr(x.Expr)
	case *ast.UnaryNotOpExpr:
		x.Expr = rw.rewriteExpr(x.Expr)
	case *ast.UnaryLenOpExpr:
		x.Expr = rw.rewriteExpr(x.Expr)
	case *ast.FunctionExpr:
		rw.rewriteFunc(x)
	}
	return e
}

// flattenConcat collects the operands of a right-associative ".." chain.
func flattenConcat(e ast.Expr, parts *[]ast.Expr) {
	for {
		c, ok := e.(*ast.StringConcatOpExpr)
		if !ok {
			*parts = append(*parts, e)
			return
		}
		flattenConcat(c.Lhs, parts)
		e = c.Rhs
	}
}
