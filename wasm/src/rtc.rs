//! The WebRTC glue: one [`Conn`] is one `RTCPeerConnection` with one ordered, reliable data
//! channel labelled `rumor` to one remote peer.
//!
//! The offerer creates the channel before its offer; the answerer takes it from
//! `ondatachannel` (in-band, not negotiated: see docs/signaling.md). ICE candidates trickle
//! out as they are gathered; remote candidates that arrive before the remote description is
//! set are queued and added right after it. Everything a connection learns goes to the
//! driver as a [`ConnEvent`] tagged with the connection's id, so the driver can ignore
//! events of a connection it already replaced.
//!
//! Every JS callback is a `Closure` owned by the `Conn`: dropping the `Conn` unhooks them,
//! closes the channel and the peer connection, and frees the closures.

use std::rc::Rc;

use js_sys::{Reflect, Uint8Array};
use rumor_core::PeerId;
use rumor_signal_proto::{PeerSignal, DATA_CHANNEL_LABEL};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MessageEvent, RtcConfiguration, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelState,
    RtcDataChannelType, RtcIceCandidateInit, RtcPeerConnection, RtcPeerConnectionIceEvent,
    RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit,
};

/// What a connection reports to the driver.
pub enum ConnEvent {
    /// Send this to the remote peer through signaling.
    Signal(PeerSignal),
    /// The answerer received the offerer's data channel.
    Channel(RtcDataChannel),
    /// The remote description is set: queued candidates can be added.
    RemoteSet,
    /// The data channel is open.
    Open,
    /// A message arrived on the data channel.
    Message(Vec<u8>),
    /// The connection failed or closed (or a WebRTC call on it failed).
    Closed,
}

/// Where a connection reports: `(peer, connection id, event)`.
pub type Report = Rc<dyn Fn(PeerId, u64, ConnEvent)>;

type Handler = Closure<dyn FnMut(JsValue)>;

/// One WebRTC connection to one peer; see the module docs.
pub struct Conn {
    /// Unique among this driver's connections.
    pub id: u64,
    /// The session number of this attempt (chosen by the offerer).
    pub session: u64,
    /// This side sent the offer.
    pub offerer: bool,
    /// The data channel opened.
    pub open: bool,
    /// The node asked to dial this peer and has not been told the outcome.
    pub dialed: bool,
    /// When (driver milliseconds) an attempt that has not opened is given up.
    pub deadline: u64,
    peer: PeerId,
    pc: RtcPeerConnection,
    dc: Option<RtcDataChannel>,
    remote_set: bool,
    queued: Vec<RtcIceCandidateInit>,
    report: Report,
    pc_handlers: Vec<Handler>,
    dc_handlers: Vec<Handler>,
}

impl Conn {
    /// Starts an attempt: creates the peer connection and, as the offerer, the channel and
    /// the offer (sent when ready).
    pub fn new(
        ice_servers: &JsValue,
        peer: PeerId,
        id: u64,
        session: u64,
        offerer: bool,
        deadline: u64,
        report: Report,
    ) -> Result<Conn, JsValue> {
        let config = RtcConfiguration::new();
        config.set_ice_servers(ice_servers);
        let pc = RtcPeerConnection::new_with_configuration(&config)?;
        let mut conn = Conn {
            id,
            session,
            offerer,
            open: false,
            dialed: false,
            deadline,
            peer,
            pc,
            dc: None,
            remote_set: false,
            queued: Vec::new(),
            report,
            pc_handlers: Vec::new(),
            dc_handlers: Vec::new(),
        };
        conn.hook_pc();
        if offerer {
            let dc = conn.pc.create_data_channel(DATA_CHANNEL_LABEL);
            conn.attach(dc);
            let (pc, report) = (conn.pc.clone(), conn.report.clone());
            spawn_local(async move {
                match local_description(&pc, RtcSdpType::Offer).await {
                    Ok(sdp) => report(
                        peer,
                        id,
                        ConnEvent::Signal(PeerSignal::Offer { session, sdp }),
                    ),
                    Err(_) => report(peer, id, ConnEvent::Closed),
                }
            });
        }
        Ok(conn)
    }

    fn hook_pc(&mut self) {
        let (peer, id, session) = (self.peer, self.id, self.session);
        let report = self.report.clone();
        let on_candidate = Handler::new(move |ev: JsValue| {
            let Ok(ev) = ev.dyn_into::<RtcPeerConnectionIceEvent>() else {
                return;
            };
            let Some(c) = ev.candidate() else {
                return; // end of candidates
            };
            let candidate = c.candidate();
            if candidate.is_empty() {
                return;
            }
            report(
                peer,
                id,
                ConnEvent::Signal(PeerSignal::Candidate {
                    session,
                    candidate,
                    sdp_mid: c.sdp_mid(),
                    sdp_mline_index: c.sdp_m_line_index(),
                }),
            );
        });
        self.pc
            .set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));

        let (report, pc) = (self.report.clone(), self.pc.clone());
        let on_state = Handler::new(move |_ev: JsValue| {
            if matches!(
                pc.connection_state(),
                RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
            ) {
                report(peer, id, ConnEvent::Closed);
            }
        });
        self.pc
            .set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));

        let report = self.report.clone();
        let on_channel = Handler::new(move |ev: JsValue| {
            if let Ok(ev) = ev.dyn_into::<RtcDataChannelEvent>() {
                let dc = ev.channel();
                if dc.label() == DATA_CHANNEL_LABEL {
                    report(peer, id, ConnEvent::Channel(dc));
                } else {
                    dc.close();
                }
            }
        });
        self.pc
            .set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
        self.pc_handlers = vec![on_candidate, on_state, on_channel];
    }

    /// Takes `dc` as this connection's data channel and hooks its events.
    pub fn attach(&mut self, dc: RtcDataChannel) {
        if let Some(old) = self.dc.take() {
            unhook_dc(&old);
            old.close();
        }
        dc.set_binary_type(RtcDataChannelType::Arraybuffer);
        let (peer, id) = (self.peer, self.id);
        let report = self.report.clone();
        let on_open = Handler::new(move |_| report(peer, id, ConnEvent::Open));
        let report = self.report.clone();
        let on_message = Handler::new(move |ev: JsValue| {
            if let Ok(ev) = ev.dyn_into::<MessageEvent>() {
                let data = ev.data();
                if data.is_instance_of::<js_sys::ArrayBuffer>() {
                    report(
                        peer,
                        id,
                        ConnEvent::Message(Uint8Array::new(&data).to_vec()),
                    );
                }
            }
        });
        let report = self.report.clone();
        let on_close = Handler::new(move |_| report(peer, id, ConnEvent::Closed));
        dc.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        dc.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        dc.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        dc.set_onerror(Some(on_close.as_ref().unchecked_ref()));
        let already_open = dc.ready_state() == RtcDataChannelState::Open;
        self.dc = Some(dc);
        self.dc_handlers = vec![on_open, on_message, on_close];
        if already_open {
            let (report, peer, id) = (self.report.clone(), self.peer, self.id);
            spawn_local(async move { report(peer, id, ConnEvent::Open) });
        }
    }

    /// Answers the offer `sdp` (the answer is sent when ready).
    pub fn accept_offer(&self, sdp: String) {
        let (pc, report, peer, id, session) = (
            self.pc.clone(),
            self.report.clone(),
            self.peer,
            self.id,
            self.session,
        );
        spawn_local(async move {
            let result = async {
                set_remote(&pc, RtcSdpType::Offer, &sdp).await?;
                report(peer, id, ConnEvent::RemoteSet);
                local_description(&pc, RtcSdpType::Answer).await
            }
            .await;
            match result {
                Ok(sdp) => report(
                    peer,
                    id,
                    ConnEvent::Signal(PeerSignal::Answer { session, sdp }),
                ),
                Err(_) => report(peer, id, ConnEvent::Closed),
            }
        });
    }

    /// Takes an answer or a candidate from the remote peer (for this session).
    pub fn remote(&mut self, signal: PeerSignal) {
        match signal {
            PeerSignal::Answer { sdp, .. } if self.offerer && !self.remote_set => {
                let (pc, report, peer, id) =
                    (self.pc.clone(), self.report.clone(), self.peer, self.id);
                spawn_local(async move {
                    match set_remote(&pc, RtcSdpType::Answer, &sdp).await {
                        Ok(()) => report(peer, id, ConnEvent::RemoteSet),
                        Err(_) => report(peer, id, ConnEvent::Closed),
                    }
                });
            }
            PeerSignal::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
                ..
            } => {
                let init = RtcIceCandidateInit::new(&candidate);
                init.set_sdp_mid(sdp_mid.as_deref());
                init.set_sdp_m_line_index(sdp_mline_index);
                if self.remote_set {
                    self.add_candidate(init);
                } else if self.queued.len() < 64 {
                    self.queued.push(init);
                }
            }
            _ => {}
        }
    }

    /// Whether the other side's description (its answer, for the offerer) was applied.
    pub fn answered(&self) -> bool {
        self.remote_set
    }

    /// The remote description is set: adds the queued candidates.
    pub fn remote_set(&mut self) {
        self.remote_set = true;
        for init in std::mem::take(&mut self.queued) {
            self.add_candidate(init);
        }
    }

    fn add_candidate(&self, init: RtcIceCandidateInit) {
        let promise = self
            .pc
            .add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init));
        // A candidate ICE cannot use is not fatal: others may work.
        spawn_local(async move {
            let _ = JsFuture::from(promise).await;
        });
    }

    /// Sends one message; `false` if the channel refused it (it is closing or broken).
    pub fn send(&self, bytes: &[u8]) -> bool {
        match &self.dc {
            Some(dc) if self.open => dc.send_with_u8_array(bytes).is_ok(),
            _ => false,
        }
    }

    /// Starts a graceful close: the channel closes after what was queued on it left. The
    /// driver drops the `Conn` when the close is reported (or after a bounded wait).
    pub fn close_gracefully(&self) {
        match &self.dc {
            Some(dc) => dc.close(),
            None => self.pc.close(),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(dc) = self.dc.take() {
            unhook_dc(&dc);
            dc.close();
        }
        self.pc.set_onicecandidate(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.set_ondatachannel(None);
        self.pc.close();
    }
}

fn unhook_dc(dc: &RtcDataChannel) {
    dc.set_onopen(None);
    dc.set_onmessage(None);
    dc.set_onclose(None);
    dc.set_onerror(None);
}

/// Creates an offer or answer, sets it as the local description and returns its SDP.
async fn local_description(pc: &RtcPeerConnection, kind: RtcSdpType) -> Result<String, JsValue> {
    let promise = match kind {
        RtcSdpType::Offer => pc.create_offer(),
        _ => pc.create_answer(),
    };
    let desc = JsFuture::from(promise).await?;
    let sdp = Reflect::get(&desc, &JsValue::from_str("sdp"))?
        .as_string()
        .unwrap_or_default();
    let init = RtcSessionDescriptionInit::new(kind);
    init.set_sdp(&sdp);
    JsFuture::from(pc.set_local_description(&init)).await?;
    Ok(sdp)
}

async fn set_remote(pc: &RtcPeerConnection, kind: RtcSdpType, sdp: &str) -> Result<(), JsValue> {
    let init = RtcSessionDescriptionInit::new(kind);
    init.set_sdp(sdp);
    JsFuture::from(pc.set_remote_description(&init)).await?;
    Ok(())
}
