//! `signal-bench`: capacity of the signaling server over loopback, written to
//! `target/bench/signal.json` (run by `cargo xtask bench`).
//!
//! The server runs in a child process (this binary with `--serve`), so its memory can be
//! read from /proc and each side has its own file-descriptor budget. The load client here:
//!
//! 1. connects `--connections` clients (default 10,000), each joined to a room of 100,
//!    holds them, and reads the server's connection count and resident memory;
//! 2. sends signals between client pairs at a fixed `--rate` (default 1,000/s) for
//!    `--seconds` and records each relay's latency (p50, p99);
//! 3. sends as fast as a window of 64 in flight per pair allows, for the relays per second.
//!
//! Everything is bounded in count and time and talks only to 127.0.0.1.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use rumor_core::Identity;
use rumor_signal::client::{self, Socket};
use rumor_signal::{Config, Server};
use rumor_signal_proto::{ClientMessage, ServerMessage};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

/// Command line of `signal-bench`.
#[derive(Parser)]
#[command(
    name = "signal-bench",
    about = "Signaling server capacity over loopback"
)]
struct Args {
    /// Idle clients to connect and hold at once.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Relays per second for the latency measurement.
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    /// Seconds each relay phase lasts.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Client pairs in the relay phases.
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Where to write the JSON figures.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/signal.json"))]
    out: std::path::PathBuf,
    /// Internal: run the server and print its address (used by the bench itself).
    #[arg(long, hide = true)]
    serve: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Each side holds one descriptor per connection; ask for the hard limit.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).context("raising the fd limit")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.serve {
        return runtime.block_on(serve());
    }
    if (nofile as usize) < args.connections + 100 {
        eprintln!(
            "signal-bench: the fd limit is {nofile}; fewer than {} connections may be held",
            args.connections
        );
    }
    runtime.block_on(bench(args))
}

/// Child mode: a server sized for the bench, no seed peers, until stdin closes.
async fn serve() -> anyhow::Result<()> {
    let config = Config {
        listen: "127.0.0.1:0".parse()?,
        no_seed: true,
        max_connections: 100_000,
        max_rooms: 100_000,
        max_msgs_per_sec: 1_000_000,
        burst: 1_000_000,
        send_queue: 1_024,
        handshake_timeout_ms: 120_000,
        idle_timeout_ms: 600_000,
        ping_interval_ms: 300_000,
        ..Config::default()
    };
    let server = Server::bind(config).await?;
    println!("ADDR {}", server.local_addr());
    server
        .serve(async {
            let mut line = String::new();
            let _ = BufReader::new(tokio::io::stdin())
                .read_line(&mut line)
                .await;
        })
        .await?;
    Ok(())
}

/// Resident memory of `pid` in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn identity(i: u64) -> Identity {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&i.to_le_bytes());
    secret[8] = 0xbe;
    Identity::from_secret(secret)
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the server process")?;
    let pid = child.id().context("server pid")?;
    let mut lines = BufReader::new(child.stdout.take().context("server stdout")?).lines();
    let addr: SocketAddr = loop {
        match tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await {
            Ok(Ok(Some(line))) => {
                if let Some(a) = line.strip_prefix("ADDR ") {
                    break a.parse()?;
                }
            }
            _ => bail!("the server process did not report its address"),
        }
    };
    let url = format!("ws://{addr}/ws");
    let stdin = child.stdin.take();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_idle = rss(pid);

    // 1. Connections held.
    println!(
        "signal-bench: connecting {} clients to {addr}",
        args.connections
    );
    let started = Instant::now();
    let mut held: Vec<Socket> = Vec::with_capacity(args.connections);
    let mut failures = 0usize;
    let mut next = 0usize;
    let batch = 250;
    while next < args.connections && started.elapsed() < Duration::from_secs(180) {
        let end = (next + batch).min(args.connections);
        let joins = (next..end).map(|i| {
            let url = url.clone();
            async move {
                let id = identity(i as u64);
                let room = format!("hold-{}", i / 100);
                tokio::time::timeout(Duration::from_secs(30), client::join(&url, &room, &id)).await
            }
        });
        for r in futures_util::future::join_all(joins).await {
            match r {
                Ok(Ok(j)) => held.push(j.socket),
                _ => failures += 1,
            }
        }
        next = end;
        if failures > args.connections / 10 {
            break;
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let health = http_health(addr).await.unwrap_or_default();
    let held_by_server = health["connections"].as_u64().unwrap_or(0) as usize;
    let rss_held = rss(pid);
    let per_conn = if held_by_server > 0 {
        rss_held.saturating_sub(rss_idle) / held_by_server as u64
    } else {
        0
    };
    println!(
        "signal-bench: {} held by the server ({} client failures) in {connect_s:.1}s; \
         server RSS {} MiB idle, {} MiB held, {per_conn} bytes per connection",
        held_by_server,
        failures,
        rss_idle >> 20,
        rss_held >> 20
    );
    for mut s in held.drain(..) {
        let _ = s.close(None).await;
    }
    drop(held);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 2. Latency at a fixed rate; 3. throughput with a window.
    let latency = relay_phase(&url, &args, Some(args.rate)).await?;
    let throughput = relay_phase(&url, &args, None).await?;

    let mut out = BTreeMap::new();
    out.insert("max_connections_held", serde_json::json!(held_by_server));
    out.insert("connections_target", serde_json::json!(args.connections));
    out.insert("connect_failures", serde_json::json!(failures));
    out.insert("connect_seconds", serde_json::json!(round(connect_s)));
    out.insert("server_rss_idle_bytes", serde_json::json!(rss_idle));
    out.insert("server_rss_held_bytes", serde_json::json!(rss_held));
    out.insert("memory_per_connection_bytes", serde_json::json!(per_conn));
    out.insert("relay_rate_for_latency", serde_json::json!(args.rate));
    out.insert("relays_at_rate", serde_json::json!(latency.delivered));
    out.insert("relay_p50_ms", serde_json::json!(round(latency.p50_ms)));
    out.insert("relay_p99_ms", serde_json::json!(round(latency.p99_ms)));
    out.insert("relay_max_ms", serde_json::json!(round(latency.max_ms)));
    out.insert("relays_per_s", serde_json::json!(round(throughput.per_s)));
    out.insert(
        "relay_p50_ms_at_max",
        serde_json::json!(round(throughput.p50_ms)),
    );
    out.insert(
        "relay_p99_ms_at_max",
        serde_json::json!(round(throughput.p99_ms)),
    );
    out.insert("pairs", serde_json::json!(args.pairs));
    out.insert("cores", serde_json::json!(num_cpus()));
    let json = serde_json::to_string_pretty(&out)?;
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, format!("{json}\n"))?;
    println!("{json}");
    println!("signal-bench: wrote {}", args.out.display());

    drop(stdin); // the server stops when its stdin closes
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    Ok(())
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

async fn http_health(addr: SocketAddr) -> anyhow::Result<serde_json::Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |e| e + 1);
    Ok(serde_json::from_str(&body[start..end])?)
}

struct RelayFigures {
    delivered: u64,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// Relays between `pairs` client pairs for `seconds`: at `rate` per second in total, or,
/// without a rate, as fast as 64 in flight per pair allow.
async fn relay_phase(url: &str, args: &Args, rate: Option<u64>) -> anyhow::Result<RelayFigures> {
    let epoch = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    let mut counters = Vec::new();
    let tag = if rate.is_some() { "lat" } else { "max" };
    for p in 0..args.pairs {
        let room = format!("{tag}-{p}");
        let a_id = identity(1_000_000 + 2 * p as u64 + if rate.is_some() { 0 } else { 500_000 });
        let b_id = identity(1_000_001 + 2 * p as u64 + if rate.is_some() { 0 } else { 500_000 });
        let a = client::join(url, &room, &a_id).await?;
        let b = client::join(url, &room, &b_id).await?;
        let received = Arc::new(AtomicU64::new(0));
        counters.push(received.clone());
        let lat = latencies.clone();
        let mut b_socket = b.socket;
        receivers.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = b_socket.next().await {
                if let Message::Text(t) = frame {
                    if let Ok(ServerMessage::Signal { data, .. }) =
                        serde_json::from_str::<ServerMessage>(t.as_str())
                    {
                        let sent = data["t"].as_u64().unwrap_or(0);
                        let now = epoch.elapsed().as_micros() as u64;
                        lat.lock().unwrap().push(now.saturating_sub(sent));
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
        senders.push((a.socket, b_id.id().to_hex()));
    }
    let duration = Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut sent_total = 0u64;
    match rate {
        Some(rate) => {
            // One ticker, round-robin over the pairs.
            let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut i = 0;
            while started.elapsed() < duration {
                ticker.tick().await;
                let (socket, to) = &mut senders[i % args.pairs];
                let t = epoch.elapsed().as_micros() as u64;
                let msg = ClientMessage::Signal {
                    to: to.clone(),
                    data: serde_json::json!({ "t": t, "pad": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host" }),
                };
                socket
                    .send(Message::Text(serde_json::to_string(&msg)?.into()))
                    .await?;
                sent_total += 1;
                i += 1;
            }
        }
        None => {
            let tasks: Vec<_> = senders
                .into_iter()
                .zip(counters.iter().cloned())
                .map(|((mut socket, to), received)| {
                    tokio::spawn(async move {
                        let mut sent = 0u64;
                        while started.elapsed() < duration {
                            if sent - received.load(Ordering::Relaxed) >= 64 {
                                tokio::time::sleep(Duration::from_micros(200)).await;
                                continue;
                            }
                            let t = epoch.elapsed().as_micros() as u64;
                            let msg = ClientMessage::Signal {
                                to: to.clone(),
                                data: serde_json::json!({ "t": t, "pad": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host" }),
                            };
                            let text = serde_json::to_string(&msg).expect("serializes");
                            if socket.send(Message::Text(text.into())).await.is_err() {
                                break;
                            }
                            sent += 1;
                        }
                        (socket, sent)
                    })
                })
                .collect();
            senders = Vec::new();
            for t in tasks {
                let (socket, sent) = t.await?;
                sent_total += sent;
                senders.push((socket, String::new()));
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Let the last relays land (bounded).
    let deadline = Instant::now() + Duration::from_secs(5);
    while counters
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum::<u64>()
        < sent_total
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered: u64 = counters.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    for (mut s, _) in senders {
        let _ = s.close(None).await;
    }
    for r in receivers {
        r.abort();
    }
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_unstable();
    let pct = |q: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let idx = ((lat.len() as f64 - 1.0) * q).round() as usize;
        lat[idx] as f64 / 1000.0
    };
    let figures = RelayFigures {
        delivered,
        per_s: delivered as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
    };
    println!(
        "signal-bench: {} relays ({}): {:.0}/s delivered of {sent_total} sent, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        tag,
        rate.map_or("max".to_owned(), |r| format!("{r}/s target")),
        figures.per_s,
        figures.p50_ms,
        figures.p99_ms,
        figures.max_ms
    );
    Ok(figures)
}
