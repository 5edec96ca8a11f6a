//! The order in which the sweep deletes the dead narinfos: referrers before
//! referents (Kahn's topological order), computed once, in memory, from the
//! dead narinfos' references.
//!
//! The garbage collector's safety does not rest on this order: each
//! deleting transaction still applies the referrer rule (see
//! [`crate::gc`]). The order only makes that rule pass for full batches:
//! when a batch comes, the dead narinfos that reference its members were
//! deleted by earlier batches or are in the same one.
//!
//! Dead narinfos on a reference cycle (impossible for real store items, but
//! possible in hand-made data), and what only they reference, get no place
//! in the order; the sweep's final pass deletes them together.

use std::collections::{HashMap, VecDeque};

use crate::{Error, Result};

/// The dead narinfos, each as `(narinfos.id, items.id)`, and their
/// references.
pub(crate) struct DeadGraph {
    /// `narinfos.id` by dense index, ascending.
    ids: Vec<i64>,
    /// Dense index by `items.id`.
    by_item: HashMap<i64, u32>,
    /// Per dense index, the dense indices of the dead narinfos it
    /// references (itself excluded).
    referents: Vec<Vec<u32>>,
    /// Per dense index, how many dead narinfos other than itself reference
    /// it.
    referrers: Vec<u32>,
}

impl DeadGraph {
    /// A graph of the dead narinfos `dead`, `(narinfos.id, items.id)`
    /// pairs, without references yet.
    pub(crate) fn new(mut dead: Vec<(i64, i64)>) -> Result<Self> {
        dead.sort_unstable();
        dead.dedup();
        let n = u32::try_from(dead.len())
            .map_err(|_| Error::Store(format!("{} dead narinfos: too many", dead.len())))?;
        let mut by_item = HashMap::with_capacity(dead.len());
        for (i, &(_, item)) in (0..n).zip(&dead) {
            by_item.insert(item, i);
        }
        Ok(DeadGraph {
            ids: dead.into_iter().map(|(id, _)| id).collect(),
            by_item,
            referents: vec![Vec::new(); n as usize],
            referrers: vec![0; n as usize],
        })
    }

    /// The dead `narinfos.id`s in ascending ranges `(first, last)` of at
    /// most `per` narinfos each, covering them all.
    pub(crate) fn id_ranges(&self, per: usize) -> Vec<(i64, i64)> {
        self.ids
            .chunks(per.max(1))
            .filter_map(|c| Some((*c.first()?, *c.last()?)))
            .collect()
    }

    /// Adds the references of dead narinfo `from` (a `narinfos.id`):
    /// `items`, the referenced item ids separated by commas (as the
    /// database's string aggregate gives them). References to items that
    /// are not dead, and self-references, are left out.
    pub(crate) fn add_references(&mut self, from: i64, items: &str) -> Result<()> {
        let Ok(f) = self.ids.binary_search(&from) else {
            return Ok(());
        };
        let mut targets = Vec::new();
        for item in items.split(',').filter(|s| !s.is_empty()) {
            let item: i64 = item.trim().parse().map_err(|_| {
                Error::Store(format!(
                    "unexpected reference list from the database for narinfo {from}: {items:.80}"
                ))
            })?;
            if let Some(&t) = self.by_item.get(&item) {
                if t as usize != f {
                    targets.push(t);
                }
            }
        }
        targets.sort_unstable();
        targets.dedup();
        for &t in &targets {
            self.referrers[t as usize] += 1;
        }
        self.referents[f].extend(targets);
        Ok(())
    }

    /// The `narinfos.id`s in deletion order: every narinfo after the dead
    /// narinfos that reference it; ties in ascending id order. Narinfos on
    /// a cycle, and what only they reach, are left out.
    pub(crate) fn order(mut self) -> Vec<i64> {
        let mut ready: VecDeque<u32> = (0..self.ids.len())
            .filter(|&i| self.referrers[i] == 0)
            .map(|i| i as u32)
            .collect();
        let mut order = Vec::with_capacity(self.ids.len());
        while let Some(i) = ready.pop_front() {
            order.push(self.ids[i as usize]);
            for t in std::mem::take(&mut self.referents[i as usize]) {
                let r = &mut self.referrers[t as usize];
                *r -= 1;
                if *r == 0 {
                    ready.push_back(t);
                }
            }
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Narinfo ids are 10 × the item id in these tests.
    fn graph(items: &[i64], refs: &[(i64, &str)]) -> Vec<i64> {
        let mut g = DeadGraph::new(items.iter().map(|&i| (10 * i, i)).collect()).unwrap();
        for &(from, list) in refs {
            g.add_references(10 * from, list).unwrap();
        }
        g.order()
    }

    fn position(order: &[i64], id: i64) -> usize {
        order.iter().position(|&x| x == id).unwrap()
    }

    #[test]
    fn referrers_come_first() {
        // 1 -> 2 -> 3, 1 -> 3, 4 -> 3; 5 alone; 2 refers to itself.
        let order = graph(&[1, 2, 3, 4, 5], &[(1, "2,3"), (2, "2,3"), (4, "3")]);
        assert_eq!(order.len(), 5);
        assert!(position(&order, 10) < position(&order, 20));
        assert!(position(&order, 20) < position(&order, 30));
        assert!(position(&order, 40) < position(&order, 30));
        // Ties in id order: 1, 4 and 5 are ready at once.
        assert_eq!(&order[..3], &[10, 40, 50]);
    }

    #[test]
    fn live_items_and_duplicates_are_ignored() {
        // 7 is not dead; 2 is listed twice.
        let order = graph(&[1, 2], &[(1, "7,2,2"), (99, "1")]);
        assert_eq!(order, vec![10, 20]);
    }

    #[test]
    fn cycles_are_left_out_with_what_only_they_reach() {
        // 1 <-> 2 -> 3; 4 -> 3; 5 alone.
        let order = graph(&[1, 2, 3, 4, 5], &[(1, "2"), (2, "1,3"), (4, "3")]);
        assert_eq!(order, vec![40, 50]);
    }

    #[test]
    fn ranges_cover_every_id() {
        let g = DeadGraph::new(vec![(5, 1), (1, 2), (9, 3), (7, 4), (3, 5)]).unwrap();
        assert_eq!(g.id_ranges(2), vec![(1, 3), (5, 7), (9, 9)]);
        assert_eq!(g.id_ranges(10), vec![(1, 9)]);
        assert!(DeadGraph::new(Vec::new()).unwrap().id_ranges(3).is_empty());
    }

    #[test]
    fn a_bad_list_is_an_error() {
        let mut g = DeadGraph::new(vec![(1, 1)]).unwrap();
        assert!(g.add_references(1, "1,x").is_err());
        assert!(g.add_references(1, "").is_ok());
    }
}
