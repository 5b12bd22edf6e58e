//! `scim-bench`: a load harness for any SCIM 2.0 server (see `scim-bench --help` and
//! BENCHMARKS.md at the repository root).

mod cli;
mod client;
mod cpu;
mod cycle;
mod delivery;
mod fairness;
mod report;
mod rss;
mod seed;
mod startup;
mod workload;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Parser;

use cli::{Cli, Command, RunArgs, Workload};
use client::Client;
use report::{Report, Row};
use seed::{SeedPlan, Seeded};
use workload::{Fixed, Generator, closed_loop};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Startup(args)) => startup::run(args).map(|ms| {
            println!("startup_ms={ms:.1}");
        }),
        Some(Command::Fairness(args)) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(fairness::run(args))),
        Some(Command::EntraCycle(args)) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(cycle::run(args))),
        Some(Command::Delivery(args)) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(delivery::run(args))),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(run(cli.run))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scim-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The PID whose memory is reported: the one given, or the local listener on the URL's port.
fn server_pid(args: &RunArgs, url: &str) -> Option<u32> {
    if args.server_pid.is_some() {
        return args.server_pid;
    }
    let (host, port) = cli::host_port(url)?;
    if !cli::is_loopback(&host) {
        return None;
    }
    rss::pid_listening_on(port)
}

fn print_memory(what: &str, pid: Option<u32>) -> Option<rss::Memory> {
    let m = pid.and_then(rss::memory);
    match (pid, m) {
        (Some(pid), Some(m)) => eprintln!(
            "server memory {what}: RSS {} (peak {}), pid {pid}",
            rss::mib(m.rss_kib),
            rss::mib(m.peak_kib)
        ),
        (Some(pid), None) => eprintln!("server memory {what}: cannot read /proc/{pid}/status"),
        (None, _) => {}
    }
    m
}

async fn run(args: RunArgs) -> Result<()> {
    let url = args
        .url
        .clone()
        .ok_or_else(|| anyhow!("--url is required (the SCIM base URL)"))?;
    let token = args
        .token
        .clone()
        .ok_or_else(|| anyhow!("--token is required"))?;
    let base = url.trim_end_matches('/').to_string();
    let timeout = Duration::from_secs(args.timeout);
    let duration = Duration::from_secs(args.duration);
    let selected = args.selected();
    let seed_concurrency = args.seed_concurrency.map(to_usize);

    let seed_client = Client::new(&token, timeout, seed_concurrency.unwrap_or(32))?;
    let caps = seed::capabilities(&seed_client, &base).await?;
    eprintln!(
        "server: bulk {} (maxOperations {}, maxPayloadSize {})",
        if caps.bulk {
            "supported"
        } else {
            "not supported"
        },
        caps.bulk_max_operations,
        caps.bulk_max_payload
    );
    let uses_group = selected.iter().any(|w| w.uses_group());
    let plan = SeedPlan {
        read_users: to_usize(args.users),
        group: uses_group,
        group_members: to_usize(args.group_members),
        pool: if selected.contains(&Workload::AddMembers) {
            to_usize(args.member_pool)
        } else {
            0
        },
        groups: if selected.contains(&Workload::ListGroups) {
            to_usize(args.groups)
        } else {
            0
        },
        groups_members: to_usize(args.groups_members),
        concurrency: seed_concurrency,
        use_bulk: !args.no_bulk_seed,
    };
    let seeded: Arc<Seeded> = Arc::new(seed::seed(&seed_client, &base, &caps, &plan).await?);
    drop(seed_client);

    let pid = server_pid(&args, &base);
    let memory_after_seed = print_memory("after seeding", pid);

    let max_conns = args.connections.max(args.bulk_connections);
    let clients: Vec<Client> = (0..max_conns)
        .map(|_| Client::new(&token, timeout, 1))
        .collect::<Result<_>>()?;
    let conns = |w: Workload| {
        if w == Workload::Bulk {
            args.bulk_connections
        } else {
            args.connections
        }
    };
    let slice = |n: u64| clients.get(..to_usize(n)).unwrap_or(&clients);

    let ceiling_url = if args.no_ceiling {
        None
    } else {
        args.ceiling_url
            .clone()
            .or_else(|| cli::origin(&base).map(|o| format!("{o}/health")))
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut ceilings: Vec<f64> = Vec::new();
    let measure_ceiling = |label: &'static str| {
        let url = ceiling_url.clone();
        let clients = slice(args.connections);
        async move {
            let Some(url) = url else {
                return Ok::<Option<Row>, anyhow::Error>(None);
            };
            let cpu_before = pid.and_then(cpu::cpu_time);
            let o = closed_loop(clients, duration, Arc::new(Fixed(url.clone()))).await?;
            let cpu_after = pid.and_then(cpu::cpu_time);
            let mut row = Row::from_outcome("ceiling", label, args.connections, &o);
            row.server_cpu_us = cpu::per_request_us(cpu_before, cpu_after, o.requests);
            if row.errors > 0 {
                eprintln!(
                    "warning: the ceiling URL {url} answered errors ({:?}); pass --ceiling-url \
                     with a cheap endpoint of this server",
                    row.errors_by_kind
                );
            }
            Ok(Some(row))
        }
    };

    if let Some(url) = ceiling_url.as_ref().filter(|_| args.warmup > 0) {
        let warmup = Duration::from_secs(args.warmup);
        closed_loop(
            slice(args.connections),
            warmup,
            Arc::new(Fixed(url.clone())),
        )
        .await?;
    }
    if let Some(row) = measure_ceiling("ceiling (trivial endpoint)").await? {
        eprintln!(
            "  ceiling: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            row.req_per_s, row.p50_ms, row.p99_ms
        );
        if row.errors == 0 {
            ceilings.push(row.req_per_s);
        }
        rows.push(row);
    }

    let mut added_from_pool = 0usize;
    for &w in &selected {
        let mut title = w.title().to_string();
        if w == Workload::AddMembers {
            title = format!(
                "PATCH add {} member{}",
                args.add_size,
                if args.add_size == 1 { "" } else { "s" }
            );
        }
        if matches!(w, Workload::AddMembers | Workload::RemoveMember)
            && !args.group_patch_query.is_empty()
        {
            title = format!(
                "{title} ?{}",
                args.group_patch_query.trim_start_matches('?')
            );
        }
        let mut bulk_size = to_usize(args.bulk_size);
        if w == Workload::Bulk {
            if !caps.bulk {
                eprintln!("  {w}: skipped, the server does not advertise Bulk");
                continue;
            }
            let op_bytes = 400;
            bulk_size = caps.bulk_batch(bulk_size, op_bytes);
            title = format!("Bulk {} creates", report::thousands(bulk_size as f64, 0));
        }
        if w.uses_group() && seeded.group.is_none() {
            continue;
        }
        let generator = Arc::new(
            Generator::new(w, &base, seeded.clone(), bulk_size, added_from_pool)
                .with_group_patch_query(&args.group_patch_query)
                .with_add_size(to_usize(args.add_size)),
        );
        let cpu_before = pid.and_then(cpu::cpu_time);
        let sampler = pid.map(rss::Sampler::start);
        let o = closed_loop(slice(conns(w)), duration, generator.clone()).await?;
        let cpu_after = pid.and_then(cpu::cpu_time);
        let rss_max_kib = match sampler {
            Some(s) => s.stop().await,
            None => None,
        };
        if w == Workload::AddMembers {
            added_from_pool = generator.used().min(seeded.pool_ids().len());
        }
        let mut row = Row::from_outcome(w.name(), &title, conns(w), &o);
        row.server_cpu_us = cpu::per_request_us(cpu_before, cpu_after, o.requests);
        row.rss_max_kib = rss_max_kib;
        eprintln!(
            "  {w}: {} requests, {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors{}",
            row.requests,
            row.req_per_s,
            row.p50_ms,
            row.p99_ms,
            row.errors,
            if row.errors > 0 {
                format!(" {:?}", row.errors_by_kind)
            } else {
                String::new()
            }
        );
        rows.push(row);
    }

    if let Some(row) = measure_ceiling("ceiling again, at the end").await? {
        if row.errors == 0 {
            ceilings.push(row.req_per_s);
        }
        rows.push(row);
    }
    let ceiling =
        (!ceilings.is_empty()).then(|| ceilings.iter().sum::<f64>() / ceilings.len() as f64);
    let rows: Vec<Row> = rows.into_iter().map(|r| r.with_ceiling(ceiling)).collect();
    let memory_at_end = print_memory("at the end", pid);

    let label = if args.label.is_empty() {
        base.clone()
    } else {
        args.label.clone()
    };
    println!();
    println!(
        "## {label}: {} users ({} read), group of {} members, {} s per workload, {} connections",
        seeded.users.len(),
        seeded.read_users,
        seeded.group_members,
        args.duration,
        args.connections
    );
    println!();
    print!("{}", report::table(&rows));
    println!();
    if let Some(c) = ceiling {
        println!(
            "% of ceiling: req/s over the mean of the two ceiling runs ({:.0} req/s).",
            c
        );
    }
    println!(
        "Seeding: {} users in {:.1} s ({}).",
        seeded.users.len(),
        seeded.seconds,
        seeded.method
    );
    if !seeded.groups.is_empty() {
        println!(
            "Besides the big group: {} groups of {} members each (list-groups).",
            seeded.groups.len(),
            seeded.groups_members
        );
    }
    if let Some(m) = memory_after_seed {
        println!(
            "Server RSS after seeding: {} (peak {}).",
            rss::mib(m.rss_kib),
            rss::mib(m.peak_kib)
        );
    }
    if let Some(m) = memory_at_end {
        println!(
            "Server RSS at the end: {} (peak {}).",
            rss::mib(m.rss_kib),
            rss::mib(m.peak_kib)
        );
    }

    if let Some(path) = &args.json {
        let report = Report {
            label,
            url: base.clone(),
            ceiling_url,
            users: seeded.users.len(),
            read_users: seeded.read_users,
            group_members: seeded.group_members,
            member_pool: seeded.pool,
            duration_s: args.duration,
            connections: args.connections,
            seed_method: seeded.method.clone(),
            seed_seconds: seeded.seconds,
            server_pid: pid,
            memory_after_seed,
            memory_at_end,
            rows,
        };
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
