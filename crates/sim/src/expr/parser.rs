//! Recursive-descent parser. Precedence, loosest first: `or`, `and`, `not`, comparisons,
//! `+ -`, `* / %`, unary `-`, atoms.

use super::ast::{BinOp, Expr, Func};
use super::lexer::{lex, Tok, Token};
use super::ExprError;

/// Parses a whole condition.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let tokens = lex(src)?;
    if tokens.len() == 1 {
        return Err(ExprError::new(0, "empty expression"));
    }
    let mut p = Parser { tokens, pos: 0 };
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
    Ok(e)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
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

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.and()?;
        while self.eat(&Tok::Or) {
            let rhs = self.and()?;
            lhs = Expr::Bin(BinOp::Or, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.not()?;
        while self.eat(&Tok::And) {
            let rhs = self.not()?;
            lhs = Expr::Bin(BinOp::And, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.eat(&Tok::Not) {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, ExprError> {
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
        self.pos += 1;
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
        Ok(Expr::Bin(op, Box::new(lhs), Box::new(rhs)))
    }

    fn add(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.mul()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.mul()?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn mul(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Mod,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.unary()?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.eat(&Tok::Minus) {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat(&Tok::Not) {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        let t = self.next();
        match t.tok {
            Tok::Num(n) => Ok(Expr::Num(n)),
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
                    if self.peek().tok != Tok::RParen {
                        loop {
                            args.push(self.or()?);
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
                    return Ok(Expr::Call(func, args));
                }
                match name.as_str() {
                    "true" => Ok(Expr::Num(1.0)),
                    "false" => Ok(Expr::Num(0.0)),
                    _ => Ok(Expr::Name(name, t.offset)),
                }
            }
            Tok::LParen => {
                let e = self.or()?;
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
