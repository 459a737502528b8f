//! The time-ordered event queue, keyed on (time, insertion sequence) so events at the same
//! microsecond run in the order they were scheduled. Integer keys only: ordering never depends
//! on floating point.

/// What happens at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ev {
    /// Actor may act (evaluate its APL).
    Ready { actor: u8, gen: u32 },
    /// A cast-time spell finishes.
    CastDone { actor: u8, spell: u16, gen: u32 },
    /// A channel tick.
    ChannelTick { actor: u8, spell: u16, gen: u32 },
    /// An aura runs out.
    AuraExpire { aura: u16, gen: u32 },
    /// A periodic effect ticks.
    DotTick { dot: u16, gen: u32 },
    /// An auto attack swings.
    Auto { actor: u8, gen: u32 },
    /// A cooldown charge comes back.
    Recharge { spell: u16, gen: u32 },
    /// A summoned pet leaves.
    PetExpire { actor: u8, gen: u32 },
}

/// Bits of the key that hold the insertion sequence; the time sits above them. Times are at
/// most one day (< 2^37 µs), so 27 bits of sequence (134 M events per iteration) remain. Past
/// that, ties would break in a different (still deterministic) order.
const SEQ_BITS: u32 = 27;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// Min-queue of events: a 4-ary heap with the integer keys in their own array (sifting
/// compares keys only and touches fewer cache lines than a binary heap of whole entries).
/// Reused across iterations (cleared, never shrunk), so the steady state does not allocate.
///
/// `keys` always holds `ARITY - 1` more slots than there are entries, every slot past the
/// entries set to `u64::MAX` (no real key is that large: times stay below 2^37 µs). A node
/// with a first child therefore always has all `ARITY` child slots, so sifting down picks the
/// smallest of four keys with compares and conditional moves instead of a loop bounded by the
/// length, and without a bounds check per child. Keys are unique (time and sequence), so the
/// pop order is the same as any other min-queue's.
///
/// A pop leaves its entry at the root as a *hole* instead of refilling the root at once: the
/// handler of almost every event schedules at least one new event (the next swing, tick or
/// decision), and the first push after a pop drops into the hole and sifts down from the
/// root, instead of the pop sifting the last entry down and the push then appending and
/// sifting up. The hole's key is the popped one, no larger than any queued key and smaller
/// than any key pushed later (time not earlier, sequence larger), so nothing sifts past it
/// while it waits; the next pop refills it the usual way when no push came.
///
/// Beside the heap, a few *slots* each hold at most one entry: events of which an owner has
/// at most one live copy (an actor's decision, its auto attack swing, a dot's tick) are pushed
/// with [`Queue::push_slot`] into their owner's slot, so they are stored and found again
/// without sifting through the heap. A slot entry carries a key from the same sequence counter
/// and `pop` takes the smaller of the heap's root and the smallest slot key, so live entries
/// pop in exactly the (time, sequence) order of one heap holding every entry. A push into an
/// occupied slot overwrites the entry there: the caller guarantees it is outdated (its
/// generation no longer matches), so it would only have been popped and dropped.
#[derive(Debug)]
pub(crate) struct Queue {
    keys: Vec<u64>,
    evs: Vec<Ev>,
    seq: u64,
    /// The root holds the last popped (consumed) entry.
    hole: bool,
    /// Slot keys (EMPTY: vacant); at least one slot, so `slot_min` always indexes one.
    slot_keys: Vec<u64>,
    slot_evs: Vec<Ev>,
    /// The slot with the smallest key (EMPTY when every slot is vacant).
    slot_min: usize,
}

const ARITY: usize = 4;
/// The key of an empty slot: larger than any real key.
const EMPTY: u64 = u64::MAX;

impl Default for Queue {
    fn default() -> Self {
        Self::with_slots(0)
    }
}

/// Placeholder event of a vacant slot (never returned: vacant slots have the EMPTY key).
const VACANT: Ev = Ev::Ready { actor: 0, gen: 0 };

impl Queue {
    /// An empty queue with `slots` slots for [`Queue::push_slot`].
    pub fn with_slots(slots: usize) -> Self {
        let n = slots.max(1);
        Self {
            keys: vec![EMPTY; ARITY - 1],
            evs: Vec::new(),
            seq: 0,
            hole: false,
            slot_keys: vec![EMPTY; n],
            slot_evs: vec![VACANT; n],
            slot_min: 0,
        }
    }

    pub fn clear(&mut self) {
        // Keeps the capacity of both arrays.
        self.keys.clear();
        self.keys.resize(ARITY - 1, EMPTY);
        self.evs.clear();
        self.seq = 0;
        self.hole = false;
        self.slot_keys.fill(EMPTY);
        self.slot_min = 0;
    }

    /// Like [`Queue::push`], but stores the entry in slot `slot`, replacing the slot's
    /// previous entry, which must be outdated. Entries pushed this way must never be
    /// [`Queue::replace`]d.
    #[inline]
    pub fn push_slot(&mut self, slot: usize, time: u64, ev: Ev) {
        self.seq = (self.seq + 1) & SEQ_MASK;
        let key = time << SEQ_BITS | self.seq;
        let old = self.slot_keys[slot];
        self.slot_keys[slot] = key;
        self.slot_evs[slot] = ev;
        if key < self.slot_keys[self.slot_min] {
            self.slot_min = slot;
        } else if slot == self.slot_min && key > old {
            // The smallest entry moved later: another slot may now hold the minimum.
            self.slot_min = self.min_slot();
        }
    }

    /// The slot with the smallest key (the first one when all are vacant).
    #[inline]
    fn min_slot(&self) -> usize {
        let mut best = 0;
        let mut best_key = EMPTY;
        for (i, &k) in self.slot_keys.iter().enumerate() {
            if k < best_key {
                best = i;
                best_key = k;
            }
        }
        best
    }

    /// Queues `ev` at `time`; returns its key (for [`Queue::replace`]).
    #[inline]
    pub fn push(&mut self, time: u64, ev: Ev) -> u64 {
        self.seq = (self.seq + 1) & SEQ_MASK;
        let key = time << SEQ_BITS | self.seq;
        if self.hole {
            self.hole = false;
            self.sift_down(0, key, ev);
            return key;
        }
        let mut i = self.evs.len();
        // Slot i was an empty pad; keep ARITY - 1 pads after the new last entry.
        self.keys.push(EMPTY);
        self.evs.push(ev);
        let keys = &mut self.keys[..];
        let evs = &mut self.evs[..];
        // Sift up through a hole.
        while i > 0 {
            let parent = (i - 1) / ARITY;
            let pk = keys[parent];
            if pk <= key {
                break;
            }
            keys[i] = pk;
            evs[i] = evs[parent];
            i = parent;
        }
        keys[i] = key;
        evs[i] = ev;
        key
    }

    /// Moves the queued entry `old`, pushed with key `old_key`, to `time` as `new`, with the
    /// key a fresh [`Queue::push`] would give it (returned), so every later pop sees the same
    /// (time, sequence) order as after a push; pushes when `old` is not queued. Superseding an
    /// entry this way leaves no outdated copy behind: each Barbed Shot tick or Cobra Shot that
    /// shortens a cooldown otherwise leaves the previous recharge queued until its old time, a
    /// third of the heap in pet-procs.
    ///
    /// The search compares keys (one integer per entry; the event only on a key match) over a
    /// heap of a few dozen entries, cheaper than popping and sifting past the outdated entry
    /// later. A hole at the root stays where it is: it is not a queued entry, and the moved
    /// entry's new key is larger than the hole's (time not earlier, sequence larger), so
    /// sifting up stops below the root and sifting down never reaches it.
    #[inline]
    pub fn replace(&mut self, old_key: u64, old: Ev, time: u64, new: Ev) -> u64 {
        let start = usize::from(self.hole);
        let n = self.evs.len();
        // Keys are unique among queued entries; the event is compared too (only on a key
        // match), so a stale key can never move another entry.
        let found = (start..n).find(|&i| self.keys[i] == old_key && self.evs[i] == old);
        let Some(i) = found else {
            return self.push(time, new);
        };
        self.seq = (self.seq + 1) & SEQ_MASK;
        let key = time << SEQ_BITS | self.seq;
        if key < self.keys[i] {
            self.sift_up(i, key, new);
        } else {
            self.sift_down(i, key, new);
        }
        key
    }

    /// Places `key`/`ev` at or above hole `i`, moving larger ancestors down.
    #[inline]
    fn sift_up(&mut self, mut i: usize, key: u64, ev: Ev) {
        let keys = &mut self.keys[..];
        let evs = &mut self.evs[..];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            let pk = keys[parent];
            if pk <= key {
                break;
            }
            keys[i] = pk;
            evs[i] = evs[parent];
            i = parent;
        }
        keys[i] = key;
        evs[i] = ev;
    }

    /// Places `key`/`ev` at or below hole `i` among the `evs.len()` entries, moving smaller
    /// children up.
    #[inline]
    fn sift_down(&mut self, mut i: usize, key: u64, ev: Ev) {
        let n = self.evs.len();
        let keys = &mut self.keys[..];
        let evs = &mut self.evs[..];
        loop {
            let first = i * ARITY + 1;
            if first >= n {
                break;
            }
            // All four child slots exist (pads past the end hold EMPTY).
            let c: &[u64; ARITY] = keys[first..first + ARITY].try_into().expect("ARITY slots");
            let (k01, i01) = if c[1] < c[0] { (c[1], 1) } else { (c[0], 0) };
            let (k23, i23) = if c[3] < c[2] { (c[3], 3) } else { (c[2], 2) };
            let (best_key, off) = if k23 < k01 { (k23, i23) } else { (k01, i01) };
            if key <= best_key {
                break;
            }
            let best = first + off;
            keys[i] = best_key;
            evs[i] = evs[best];
            i = best;
        }
        keys[i] = key;
        evs[i] = ev;
    }

    /// Removes the earliest event and returns its time and the event.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, Ev)> {
        if self.hole {
            self.hole = false;
            self.remove_root();
        }
        let key = self.keys[0];
        let m = self.slot_min;
        let slot_key = self.slot_keys[m];
        if slot_key < key {
            let ev = self.slot_evs[m];
            self.slot_keys[m] = EMPTY;
            self.slot_min = self.min_slot();
            return Some((slot_key >> SEQ_BITS, ev));
        }
        let &ev = self.evs.first()?;
        self.hole = true;
        Some((key >> SEQ_BITS, ev))
    }

    /// Drops the root entry, refilling the root with the last entry sifted down.
    #[inline]
    fn remove_root(&mut self) {
        let Some(last_ev) = self.evs.pop() else {
            return;
        };
        let n = self.evs.len();
        let last_key = self.keys[n];
        // The former last slot becomes a pad; drop the surplus pad at the end.
        self.keys[n] = EMPTY;
        self.keys.pop();
        if n == 0 {
            return;
        }
        let keys = &mut self.keys[..];
        let evs = &mut self.evs[..];
        // Sift the former last entry down from the root through a hole.
        let mut i = 0;
        loop {
            let first = i * ARITY + 1;
            if first >= n {
                break;
            }
            // All four child slots exist (pads past the end hold EMPTY).
            let c: &[u64; ARITY] = keys[first..first + ARITY].try_into().expect("ARITY slots");
            let (k01, i01) = if c[1] < c[0] { (c[1], 1) } else { (c[0], 0) };
            let (k23, i23) = if c[3] < c[2] { (c[3], 3) } else { (c[2], 2) };
            let (best_key, off) = if k23 < k01 { (k23, i23) } else { (k01, i01) };
            if last_key <= best_key {
                break;
            }
            let best = first + off;
            keys[i] = best_key;
            evs[i] = evs[best];
            i = best;
        }
        keys[i] = last_key;
        evs[i] = last_ev;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_sorted_order_on_random_monotone_schedules() {
        let mut rng = crate::rng::Xoshiro256pp::seed_from_u64(5);
        let mut q = Queue::default();
        let mut reference: Vec<(u64, u64)> = Vec::new(); // (time, push order)
        let mut now = 0u64;
        let mut order = 0u64;
        for _ in 0..3_000 {
            if rng.next_u64() % 3 != 0 || reference.is_empty() {
                let t = now + rng.next_u64() % 5_000;
                order += 1;
                q.push(
                    t,
                    Ev::Ready {
                        actor: 0,
                        gen: order as u32,
                    },
                );
                reference.push((t, order));
            } else {
                reference.sort_unstable();
                let (t, o) = reference.remove(0);
                let (qt, ev) = q.pop().unwrap();
                assert_eq!(
                    (qt, ev),
                    (
                        t,
                        Ev::Ready {
                            actor: 0,
                            gen: o as u32
                        }
                    )
                );
                now = t;
            }
        }
        reference.sort_unstable();
        for (t, o) in reference {
            assert_eq!(
                q.pop(),
                Some((
                    t,
                    Ev::Ready {
                        actor: 0,
                        gen: o as u32
                    }
                ))
            );
        }
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn replacing_pops_like_pushing_and_skipping_the_outdated_entry() {
        // Two queues fed the same schedule: one supersedes entries by pushing a new copy (the
        // old one is popped and dropped as outdated), the other moves them with `replace`.
        let mut rng = crate::rng::Xoshiro256pp::seed_from_u64(9);
        let (mut pushed, mut moved) = (Queue::default(), Queue::default());
        let mut gen = [0u32; 4];
        // The key of each spell's entry in `moved` (none queued yet: a key no entry has).
        let mut keys = [u64::MAX; 4];
        let mut now = 0u64;
        let live = |g: &[u32; 4], ev: Ev| matches!(ev, Ev::Recharge { spell, gen } if g[spell as usize] == gen);
        for _ in 0..5_000 {
            match rng.next_u64() % 4 {
                0 | 1 => {
                    let spell = (rng.next_u64() % 4) as u16;
                    let old = Ev::Recharge {
                        spell,
                        gen: gen[spell as usize],
                    };
                    gen[spell as usize] += 1;
                    let new = Ev::Recharge {
                        spell,
                        gen: gen[spell as usize],
                    };
                    // Earlier, equal and later times all occur.
                    let t = now + rng.next_u64() % 3_000;
                    pushed.push(t, new);
                    keys[spell as usize] = moved.replace(keys[spell as usize], old, t, new);
                }
                _ => {
                    let next = loop {
                        match pushed.pop() {
                            Some((t, ev)) if live(&gen, ev) => break Some((t, ev)),
                            Some(_) => continue,
                            None => break None,
                        }
                    };
                    let got = moved.pop();
                    assert_eq!(got, next);
                    if let Some((t, ev)) = got {
                        assert!(live(&gen, ev), "moved queue kept an outdated entry");
                        now = t;
                    }
                }
            }
        }
    }

    #[test]
    fn slots_pop_like_one_heap_without_the_outdated_entries() {
        // Two queues fed the same schedule: one pushes everything into the heap and drops
        // superseded entries when they pop (what the engine does with outdated generations),
        // the other sends a share of the entries to one of three slots, each push into a slot
        // superseding that slot's previous entry.
        let mut rng = crate::rng::Xoshiro256pp::seed_from_u64(11);
        let (mut plain, mut slotted) = (Queue::default(), Queue::with_slots(3));
        // The latest entry of each slot, by push order (0: none).
        let mut latest = [0u32; 3];
        let live = |latest: &[u32; 3], ev: Ev| match ev {
            Ev::Auto { actor, gen } => actor == 9 || latest[actor as usize] == gen,
            _ => true,
        };
        let mut now = 0u64;
        let mut order = 0u32;
        let pop_live = |q: &mut Queue, latest: &[u32; 3]| loop {
            match q.pop() {
                Some((t, ev)) if live(latest, ev) => break Some((t, ev)),
                Some(_) => continue,
                None => break None,
            }
        };
        for _ in 0..20_000 {
            if rng.next_u64() % 3 != 0 {
                // Equal times occur often, so the sequence order is exercised.
                let t = now + rng.next_u64() % 40;
                order += 1;
                match rng.next_u64() % 8 {
                    s @ 0..=2 => {
                        let ev = Ev::Auto {
                            actor: s as u8,
                            gen: order,
                        };
                        latest[s as usize] = order;
                        plain.push(t, ev);
                        slotted.push_slot(s as usize, t, ev);
                    }
                    _ => {
                        let ev = Ev::Auto {
                            actor: 9,
                            gen: order,
                        };
                        plain.push(t, ev);
                        slotted.push(t, ev);
                    }
                }
            } else {
                let got = slotted.pop();
                if let Some((_, ev)) = got {
                    assert!(live(&latest, ev), "slotted queue kept an outdated entry");
                }
                assert_eq!(got, pop_live(&mut plain, &latest));
                if let Some((t, _)) = got {
                    now = t;
                }
            }
        }
        while let Some(e) = pop_live(&mut plain, &latest) {
            assert_eq!(slotted.pop(), Some(e));
        }
        assert_eq!(slotted.pop(), None);
        slotted.clear();
        slotted.push_slot(1, 5, Ev::Ready { actor: 1, gen: 0 });
        assert_eq!(slotted.pop(), Some((5, Ev::Ready { actor: 1, gen: 0 })));
        assert_eq!(slotted.pop(), None);
    }

    #[test]
    fn pops_by_time_then_fifo() {
        let mut q = Queue::default();
        q.push(50, Ev::Ready { actor: 1, gen: 0 });
        q.push(10, Ev::Ready { actor: 2, gen: 0 });
        q.push(50, Ev::Ready { actor: 3, gen: 0 });
        q.push(10, Ev::Ready { actor: 4, gen: 0 });
        let order: Vec<u8> = std::iter::from_fn(|| q.pop())
            .map(|(_, e)| match e {
                Ev::Ready { actor, .. } => actor,
                _ => 0,
            })
            .collect();
        assert_eq!(order, vec![2, 4, 1, 3]);
    }
}
