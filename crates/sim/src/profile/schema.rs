//! The profile format (version 1): plain serde types, read from TOML or JSON.
//!
//! Units: times in seconds, chances as fractions (0..1), `*_pct` fields in percent.
//! Every map is a `BTreeMap` so the canonical JSON (and the content hash) is stable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The current (and only) profile format version.
pub const PROFILE_VERSION: u32 = 1;

/// A complete fight description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Format version; must be [`PROFILE_VERSION`].
    pub version: u32,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Fight length and pacing.
    pub fight: Fight,
    /// The enemy.
    #[serde(default)]
    pub target: Target,
    /// The simulated player.
    pub player: Player,
    /// Rating points per 1 % of each secondary stat.
    #[serde(default)]
    pub ratings: Ratings,
    /// Resources (focus, mana, ...), shared by the player and its pets.
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// Castable spells (player's and pets').
    #[serde(default)]
    pub spells: Vec<Spell>,
    /// Periodic effects applied by spells.
    #[serde(default)]
    pub dots: Vec<Dot>,
    /// Buffs and debuffs.
    #[serde(default)]
    pub auras: Vec<Aura>,
    /// Random or triggered effects.
    #[serde(default)]
    pub procs: Vec<Proc>,
    /// Secondary actors.
    #[serde(default)]
    pub pets: Vec<Pet>,
    /// Named expressions usable as `variable.NAME` in any condition.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// The player's action priority list, first usable entry wins.
    pub apl: Vec<Action>,
}

/// Fight pacing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fight {
    /// Nominal length in seconds (with `target.health`, the hard cap).
    pub duration: f64,
    /// Uniform length variation as a fraction: each iteration lasts `duration * (1 ± variance)`.
    #[serde(default)]
    pub variance: f64,
    /// How long an actor with nothing to do waits before looking at its APL again (seconds).
    #[serde(default = "default_idle_poll")]
    pub idle_poll: f64,
}

fn default_idle_poll() -> f64 {
    0.1
}

/// The enemy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Armor; physical damage is reduced by `armor / (armor + armor_constant)`.
    #[serde(default)]
    pub armor: f64,
    /// The armor constant of the content level.
    #[serde(default = "default_armor_constant")]
    pub armor_constant: f64,
    /// Overrides the armor formula with a flat physical reduction in percent.
    #[serde(default)]
    pub physical_reduction_pct: Option<f64>,
    /// Flat reduction of non-physical damage in percent.
    #[serde(default)]
    pub magic_reduction_pct: f64,
    /// When set, the fight ends when this much damage is dealt (capped by `fight.duration`);
    /// otherwise health falls linearly with time and the fight lasts its drawn duration.
    #[serde(default)]
    pub health: Option<f64>,
    /// Health percent below which `target.execute` is true.
    #[serde(default = "default_execute_pct")]
    pub execute_pct: f64,
}

fn default_armor_constant() -> f64 {
    7390.0
}
fn default_execute_pct() -> f64 {
    20.0
}

impl Default for Target {
    fn default() -> Self {
        Self {
            armor: 0.0,
            armor_constant: default_armor_constant(),
            physical_reduction_pct: None,
            magic_reduction_pct: 0.0,
            health: None,
            execute_pct: default_execute_pct(),
        }
    }
}

/// Player stats. Each secondary stat is given as a rating or as a percent, not both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Player {
    /// Attack or spell power; every coefficient multiplies it.
    pub primary: f64,
    /// Crit rating.
    #[serde(default)]
    pub crit_rating: Option<f64>,
    /// Crit chance in percent (instead of the rating).
    #[serde(default)]
    pub crit_pct: Option<f64>,
    /// Haste rating.
    #[serde(default)]
    pub haste_rating: Option<f64>,
    /// Haste in percent (instead of the rating).
    #[serde(default)]
    pub haste_pct: Option<f64>,
    /// Mastery rating.
    #[serde(default)]
    pub mastery_rating: Option<f64>,
    /// Mastery in percent (instead of the rating).
    #[serde(default)]
    pub mastery_pct: Option<f64>,
    /// Versatility rating.
    #[serde(default)]
    pub versatility_rating: Option<f64>,
    /// Versatility in percent (instead of the rating).
    #[serde(default)]
    pub versatility_pct: Option<f64>,
    /// Crit chance everyone has before rating.
    #[serde(default = "default_base_crit")]
    pub base_crit_pct: f64,
    /// Mastery everyone has before rating.
    #[serde(default = "default_base_mastery")]
    pub base_mastery_pct: f64,
    /// Damage bonus percent per mastery percent, for spells with `mastery = true`.
    #[serde(default = "one")]
    pub mastery_coefficient: f64,
    /// Damage multiplier of a critical strike.
    #[serde(default = "default_crit_multiplier")]
    pub crit_multiplier: f64,
    /// Base global cooldown in seconds (hasted, floored at `gcd_min`).
    #[serde(default = "default_gcd")]
    pub gcd: f64,
    /// Shortest global cooldown in seconds.
    #[serde(default = "default_gcd_min")]
    pub gcd_min: f64,
    /// Melee or ranged auto attacks.
    #[serde(default)]
    pub auto_attack: Option<AutoAttack>,
}

fn default_base_crit() -> f64 {
    5.0
}
fn default_base_mastery() -> f64 {
    8.0
}
fn one() -> f64 {
    1.0
}
fn default_crit_multiplier() -> f64 {
    2.0
}
fn default_gcd() -> f64 {
    1.5
}
fn default_gcd_min() -> f64 {
    0.75
}

/// Rating points per 1 % (before diminishing returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ratings {
    /// Crit rating per percent.
    #[serde(default = "default_crit_rating")]
    pub crit: f64,
    /// Haste rating per percent.
    #[serde(default = "default_haste_rating")]
    pub haste: f64,
    /// Mastery rating per percent (of mastery, before `mastery_coefficient`).
    #[serde(default = "default_mastery_rating")]
    pub mastery: f64,
    /// Versatility rating per percent.
    #[serde(default = "default_vers_rating")]
    pub versatility: f64,
    /// Apply the tiered diminishing returns above 30 %.
    #[serde(default = "yes")]
    pub diminishing_returns: bool,
}

fn default_crit_rating() -> f64 {
    700.0
}
fn default_haste_rating() -> f64 {
    660.0
}
fn default_mastery_rating() -> f64 {
    700.0
}
fn default_vers_rating() -> f64 {
    780.0
}
fn yes() -> bool {
    true
}

impl Default for Ratings {
    fn default() -> Self {
        Self {
            crit: default_crit_rating(),
            haste: default_haste_rating(),
            mastery: default_mastery_rating(),
            versatility: default_vers_rating(),
            diminishing_returns: true,
        }
    }
}

/// A regenerating, capped resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Name used in `cost`, `gain` and `resource.NAME`.
    pub name: String,
    /// Cap.
    pub max: f64,
    /// Starting value (defaults to `max`).
    #[serde(default)]
    pub start: Option<f64>,
    /// Regeneration per second.
    #[serde(default)]
    pub regen: f64,
    /// Whether haste speeds up regeneration.
    #[serde(default)]
    pub regen_haste: bool,
}

/// Damage school; physical damage is reduced by armor, the others by magic reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum School {
    /// Reduced by armor.
    #[default]
    Physical,
    /// Holy.
    Holy,
    /// Fire.
    Fire,
    /// Nature.
    Nature,
    /// Frost.
    Frost,
    /// Shadow.
    Shadow,
    /// Arcane.
    Arcane,
}

/// An automatic repeating attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoAttack {
    /// Damage per swing as a multiple of the actor's primary stat.
    pub coefficient: f64,
    /// Flat damage per swing.
    #[serde(default)]
    pub base_damage: f64,
    /// Seconds between swings before haste.
    pub speed: f64,
    /// School of the swing.
    #[serde(default)]
    pub school: School,
}

/// A channel: the caster is busy for `duration` and each of `ticks` deals the spell's damage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Channel length in seconds before haste.
    pub duration: f64,
    /// Number of damage ticks, evenly spaced, the last at the end.
    pub ticks: u32,
}

/// A cooldown reduction applied by a spell or proc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CooldownReduction {
    /// Spell whose cooldown shrinks.
    pub spell: String,
    /// Seconds removed from the running recharge.
    pub seconds: f64,
}

/// A castable spell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spell {
    /// Name used in the APL, in expressions and in the report.
    pub name: String,
    /// Which actor casts it: `player` (default) or a pet's name.
    #[serde(default)]
    pub actor: Option<String>,
    /// Damage school.
    #[serde(default)]
    pub school: School,
    /// Direct damage as a multiple of the caster's primary stat (per tick for channels).
    #[serde(default)]
    pub coefficient: f64,
    /// Flat direct damage (per tick for channels).
    #[serde(default)]
    pub base_damage: f64,
    /// Whether the damage can crit.
    #[serde(default = "yes")]
    pub can_crit: bool,
    /// Whether mastery increases the damage.
    #[serde(default)]
    pub mastery: bool,
    /// Cast time in seconds before haste (0 = instant).
    #[serde(default)]
    pub cast_time: f64,
    /// Global cooldown in seconds; defaults to the player's; 0 = off the GCD.
    #[serde(default)]
    pub gcd: Option<f64>,
    /// Cooldown (per charge) in seconds.
    #[serde(default)]
    pub cooldown: f64,
    /// Charges of the cooldown.
    #[serde(default = "one_u32")]
    pub charges: u32,
    /// Whether haste shortens the cooldown.
    #[serde(default)]
    pub cooldown_haste: bool,
    /// Makes the spell a channel.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Resource costs, paid when the spell executes.
    #[serde(default)]
    pub cost: BTreeMap<String, f64>,
    /// Resources gained when the spell executes.
    #[serde(default)]
    pub gain: BTreeMap<String, f64>,
    /// Auras applied (one application each) when the spell executes.
    #[serde(default)]
    pub apply: Vec<String>,
    /// Auras removed after the spell's damage (spending stacks).
    #[serde(default)]
    pub consume: Vec<String>,
    /// Periodic effect applied to the target.
    #[serde(default)]
    pub dot: Option<String>,
    /// Pet summoned (or refreshed).
    #[serde(default)]
    pub summon: Option<String>,
    /// Spells that regain one charge.
    #[serde(default)]
    pub reset_cooldowns: Vec<String>,
    /// Spells whose recharge shrinks.
    #[serde(default)]
    pub reduce_cooldowns: Vec<CooldownReduction>,
    /// Only usable while the target is below this health percent (execute).
    #[serde(default)]
    pub execute_below_pct: Option<f64>,
}

fn one_u32() -> u32 {
    1
}

/// How re-applying an active aura treats its remaining time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Refresh {
    /// Restart the full duration.
    #[default]
    Duration,
    /// Restart, keeping up to 30 % of the duration left over.
    Pandemic,
    /// Add the full duration to what is left.
    Extend,
    /// Leave the timer alone (stacks are still added).
    Keep,
}

/// Which actors an aura's modifiers apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Affects {
    /// The player and every pet.
    #[default]
    All,
    /// Only the player.
    Player,
    /// Only pets.
    Pets,
}

/// A buff or debuff. Modifiers are per stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aura {
    /// Name used in `apply`, `consume` and `buff.NAME` / `debuff.NAME`.
    pub name: String,
    /// Seconds; absent = lasts until consumed or the fight ends.
    #[serde(default)]
    pub duration: Option<f64>,
    /// Stack cap.
    #[serde(default = "one_u32")]
    pub max_stacks: u32,
    /// Stacks added per application.
    #[serde(default = "one_u32")]
    pub stacks_per_apply: u32,
    /// Timer rule on re-application.
    #[serde(default)]
    pub refresh: Refresh,
    /// Percent more damage per stack.
    #[serde(default)]
    pub damage_pct: f64,
    /// Added crit chance percent per stack.
    #[serde(default)]
    pub crit_pct: f64,
    /// Percent haste per stack (multiplicative with other haste).
    #[serde(default)]
    pub haste_pct: f64,
    /// Added mastery percent per stack.
    #[serde(default)]
    pub mastery_pct: f64,
    /// Added versatility percent per stack.
    #[serde(default)]
    pub versatility_pct: f64,
    /// Percent more primary stat per stack.
    #[serde(default)]
    pub primary_pct: f64,
    /// Actors whose stats and damage the modifiers change.
    #[serde(default)]
    pub affects: Affects,
    /// Limits `damage_pct` to these abilities (spell, dot, proc or pet names, or `auto_attack`).
    #[serde(default)]
    pub affects_abilities: Vec<String>,
    /// Limits `damage_pct` to these schools.
    #[serde(default)]
    pub affects_schools: Vec<School>,
}

/// A periodic damage effect on the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dot {
    /// Name used in `dot.NAME` and the report (shared with a spell of the same name).
    pub name: String,
    /// Damage school.
    #[serde(default)]
    pub school: School,
    /// Damage per full tick as a multiple of the caster's primary stat.
    pub coefficient: f64,
    /// Flat damage per full tick.
    #[serde(default)]
    pub base_damage: f64,
    /// Seconds between ticks before haste.
    pub tick: f64,
    /// Seconds the effect lasts.
    pub duration: f64,
    /// Whether haste shortens the tick interval (adding ticks).
    #[serde(default = "yes")]
    pub haste_scaled: bool,
    /// Whether a refresh keeps up to 30 % of the duration left over.
    #[serde(default = "yes")]
    pub pandemic: bool,
    /// Whether ticks can crit.
    #[serde(default = "yes")]
    pub can_crit: bool,
    /// Whether mastery increases the damage.
    #[serde(default)]
    pub mastery: bool,
    /// Resources gained per tick.
    #[serde(default)]
    pub tick_gain: BTreeMap<String, f64>,
}

/// What can trigger a proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A spell executes.
    Cast,
    /// Direct damage lands (spells, channel ticks, auto attacks).
    Hit,
    /// Direct or periodic damage crits.
    Crit,
    /// A periodic tick lands.
    Tick,
    /// An auto attack lands.
    AutoAttack,
}

/// Damage dealt by a proc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcDamage {
    /// Multiple of the triggering actor's primary stat.
    pub coefficient: f64,
    /// Flat damage.
    #[serde(default)]
    pub base_damage: f64,
    /// School.
    #[serde(default)]
    pub school: School,
    /// Whether it can crit.
    #[serde(default = "yes")]
    pub can_crit: bool,
}

/// A triggered effect with a chance or a real-procs-per-minute rate and an internal cooldown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proc {
    /// Name (its damage appears under this name in the report).
    pub name: String,
    /// Events that roll this proc.
    pub on: Vec<Trigger>,
    /// Only these abilities trigger it (empty = any).
    #[serde(default)]
    pub abilities: Vec<String>,
    /// Fixed chance per trigger (0..1).
    #[serde(default)]
    pub chance: Option<f64>,
    /// Real procs per minute (chance scales with time since the last roll).
    #[serde(default)]
    pub rppm: Option<f64>,
    /// Whether haste raises the RPPM rate.
    #[serde(default)]
    pub rppm_haste: bool,
    /// Internal cooldown in seconds.
    #[serde(default)]
    pub icd: f64,
    /// Auras applied.
    #[serde(default)]
    pub apply: Vec<String>,
    /// Damage dealt.
    #[serde(default)]
    pub damage: Option<ProcDamage>,
    /// Resources gained.
    #[serde(default)]
    pub gain: BTreeMap<String, f64>,
    /// Spells that regain one charge.
    #[serde(default)]
    pub reset_cooldowns: Vec<String>,
    /// Spells whose recharge shrinks.
    #[serde(default)]
    pub reduce_cooldowns: Vec<CooldownReduction>,
}

/// A secondary actor (pet, guardian) with its own auto attack and action list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pet {
    /// Name used in spells' `actor`, `summon` and `pet.NAME`.
    pub name: String,
    /// The pet's primary stat as a percent of the owner's (it inherits crit, haste, mastery and
    /// versatility).
    #[serde(default = "hundred")]
    pub power_pct: f64,
    /// Seconds a summon lasts; absent = until the fight ends.
    #[serde(default)]
    pub duration: Option<f64>,
    /// Present from the pull without a summon spell.
    #[serde(default)]
    pub summon_at_start: bool,
    /// Automatic attacks.
    #[serde(default)]
    pub auto_attack: Option<AutoAttack>,
    /// The pet's own priority list (spells with `actor = NAME`).
    #[serde(default)]
    pub apl: Vec<Action>,
}

fn hundred() -> f64 {
    100.0
}

/// One APL entry: cast `spell` if it is usable and `if` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Spell to cast.
    pub spell: String,
    /// Condition expression.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}
