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
/// How tall an expression's tree may be (operators chained, calls, selections): evaluation recurses
/// once per level.
pub const MAX_HEIGHT: u32 = 100;
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
        h: 0,
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
    /// The height of the expression the last parsing step returned.
    h: u32,
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

    /// A new node whose tallest child is `below` high (0 for a leaf).
    fn node(&mut self, e: Expr, below: u32) -> Result<Expr, CompileError> {
        self.nodes += 1;
        self.h = below + 1;
        let t = self.peek();
        if self.nodes > MAX_NODES {
            return Err(CompileError::new(
                t.line,
                t.column,
                format!("the expression has more than {MAX_NODES} parts"),
            ));
        }
        if self.h > MAX_HEIGHT {
            return Err(CompileError::new(
                t.line,
                t.column,
                format!("the expression nests deeper than {MAX_HEIGHT} operations"),
            ));
        }
        Ok(e)
    }

    fn leaf(&mut self, e: Expr) -> Result<Expr, CompileError> {
        self.node(e, 0)
    }

    fn call(&mut self, function: &str, args: Vec<Expr>, below: u32) -> Result<Expr, CompileError> {
        self.node(
            Expr::Call {
                target: None,
                function: function.into(),
                args,
            },
            below,
        )
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
        let mut below = self.h;
        let then = self.or()?;
        below = below.max(self.h);
        self.expect(":")?;
        let otherwise = self.expr()?;
        below = below.max(self.h);
        self.call("_?_:_", vec![cond, then, otherwise], below)
    }

    /// `left (op right)*`, left-associative, each operand parsed by `operand`; `op` says which operator
    /// comes next (by its function name), if any.
    fn chain(
        &mut self,
        operand: fn(&mut Self) -> Result<Expr, CompileError>,
        op: fn(&Tok) -> Option<&'static str>,
    ) -> Result<Expr, CompileError> {
        let mut e = operand(self)?;
        while let Some(function) = op(&self.peek().tok) {
            let left = self.h;
            self.next();
            let rhs = operand(self)?;
            let below = left.max(self.h);
            e = self.call(function, vec![e, rhs], below)?;
        }
        Ok(e)
    }

    fn or(&mut self) -> Result<Expr, CompileError> {
        self.chain(Self::and, |t| (*t == Tok::Sym("||")).then_some("_||_"))
    }

    fn and(&mut self) -> Result<Expr, CompileError> {
        self.chain(Self::relation, |t| (*t == Tok::Sym("&&")).then_some("_&&_"))
    }

    fn relation(&mut self) -> Result<Expr, CompileError> {
        self.chain(Self::addition, |t| match t {
            Tok::Sym("<") => Some("_<_"),
            Tok::Sym("<=") => Some("_<=_"),
            Tok::Sym(">") => Some("_>_"),
            Tok::Sym(">=") => Some("_>=_"),
            Tok::Sym("==") => Some("_==_"),
            Tok::Sym("!=") => Some("_!=_"),
            Tok::Ident(n) if n == "in" => Some("@in"),
            _ => None,
        })
    }

    fn addition(&mut self) -> Result<Expr, CompileError> {
        self.chain(Self::multiplication, |t| match t {
            Tok::Sym("+") => Some("_+_"),
            Tok::Sym("-") => Some("_-_"),
            _ => None,
        })
    }

    fn multiplication(&mut self) -> Result<Expr, CompileError> {
        self.chain(Self::unary, |t| match t {
            Tok::Sym("*") => Some("_*_"),
            Tok::Sym("/") => Some("_/_"),
            Tok::Sym("%") => Some("_%_"),
            _ => None,
        })
    }

    fn unary(&mut self) -> Result<Expr, CompileError> {
        if self.eat("!") {
            let mut count = 1;
            while self.eat("!") {
                count += 1;
            }
            let mut e = self.member()?;
            for _ in 0..count {
                let below = self.h;
                e = self.call("!_", vec![e], below)?;
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
                    self.leaf(Expr::Literal(Value::Int(-v)))?
                }
                Tok::IntMagnitude(_) if !self.member_follows() => {
                    self.next();
                    count -= 1;
                    self.leaf(Expr::Literal(Value::Int(i64::MIN)))?
                }
                Tok::Double(v) if !self.member_follows() => {
                    self.next();
                    count -= 1;
                    self.leaf(Expr::Literal(Value::Double(-v)))?
                }
                _ => self.member()?,
            };
            for _ in 0..count {
                let below = self.h;
                e = self.call("-_", vec![e], below)?;
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
            let left = self.h;
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
                    let below = left.max(self.h);
                    e = self.method(e, &field, args, &pos(t.line, t.column), below)?;
                } else {
                    e = self.node(
                        Expr::Select {
                            operand: Box::new(e),
                            field,
                            test: false,
                        },
                        left,
                    )?;
                }
            } else if self.eat("[") {
                let index = self.expr()?;
                self.expect("]")?;
                let below = left.max(self.h);
                e = self.call("_[_]", vec![e, index], below)?;
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
        below: u32,
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
            return self.node(
                Expr::Call {
                    target: Some(Box::new(target)),
                    function: name.into(),
                    args,
                },
                below,
            );
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
        self.node(
            Expr::Comprehension {
                kind,
                range: Box::new(target),
                var,
                predicate,
                transform,
            },
            below,
        )
    }

    /// Comma-separated expressions up to `close` (a trailing comma allowed in lists and maps only).
    /// Leaves the tallest one's height in `self.h` (0 for none).
    fn args(&mut self, close: &str) -> Result<Vec<Expr>, CompileError> {
        let mut out = Vec::new();
        let mut tallest = 0;
        let done = |p: &mut Self, tallest: u32, out: Vec<Expr>| {
            p.h = tallest;
            Ok(out)
        };
        if self.eat(close) {
            return done(self, tallest, out);
        }
        loop {
            out.push(self.expr()?);
            tallest = tallest.max(self.h);
            if self.eat(close) {
                return done(self, tallest, out);
            }
            self.expect(",")?;
            if close == "]" && self.eat(close) {
                return done(self, tallest, out);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, CompileError> {
        let t = self.next();
        match t.tok {
            Tok::Int(v) => self.leaf(Expr::Literal(Value::Int(v))),
            Tok::IntMagnitude(v) => Err(CompileError::new(
                t.line,
                t.column,
                format!("integer literal `{v}` is out of range"),
            )),
            Tok::Uint(v) => self.leaf(Expr::Literal(Value::Uint(v))),
            Tok::Double(v) => self.leaf(Expr::Literal(Value::Double(v))),
            Tok::Str(s) => self.leaf(Expr::Literal(Value::String(s.into()))),
            Tok::Bytes(b) => self.leaf(Expr::Literal(Value::Bytes(b.into()))),
            Tok::Sym("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Sym("[") => {
                let items = self.args("]")?;
                let below = self.h;
                self.node(Expr::List(items), below)
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
        let mut below = 0;
        if !self.eat("}") {
            loop {
                let key = self.expr()?;
                below = below.max(self.h);
                self.expect(":")?;
                let value = self.expr()?;
                below = below.max(self.h);
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
        self.node(Expr::Map(entries), below)
    }

    fn ident(&mut self, name: String, at: &Token) -> Result<Expr, CompileError> {
        match name.as_str() {
            "true" => return self.leaf(Expr::Literal(Value::Bool(true))),
            "false" => return self.leaf(Expr::Literal(Value::Bool(false))),
            "null" => return self.leaf(Expr::Literal(Value::Null)),
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
            return self.leaf(Expr::Ident(name));
        }
        let args = self.args(")")?;
        let below = self.h;
        if name == "has" {
            return match <[Expr; 1]>::try_from(args) {
                Ok([Expr::Select { operand, field, .. }]) => self.node(
                    Expr::Select {
                        operand,
                        field,
                        test: true,
                    },
                    below,
                ),
                _ => Err(CompileError::new(
                    at.line,
                    at.column,
                    "`has` takes one field selection, such as `has(m.f)`",
                )),
            };
        }
        self.node(
            Expr::Call {
                target: None,
                function: name,
                args,
            },
            below,
        )
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
