//! Tokens of the condition language.

use super::ExprError;
use crate::limits::{Limit, MAX_EXPR_TOKENS};

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A number literal.
    Num(f64),
    /// A dotted name such as `buff.frenzy.stack`, or a keyword/function name.
    Name(String),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` or `=`
    Eq,
    /// `!=`
    Ne,
    /// `and` / `&&` / `&`
    And,
    /// `or` / `||` / `|`
    Or,
    /// `not` / `!`
    Not,
    /// End of input.
    End,
}

/// A token with its byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Kind.
    pub tok: Tok,
    /// Byte offset of its first character.
    pub offset: usize,
}

/// Splits `src` into tokens (ending with [`Tok::End`]).
pub fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let two = |j: usize| bytes.get(j + 1).copied();
        let tok = if c.is_ascii_digit() || (c == b'.' && two(i).is_some_and(|d| d.is_ascii_digit()))
        {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let text = &src[start..i];
            let value: f64 = text
                .parse()
                .map_err(|_| ExprError::new(start, format!("invalid number `{text}`")))?;
            if i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
                return Err(ExprError::new(
                    i,
                    format!("unexpected character `{}` after number", bytes[i] as char),
                ));
            }
            Tok::Num(value)
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            let text = &src[start..i];
            if text.ends_with('.') || text.contains("..") {
                return Err(ExprError::new(start, format!("malformed name `{text}`")));
            }
            match text {
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                _ => Tok::Name(text.to_string()),
            }
        } else {
            i += 1;
            match (c, bytes.get(i).copied()) {
                (b'(', _) => Tok::LParen,
                (b')', _) => Tok::RParen,
                (b',', _) => Tok::Comma,
                (b'+', _) => Tok::Plus,
                (b'-', _) => Tok::Minus,
                (b'*', _) => Tok::Star,
                (b'/', _) => Tok::Slash,
                (b'%', _) => Tok::Percent,
                (b'<', Some(b'=')) => {
                    i += 1;
                    Tok::Le
                }
                (b'<', _) => Tok::Lt,
                (b'>', Some(b'=')) => {
                    i += 1;
                    Tok::Ge
                }
                (b'>', _) => Tok::Gt,
                (b'=', Some(b'=')) => {
                    i += 1;
                    Tok::Eq
                }
                (b'=', _) => Tok::Eq,
                (b'!', Some(b'=')) => {
                    i += 1;
                    Tok::Ne
                }
                (b'!', _) => Tok::Not,
                (b'&', Some(b'&')) => {
                    i += 1;
                    Tok::And
                }
                (b'&', _) => Tok::And,
                (b'|', Some(b'|')) => {
                    i += 1;
                    Tok::Or
                }
                (b'|', _) => Tok::Or,
                _ => {
                    let ch = src[start..].chars().next().unwrap_or('?');
                    return Err(ExprError::new(
                        start,
                        format!("unexpected character `{ch}`"),
                    ));
                }
            }
        };
        if out.len() == MAX_EXPR_TOKENS {
            return Err(ExprError::over(
                start,
                Limit::ExprNodes,
                format!("expression longer than {MAX_EXPR_TOKENS} tokens"),
            ));
        }
        out.push(Token { tok, offset: start });
    }
    out.push(Token {
        tok: Tok::End,
        offset: src.len(),
    });
    Ok(out)
}
