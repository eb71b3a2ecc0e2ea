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

/// A `FindSlot` walk arriving at a member with room: it dials the seeker only once the
/// walk has made enough hops (an over-long `ttl` is capped, so a forged one does not make
/// the walk end here at once or travel for ever); with no other neighbor to pass it to,
/// the walk ends. Its own walk coming back is ignored.
#[test]
fn a_find_slot_walk_ends_at_a_member_with_room_after_its_first_hops() {
    use rumor_core::wire::Message;
    use rumor_core::Output;
    let seeker = ident(40).id();
    let dials = |d: &Drained| {
        d.outputs
            .iter()
            .filter(|o| matches!(o, Output::Dial(p) if *p == seeker))
            .count()
    };
    for (ttl, dialed) in [(255u8, 0), (9, 0), (7, 0), (6, 1), (0, 1)] {
        let mut p = Pair::new();
        let (r, d) = p.send_to_b(&Message::FindSlot { seeker, ttl });
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(dials(&d), dialed, "ttl {ttl}");
        assert!(
            d.transmits().is_empty(),
            "ttl {ttl}: no one else to pass it to"
        );
    }
    let mut p = Pair::new();
    let own = p.b.id();
    let (r, d) = p.send_to_b(&Message::FindSlot {
        seeker: own,
        ttl: 3,
    });
    assert!(r.is_ok());
    assert!(d.outputs.iter().all(|o| !matches!(o, Output::Dial(_))));
}
