//! CEL's grammar (cel-spec `langdef.md`) into [`Expr`], with the standard macros (`has`, `all`,
//! `exists`, `exists_one`, `map`, `filter`) expanded here. Nesting and size are bounded so that a
//! hostile expression cannot exhaust the stack or memory.

use crate::error::CompileError;
use crate::lex::{Tok, Token};
use crate::value::Value;

/// How deeply expressions may nest (parentheses, calls, operators of different precedence).
pub const MAX_DEPTH: u32 = 64;
/// How many nodes an expression may have.
pub const MAX_NODES: usize = 10_000;
/// How long an expression's source may be, in characters.
pub const MAX_SOURCE_CHARS: usize = 100_000;

/// A parsed expression. Operators are calls of their cel-spec names (`_+_`, `!_`, `_[_]`, `@in`, ...).
#[derive(Clone, Debug)]
pub enum Expr {
    Literal(Value),
    Ident(String),
    /// `operand.field`; with `test`, the macro `has(operand.field)`.
    Select {
        operand: Box<Expr>,
        field: String,
        test: bool,
    },
    Call {
        target: Option<Box<Expr>>,
        function: String,
        args: Vec<Expr>,
    },
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    /// A macro over a list's elements or a map's keys, bound to `var` in turn.
    Comprehension {
        kind: Macro,
        range: Box<Expr>,
        var: String,
        /// `filter` and `all`/`exists`/`exists_one`'s predicate, or `map`'s optional filter.
        predicate: Option<Box<Expr>>,
        /// `map`'s transform.
        transform: Option<Box<Expr>>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Macro {
    All,
    Exists,
    ExistsOne,
    Map,
    Filter,
}

const RESERVED: [&str; 16] = [
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
];

/// Parse `source`.
///
/// # Errors
/// A syntax error, a reserved word, a macro misused, or an expression beyond the bounds.
pub fn parse(source: &str) -> Result<Expr, CompileError> {
    if source.chars().count() > MAX_SOURCE_CHARS {
        return Err(CompileError::new(
            1,
            1,
            format!("the expression is longer than {MAX_SOURCE_CHARS} characters"),
        ));
    }
    let tokens = crate::lex::tokens(source)?;
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
        nodes: 0,
    };
    let e = p.expr()?;
    if p.peek().tok != Tok::Eof {
        return Err(p.unexpected("the end of the expression"));
    }
    Ok(e)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: u32,
    nodes: usize,
}

impl Parser {
    fn peek(&self) -> Token {
        self.tokens
            .get(self.at)
            .or_else(|| self.tokens.last())
            .cloned()
            .unwrap_or(Token {
                tok: Tok::Eof,
                line: 1,
                column: 1,
            })
    }

    fn next(&mut self) -> Token {
        let t = self.peek();
        if self.at < self.tokens.len() {
            self.at += 1;
        }
        t
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek().tok, Tok::Sym(s) if s == sym)
    }

    fn eat(&mut self, sym: &str) -> bool {
        let found = self.is_sym(sym);
        if found {
            self.next();
        }
        found
    }

    fn describe(tok: &Tok) -> String {
        match tok {
            Tok::Int(v) => format!("`{v}`"),
            Tok::IntMagnitude(v) => format!("`{v}`"),
            Tok::Uint(v) => format!("`{v}u`"),
            Tok::Double(v) => format!("`{v}`"),
            Tok::Str(_) => "a string".into(),
            Tok::Bytes(_) => "bytes".into(),
            Tok::Ident(n) => format!("`{n}`"),
            Tok::QuotedIdent(n) => format!("`` `{n}` ``"),
            Tok::Sym(s) => format!("`{s}`"),
            Tok::Eof => "the end of the expression".into(),
        }
    }

    fn unexpected(&self, wanted: &str) -> CompileError {
        let t = self.peek();
        CompileError::new(
            t.line,
            t.column,
            format!("expected {wanted}, found {}", Self::describe(&t.tok)),
        )
    }

    fn expect(&mut self, sym: &str) -> Result<(), CompileError> {
        if self.eat(sym) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{sym}`")))
        }
    }

    fn node(&mut self, e: Expr) -> Result<Expr, CompileError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            let t = self.peek();
            return Err(CompileError::new(
                t.line,
                t.column,
                format!("the expression has more than {MAX_NODES} parts"),
            ));
        }
        Ok(e)
    }

    fn call(&mut self, function: &str, args: Vec<Expr>) -> Result<Expr, CompileError> {
        self.node(Expr::Call {
            target: None,
            function: function.into(),
            args,
        })
    }

    fn expr(&mut self) -> Result<Expr, CompileError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.peek();
            return Err(CompileError::new(
                t.line,
                t.column,
                format!("the expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let e = self.conditional();
        self.depth -= 1;
        e
    }

    fn conditional(&mut self) -> Result<Expr, CompileError> {
        let cond = self.or()?;
        if !self.eat("?") {
            return Ok(cond);
        }
        let then = self.or()?;
        self.expect(":")?;
        let otherwise = self.expr()?;
        self.call("_?_:_", vec![cond, then, otherwise])
    }

    fn or(&mut self) -> Result<Expr, CompileError> {
        let mut e = self.and()?;
        while self.eat("||") {
            let rhs = self.and()?;
            e = self.call("_||_", vec![e, rhs])?;
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, CompileError> {
        let mut e = self.relation()?;
        while self.eat("&&") {
            let rhs = self.relation()?;
            e = self.call("_&&_", vec![e, rhs])?;
        }
        Ok(e)
    }

    fn relation(&mut self) -> Result<Expr, CompileError> {
        let mut e = self.addition()?;
        loop {
            let op = match self.peek().tok {
                Tok::Sym(s @ ("<" | "<=" | ">" | ">=" | "==" | "!=")) => s,
                Tok::Ident(ref n) if n == "in" => "in",
                _ => return Ok(e),
            };
            self.next();
            let rhs = self.addition()?;
            let function = if op == "in" {
                "@in".to_owned()
            } else {
                format!("_{op}_")
            };
            e = self.call(&function, vec![e, rhs])?;
        }
    }

    fn addition(&mut self) -> Result<Expr, CompileError> {
        let mut e = self.multiplication()?;
        loop {
            let op = match self.peek().tok {
                Tok::Sym(s @ ("+" | "-")) => s,
                _ => return Ok(e),
            };
            self.next();
            let rhs = self.multiplication()?;
            e = self.call(&format!("_{op}_"), vec![e, rhs])?;
        }
    }

    fn multiplication(&mut self) -> Result<Expr, CompileError> {
        let mut e = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Sym(s @ ("*" | "/" | "%")) => s,
                _ => return Ok(e),
            };
            self.next();
            let rhs = self.unary()?;
            e = self.call(&format!("_{op}_"), vec![e, rhs])?;
        }
    }

    fn unary(&mut self) -> Result<Expr, CompileError> {
        if self.eat("!") {
            let mut count = 1;
            while self.eat("!") {
                count += 1;
            }
            let mut e = self.member()?;
            for _ in 0..count {
                e = self.call("!_", vec![e])?;
            }
            return Ok(e);
        }
        if self.eat("-") {
            let mut count = 1;
            while self.eat("-") {
                count += 1;
            }
            // A negative number is a literal (so that the smallest int can be written).
            let mut e = match self.peek().tok {
                Tok::Int(v) if !self.member_follows() => {
                    self.next();
                    count -= 1;
                    self.node(Expr::Literal(Value::Int(-v)))?
                }
                Tok::IntMagnitude(_) if !self.member_follows() => {
                    self.next();
                    count -= 1;
                    self.node(Expr::Literal(Value::Int(i64::MIN)))?
                }
                Tok::Double(v) if !self.member_follows() => {
                    self.next();
                    count -= 1;
                    self.node(Expr::Literal(Value::Double(-v)))?
                }
                _ => self.member()?,
            };
            for _ in 0..count {
                e = self.call("-_", vec![e])?;
            }
            return Ok(e);
        }
        self.member()
    }

    /// Whether the token after the next one continues a member expression (`-1.foo()` is not `-1`).
    fn member_follows(&self) -> bool {
        matches!(
            self.tokens.get(self.at + 1).map(|t| &t.tok),
            Some(Tok::Sym("." | "["))
        )
    }

    fn member(&mut self) -> Result<Expr, CompileError> {
        let mut e = self.primary()?;
        loop {
            if self.eat(".") {
                let t = self.next();
                let (field, quoted) = match t.tok {
                    Tok::Ident(field) => (field, false),
                    Tok::QuotedIdent(field) => (field, true),
                    _ => {
                        self.at -= 1;
                        return Err(self.unexpected("a field or method name after `.`"));
                    }
                };
                if !quoted && self.eat("(") {
                    let args = self.args(")")?;
                    e = self.method(e, &field, args, &pos(t.line, t.column))?;
                } else {
                    e = self.node(Expr::Select {
                        operand: Box::new(e),
                        field,
                        test: false,
                    })?;
                }
            } else if self.eat("[") {
                let index = self.expr()?;
                self.expect("]")?;
                e = self.call("_[_]", vec![e, index])?;
            } else if self.is_sym("{") && is_qualified_name(&e) {
                let t = self.peek();
                return Err(CompileError::new(
                    t.line,
                    t.column,
                    "message construction is not supported",
                ));
            } else {
                return Ok(e);
            }
        }
    }

    /// A receiver call, or one of the macros that take a receiver.
    fn method(
        &mut self,
        target: Expr,
        name: &str,
        args: Vec<Expr>,
        at: &Token,
    ) -> Result<Expr, CompileError> {
        let kind = match (name, args.len()) {
            ("all", 2) => Some(Macro::All),
            ("exists", 2) => Some(Macro::Exists),
            ("exists_one" | "existsOne", 2) => Some(Macro::ExistsOne),
            ("map", 2 | 3) => Some(Macro::Map),
            ("filter", 2) => Some(Macro::Filter),
            _ => None,
        };
        let Some(kind) = kind else {
            return self.node(Expr::Call {
                target: Some(Box::new(target)),
                function: name.into(),
                args,
            });
        };
        let mut args = args.into_iter();
        let var = match args.next() {
            Some(Expr::Ident(v)) => v,
            _ => {
                return Err(CompileError::new(
                    at.line,
                    at.column,
                    format!("the first argument of `{name}` must be a simple name"),
                ))
            }
        };
        let (predicate, transform) = match (kind, args.next(), args.next()) {
            (Macro::Map, Some(t), None) => (None, Some(Box::new(t))),
            (Macro::Map, Some(p), Some(t)) => (Some(Box::new(p)), Some(Box::new(t))),
            (_, Some(p), None) => (Some(Box::new(p)), None),
            _ => {
                return Err(CompileError::new(
                    at.line,
                    at.column,
                    format!("`{name}` takes a name and an expression"),
                ))
            }
        };
        self.node(Expr::Comprehension {
            kind,
            range: Box::new(target),
            var,
            predicate,
            transform,
        })
    }

    /// Comma-separated expressions up to `close` (a trailing comma allowed in lists and maps only).
    fn args(&mut self, close: &str) -> Result<Vec<Expr>, CompileError> {
        let mut out = Vec::new();
        if self.eat(close) {
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            if self.eat(close) {
                return Ok(out);
            }
            self.expect(",")?;
            if close == "]" && self.eat(close) {
                return Ok(out);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, CompileError> {
        let t = self.next();
        match t.tok {
            Tok::Int(v) => self.node(Expr::Literal(Value::Int(v))),
            Tok::IntMagnitude(v) => Err(CompileError::new(
                t.line,
                t.column,
                format!("integer literal `{v}` is out of range"),
            )),
            Tok::Uint(v) => self.node(Expr::Literal(Value::Uint(v))),
            Tok::Double(v) => self.node(Expr::Literal(Value::Double(v))),
            Tok::Str(s) => self.node(Expr::Literal(Value::String(s.into()))),
            Tok::Bytes(b) => self.node(Expr::Literal(Value::Bytes(b.into()))),
            Tok::Sym("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Sym("[") => {
                let items = self.args("]")?;
                self.node(Expr::List(items))
            }
            Tok::Sym("{") => self.map_literal(),
            Tok::Sym(".") => {
                let t = self.next();
                let Tok::Ident(name) = t.tok else {
                    self.at -= 1;
                    return Err(self.unexpected("a name after a leading `.`"));
                };
                self.ident(name, &pos(t.line, t.column))
            }
            Tok::Ident(name) => self.ident(name, &pos(t.line, t.column)),
            other => {
                self.at -= 1;
                let _ = other;
                Err(self.unexpected("an expression"))
            }
        }
    }

    fn map_literal(&mut self) -> Result<Expr, CompileError> {
        let mut entries = Vec::new();
        if !self.eat("}") {
            loop {
                let key = self.expr()?;
                self.expect(":")?;
                let value = self.expr()?;
                entries.push((key, value));
                if self.eat("}") {
                    break;
                }
                self.expect(",")?;
                if self.eat("}") {
                    break;
                }
            }
        }
        self.node(Expr::Map(entries))
    }

    fn ident(&mut self, name: String, at: &Token) -> Result<Expr, CompileError> {
        match name.as_str() {
            "true" => return self.node(Expr::Literal(Value::Bool(true))),
            "false" => return self.node(Expr::Literal(Value::Bool(false))),
            "null" => return self.node(Expr::Literal(Value::Null)),
            n if RESERVED.contains(&n) || n == "in" => {
                return Err(CompileError::new(
                    at.line,
                    at.column,
                    format!("`{n}` is a reserved word"),
                ))
            }
            _ => {}
        }
        if !self.eat("(") {
            return self.node(Expr::Ident(name));
        }
        let args = self.args(")")?;
        if name == "has" {
            return match <[Expr; 1]>::try_from(args) {
                Ok([Expr::Select { operand, field, .. }]) => self.node(Expr::Select {
                    operand,
                    field,
                    test: true,
                }),
                _ => Err(CompileError::new(
                    at.line,
                    at.column,
                    "`has` takes one field selection, such as `has(m.f)`",
                )),
            };
        }
        self.node(Expr::Call {
            target: None,
            function: name,
            args,
        })
    }
}

/// Where a token was, for errors about what it started.
fn pos(line: u32, column: u32) -> Token {
    Token {
        tok: Tok::Eof,
        line,
        column,
    }
}

/// `a` or `a.b.c`: what could name a message type.
fn is_qualified_name(e: &Expr) -> bool {
    match e {
        Expr::Ident(_) => true,
        Expr::Select {
            operand,
            test: false,
            ..
        } => is_qualified_name(operand),
        _ => false,
    }
}
