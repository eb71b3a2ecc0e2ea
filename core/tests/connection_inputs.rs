//! What the node makes of a driver's reports about connections (not messages).

mod support;

use rumor_core::{Event, MemberState};
use support::pair::*;

/// A peer that dials again over an open connection has just shown it is alive: the driver
/// reports the old connection replaced, and the node drops the link without suspecting
/// the peer. Reported as an ordinary disconnection, the same link ends in a suspicion.
#[test]
fn a_connection_replaced_by_the_peer_is_not_a_failure() {
    let mut p = Pair::new();
    let idb = p.b.id();
    p.a.handle_replaced(idb, p.now);
    let d = drain(&mut p.a);
    assert!(
        d.events().contains(&&Event::NeighborDown(idb)),
        "{:?}",
        d.events()
    );
    assert!(
        !d.events()
            .iter()
            .any(|e| matches!(e, Event::MemberSuspected(x) if *x == idb)),
        "{:?}",
        d.events()
    );
    assert_eq!(p.a.member(&idb).unwrap().state, MemberState::Alive);
    assert!(p.a.neighbors().is_empty());
    assert_eq!(p.a.passive_view(), vec![idb], "kept as a candidate");

    let mut q = Pair::new();
    let idb = q.b.id();
    q.a.handle_disconnected(idb, q.now);
    drain(&mut q.a);
    assert_eq!(q.a.member(&idb).unwrap().state, MemberState::Suspect);
}
