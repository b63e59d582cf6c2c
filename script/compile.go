package script

import (
	"bytes"
	"errors"
	"fmt"

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
	chunk, err := parse.Parse(bytes.NewReader(body), chunkName)
	if err != nil {
		return nil, compileError(err)
	}
	rewriteStmts(chunk)
	proto, err := lua.Compile(chunk, chunkName)
	if err != nil {
		return nil, compileError(err)
	}
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

func rewriteStmts(stmts []ast.Stmt) {
	for _, s := range stmts {
		rewriteStmt(s)
	}
}

func rewriteStmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.AssignStmt:
		rewriteExprs(s.Lhs)
		rewriteExprs(s.Rhs)
	case *ast.LocalAssignStmt:
		rewriteExprs(s.Exprs)
	case *ast.FuncCallStmt:
		s.Expr = rewriteExpr(s.Expr)
	case *ast.DoBlockStmt:
		rewriteStmts(s.Stmts)
	case *ast.WhileStmt:
		s.Condition = rewriteExpr(s.Condition)
		rewriteStmts(s.Stmts)
	case *ast.RepeatStmt:
		s.Condition = rewriteExpr(s.Condition)
		rewriteStmts(s.Stmts)
	case *ast.IfStmt:
		s.Condition = rewriteExpr(s.Condition)
		rewriteStmts(s.Then)
		rewriteStmts(s.Else)
	case *ast.NumberForStmt:
		s.Init = rewriteExpr(s.Init)
		s.Limit = rewriteExpr(s.Limit)
		if s.Step != nil {
			s.Step = rewriteExpr(s.Step)
		}
		rewriteStmts(s.Stmts)
	case *ast.GenericForStmt:
		rewriteExprs(s.Exprs)
		rewriteStmts(s.Stmts)
	case *ast.FuncDefStmt:
		if s.Name != nil {
			if s.Name.Func != nil {
				s.Name.Func = rewriteExpr(s.Name.Func)
			}
			if s.Name.Receiver != nil {
				s.Name.Receiver = rewriteExpr(s.Name.Receiver)
			}
		}
		rewriteStmts(s.Func.Stmts)
	case *ast.ReturnStmt:
		rewriteExprs(s.Exprs)
	}
}

func rewriteExprs(es []ast.Expr) {
	for i, e := range es {
		es[i] = rewriteExpr(e)
	}
}

func rewriteExpr(e ast.Expr) ast.Expr {
	switch x := e.(type) {
	case *ast.StringConcatOpExpr:
		var parts []ast.Expr
		flattenConcat(x, &parts)
		rewriteExprs(parts)
		fn := &ast.IdentExpr{Value: concatName}
		fn.SetLine(x.Line())
		fn.SetLastLine(x.LastLine())
		call := &ast.FuncCallExpr{Func: fn, Args: parts, AdjustRet: true}
		call.SetLine(x.Line())
		call.SetLastLine(x.LastLine())
		return call
	case *ast.AttrGetExpr:
		x.Object = rewriteExpr(x.Object)
		x.Key = rewriteExpr(x.Key)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			if f.Key != nil {
				f.Key = rewriteExpr(f.Key)
			}
			f.Value = rewriteExpr(f.Value)
		}
	case *ast.FuncCallExpr:
		if x.Func != nil {
			x.Func = rewriteExpr(x.Func)
		}
		if x.Receiver != nil {
			x.Receiver = rewriteExpr(x.Receiver)
		}
		rewriteExprs(x.Args)
	case *ast.LogicalOpExpr:
		x.Lhs = rewriteExpr(x.Lhs)
		x.Rhs = rewriteExpr(x.Rhs)
	case *ast.RelationalOpExpr:
		x.Lhs = rewriteExpr(x.Lhs)
		x.Rhs = rewriteExpr(x.Rhs)
	case *ast.ArithmeticOpExpr:
		x.Lhs = rewriteExpr(x.Lhs)
		x.Rhs = rewriteExpr(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		x.Expr = rewriteExpr(x.Expr)
	case *ast.UnaryNotOpExpr:
		x.Expr = rewriteExpr(x.Expr)
	case *ast.UnaryLenOpExpr:
		x.Expr = rewriteExpr(x.Expr)
	case *ast.FunctionExpr:
		rewriteStmts(x.Stmts)
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
