//! The walk's bookkeeping, pure: which nodes of the plan's graph may start, which are done, and
//! which are blocked by a failure upstream. A node starts as soon as every node it needs is
//! done (DAG scheduling, not wave barriers); barrier nodes of the graph are nodes like any
//! other here. The walk (`walk.rs`) only performs the I/O this tells it to.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Waiting,
    Running,
    Done,
    Failed,
}

#[derive(Debug)]
pub(super) struct Schedule {
    /// How many of each node's needs are not done yet.
    waiting: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    mark: Vec<Mark>,
    ready: VecDeque<usize>,
}

impl Schedule {
    /// `needs[n]`: the nodes n waits for; `dependents[n]`: the nodes that wait for n.
    pub fn new(needs: &[Vec<usize>], dependents: Vec<Vec<usize>>) -> Self {
        let waiting: Vec<usize> = needs.iter().map(Vec::len).collect();
        let ready = (0..waiting.len()).filter(|&n| waiting[n] == 0).collect();
        Schedule {
            mark: vec![Mark::Waiting; waiting.len()],
            waiting,
            dependents,
            ready,
        }
    }

    /// The next node whose needs are all done, now counted as running.
    pub fn start(&mut self) -> Option<usize> {
        let node = self.ready.pop_front()?;
        self.mark[node] = Mark::Running;
        Some(node)
    }

    /// A node finished well: the dependents it was the last need of become ready.
    pub fn done(&mut self, node: usize) {
        self.mark[node] = Mark::Done;
        for &d in &self.dependents[node] {
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 && self.mark[d] == Mark::Waiting {
                self.ready.push_back(d);
            }
        }
    }

    /// A node will not finish in this sync (cancelled before it started): nothing after it
    /// starts, and nothing is reported as blocked.
    pub fn drop_node(&mut self, node: usize) {
        self.mark[node] = Mark::Failed;
    }

    /// A node failed: returns every node downstream of it that had not started, now blocked,
    /// in the order they were found.
    pub fn failed(&mut self, node: usize) -> Vec<usize> {
        self.mark[node] = Mark::Failed;
        let mut blocked = Vec::new();
        let mut stack: Vec<usize> = self.dependents[node].clone();
        while let Some(n) = stack.pop() {
            if self.mark[n] != Mark::Waiting {
                continue;
            }
            self.mark[n] = Mark::Failed;
            blocked.push(n);
            stack.extend(self.dependents[n].iter().copied());
        }
        blocked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// needs as (node, [needs]); dependents derived.
    fn schedule(needs: &[&[usize]]) -> Schedule {
        let needs: Vec<Vec<usize>> = needs.iter().map(|n| n.to_vec()).collect();
        let mut dependents = vec![Vec::new(); needs.len()];
        for (n, ns) in needs.iter().enumerate() {
            for &m in ns {
                dependents[m].push(n);
            }
        }
        Schedule::new(&needs, dependents)
    }

    fn drain(s: &mut Schedule) -> Vec<usize> {
        std::iter::from_fn(|| s.start()).collect()
    }

    #[test]
    fn a_node_starts_when_its_own_needs_are_done_not_a_whole_wave() {
        // 0 config, 1 database (needs 0), 2 slow (needs 0), 3 backend (needs 1 only).
        let mut s = schedule(&[&[], &[0], &[0], &[1]]);
        assert_eq!(drain(&mut s), vec![0]);
        s.done(0);
        assert_eq!(drain(&mut s), vec![1, 2]);
        s.done(1);
        assert_eq!(drain(&mut s), vec![3], "3 does not wait for the slow 2");
    }

    #[test]
    fn a_diamond_joins_once_both_sides_are_done() {
        let mut s = schedule(&[&[], &[0], &[0], &[1, 2]]);
        assert_eq!(drain(&mut s), vec![0]);
        s.done(0);
        assert_eq!(drain(&mut s), vec![1, 2]);
        s.done(2);
        assert_eq!(drain(&mut s), Vec::<usize>::new());
        s.done(1);
        assert_eq!(drain(&mut s), vec![3]);
    }

    #[test]
    fn a_failure_blocks_everything_downstream_and_nothing_else() {
        // 0 -> 1 -> 3, 0 -> 2, 4 independent.
        let mut s = schedule(&[&[], &[0], &[0], &[1], &[]]);
        assert_eq!(drain(&mut s), vec![0, 4]);
        s.done(0);
        assert_eq!(drain(&mut s), vec![1, 2]);
        assert_eq!(s.failed(1), vec![3]);
        s.done(2);
        s.done(4);
        assert_eq!(drain(&mut s), Vec::<usize>::new(), "3 never starts");
    }

    #[test]
    fn blocked_nodes_are_reported_once_even_with_two_failed_needs() {
        let mut s = schedule(&[&[], &[], &[0, 1], &[2]]);
        assert_eq!(drain(&mut s), vec![0, 1]);
        assert_eq!(s.failed(0), vec![2, 3]);
        assert_eq!(s.failed(1), Vec::<usize>::new());
    }

    #[test]
    fn a_dropped_node_holds_back_its_dependents_without_blocking_them() {
        let mut s = schedule(&[&[], &[0]]);
        assert_eq!(drain(&mut s), vec![0]);
        s.drop_node(0);
        assert_eq!(drain(&mut s), Vec::<usize>::new());
    }
}
