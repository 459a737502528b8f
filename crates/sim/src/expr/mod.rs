//! The APL condition language: `cooldown.x.ready and (buff.y.stack < 3 or resource.focus >= 30)`.
//!
//! Text is lexed ([`lexer`]), parsed into an [`ast::Expr`] with byte offsets for errors, and
//! compiled once ([`bytecode`]) into a flat stack program whose loads are resolved indices, so
//! evaluation does no string work and no allocation.

pub mod ast;
pub mod bytecode;
pub mod lexer;
pub mod parser;
mod tree;

pub use ast::Expr;
pub use bytecode::{Op, Program, Var};
pub use parser::parse;

/// A parse or name-resolution error at a byte offset of the expression text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at offset {offset})")]
pub struct ExprError {
    /// Byte offset into the expression.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// The bound exceeded, when that is what is wrong.
    pub limit: Option<crate::limits::Limit>,
}

impl ExprError {
    /// Builds an error at `offset`.
    pub fn new(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            message: message.into(),
            limit: None,
        }
    }

    /// An error for exceeding `limit` at `offset`.
    pub fn over(offset: usize, limit: crate::limits::Limit, message: impl Into<String>) -> Self {
        Self {
            limit: Some(limit),
            ..Self::new(offset, message)
        }
    }
}
