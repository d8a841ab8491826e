//! The transition graph of one state machine scope, for the reachability checks.
//!
//! States are numbered in definition order and edges are index lists, so both checks are
//! one linear traversal each: forward from `StartAt` ("is every state reachable?") and
//! backward from the terminal states ("can every state reach an end?"). The backward walk
//! over reversed edges matters: re-scanning every edge until nothing changes costs a pass
//! per chain link, which made a 20,000-state chain take most of a minute to validate.

use std::collections::HashMap;

/// States by index, their successors and which of them end the scope.
pub(super) struct Graph<'a> {
    index: HashMap<&'a str, usize>,
    successors: Vec<Vec<usize>>,
    terminal: Vec<bool>,
}

impl<'a> Graph<'a> {
    /// A graph over `names` (in definition order), without edges yet.
    pub(super) fn new(names: impl Iterator<Item = &'a str>) -> Self {
        let index: HashMap<&str, usize> = names.enumerate().map(|(i, n)| (n, i)).collect();
        let n = index.len();
        Self {
            index,
            successors: vec![Vec::new(); n],
            terminal: vec![false; n],
        }
    }

    /// The index of state `name`, if it is one.
    pub(super) fn index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Records the successors of state `i` (names that are not states are left out: the
    /// validator reports them where they are written) and whether it is terminal.
    pub(super) fn set(&mut self, i: usize, successors: &[String], terminal: bool) {
        let targets: Vec<usize> = successors.iter().filter_map(|s| self.index(s)).collect();
        if let Some(slot) = self.successors.get_mut(i) {
            *slot = targets;
        }
        if let Some(slot) = self.terminal.get_mut(i) {
            *slot = terminal;
        }
    }

    /// Per state, whether it can be reached from state `start`.
    pub(super) fn reachable_from(&self, start: usize) -> Vec<bool> {
        walk(&self.successors, [start].into_iter())
    }

    /// Per state, whether some path leads from it to a terminal state.
    pub(super) fn can_reach_terminal(&self) -> Vec<bool> {
        let mut predecessors = vec![Vec::new(); self.successors.len()];
        for (from, succ) in self.successors.iter().enumerate() {
            for &to in succ {
                predecessors[to].push(from);
            }
        }
        let ends = self
            .terminal
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.then_some(i));
        walk(&predecessors, ends)
    }
}

/// Marks every node reachable from `roots` along `edges` (iterative, so a long chain cannot
/// overflow the stack).
fn walk(edges: &[Vec<usize>], roots: impl Iterator<Item = usize>) -> Vec<bool> {
    let mut seen = vec![false; edges.len()];
    let mut stack: Vec<usize> = roots.collect();
    while let Some(n) = stack.pop() {
        if seen.get(n).copied().unwrap_or(true) {
            continue;
        }
        seen[n] = true;
        stack.extend(edges[n].iter().copied().filter(|&m| !seen[m]));
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(names: &[&'a str], edges: &[(usize, &[&str], bool)]) -> Graph<'a> {
        let mut g = Graph::new(names.iter().copied());
        for (i, succ, term) in edges {
            let succ: Vec<String> = succ.iter().map(|s| s.to_string()).collect();
            g.set(*i, &succ, *term);
        }
        g
    }

    #[test]
    fn given_chain_when_walked_then_all_reachable_and_all_end() {
        let g = graph(
            &["A", "B", "C"],
            &[(0, &["B"], false), (1, &["C"], false), (2, &[], true)],
        );
        assert_eq!(g.reachable_from(0), vec![true, true, true]);
        assert_eq!(g.can_reach_terminal(), vec![true, true, true]);
    }

    #[test]
    fn given_loop_and_island_when_walked_then_flagged() {
        // A <-> B loop with no exit; C is terminal but unreachable; dangling names ignored.
        let g = graph(
            &["A", "B", "C"],
            &[
                (0, &["B", "Nope"], false),
                (1, &["A"], false),
                (2, &[], true),
            ],
        );
        assert_eq!(g.reachable_from(0), vec![true, true, false]);
        assert_eq!(g.can_reach_terminal(), vec![false, false, true]);
        assert_eq!(g.index("Nope"), None);
    }
}
