//! Validation and compilation of a [`Profile`] into flat, index-resolved tables.
//!
//! Everything the engine needs per event is precomputed here: times in microseconds, stat
//! ratings turned into fractions, each damage source's list of modifying auras and of procs it
//! can trigger, and every APL condition as bytecode.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::error::{Location, ProfileError};
use crate::expr::{self, ast::Expr, ExprError, Op, Program, Var};
use crate::limits::{
    Limit, MAX_EXPR_DEPTH, MAX_EXPR_NODES, MAX_FIGHT_SECS, MAX_PROFILE_BYTES,
    MAX_PROFILE_EXPR_NODES,
};
use crate::profile::{
    parse_json, parse_toml, Affects, Format, Profile, Refresh, School, SourceMap, Trigger,
    PROFILE_VERSION,
};
use crate::wake::{self, WakeMasks, Watch};

/// Microseconds per second.
pub(crate) const US: f64 = 1_000_000.0;
/// Longest accepted fight (one day), which keeps every time comfortably inside `u64`.
const MAX_FIGHT_S: f64 = 86_400.0;
/// Off-GCD actions one actor may take at one instant before it must wait.
pub(crate) const MAX_OFF_GCD_CHAIN: usize = 8;

/// A validated profile, ready to simulate. Cheap to share between threads (`Sync`).
#[derive(Debug, Clone)]
pub struct CompiledProfile {
    pub(crate) hash: String,
    pub(crate) name: String,
    pub(crate) fight: CFight,
    pub(crate) actors: Vec<CActor>,
    pub(crate) resources: Vec<CResource>,
    pub(crate) spells: Vec<CSpell>,
    pub(crate) dots: Vec<CDot>,
    pub(crate) auras: Vec<CAura>,
    pub(crate) procs: Vec<CProc>,
    pub(crate) sources: Vec<CSource>,
    pub(crate) abilities: Vec<String>,
    /// Per actor: the auras that change any of its stats, in aura order (recompute its stats
    /// when they change).
    pub(crate) actor_stat_auras: Vec<Vec<u16>>,
    /// Per aura: the actors it affects (bit a = actor a).
    pub(crate) aura_actors: Vec<u64>,
    pub(crate) base: BaseStats,
    pub(crate) wake: WakeMasks,
}

impl CompiledProfile {
    /// Stable content hash (hex SHA-256 of the canonical JSON of the profile).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The profile's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Names of the report rows (spells, periodic effects, damaging procs, auto attacks).
    pub fn abilities(&self) -> &[String] {
        &self.abilities
    }

    /// Nominal fight length in seconds.
    pub fn nominal_duration_secs(&self) -> f64 {
        self.fight.duration_us as f64 / US
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CFight {
    pub duration_us: u64,
    pub variance: f64,
    pub idle_poll_us: u64,
    pub health: Option<f64>,
    pub execute_pct: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct CAuto {
    pub src: u16,
    pub speed_us: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct CAction {
    pub spell: u16,
    pub cond: Option<Program>,
    /// Continuous values whose threshold crossings may make this action usable.
    pub watches: Vec<Watch>,
    /// The condition has an unpredictable continuous part: poll while idle.
    pub poll: bool,
    /// The spell's execute threshold, copied here: deciding reads one record per action.
    pub execute_below: Option<f64>,
    /// The spell's costs in the shape deciding tests them.
    pub costs: ActionCosts,
}

/// An action's spell costs as [`CAction`] holds them: almost every spell has at most one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ActionCosts {
    /// Free.
    Free,
    /// One resource and amount.
    One(u8, f64),
    /// Several: read from the spell.
    Many,
}

#[derive(Debug, Clone)]
pub(crate) struct CActor {
    pub is_pet: bool,
    /// Fraction of the owner's primary stat (1.0 for the player).
    pub power_frac: f64,
    pub gcd_us: u64,
    pub gcd_min_us: u64,
    pub auto: Option<CAuto>,
    pub apl: Vec<CAction>,
    /// Summon duration (None = until the fight ends).
    pub duration_us: Option<u64>,
    pub active_at_start: bool,
}

/// Base stats of the player, which pets inherit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BaseStats {
    pub primary: f64,
    pub crit: f64,
    pub haste: f64,
    pub mastery_pct: f64,
    pub versatility: f64,
    pub mastery_coefficient: f64,
    pub crit_multiplier: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct CResource {
    pub max: f64,
    pub start: f64,
    pub regen_per_us: f64,
    pub regen_haste: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CSpell {
    pub actor: u8,
    pub ability: u16,
    pub src: Option<u16>,
    pub cast_us: u64,
    /// 0 = off the GCD.
    pub gcd_us: u64,
    pub cooldown_us: u64,
    pub charges: u8,
    pub cooldown_haste: bool,
    pub channel: Option<(u64, u32)>,
    pub costs: Vec<(u8, f64)>,
    pub gains: Vec<(u8, f64)>,
    pub apply: Vec<u16>,
    pub consume: Vec<u16>,
    pub dot: Option<u16>,
    pub summon: Option<u8>,
    pub resets: Vec<u16>,
    pub reduces: Vec<(u16, u64)>,
    pub execute_below: Option<f64>,
    pub cast_procs: Vec<u16>,
}

#[derive(Debug, Clone)]
pub(crate) struct CDot {
    pub src: u16,
    pub tick_us: u64,
    pub duration_us: u64,
    pub haste_scaled: bool,
    pub pandemic: bool,
    pub gains: Vec<(u8, f64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct CAura {
    pub duration_us: Option<u64>,
    pub max_stacks: u8,
    pub per_apply: u8,
    pub refresh: Refresh,
    pub damage: f64,
    pub crit: f64,
    pub haste: f64,
    pub mastery_pct: f64,
    pub versatility: f64,
    pub primary: f64,
    pub affects: Affects,
    /// Any stat modifier is non-zero (stats must be recomputed when its stacks change).
    pub changes_stats: bool,
}

impl CAura {
    pub(crate) fn affects_actor(&self, actor: &CActor) -> bool {
        match self.affects {
            Affects::All => true,
            Affects::Player => !actor.is_pet,
            Affects::Pets => actor.is_pet,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CProc {
    pub chance: Option<f64>,
    pub rppm: Option<f64>,
    pub rppm_haste: bool,
    pub icd_us: u64,
    pub apply: Vec<u16>,
    pub damage_src: Option<u16>,
    pub gains: Vec<(u8, f64)>,
    pub resets: Vec<u16>,
    pub reduces: Vec<(u16, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceKind {
    Direct,
    Tick,
    Auto,
    Proc,
}

/// One way of dealing damage, with everything constant about it folded in.
#[derive(Debug, Clone)]
pub(crate) struct CSource {
    pub ability: u16,
    pub actor: u8,
    pub kind: SourceKind,
    pub school: School,
    pub coefficient: f64,
    pub base: f64,
    pub can_crit: bool,
    pub mastery: bool,
    /// Armor or magic reduction multiplier.
    pub reduction: f64,
    /// Auras whose `damage_pct` applies.
    pub mod_auras: Vec<u16>,
    /// Procs rolled when this damage lands.
    pub procs_land: Vec<u16>,
    /// Procs rolled when this damage crits.
    pub procs_crit: Vec<u16>,
}

/// Hex SHA-256 of the canonical JSON form of `profile`: the same for its TOML and JSON texts.
pub fn profile_hash(profile: &Profile) -> String {
    // Serializing plain structs and BTreeMaps cannot fail.
    let json = serde_json::to_vec(profile).unwrap_or_default();
    let digest = Sha256::digest(&json);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuses texts over [`MAX_PROFILE_BYTES`] before any parsing, located where the bound falls.
pub fn check_size(src: &str) -> Result<(), ProfileError> {
    if src.len() <= MAX_PROFILE_BYTES {
        return Ok(());
    }
    Err(ProfileError::Limit {
        limit: Limit::ProfileBytes,
        path: String::new(),
        message: format!(
            "the profile is {} bytes, more than the {MAX_PROFILE_BYTES} accepted",
            src.len()
        ),
        location: Some(Location::of_offset(src, MAX_PROFILE_BYTES)),
    })
}

/// Parses and compiles a TOML profile; errors carry line and column.
pub fn compile_toml(src: &str) -> Result<CompiledProfile, ProfileError> {
    check_size(src)?;
    let profile = parse_toml(src)?;
    Compiler::new(&profile, Some(SourceMap::new(src, Format::Toml))).run()
}

/// Parses and compiles a JSON profile.
pub fn compile_json(src: &str) -> Result<CompiledProfile, ProfileError> {
    check_size(src)?;
    let profile = parse_json(src)?;
    Compiler::new(&profile, Some(SourceMap::new(src, Format::Json))).run()
}

/// Parses (TOML or JSON, sniffed) and compiles a profile.
pub fn compile_str(src: &str) -> Result<CompiledProfile, ProfileError> {
    match Format::sniff(src) {
        Format::Toml => compile_toml(src),
        Format::Json => compile_json(src),
    }
}

/// Validates and compiles an already parsed profile (errors carry field paths only).
pub fn compile(profile: &Profile) -> Result<CompiledProfile, ProfileError> {
    Compiler::new(profile, None).run()
}

/// Validates a profile without keeping the compiled form.
pub fn validate(profile: &Profile) -> Result<(), ProfileError> {
    compile(profile).map(|_| ())
}

/// Rating to percent with the tiered diminishing returns (no penalty up to 30 %, then 10 %,
/// 20 %, 30 %, 40 %, 50 % less per tier boundary at 39, 47, 54, 66 and 126 %).
pub(crate) fn rating_to_pct(rating: f64, per_pct: f64, dr: bool) -> f64 {
    let raw = rating / per_pct;
    if !dr {
        return raw;
    }
    const TIERS: [(f64, f64); 7] = [
        (30.0, 1.0),
        (39.0, 0.9),
        (47.0, 0.8),
        (54.0, 0.7),
        (66.0, 0.6),
        (126.0, 0.5),
        (f64::INFINITY, 0.0),
    ];
    let mut out = 0.0;
    let mut lower = 0.0;
    for (upper, factor) in TIERS {
        if raw <= lower {
            break;
        }
        out += (raw.min(upper) - lower) * factor;
        lower = upper;
    }
    out
}

fn secs_to_us(s: f64) -> u64 {
    crate::fmath::round(s * US) as u64
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn known(kind: &str, names: &HashMap<String, usize>) -> String {
    let mut v: Vec<&str> = names.keys().map(String::as_str).collect();
    v.sort_unstable();
    if v.is_empty() {
        format!("the profile defines no {kind}s")
    } else {
        format!("known {kind}s: {}", v.join(", "))
    }
}

struct Compiler<'a> {
    p: &'a Profile,
    map: Option<SourceMap<'a>>,
    resources: HashMap<String, usize>,
    spells: HashMap<String, usize>,
    dots: HashMap<String, usize>,
    auras: HashMap<String, usize>,
    pets: HashMap<String, usize>,
    procs: HashMap<String, usize>,
    abilities: Vec<String>,
    ability_index: HashMap<String, u16>,
    inliner: Inliner,
}

impl<'a> Compiler<'a> {
    fn new(p: &'a Profile, map: Option<SourceMap<'a>>) -> Self {
        Self {
            p,
            map,
            resources: HashMap::new(),
            spells: HashMap::new(),
            dots: HashMap::new(),
            auras: HashMap::new(),
            pets: HashMap::new(),
            procs: HashMap::new(),
            abilities: Vec::new(),
            ability_index: HashMap::new(),
            inliner: Inliner::default(),
        }
    }

    fn err(&self, path: impl Into<String>, message: impl Into<String>) -> ProfileError {
        let path = path.into();
        let location = self.map.and_then(|m| m.locate(&path, None));
        ProfileError::Invalid {
            path,
            message: message.into(),
            location,
        }
    }

    fn expr_err(&self, path: &str, e: ExprError) -> ProfileError {
        let location = self.map.and_then(|m| m.locate(path, Some(e.offset)));
        match e.limit {
            Some(limit) => ProfileError::Limit {
                limit,
                path: path.to_string(),
                message: e.message,
                location,
            },
            None => ProfileError::Invalid {
                path: path.to_string(),
                message: e.message,
                location,
            },
        }
    }

    fn limit_err(&self, path: &str, limit: Limit, message: impl Into<String>) -> ProfileError {
        ProfileError::Limit {
            limit,
            path: path.to_string(),
            message: message.into(),
            location: self.map.and_then(|m| m.locate(path, None)),
        }
    }

    fn num(&self, path: &str, v: f64, min: f64, max: f64) -> Result<f64, ProfileError> {
        if !v.is_finite() || v < min || v > max {
            return Err(self.err(path, format!("must be between {min} and {max}, got {v}")));
        }
        Ok(v)
    }

    fn index_names<'n>(
        &self,
        kind: &str,
        field: &str,
        names: impl Iterator<Item = &'n str>,
    ) -> Result<HashMap<String, usize>, ProfileError> {
        let mut map = HashMap::new();
        for (i, name) in names.enumerate() {
            let path = format!("{field}[{i}].name");
            if !is_identifier(name) {
                return Err(self.err(
                    path,
                    format!("{kind} name `{name}` must be letters, digits and `_`, not starting with a digit"),
                ));
            }
            if map.insert(name.to_string(), i).is_some() {
                return Err(self.err(path, format!("duplicate {kind} name `{name}`")));
            }
        }
        Ok(map)
    }

    fn lookup(
        &self,
        path: &str,
        kind: &str,
        names: &HashMap<String, usize>,
        name: &str,
    ) -> Result<usize, ProfileError> {
        names.get(name).copied().ok_or_else(|| {
            self.err(
                path,
                format!("unknown {kind} `{name}` ({})", known(kind, names)),
            )
        })
    }

    fn ability(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.ability_index.get(name) {
            return i;
        }
        let i = self.abilities.len() as u16;
        self.abilities.push(name.to_string());
        self.ability_index.insert(name.to_string(), i);
        i
    }

    fn amounts(
        &self,
        path: &str,
        map: &BTreeMap<String, f64>,
    ) -> Result<Vec<(u8, f64)>, ProfileError> {
        let mut out = Vec::new();
        for (name, &amount) in map {
            let p = format!("{path}.{name}");
            let r = self.lookup(&p, "resource", &self.resources, name)?;
            self.num(&p, amount, 0.0, 1e12)?;
            out.push((r as u8, amount));
        }
        Ok(out)
    }

    fn aura_list(&self, path: &str, names: &[String]) -> Result<Vec<u16>, ProfileError> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                self.lookup(&format!("{path}[{i}]"), "aura", &self.auras, n)
                    .map(|x| x as u16)
            })
            .collect()
    }

    fn spell_list(&self, path: &str, names: &[String]) -> Result<Vec<u16>, ProfileError> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                self.lookup(&format!("{path}[{i}]"), "spell", &self.spells, n)
                    .map(|x| x as u16)
            })
            .collect()
    }

    fn reductions(
        &self,
        path: &str,
        list: &[crate::profile::CooldownReduction],
    ) -> Result<Vec<(u16, u64)>, ProfileError> {
        let mut out = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let s = self.lookup(
                &format!("{path}[{i}].spell"),
                "spell",
                &self.spells,
                &r.spell,
            )?;
            let secs = self.num(&format!("{path}[{i}].seconds"), r.seconds, 0.0, MAX_FIGHT_S)?;
            out.push((s as u16, secs_to_us(secs)));
        }
        Ok(out)
    }

    fn run(mut self) -> Result<CompiledProfile, ProfileError> {
        let p = self.p;
        if p.version != PROFILE_VERSION {
            return Err(self.err(
                "version",
                format!(
                    "unsupported profile version {} (this build reads version {PROFILE_VERSION})",
                    p.version
                ),
            ));
        }

        // --- fight and target
        let duration = self.num("fight.duration", p.fight.duration, 0.001, MAX_FIGHT_S)?;
        let variance = self.num("fight.variance", p.fight.variance, 0.0, 0.99)?;
        if duration * (1.0 + variance) > MAX_FIGHT_SECS {
            return Err(self.limit_err(
                "fight.duration",
                Limit::FightDuration,
                format!(
                    "a fight may last at most {MAX_FIGHT_SECS} s, but {duration} s with variance {variance} reaches {} s",
                    duration * (1.0 + variance)
                ),
            ));
        }
        let idle_poll = self.num("fight.idle_poll", p.fight.idle_poll, 0.001, 60.0)?;
        let t = &p.target;
        let armor = self.num("target.armor", t.armor, 0.0, 1e9)?;
        let armor_constant = self.num("target.armor_constant", t.armor_constant, 1.0, 1e9)?;
        let physical = match t.physical_reduction_pct {
            Some(pct) => 1.0 - self.num("target.physical_reduction_pct", pct, 0.0, 99.0)? / 100.0,
            None => 1.0 - armor / (armor + armor_constant),
        };
        let magic = 1.0
            - self.num(
                "target.magic_reduction_pct",
                t.magic_reduction_pct,
                0.0,
                99.0,
            )? / 100.0;
        let health = match t.health {
            Some(h) => Some(self.num("target.health", h, 1.0, 1e18)?),
            None => None,
        };
        let execute_pct = self.num("target.execute_pct", t.execute_pct, 0.0, 100.0)?;

        // --- player stats
        let pl = &p.player;
        let primary = self.num("player.primary", pl.primary, 0.0, 1e12)?;
        let r = &p.ratings;
        for (field, v) in [
            ("ratings.crit", r.crit),
            ("ratings.haste", r.haste),
            ("ratings.mastery", r.mastery),
            ("ratings.versatility", r.versatility),
        ] {
            self.num(field, v, 1e-6, 1e9)?;
        }
        let stat = |this: &Self, name: &str, rating: Option<f64>, pct: Option<f64>, per: f64| match (
            rating, pct,
        ) {
            (Some(_), Some(_)) => Err(this.err(
                format!("player.{name}_pct"),
                format!("give either `{name}_rating` or `{name}_pct`, not both"),
            )),
            (Some(rt), None) => Ok((
                false,
                rating_to_pct(
                    this.num(&format!("player.{name}_rating"), rt, 0.0, 1e9)?,
                    per,
                    r.diminishing_returns,
                ),
            )),
            (None, Some(pc)) => Ok((
                true,
                this.num(&format!("player.{name}_pct"), pc, 0.0, 1000.0)?,
            )),
            (None, None) => Ok((false, 0.0)),
        };
        let (crit_abs, crit) = stat(&self, "crit", pl.crit_rating, pl.crit_pct, r.crit)?;
        let (_, haste) = stat(&self, "haste", pl.haste_rating, pl.haste_pct, r.haste)?;
        let (mastery_abs, mastery) = stat(
            &self,
            "mastery",
            pl.mastery_rating,
            pl.mastery_pct,
            r.mastery,
        )?;
        let (_, vers) = stat(
            &self,
            "versatility",
            pl.versatility_rating,
            pl.versatility_pct,
            r.versatility,
        )?;
        let base_crit = self.num("player.base_crit_pct", pl.base_crit_pct, 0.0, 100.0)?;
        let base_mastery = self.num("player.base_mastery_pct", pl.base_mastery_pct, 0.0, 1000.0)?;
        // A percent given directly is the total; a rating adds to the base.
        let crit_total = if crit_abs { crit } else { base_crit + crit };
        let mastery_total = if mastery_abs {
            mastery
        } else {
            base_mastery + mastery
        };
        let base = BaseStats {
            primary,
            crit: crit_total / 100.0,
            haste: haste / 100.0,
            mastery_pct: mastery_total,
            versatility: vers / 100.0,
            mastery_coefficient: self.num(
                "player.mastery_coefficient",
                pl.mastery_coefficient,
                0.0,
                100.0,
            )?,
            crit_multiplier: self.num("player.crit_multiplier", pl.crit_multiplier, 1.0, 100.0)?,
        };
        let gcd = self.num("player.gcd", pl.gcd, 0.0, 60.0)?;
        let gcd_min = self.num("player.gcd_min", pl.gcd_min, 0.0, gcd)?;

        // --- names
        self.resources = self.index_names(
            "resource",
            "resources",
            p.resources.iter().map(|x| x.name.as_str()),
        )?;
        self.spells =
            self.index_names("spell", "spells", p.spells.iter().map(|x| x.name.as_str()))?;
        self.dots = self.index_names("dot", "dots", p.dots.iter().map(|x| x.name.as_str()))?;
        self.auras = self.index_names("aura", "auras", p.auras.iter().map(|x| x.name.as_str()))?;
        self.pets = self.index_names("pet", "pets", p.pets.iter().map(|x| x.name.as_str()))?;
        self.procs = self.index_names("proc", "procs", p.procs.iter().map(|x| x.name.as_str()))?;
        if p.resources.len() > 255 {
            return Err(self.err("resources", "at most 255 resources"));
        }
        if p.pets.len() > 63 {
            return Err(self.err("pets", "at most 63 pets"));
        }
        if p.spells.len() + p.dots.len() + p.auras.len() + p.procs.len() > u16::MAX as usize / 2 {
            return Err(self.err("spells", "too many spells, dots, auras and procs"));
        }

        // --- resources
        let mut resources = Vec::new();
        for (i, res) in p.resources.iter().enumerate() {
            let max = self.num(&format!("resources[{i}].max"), res.max, 0.0, 1e12)?;
            let start = match res.start {
                Some(s) => self.num(&format!("resources[{i}].start"), s, 0.0, max)?,
                None => max,
            };
            let regen = self.num(&format!("resources[{i}].regen"), res.regen, 0.0, 1e12)?;
            resources.push(CResource {
                max,
                start,
                regen_per_us: regen / US,
                regen_haste: res.regen_haste,
            });
        }

        // --- actors: player then pets
        let player_gcd_us = secs_to_us(gcd);
        let mut actors = vec![CActor {
            is_pet: false,
            power_frac: 1.0,
            gcd_us: player_gcd_us,
            gcd_min_us: secs_to_us(gcd_min),
            auto: None,
            apl: Vec::new(),
            duration_us: None,
            active_at_start: true,
        }];
        for (i, pet) in p.pets.iter().enumerate() {
            let power = self.num(&format!("pets[{i}].power_pct"), pet.power_pct, 0.0, 1e6)?;
            let duration_us = match pet.duration {
                Some(d) => Some(secs_to_us(self.num(
                    &format!("pets[{i}].duration"),
                    d,
                    0.001,
                    MAX_FIGHT_S,
                )?)),
                None => None,
            };
            actors.push(CActor {
                is_pet: true,
                power_frac: power / 100.0,
                gcd_us: player_gcd_us,
                gcd_min_us: secs_to_us(gcd_min),
                auto: None,
                apl: Vec::new(),
                duration_us,
                active_at_start: pet.summon_at_start,
            });
        }
        let actor_of =
            |this: &Self, path: &str, name: &Option<String>| -> Result<u8, ProfileError> {
                match name.as_deref() {
                    None | Some("player") => Ok(0),
                    Some(n) => Ok(this.lookup(path, "pet", &this.pets, n)? as u8 + 1),
                }
            };

        // --- abilities: every spell first (stable order), then dots, procs, autos
        for s in &p.spells {
            self.ability(&s.name);
        }
        for d in &p.dots {
            self.ability(&d.name);
        }
        for pr in &p.procs {
            if pr.damage.is_some() {
                self.ability(&pr.name);
            }
        }
        if pl.auto_attack.is_some() {
            self.ability("auto_attack");
        }
        for pet in &p.pets {
            if pet.auto_attack.is_some() {
                self.ability(&format!("{}.auto_attack", pet.name));
            }
        }

        // --- auras
        let mut auras = Vec::new();
        for (i, a) in p.auras.iter().enumerate() {
            let path = |f: &str| format!("auras[{i}].{f}");
            let duration_us = match a.duration {
                Some(d) => Some(secs_to_us(self.num(
                    &path("duration"),
                    d,
                    0.001,
                    MAX_FIGHT_S,
                )?)),
                None => None,
            };
            if a.max_stacks == 0 || a.max_stacks > 255 {
                return Err(self.err(
                    path("max_stacks"),
                    format!("must be between 1 and 255, got {}", a.max_stacks),
                ));
            }
            if a.stacks_per_apply == 0 || a.stacks_per_apply > a.max_stacks {
                return Err(self.err(
                    path("stacks_per_apply"),
                    format!(
                        "must be between 1 and max_stacks ({}), got {}",
                        a.max_stacks, a.stacks_per_apply
                    ),
                ));
            }
            for (j, n) in a.affects_abilities.iter().enumerate() {
                if !self.ability_index.contains_key(n) {
                    let mut names: Vec<&str> = self.abilities.iter().map(String::as_str).collect();
                    names.sort_unstable();
                    return Err(self.err(
                        format!("auras[{i}].affects_abilities[{j}]"),
                        format!(
                            "unknown ability `{n}` (known abilities: {})",
                            names.join(", ")
                        ),
                    ));
                }
            }
            auras.push(CAura {
                duration_us,
                max_stacks: a.max_stacks as u8,
                per_apply: a.stacks_per_apply as u8,
                refresh: a.refresh,
                damage: self.num(&path("damage_pct"), a.damage_pct, -100.0, 1e6)? / 100.0,
                crit: self.num(&path("crit_pct"), a.crit_pct, -100.0, 1000.0)? / 100.0,
                haste: self.num(&path("haste_pct"), a.haste_pct, -99.0, 1000.0)? / 100.0,
                mastery_pct: self.num(&path("mastery_pct"), a.mastery_pct, -1000.0, 1000.0)?,
                versatility: self.num(
                    &path("versatility_pct"),
                    a.versatility_pct,
                    -100.0,
                    1000.0,
                )? / 100.0,
                primary: self.num(&path("primary_pct"), a.primary_pct, -100.0, 1e6)? / 100.0,
                affects: a.affects,
                changes_stats: false,
            });
        }
        let stat_auras: Vec<u16> = auras
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                a.crit != 0.0
                    || a.haste != 0.0
                    || a.mastery_pct != 0.0
                    || a.versatility != 0.0
                    || a.primary != 0.0
            })
            .map(|(i, _)| i as u16)
            .collect();
        for &i in &stat_auras {
            auras[i as usize].changes_stats = true;
        }

        // --- damage sources (filled with aura/proc lists afterwards)
        let mut sources: Vec<CSource> = Vec::new();
        let reduction = |school: School| {
            if school == School::Physical {
                physical
            } else {
                magic
            }
        };
        let mut new_source = |ability: u16,
                              actor: u8,
                              kind: SourceKind,
                              school: School,
                              coefficient: f64,
                              base: f64,
                              can_crit: bool,
                              mastery: bool| {
            sources.push(CSource {
                ability,
                actor,
                kind,
                school,
                coefficient,
                base,
                can_crit,
                mastery,
                reduction: reduction(school),
                mod_auras: Vec::new(),
                procs_land: Vec::new(),
                procs_crit: Vec::new(),
            });
            (sources.len() - 1) as u16
        };

        // --- spells
        let mut spells = Vec::new();
        let mut dot_actor: Vec<Option<u8>> = vec![None; p.dots.len()];
        let mut summoned = vec![false; p.pets.len()];
        for (i, s) in p.spells.iter().enumerate() {
            let path = |f: &str| format!("spells[{i}].{f}");
            let actor = actor_of(&self, &path("actor"), &s.actor)?;
            let coefficient = self.num(&path("coefficient"), s.coefficient, 0.0, 1e6)?;
            let base_damage = self.num(&path("base_damage"), s.base_damage, 0.0, 1e15)?;
            let cast = self.num(&path("cast_time"), s.cast_time, 0.0, 600.0)?;
            let gcd_us = match s.gcd {
                Some(g) => secs_to_us(self.num(&path("gcd"), g, 0.0, 60.0)?),
                None => actors[actor as usize].gcd_us,
            };
            let cooldown = self.num(&path("cooldown"), s.cooldown, 0.0, MAX_FIGHT_S)?;
            if s.charges == 0 || s.charges > 255 {
                return Err(self.err(
                    path("charges"),
                    format!("must be between 1 and 255, got {}", s.charges),
                ));
            }
            if s.charges > 1 && cooldown == 0.0 {
                return Err(self.err(path("charges"), "charges need a cooldown to recharge"));
            }
            let channel = match &s.channel {
                Some(c) => {
                    let d = self.num(&path("channel.duration"), c.duration, 0.001, 600.0)?;
                    if c.ticks == 0 || c.ticks > 1000 {
                        return Err(self.err(
                            path("channel.ticks"),
                            format!("must be between 1 and 1000, got {}", c.ticks),
                        ));
                    }
                    if cast > 0.0 {
                        return Err(
                            self.err(path("cast_time"), "a channel has no separate cast time")
                        );
                    }
                    Some((secs_to_us(d), c.ticks))
                }
                None => None,
            };
            let dot = match &s.dot {
                Some(d) => {
                    let di = self.lookup(&path("dot"), "dot", &self.dots, d)?;
                    match dot_actor[di] {
                        Some(a) if a != actor => {
                            return Err(self.err(
                                path("dot"),
                                format!("dot `{d}` is already applied by another actor's spell"),
                            ));
                        }
                        _ => dot_actor[di] = Some(actor),
                    }
                    Some(di as u16)
                }
                None => None,
            };
            let summon = match &s.summon {
                Some(n) => {
                    let pi = self.lookup(&path("summon"), "pet", &self.pets, n)?;
                    summoned[pi] = true;
                    Some(pi as u8 + 1)
                }
                None => None,
            };
            let execute_below = match s.execute_below_pct {
                Some(x) => Some(self.num(&path("execute_below_pct"), x, 0.0, 100.0)?),
                None => None,
            };
            let ability = self.ability_index[&s.name];
            let src = (coefficient > 0.0 || base_damage > 0.0).then(|| {
                new_source(
                    ability,
                    actor,
                    SourceKind::Direct,
                    s.school,
                    coefficient,
                    base_damage,
                    s.can_crit,
                    s.mastery,
                )
            });
            spells.push(CSpell {
                actor,
                ability,
                src,
                cast_us: secs_to_us(cast),
                gcd_us,
                cooldown_us: secs_to_us(cooldown),
                charges: s.charges as u8,
                cooldown_haste: s.cooldown_haste,
                channel,
                costs: self.amounts(&path("cost"), &s.cost)?,
                gains: self.amounts(&path("gain"), &s.gain)?,
                apply: self.aura_list(&path("apply"), &s.apply)?,
                consume: self.aura_list(&path("consume"), &s.consume)?,
                dot,
                summon,
                resets: self.spell_list(&path("reset_cooldowns"), &s.reset_cooldowns)?,
                reduces: self.reductions(&path("reduce_cooldowns"), &s.reduce_cooldowns)?,
                execute_below,
                cast_procs: Vec::new(),
            });
        }

        // --- dots
        let mut dots = Vec::new();
        for (i, d) in p.dots.iter().enumerate() {
            let path = |f: &str| format!("dots[{i}].{f}");
            let coefficient = self.num(&path("coefficient"), d.coefficient, 0.0, 1e6)?;
            let base_damage = self.num(&path("base_damage"), d.base_damage, 0.0, 1e15)?;
            let tick = self.num(&path("tick"), d.tick, 0.01, 600.0)?;
            let duration = self.num(&path("duration"), d.duration, 0.01, MAX_FIGHT_S)?;
            let ability = self.ability_index[&d.name];
            let actor = dot_actor[i].unwrap_or(0);
            let src = new_source(
                ability,
                actor,
                SourceKind::Tick,
                d.school,
                coefficient,
                base_damage,
                d.can_crit,
                d.mastery,
            );
            dots.push(CDot {
                src,
                tick_us: secs_to_us(tick),
                duration_us: secs_to_us(duration),
                haste_scaled: d.haste_scaled,
                pandemic: d.pandemic,
                gains: self.amounts(&path("tick_gain"), &d.tick_gain)?,
            });
        }

        // --- auto attacks
        let mut auto = |this: &mut Self,
                        actor: usize,
                        name: &str,
                        path: &str,
                        a: &crate::profile::AutoAttack|
         -> Result<CAuto, ProfileError> {
            let coefficient = this.num(&format!("{path}.coefficient"), a.coefficient, 0.0, 1e6)?;
            let base = this.num(&format!("{path}.base_damage"), a.base_damage, 0.0, 1e15)?;
            let speed = this.num(&format!("{path}.speed"), a.speed, 0.05, 60.0)?;
            let ability = this.ability(name);
            let src = new_source(
                ability,
                actor as u8,
                SourceKind::Auto,
                a.school,
                coefficient,
                base,
                true,
                false,
            );
            Ok(CAuto {
                src,
                speed_us: secs_to_us(speed),
            })
        };
        if let Some(a) = &pl.auto_attack {
            actors[0].auto = Some(auto(&mut self, 0, "auto_attack", "player.auto_attack", a)?);
        }
        for (i, pet) in p.pets.iter().enumerate() {
            if let Some(a) = &pet.auto_attack {
                actors[i + 1].auto = Some(auto(
                    &mut self,
                    i + 1,
                    &format!("{}.auto_attack", pet.name),
                    &format!("pets[{i}].auto_attack"),
                    a,
                )?);
            }
            if !pet.summon_at_start && !summoned[i] {
                return Err(self.err(
                    format!("pets[{i}].summon_at_start"),
                    format!("pet `{}` is never summoned: set `summon_at_start = true` or give a spell `summon = \"{}\"`", pet.name, pet.name),
                ));
            }
        }

        // --- procs
        let mut procs = Vec::new();
        for (i, pr) in p.procs.iter().enumerate() {
            let path = |f: &str| format!("procs[{i}].{f}");
            if pr.on.is_empty() {
                return Err(self.err(
                    path("on"),
                    "a proc needs at least one trigger (cast, hit, crit, tick, auto_attack)",
                ));
            }
            let (chance, rppm) = match (pr.chance, pr.rppm) {
                (Some(_), Some(_)) => {
                    return Err(self.err(path("rppm"), "give either `chance` or `rppm`, not both"))
                }
                (None, None) => {
                    return Err(self.err(path("chance"), "a proc needs `chance` or `rppm`"))
                }
                (Some(c), None) => (Some(self.num(&path("chance"), c, 0.0, 1.0)?), None),
                (None, Some(r)) => (None, Some(self.num(&path("rppm"), r, 0.001, 1000.0)?)),
            };
            let icd = self.num(&path("icd"), pr.icd, 0.0, MAX_FIGHT_S)?;
            for (j, n) in pr.abilities.iter().enumerate() {
                if !self.ability_index.contains_key(n) {
                    let mut names: Vec<&str> = self.abilities.iter().map(String::as_str).collect();
                    names.sort_unstable();
                    return Err(self.err(
                        format!("procs[{i}].abilities[{j}]"),
                        format!(
                            "unknown ability `{n}` (known abilities: {})",
                            names.join(", ")
                        ),
                    ));
                }
            }
            let damage_src = match &pr.damage {
                Some(d) => {
                    let c = self.num(&path("damage.coefficient"), d.coefficient, 0.0, 1e6)?;
                    let b = self.num(&path("damage.base_damage"), d.base_damage, 0.0, 1e15)?;
                    let ability = self.ability_index[&pr.name];
                    Some(new_source(
                        ability,
                        0,
                        SourceKind::Proc,
                        d.school,
                        c,
                        b,
                        d.can_crit,
                        false,
                    ))
                }
                None => None,
            };
            let cp = CProc {
                chance,
                rppm,
                rppm_haste: pr.rppm_haste,
                icd_us: secs_to_us(icd),
                apply: self.aura_list(&path("apply"), &pr.apply)?,
                damage_src,
                gains: self.amounts(&path("gain"), &pr.gain)?,
                resets: self.spell_list(&path("reset_cooldowns"), &pr.reset_cooldowns)?,
                reduces: self.reductions(&path("reduce_cooldowns"), &pr.reduce_cooldowns)?,
            };
            if cp.apply.is_empty()
                && cp.damage_src.is_none()
                && cp.gains.is_empty()
                && cp.resets.is_empty()
                && cp.reduces.is_empty()
            {
                return Err(self.err(format!("procs[{i}]"), format!("proc `{}` has no effect (apply, damage, gain, reset_cooldowns or reduce_cooldowns)", pr.name)));
            }
            procs.push(cp);
        }

        // --- wire auras and procs into sources and spells
        let ability_filter = |names: &[String], ability: u16, abilities: &[String]| {
            names.is_empty() || names.iter().any(|n| *n == abilities[ability as usize])
        };
        for src in sources.iter_mut() {
            for (ai, a) in p.auras.iter().enumerate() {
                let ca = &auras[ai];
                if ca.damage != 0.0
                    && ca.affects_actor(&actors[src.actor as usize])
                    && ability_filter(&a.affects_abilities, src.ability, &self.abilities)
                    && (a.affects_schools.is_empty() || a.affects_schools.contains(&src.school))
                {
                    src.mod_auras.push(ai as u16);
                }
            }
            if src.kind == SourceKind::Proc {
                continue; // proc damage does not trigger procs, which rules out proc loops
            }
            for (pi, pr) in p.procs.iter().enumerate() {
                if !ability_filter(&pr.abilities, src.ability, &self.abilities) {
                    continue;
                }
                let lands = pr.on.iter().any(|t| match t {
                    Trigger::Hit => matches!(src.kind, SourceKind::Direct | SourceKind::Auto),
                    Trigger::Tick => src.kind == SourceKind::Tick,
                    Trigger::AutoAttack => src.kind == SourceKind::Auto,
                    Trigger::Cast | Trigger::Crit => false,
                });
                if lands {
                    src.procs_land.push(pi as u16);
                }
                if pr.on.contains(&Trigger::Crit) {
                    src.procs_crit.push(pi as u16);
                }
            }
        }
        for spell in spells.iter_mut() {
            for (pi, pr) in p.procs.iter().enumerate() {
                if pr.on.contains(&Trigger::Cast)
                    && ability_filter(&pr.abilities, spell.ability, &self.abilities)
                {
                    spell.cast_procs.push(pi as u16);
                }
            }
        }

        // --- variables, then the action lists
        let mut var_src: BTreeMap<String, Expr> = BTreeMap::new();
        for (name, text) in &p.variables {
            let path = format!("variables.{name}");
            if !is_identifier(name) {
                return Err(self.err(
                    &path,
                    format!("variable name `{name}` must be letters, digits and `_`"),
                ));
            }
            let e = expr::parse(text).map_err(|e| self.expr_err(&path, e))?;
            // Check the variable's own names (with offsets into its own text) before inlining.
            self.compile_expr(&path, &e, &spells)?;
            var_src.insert(name.clone(), e);
        }
        self.inliner.defs = var_src;
        let names: Vec<String> = self.inliner.defs.keys().cloned().collect();
        for name in names {
            let path = format!("variables.{name}");
            self.inliner
                .variable(&name, &mut Vec::new())
                .map_err(|e| self.inline_err(&path, e))?;
        }

        for (i, action) in p.apl.iter().enumerate() {
            let a = self.action(&format!("apl[{i}]"), action, 0, &spells)?;
            actors[0].apl.push(a);
        }
        if actors[0].apl.is_empty() {
            return Err(self.err("apl", "the player's action list is empty"));
        }
        for (pi, pet) in p.pets.iter().enumerate() {
            for (i, action) in pet.apl.iter().enumerate() {
                let a = self.action(&format!("pets[{pi}].apl[{i}]"), action, pi + 1, &spells)?;
                actors[pi + 1].apl.push(a);
            }
        }

        let mut wake = WakeMasks::build(&actors, &spells, auras.len(), resources.len(), dots.len());
        // Haste changes regeneration, which moves resource wake-up times.
        for (r, res) in resources.iter().enumerate() {
            if res.regen_haste {
                wake.stats |= wake.resource[r];
            }
        }
        let actor_stat_auras = actors
            .iter()
            .map(|actor| {
                stat_auras
                    .iter()
                    .copied()
                    .filter(|&i| auras[i as usize].affects_actor(actor))
                    .collect()
            })
            .collect();
        let aura_actors = auras
            .iter()
            .map(|aura| {
                actors
                    .iter()
                    .enumerate()
                    .filter(|(_, actor)| aura.affects_actor(actor))
                    .fold(0u64, |m, (a, _)| m | 1 << a)
            })
            .collect();
        Ok(CompiledProfile {
            hash: profile_hash(p),
            name: p.name.clone(),
            fight: CFight {
                duration_us: secs_to_us(duration),
                variance,
                idle_poll_us: secs_to_us(idle_poll).max(1),
                health,
                execute_pct,
            },
            actors,
            resources,
            spells,
            dots,
            auras,
            procs,
            sources,
            abilities: self.abilities,
            actor_stat_auras,
            aura_actors,
            base,
            wake,
        })
    }

    fn inline_err(&self, path: &str, e: InlineError) -> ProfileError {
        match e {
            InlineError::Invalid(m) => self.err(path, m),
            InlineError::Limit(limit, m) => self.limit_err(path, limit, m),
        }
    }

    fn action(
        &mut self,
        path: &str,
        action: &crate::profile::Action,
        actor: usize,
        spells: &[CSpell],
    ) -> Result<CAction, ProfileError> {
        let s = self.lookup(
            &format!("{path}.spell"),
            "spell",
            &self.spells,
            &action.spell,
        )?;
        let spell = &spells[s];
        if spell.actor as usize != actor {
            let owner = |a: usize| {
                if a == 0 {
                    "the player".to_string()
                } else {
                    format!("pet `{}`", self.p.pets[a - 1].name)
                }
            };
            return Err(self.err(
                format!("{path}.spell"),
                format!(
                    "spell `{}` is cast by {}, not by {}",
                    action.spell,
                    owner(spell.actor as usize),
                    owner(actor)
                ),
            ));
        }
        if spell.gcd_us == 0
            && spell.cast_us == 0
            && spell.channel.is_none()
            && spell.cooldown_us == 0
        {
            return Err(self.err(
                format!("{path}.spell"),
                format!("spell `{}` is off the GCD with no cast time and no cooldown, so it would be cast endlessly", action.spell),
            ));
        }
        let fixed_length = self.p.target.health.is_none();
        let mut watches = Vec::new();
        let mut poll = false;
        if let Some(x) = spell.execute_below {
            if fixed_length {
                watches.push(Watch::health_pct(x));
            } else {
                poll = true;
            }
        }
        let cond = match &action.condition {
            Some(text) => {
                let cpath = format!("{path}.if");
                let e = expr::parse(text).map_err(|e| self.expr_err(&cpath, e))?;
                self.compile_expr(&cpath, &e, spells)?;
                let inlined = self
                    .inliner
                    .inline(&e)
                    .map_err(|err| self.inline_err(&cpath, err))?;
                let prog = self.compile_expr(&cpath, &inlined, spells)?;
                let dot_us = |d: u16| secs_to_us(self.p.dots[d as usize].duration);
                let (w, p) = wake::analyze(&prog, fixed_length, self.p.target.execute_pct, &dot_us);
                watches.extend(w);
                poll |= p;
                match prog.constant() {
                    Some(c) if c != 0.0 => None,
                    _ => Some(prog),
                }
            }
            None => None,
        };
        let costs = match spell.costs[..] {
            [] => ActionCosts::Free,
            [(r, c)] => ActionCosts::One(r, c),
            _ => ActionCosts::Many,
        };
        Ok(CAction {
            spell: s as u16,
            cond,
            watches,
            poll,
            execute_below: spell.execute_below,
            costs,
        })
    }

    fn compile_expr(
        &self,
        path: &str,
        e: &Expr,
        spells: &[CSpell],
    ) -> Result<Program, ProfileError> {
        Program::compile(e, &mut |name, offset| self.resolve(name, offset, spells))
            .map_err(|err| self.expr_err(path, err))
    }

    fn resolve(&self, name: &str, offset: usize, spells: &[CSpell]) -> Result<Op, ExprError> {
        let parts: Vec<&str> = name.split('.').collect();
        let bad = |msg: String| Err(ExprError::new(offset, msg));
        let find =
            |kind: &str, names: &HashMap<String, usize>, n: &str| -> Result<usize, ExprError> {
                names.get(n).copied().ok_or_else(|| {
                    ExprError::new(
                        offset,
                        format!("unknown {kind} `{n}` in `{name}` ({})", known(kind, names)),
                    )
                })
            };
        let load = |v: Var| Ok(Op::Load(v));
        match parts.as_slice() {
            // Conditions are checked before variables are inlined; a placeholder stands in.
            ["variable" | "var", v] => match self.p.variables.contains_key(*v) {
                true => Ok(Op::Const(0.0)),
                false => {
                    let mut names: Vec<&str> = self.p.variables.keys().map(String::as_str).collect();
                    names.sort_unstable();
                    bad(format!("unknown variable `{v}` (known variables: {})", names.join(", ")))
                }
            },
            ["cooldown" | "cd", s, prop] => {
                let i = find("spell", &self.spells, s)? as u16;
                let sp = &spells[i as usize];
                match *prop {
                    "ready" | "up" => load(Var::CooldownReady(i)),
                    "remains" => load(Var::CooldownRemains(i)),
                    "charges" => load(Var::CooldownCharges(i)),
                    "charges_fractional" => load(Var::CooldownChargesFractional(i)),
                    "full_recharge_time" => load(Var::CooldownFullRecharge(i)),
                    "max_charges" => Ok(Op::Const(sp.charges as f64)),
                    "duration" => Ok(Op::Const(sp.cooldown_us as f64 / US)),
                    _ => bad(format!("unknown cooldown property `{prop}` (ready, remains, charges, charges_fractional, full_recharge_time, max_charges, duration)")),
                }
            }
            ["buff" | "debuff" | "aura", a, prop] => {
                let i = find("aura", &self.auras, a)? as u16;
                match *prop {
                    "up" | "react" => load(Var::AuraUp(i)),
                    "down" => load(Var::AuraDown(i)),
                    "stack" | "stacks" => load(Var::AuraStack(i)),
                    "remains" => load(Var::AuraRemains(i)),
                    "max_stack" | "max_stacks" => Ok(Op::Const(self.p.auras[i as usize].max_stacks as f64)),
                    _ => bad(format!("unknown aura property `{prop}` (up, react, stack, remains, max_stack)")),
                }
            }
            ["dot", d, prop] => {
                let i = find("dot", &self.dots, d)? as u16;
                match *prop {
                    "ticking" | "up" => load(Var::DotTicking(i)),
                    "remains" => load(Var::DotRemains(i)),
                    "refreshable" => load(Var::DotRefreshable(i)),
                    _ => bad(format!("unknown dot property `{prop}` (ticking, remains, refreshable)")),
                }
            }
            ["resource", r] => load(Var::Resource(find("resource", &self.resources, r)? as u8)),
            ["resource", r, prop] => {
                let i = find("resource", &self.resources, r)? as u8;
                match *prop {
                    "current" => load(Var::Resource(i)),
                    "deficit" => load(Var::ResourceDeficit(i)),
                    "pct" => load(Var::ResourcePct(i)),
                    "max" => Ok(Op::Const(self.p.resources[i as usize].max)),
                    "time_to_max" => load(Var::ResourceTimeToMax(i)),
                    _ => bad(format!("unknown resource property `{prop}` (current, deficit, pct, max, time_to_max)")),
                }
            }
            ["target", prop] => match *prop {
                "health_pct" => load(Var::TargetHealthPct),
                "time_to_die" => load(Var::TargetTimeToDie),
                "execute" => load(Var::TargetExecute),
                _ => bad(format!("unknown target property `{prop}` (health_pct, time_to_die, execute)")),
            },
            ["fight", prop] => match *prop {
                "time" => load(Var::FightTime),
                "remains" => load(Var::FightRemains),
                _ => bad(format!("unknown fight property `{prop}` (time, remains)")),
            },
            ["pet", n, prop] => {
                let i = find("pet", &self.pets, n)? as u8 + 1;
                match *prop {
                    "active" | "up" => load(Var::PetActive(i)),
                    "remains" => load(Var::PetRemains(i)),
                    _ => bad(format!("unknown pet property `{prop}` (active, remains)")),
                }
            }
            ["player", prop] => match *prop {
                "haste" => load(Var::PlayerHaste),
                "crit" => load(Var::PlayerCrit),
                "mastery" => load(Var::PlayerMastery),
                "versatility" => load(Var::PlayerVersatility),
                "gcd" => load(Var::PlayerGcd),
                _ => bad(format!("unknown player property `{prop}` (haste, crit, mastery, versatility, gcd)")),
            },
            ["spell", s, "cast_time"] => load(Var::SpellCastTime(find("spell", &self.spells, s)? as u16)),
            _ => bad(format!(
                "unknown name `{name}` (expected cooldown.SPELL.*, buff.AURA.*, debuff.AURA.*, dot.DOT.*, resource.R[.*], target.*, fight.*, pet.PET.*, player.*, spell.SPELL.cast_time or variable.NAME)"
            )),
        }
    }
}

/// Why a condition's variables could not be inlined.
enum InlineError {
    /// An unknown variable or a cycle.
    Invalid(String),
    /// The result would exceed a bound.
    Limit(Limit, String),
}

/// A variable with its definition's variables inlined.
struct Inlined {
    expr: Expr,
    nodes: usize,
    depth: usize,
}

/// Inlines `variable.x` names, each variable expanded once, counting the nodes every
/// expansion produces so exponential growth (`a = "b + b"`, `b = "c + c"`, …) is refused
/// before it is built.
#[derive(Default)]
struct Inliner {
    /// Parsed definitions.
    defs: BTreeMap<String, Expr>,
    /// Expanded variables.
    done: HashMap<String, Inlined>,
    /// Nodes produced for the whole profile.
    total: usize,
}

impl Inliner {
    /// `e` with every variable inlined.
    fn inline(&mut self, e: &Expr) -> Result<Expr, InlineError> {
        let mut nodes = 0;
        let out = self.expand(e, 1, &mut nodes, &mut Vec::new())?;
        self.count(nodes)?;
        Ok(out)
    }

    /// Expands variable `name` (memoized), rejecting cycles through `stack`.
    fn variable(&mut self, name: &str, stack: &mut Vec<String>) -> Result<(), InlineError> {
        if self.done.contains_key(name) {
            return Ok(());
        }
        if stack.iter().any(|s| s == name) {
            stack.push(name.to_string());
            return Err(InlineError::Invalid(format!(
                "variables form a cycle: {}",
                stack.join(" -> ")
            )));
        }
        let def = self
            .defs
            .get(name)
            .cloned()
            .ok_or_else(|| InlineError::Invalid(format!("unknown variable `{name}`")))?;
        stack.push(name.to_string());
        let mut nodes = 0;
        let expr = self.expand(&def, 1, &mut nodes, stack)?;
        stack.pop();
        self.count(nodes)?;
        let depth = depth_of(&expr);
        self.done
            .insert(name.to_string(), Inlined { expr, nodes, depth });
        Ok(())
    }

    fn count(&mut self, nodes: usize) -> Result<(), InlineError> {
        self.total += nodes;
        if self.total > MAX_PROFILE_EXPR_NODES {
            return Err(InlineError::Limit(
                Limit::ProfileExprNodes,
                format!(
                    "the profile's conditions and variables have more than {MAX_PROFILE_EXPR_NODES} nodes once variables are inlined"
                ),
            ));
        }
        Ok(())
    }

    /// Copies `e` (at `depth`, root 1) with variables inlined, adding its nodes to `nodes`.
    fn expand(
        &mut self,
        e: &Expr,
        depth: usize,
        nodes: &mut usize,
        stack: &mut Vec<String>,
    ) -> Result<Expr, InlineError> {
        let var = match e {
            Expr::Name(n, _) => n
                .strip_prefix("variable.")
                .or_else(|| n.strip_prefix("var."))
                .filter(|v| !v.contains('.')),
            _ => None,
        };
        if let Some(v) = var {
            self.variable(v, stack)?;
            let Some(def) = self.done.get(v) else {
                return Err(InlineError::Invalid(format!("unknown variable `{v}`")));
            };
            grow(nodes, def.nodes, depth - 1 + def.depth, v)?;
            return Ok(def.expr.clone());
        }
        grow(nodes, 1, depth, "")?;
        let mut sub = |a: &Expr| self.expand(a, depth + 1, nodes, stack).map(Box::new);
        Ok(match e {
            Expr::Name(..) | Expr::Num(_) => e.clone(),
            Expr::Neg(a) => Expr::Neg(sub(a)?),
            Expr::Not(a) => Expr::Not(sub(a)?),
            Expr::Bin(op, a, b) => Expr::Bin(*op, sub(a)?, sub(b)?),
            Expr::Call(f, args) => Expr::Call(
                *f,
                args.iter()
                    .map(|a| sub(a).map(|b| *b))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// Adds `more` nodes reaching `depth` to an expansion, refusing it past the bounds.
fn grow(nodes: &mut usize, more: usize, depth: usize, var: &str) -> Result<(), InlineError> {
    let via = if var.is_empty() {
        String::new()
    } else {
        format!(" once `variable.{var}` is inlined")
    };
    *nodes += more;
    if *nodes > MAX_EXPR_NODES {
        return Err(InlineError::Limit(
            Limit::ExprNodes,
            format!("expression has more than {MAX_EXPR_NODES} nodes{via}"),
        ));
    }
    if depth > MAX_EXPR_DEPTH {
        return Err(InlineError::Limit(
            Limit::ExprDepth,
            format!("expression nested more than {MAX_EXPR_DEPTH} levels deep{via}"),
        ));
    }
    Ok(())
}

/// Depth of a tree already within [`MAX_EXPR_DEPTH`] (so the recursion is shallow).
fn depth_of(e: &Expr) -> usize {
    1 + match e {
        Expr::Name(..) | Expr::Num(_) => 0,
        Expr::Neg(a) | Expr::Not(a) => depth_of(a),
        Expr::Bin(_, a, b) => depth_of(a).max(depth_of(b)),
        Expr::Call(_, args) => args.iter().map(depth_of).max().unwrap_or(0),
    }
}
