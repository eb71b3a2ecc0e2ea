//! `cargo xtask bench`: runs the simulator benchmarks and writes `target/bench/*.json`.
//!
//! `bench [--quick] [--seed N] [--n N] [--rumor-only | --others-only] [membership |
//! broadcast]` (`--help` says the same): `--quick` runs only the smallest size, `--n` only
//! the given one, `--rumor-only` skips the comparison implementations and `--others-only`
//! Rumor; `membership` or `broadcast` runs only that benchmark (and writes only its file).
//! Sizes: 100 and 1,000 for membership; 100, 1,000 and 10,000 for broadcast
//! (docs/benchmarks.md says how long 10,000 takes and how much memory). A broadcast run
//! replaces in broadcast.json only the rows of the implementations and sizes it ran, so
//! one size or one implementation can be rerun alone.

use std::path::PathBuf;

use anyhow::{Context, Result};
use rumor_tests::bench_broadcast::{self, IrohBroadcast, RumorBroadcast};
use rumor_tests::bench_membership::{run_loss, run_size, Foca, Row, Rumor};

fn out_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join("target").join("bench")
}

/// Which benchmark to run.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Which {
    /// Membership only (target/bench/membership.json).
    Membership,
    /// Broadcast only (target/bench/broadcast.json).
    Broadcast,
}

/// The simulator benchmarks: Rumor side by side with foca (membership) and iroh-gossip
/// (broadcast), figures printed and written to target/bench/*.json.
#[derive(clap::Parser)]
struct Args {
    /// Only this benchmark (both when left out).
    which: Option<Which>,
    /// Only the smallest size (100).
    #[arg(long)]
    quick: bool,
    /// The simulator's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only this group size.
    #[arg(long = "n", value_name = "N")]
    only_n: Option<usize>,
    /// Skip the comparison implementations (foca, iroh-gossip).
    #[arg(long)]
    rumor_only: bool,
    /// Only the comparison implementations, not Rumor (e.g. beside a long Rumor run of
    /// the same size on another core).
    #[arg(long, conflicts_with = "rumor_only")]
    others_only: bool,
}

fn main() -> Result<()> {
    let Args {
        which,
        quick,
        seed,
        only_n,
        rumor_only,
        others_only,
    } = clap::Parser::parse();
    let rumor = !others_only;
    let others = !rumor_only;
    let membership = which != Some(Which::Broadcast);
    let broadcast = which != Some(Which::Membership);
    let sizes: Vec<usize> = match only_n {
        Some(n) => vec![n],
        None if quick => vec![100],
        None => vec![100, 1_000],
    };
    let broadcast_sizes: Vec<usize> = match only_n {
        None if !quick => vec![100, 1_000, 10_000],
        _ => sizes.clone(),
    };
    let dir = out_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let started = std::time::Instant::now();
    let mut progress = |msg: &str| eprintln!("[{:>6.1}s] {msg}", started.elapsed().as_secs_f64());
    if broadcast {
        run_broadcast(&broadcast_sizes, seed, rumor, others, &dir, &mut progress)?;
    }
    if membership {
        let mut rows: Vec<Row> = Vec::new();
        for &n in &sizes {
            if rumor {
                rows.push(run_size::<Rumor>(n, seed, &mut progress));
            }
            if others {
                rows.push(run_size::<Foca>(n, seed, &mut progress));
            }
        }
        if rumor {
            rows.push(run_loss::<Rumor>(seed, &mut progress));
        }
        if others {
            rows.push(run_loss::<Foca>(seed, &mut progress));
        }
        let path = dir.join("membership.json");
        std::fs::write(&path, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", table(&rows));
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The broadcast rows for Rumor and iroh-gossip at each size, into broadcast.json.
fn run_broadcast(
    sizes: &[usize],
    seed: u64,
    rumor: bool,
    others: bool,
    dir: &std::path::Path,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let mut brows = Vec::new();
    for &n in sizes {
        if rumor {
            brows.extend(bench_broadcast::run(
                RumorBroadcast::default(),
                n,
                seed,
                true,
                progress,
            ));
        }
        if others {
            brows.extend(bench_broadcast::run(IrohBroadcast, n, seed, true, progress));
        }
    }
    // The same with a new origin's first message pushed to 3 neighbors instead of
    // flooded: fewer copies while trees form, longer paths (docs/benchmarks.md). At the
    // largest size up to 1,000, where the targets are set.
    let fanout3_n = sizes.iter().filter(|&&n| rumor && n <= 1_000).max();
    if let Some(&n) = fanout3_n {
        brows.extend(bench_broadcast::run(
            RumorBroadcast::with_fresh_tree_fanout(3),
            n,
            seed,
            true,
            progress,
        ));
    }
    let bpath = dir.join("broadcast.json");
    // Rows of an implementation and size not run this time stay as they were.
    if let Ok(old) = std::fs::read_to_string(&bpath) {
        let old: Vec<bench_broadcast::Row> = serde_json::from_str(&old)
            .with_context(|| format!("reading {} (delete it to start afresh)", bpath.display()))?;
        brows = bench_broadcast::Row::merge(old, brows);
    }
    std::fs::write(&bpath, serde_json::to_string_pretty(&brows)?)
        .with_context(|| format!("writing {}", bpath.display()))?;
    println!("{}", broadcast_table(&brows));
    println!("wrote {}", bpath.display());
    Ok(())
}

fn table(rows: &[Row]) -> String {
    let f = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let g = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    let mut s = String::from("| impl | n | join_all_ms | crash_all_ms | leave_all_ms | false_failures | idle B/node/s | idle msgs/node/s |\n|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.implementation,
            r.n,
            f(r.join_all_ms),
            f(r.crash_all_ms),
            f(r.leave_all_ms),
            r.false_failures_10pct_loss_300s
                .map_or("-".into(), |v| v.to_string()),
            g(r.idle_bytes_per_node_per_s),
            g(r.idle_msgs_per_node_per_s.map(|v| v * 1.0)),
        );
    }
    s
}

fn broadcast_table(rows: &[bench_broadcast::Row]) -> String {
    let mut s = String::from("| impl | n | scenario | reliability | RMR | LDH | max hops | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let [rmr, ldh, p50, p99] = r.cells();
        s += &format!(
            "| {} | {} | {} | {:.4} | {rmr} | {ldh} | {} | {p50} | {p99} |\n",
            r.implementation, r.n, r.scenario, r.reliability, r.max_hops,
        );
    }
    s
}
