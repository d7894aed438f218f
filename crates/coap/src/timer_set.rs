//! The endpoint's timers in time order, kept small while few are set.
//!
//! A device's endpoint has a timer or two at a time (a retransmission, the sweep of its
//! duplicate-detection records), while a B-tree holds at least a whole node of eleven entries
//! once anything is in it, and keeps that node when emptied. So the set is a sorted vector
//! without spare room up to [`FEW`] timers, and a B-tree beyond (a server's endpoint with
//! exchanges in flight with many peers); emptied, it holds no memory. Both orders are the same:
//! the earliest instant first, ties in the timers' own order.

use std::collections::BTreeSet;

/// The most timers kept in the sorted vector.
const FEW: usize = 8;

#[derive(Debug)]
pub(crate) enum TimerSet<T> {
    /// Sorted, without duplicates, at most [`FEW`].
    Few(Vec<T>),
    Many(BTreeSet<T>),
}

impl<T: Ord + Copy> Default for TimerSet<T> {
    fn default() -> Self {
        TimerSet::Few(Vec::new())
    }
}

impl<T: Ord + Copy> TimerSet<T> {
    /// Adds `timer` (nothing changes if it is set already).
    pub(crate) fn insert(&mut self, timer: T) {
        match self {
            TimerSet::Few(timers) => match timers.binary_search(&timer) {
                Ok(_) => {}
                Err(index) if timers.len() < FEW => {
                    timers.reserve_exact(1);
                    timers.insert(index, timer);
                }
                Err(_) => {
                    let mut many: BTreeSet<T> = timers.drain(..).collect();
                    many.insert(timer);
                    *self = TimerSet::Many(many);
                }
            },
            TimerSet::Many(timers) => {
                timers.insert(timer);
            }
        }
    }

    /// Removes `timer`, if set. A B-tree down to a few timers goes back to a vector, and an
    /// emptied vector gives its memory back.
    pub(crate) fn remove(&mut self, timer: &T) {
        match self {
            TimerSet::Few(timers) => {
                if let Ok(index) = timers.binary_search(timer) {
                    timers.remove(index);
                    if timers.is_empty() {
                        *timers = Vec::new();
                    }
                }
            }
            TimerSet::Many(timers) => {
                timers.remove(timer);
                if timers.len() <= FEW / 2 {
                    *self = TimerSet::Few(timers.iter().copied().collect());
                }
            }
        }
    }

    /// The earliest timer.
    pub(crate) fn first(&self) -> Option<&T> {
        match self {
            TimerSet::Few(timers) => timers.first(),
            TimerSet::Many(timers) => timers.first(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(set: &TimerSet<u32>) -> Vec<u32> {
        match set {
            TimerSet::Few(timers) => timers.clone(),
            TimerSet::Many(timers) => timers.iter().copied().collect(),
        }
    }

    #[test]
    fn timers_come_in_order_through_growth_and_shrinking() {
        let mut set = TimerSet::default();
        let mut model = BTreeSet::new();
        // A fixed shuffle of 0..40, with repeats.
        let timers: Vec<u32> = (0..60).map(|i| (i * 17 + 5) % 40).collect();
        for &t in &timers {
            set.insert(t);
            model.insert(t);
            assert_eq!(contents(&set), model.iter().copied().collect::<Vec<_>>());
        }
        assert!(matches!(set, TimerSet::Many(_)));
        for &t in timers.iter().rev() {
            assert_eq!(set.first(), model.first());
            set.remove(&t);
            model.remove(&t);
            assert_eq!(contents(&set), model.iter().copied().collect::<Vec<_>>());
        }
        assert!(set.first().is_none());
    }

    #[test]
    fn a_few_timers_take_only_their_room_and_none_once_gone() {
        let mut set = TimerSet::default();
        set.insert(3u32);
        set.insert(1);
        set.insert(3);
        let TimerSet::Few(timers) = &set else {
            panic!("two timers are few");
        };
        assert_eq!((timers.as_slice(), timers.capacity()), (&[1, 3][..], 2));
        set.remove(&1);
        set.remove(&2);
        set.remove(&3);
        let TimerSet::Few(timers) = &set else {
            panic!("none are few");
        };
        assert_eq!(timers.capacity(), 0);
    }
}
