//! The WebRTC glue: the only module that touches the `webrtc` crate.
//!
//! One [`Conn`] is one `RTCPeerConnection` with one ordered, reliable data channel
//! (label `rumor`) to one remote peer, run by its own tokio task. The offerer creates the
//! channel; the answerer receives it in-band (DCEP).
//!
//! Why not a negotiated channel (`negotiated: true, id: 0` on both sides): with webrtc
//! 0.21.1, a message that reaches the receiving side before it has processed its own SCTP
//! handshake completion is dropped ("data channel not existed") and the channel is then
//! broken for writing ("there already exists a stream with identifier"). The first message
//! of a Rumor connection leaves the moment the channel opens, so this broke many of the
//! connections between native peers in testing. An in-band channel has no such window: the
//! receiver accepts the unknown stream from its DCEP open message.
//!
//! The driver talks to it through [`Conn`]'s methods and hears from it through [`ConnEvent`]s,
//! so another WebRTC stack (str0m) could replace this module without touching the rest.
//!
//! What this module does about the `webrtc` 0.21.1 gotchas (DESIGN §4): it binds one UDP
//! socket per configured address (never a wildcard unless asked), disables multicast DNS,
//! drops remote candidates that are `.local` names or outside the allowed addresses before
//! `add_ice_candidate`, and queues remote candidates until the remote description is set.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rtc::ice::mdns::MulticastDnsMode;
use rumor_core::PeerId;
use rumor_signal_proto::{PeerSignal, DATA_CHANNEL_LABEL};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription, SettingEngineBuilder,
};

/// Where and how WebRTC connections may be made.
#[derive(Debug, Clone)]
pub struct RtcConfig {
    /// Local addresses to bind (one UDP socket each, port chosen by the OS); remote
    /// candidates are accepted only with one of these addresses. An unspecified address
    /// (`0.0.0.0`) binds every interface and accepts any remote address.
    pub ips: Vec<IpAddr>,
    /// STUN server URLs; empty means none.
    pub stun: Vec<String>,
}

impl Default for RtcConfig {
    /// Loopback only, no STUN: what the tests use.
    fn default() -> Self {
        RtcConfig {
            ips: vec![IpAddr::from([127, 0, 0, 1])],
            stun: Vec::new(),
        }
    }
}

impl RtcConfig {
    /// True when a remote candidate line may be given to ICE: not an mDNS `.local` name,
    /// and (unless a wildcard is configured) at one of the configured addresses.
    pub fn accepts_candidate(&self, candidate: &str) -> bool {
        let line = candidate.strip_prefix("candidate:").unwrap_or(candidate);
        // foundation component transport priority address port "typ" type ...
        let Some(address) = line.split_whitespace().nth(4) else {
            return false;
        };
        if address.ends_with(".local") {
            return false;
        }
        let Ok(ip) = address.parse::<IpAddr>() else {
            return false;
        };
        self.ips.iter().any(|a| a.is_unspecified() || *a == ip)
    }
}

/// What a connection reports to its driver.
#[derive(Debug)]
pub enum ConnEvent {
    /// Send this to the remote peer through the signaling server.
    Signal(PeerSignal),
    /// The data channel is open.
    Open,
    /// A message arrived on the data channel.
    Message(Vec<u8>),
    /// The connection is gone (closed, failed, or never came up). Sent once, last.
    Closed,
}

/// A [`ConnEvent`] tagged with its connection.
#[derive(Debug)]
pub struct Tagged {
    /// The remote peer.
    pub peer: PeerId,
    /// The connection's id (unique in its driver).
    pub conn: u64,
    /// What happened.
    pub event: ConnEvent,
}

enum Cmd {
    Remote(PeerSignal),
    Send(Vec<u8>),
    Close,
}

/// Handle to one connection's task. Dropping it closes the connection at once.
#[derive(Debug)]
pub struct Conn {
    cmd: mpsc::UnboundedSender<Cmd>,
    /// The session number shared by the offer, answer and candidates of this connection.
    pub session: u64,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cmd::Remote(_) => "Remote",
            Cmd::Send(_) => "Send",
            Cmd::Close => "Close",
        })
    }
}

/// How a connection starts.
enum Role {
    Offer,
    Answer(String),
}

impl Conn {
    /// Starts a connection that sends an offer for `session`.
    pub fn offer(
        config: &RtcConfig,
        peer: PeerId,
        conn: u64,
        session: u64,
        events: mpsc::UnboundedSender<Tagged>,
    ) -> Conn {
        Self::start(config, peer, conn, session, Role::Offer, events)
    }

    /// Starts a connection that answers the offer `sdp` of `session`.
    pub fn answer(
        config: &RtcConfig,
        peer: PeerId,
        conn: u64,
        session: u64,
        sdp: String,
        events: mpsc::UnboundedSender<Tagged>,
    ) -> Conn {
        Self::start(config, peer, conn, session, Role::Answer(sdp), events)
    }

    fn start(
        config: &RtcConfig,
        peer: PeerId,
        conn: u64,
        session: u64,
        role: Role,
        events: mpsc::UnboundedSender<Tagged>,
    ) -> Conn {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            config: config.clone(),
            peer,
            conn,
            session,
            events,
        };
        tokio::spawn(task.run(role, rx));
        Conn { cmd: tx, session }
    }

    /// Hands an answer or a candidate from the remote peer to the connection.
    pub fn remote(&self, signal: PeerSignal) {
        let _ = self.cmd.send(Cmd::Remote(signal));
    }

    /// Sends one message on the data channel (dropped if the channel is not open).
    pub fn send(&self, bytes: Vec<u8>) {
        let _ = self.cmd.send(Cmd::Send(bytes));
    }

    /// Closes after the messages already handed to [`Conn::send`] went out (bounded wait).
    pub fn close(self) {
        let _ = self.cmd.send(Cmd::Close);
    }
}

/// How long a graceful close waits for queued data to leave.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

struct Task {
    config: RtcConfig,
    peer: PeerId,
    conn: u64,
    session: u64,
    events: mpsc::UnboundedSender<Tagged>,
}

/// What the `webrtc` crate's callbacks tell the task.
enum PcEvent {
    Candidate(RTCIceCandidateInit),
    State(RTCPeerConnectionState),
    Channel(Arc<dyn DataChannel>),
}

struct Handler(mpsc::UnboundedSender<PcEvent>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if event.candidate.address.is_empty() {
            return; // end of candidates
        }
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.0.send(PcEvent::Candidate(init));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.0.send(PcEvent::State(state));
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let _ = self.0.send(PcEvent::Channel(dc));
    }
}

impl Task {
    fn emit(&self, event: ConnEvent) {
        let _ = self.events.send(Tagged {
            peer: self.peer,
            conn: self.conn,
            event,
        });
    }

    async fn run(self, role: Role, cmds: mpsc::UnboundedReceiver<Cmd>) {
        let (pc_tx, pc_rx) = mpsc::unbounded_channel();
        match self.build(pc_tx).await {
            Ok(pc) => {
                let pc: Arc<dyn PeerConnection> = Arc::new(pc);
                if let Err(err) = self.drive(&pc, role, cmds, pc_rx).await {
                    tracing::debug!(peer = %self.peer, "webrtc connection ended: {err}");
                }
                let _ = pc.close().await;
            }
            Err(err) => tracing::warn!(peer = %self.peer, "webrtc connection not built: {err}"),
        }
        self.emit(ConnEvent::Closed);
    }

    async fn build(
        &self,
        pc_tx: mpsc::UnboundedSender<PcEvent>,
    ) -> Result<impl PeerConnection, webrtc::error::Error> {
        let setting = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .with_ice_timeouts(
                Some(Duration::from_secs(4)),
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(2)),
            )
            .build();
        let ice_servers = if self.config.stun.is_empty() {
            Vec::new()
        } else {
            vec![RTCIceServer {
                urls: self.config.stun.clone(),
                ..Default::default()
            }]
        };
        let addrs: Vec<String> = self
            .config
            .ips
            .iter()
            .map(|ip| std::net::SocketAddr::new(*ip, 0).to_string())
            .collect();
        PeerConnectionBuilder::new()
            .with_configuration(
                RTCConfigurationBuilder::new()
                    .with_ice_servers(ice_servers)
                    .build(),
            )
            .with_setting_engine(setting)
            .with_handler(Arc::new(Handler(pc_tx)))
            .with_udp_addrs(addrs)
            .build()
            .await
    }

    async fn drive(
        &self,
        pc: &Arc<dyn PeerConnection>,
        role: Role,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        mut pc_events: mpsc::UnboundedReceiver<PcEvent>,
    ) -> Result<(), webrtc::error::Error> {
        let mut dc: Option<Arc<dyn DataChannel>> = None;
        let mut remote_set = false;
        match role {
            Role::Offer => {
                // Ordered and reliable: the W3C defaults.
                let init = RTCDataChannelInit::default();
                dc = Some(
                    pc.create_data_channel(DATA_CHANNEL_LABEL, Some(init))
                        .await?,
                );
                let offer = pc.create_offer(None).await?;
                pc.set_local_description(offer.clone()).await?;
                self.emit(ConnEvent::Signal(PeerSignal::Offer {
                    session: self.session,
                    sdp: offer.sdp,
                }));
            }
            Role::Answer(sdp) => {
                pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
                    .await?;
                remote_set = true;
                let answer = pc.create_answer(None).await?;
                pc.set_local_description(answer.clone()).await?;
                self.emit(ConnEvent::Signal(PeerSignal::Answer {
                    session: self.session,
                    sdp: answer.sdp,
                }));
            }
        }
        let mut pending: Vec<RTCIceCandidateInit> = Vec::new();
        let mut open = false;
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Remote(PeerSignal::Answer { sdp, .. })) => {
                        if remote_set {
                            continue;
                        }
                        pc.set_remote_description(RTCSessionDescription::answer(sdp)?).await?;
                        remote_set = true;
                        for c in pending.drain(..) {
                            if let Err(err) = pc.add_ice_candidate(c).await {
                                tracing::debug!(peer = %self.peer, "candidate refused: {err}");
                            }
                        }
                    }
                    Some(Cmd::Remote(PeerSignal::Candidate { candidate, sdp_mid, sdp_mline_index, .. })) => {
                        if !self.config.accepts_candidate(&candidate) {
                            tracing::debug!(peer = %self.peer, "dropped remote candidate {candidate}");
                            continue;
                        }
                        let c = RTCIceCandidateInit {
                            candidate,
                            sdp_mid,
                            sdp_mline_index,
                            ..Default::default()
                        };
                        if remote_set {
                            if let Err(err) = pc.add_ice_candidate(c).await {
                                tracing::debug!(peer = %self.peer, "candidate refused: {err}");
                            }
                        } else if pending.len() < 64 {
                            pending.push(c);
                        }
                    }
                    Some(Cmd::Remote(PeerSignal::Offer { .. } | PeerSignal::Farewell { .. } | PeerSignal::Members { .. })) => {}
                    Some(Cmd::Send(bytes)) => {
                        if let (true, Some(dc)) = (open, &dc) {
                            dc.send(BytesMut::from(&bytes[..])).await?;
                        }
                    }
                    Some(Cmd::Close) => {
                        if let Some(dc) = &dc {
                            flush(&**dc).await;
                            let _ = dc.close().await;
                        }
                        return Ok(());
                    }
                    None => return Ok(()),
                },
                ev = pc_events.recv() => match ev {
                    Some(PcEvent::Candidate(init)) => {
                        self.emit(ConnEvent::Signal(PeerSignal::Candidate {
                            session: self.session,
                            candidate: init.candidate,
                            sdp_mid: init.sdp_mid,
                            sdp_mline_index: init.sdp_mline_index,
                        }));
                    }
                    Some(PcEvent::Channel(channel)) => {
                        if dc.is_none() {
                            dc = Some(channel);
                        }
                    }
                    Some(PcEvent::State(state)) => {
                        if matches!(state, RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed) {
                            return Ok(());
                        }
                    }
                    None => return Ok(()),
                },
                ev = poll(&dc) => match ev {
                    Some(DataChannelEvent::OnOpen) => {
                        if !open {
                            open = true;
                            self.emit(ConnEvent::Open);
                        }
                    }
                    Some(DataChannelEvent::OnMessage(msg)) => {
                        self.emit(ConnEvent::Message(msg.data.to_vec()));
                    }
                    Some(DataChannelEvent::OnClose) | None => return Ok(()),
                    Some(_) => {}
                },
            }
        }
    }
}

/// The next event of the data channel, or never while there is none yet.
async fn poll(dc: &Option<Arc<dyn DataChannel>>) -> Option<DataChannelEvent> {
    match dc {
        Some(dc) => dc.poll().await,
        None => std::future::pending().await,
    }
}

/// Waits (bounded) until the data channel has sent what was queued.
async fn flush(dc: &dyn DataChannel) {
    let deadline = tokio::time::Instant::now() + FLUSH_WAIT;
    while tokio::time::Instant::now() < deadline {
        match dc.outstanding_bytes().await {
            Ok(0) | Err(_) => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_filter() {
        let cfg = RtcConfig::default();
        assert!(cfg.accepts_candidate("candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"));
        assert!(!cfg.accepts_candidate("candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host"));
        assert!(!cfg.accepts_candidate("candidate:1 1 udp 2130706431 abc.local 5000 typ host"));
        assert!(!cfg.accepts_candidate("garbage"));
        let any = RtcConfig {
            ips: vec![IpAddr::from([0, 0, 0, 0])],
            stun: vec![],
        };
        assert!(any.accepts_candidate("candidate:1 1 udp 1 192.0.2.7 5000 typ host"));
        assert!(!any.accepts_candidate("candidate:1 1 udp 1 x.local 5000 typ host"));
    }
}
