//! Flat stack bytecode for conditions: names resolved to [`Var`]s at compile time, `and`/`or`
//! short-circuit through forward jumps, evaluation uses a fixed-size stack (no allocation).

use super::ast::{BinOp, Expr, Func};
use super::tree::Tree;
use super::ExprError;

/// Deepest operand stack a program may need.
pub const MAX_STACK: usize = 16;

/// A value read from the simulation state; indices refer to the compiled profile's tables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Var {
    /// `cooldown.S.ready`: at least one charge.
    CooldownReady(u16),
    /// `cooldown.S.remains`: seconds until a charge is available.
    CooldownRemains(u16),
    /// `cooldown.S.charges`: whole charges available.
    CooldownCharges(u16),
    /// `cooldown.S.charges_fractional`: charges plus recharge progress.
    CooldownChargesFractional(u16),
    /// `cooldown.S.full_recharge_time`: seconds until all charges are back.
    CooldownFullRecharge(u16),
    /// `buff.A.up`.
    AuraUp(u16),
    /// `buff.A.down`.
    AuraDown(u16),
    /// `buff.A.stack`.
    AuraStack(u16),
    /// `buff.A.remains` (seconds).
    AuraRemains(u16),
    /// `dot.D.ticking`.
    DotTicking(u16),
    /// `dot.D.remains` (seconds).
    DotRemains(u16),
    /// `dot.D.refreshable`: remaining time within the pandemic window (30 %).
    DotRefreshable(u16),
    /// `resource.R`: current amount.
    Resource(u8),
    /// `resource.R.deficit`: cap minus current.
    ResourceDeficit(u8),
    /// `resource.R.pct`: percent of cap.
    ResourcePct(u8),
    /// `resource.R.time_to_max` (seconds, large when not regenerating).
    ResourceTimeToMax(u8),
    /// `target.health_pct`.
    TargetHealthPct,
    /// `target.execute`: health below the profile's execute percent.
    TargetExecute,
    /// `target.time_to_die` (seconds).
    TargetTimeToDie,
    /// `fight.time` (seconds since the pull).
    FightTime,
    /// `fight.remains` (seconds; an estimate when fighting to a health pool).
    FightRemains,
    /// `pet.P.active`.
    PetActive(u8),
    /// `pet.P.remains` (seconds; large for permanent pets).
    PetRemains(u8),
    /// `player.haste`: current haste percent.
    PlayerHaste,
    /// `player.crit`: current crit percent.
    PlayerCrit,
    /// `player.mastery`: current mastery percent.
    PlayerMastery,
    /// `player.versatility`: current versatility percent.
    PlayerVersatility,
    /// `player.gcd`: current hasted GCD in seconds.
    PlayerGcd,
    /// `spell.S.cast_time`: current hasted cast time in seconds.
    SpellCastTime(u16),
}

/// One instruction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// Push a constant.
    Const(f64),
    /// Push a state value.
    Load(Var),
    /// Negate the top.
    Neg,
    /// Logical not of the top (1 or 0).
    Not,
    /// Normalize the top to 1 or 0.
    Bool,
    /// Binary arithmetic or comparison on the top two.
    Bin(BinOp),
    /// Unary function on the top.
    Call1(Func),
    /// Binary function on the top two.
    Call2(Func),
    /// `and`: if the top is false, replace it with 0 and jump to the absolute target; else pop.
    JumpIfFalseElsePop(u32),
    /// `or`: if the top is true, replace it with 1 and jump to the absolute target; else pop.
    JumpIfTrueElsePop(u32),
}

/// Source of state values for [`Program::eval`].
pub trait Env {
    /// The current value of `v`.
    fn load(&self, v: Var) -> f64;
}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    ops: Vec<Op>,
    /// The same program as an expression tree, which [`Program::test`] walks (None only if
    /// the ops were not of the shape `compile` emits; then `test` interprets them).
    tree: Option<Tree>,
}

impl Program {
    /// Compiles `expr`, resolving every name with `resolve(name, offset)`.
    pub fn compile(
        expr: &Expr,
        resolve: &mut dyn FnMut(&str, usize) -> Result<Op, ExprError>,
    ) -> Result<Self, ExprError> {
        let mut ops = Vec::new();
        emit(expr, &mut ops, resolve)?;
        let tree = Tree::build(&ops);
        let program = Self { ops, tree };
        let depth = program.max_depth();
        if depth > MAX_STACK {
            return Err(ExprError::new(
                0,
                format!(
                    "expression too deeply nested (needs {depth} stack slots, limit {MAX_STACK})"
                ),
            ));
        }
        Ok(program)
    }

    /// The instructions.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Constant value of the program if it has no loads (used to fold `if = "true"`).
    pub fn constant(&self) -> Option<f64> {
        match self.ops.as_slice() {
            [Op::Const(c)] => Some(*c),
            _ => None,
        }
    }

    fn max_depth(&self) -> usize {
        // Jumps only skip forward over balanced code, so a linear scan bounds the depth.
        let mut depth: isize = 0;
        let mut max: isize = 0;
        for op in &self.ops {
            depth += match op {
                Op::Const(_) | Op::Load(_) => 1,
                Op::Bin(_)
                | Op::Call2(_)
                | Op::JumpIfFalseElsePop(_)
                | Op::JumpIfTrueElsePop(_) => -1,
                Op::Neg | Op::Not | Op::Bool | Op::Call1(_) => 0,
            };
            max = max.max(depth);
        }
        max as usize
    }

    /// Evaluates against `env`; booleans come out as 1.0 / 0.0.
    #[inline]
    pub fn eval<E: Env + ?Sized>(&self, env: &E) -> f64 {
        let mut stack = [0.0f64; MAX_STACK];
        let mut sp = 0usize;
        let ops = &self.ops[..];
        let mut pc = 0usize;
        while pc < ops.len() {
            match ops[pc] {
                Op::Const(c) => {
                    stack[sp] = c;
                    sp += 1;
                }
                Op::Load(v) => {
                    stack[sp] = env.load(v);
                    sp += 1;
                }
                Op::Neg => stack[sp - 1] = -stack[sp - 1],
                Op::Not => stack[sp - 1] = truth(stack[sp - 1] == 0.0),
                Op::Bool => stack[sp - 1] = truth(stack[sp - 1] != 0.0),
                Op::Bin(op) => {
                    sp -= 1;
                    let b = stack[sp];
                    let a = stack[sp - 1];
                    stack[sp - 1] = binary(op, a, b);
                }
                Op::Call1(f) => {
                    let a = stack[sp - 1];
                    stack[sp - 1] = match f {
                        Func::Abs => a.abs(),
                        Func::Floor => crate::fmath::floor(a),
                        Func::Ceil => crate::fmath::ceil(a),
                        Func::Min | Func::Max => a,
                    };
                }
                Op::Call2(f) => {
                    sp -= 1;
                    let b = stack[sp];
                    let a = stack[sp - 1];
                    stack[sp - 1] = if f == Func::Min { a.min(b) } else { a.max(b) };
                }
                Op::JumpIfFalseElsePop(target) => {
                    if stack[sp - 1] == 0.0 {
                        stack[sp - 1] = 0.0;
                        pc = target as usize;
                        continue;
                    }
                    sp -= 1;
                }
                Op::JumpIfTrueElsePop(target) => {
                    if stack[sp - 1] != 0.0 {
                        stack[sp - 1] = 1.0;
                        pc = target as usize;
                        continue;
                    }
                    sp -= 1;
                }
            }
            pc += 1;
        }
        stack[0]
    }

    /// Evaluates as a condition: whether [`Program::eval`] would return a value other than
    /// 0.0, computed on the expression tree (debug builds check both against the bytecode).
    #[inline]
    pub fn test<E: Env + ?Sized>(&self, env: &E) -> bool {
        match &self.tree {
            Some(tree) => {
                let t = tree.test(env);
                debug_assert_eq!(t, self.eval(env) != 0.0);
                debug_assert_eq!(tree.eval(env).to_bits(), self.eval(env).to_bits());
                t
            }
            None => self.eval(env) != 0.0,
        }
    }
}

#[inline]
pub(super) fn truth(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

#[inline]
pub(super) fn binary(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        // Division by zero yields 0 rather than inf/NaN so conditions stay well-defined.
        BinOp::Div => {
            if b == 0.0 {
                0.0
            } else {
                a / b
            }
        }
        BinOp::Mod => {
            if b == 0.0 {
                0.0
            } else {
                crate::fmath::rem(a, b)
            }
        }
        BinOp::Lt => truth(a < b),
        BinOp::Le => truth(a <= b),
        BinOp::Gt => truth(a > b),
        BinOp::Ge => truth(a >= b),
        BinOp::Eq => truth(a == b),
        BinOp::Ne => truth(a != b),
        // Reached only for constant-folded operands; the compiler emits jumps otherwise.
        BinOp::And => truth(a != 0.0 && b != 0.0),
        BinOp::Or => truth(a != 0.0 || b != 0.0),
    }
}

fn emit(
    e: &Expr,
    ops: &mut Vec<Op>,
    resolve: &mut dyn FnMut(&str, usize) -> Result<Op, ExprError>,
) -> Result<(), ExprError> {
    match e {
        Expr::Num(n) => ops.push(Op::Const(*n)),
        Expr::Name(name, offset) => ops.push(resolve(name, *offset)?),
        Expr::Neg(inner) => {
            emit(inner, ops, resolve)?;
            fold_unary(ops, Op::Neg);
        }
        Expr::Not(inner) => {
            emit(inner, ops, resolve)?;
            fold_unary(ops, Op::Not);
        }
        Expr::Bin(op @ (BinOp::And | BinOp::Or), a, b) => {
            emit(a, ops, resolve)?;
            let jump_at = ops.len();
            ops.push(Op::Bool); // placeholder, patched below
            emit(b, ops, resolve)?;
            ops.push(Op::Bool);
            let target = ops.len() as u32;
            ops[jump_at] = if *op == BinOp::And {
                Op::JumpIfFalseElsePop(target)
            } else {
                Op::JumpIfTrueElsePop(target)
            };
        }
        Expr::Bin(op, a, b) => {
            emit(a, ops, resolve)?;
            emit(b, ops, resolve)?;
            let n = ops.len();
            if let [Op::Const(x), Op::Const(y)] = ops[n - 2..] {
                ops.truncate(n - 2);
                ops.push(Op::Const(binary(*op, x, y)));
            } else {
                ops.push(Op::Bin(*op));
            }
        }
        Expr::Call(f, args) => {
            for a in args {
                emit(a, ops, resolve)?;
            }
            ops.push(if args.len() == 2 {
                Op::Call2(*f)
            } else {
                Op::Call1(*f)
            });
        }
    }
    Ok(())
}

fn fold_unary(ops: &mut Vec<Op>, op: Op) {
    if let Some(Op::Const(c)) = ops.last().copied() {
        ops.pop();
        ops.push(Op::Const(match op {
            Op::Neg => -c,
            _ => truth(c == 0.0),
        }));
    } else {
        ops.push(op);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;

    struct Fixed;
    impl Env for Fixed {
        fn load(&self, v: Var) -> f64 {
            match v {
                Var::Resource(0) => 40.0,
                Var::AuraStack(0) => 2.0,
                Var::CooldownReady(0) => 1.0,
                Var::TargetHealthPct => 15.0,
                _ => 0.0,
            }
        }
    }

    fn run(src: &str) -> f64 {
        let ast = parse(src).unwrap();
        let p = Program::compile(&ast, &mut |name, off| match name {
            "focus" => Ok(Op::Load(Var::Resource(0))),
            "stack" => Ok(Op::Load(Var::AuraStack(0))),
            "ready" => Ok(Op::Load(Var::CooldownReady(0))),
            "hp" => Ok(Op::Load(Var::TargetHealthPct)),
            "zero" => Ok(Op::Load(Var::FightTime)),
            _ => Err(ExprError::new(off, format!("unknown `{name}`"))),
        })
        .unwrap();
        p.eval(&Fixed)
    }

    #[test]
    fn evaluates_arithmetic_comparisons_and_logic() {
        assert_eq!(run("focus >= 30"), 1.0);
        assert_eq!(run("focus - 15 * 2 > 10"), 0.0);
        assert_eq!(run("stack < 3 and ready"), 1.0);
        assert_eq!(run("stack < 2 or hp < 20"), 1.0);
        assert_eq!(run("not ready or zero"), 0.0);
        assert_eq!(run("(focus + stack) / 2"), 21.0);
        assert_eq!(run("focus % 15"), 10.0);
        assert_eq!(run("min(focus, 100) + max(stack, -1) + abs(-3)"), 45.0);
        assert_eq!(run("focus / zero"), 0.0);
        assert_eq!(run("-stack"), -2.0);
        assert_eq!(run("floor(2.7) + ceil(0.2)"), 3.0);
        // and/or produce booleans even when operands are numbers.
        assert_eq!(run("focus and stack"), 1.0);
        assert_eq!(run("zero or focus"), 1.0);
        assert_eq!(run("zero and focus"), 0.0);
    }

    #[test]
    fn short_circuit_skips_right_operand() {
        // The right side would push a huge stack if evaluated; the result must still be right.
        assert_eq!(run("zero and (focus + focus > 1)"), 0.0);
        assert_eq!(run("ready or (focus > 1000)"), 1.0);
    }

    #[test]
    fn folds_constants() {
        let ast = parse("2 * 3 + 1 > 6 and not false").unwrap();
        let p = Program::compile(&ast, &mut |_, off| Err(ExprError::new(off, "no names"))).unwrap();
        // and is compiled with a jump, so only its operands fold.
        assert_eq!(p.eval(&Fixed), 1.0);
        let ast = parse("-(2 * 3)").unwrap();
        let p = Program::compile(&ast, &mut |_, off| Err(ExprError::new(off, "no names"))).unwrap();
        assert_eq!(p.constant(), Some(-6.0));
    }

    #[test]
    fn unknown_names_report_their_offset() {
        let ast = parse("focus > 3 and bogus.thing").unwrap();
        let err = Program::compile(&ast, &mut |name, off| {
            if name == "focus" {
                Ok(Op::Load(Var::Resource(0)))
            } else {
                Err(ExprError::new(off, format!("unknown `{name}`")))
            }
        })
        .unwrap_err();
        assert_eq!(err.offset, 14);
    }

    #[test]
    fn rejects_overly_deep_expressions() {
        let src = format!("{}1{}", "(1 + ".repeat(20), ")".repeat(20));
        let ast = parse(&src).unwrap();
        // Constants fold away, so use loads to force depth.
        let src2 = src.replace("1 +", "focus +");
        let ast2 = parse(&src2).unwrap();
        assert!(Program::compile(&ast, &mut |_, o| Err(ExprError::new(o, "x"))).is_ok());
        let err = Program::compile(&ast2, &mut |_, _| Ok(Op::Load(Var::Resource(0)))).unwrap_err();
        assert!(err.message.contains("too deeply nested"), "{err:?}");
    }
}
