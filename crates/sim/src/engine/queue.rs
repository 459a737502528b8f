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
#[derive(Debug, Default)]
pub(crate) struct Queue {
    keys: Vec<u64>,
    evs: Vec<Ev>,
    seq: u64,
}

const ARITY: usize = 4;

impl Queue {
    pub fn clear(&mut self) {
        self.keys.clear();
        self.evs.clear();
        self.seq = 0;
    }

    #[inline]
    pub fn push(&mut self, time: u64, ev: Ev) {
        self.seq = (self.seq + 1) & SEQ_MASK;
        let key = time << SEQ_BITS | self.seq;
        let mut i = self.keys.len();
        self.keys.push(key);
        self.evs.push(ev);
        // Sift up through a hole.
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if self.keys[parent] <= key {
                break;
            }
            self.keys[i] = self.keys[parent];
            self.evs[i] = self.evs[parent];
            i = parent;
        }
        self.keys[i] = key;
        self.evs[i] = ev;
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(u64, Ev)> {
        let n = self.keys.len();
        if n == 0 {
            return None;
        }
        let top_key = self.keys[0];
        let top_ev = self.evs[0];
        let last_key = self.keys[n - 1];
        let last_ev = self.evs[n - 1];
        self.keys.truncate(n - 1);
        self.evs.truncate(n - 1);
        let n = n - 1;
        if n > 0 {
            // Sift the former last entry down from the root through a hole.
            let mut i = 0;
            loop {
                let first = i * ARITY + 1;
                if first >= n {
                    break;
                }
                let end = (first + ARITY).min(n);
                let mut best = first;
                let mut best_key = self.keys[first];
                for c in first + 1..end {
                    let k = self.keys[c];
                    if k < best_key {
                        best = c;
                        best_key = k;
                    }
                }
                if last_key <= best_key {
                    break;
                }
                self.keys[i] = best_key;
                self.evs[i] = self.evs[best];
                i = best;
            }
            self.keys[i] = last_key;
            self.evs[i] = last_ev;
        }
        Some((top_key >> SEQ_BITS, top_ev))
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
