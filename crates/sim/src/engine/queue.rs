//! The time-ordered event queue: a binary heap keyed on (time, insertion sequence), so events
//! at the same microsecond run in the order they were scheduled. Integer keys only: ordering
//! never depends on floating point.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// `time << SEQ_BITS | seq`: one integer compare orders by time, then FIFO.
    key: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    #[inline]
    fn cmp(&self, o: &Self) -> Ordering {
        o.key.cmp(&self.key)
    }
}

/// Min-queue of events; reused across iterations (cleared, never shrunk) so the hot loop does
/// not allocate once it has grown to a fight's peak size.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl Queue {
    pub fn clear(&mut self) {
        self.heap.clear();
        self.seq = 0;
    }

    #[inline]
    pub fn push(&mut self, time: u64, ev: Ev) {
        self.seq = (self.seq + 1) & SEQ_MASK;
        self.heap.push(Entry {
            key: time << SEQ_BITS | self.seq,
            ev,
        });
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(u64, Ev)> {
        self.heap.pop().map(|e| (e.key >> SEQ_BITS, e.ev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
