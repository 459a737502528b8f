//! When should an idle actor look at its action list again?
//!
//! Conditions read two kinds of state. Event-driven values (`buff.x.up`, `cooldown.x.ready`,
//! charges, `pet.x.active`, stats) only change inside an event, and every such event wakes
//! idle actors. Continuous values (`*.remains`, regenerating resources, `target.health_pct`,
//! `fight.time`) change as time passes; for the common shape `value <op> constant` the compiler
//! records a [`Watch`], and the engine schedules the wake-up at the exact instant the value
//! crosses the constant. Only conditions with other continuous shapes fall back to polling
//! every `fight.idle_poll` seconds.

use crate::compile::US;
use crate::expr::{ast::BinOp, Op, Program, Var};

/// A continuous value crossing a threshold that may flip a condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Watch {
    /// Resource `r` regenerates up to `amount`.
    ResourceAt(u8, f64),
    /// Aura's remaining time falls to `us`.
    AuraRemains(u16, u64),
    /// Dot's remaining time falls to `us`.
    DotRemains(u16, u64),
    /// Cooldown's remaining time falls to `us`.
    CooldownRemains(u16, u64),
    /// Fractional charges rise to the value.
    ChargesFractional(u16, f64),
    /// Pet's remaining time falls to `us`.
    PetRemains(u8, u64),
    /// Target health (fixed-length fights) falls to a percent, held as the share of the fight
    /// left at that point, `1 - pct / 100` (see [`Watch::health_pct`]), so the wake-up
    /// instant is one multiplication.
    HealthPct(f64),
    /// The fight clock reaches `us`.
    FightTime(u64),
    /// Remaining fight time (fixed-length fights) falls to `us`.
    FightRemains(u64),
}

impl Watch {
    /// Target health (fixed-length fights) falling to `pct` percent.
    pub(crate) fn health_pct(pct: f64) -> Self {
        Self::HealthPct(1.0 - pct / 100.0)
    }
}

fn is_cmp(op: Option<&Op>) -> bool {
    matches!(
        op,
        Some(Op::Bin(
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne
        ))
    )
}

fn secs_us(c: f64) -> u64 {
    if c <= 0.0 {
        0
    } else {
        crate::fmath::round(c * US) as u64
    }
}

/// Watches for `prog`; the flag is true when some continuous value is used in a shape that
/// cannot be predicted (the actor must poll).
pub(crate) fn analyze(
    prog: &Program,
    fixed_length: bool,
    execute_pct: f64,
    dot_duration_us: &dyn Fn(u16) -> u64,
) -> (Vec<Watch>, bool) {
    let ops = prog.ops();
    let mut watches = Vec::new();
    let mut poll = false;
    for (i, op) in ops.iter().enumerate() {
        let Op::Load(v) = *op else { continue };
        // `v <op> c` compiles to Load, Const, Bin; `c <op> v` to Const, Load, Bin.
        let constant = match (ops.get(i + 1), ops.get(i + 2)) {
            (Some(Op::Const(c)), next) if is_cmp(next) => Some(*c),
            _ => match (i.checked_sub(1).and_then(|j| ops.get(j)), ops.get(i + 1)) {
                (Some(Op::Const(c)), next) if is_cmp(next) => Some(*c),
                _ => None,
            },
        };
        let w = match (v, constant) {
            // Event-driven values: no watch needed.
            (
                Var::CooldownReady(_)
                | Var::CooldownCharges(_)
                | Var::AuraUp(_)
                | Var::AuraDown(_)
                | Var::AuraStack(_)
                | Var::DotTicking(_)
                | Var::PetActive(_)
                | Var::PlayerHaste
                | Var::PlayerCrit
                | Var::PlayerMastery
                | Var::PlayerVersatility
                | Var::PlayerGcd
                | Var::SpellCastTime(_),
                _,
            ) => continue,
            (Var::Resource(r), Some(c)) => Watch::ResourceAt(r, c),
            (Var::AuraRemains(a), Some(c)) => Watch::AuraRemains(a, secs_us(c)),
            (Var::DotRemains(d), Some(c)) => Watch::DotRemains(d, secs_us(c)),
            (Var::DotRefreshable(d), _) => Watch::DotRemains(d, dot_duration_us(d) * 3 / 10),
            (Var::CooldownRemains(s), Some(c)) => Watch::CooldownRemains(s, secs_us(c)),
            (Var::CooldownChargesFractional(s), Some(c)) => Watch::ChargesFractional(s, c),
            (Var::PetRemains(p), Some(c)) => Watch::PetRemains(p, secs_us(c)),
            (Var::TargetHealthPct, Some(c)) if fixed_length => Watch::health_pct(c),
            (Var::TargetExecute, _) if fixed_length => Watch::health_pct(execute_pct),
            (Var::FightTime, Some(c)) => Watch::FightTime(secs_us(c)),
            (Var::FightRemains | Var::TargetTimeToDie, Some(c)) if fixed_length => {
                Watch::FightRemains(secs_us(c))
            }
            _ => {
                poll = true;
                continue;
            }
        };
        if !watches.contains(&w) {
            watches.push(w);
        }
    }
    (watches, poll)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{parse, ExprError};

    fn run(src: &str) -> (Vec<Watch>, bool) {
        let ast = parse(src).unwrap();
        let prog = Program::compile(&ast, &mut |name, off| {
            Ok(Op::Load(match name {
                "focus" => Var::Resource(0),
                "bw_remains" => Var::AuraRemains(1),
                "bw_up" => Var::AuraUp(1),
                "refreshable" => Var::DotRefreshable(0),
                "hp" => Var::TargetHealthPct,
                "deficit" => Var::ResourceDeficit(0),
                _ => return Err(ExprError::new(off, "unknown")),
            }))
        })
        .unwrap();
        analyze(&prog, true, 20.0, &|_| 10_000_000)
    }

    #[test]
    fn recognizes_threshold_shapes() {
        assert_eq!(
            run("focus >= 50 or bw_up"),
            (vec![Watch::ResourceAt(0, 50.0)], false)
        );
        assert_eq!(
            run("3 > bw_remains"),
            (vec![Watch::AuraRemains(1, 3_000_000)], false)
        );
        assert_eq!(
            run("refreshable"),
            (vec![Watch::DotRemains(0, 3_000_000)], false)
        );
        assert_eq!(
            run("hp < 35 and bw_up"),
            (vec![Watch::HealthPct(0.65)], false)
        );
    }

    #[test]
    fn unpredictable_shapes_poll() {
        assert!(run("bw_remains * 2 < 3").1);
        assert!(run("deficit > 20").1);
        assert!(run("focus + 10 > 50").1);
    }
}

/// For each piece of event-driven state, the actors (bit `a` = actor `a`) whose action list
/// reads it, so a change wakes only idle actors that can react to it.
#[derive(Debug, Clone, Default)]
pub(crate) struct WakeMasks {
    pub aura: Vec<u64>,
    pub resource: Vec<u64>,
    pub cooldown: Vec<u64>,
    pub dot: Vec<u64>,
    pub pet: Vec<u64>,
    /// Actors reading stats (haste, crit, cast times, ...), woken when a stat aura changes.
    pub stats: u64,
    /// Per resource: actors that read it in a shape without thresholds (they poll), so any
    /// change wakes them.
    pub resource_any: Vec<u64>,
    /// Per actor: the (resource, amount) thresholds its action list can react to (costs and
    /// `resource.R <op> constant`); a change that crosses none of them only moves its wake-up.
    pub thresholds: Vec<Vec<(u8, f64)>>,
    /// Per actor: what its idle wake-up time depends on, flattened over its action list.
    pub plans: Vec<WakePlan>,
}

/// Everything an idle actor's wake-up time is the earliest of, merged over all its actions.
///
/// The wake-up is a minimum of integer instants, so order and repeats do not matter: each
/// cooldown and watch appears once, and the amounts a resource must regenerate to (costs and
/// `resource.R <op> c` watches) are kept sorted, because the instant a regenerating resource
/// reaches an amount rises with the amount: only the smallest amount not yet reached needs
/// the division.
#[derive(Debug, Clone, Default)]
pub(crate) struct WakePlan {
    /// Some action polls every `fight.idle_poll`.
    pub poll: bool,
    /// Spells with a cooldown among the actor's actions, distinct.
    pub cooldowns: Vec<u16>,
    /// Per resource: the distinct amounts, ascending.
    pub amounts: Vec<Amounts>,
    /// The other watches, distinct.
    pub watches: Vec<Watch>,
}

/// The amounts of one resource an actor waits for (see [`WakePlan`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Amounts {
    /// The resource.
    pub resource: u8,
    /// Distinct amounts, ascending (NaN excluded).
    pub sorted: Vec<f64>,
    /// Some amount is NaN (which never counts as reached).
    pub nan: bool,
}

impl WakePlan {
    fn add_amount(&mut self, r: u8, amount: f64) {
        let i = match self.amounts.iter().position(|x| x.resource == r) {
            Some(i) => i,
            None => {
                self.amounts.push(Amounts {
                    resource: r,
                    ..Amounts::default()
                });
                self.amounts.len() - 1
            }
        };
        let a = &mut self.amounts[i];
        if amount.is_nan() {
            a.nan = true;
        } else if !a.sorted.contains(&amount) {
            a.sorted.push(amount);
            a.sorted.sort_by(f64::total_cmp);
        }
    }

    /// The plan of an action list.
    fn build(actor: &crate::compile::CActor, spells: &[crate::compile::CSpell]) -> Self {
        let mut plan = Self::default();
        for action in &actor.apl {
            let sp = &spells[action.spell as usize];
            plan.poll |= action.poll;
            if sp.cooldown_us > 0 && !plan.cooldowns.contains(&action.spell) {
                plan.cooldowns.push(action.spell);
            }
            for &(r, cost) in &sp.costs {
                plan.add_amount(r, cost);
            }
            for w in &action.watches {
                match *w {
                    Watch::ResourceAt(r, c) => plan.add_amount(r, c),
                    other => {
                        if !plan.watches.contains(&other) {
                            plan.watches.push(other);
                        }
                    }
                }
            }
        }
        plan
    }
}

impl WakeMasks {
    /// Masks for the compiled action lists.
    pub(crate) fn build(
        actors: &[crate::compile::CActor],
        spells: &[crate::compile::CSpell],
        n_auras: usize,
        n_resources: usize,
        n_dots: usize,
    ) -> Self {
        let mut m = Self {
            aura: vec![0; n_auras],
            resource: vec![0; n_resources],
            cooldown: vec![0; spells.len()],
            dot: vec![0; n_dots],
            pet: vec![0; actors.len()],
            stats: 0,
            resource_any: vec![0; n_resources],
            thresholds: vec![Vec::new(); actors.len()],
            plans: actors.iter().map(|a| WakePlan::build(a, spells)).collect(),
        };
        for (a, actor) in actors.iter().enumerate() {
            let bit = 1u64 << a;
            for action in &actor.apl {
                let sp = &spells[action.spell as usize];
                m.cooldown[action.spell as usize] |= bit;
                for &(r, c) in &sp.costs {
                    m.resource[r as usize] |= bit;
                    m.thresholds[a].push((r, c));
                }
                for w in &action.watches {
                    if let Watch::ResourceAt(r, c) = *w {
                        m.thresholds[a].push((r, c));
                    }
                }
                let Some(cond) = &action.cond else { continue };
                for op in cond.ops() {
                    let Op::Load(v) = *op else { continue };
                    match v {
                        Var::CooldownReady(s)
                        | Var::CooldownRemains(s)
                        | Var::CooldownCharges(s)
                        | Var::CooldownChargesFractional(s)
                        | Var::CooldownFullRecharge(s) => m.cooldown[s as usize] |= bit,
                        Var::AuraUp(i)
                        | Var::AuraDown(i)
                        | Var::AuraStack(i)
                        | Var::AuraRemains(i) => m.aura[i as usize] |= bit,
                        Var::DotTicking(d) | Var::DotRemains(d) | Var::DotRefreshable(d) => {
                            m.dot[d as usize] |= bit
                        }
                        Var::Resource(r)
                        | Var::ResourceDeficit(r)
                        | Var::ResourcePct(r)
                        | Var::ResourceTimeToMax(r) => {
                            m.resource[r as usize] |= bit;
                            // A polling condition may read the value in any shape.
                            if action.poll {
                                m.resource_any[r as usize] |= bit;
                            }
                        }
                        Var::PetActive(p) | Var::PetRemains(p) => m.pet[p as usize] |= bit,
                        Var::PlayerHaste
                        | Var::PlayerCrit
                        | Var::PlayerMastery
                        | Var::PlayerVersatility
                        | Var::PlayerGcd
                        | Var::SpellCastTime(_) => m.stats |= bit,
                        Var::TargetHealthPct
                        | Var::TargetExecute
                        | Var::TargetTimeToDie
                        | Var::FightTime
                        | Var::FightRemains => {}
                    }
                }
            }
        }
        m
    }
}
