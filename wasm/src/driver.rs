//! The browser driver of a rumor-core [`Node`]: the node in `Rc<RefCell<..>>`, one drain
//! loop, one re-armed `setTimeout`, and one [`Conn`] per peer.
//!
//! Every entry point (a signal, a connection event, the timer, a command) borrows the
//! node, does its work, drains the node's outputs until `Timeout`, re-arms the timer, and
//! only then — with the borrow released — hands signals to the signaling sink and events to
//! the application, so callbacks may call back into the driver.
//!
//! Connections mirror the native driver (rumor-signal's `driver.rs`): a `Dial` starts an
//! offering [`Conn`]; an offer from a peer starts an answering one. Glare is resolved by
//! `PeerId` order (the higher id's offer wins). An open data channel is `handle_connected`;
//! a connection that ends is `handle_disconnected` if it had opened, `handle_dial_failed`
//! if the node had dialed it and it never opened, and `handle_replaced` if the peer's new
//! offer replaced it while open. An attempt that has not opened by its deadline is given
//! up.

use std::cell::RefCell;
use std::collections::VecDeque;

use litemap::LiteMap;
use std::rc::{Rc, Weak};

use rumor_core::{Config, Event, Identity, Instant, Node, Output, PeerId};
use rumor_signal_proto::{PeerSignal, MEMBERS_MAX_SIGNALS};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;

use crate::rtc::{Conn, ConnEvent, Report};
use crate::sys::{self, Timer};

/// Where the driver sends signals for other peers (the signaling client, or in tests a
/// function that hands them to another driver in the page).
pub type SignalSink = Rc<dyn Fn(PeerId, PeerSignal)>;
/// Where the driver sends the node's events.
pub type EventSink = Rc<dyn Fn(Event)>;
/// Where the driver leaves the node's farewell made in advance (a `PeerSignal::Farewell`,
/// renewed when the node's record changes, at most once a second), for the signaling
/// server to relay if this page vanishes without saying goodbye.
pub type WillSink = Rc<dyn Fn(PeerSignal)>;

/// Offers that crossed one of ours (glare), counted for the tests.
#[cfg(test)]
pub static GLARES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// How long a graceful close may take before the connection is dropped anyway (ms).
const CLOSE_WAIT_MS: u64 = 3_000;
/// The timer is never armed further ahead than this (ms).
const MAX_TIMER_MS: u64 = 3_600_000;

/// Driver settings.
pub struct DriverConfig {
    /// The node's configuration.
    pub node: Config,
    /// `RTCConfiguration.iceServers` (a JS array).
    pub ice_servers: JsValue,
    /// WebRTC connections held at most (offers beyond it are ignored).
    pub max_conns: usize,
    /// An attempt that has not opened after this long is given up (ms).
    pub dial_timeout_ms: u64,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            node: Config::default(),
            ice_servers: js_sys::Array::new().into(),
            max_conns: 64,
            dial_timeout_ms: 15_000,
        }
    }
}

enum Followup {
    Connected(PeerId),
    DialFailed(PeerId),
    Disconnected(PeerId),
    /// The peer replaced its open connection with a new one.
    Replaced(PeerId),
}

/// Connection-level counters, for `room.stats()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnCounts {
    /// Connections whose channel is open.
    pub open: usize,
    /// Attempts in progress.
    pub connecting: usize,
    /// Connections closing gracefully.
    pub closing: usize,
}

/// How the connection attempts the node asked for ended without opening (totals).
#[derive(Debug, Clone, Copy, Default)]
pub struct AttemptFailures {
    /// No answer came within the dial timeout (the offer or the answer was lost or late).
    pub unanswered: u64,
    /// Answered, but the channel did not open within the dial timeout (ICE, DTLS or SCTP
    /// did not finish).
    pub unopened: u64,
    /// The connection closed or failed before its channel opened.
    pub closed: u64,
}

/// Handle to a running driver (cheap to clone).
#[derive(Clone)]
pub struct Driver {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    node: Node,
    epoch: f64,
    config: DriverConfig,
    conns: LiteMap<PeerId, Conn>,
    closing: Vec<Conn>,
    next_conn: u64,
    followups: VecDeque<Followup>,
    signals_out: Vec<(PeerId, PeerSignal)>,
    events_out: Vec<Event>,
    signal_sink: SignalSink,
    event_sink: EventSink,
    node_deadline: u64,
    timer: Option<Timer>,
    timer_at: u64,
    weak: Weak<RefCell<Inner>>,
    stopped: bool,
    /// Where a farewell made in advance goes (the signaling server's will), if anywhere.
    will_sink: Option<WillSink>,
    failures: AttemptFailures,
}

impl Driver {
    /// A driver for a new node with `identity`, its random choices from
    /// `crypto.getRandomValues`.
    pub fn new(
        identity: Identity,
        config: DriverConfig,
        signal_sink: SignalSink,
        event_sink: EventSink,
    ) -> Driver {
        let node = Node::with_random(
            identity,
            config.node.clone(),
            Box::new(sys::CryptoRandom::default()),
            Instant::ZERO,
        );
        let inner = Rc::new_cyclic(|weak| {
            RefCell::new(Inner {
                node,
                epoch: sys::now_ms(),
                config,
                conns: LiteMap::new(),
                closing: Vec::new(),
                next_conn: 0,
                followups: VecDeque::new(),
                signals_out: Vec::new(),
                events_out: Vec::new(),
                signal_sink,
                event_sink,
                node_deadline: u64::MAX,
                timer: None,
                timer_at: u64::MAX,
                weak: weak.clone(),
                stopped: false,
                will_sink: None,
                failures: AttemptFailures::default(),
            })
        });
        Driver { inner }
    }

    /// From now on, keeps a farewell made in advance with `sink` (see [`WillSink`]).
    pub fn set_will_sink(&self, sink: WillSink) {
        run(&self.inner, |i| i.will_sink = Some(sink));
    }

    /// Runs `f` on the driver, drains, then delivers signals and events.
    pub fn with<R>(&self, f: impl FnOnce(&mut DriverState<'_>) -> R) -> R {
        run(&self.inner, |inner| f(&mut DriverState { inner }))
    }

    /// This node's id.
    pub fn id(&self) -> PeerId {
        self.inner.borrow().node.id()
    }

    /// A signal relayed from `from`.
    pub fn on_signal(&self, from: PeerId, signal: PeerSignal) {
        run(&self.inner, |i| i.on_signal(from, signal));
    }

    /// The signaling server could not deliver our signal to `peer`.
    pub fn undeliverable(&self, peer: PeerId) {
        run(&self.inner, |i| {
            if i.conns.get(&peer).is_some_and(|c| !c.open) {
                i.drop_conn(peer);
            }
        });
    }

    /// Graceful leave: the node says goodbye and hangs up; channels close after flushing.
    /// Its farewell also goes through the signaling server to its neighbors and to
    /// `contact` (the server's seed peer): a closing tab may die before its channels flush.
    pub fn leave(&self, contact: Option<PeerId>) {
        run(&self.inner, |i| {
            let now = i.now();
            let mut to = i.node.neighbors();
            i.node.leave(now);
            to.extend(contact.filter(|c| !to.contains(c)));
            let data = PeerSignal::farewell(&i.node.farewell());
            i.signals_out
                .extend(to.into_iter().map(|peer| (peer, data.clone())));
        });
        run(&self.inner, |i| {
            let peers: Vec<PeerId> = i.conns.keys().copied().collect();
            for peer in peers {
                i.close_conn(peer);
            }
        });
    }

    /// Stops at once: every connection is closed without goodbye, the timer cancelled,
    /// and nothing more is processed.
    pub fn stop(&self) {
        let Ok(mut i) = self.inner.try_borrow_mut() else {
            // Called from inside the driver (cannot happen through the JS API): retry
            // once the driver is free.
            let driver = self.clone();
            spawn_local(async move { driver.stop() });
            return;
        };
        i.stopped = true;
        i.timer = None;
        i.conns.clear();
        i.closing.clear();
        i.followups.clear();
    }
}

/// What a command sees while it holds the driver.
pub struct DriverState<'a> {
    inner: &'a mut Inner,
}

impl DriverState<'_> {
    /// The node.
    pub fn node(&mut self) -> &mut Node {
        &mut self.inner.node
    }

    /// The driver's current time.
    pub fn now(&self) -> Instant {
        self.inner.now()
    }

    /// Connection counters.
    pub fn conn_counts(&self) -> ConnCounts {
        let open = self.inner.conns.values().filter(|c| c.open).count();
        ConnCounts {
            open,
            connecting: self.inner.conns.len() - open,
            closing: self.inner.closing.len(),
        }
    }

    /// How the node's connection attempts that never opened ended.
    pub fn attempt_failures(&self) -> AttemptFailures {
        self.inner.failures
    }

    /// True once [`Driver::stop`] ran.
    pub fn stopped(&self) -> bool {
        self.inner.stopped
    }
}

/// Borrows the driver, runs `f`, releases the borrow, then [`settle`]s.
fn run<R>(cell: &Rc<RefCell<Inner>>, f: impl FnOnce(&mut Inner) -> R) -> R {
    let result = f(&mut cell.borrow_mut());
    settle(cell);
    result
}

/// Drains the node, releases the borrow, then delivers what came out. Not generic, so
/// that the package holds one copy of it rather than one per command.
#[inline(never)]
fn settle(cell: &Rc<RefCell<Inner>>) {
    let (signals, events, signal_sink, event_sink, will) = {
        let mut inner = cell.borrow_mut();
        if !inner.stopped {
            inner.drain();
        }
        let will = inner.renew_will();
        (
            std::mem::take(&mut inner.signals_out),
            std::mem::take(&mut inner.events_out),
            inner.signal_sink.clone(),
            inner.event_sink.clone(),
            will,
        )
    };
    for (to, data) in signals {
        signal_sink(to, data);
    }
    if let Some((sink, data)) = will {
        sink(data);
    }
    for event in events {
        event_sink(event);
    }
}

/// Runs `f` on the driver behind `weak` now, or on a microtask if it is busy (a JS
/// callback that fired while the driver was borrowed).
fn dispatch(weak: &Weak<RefCell<Inner>>, f: impl FnOnce(&mut Inner) + 'static) {
    dispatch_boxed(weak, Box::new(f));
}

/// [`dispatch`] for one closure type: one copy of the microtask's future in the package.
fn dispatch_boxed(weak: &Weak<RefCell<Inner>>, f: Box<dyn FnOnce(&mut Inner)>) {
    let Some(cell) = weak.upgrade() else {
        return;
    };
    if cell.try_borrow_mut().is_ok() {
        run(&cell, f);
    } else {
        spawn_local(async move { run(&cell, f) });
    }
}

impl Inner {
    /// A new farewell for the will sink when the node has one due ([`Node::poll_will`]:
    /// on a record change, at most once a second; the node's periodic tick brings the
    /// driver back here for one held back).
    fn renew_will(&mut self) -> Option<(WillSink, PeerSignal)> {
        let sink = self.will_sink.clone()?;
        if self.stopped {
            return None;
        }
        let now = self.now();
        let farewell = self.node.poll_will(now)?;
        Some((sink, PeerSignal::farewell(&farewell)))
    }

    fn now(&self) -> Instant {
        Instant::from_millis((sys::now_ms() - self.epoch).max(0.0) as u64)
    }

    fn report(&self) -> Report {
        let weak = self.weak.clone();
        Rc::new(move |peer, id, event| {
            dispatch(&weak, move |i| i.on_conn_event(peer, id, event));
        })
    }

    fn on_signal(&mut self, from: PeerId, signal: PeerSignal) {
        if self.stopped || self.node.has_left() {
            return;
        }
        match signal {
            PeerSignal::Offer { session, sdp } => self.on_offer(from, session, sdp),
            PeerSignal::Answer { session, .. } | PeerSignal::Candidate { session, .. } => {
                if let Some(c) = self.conns.get_mut(&from) {
                    if c.session == session {
                        c.remote(signal);
                    }
                }
            }
            PeerSignal::Farewell { .. } => {
                if let Some(bytes) = signal.farewell_bytes() {
                    let now = self.now();
                    let _ = self.node.handle_farewell(&bytes, now);
                }
            }
            PeerSignal::Members { .. } => {
                if let Some(bytes) = signal.members_bytes() {
                    let now = self.now();
                    let _ = self.node.handle_member_snapshot(&bytes, now);
                }
            }
        }
    }

    fn on_offer(&mut self, from: PeerId, session: u64, sdp: String) {
        if !self.conns.contains_key(&from) {
            // A newcomer (no connection yet, not a live member) gets the member table
            // through the server at once, ahead of the connection being set up.
            for bytes in self.node.member_snapshot(&from, MEMBERS_MAX_SIGNALS) {
                self.signals_out.push((from, PeerSignal::members(&bytes)));
            }
        }
        let mut dialed = false;
        if let Some(c) = self.conns.get(&from) {
            if c.session == session {
                return; // duplicate
            }
            if c.offerer && !c.open {
                #[cfg(test)]
                GLARES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if self.node.id() > from {
                    return; // glare: our offer wins; they will answer it
                }
                dialed = c.dialed; // glare: theirs wins and satisfies our dial
                self.conns.remove(&from);
            } else if c.open {
                // The peer dialed again over an open connection (it restarted, or gave up
                // on this one): it has just shown it is alive, so the node hears that the
                // connection was replaced, not lost (which would make it suspect the peer).
                self.conns.remove(&from);
                self.followups.push_back(Followup::Replaced(from));
            } else {
                // A new connection replaces one that never opened.
                self.drop_conn(from);
            }
        } else if self.conns.len() >= self.config.max_conns {
            return;
        }
        let id = self.next_id();
        let deadline = self.now().as_millis() + self.config.dial_timeout_ms;
        match Conn::new(
            &self.config.ice_servers,
            from,
            id,
            session,
            false,
            deadline,
            self.report(),
        ) {
            Ok(mut conn) => {
                conn.dialed = dialed;
                conn.accept_offer(sdp);
                self.conns.insert(from, conn);
            }
            Err(_) if dialed => self.followups.push_back(Followup::DialFailed(from)),
            Err(_) => {}
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    /// Forgets the connection to `peer` (closing it at once) and tells the node.
    fn drop_conn(&mut self, peer: PeerId) {
        if let Some(c) = self.conns.remove(&peer) {
            if c.open {
                self.followups.push_back(Followup::Disconnected(peer));
            } else if c.dialed {
                self.followups.push_back(Followup::DialFailed(peer));
            }
        }
    }

    /// Closes the connection to `peer` gracefully (after what was sent on it left).
    fn close_conn(&mut self, peer: PeerId) {
        if let Some(mut c) = self.conns.remove(&peer) {
            c.close_gracefully();
            c.deadline = self.now().as_millis() + CLOSE_WAIT_MS;
            self.closing.push(c);
        }
    }

    fn on_conn_event(&mut self, peer: PeerId, id: u64, event: ConnEvent) {
        if self.stopped {
            return;
        }
        if matches!(event, ConnEvent::Closed) {
            self.closing.retain(|c| c.id != id);
        }
        let Some(c) = self.conns.get_mut(&peer) else {
            return;
        };
        if c.id != id {
            return; // a replaced connection
        }
        match event {
            ConnEvent::Signal(signal) => self.signals_out.push((peer, signal)),
            ConnEvent::Channel(dc) => c.attach(dc),
            ConnEvent::RemoteSet => c.remote_set(),
            ConnEvent::Open => {
                if !c.open {
                    c.open = true;
                    c.dialed = false;
                    self.followups.push_back(Followup::Connected(peer));
                }
            }
            ConnEvent::Message(bytes) => {
                let now = self.now();
                // An Err means the node refused the bytes and changed nothing.
                let _ = self.node.handle_message(peer, &bytes, now);
            }
            ConnEvent::Closed => {
                if !c.open && c.dialed {
                    self.failures.closed += 1;
                }
                self.drop_conn(peer)
            }
        }
    }

    fn on_timer(&mut self) {
        let now = self.now();
        self.node.handle_timeout(now);
        let ms = now.as_millis();
        let expired: Vec<(PeerId, bool, bool)> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.open && c.deadline <= ms)
            .map(|(p, c)| (*p, c.dialed, c.answered()))
            .collect();
        for (peer, dialed, answered) in expired {
            match (dialed, answered) {
                (true, false) => self.failures.unanswered += 1,
                (true, true) => self.failures.unopened += 1,
                (false, _) => {}
            }
            self.drop_conn(peer);
        }
        self.closing.retain(|c| c.deadline > ms);
    }

    fn drain(&mut self) {
        loop {
            while let Some(out) = self.node.poll_output() {
                match out {
                    Output::Transmit { to, bytes } => {
                        let sent = self.conns.get(&to).is_some_and(|c| c.send(&bytes));
                        if !sent && self.conns.get(&to).is_some_and(|c| c.open) {
                            self.drop_conn(to); // the channel refused: it is broken
                        }
                    }
                    Output::Dial(peer) => self.dial(peer),
                    Output::Hangup(peer) => self.close_conn(peer),
                    Output::Event(event) => self.events_out.push(event),
                    Output::Timeout(at) => {
                        self.node_deadline = at.as_millis();
                        break;
                    }
                }
            }
            let Some(f) = self.followups.pop_front() else {
                break;
            };
            let now = self.now();
            match f {
                Followup::Connected(p) => self.node.handle_connected(p, now),
                Followup::DialFailed(p) => self.node.handle_dial_failed(p, now),
                Followup::Disconnected(p) => self.node.handle_disconnected(p, now),
                Followup::Replaced(p) => self.node.handle_replaced(p, now),
            }
        }
        self.arm_timer();
    }

    fn dial(&mut self, peer: PeerId) {
        if let Some(c) = self.conns.get_mut(&peer) {
            if c.open {
                self.followups.push_back(Followup::Connected(peer));
            } else {
                c.dialed = true; // an attempt in progress will do
            }
            return;
        }
        if self.conns.len() >= self.config.max_conns {
            self.followups.push_back(Followup::DialFailed(peer));
            return;
        }
        let id = self.next_id();
        // Below 2^53 so JavaScript peers keep it exact.
        let session = sys::random_u64() >> 11;
        let deadline = self.now().as_millis() + self.config.dial_timeout_ms;
        match Conn::new(
            &self.config.ice_servers,
            peer,
            id,
            session,
            true,
            deadline,
            self.report(),
        ) {
            Ok(mut conn) => {
                conn.dialed = true;
                self.conns.insert(peer, conn);
            }
            Err(_) => self.followups.push_back(Followup::DialFailed(peer)),
        }
    }

    /// Arms the one timer for the earliest of: the node's deadline, an attempt's deadline,
    /// a graceful close's deadline.
    fn arm_timer(&mut self) {
        let now = self.now().as_millis();
        let at = self
            .conns
            .values()
            .filter(|c| !c.open)
            .chain(self.closing.iter())
            .map(|c| c.deadline)
            .fold(self.node_deadline, u64::min)
            .min(now + MAX_TIMER_MS);
        if self.timer.is_some() && at == self.timer_at {
            return;
        }
        self.timer_at = at;
        let weak = self.weak.clone();
        self.timer = Some(Timer::new(at.saturating_sub(now) as f64, move || {
            dispatch(&weak, |i| {
                i.timer = None;
                i.timer_at = u64::MAX;
                i.on_timer();
            });
        }));
    }
}
