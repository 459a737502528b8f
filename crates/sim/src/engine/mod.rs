//! The discrete-event core: one [`Sim`] runs iterations of one compiled profile.
//!
//! State is held in flat vectors indexed like the compiled tables and reset (not reallocated)
//! for every iteration; the event queue keeps its capacity, so the steady state allocates
//! nothing per event. Superseded events (a dead pet's swing, a maxed cooldown's recharge) are
//! not removed from the queue: each carries a generation number and is skipped when it no
//! longer matches; a superseded event of an owner that schedules a new one (a refreshed
//! aura's expiry, an actor's earlier decision) is overwritten in the owner's queue slot.

pub(crate) mod queue;

use crate::compile::{ActionCosts, CAction, CompiledProfile, MAX_OFF_GCD_CHAIN, US};
use crate::error::RunError;
use crate::expr::bytecode::{Env, Var};
use crate::fmath::{to_u64, us_f64};
use crate::limits::MAX_EVENTS_PER_ITERATION;
use crate::profile::Refresh;
use crate::rng::{iteration_rng, Xoshiro256pp};
use crate::wake::{Amounts, Watch};
use queue::{Ev, Queue};

/// "Forever" for remaining-time expressions (seconds).
const FOREVER_S: f64 = 1e9;
/// RPPM looks back at most this far since the last roll (microseconds).
const RPPM_MAX_LOOKBACK_US: u64 = 10_000_000;

#[inline]
fn secs(us: u64) -> f64 {
    us_f64(us) / US
}

/// Resource `r`'s regeneration per µs with the player's stats `stats[0]`.
fn regen_rate_of(p: &CompiledProfile, stats: &[Stats], r: usize) -> f64 {
    let res = &p.resources[r];
    if res.regen_haste {
        res.regen_per_us * stats[0].haste
    } else {
        res.regen_per_us
    }
}

/// The indices of the set bits of `mask`, lowest first (actor masks: bit a = actor a).
fn bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let a = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            a
        })
    })
}

#[inline]
fn truth(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ActorState {
    active: bool,
    ready_gen: u32,
    cast_gen: u32,
    auto_gen: u32,
    expire_gen: u32,
    expires: u64,
    /// When the Ready carrying `ready_gen` fires (MAX: none queued).
    ready_at: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    crit: f64,
    haste: f64,
    mastery_pct: f64,
    mastery_mult: f64,
    vers_mult: f64,
    power: f64,
    /// Time between auto attacks at this haste (at least 1 µs; 0 without auto attacks),
    /// derived here once per stat change instead of on every swing.
    swing_us: u64,
}

/// A resource's amount as of `last`, with what reading it at another instant needs beside
/// it (one record per read instead of three arrays).
#[derive(Debug, Clone, Copy, Default)]
struct ResState {
    value: f64,
    last: u64,
    /// The regeneration per µs at the player's current haste, always equal to
    /// [`regen_rate_of`] (kept in step by `recompute_stats`, the only writer of stats).
    rate: f64,
    /// The cap (the profile's, copied).
    max: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct CdState {
    /// Charges available. At least one (the compiler rejects zero) and only spent or
    /// restored when the spell has a cooldown, so it is 0 only for a spell with one.
    charges: u8,
    /// When the recharge in progress completes (0 = none running).
    recharge_end: u64,
    /// Length of the recharge in progress.
    recharge_len: u64,
    gen: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct AuraState {
    stacks: u8,
    expires: u64,
    gen: u32,
    /// `1.0 + damage * stacks` of the aura while it has stacks (what `deal` multiplies by),
    /// derived when the stacks change instead of on every hit.
    damage_mult: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct DotState {
    active: bool,
    end: u64,
    last_tick: u64,
    interval: u64,
    gen: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct ProcState {
    icd_until: u64,
    last_roll: u64,
    last_proc: u64,
    /// An RPPM proc's procs per minute at the player's current haste and the mean time
    /// between procs (µs) that follows, always equal to [`rppm_of`] (kept in step by
    /// `recompute_stats` with the resource rates): the roll then waits on no division of
    /// its own inputs.
    rate: f64,
    interval: f64,
}

/// RPPM proc `pi`'s procs per minute and mean interval in µs at the player's stats
/// `stats[0]` ((0, 0) for a chance proc, which reads neither).
fn rppm_of(p: &CompiledProfile, stats: &[Stats], pi: usize) -> (f64, f64) {
    let pr = &p.procs[pi];
    match (pr.chance, pr.rppm) {
        (None, Some(rppm)) => {
            let rate = if pr.rppm_haste {
                rppm * stats[0].haste
            } else {
                rppm
            };
            (rate, 60.0 * US / rate)
        }
        _ => (0.0, 0.0),
    }
}

/// Per-ability totals of one iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AbilityTally {
    /// Damage dealt.
    pub damage: u64,
    /// Casts.
    pub casts: u64,
    /// Damage events.
    pub hits: u64,
    /// Critical damage events.
    pub crits: u64,
}

/// The outcome of one iteration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IterationOutcome {
    /// Total damage.
    pub damage: u64,
    /// Fight length in microseconds.
    pub duration_us: u64,
    /// Events processed.
    pub events: u64,
    /// Per-ability totals, in [`CompiledProfile::abilities`] order.
    pub abilities: Vec<AbilityTally>,
}

/// Reusable simulation state for one profile.
pub(crate) struct Sim<'p> {
    p: &'p CompiledProfile,
    rng: Xoshiro256pp,
    q: Queue,
    now: u64,
    end: u64,
    damage: u64,
    events: u64,
    dead: bool,
    /// Idle actors, bit `a` = actor `a` (an actor goes idle only while active and is woken
    /// when it leaves), so waking the idle actors of a mask visits exactly `mask & idle`.
    idle: u64,
    actors: Vec<ActorState>,
    stats: Vec<Stats>,
    res: Vec<ResState>,
    cds: Vec<CdState>,
    auras: Vec<AuraState>,
    dots: Vec<DotState>,
    procs: Vec<ProcState>,
    pub(crate) tally: Vec<AbilityTally>,
}

impl<'p> Sim<'p> {
    pub fn new(p: &'p CompiledProfile) -> Self {
        let res = p
            .resources
            .iter()
            .map(|r| ResState {
                max: r.max,
                ..ResState::default()
            })
            .collect();
        let mut sim = Self {
            p,
            rng: Xoshiro256pp::seed_from_u64(0),
            // Hot slots: one per actor's decision, one per actor's auto attack, one per dot.
            // Cold slots: one per aura's expiry, one per spell's recharge.
            q: Queue::with_slots(
                2 * p.actors.len() + p.dots.len(),
                p.auras.len() + p.spells.len(),
            ),
            now: 0,
            end: 0,
            damage: 0,
            events: 0,
            dead: false,
            idle: 0,
            actors: vec![ActorState::default(); p.actors.len()],
            stats: vec![Stats::default(); p.actors.len()],
            res,
            cds: vec![CdState::default(); p.spells.len()],
            auras: vec![AuraState::default(); p.auras.len()],
            dots: vec![DotState::default(); p.dots.len()],
            procs: vec![ProcState::default(); p.procs.len()],
            tally: vec![AbilityTally::default(); p.abilities.len()],
        };
        sim.refresh_haste_rates();
        sim
    }

    /// Runs iteration `k` of a job seeded with `seed`; returns (damage, duration_us, events).
    ///
    /// Stops with [`RunError::EventLimit`] once more than [`MAX_EVENTS_PER_ITERATION`] queue
    /// entries (live or superseded; a new decision, swing, dot tick, aura expiry or recharge,
    /// also a shortened cooldown's, overwrites its owner's outdated one in its queue slot, so
    /// those are never popped as superseded) have been processed.
    pub fn run(&mut self, seed: u64, k: u64) -> Result<(u64, u64, u64), RunError> {
        self.reset(seed, k);
        let mut popped = 0u64;
        while let Some((t, ev)) = self.q.pop() {
            if t >= self.end {
                break;
            }
            popped += 1;
            if popped > MAX_EVENTS_PER_ITERATION {
                return Err(RunError::EventLimit {
                    iteration: k,
                    limit: MAX_EVENTS_PER_ITERATION,
                    at_us: t,
                });
            }
            self.now = t;
            self.handle(ev);
            if self.dead {
                break;
            }
        }
        let duration = if self.dead { self.now.max(1) } else { self.end };
        Ok((self.damage, duration, self.events))
    }

    fn reset(&mut self, seed: u64, k: u64) {
        let p = self.p;
        self.rng = iteration_rng(seed, k);
        self.q.clear();
        self.now = 0;
        self.damage = 0;
        self.events = 0;
        self.dead = false;
        self.idle = 0;
        // The fight length is the iteration's first draw.
        let f = &p.fight;
        let u = self.rng.next_f64();
        let len = f.duration_us as f64 * (1.0 + f.variance * (2.0 * u - 1.0));
        self.end = (crate::fmath::round(len) as u64).max(1000);
        for (st, ca) in self.actors.iter_mut().zip(&p.actors) {
            *st = ActorState {
                active: ca.active_at_start,
                expires: u64::MAX,
                ready_at: u64::MAX,
                ..ActorState::default()
            };
        }
        for (st, r) in self.res.iter_mut().zip(&p.resources) {
            st.value = r.start;
            st.last = 0;
        }
        for (st, s) in self.cds.iter_mut().zip(&p.spells) {
            *st = CdState {
                charges: s.charges,
                ..CdState::default()
            };
        }
        self.auras.fill(AuraState::default());
        self.dots.fill(DotState::default());
        for st in &mut self.procs {
            // The rates follow the stats, which carry over until `recompute_stats` below.
            *st = ProcState {
                rate: st.rate,
                interval: st.interval,
                ..ProcState::default()
            };
        }
        self.tally.fill(AbilityTally::default());
        self.recompute_stats(None);
        for a in 0..p.actors.len() {
            if p.actors[a].active_at_start {
                self.start_actor(a);
                if let Some(d) = p.actors[a].duration_us {
                    self.actors[a].expires = d;
                    let gen = self.actors[a].expire_gen;
                    self.q.push(
                        d,
                        Ev::PetExpire {
                            actor: a as u8,
                            gen,
                        },
                    );
                }
            }
        }
    }

    #[inline]
    fn clear_idle(&mut self, a: usize) {
        self.idle &= !(1 << a);
    }

    fn start_actor(&mut self, a: usize) {
        self.clear_idle(a);
        self.schedule_ready(a, self.now);
        if self.p.actors[a].auto.is_some() {
            self.actors[a].auto_gen += 1;
            let gen = self.actors[a].auto_gen;
            self.q.push_slot(
                self.auto_slot(a),
                self.now,
                Ev::Auto {
                    actor: a as u8,
                    gen,
                },
            );
        }
    }

    /// Queue slot of actor `a`'s auto attack (slot `a` holds its decisions).
    #[inline]
    fn auto_slot(&self, a: usize) -> usize {
        self.actors.len() + a
    }

    /// Queue slot of dot `i`'s tick.
    #[inline]
    fn dot_slot(&self, i: usize) -> usize {
        2 * self.actors.len() + i
    }

    #[inline]
    fn schedule_ready(&mut self, a: usize, t: u64) {
        let st = &mut self.actors[a];
        st.ready_at = t;
        st.ready_gen = st.ready_gen.wrapping_add(1);
        let gen = st.ready_gen;
        // The actor's previous Ready (if queued) is outdated by the new generation.
        self.q.push_slot(
            a,
            t,
            Ev::Ready {
                actor: a as u8,
                gen,
            },
        );
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Ready { actor, gen } => {
                let a = actor as usize;
                let st = &mut self.actors[a];
                if !st.active || st.ready_gen != gen {
                    return;
                }
                self.clear_idle(a);
                self.events += 1;
                self.decide(a);
            }
            Ev::CastDone { actor, spell, gen } => {
                let a = actor as usize;
                if !self.actors[a].active || self.actors[a].cast_gen != gen {
                    return;
                }
                self.events += 1;
                self.execute(a, spell as usize);
            }
            Ev::ChannelTick { actor, spell, gen } => {
                let a = actor as usize;
                if !self.actors[a].active || self.actors[a].cast_gen != gen {
                    return;
                }
                self.events += 1;
                if let Some(src) = self.p.spells[spell as usize].src {
                    self.deal(src as usize, 1.0);
                }
            }
            Ev::AuraExpire { aura, gen } => {
                let i = aura as usize;
                if self.auras[i].gen != gen || self.auras[i].stacks == 0 {
                    return;
                }
                self.events += 1;
                self.remove_aura(i);
            }
            Ev::DotTick { dot, gen } => {
                let i = dot as usize;
                if !self.dots[i].active || self.dots[i].gen != gen {
                    return;
                }
                self.events += 1;
                self.dot_tick(i);
            }
            Ev::Auto { actor, gen } => {
                let a = actor as usize;
                if !self.actors[a].active || self.actors[a].auto_gen != gen {
                    return;
                }
                self.events += 1;
                if let Some(auto) = &self.p.actors[a].auto {
                    self.deal(auto.src as usize, 1.0);
                    let next = self.stats[a].swing_us;
                    self.q
                        .push_slot(self.auto_slot(a), self.now + next, Ev::Auto { actor, gen });
                }
            }
            Ev::Recharge { spell, gen } => {
                let s = spell as usize;
                if self.cds[s].gen != gen || self.cds[s].recharge_end == 0 {
                    return;
                }
                self.events += 1;
                self.complete_recharge(s);
            }
            Ev::PetExpire { actor, gen } => {
                let a = actor as usize;
                let st = &mut self.actors[a];
                if !st.active || st.expire_gen != gen {
                    return;
                }
                self.events += 1;
                st.active = false;
                st.expires = u64::MAX;
                // Invalidate everything the pet had scheduled.
                st.ready_gen = st.ready_gen.wrapping_add(1);
                st.cast_gen = st.cast_gen.wrapping_add(1);
                st.auto_gen = st.auto_gen.wrapping_add(1);
                self.clear_idle(a);
                self.wake_idle(self.p.wake.pet[a]);
            }
        }
    }

    // ---- decisions

    fn decide(&mut self, a: usize) {
        for _ in 0..MAX_OFF_GCD_CHAIN {
            match self.pick(a) {
                Some(s) => {
                    if !self.begin_cast(a, s) {
                        return;
                    }
                }
                None => {
                    self.go_idle(a);
                    return;
                }
            }
        }
        // A long chain of off-GCD actions: give the clock a chance to move.
        let t = self.now + self.p.fight.idle_poll_us;
        self.schedule_ready(a, t);
    }

    fn pick(&self, a: usize) -> Option<usize> {
        let p = self.p;
        for action in &p.actors[a].apl {
            let s = action.spell as usize;
            if self.action_usable(action) && action.cond.as_ref().is_none_or(|c| c.test(self)) {
                return Some(s);
            }
        }
        None
    }

    /// [`Sim::usable`] of the action's spell, from the copies the action holds.
    #[inline]
    fn action_usable(&self, action: &CAction) -> bool {
        let s = action.spell as usize;
        let usable = 'test: {
            if self.cds[s].charges == 0 {
                break 'test false;
            }
            if let Some(x) = action.execute_below {
                if self.health_pct() >= x {
                    break 'test false;
                }
            }
            match action.costs {
                ActionCosts::Free => true,
                ActionCosts::One(r, c) => self.resource(r as usize) >= c,
                ActionCosts::Many => self.p.spells[s]
                    .costs
                    .iter()
                    .all(|&(r, c)| self.resource(r as usize) >= c),
            }
        };
        debug_assert_eq!(usable, self.usable(s));
        usable
    }

    /// Whether spell `s` can be cast now, read from the spell itself: the reference that
    /// [`Sim::action_usable`] must equal (checked in debug builds on every decision).
    fn usable(&self, s: usize) -> bool {
        let sp = &self.p.spells[s];
        // Only a spell with a cooldown ever runs out of charges (see `CdState::charges`), so
        // the charges alone tell whether the cooldown blocks it.
        debug_assert!(sp.cooldown_us > 0 || self.cds[s].charges > 0);
        if self.cds[s].charges == 0 {
            return false;
        }
        if let Some(x) = sp.execute_below {
            if self.health_pct() >= x {
                return false;
            }
        }
        sp.costs
            .iter()
            .all(|&(r, c)| self.resource(r as usize) >= c)
    }

    fn go_idle(&mut self, a: usize) {
        let wake = self.idle_wake_time(a);
        self.idle |= 1 << a;
        // Nothing time-driven can change: sleep until an event wakes the actor.
        if wake != u64::MAX {
            self.schedule_ready(a, wake.max(self.now + 1));
        } else {
            self.actors[a].ready_at = u64::MAX;
        }
    }

    /// The earliest instant at which something time-driven could make one of actor `a`'s
    /// actions usable (MAX: only an event can).
    fn idle_wake_time(&self, a: usize) -> u64 {
        let p = self.p;
        let now = self.now;
        // The same minimum as over every action's cooldown, costs and watches, with each
        // term once (see `WakePlan`).
        let plan = &p.wake.plans[a];
        let mut wake = if plan.poll {
            now + p.fight.idle_poll_us
        } else {
            u64::MAX
        };
        for &s in &plan.cooldowns {
            let st = &self.cds[s as usize];
            if st.charges == 0 {
                wake = wake.min(st.recharge_end);
            }
        }
        for amounts in &plan.amounts {
            wake = wake.min(self.time_to_reach_any(amounts));
        }
        for w in &plan.watches {
            wake = wake.min(self.crossing(w));
        }
        debug_assert_eq!(wake, self.idle_wake_time_per_action(a));
        wake
    }

    /// The wake-up as the minimum over every action's own terms, one by one: what
    /// `idle_wake_time` must equal (checked in debug builds, so every test run compares them).
    fn idle_wake_time_per_action(&self, a: usize) -> u64 {
        let p = self.p;
        let now = self.now;
        let mut wake = u64::MAX;
        for action in &p.actors[a].apl {
            let s = action.spell as usize;
            let sp = &p.spells[s];
            if action.poll {
                wake = wake.min(now + p.fight.idle_poll_us);
            }
            if sp.cooldown_us > 0 && self.cds[s].charges == 0 {
                wake = wake.min(self.cds[s].recharge_end);
            }
            for &(r, cost) in &sp.costs {
                wake = wake.min(self.time_to_reach(r as usize, cost));
            }
            for w in &action.watches {
                wake = wake.min(self.crossing(w));
            }
        }
        wake
    }

    /// The earliest [`Sim::time_to_reach`] over `amounts` of one resource. The instant rises
    /// with the amount (subtraction, division by a positive rate and the saturating cast are
    /// all monotone), so it is that of the smallest amount not yet reached, or MAX when that
    /// one is above the cap (so are all larger ones).
    #[inline]
    fn time_to_reach_any(&self, amounts: &Amounts) -> u64 {
        let r = amounts.resource as usize;
        let rate = self.regen_rate(r);
        if rate <= 0.0 {
            return u64::MAX;
        }
        let cur = self.resource(r);
        let max = self.res[r].max;
        // The shortcut needs `now + (x - cur) / rate + 2` far from u64's end for every amount up
        // to the cap (times stay below 2^37 µs): past it the instants wrap (release builds)
        // and stop rising with the amount. For a regeneration that slow, or NaN/infinite
        // values, take the minimum amount by amount, exactly as before.
        let shortcut = max - cur <= rate * 1e19;
        if !shortcut {
            return self.time_to_reach_each(amounts);
        }
        // time_to_reach's own test, `cur >= x` failing, is `x > cur` here (no NaN on either
        // side: `cur` passed the comparison above, the sorted amounts exclude NaN).
        let mut wake = match amounts.sorted.iter().find(|&&x| x > cur) {
            Some(&x) if x <= max => self.now + to_u64((x - cur) / rate) + 2,
            _ => u64::MAX,
        };
        if amounts.nan {
            // A NaN amount is never reached or above the cap: the division yields NaN, which
            // casts to 0.
            wake = wake.min(self.now + 2);
        }
        wake
    }

    /// [`Sim::time_to_reach_any`] amount by amount: out of line, as it is rare (the inlined
    /// common path stays small).
    #[cold]
    #[inline(never)]
    fn time_to_reach_each(&self, amounts: &Amounts) -> u64 {
        let r = amounts.resource as usize;
        amounts
            .sorted
            .iter()
            .map(|&x| self.time_to_reach(r, x))
            .chain(amounts.nan.then(|| self.time_to_reach(r, f64::NAN)))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Brings idle actors' wake-ups forward after a timer moved earlier (no re-decision now).
    fn reschedule_idle(&mut self, mask: u64) {
        // Ascending actor order, as a loop over all actors testing each would visit them.
        for a in bits(mask & self.idle) {
            debug_assert!(self.actors[a].active);
            let wake = self.idle_wake_time(a).max(self.now + 1);
            if wake < self.actors[a].ready_at {
                self.schedule_ready(a, wake);
            }
        }
    }

    /// When resource `r` regenerates to `amount` (MAX when it already has it or never will).
    fn time_to_reach(&self, r: usize, amount: f64) -> u64 {
        let cur = self.resource(r);
        if cur >= amount || amount > self.res[r].max {
            return u64::MAX;
        }
        let rate = self.regen_rate(r);
        if rate <= 0.0 {
            return u64::MAX;
        }
        // Truncation plus two microseconds rounds up past the exact crossing.
        self.now + to_u64((amount - cur) / rate) + 2
    }

    /// The next instant (after now) at which the watched value crosses its threshold.
    fn crossing(&self, w: &Watch) -> u64 {
        let now = self.now;
        let after = |t: u64| if t > now { t + 1 } else { u64::MAX };
        match *w {
            Watch::ResourceAt(r, c) => self.time_to_reach(r as usize, c),
            Watch::AuraRemains(i, th) => {
                let st = &self.auras[i as usize];
                if st.stacks == 0 || st.expires == u64::MAX {
                    u64::MAX
                } else {
                    after(st.expires.saturating_sub(th))
                }
            }
            Watch::DotRemains(i, th) => {
                let st = &self.dots[i as usize];
                if st.active {
                    after(st.end.saturating_sub(th))
                } else {
                    u64::MAX
                }
            }
            Watch::CooldownRemains(s, th) => {
                let st = &self.cds[s as usize];
                if st.charges == 0 && st.recharge_end > 0 {
                    after(st.recharge_end.saturating_sub(th))
                } else {
                    u64::MAX
                }
            }
            Watch::ChargesFractional(s, c) => {
                let st = &self.cds[s as usize];
                let k = st.charges as f64;
                if st.recharge_end == 0 || c <= k || c > k + 1.0 {
                    u64::MAX
                } else {
                    let back = to_u64((k + 1.0 - c) * us_f64(st.recharge_len));
                    after(st.recharge_end.saturating_sub(back))
                }
            }
            Watch::PetRemains(pa, th) => {
                let st = &self.actors[pa as usize];
                if st.active && st.expires != u64::MAX {
                    after(st.expires.saturating_sub(th))
                } else {
                    u64::MAX
                }
            }
            Watch::HealthPct(left) => {
                // `floor(x) as u64` without the libm call: the float-to-int cast truncates
                // toward zero and saturates, which equals flooring for x >= 0 and gives 0 for
                // negatives and NaN either way, so the instant is the same.
                let t = to_u64(us_f64(self.end) * left);
                after(t)
            }
            Watch::FightTime(t) => after(t),
            Watch::FightRemains(th) => after(self.end.saturating_sub(th)),
        }
    }

    /// Wakes idle actors in `mask` (bit a = actor a) so they re-read their action list now.
    fn wake_idle(&mut self, mask: u64) {
        for a in bits(mask & self.idle) {
            debug_assert!(self.actors[a].active);
            self.clear_idle(a);
            self.schedule_ready(a, self.now);
        }
    }

    /// Starts casting; returns true when the actor may act again at once (instant, off-GCD).
    fn begin_cast(&mut self, a: usize, s: usize) -> bool {
        let p = self.p;
        let sp = &p.spells[s];
        self.tally[sp.ability as usize].casts += 1;
        for &(r, c) in &sp.costs {
            self.spend(r as usize, c);
        }
        if sp.cooldown_us > 0 {
            self.cds[s].charges -= 1;
            if self.cds[s].recharge_end == 0 {
                self.start_recharge(s);
            }
        }
        let haste = self.stats[a].haste;
        let actor = &p.actors[a];
        let gcd = if sp.gcd_us > 0 {
            to_u64(us_f64(sp.gcd_us) / haste).max(actor.gcd_min_us)
        } else {
            0
        };
        if let Some((dur, ticks)) = sp.channel {
            let d = ((us_f64(dur) / haste) as u64).max(ticks as u64);
            let st = &mut self.actors[a];
            st.cast_gen = st.cast_gen.wrapping_add(1);
            let gen = st.cast_gen;
            // All ticks are queued before the caster's next decision, so the last tick (at the
            // channel's end) lands before the next action at the same instant.
            let interval = d / ticks as u64;
            for k in 1..=ticks as u64 {
                let ev = Ev::ChannelTick {
                    actor: a as u8,
                    spell: s as u16,
                    gen,
                };
                self.q.push(self.now + interval * k, ev);
            }
            self.execute(a, s);
            self.schedule_ready(a, self.now + d.max(gcd));
            false
        } else if sp.cast_us > 0 {
            let c = ((us_f64(sp.cast_us) / haste) as u64).max(1);
            let st = &mut self.actors[a];
            st.cast_gen = st.cast_gen.wrapping_add(1);
            let gen = st.cast_gen;
            self.q.push(
                self.now + c,
                Ev::CastDone {
                    actor: a as u8,
                    spell: s as u16,
                    gen,
                },
            );
            self.schedule_ready(a, self.now + c.max(gcd));
            false
        } else {
            self.execute(a, s);
            if gcd > 0 {
                self.schedule_ready(a, self.now + gcd);
                false
            } else {
                true
            }
        }
    }

    /// The spell's effects (channels: at the start; their damage comes from ticks).
    fn execute(&mut self, a: usize, s: usize) {
        let p = self.p;
        let sp = &p.spells[s];
        let _ = a;
        for &(r, amount) in &sp.gains {
            self.gain(r as usize, amount);
        }
        if sp.channel.is_none() {
            if let Some(src) = sp.src {
                self.deal(src as usize, 1.0);
            }
        }
        for &ai in &sp.apply {
            self.apply_aura(ai as usize);
        }
        if let Some(d) = sp.dot {
            self.apply_dot(d as usize);
        }
        if let Some(pet) = sp.summon {
            self.summon(pet as usize);
        }
        for &r in &sp.resets {
            self.reset_cooldown(r as usize);
        }
        for &(r, us) in &sp.reduces {
            self.reduce_cooldown(r as usize, us);
        }
        for &ai in &sp.consume {
            if self.auras[ai as usize].stacks > 0 {
                self.remove_aura(ai as usize);
            }
        }
        for &pi in &sp.cast_procs {
            self.try_proc(pi as usize);
        }
    }

    // ---- damage and procs

    fn deal(&mut self, si: usize, frac: f64) {
        let p = self.p;
        let src = &p.sources[si];
        let st = &self.stats[src.actor as usize];
        let mut amount =
            (src.coefficient * st.power + src.base) * st.vers_mult * src.reduction * frac;
        if src.mastery {
            amount *= st.mastery_mult;
        }
        for &ai in &src.mod_auras {
            let st = &self.auras[ai as usize];
            if st.stacks > 0 {
                debug_assert_eq!(
                    st.damage_mult.to_bits(),
                    (1.0 + p.auras[ai as usize].damage * st.stacks as f64).to_bits()
                );
                amount *= st.damage_mult;
            }
        }
        let crit = src.can_crit && self.rng.chance(st.crit);
        if crit {
            amount *= p.base.crit_multiplier;
        }
        let dmg = if amount > 0.0 {
            // Round half up without a libm call (amount is positive here).
            to_u64(amount + 0.5)
        } else {
            0
        };
        let t = &mut self.tally[src.ability as usize];
        t.damage += dmg;
        t.hits += 1;
        t.crits += crit as u64;
        self.damage += dmg;
        if let Some(h) = p.fight.health {
            if self.damage as f64 >= h {
                self.dead = true;
                return;
            }
        }
        for &pi in &src.procs_land {
            self.try_proc(pi as usize);
        }
        if crit {
            for &pi in &src.procs_crit {
                self.try_proc(pi as usize);
            }
        }
    }

    /// Rolls proc `pi` unless it is on its internal cooldown. The cooldown test is inlined
    /// into every caller: procs such as a trinket's are offered on every hit but spend most
    /// of the fight on cooldown.
    #[inline]
    fn try_proc(&mut self, pi: usize) {
        if self.now >= self.procs[pi].icd_until {
            self.roll_proc(pi);
        }
    }

    #[inline]
    fn roll_proc(&mut self, pi: usize) {
        let p = self.p;
        let pr = &p.procs[pi];
        let now = self.now;
        let chance = match (pr.chance, pr.rppm) {
            (Some(c), _) => c,
            (None, Some(_)) => {
                let ps = &mut self.procs[pi];
                let (rate, interval) = (ps.rate, ps.interval);
                debug_assert_eq!((rate.to_bits(), interval.to_bits()), {
                    let (r, i) = rppm_of(p, &self.stats, pi);
                    (r.to_bits(), i.to_bits())
                });
                let since_roll = us_f64((now - ps.last_roll).min(RPPM_MAX_LOOKBACK_US));
                // Bad-luck protection: the chance grows once 1.5 intervals pass without a proc.
                let since_proc = us_f64(now - ps.last_proc);
                let blp = (1.0 + (since_proc / interval - 1.5) * 3.0).max(1.0);
                ps.last_roll = now;
                rate * since_roll / (60.0 * US) * blp
            }
            (None, None) => 0.0,
        };
        if self.rng.chance(chance) {
            self.fire_proc(pi);
        }
    }

    /// Proc `pi`'s effects, once its roll succeeded: out of line, as most rolls fail.
    #[inline(never)]
    fn fire_proc(&mut self, pi: usize) {
        let p = self.p;
        let pr = &p.procs[pi];
        let now = self.now;
        let ps = &mut self.procs[pi];
        ps.icd_until = now + pr.icd_us;
        ps.last_proc = now;
        for &ai in &pr.apply {
            self.apply_aura(ai as usize);
        }
        if let Some(src) = pr.damage_src {
            self.deal(src as usize, 1.0);
        }
        for &(r, amount) in &pr.gains {
            self.gain(r as usize, amount);
        }
        for &r in &pr.resets {
            self.reset_cooldown(r as usize);
        }
        for &(r, us) in &pr.reduces {
            self.reduce_cooldown(r as usize, us);
        }
    }

    // ---- auras and stats

    fn apply_aura(&mut self, i: usize) {
        let a = &self.p.auras[i];
        let now = self.now;
        let st = &mut self.auras[i];
        let before = st.stacks;
        let mut reschedule = false;
        if before == 0 {
            st.stacks = a.per_apply;
            st.expires = a.duration_us.map_or(u64::MAX, |d| now + d);
            reschedule = a.duration_us.is_some();
        } else {
            st.stacks = before.saturating_add(a.per_apply).min(a.max_stacks);
            if let Some(d) = a.duration_us {
                let remaining = st.expires.saturating_sub(now);
                let expires = match a.refresh {
                    Refresh::Duration => now + d,
                    Refresh::Pandemic => now + d + remaining.min(d * 3 / 10),
                    Refresh::Extend => st.expires + d,
                    Refresh::Keep => st.expires,
                };
                if expires != st.expires {
                    st.expires = expires;
                    reschedule = true;
                }
            }
        }
        if reschedule {
            st.gen = st.gen.wrapping_add(1);
            let (t, gen) = (st.expires, st.gen);
            // The new generation outdates the aura's previous expiry (if queued).
            self.q.push_cold(
                i,
                t,
                Ev::AuraExpire {
                    aura: i as u16,
                    gen,
                },
            );
        }
        let st = &mut self.auras[i];
        st.damage_mult = 1.0 + a.damage * st.stacks as f64;
        let mut mask = self.p.wake.aura[i];
        if self.auras[i].stacks != before && self.is_stat_aura(i) {
            self.recompute_stats(Some(i));
            mask |= self.p.wake.stats;
        }
        self.wake_idle(mask);
    }

    fn remove_aura(&mut self, i: usize) {
        let st = &mut self.auras[i];
        st.stacks = 0;
        st.gen = st.gen.wrapping_add(1);
        let mut mask = self.p.wake.aura[i];
        if self.is_stat_aura(i) {
            self.recompute_stats(Some(i));
            mask |= self.p.wake.stats;
        }
        self.wake_idle(mask);
    }

    #[inline]
    fn is_stat_aura(&self, i: usize) -> bool {
        self.p.auras[i].changes_stats
    }

    /// Re-derives the stats of every actor (`changed` None), or of the actors aura `changed`
    /// affects after its stacks changed: the others' inputs did not change, so recomputing
    /// them would store the same values.
    fn recompute_stats(&mut self, changed: Option<usize>) {
        // Regeneration may depend on haste: bank what accrued at the old rate first.
        for r in 0..self.res.len() {
            if self.p.resources[r].regen_haste {
                self.settle(r);
            }
        }
        let p = self.p;
        let b = &p.base;
        let player_haste = self.stats[0].haste;
        // The actors to re-derive (bit a = actor a), visited in ascending order.
        let all_actors = u64::MAX >> (64 - p.actors.len());
        for a in bits(changed.map_or(all_actors, |i| p.aura_actors[i])) {
            let actor = &p.actors[a];
            let mut crit = b.crit;
            let mut haste = 1.0 + b.haste;
            let mut mastery = b.mastery_pct;
            let mut vers = b.versatility;
            let mut primary = 1.0;
            // The stat auras that affect this actor, in the same order as before.
            for &ai in &p.actor_stat_auras[a] {
                let stacks = self.auras[ai as usize].stacks;
                if stacks == 0 {
                    continue;
                }
                let aura = &p.auras[ai as usize];
                let n = stacks as f64;
                crit += aura.crit * n;
                haste *= 1.0 + aura.haste * n;
                mastery += aura.mastery_pct * n;
                vers += aura.versatility * n;
                primary *= 1.0 + aura.primary * n;
            }
            // Bounded so tick and swing intervals stay positive and event counts finite.
            let haste = haste.clamp(0.01, 100.0);
            let old = self.stats[a];
            self.stats[a] = Stats {
                crit,
                haste,
                mastery_pct: mastery,
                mastery_mult: 1.0 + mastery * b.mastery_coefficient / 100.0,
                vers_mult: 1.0 + vers,
                power: b.primary * actor.power_frac * primary,
                // A function of haste alone: unchanged haste (same bits) keeps the value.
                swing_us: if haste.to_bits() == old.haste.to_bits() {
                    old.swing_us
                } else {
                    actor
                        .auto
                        .as_ref()
                        .map_or(0, |auto| ((us_f64(auto.speed_us) / haste) as u64).max(1))
                },
            };
        }
        // The regeneration and RPPM rates depend on the player's haste only.
        if self.stats[0].haste.to_bits() != player_haste.to_bits() {
            self.refresh_haste_rates();
        }
    }

    /// Re-derives what depends on the player's haste alone: each resource's regeneration
    /// rate and each RPPM proc's rate and interval (the only writer of those copies).
    fn refresh_haste_rates(&mut self) {
        let p = self.p;
        for r in 0..self.res.len() {
            self.res[r].rate = regen_rate_of(p, &self.stats, r);
        }
        for pi in 0..self.procs.len() {
            let (rate, interval) = rppm_of(p, &self.stats, pi);
            (self.procs[pi].rate, self.procs[pi].interval) = (rate, interval);
        }
    }

    // ---- periodic effects

    fn dot_interval(&self, i: usize) -> u64 {
        let d = &self.p.dots[i];
        if d.haste_scaled {
            let actor = self.p.sources[d.src as usize].actor as usize;
            ((us_f64(d.tick_us) / self.stats[actor].haste) as u64).max(1)
        } else {
            d.tick_us
        }
    }

    fn apply_dot(&mut self, i: usize) {
        let d = &self.p.dots[i];
        let now = self.now;
        let interval = self.dot_interval(i);
        let st = &mut self.dots[i];
        let fresh = !st.active;
        if fresh {
            st.active = true;
            st.last_tick = now;
            st.end = now + d.duration_us;
            st.interval = interval;
        } else {
            let carry = if d.pandemic {
                st.end.saturating_sub(now).min(d.duration_us * 3 / 10)
            } else {
                0
            };
            st.end = now + d.duration_us + carry;
        }
        st.gen = st.gen.wrapping_add(1);
        let next = (st.last_tick + st.interval).min(st.end).max(now);
        let gen = st.gen;
        self.q
            .push_slot(self.dot_slot(i), next, Ev::DotTick { dot: i as u16, gen });
        if fresh {
            self.wake_idle(self.p.wake.dot[i]);
        }
    }

    fn dot_tick(&mut self, i: usize) {
        let now = self.now;
        let st = self.dots[i];
        // A tick cut short by the end of the effect deals a matching fraction.
        let frac = (us_f64(now - st.last_tick) / us_f64(st.interval)).min(1.0);
        let done = now >= st.end;
        let interval = self.dot_interval(i);
        {
            let st = &mut self.dots[i];
            st.last_tick = now;
            if done {
                st.active = false;
            } else {
                st.interval = interval;
                let next = (now + interval).min(st.end);
                let gen = st.gen;
                self.q
                    .push_slot(self.dot_slot(i), next, Ev::DotTick { dot: i as u16, gen });
            }
        }
        let d = &self.p.dots[i];
        for &(r, amount) in &d.gains {
            self.gain(r as usize, amount * frac);
        }
        self.deal(d.src as usize, frac);
        if done {
            self.wake_idle(self.p.wake.dot[i]);
        }
    }

    // ---- pets

    fn summon(&mut self, a: usize) {
        if !self.actors[a].active {
            self.actors[a].active = true;
            self.start_actor(a);
        }
        if let Some(d) = self.p.actors[a].duration_us {
            let st = &mut self.actors[a];
            st.expires = self.now + d;
            st.expire_gen = st.expire_gen.wrapping_add(1);
            let (t, gen) = (st.expires, st.expire_gen);
            self.q.push(
                t,
                Ev::PetExpire {
                    actor: a as u8,
                    gen,
                },
            );
        }
        self.wake_idle(self.p.wake.pet[a]);
    }

    // ---- cooldowns

    fn cooldown_len(&self, s: usize) -> u64 {
        let sp = &self.p.spells[s];
        if sp.cooldown_haste {
            ((us_f64(sp.cooldown_us) / self.stats[sp.actor as usize].haste) as u64).max(1)
        } else {
            sp.cooldown_us
        }
    }

    fn start_recharge(&mut self, s: usize) {
        let len = self.cooldown_len(s);
        let st = &mut self.cds[s];
        st.recharge_len = len;
        st.recharge_end = self.now + len;
        st.gen = st.gen.wrapping_add(1);
        let (t, gen) = (st.recharge_end, st.gen);
        self.q.push_cold(
            self.p.auras.len() + s,
            t,
            Ev::Recharge {
                spell: s as u16,
                gen,
            },
        );
    }

    fn complete_recharge(&mut self, s: usize) {
        let max = self.p.spells[s].charges;
        let st = &mut self.cds[s];
        let was_empty = st.charges == 0;
        st.charges = (st.charges + 1).min(max);
        st.recharge_end = 0;
        st.gen = st.gen.wrapping_add(1);
        if st.charges < max {
            self.start_recharge(s);
        }
        if was_empty {
            self.wake_idle(self.p.wake.cooldown[s]);
        }
    }

    fn reset_cooldown(&mut self, s: usize) {
        let sp = &self.p.spells[s];
        if sp.cooldown_us == 0 || self.cds[s].charges >= sp.charges {
            return;
        }
        let st = &mut self.cds[s];
        st.charges += 1;
        if st.charges >= sp.charges {
            st.recharge_end = 0;
            st.gen = st.gen.wrapping_add(1);
        }
        self.wake_idle(self.p.wake.cooldown[s]);
    }

    fn reduce_cooldown(&mut self, s: usize, us: u64) {
        let st = &mut self.cds[s];
        if st.recharge_end == 0 {
            return;
        }
        st.recharge_end = st.recharge_end.saturating_sub(us).max(self.now);
        st.gen = st.gen.wrapping_add(1);
        let (t, gen) = (st.recharge_end, st.gen);
        // The pending recharge (queued while `recharge_end` is set, now outdated by the new
        // generation) is overwritten in the spell's slot: it moves to the new time with the
        // key a push gives, instead of staying queued as an outdated entry.
        self.q.push_cold(
            self.p.auras.len() + s,
            t,
            Ev::Recharge {
                spell: s as u16,
                gen,
            },
        );
        // The recharge event wakes waiting actors when a charge returns; actors watching the
        // remaining time only need their wake-up moved.
        self.reschedule_idle(self.p.wake.cooldown[s]);
    }

    // ---- resources

    #[inline]
    fn regen_rate(&self, r: usize) -> f64 {
        let rate = self.res[r].rate;
        debug_assert_eq!(
            rate.to_bits(),
            regen_rate_of(self.p, &self.stats, r).to_bits()
        );
        rate
    }

    #[inline]
    fn resource(&self, r: usize) -> f64 {
        let st = &self.res[r];
        (st.value + self.regen_rate(r) * us_f64(self.now - st.last)).min(st.max)
    }

    /// Sets resource `r` to `value` as of now (regeneration continues from here).
    #[inline]
    fn store(&mut self, r: usize, value: f64) {
        let st = &mut self.res[r];
        st.value = value;
        st.last = self.now;
    }

    fn settle(&mut self, r: usize) {
        self.store(r, self.resource(r));
    }

    fn spend(&mut self, r: usize, amount: f64) {
        let v = self.resource(r);
        let after = (v - amount).max(0.0);
        self.store(r, after);
        // Another actor sharing the pool may be waiting on `resource < x`.
        self.resource_changed(r, v, after);
    }

    fn gain(&mut self, r: usize, amount: f64) {
        let v = self.resource(r);
        let after = (v + amount).min(self.res[r].max);
        self.store(r, after);
        self.resource_changed(r, v, after);
    }

    /// Wakes idle actors for whom resource `r` going from `before` to `after` crossed a
    /// threshold; for the others it only brings their wake-up forward when the new amount
    /// reaches one of their thresholds sooner.
    #[inline]
    fn resource_changed(&mut self, r: usize, before: f64, after: f64) {
        // Usually nobody waits on the resource: that test is inlined into every change.
        let todo = self.p.wake.resource[r] & self.idle;
        if todo != 0 {
            self.wake_on_resource(r, todo, before, after);
        }
    }

    /// [`Sim::resource_changed`] for the idle actors in `todo` that watch resource `r`.
    #[inline(never)]
    fn wake_on_resource(&mut self, r: usize, todo: u64, before: f64, after: f64) {
        let p = self.p;
        let any = p.wake.resource_any[r];
        for a in bits(todo) {
            debug_assert!(self.actors[a].active);
            let thresholds = &p.wake.thresholds[a];
            let crossed = any >> a & 1 == 1
                || thresholds
                    .iter()
                    .any(|&(rr, th)| rr as usize == r && (before < th) != (after < th));
            if crossed {
                self.clear_idle(a);
                self.schedule_ready(a, self.now);
                continue;
            }
            let sooner = match p.wake.plans[a]
                .amounts
                .iter()
                .find(|x| x.resource as usize == r)
            {
                Some(amounts) => self.time_to_reach_any(amounts),
                None => u64::MAX,
            };
            debug_assert_eq!(
                sooner,
                thresholds
                    .iter()
                    .filter(|&&(rr, _)| rr as usize == r)
                    .map(|&(_, th)| self.time_to_reach(r, th))
                    .min()
                    .unwrap_or(u64::MAX)
            );
            if sooner < self.actors[a].ready_at {
                self.schedule_ready(a, sooner);
            }
        }
    }

    // ---- target

    #[inline]
    fn health_pct(&self) -> f64 {
        match self.p.fight.health {
            Some(h) => (100.0 * (h - self.damage as f64) / h).max(0.0),
            None => 100.0 * us_f64(self.end - self.now.min(self.end)) / us_f64(self.end),
        }
    }

    fn time_to_die(&self) -> f64 {
        let left = secs(self.end.saturating_sub(self.now));
        match self.p.fight.health {
            Some(h) if self.damage > 0 && self.now > 0 => {
                let rate = self.damage as f64 / secs(self.now);
                ((h - self.damage as f64).max(0.0) / rate).min(left)
            }
            _ => left,
        }
    }

    fn cooldown_remains(&self, s: usize) -> u64 {
        let st = &self.cds[s];
        // Spells without a cooldown always have their charges (see `CdState::charges`).
        debug_assert!(self.p.spells[s].cooldown_us > 0 || st.charges > 0);
        if st.charges > 0 {
            0
        } else {
            st.recharge_end.saturating_sub(self.now)
        }
    }
}

impl Env for Sim<'_> {
    fn load(&self, v: Var) -> f64 {
        let p = self.p;
        match v {
            Var::CooldownReady(s) => truth(self.cooldown_remains(s as usize) == 0),
            Var::CooldownRemains(s) => secs(self.cooldown_remains(s as usize)),
            Var::CooldownCharges(s) => self.cds[s as usize].charges as f64,
            Var::CooldownChargesFractional(s) => {
                let st = &self.cds[s as usize];
                let partial = if st.recharge_end > 0 && st.recharge_len > 0 {
                    1.0 - us_f64(st.recharge_end.saturating_sub(self.now)) / us_f64(st.recharge_len)
                } else {
                    0.0
                };
                st.charges as f64 + partial
            }
            Var::CooldownFullRecharge(s) => {
                let s = s as usize;
                let st = &self.cds[s];
                let max = p.spells[s].charges;
                if st.charges >= max || st.recharge_end == 0 {
                    0.0
                } else {
                    let rest = (max - st.charges - 1) as u64 * self.cooldown_len(s);
                    secs(st.recharge_end.saturating_sub(self.now) + rest)
                }
            }
            Var::AuraUp(a) => truth(self.auras[a as usize].stacks > 0),
            Var::AuraDown(a) => truth(self.auras[a as usize].stacks == 0),
            Var::AuraStack(a) => self.auras[a as usize].stacks as f64,
            Var::AuraRemains(a) => {
                let st = &self.auras[a as usize];
                if st.stacks == 0 {
                    0.0
                } else if st.expires == u64::MAX {
                    FOREVER_S
                } else {
                    secs(st.expires.saturating_sub(self.now))
                }
            }
            Var::DotTicking(d) => truth(self.dots[d as usize].active),
            Var::DotRemains(d) => {
                let st = &self.dots[d as usize];
                if st.active {
                    secs(st.end.saturating_sub(self.now))
                } else {
                    0.0
                }
            }
            Var::DotRefreshable(d) => {
                let st = &self.dots[d as usize];
                let window = p.dots[d as usize].duration_us * 3 / 10;
                truth(!st.active || st.end.saturating_sub(self.now) < window)
            }
            Var::Resource(r) => self.resource(r as usize),
            Var::ResourceDeficit(r) => self.res[r as usize].max - self.resource(r as usize),
            Var::ResourcePct(r) => {
                let max = self.res[r as usize].max;
                if max > 0.0 {
                    100.0 * self.resource(r as usize) / max
                } else {
                    0.0
                }
            }
            Var::ResourceTimeToMax(r) => {
                let deficit = self.res[r as usize].max - self.resource(r as usize);
                let rate = self.regen_rate(r as usize);
                if deficit <= 0.0 {
                    0.0
                } else if rate > 0.0 {
                    deficit / rate / US
                } else {
                    FOREVER_S
                }
            }
            Var::TargetHealthPct => self.health_pct(),
            Var::TargetExecute => truth(self.health_pct() < p.fight.execute_pct),
            Var::TargetTimeToDie => self.time_to_die(),
            Var::FightTime => secs(self.now),
            Var::FightRemains => self.time_to_die(),
            Var::PetActive(a) => truth(self.actors[a as usize].active),
            Var::PetRemains(a) => {
                let st = &self.actors[a as usize];
                if !st.active {
                    0.0
                } else if st.expires == u64::MAX {
                    FOREVER_S
                } else {
                    secs(st.expires.saturating_sub(self.now))
                }
            }
            Var::PlayerHaste => (self.stats[0].haste - 1.0) * 100.0,
            Var::PlayerCrit => self.stats[0].crit * 100.0,
            Var::PlayerMastery => self.stats[0].mastery_pct,
            Var::PlayerVersatility => (self.stats[0].vers_mult - 1.0) * 100.0,
            Var::PlayerGcd => {
                let actor = &p.actors[0];
                secs(((us_f64(actor.gcd_us) / self.stats[0].haste) as u64).max(actor.gcd_min_us))
            }
            Var::SpellCastTime(s) => {
                let sp = &p.spells[s as usize];
                secs((us_f64(sp.cast_us) / self.stats[sp.actor as usize].haste) as u64)
            }
        }
    }
}
