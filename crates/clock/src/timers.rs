//! A small set of named deadlines, for engines that keep a few timers of their own.

use crate::Instant;

/// Deadlines keyed by `K`. Setting a key again moves its deadline.
#[derive(Debug, Clone)]
pub struct Timers<K> {
    entries: Vec<(K, Instant)>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            entries: Vec::new(),
        }
    }
}

impl<K: PartialEq + Copy> Timers<K> {
    pub fn set(&mut self, key: K, at: Instant) {
        self.cancel(key);
        self.entries.push((key, at));
    }

    pub fn cancel(&mut self, key: K) {
        self.entries.retain(|(k, _)| *k != key);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn deadline(&self, key: K) -> Option<Instant> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, t)| *t)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.entries.iter().map(|(_, t)| *t).min()
    }

    /// Removes and returns the earliest timer due at or before `now` (ties: the one set first).
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let (index, _) = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, (_, t))| *t <= now)
            .min_by_key(|(i, (_, t))| (*t, *i))?;
        Some(self.entries.remove(index).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_unix_millis(ms)
    }

    #[test]
    fn due_timers_pop_in_deadline_order() {
        let mut timers = Timers::default();
        timers.set('b', t(20));
        timers.set('a', t(10));
        timers.set('c', t(30));
        assert_eq!(timers.next(), Some(t(10)));
        assert_eq!(timers.pop_due(t(25)), Some('a'));
        assert_eq!(timers.pop_due(t(25)), Some('b'));
        assert_eq!(timers.pop_due(t(25)), None);
        assert_eq!(timers.deadline('c'), Some(t(30)));
    }

    #[test]
    fn setting_again_moves_the_deadline() {
        let mut timers = Timers::default();
        timers.set(1, t(10));
        timers.set(1, t(50));
        assert_eq!(timers.pop_due(t(10)), None);
        timers.cancel(1);
        assert_eq!(timers.next(), None);
    }
}
