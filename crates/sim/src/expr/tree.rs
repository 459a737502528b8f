//! A condition's bytecode rebuilt as an expression tree, for deciding faster.
//!
//! The stack interpreter ([`super::Program::eval`]) pays a dispatch, a stack write and a
//! bounds check for every instruction, and a condition tested for truth still materializes
//! every comparison and `and`/`or` as 1.0/0.0. The tree is derived from the bytecode itself
//! (a symbolic run of the stack program), so each node computes exactly the value its
//! instructions leave on the stack; testing for truth then works on booleans directly, and
//! the common `value <op> constant` shape is one node.

use super::ast::{BinOp, Func};
use super::bytecode::{binary, truth, Env, Op, Var};

/// One node; children are indices into [`Tree::nodes`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum Node {
    Const(f64),
    Load(Var),
    Neg(u32),
    /// 1.0 when the operand is 0.0, else 0.0.
    Not(u32),
    /// 1.0 when the operand is not 0.0, else 0.0.
    Bool(u32),
    Bin(BinOp, u32, u32),
    /// `Bin(op, Load(v), Const(c))` for a comparison `op`.
    CmpVarConst(BinOp, Var, f64),
    /// `Bin(op, Const(c), Load(v))` for a comparison `op`.
    CmpConstVar(BinOp, f64, Var),
    Call1(Func, u32),
    Call2(Func, u32, u32),
    /// `JumpIfFalseElsePop`: 0.0 when the left side is 0.0, else the right side.
    And(u32, u32),
    /// `JumpIfTrueElsePop`: 1.0 when the left side is not 0.0, else the right side.
    Or(u32, u32),
}

/// A condition as a tree of nodes (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    root: u32,
    /// The truth test as a chain of leaf tests (see [`Leaf`]); starts at `leaves[entry]`.
    leaves: Vec<Leaf>,
    entry: u32,
}

/// One test of a condition's truth as a chain: `and`, `or`, `not` and `Bool` nodes become
/// jumps between their leaves (the leaf to test next when this one is true and when it is
/// false, or the final answer), so testing walks a list instead of recursing through the
/// logic nodes. Each leaf is tested exactly as [`Tree::truth_of`] tests that node.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Leaf {
    test: LeafTest,
    on_true: u32,
    on_false: u32,
}

/// Chain target: the condition is true.
const YES: u32 = u32::MAX;
/// Chain target: the condition is false.
const NO: u32 = u32::MAX - 1;

#[derive(Debug, Clone, Copy, PartialEq)]
enum LeafTest {
    /// `load(v) <op> c`.
    VarConst(BinOp, Var, f64),
    /// `c <op> load(v)`.
    ConstVar(BinOp, f64, Var),
    /// `load(v) != 0.0`.
    Var(Var),
    /// Any other node: [`Tree::truth_of`] of it.
    Node(u32),
}

#[inline]
fn is_cmp(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne
    )
}

/// Whether node `n`'s value is always exactly 1.0 or 0.0 (comparisons, `not`, `Bool`, and
/// `and`/`or` whose right side is: their short-circuit results are 0.0 and 1.0).
fn is_boolean(nodes: &[Node], n: u32) -> bool {
    match nodes[n as usize] {
        Node::CmpVarConst(..) | Node::CmpConstVar(..) | Node::Not(_) | Node::Bool(_) => true,
        Node::Bin(op, _, _) => is_cmp(op),
        Node::And(_, b) | Node::Or(_, b) => is_boolean(nodes, b),
        _ => false,
    }
}

/// `a op b` for a comparison `op`; `binary` returns `truth` of the same test.
#[inline]
fn compare(op: BinOp, a: f64, b: f64) -> bool {
    match op {
        BinOp::Lt => a < b,
        BinOp::Le => a <= b,
        BinOp::Gt => a > b,
        BinOp::Ge => a >= b,
        BinOp::Eq => a == b,
        _ => a != b,
    }
}

impl Tree {
    /// The tree of `ops`, or None when they are not the balanced shape
    /// [`super::Program::compile`] emits (then the caller keeps interpreting the bytecode).
    pub(crate) fn build(ops: &[Op]) -> Option<Self> {
        let mut nodes = Vec::new();
        let root = Self::range(ops, 0, ops.len(), &mut nodes)?;
        let mut leaves = Vec::new();
        let entry = Self::chain(&nodes, root, YES, NO, &mut leaves)?;
        Some(Self {
            nodes,
            root,
            leaves,
            entry,
        })
    }

    /// Appends the leaves testing node `n`'s truth, continuing at `yes` when it is true and
    /// at `no` when it is false; returns the index of the first leaf to test.
    fn chain(nodes: &[Node], n: u32, yes: u32, no: u32, leaves: &mut Vec<Leaf>) -> Option<u32> {
        let test = match nodes[n as usize] {
            // `a and b`: b is tested only when a is true.
            Node::And(a, b) => {
                let b = Self::chain(nodes, b, yes, no, leaves)?;
                return Self::chain(nodes, a, b, no, leaves);
            }
            // `a or b`: b is tested only when a is false.
            Node::Or(a, b) => {
                let b = Self::chain(nodes, b, yes, no, leaves)?;
                return Self::chain(nodes, a, yes, b, leaves);
            }
            Node::Not(a) => return Self::chain(nodes, a, no, yes, leaves),
            Node::Bool(a) => return Self::chain(nodes, a, yes, no, leaves),
            Node::CmpVarConst(op, v, c) => LeafTest::VarConst(op, v, c),
            Node::CmpConstVar(op, c, v) => LeafTest::ConstVar(op, c, v),
            Node::Load(v) => LeafTest::Var(v),
            _ => LeafTest::Node(n),
        };
        leaves.push(Leaf {
            test,
            on_true: yes,
            on_false: no,
        });
        // Leaf indices stay below the two answer markers.
        u32::try_from(leaves.len() - 1).ok().filter(|&i| i < NO)
    }

    /// Symbolically runs `ops[start..end]`, which must leave exactly one value on the stack,
    /// and returns the node computing it.
    fn range(ops: &[Op], start: usize, end: usize, nodes: &mut Vec<Node>) -> Option<u32> {
        let mut stack: Vec<u32> = Vec::new();
        let add = |nodes: &mut Vec<Node>, n: Node| -> Option<u32> {
            nodes.push(n);
            u32::try_from(nodes.len() - 1).ok()
        };
        let mut pc = start;
        while pc < end {
            let node = match ops[pc] {
                Op::Const(c) => Node::Const(c),
                Op::Load(v) => Node::Load(v),
                Op::Neg => Node::Neg(stack.pop()?),
                Op::Not => Node::Not(stack.pop()?),
                Op::Bool => {
                    let a = stack.pop()?;
                    // `Bool` of a value that is already 1.0 or 0.0 leaves it as it is (the
                    // right side of every `and`/`or` ends in one): no node.
                    if is_boolean(nodes, a) {
                        stack.push(a);
                        pc += 1;
                        continue;
                    }
                    Node::Bool(a)
                }
                Op::Bin(op) => {
                    let b = stack.pop()?;
                    let a = stack.pop()?;
                    match (nodes[a as usize], nodes[b as usize]) {
                        (Node::Load(v), Node::Const(c)) if is_cmp(op) => {
                            Node::CmpVarConst(op, v, c)
                        }
                        (Node::Const(c), Node::Load(v)) if is_cmp(op) => {
                            Node::CmpConstVar(op, c, v)
                        }
                        _ => Node::Bin(op, a, b),
                    }
                }
                Op::Call1(f) => Node::Call1(f, stack.pop()?),
                Op::Call2(f) => {
                    let b = stack.pop()?;
                    let a = stack.pop()?;
                    Node::Call2(f, a, b)
                }
                Op::JumpIfFalseElsePop(target) | Op::JumpIfTrueElsePop(target) => {
                    // The instructions up to the target push the right side (one value).
                    let target = target as usize;
                    if target <= pc || target > end {
                        return None;
                    }
                    let a = stack.pop()?;
                    let b = Self::range(ops, pc + 1, target, nodes)?;
                    let node = if matches!(ops[pc], Op::JumpIfFalseElsePop(_)) {
                        Node::And(a, b)
                    } else {
                        Node::Or(a, b)
                    };
                    stack.push(add(nodes, node)?);
                    pc = target;
                    continue;
                }
            };
            stack.push(add(nodes, node)?);
            pc += 1;
        }
        match stack[..] {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The value the bytecode leaves on the stack.
    pub(crate) fn eval<E: Env + ?Sized>(&self, env: &E) -> f64 {
        self.value(self.root, env)
    }

    /// Whether the bytecode's value is not 0.0. The two one-node shapes (`x`, `x <op> c`)
    /// are tested here, inlined into the caller; the rest walks the tree.
    #[inline]
    pub(crate) fn test<E: Env + ?Sized>(&self, env: &E) -> bool {
        match self.nodes[self.root as usize] {
            Node::CmpVarConst(op, v, c) => compare(op, env.load(v), c),
            Node::Load(v) => env.load(v) != 0.0,
            _ => {
                let t = self.test_chain(env);
                debug_assert_eq!(t, self.truth_of(self.root, env));
                t
            }
        }
    }

    /// [`Tree::truth_of`] of the root, by walking the leaf chain.
    fn test_chain<E: Env + ?Sized>(&self, env: &E) -> bool {
        let mut i = self.entry;
        loop {
            let leaf = &self.leaves[i as usize];
            let t = match leaf.test {
                LeafTest::VarConst(op, v, c) => compare(op, env.load(v), c),
                LeafTest::ConstVar(op, c, v) => compare(op, c, env.load(v)),
                LeafTest::Var(v) => env.load(v) != 0.0,
                LeafTest::Node(n) => self.truth_of(n, env),
            };
            i = if t { leaf.on_true } else { leaf.on_false };
            if i >= NO {
                return i == YES;
            }
        }
    }

    fn value<E: Env + ?Sized>(&self, n: u32, env: &E) -> f64 {
        match self.nodes[n as usize] {
            Node::Const(c) => c,
            Node::Load(v) => env.load(v),
            Node::Neg(a) => -self.value(a, env),
            Node::Not(a) => truth(self.value(a, env) == 0.0),
            Node::Bool(a) => truth(self.value(a, env) != 0.0),
            Node::Bin(op, a, b) => {
                let x = self.value(a, env);
                binary(op, x, self.value(b, env))
            }
            Node::CmpVarConst(op, v, c) => binary(op, env.load(v), c),
            Node::CmpConstVar(op, c, v) => binary(op, c, env.load(v)),
            Node::Call1(f, a) => {
                let a = self.value(a, env);
                match f {
                    Func::Abs => a.abs(),
                    Func::Floor => crate::fmath::floor(a),
                    Func::Ceil => crate::fmath::ceil(a),
                    Func::Min | Func::Max => a,
                }
            }
            Node::Call2(f, a, b) => {
                let a = self.value(a, env);
                let b = self.value(b, env);
                if f == Func::Min {
                    a.min(b)
                } else {
                    a.max(b)
                }
            }
            Node::And(a, b) => {
                if self.value(a, env) == 0.0 {
                    0.0
                } else {
                    self.value(b, env)
                }
            }
            Node::Or(a, b) => {
                if self.value(a, env) != 0.0 {
                    1.0
                } else {
                    self.value(b, env)
                }
            }
        }
    }

    /// `value(n) != 0.0`, without materializing 1.0/0.0 for comparisons and logic: `and`
    /// is non-zero exactly when both sides are (a zero left side gives 0.0, else the value is
    /// the right side's), `or` exactly when either side is, `Not` inverts, `Bool` keeps the
    /// operand's truth.
    fn truth_of<E: Env + ?Sized>(&self, n: u32, env: &E) -> bool {
        match self.nodes[n as usize] {
            Node::CmpVarConst(op, v, c) => compare(op, env.load(v), c),
            Node::CmpConstVar(op, c, v) => compare(op, c, env.load(v)),
            Node::Load(v) => env.load(v) != 0.0,
            Node::And(a, b) => self.truth_of(a, env) && self.truth_of(b, env),
            Node::Or(a, b) => self.truth_of(a, env) || self.truth_of(b, env),
            Node::Bool(a) => self.truth_of(a, env),
            Node::Not(a) => !self.truth_of(a, env),
            Node::Bin(op, a, b) if is_cmp(op) => {
                let x = self.value(a, env);
                compare(op, x, self.value(b, env))
            }
            _ => self.value(n, env) != 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{parse, ExprError, Program};

    /// Loads read from a table, so one expression can be checked under many states.
    struct Values([f64; 4]);
    impl Env for Values {
        fn load(&self, v: Var) -> f64 {
            match v {
                Var::Resource(r) => self.0[r as usize % 4],
                _ => 0.0,
            }
        }
    }

    fn compile(src: &str) -> Program {
        let ast = parse(src).unwrap();
        Program::compile(&ast, &mut |name, off| match name {
            "a" => Ok(Op::Load(Var::Resource(0))),
            "b" => Ok(Op::Load(Var::Resource(1))),
            "c" => Ok(Op::Load(Var::Resource(2))),
            "d" => Ok(Op::Load(Var::Resource(3))),
            _ => Err(ExprError::new(off, "unknown")),
        })
        .unwrap()
    }

    #[test]
    fn tree_computes_what_the_bytecode_computes() {
        let exprs = [
            "a",
            "a >= 50",
            "50 <= a",
            "a < b",
            "a == 0 or b != 1",
            "a and b <= 1.6 or c >= 1.8",
            "not a and (b or c) and not (d > 2)",
            "(a and b) + (c or d) * 2 > 1",
            "-(a - b) / c % 3 >= d",
            "min(a, b) + max(c, -d) + abs(a) + floor(b) + ceil(c) > 0",
            "a and b and c and d",
            "a or b or c or d",
            "(a or b) and (c or not d)",
            "a / 0 == 0 and b % 0 == 0",
            "a + b",
            "not not a",
        ];
        let values = [
            0.0,
            -0.0,
            1.0,
            -1.5,
            2.0,
            50.0,
            1.6,
            f64::NAN,
            f64::INFINITY,
        ];
        for src in exprs {
            let prog = compile(src);
            let tree = Tree::build(prog.ops()).expect("compiled programs have a tree");
            for &w in &values {
                for &x in &values {
                    for &y in &values {
                        for &z in &[0.0, 3.0, f64::NAN] {
                            let env = Values([w, x, y, z]);
                            let want = prog.eval(&env);
                            assert_eq!(tree.eval(&env).to_bits(), want.to_bits(), "{src}");
                            assert_eq!(tree.test(&env), want != 0.0, "{src}");
                            assert_eq!(tree.test_chain(&env), want != 0.0, "{src}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn comparisons_with_a_constant_are_one_node() {
        let prog = compile("a >= 50 or 3 > b");
        let tree = Tree::build(prog.ops()).unwrap();
        let root = tree.nodes[tree.root as usize];
        let Node::Or(l, r) = root else {
            panic!("{root:?}")
        };
        assert!(matches!(
            tree.nodes[l as usize],
            Node::CmpVarConst(BinOp::Ge, Var::Resource(0), 50.0)
        ));
        // The `Bool` after a comparison is dropped (its value is already 1.0 or 0.0).
        assert!(matches!(
            tree.nodes[r as usize],
            Node::CmpConstVar(BinOp::Gt, 3.0, Var::Resource(1))
        ));
    }
}
