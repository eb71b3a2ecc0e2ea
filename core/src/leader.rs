//! Leader election without extra messages: the leader is the lowest id among live members
//! (alive or suspected) whose record sets the metadata key [`CANDIDATE_KEY`] to `"1"`.
//! Every node computes it from its own member table, so all nodes agree once membership
//! has converged; after the leader crashes they agree on the next one as soon as the crash
//! is detected. Changes are reported as [`Event::LeaderChanged`].

use crate::event::Event;
use crate::identity::PeerId;
use crate::membership::{Member, MemberState};
use crate::node::{CommandError, Node};
use crate::time::Instant;

/// The metadata key that makes a member a candidate for leader when set to `"1"`.
pub const CANDIDATE_KEY: &str = "candidate";

fn is_candidate(m: &Member) -> bool {
    matches!(m.state, MemberState::Alive | MemberState::Suspect)
        && m.meta.get(CANDIDATE_KEY).is_some_and(|v| v == "1")
}

impl Node {
    /// Makes this node a candidate for leader (or stops it being one); spreads in its
    /// record like any metadata.
    pub fn set_candidate(&mut self, candidate: bool, now: Instant) -> Result<(), CommandError> {
        self.set_meta(CANDIDATE_KEY, if candidate { "1" } else { "0" }, now)
    }

    /// The current leader as this node sees it: the lowest id among live candidates,
    /// itself included; `None` when there is no candidate.
    pub fn leader(&self) -> Option<PeerId> {
        self.leader
    }

    /// Keeps the candidate set current as a member event is emitted.
    pub(crate) fn leader_track(&mut self, event: &Event) {
        let changed = match event {
            Event::MemberJoined(m) | Event::MemberUpdated { member: m, .. } => {
                if is_candidate(m) {
                    self.candidates.insert(m.id)
                } else {
                    self.candidates.remove(&m.id)
                }
            }
            Event::MemberLeft(id) | Event::MemberFailed(id) => self.candidates.remove(id),
            _ => false,
        };
        if changed {
            self.leader_refresh();
        }
    }

    /// Recomputes the leader and reports a change.
    pub(crate) fn leader_refresh(&mut self) {
        let own = !self.left
            && self
                .own
                .meta
                .get(CANDIDATE_KEY)
                .is_some_and(|m| m.value == "1");
        let mut leader = self.candidates.iter().next().copied();
        if own && leader.is_none_or(|l| self.me < l) {
            leader = Some(self.me);
        }
        if leader != self.leader {
            self.leader = leader;
            self.outputs
                .push_back(crate::event::Output::Event(Event::LeaderChanged(leader)));
        }
    }
}
