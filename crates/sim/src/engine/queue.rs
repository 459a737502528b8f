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
/// generation no longer matches), so it would only have been popped and dropped. Rarer
/// one-per-owner events (an aura's expiry, a spell's recharge, including a shortened
/// cooldown's moved one) use a second, *cold* group of slots ([`Queue::push_cold`]) with its
/// own minimum: a pop of a frequent slot entry rescans only the frequent group.
#[derive(Debug)]
pub(crate) struct Queue {
    keys: Vec<u64>,
    evs: Vec<Ev>,
    seq: u64,
    /// The root holds the last popped (consumed) entry.
    hole: bool,
    /// Slots of frequent events (decisions, swings, ticks), popped most of the time.
    hot: Slots,
    /// Slots of rarer events (aura expiries, recharges): a group of their own, so their
    /// pushes and pops do not make every frequent slot pop rescan them.
    cold: Slots,
}

/// A group of queue slots (see [`Queue`]), each holding at most one entry.
#[derive(Debug)]
struct Slots {
    /// Slot keys (EMPTY: vacant); at least one slot, so `min` always indexes one.
    keys: Vec<u64>,
    evs: Vec<Ev>,
    /// The slot with the smallest key (the first one when every slot is vacant).
    min: usize,
    /// `keys[min]`, kept beside it: every pop compares it, and every put compares with it.
    min_key: u64,
}

impl Slots {
    fn new(slots: usize) -> Self {
        // At least one slot, rounded up to whole groups of four (see `find_min`).
        let n = slots.max(1).next_multiple_of(4);
        Self {
            keys: vec![EMPTY; n],
            evs: vec![VACANT; n],
            min: 0,
            min_key: EMPTY,
        }
    }

    fn clear(&mut self) {
        self.keys.fill(EMPTY);
        self.min = 0;
        self.min_key = EMPTY;
    }

    /// Stores `key`/`ev` in `slot`, replacing its previous (outdated) entry.
    #[inline]
    fn put(&mut self, slot: usize, key: u64, ev: Ev) {
        let old = self.keys[slot];
        self.keys[slot] = key;
        self.evs[slot] = ev;
        if key < self.min_key {
            self.min = slot;
            self.min_key = key;
        } else if slot == self.min && key > old {
            // The smallest entry moved later: another slot may now hold the minimum.
            self.find_min();
        }
    }

    #[inline]
    fn min_key(&self) -> u64 {
        debug_assert_eq!(self.min_key, self.keys[self.min]);
        self.min_key
    }

    /// Removes the smallest entry.
    #[inline]
    fn take_min(&mut self) -> Ev {
        let m = self.min;
        let ev = self.evs[m];
        self.keys[m] = EMPTY;
        self.find_min();
        ev
    }

    /// Sets `min` to the slot with the smallest key (the first one when all are vacant) and
    /// `min_key` to its key.
    #[inline]
    fn find_min(&mut self) {
        // Groups of four (the slot count is padded to a multiple of four with vacant slots)
        // reduced as a tree, so the compares of a group do not wait on each other; ties (only
        // vacant slots share a key) keep the lower slot.
        // Which slot holds the minimum follows no pattern: a branch here would mispredict
        // often, so every choice is a select.
        let mut best = 0;
        let mut best_key = EMPTY;
        for (g, c) in self.keys.chunks_exact(4).enumerate() {
            let t01 = c[1] < c[0];
            let (k01, i01) = (
                std::hint::select_unpredictable(t01, c[1], c[0]),
                std::hint::select_unpredictable(t01, 1, 0),
            );
            let t23 = c[3] < c[2];
            let (k23, i23) = (
                std::hint::select_unpredictable(t23, c[3], c[2]),
                std::hint::select_unpredictable(t23, 3, 2),
            );
            let t = k23 < k01;
            let k = std::hint::select_unpredictable(t, k23, k01);
            let i = std::hint::select_unpredictable(t, i23, i01);
            let take = k < best_key;
            best = std::hint::select_unpredictable(take, 4 * g + i, best);
            best_key = std::hint::select_unpredictable(take, k, best_key);
        }
        self.min = best;
        self.min_key = best_key;
    }
}

const ARITY: usize = 4;
/// The key of an empty slot: larger than any real key.
const EMPTY: u64 = u64::MAX;

impl Default for Queue {
    fn default() -> Self {
        Self::with_slots(0, 0)
    }
}

/// Placeholder event of a vacant slot (never returned: vacant slots have the EMPTY key).
const VACANT: Ev = Ev::Ready { actor: 0, gen: 0 };

impl Queue {
    /// An empty queue with `hot` slots for [`Queue::push_slot`] and `cold` ones for
    /// [`Queue::push_cold`].
    pub fn with_slots(hot: usize, cold: usize) -> Self {
        Self {
            keys: vec![EMPTY; ARITY - 1],
            evs: Vec::new(),
            seq: 0,
            hole: false,
            hot: Slots::new(hot),
            cold: Slots::new(cold),
        }
    }

    pub fn clear(&mut self) {
        // Keeps the capacity of both arrays.
        self.keys.clear();
        self.keys.resize(ARITY - 1, EMPTY);
        self.evs.clear();
        self.seq = 0;
        self.hole = false;
        self.hot.clear();
        self.cold.clear();
    }

    /// The key of an entry at `time` pushed now: later pushes at the same time pop after it.
    #[inline]
    fn next_key(&mut self, time: u64) -> u64 {
        self.seq = (self.seq + 1) & SEQ_MASK;
        time << SEQ_BITS | self.seq
    }

    /// Like [`Queue::push`], but stores the entry in hot slot `slot`, replacing the slot's
    /// previous entry, which must be outdated.
    #[inline]
    pub fn push_slot(&mut self, slot: usize, time: u64, ev: Ev) {
        let key = self.next_key(time);
        self.hot.put(slot, key, ev);
    }

    /// [`Queue::push_slot`] for cold slot `slot`.
    #[inline]
    pub fn push_cold(&mut self, slot: usize, time: u64, ev: Ev) {
        let key = self.next_key(time);
        self.cold.put(slot, key, ev);
    }

    #[inline]
    pub fn push(&mut self, time: u64, ev: Ev) {
        let key = self.next_key(time);
        if self.hole {
            self.hole = false;
            self.sift_down(0, key, ev);
            return;
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
        let hot = self.hot.min_key();
        let cold = self.cold.min_key();
        // Keys are unique, so at most one of the three minima is the smallest (all EMPTY:
        // nothing queued, and the heap's `first` below is None).
        if hot < key && hot < cold {
            return Some((hot >> SEQ_BITS, self.hot.take_min()));
        }
        if cold < key {
            return Some((cold >> SEQ_BITS, self.cold.take_min()));
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
            if !rng.next_u64().is_multiple_of(3) || reference.is_empty() {
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
    fn slots_pop_like_one_heap_without_the_outdated_entries() {
        // Two queues fed the same schedule: one pushes everything into the heap and drops
        // superseded entries when they pop (what the engine does with outdated generations),
        // the other sends a share of the entries to one of three hot or two cold slots, each
        // push into a slot superseding that slot's previous entry.
        let mut rng = crate::rng::Xoshiro256pp::seed_from_u64(11);
        let (mut plain, mut slotted) = (Queue::default(), Queue::with_slots(3, 2));
        // The latest entry of each slot (hot 0..3, cold 3..5), by push order (0: none).
        let mut latest = [0u32; 5];
        let live = |latest: &[u32; 5], ev: Ev| match ev {
            Ev::Auto { actor, gen } => actor == 9 || latest[actor as usize] == gen,
            _ => true,
        };
        let mut now = 0u64;
        let mut order = 0u32;
        let pop_live = |q: &mut Queue, latest: &[u32; 5]| loop {
            match q.pop() {
                Some((t, ev)) if live(latest, ev) => break Some((t, ev)),
                Some(_) => continue,
                None => break None,
            }
        };
        for _ in 0..20_000 {
            if !rng.next_u64().is_multiple_of(3) {
                // Equal times occur often, so the sequence order is exercised.
                let t = now + rng.next_u64() % 40;
                order += 1;
                match rng.next_u64() % 8 {
                    s @ 0..=4 => {
                        let ev = Ev::Auto {
                            actor: s as u8,
                            gen: order,
                        };
                        latest[s as usize] = order;
                        plain.push(t, ev);
                        if s < 3 {
                            slotted.push_slot(s as usize, t, ev);
                        } else {
                            slotted.push_cold(s as usize - 3, t, ev);
                        }
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
    fn slot_minimum_over_several_groups_of_four() {
        // Nine slots (three groups, the last mostly padding): after every put and take, the
        // cached minimum is the smallest key, and the first slot when all are vacant.
        let mut rng = crate::rng::Xoshiro256pp::seed_from_u64(17);
        let mut slots = Slots::new(9);
        assert_eq!(slots.keys.len(), 12);
        let mut key = 0u64;
        for _ in 0..20_000 {
            let slot = (rng.next_u64() % 9) as usize;
            if rng.next_u64().is_multiple_of(3) && slots.min_key() != EMPTY {
                slots.take_min();
            } else {
                // Later keys are larger, but a slot may take one below the others' (its
                // entry moved earlier) or above its old one (the minimum moved later).
                key += 1 + rng.next_u64() % 5;
                let k = key.saturating_sub(rng.next_u64() % 40);
                if slots.keys.contains(&k) {
                    continue;
                }
                slots.put(slot, k, VACANT);
            }
            let smallest = *slots.keys.iter().min().unwrap();
            assert_eq!(slots.min_key(), smallest);
            let first = slots.keys.iter().position(|&k| k == smallest).unwrap();
            assert_eq!(slots.min, first);
        }
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
