//! Recursive-descent parser. Precedence, loosest first: `or`, `and`, `not`, comparisons,
//! `+ -`, `* / %`, unary `-`, atoms.

use super::ast::{BinOp, Expr, Func};
use super::lexer::{lex, Tok, Token};
use super::ExprError;
use crate::limits::{Limit, MAX_EXPR_DEPTH, MAX_EXPR_NODES};

/// Parses a whole condition.
///
/// Refuses trees deeper than [`MAX_EXPR_DEPTH`] or larger than [`MAX_EXPR_NODES`] as they are
/// built, so hostile text never recurses deeply or allocates much.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let tokens = lex(src)?;
    if tokens.len() == 1 {
        return Err(ExprError::new(0, "empty expression"));
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        level: 0,
        nodes: 0,
    };
    let e = p.or()?;
    let t = p.peek();
    if t.tok != Tok::End {
        return Err(ExprError::new(
            t.offset,
            format!(
                "unexpected {} after a complete expression",
                describe(&t.tok)
            ),
        ));
    }
    Ok(e.expr)
}

/// A parsed subtree and its depth (a leaf is 1).
struct Sub {
    expr: Expr,
    depth: usize,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Current recursion depth of the descent (parentheses, calls, prefix operators).
    level: usize,
    /// Nodes built so far.
    nodes: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("number `{n}`"),
        Tok::Name(n) => format!("name `{n}`"),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Plus => "`+`".into(),
        Tok::Minus => "`-`".into(),
        Tok::Star => "`*`".into(),
        Tok::Slash => "`/`".into(),
        Tok::Percent => "`%`".into(),
        Tok::Lt => "`<`".into(),
        Tok::Le => "`<=`".into(),
        Tok::Gt => "`>`".into(),
        Tok::Ge => "`>=`".into(),
        Tok::Eq => "`==`".into(),
        Tok::Ne => "`!=`".into(),
        Tok::And => "`and`".into(),
        Tok::Or => "`or`".into(),
        Tok::Not => "`not`".into(),
        Tok::End => "end of expression".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if &self.peek().tok == tok {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Counts a new node of `depth` made at `offset`, refusing it past the bounds.
    fn node(&mut self, expr: Expr, depth: usize, offset: usize) -> Result<Sub, ExprError> {
        self.nodes += 1;
        if self.nodes > MAX_EXPR_NODES {
            return Err(ExprError::over(
                offset,
                Limit::ExprNodes,
                format!("expression has more than {MAX_EXPR_NODES} nodes"),
            ));
        }
        if depth > MAX_EXPR_DEPTH {
            return Err(too_deep(offset));
        }
        Ok(Sub { expr, depth })
    }

    fn bin(&mut self, op: BinOp, lhs: Sub, rhs: Sub, offset: usize) -> Result<Sub, ExprError> {
        let depth = 1 + lhs.depth.max(rhs.depth);
        self.node(
            Expr::Bin(op, Box::new(lhs.expr), Box::new(rhs.expr)),
            depth,
            offset,
        )
    }

    fn unary(
        &mut self,
        wrap: fn(Box<Expr>) -> Expr,
        inner: fn(&mut Self) -> Result<Sub, ExprError>,
        offset: usize,
    ) -> Result<Sub, ExprError> {
        let a = self.nested(offset, inner)?;
        self.node(wrap(Box::new(a.expr)), a.depth + 1, offset)
    }

    /// Runs `f` one recursion level deeper, refusing nesting past [`MAX_EXPR_DEPTH`].
    fn nested(
        &mut self,
        offset: usize,
        f: impl FnOnce(&mut Self) -> Result<Sub, ExprError>,
    ) -> Result<Sub, ExprError> {
        if self.level >= MAX_EXPR_DEPTH {
            return Err(too_deep(offset));
        }
        self.level += 1;
        let out = f(self);
        self.level -= 1;
        out
    }

    fn or(&mut self) -> Result<Sub, ExprError> {
        let mut lhs = self.and()?;
        while self.peek().tok == Tok::Or {
            let at = self.next().offset;
            let rhs = self.and()?;
            lhs = self.bin(BinOp::Or, lhs, rhs, at)?;
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Sub, ExprError> {
        let mut lhs = self.not()?;
        while self.peek().tok == Tok::And {
            let at = self.next().offset;
            let rhs = self.not()?;
            lhs = self.bin(BinOp::And, lhs, rhs, at)?;
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Sub, ExprError> {
        if self.peek().tok == Tok::Not {
            let at = self.next().offset;
            return self.unary(Expr::Not, Self::not, at);
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Sub, ExprError> {
        let lhs = self.add()?;
        let op = match self.peek().tok {
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            Tok::Eq => BinOp::Eq,
            Tok::Ne => BinOp::Ne,
            _ => return Ok(lhs),
        };
        let at = self.next().offset;
        let rhs = self.add()?;
        let next = self.peek();
        if matches!(
            next.tok,
            Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::Eq | Tok::Ne
        ) {
            return Err(ExprError::new(
                next.offset,
                "comparisons cannot be chained; combine them with `and`",
            ));
        }
        self.bin(op, lhs, rhs, at)
    }

    fn add(&mut self) -> Result<Sub, ExprError> {
        let mut lhs = self.mul()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(lhs),
            };
            let at = self.next().offset;
            let rhs = self.mul()?;
            lhs = self.bin(op, lhs, rhs, at)?;
        }
    }

    fn mul(&mut self) -> Result<Sub, ExprError> {
        let mut lhs = self.prefix()?;
        loop {
            let op = match self.peek().tok {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Mod,
                _ => return Ok(lhs),
            };
            let at = self.next().offset;
            let rhs = self.prefix()?;
            lhs = self.bin(op, lhs, rhs, at)?;
        }
    }

    fn prefix(&mut self) -> Result<Sub, ExprError> {
        let at = self.peek().offset;
        if self.eat(&Tok::Minus) {
            return self.unary(Expr::Neg, Self::prefix, at);
        }
        if self.eat(&Tok::Not) {
            return self.unary(Expr::Not, Self::prefix, at);
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Sub, ExprError> {
        let t = self.next();
        match t.tok {
            Tok::Num(n) => self.node(Expr::Num(n), 1, t.offset),
            Tok::Name(name) => {
                if self.peek().tok == Tok::LParen {
                    let func = Func::by_name(&name).ok_or_else(|| {
                        ExprError::new(
                            t.offset,
                            format!(
                                "unknown function `{name}` (known: min, max, abs, floor, ceil)"
                            ),
                        )
                    })?;
                    let open = self.next();
                    let mut args = Vec::new();
                    let mut depth = 0;
                    if self.peek().tok != Tok::RParen {
                        loop {
                            let a = self.nested(open.offset, Self::or)?;
                            depth = depth.max(a.depth);
                            args.push(a.expr);
                            if !self.eat(&Tok::Comma) {
                                break;
                            }
                        }
                    }
                    let close = self.next();
                    if close.tok != Tok::RParen {
                        return Err(ExprError::new(
                            close.offset,
                            format!(
                                "expected `)` to close the call opened at offset {}, found {}",
                                open.offset,
                                describe(&close.tok)
                            ),
                        ));
                    }
                    if args.len() != func.arity() {
                        return Err(ExprError::new(
                            t.offset,
                            format!(
                                "`{name}` takes {} argument(s), got {}",
                                func.arity(),
                                args.len()
                            ),
                        ));
                    }
                    return self.node(Expr::Call(func, args), depth + 1, t.offset);
                }
                let leaf = match name.as_str() {
                    "true" => Expr::Num(1.0),
                    "false" => Expr::Num(0.0),
                    _ => Expr::Name(name, t.offset),
                };
                self.node(leaf, 1, t.offset)
            }
            Tok::LParen => {
                let e = self.nested(t.offset, Self::or)?;
                let close = self.next();
                if close.tok != Tok::RParen {
                    return Err(ExprError::new(
                        close.offset,
                        format!(
                            "expected `)` to close `(` at offset {}, found {}",
                            t.offset,
                            describe(&close.tok)
                        ),
                    ));
                }
                Ok(e)
            }
            other => Err(ExprError::new(
                t.offset,
                format!("expected a value, found {}", describe(&other)),
            )),
        }
    }
}

fn too_deep(offset: usize) -> ExprError {
    ExprError::over(
        offset,
        Limit::ExprDepth,
        format!("expression nested more than {MAX_EXPR_DEPTH} levels deep"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_associativity() {
        let e = parse("a or b and not c < 1 + 2 * 3").unwrap();
        let s = format!("{e:?}");
        // or at the root, and below it, not wrapping the comparison.
        assert!(s.starts_with("Bin(Or, Name(\"a\""), "{s}");
        assert!(s.contains("Bin(And, Name(\"b\""), "{s}");
        assert!(s.contains("Not(Bin(Lt, Name(\"c\""), "{s}");
        assert!(
            s.contains("Bin(Add, Num(1.0), Bin(Mul, Num(2.0), Num(3.0)))"),
            "{s}"
        );
        assert_eq!(
            parse("1 - 2 - 3").unwrap(),
            Expr::Bin(
                BinOp::Sub,
                Box::new(Expr::Bin(
                    BinOp::Sub,
                    Box::new(Expr::Num(1.0)),
                    Box::new(Expr::Num(2.0))
                )),
                Box::new(Expr::Num(3.0))
            )
        );
    }

    #[test]
    fn errors_carry_offsets() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "empty expression"),
            ("buff.x.up and", 13, "expected a value"),
            ("(a < 3", 6, "expected `)`"),
            ("a < 3 )", 6, "unexpected `)`"),
            ("a $ b", 2, "unexpected character `$`"),
            ("a < b < c", 6, "cannot be chained"),
            ("foo(1)", 0, "unknown function `foo`"),
            ("min(1)", 0, "takes 2 argument(s)"),
            ("buff..x", 0, "malformed name"),
            ("3abc", 1, "after number"),
        ];
        for (src, offset, msg) in cases {
            let err = parse(src).unwrap_err();
            assert_eq!(err.offset, *offset, "{src}: {err:?}");
            assert!(err.message.contains(msg), "{src}: {err:?}");
        }
    }

    fn strip(e: Expr) -> Expr {
        match e {
            Expr::Name(n, _) => Expr::Name(n, 0),
            Expr::Neg(a) => Expr::Neg(Box::new(strip(*a))),
            Expr::Not(a) => Expr::Not(Box::new(strip(*a))),
            Expr::Bin(op, a, b) => Expr::Bin(op, Box::new(strip(*a)), Box::new(strip(*b))),
            Expr::Call(f, args) => Expr::Call(f, args.into_iter().map(strip).collect()),
            other => other,
        }
    }

    #[test]
    fn symbolic_operators_match_keywords() {
        assert_eq!(
            strip(parse("a && !b || c").unwrap()),
            strip(parse("a and not b or c").unwrap())
        );
        assert_eq!(parse("true").unwrap(), Expr::Num(1.0));
    }
}
