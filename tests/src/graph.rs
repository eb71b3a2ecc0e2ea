//! The shape of an overlay as a graph: hop distances over active links, for the tests
//! and benchmarks that check how far a broadcast has to travel.

use std::collections::VecDeque;

use crate::sim::Idx;

/// An undirected graph over simulator indices, built from the links nodes report.
#[derive(Debug, Clone)]
pub struct Graph {
    adj: Vec<Vec<Idx>>,
    nodes: Vec<Idx>,
}

/// Hop distances in a graph, as seen from one node and over all pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverlayShape {
    /// Undirected links (a link listed by one end only counts once).
    pub links: usize,
    /// Nodes of the graph with no path to the node the shape was measured from.
    pub unreachable: usize,
    /// The largest distance from that node to any node it reaches.
    pub eccentricity: u16,
    /// The largest distance between any two connected nodes.
    pub diameter: u16,
    /// The mean distance over all connected ordered pairs.
    pub mean_distance: f64,
}

impl Graph {
    /// The graph of `lists`: each node with the neighbors it lists (`len` bounds the
    /// indices). A link listed by one end only, or twice, counts once, and links to
    /// indices that list nothing themselves are left out.
    pub fn from_lists(len: usize, lists: impl IntoIterator<Item = (Idx, Vec<Idx>)>) -> Self {
        let lists: Vec<(Idx, Vec<Idx>)> = lists.into_iter().collect();
        let mut member = vec![false; len];
        for (i, _) in &lists {
            member[*i] = true;
        }
        let mut adj: Vec<Vec<Idx>> = vec![Vec::new(); len];
        for (a, listed) in &lists {
            for &b in listed {
                if *a != b && member[b] {
                    adj[*a].push(b);
                    adj[b].push(*a);
                }
            }
        }
        for a in &mut adj {
            a.sort_unstable();
            a.dedup();
        }
        Graph {
            adj,
            nodes: lists.into_iter().map(|(i, _)| i).collect(),
        }
    }

    /// Hop distances from `from` to every index (`None` where there is no path).
    pub fn distances(&self, from: Idx) -> Vec<Option<u16>> {
        let mut dist = vec![None; self.adj.len()];
        let mut queue = VecDeque::from([from]);
        dist[from] = Some(0);
        while let Some(u) = queue.pop_front() {
            let next = dist[u].map(|d| d + 1);
            for &v in &self.adj[u] {
                if dist[v].is_none() {
                    dist[v] = next;
                    queue.push_back(v);
                }
            }
        }
        dist
    }

    /// Links, reach and distances, with `from`'s eccentricity (a breadth-first search from
    /// every node: fine for the few thousand nodes of a simulation).
    pub fn shape(&self, from: Idx) -> OverlayShape {
        let links = self.adj.iter().map(Vec::len).sum::<usize>() / 2;
        let from_dist = self.distances(from);
        let unreachable = self
            .nodes
            .iter()
            .filter(|i| from_dist[**i].is_none())
            .count();
        let (mut diameter, mut total, mut pairs) = (0, 0u64, 0u64);
        let mut eccentricity = 0;
        for &i in &self.nodes {
            let mut ecc = 0;
            for d in self.distances(i).into_iter().flatten().filter(|d| *d > 0) {
                total += u64::from(d);
                pairs += 1;
                ecc = ecc.max(d);
            }
            diameter = diameter.max(ecc);
            if i == from {
                eccentricity = ecc;
            }
        }
        OverlayShape {
            links,
            unreachable,
            eccentricity,
            diameter,
            mean_distance: total as f64 / pairs.max(1) as f64,
        }
    }
}

impl std::fmt::Display for OverlayShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} links, {} nodes without a path, eccentricity {}, diameter {}, mean distance {:.2}",
            self.links, self.unreachable, self.eccentricity, self.diameter, self.mean_distance
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_and_a_lone_node() {
        // 0 - 1 - 2 - 3, and 4 on its own; 5 is not in the graph.
        let g = Graph::from_lists(
            6,
            [
                (0, vec![1]),
                (1, vec![2]),
                (2, vec![1, 3]),
                (3, vec![5]),
                (4, vec![]),
            ],
        );
        assert_eq!(
            g.distances(0),
            vec![Some(0), Some(1), Some(2), Some(3), None, None]
        );
        let s = g.shape(1);
        assert_eq!(s.links, 3);
        assert_eq!(s.unreachable, 1);
        assert_eq!(s.eccentricity, 2);
        assert_eq!(s.diameter, 3);
        // Ordered pairs on the path: 2 × (1+2+3 + 1+2 + 1) = 20 over 12 pairs.
        assert!((s.mean_distance - 20.0 / 12.0).abs() < 1e-9);
    }
}
