//! Browser tests (wasm-bindgen-test in headless Chromium; `cargo xtask test` runs them in
//! a private network namespace). Three drivers in one page connect over real
//! `RTCPeerConnection`s, with signaling handed from driver to driver inside the page.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use rumor_core::{Event, Identity, MemberState, PeerId};
use rumor_signal_proto::PeerSignal;
use wasm_bindgen_futures::spawn_local;
use wasm_bindgen_test::*;

use crate::driver::{Driver, DriverConfig};
use crate::sys;

wasm_bindgen_test_configure!(run_in_browser);

type Registry = Rc<RefCell<BTreeMap<PeerId, Driver>>>;

struct TestNode {
    driver: Driver,
    events: Rc<RefCell<Vec<Event>>>,
}

/// A driver whose signals go, on a microtask, to the driver registered under `to`.
fn node(registry: &Registry, secret: u8) -> TestNode {
    let identity = Identity::from_secret([secret; 32]);
    let from = identity.id();
    let events = Rc::new(RefCell::new(Vec::new()));
    let reg = registry.clone();
    let sink = Rc::new(move |to: PeerId, data: PeerSignal| {
        let reg = reg.clone();
        spawn_local(async move {
            let target = reg.borrow().get(&to).cloned();
            match target {
                Some(d) => d.on_signal(from, data),
                None => {
                    let sender = reg.borrow().get(&from).cloned();
                    if let Some(s) = sender {
                        s.undeliverable(to);
                    }
                }
            }
        });
    });
    let ev = events.clone();
    let driver = Driver::new(
        identity,
        DriverConfig::default(),
        sink,
        Rc::new(move |e| ev.borrow_mut().push(e)),
    );
    registry.borrow_mut().insert(from, driver.clone());
    TestNode { driver, events }
}

/// Polls `cond` every 50 ms for up to `ms`.
async fn wait_for(ms: f64, mut cond: impl FnMut() -> bool) -> bool {
    let start = sys::now_ms();
    while sys::now_ms() - start < ms {
        if cond() {
            return true;
        }
        sys::sleep(50.0).await;
    }
    cond()
}

fn alive(d: &Driver) -> usize {
    d.with(|s| {
        s.node()
            .members()
            .iter()
            .filter(|m| m.state == MemberState::Alive)
            .count()
    })
}

#[wasm_bindgen_test]
async fn three_pages_converge_deliver_and_detect_a_closed_connection() {
    let registry: Registry = Rc::default();
    let a = node(&registry, 1);
    let b = node(&registry, 2);
    let c = node(&registry, 3);
    let a_id = a.driver.id();
    let b_id = b.driver.id();
    for (n, name) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        n.driver.with(|s| {
            let now = s.now();
            s.node().set_meta("name", name, now).unwrap();
            s.node().subscribe("chat", now).unwrap();
        });
    }
    a.driver.with(|s| {
        let now = s.now();
        s.node().join(vec![], now)
    });
    for n in [&b, &c] {
        n.driver.with(|s| {
            let now = s.now();
            s.node().join(vec![a_id], now)
        });
    }

    let converged = wait_for(20_000.0, || {
        [&a, &b, &c].iter().all(|n| alive(&n.driver) == 3)
    })
    .await;
    let counts: Vec<usize> = [&a, &b, &c].iter().map(|n| alive(&n.driver)).collect();
    assert!(
        converged,
        "membership did not converge: alive counts {counts:?}"
    );
    // Everyone sees the others' metadata.
    let names: Vec<String> = b.driver.with(|s| {
        s.node()
            .members()
            .iter()
            .filter_map(|m| m.meta.get("name").cloned())
            .collect()
    });
    assert_eq!(names.len(), 3, "names seen by b: {names:?}");

    // A message published by c reaches a and b once.
    c.driver.with(|s| {
        let now = s.now();
        s.node().publish("chat", b"hello".to_vec(), now).unwrap()
    });
    let got = |n: &TestNode| {
        n.events
            .borrow()
            .iter()
            .filter(|e| matches!(e, Event::Message { topic, data, .. } if topic == "chat" && data == b"hello"))
            .count()
    };
    let delivered = wait_for(10_000.0, || got(&a) == 1 && got(&b) == 1).await;
    assert!(
        delivered,
        "message not delivered: a {} b {}",
        got(&a),
        got(&b)
    );
    assert_eq!(got(&c), 0, "the publisher does not deliver to itself");

    // b vanishes without a goodbye: its connections close; a neighbor of b notices.
    let b_neighbors: Vec<PeerId> = b.driver.with(|s| s.node().neighbors());
    assert!(!b_neighbors.is_empty(), "b has no neighbors");
    registry.borrow_mut().remove(&b_id);
    b.driver.stop();
    let down = |n: &TestNode| {
        n.events
            .borrow()
            .iter()
            .any(|e| matches!(e, Event::NeighborDown(p) if *p == b_id))
    };
    let detected = wait_for(15_000.0, || {
        b_neighbors
            .iter()
            .filter_map(|p| [&a, &c].into_iter().find(|n| n.driver.id() == *p))
            .all(down)
    })
    .await;
    assert!(detected, "no NeighborDown for b at its former neighbors");

    a.driver.stop();
    c.driver.stop();
}

#[wasm_bindgen_test]
fn members_reach_js_with_meta_as_an_object_even_when_empty() {
    let id = Identity::from_secret([9; 32]).id();
    let mut member = rumor_core::Member {
        id,
        incarnation: 0,
        version: 1,
        meta: rumor_core::LiteMap::new(),
        topics: vec!["chat".into()],
        state: MemberState::Alive,
        changed_at: rumor_core::Instant::from_millis(0),
    };
    let meta_of = |m: &rumor_core::Member| {
        let js = crate::convert::to_js(&crate::convert::js_member(m, &id));
        js_sys::Reflect::get(&js, &"meta".into()).unwrap()
    };
    let empty = meta_of(&member);
    assert!(empty.is_object() && !js_sys::Array::is_array(&empty));
    assert_eq!(js_sys::Reflect::own_keys(&empty).unwrap().length(), 0);
    member.meta.insert("name".into(), "n".into());
    let named = meta_of(&member);
    let name = js_sys::Reflect::get(&named, &"name".into()).unwrap();
    assert_eq!(name.as_string().as_deref(), Some("n"));
}

#[wasm_bindgen_test]
async fn urls_are_normalized_or_refused_with_a_reason() {
    use crate::signal::normalize_url;
    assert_eq!(normalize_url("ws://h:1/ws").unwrap(), "ws://h:1/ws");
    assert_eq!(normalize_url("http://h:1").unwrap(), "ws://h:1/ws");
    assert_eq!(normalize_url("https://h").unwrap(), "wss://h/ws");
    assert!(normalize_url("h:1").unwrap_err().contains("expected ws://"));
    assert!(normalize_url("ftp://h").unwrap_err().contains("scheme"));
}

#[wasm_bindgen_test]
fn the_browser_random_source_refills_and_does_not_repeat() {
    use rumor_core::Random;
    // 100 draws take the 32-word buffer through three refills.
    let mut random = sys::CryptoRandom::default();
    let draws: Vec<u64> = (0..100).map(|_| random.next_u64()).collect();
    let mut distinct = draws.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), draws.len(), "a 64-bit draw repeated");
    // Each refill fills every word: no zero words left from the empty buffer.
    assert!(draws.iter().all(|&d| d != 0));
}

#[wasm_bindgen_test]
async fn glare_and_an_unknown_seed_still_connect() {
    let registry: Registry = Rc::default();
    let a = node(&registry, 11);
    let b = node(&registry, 12);
    let c = node(&registry, 13);
    let (a_id, b_id) = (a.driver.id(), b.driver.id());
    let glares_before = crate::driver::GLARES.load(std::sync::atomic::Ordering::Relaxed);
    // a and b join through each other at the same moment: both offer (glare); the higher
    // id's offer wins and both keep the one connection.
    a.driver.with(|s| {
        let now = s.now();
        s.node().join(vec![b_id], now)
    });
    b.driver.with(|s| {
        let now = s.now();
        s.node().join(vec![a_id], now)
    });
    // c's first seed is unknown to the signaling layer: that dial fails at once
    // (undeliverable) and c goes on to a.
    let ghost = Identity::from_secret([99; 32]).id();
    c.driver.with(|s| {
        let now = s.now();
        s.node().join(vec![ghost, a_id], now)
    });
    let connected = wait_for(20_000.0, || {
        [&a, &b, &c].iter().all(|n| alive(&n.driver) == 3)
            && a.driver.with(|s| s.node().neighbors()).contains(&b_id)
            && b.driver.with(|s| s.node().neighbors()).contains(&a_id)
    })
    .await;
    let counts: Vec<usize> = [&a, &b, &c].iter().map(|n| alive(&n.driver)).collect();
    assert!(
        connected,
        "no convergence after glare: alive counts {counts:?}"
    );
    let glares = crate::driver::GLARES.load(std::sync::atomic::Ordering::Relaxed) - glares_before;
    assert!(
        glares >= 1,
        "the offers did not cross (glare seen {glares} times)"
    );
    for n in [&a, &b, &c] {
        n.driver.stop();
    }
}

/// The farewell left with the signaling server (the will) follows the node's record, but is
/// renewed at most once a second however often the application changes its metadata.
#[wasm_bindgen_test]
async fn the_will_follows_the_record_at_most_once_a_second() {
    let registry: Registry = Rc::default();
    let a = node(&registry, 9);
    let wills: Rc<RefCell<Vec<PeerSignal>>> = Rc::default();
    let w = wills.clone();
    a.driver
        .set_will_sink(Rc::new(move |data| w.borrow_mut().push(data)));
    assert_eq!(wills.borrow().len(), 1, "a will as soon as there is a sink");
    a.driver.with(|s| {
        let now = s.now();
        s.node().join(vec![], now)
    });
    for i in 0..20 {
        a.driver.with(|s| {
            let now = s.now();
            s.node().set_meta("n", format!("{i}"), now).unwrap()
        });
    }
    assert_eq!(
        wills.borrow().len(),
        1,
        "20 changes at once renew nothing yet"
    );
    assert!(
        wait_for(3000.0, || wills.borrow().len() == 2).await,
        "renewed by the node's tick after a second"
    );
    sys::sleep(300.0).await;
    assert_eq!(wills.borrow().len(), 2, "one renewal for the 20 changes");
    let current = a.driver.with(|s| s.node().farewell());
    let expected = PeerSignal::farewell(&current);
    assert_eq!(
        wills.borrow()[1],
        expected,
        "the will is the current farewell"
    );
}

/// The browser writes and reads the signaling JSON (no JSON library in the package): the
/// shapes are the documented ones, `None` fields are left out, and a message whose relayed
/// `data` is not a Rumor signal is not taken.
#[wasm_bindgen_test]
fn signaling_json_is_written_and_read_in_the_documented_shape() {
    use crate::signal::{from_json, to_json};
    use rumor_signal_proto::{ClientMessage, ServerMessage};

    let offer = ClientMessage::Signal {
        to: "ab".into(),
        data: PeerSignal::Offer {
            session: 7,
            sdp: "v=0".into(),
        },
    };
    assert_eq!(
        to_json(&offer).unwrap(),
        r#"{"type":"signal","to":"ab","data":{"kind":"offer","session":7,"sdp":"v=0"}}"#
    );
    let candidate = ClientMessage::Will {
        data: PeerSignal::Candidate {
            session: 1,
            candidate: "c".into(),
            sdp_mid: None,
            sdp_mline_index: Some(0),
        },
    };
    assert_eq!(
        to_json(&candidate).unwrap(),
        r#"{"type":"will","data":{"kind":"candidate","session":1,"candidate":"c","sdpMLineIndex":0}}"#
    );

    let answer = r#"{"type":"signal","from":"cd","data":{"sdp":"x","kind":"answer","session":9}}"#;
    assert_eq!(
        from_json(answer),
        Some(ServerMessage::Signal {
            from: "cd".into(),
            data: PeerSignal::Answer {
                session: 9,
                sdp: "x".into()
            }
        })
    );
    let hello = r#"{"type":"hello","version":1,"nonce":"00","features":["will"],"limits":{"max_frame_bytes":65536,"max_msgs_per_sec":50,"burst":100,"handshake_timeout_ms":10000,"idle_timeout_ms":60000}}"#;
    assert!(matches!(
        from_json(hello),
        Some(ServerMessage::Hello { version: 1, ref features, .. }) if features == &["will"]
    ));
    let foreign = r#"{"type":"signal","from":"cd","data":{"a":1}}"#;
    assert_eq!(from_json(foreign), None, "not a Rumor signal");
    assert_eq!(from_json("not json"), None);
    assert_eq!(from_json(r#"{"type":"newer"}"#), None);
}

/// The package's own serde to and from JS values: the shapes the API and the signaling
/// client rely on, and refusals instead of rounded numbers or guessed types.
#[wasm_bindgen_test]
fn js_values_are_written_and_read_in_the_shapes_relied_on() {
    use crate::jsvalue::{from_value, to_value};
    use js_sys::{Array, Reflect, Uint8Array, JSON};
    use wasm_bindgen::{JsCast, JsValue};

    #[derive(serde::Serialize)]
    struct Shape<'a> {
        name: &'a str,
        none: Option<u8>,
        list: Vec<u16>,
        map: BTreeMap<&'a str, bool>,
        bytes: crate::convert::Bytes<'a>,
        unit: (),
    }
    let shape = Shape {
        name: "n",
        none: None,
        list: vec![1, 2],
        map: BTreeMap::from([("k", true)]),
        bytes: crate::convert::Bytes(&[7, 8]),
        unit: (),
    };
    let written = to_value(&shape, &JsValue::NULL).unwrap();
    let get = |key: &str| Reflect::get(&written, &key.into()).unwrap();
    assert!(get("none").is_null(), "None is the given value");
    assert!(Array::is_array(&get("list")));
    let bytes: Uint8Array = get("bytes").dyn_into().expect("bytes as a Uint8Array");
    assert_eq!(bytes.to_vec(), [7, 8]);
    assert_eq!(
        JSON::stringify(&written).unwrap().as_string().unwrap(),
        r#"{"name":"n","none":null,"list":[1,2],"map":{"k":true},"bytes":{"0":7,"1":8},"unit":null}"#
    );
    let without = to_value(&Some(None::<u8>), &JsValue::UNDEFINED).unwrap();
    assert!(without.is_undefined());

    assert!(
        to_value(&(1u64 << 53), &JsValue::NULL).is_err(),
        "would round"
    );
    assert!(to_value(&((1u64 << 53) - 1), &JsValue::NULL).is_ok());
    assert!(
        to_value(&BTreeMap::from([(1u8, 2u8)]), &JsValue::NULL).is_err(),
        "number keys"
    );

    let parsed = JSON::parse(r#"{"a":[1,-2],"b":null,"c":"x","d":1.5}"#).unwrap();
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Read {
        a: Vec<i32>,
        b: Option<String>,
        c: String,
        d: f64,
    }
    assert_eq!(
        from_value::<Read>(parsed).unwrap(),
        Read {
            a: vec![1, -2],
            b: None,
            c: "x".into(),
            d: 1.5
        }
    );
    assert!(
        from_value::<u32>(JsValue::from_f64(1.5)).is_err(),
        "not whole"
    );
    assert!(
        from_value::<String>(JsValue::from_f64(1.0)).is_err(),
        "not text"
    );
    assert!(
        from_value::<u8>(JsValue::from_f64(300.0)).is_err(),
        "out of range"
    );
    let function = js_sys::Function::new_no_args("");
    assert!(from_value::<Vec<u8>>(function.into()).is_err(), "not data");
}

/// A relayed signal is any JSON another member sent: nesting it deep in a field the reader
/// skips must not take the page down (reading recurses per level), only fail the message.
#[wasm_bindgen_test]
fn deeply_nested_signaling_json_is_refused_without_harm() {
    use crate::signal::from_json;
    let nested = |depth: usize| {
        format!(
            r#"{{"type":"signal","from":"cd","data":{{"kind":"answer","session":9,"sdp":"x","junk":{}1{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    assert!(
        from_json(&nested(2)).is_some(),
        "unknown fields are skipped"
    );
    // With the message and its data, 32 levels in all.
    assert!(from_json(&nested(30)).is_some(), "within the limit");
    assert_eq!(from_json(&nested(31)), None, "beyond the limit");
    for depth in [1_000, 5_000, 60_000] {
        assert_eq!(from_json(&nested(depth)), None, "depth {depth}");
    }
}
