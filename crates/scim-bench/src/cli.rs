//! Command-line arguments and the list of workloads.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

/// Load harness for a SCIM 2.0 server.
///
/// Seeds users and one big group, then runs each workload for a fixed time with a fixed number
/// of keep-alive connections (closed loop) and prints requests, req/s, p50, p99 and errors, and
/// each figure as a percentage of the "ceiling": the same client against a trivial endpoint of
/// the same server.
#[derive(Debug, Parser)]
#[command(name = "scim-bench", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Starts a server command and measures the time until its health URL first answers 200.
    Startup(StartupArgs),
    /// One normal and one abusive tenant: the normal tenant's p99 alone and under abuse.
    Fairness(crate::fairness::FairnessArgs),
    /// Runs a provisioning cycle as Microsoft Entra ID sends it and reports its wall time.
    EntraCycle(crate::cycle::CycleArgs),
    /// Creates with and without a webhook endpoint and a feed reader following the tenant:
    /// the time from each create's 2xx to its event, and what delivering costs the writes.
    Delivery(crate::delivery::DeliveryArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// SCIM base URL (for `scim`: http://HOST:PORT/scim/v2/TENANT).
    #[arg(long, env = "SCIM_BENCH_URL")]
    pub url: Option<String>,
    /// Bearer token.
    #[arg(long, env = "SCIM_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Users to seed for the user workloads (GET, filter, list, PATCH).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub users: u64,
    /// Members of the big group (users are created for them if --users is smaller).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub group_members: u64,
    /// Users created during seeding, outside the group, for "add 100 members": that workload
    /// stops early when they are used up.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub member_pool: u64,
    /// Seconds each workload runs.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Concurrent keep-alive connections per workload.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub connections: u64,
    /// Concurrent connections of the Bulk workload (its target is the latency of one Bulk).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub bulk_connections: u64,
    /// Operations in each request of the Bulk workload (lowered to the server's maxOperations).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub bulk_size: u64,
    /// Comma-separated workloads (default: all). Names: get, filter, list, create, patch,
    /// add-members, remove-member, get-group, bulk; `members` = the three group workloads;
    /// `all` = those nine. Not in `all`: get-group-full (the big group with its members),
    /// list-groups (a page of groups with their members); `large-groups` = those two.
    #[arg(long, value_delimiter = ',')]
    pub workloads: Option<Vec<WorkloadSel>>,
    /// Groups besides the big one, for list-groups: each holds the first --groups-members
    /// users.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub groups: u64,
    /// Members of each of the --groups groups.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub groups_members: u64,
    /// Members added by one request of add-members.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub add_size: u64,
    /// Query string appended to the group PATCHes of add-members and remove-member, e.g.
    /// `excludedAttributes=members` (to measure them without rendering the members).
    #[arg(long, default_value = "")]
    pub group_patch_query: String,
    /// Trivial endpoint of the same server, for the ceiling (default: SCHEME://HOST:PORT/health).
    #[arg(long)]
    pub ceiling_url: Option<String>,
    /// Seconds of unmeasured requests to the ceiling URL before measuring (opens the
    /// connections and warms up servers with a JIT).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,
    /// Skip the ceiling measurement.
    #[arg(long)]
    pub no_ceiling: bool,
    /// PID of the server, for its resident memory (default: the local process listening on the
    /// URL's port, when the URL is on loopback).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Requests in flight while seeding users (default: 4 Bulk requests, or 32 POSTs).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub seed_concurrency: Option<u64>,
    /// Seed with one POST per user even if the server supports Bulk.
    #[arg(long)]
    pub no_bulk_seed: bool,
    /// Timeout of one request, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// A label for this run (server name), printed and stored in the JSON output.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct StartupArgs {
    /// The URL polled until it answers 200 (plain http).
    #[arg(long)]
    pub health_url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
    /// Pass the server's standard output and error through (default: discarded).
    #[arg(long)]
    pub show_output: bool,
    /// The server command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// One workload of the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Workload {
    GetById,
    FilterUserName,
    ListPage,
    Create,
    PatchReplace,
    AddMembers,
    RemoveMember,
    GetGroup,
    Bulk,
    GetGroupFull,
    ListGroups,
}

impl Workload {
    /// The issue's workloads: what `all` (and no --workloads) runs.
    pub const DEFAULT: [Workload; 9] = [
        Workload::GetById,
        Workload::FilterUserName,
        Workload::ListPage,
        Workload::Create,
        Workload::PatchReplace,
        Workload::AddMembers,
        Workload::RemoveMember,
        Workload::GetGroup,
        Workload::Bulk,
    ];
    /// Every workload.
    pub const ALL: [Workload; 11] = [
        Workload::GetById,
        Workload::FilterUserName,
        Workload::ListPage,
        Workload::Create,
        Workload::PatchReplace,
        Workload::AddMembers,
        Workload::RemoveMember,
        Workload::GetGroup,
        Workload::Bulk,
        Workload::GetGroupFull,
        Workload::ListGroups,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::GetById => "get",
            Workload::FilterUserName => "filter",
            Workload::ListPage => "list",
            Workload::Create => "create",
            Workload::PatchReplace => "patch",
            Workload::AddMembers => "add-members",
            Workload::RemoveMember => "remove-member",
            Workload::GetGroup => "get-group",
            Workload::Bulk => "bulk",
            Workload::GetGroupFull => "get-group-full",
            Workload::ListGroups => "list-groups",
        }
    }

    /// What the table shows.
    pub fn title(self) -> &'static str {
        match self {
            Workload::GetById => "GET user by id",
            Workload::FilterUserName => "GET userName eq filter",
            Workload::ListPage => "GET list page of 100",
            Workload::Create => "POST create user",
            Workload::PatchReplace => "PATCH replace 1 attribute",
            Workload::AddMembers => "PATCH add members",
            Workload::RemoveMember => "PATCH remove 1 member",
            Workload::GetGroup => "GET group excl. members",
            Workload::Bulk => "Bulk 1,000 creates",
            Workload::GetGroupFull => "GET group with its members",
            Workload::ListGroups => "GET page of groups with members",
        }
    }

    /// Whether the workload needs the big group.
    pub fn uses_group(self) -> bool {
        matches!(
            self,
            Workload::AddMembers
                | Workload::RemoveMember
                | Workload::GetGroup
                | Workload::GetGroupFull
        )
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name given to `--workloads`: one workload, a group of them, or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSel(pub Vec<Workload>);

impl FromStr for WorkloadSel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "all" => return Ok(WorkloadSel(Workload::DEFAULT.to_vec())),
            "large-groups" => {
                return Ok(WorkloadSel(vec![
                    Workload::GetGroupFull,
                    Workload::ListGroups,
                ]));
            }
            "members" | "group" => {
                return Ok(WorkloadSel(vec![
                    Workload::AddMembers,
                    Workload::RemoveMember,
                    Workload::GetGroup,
                ]));
            }
            _ => {}
        }
        Workload::ALL
            .iter()
            .find(|w| w.name() == s)
            .map(|w| WorkloadSel(vec![*w]))
            .ok_or_else(|| {
                let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
                format!(
                    "unknown workload '{s}'; expected one of: {}, members, large-groups, all",
                    names.join(", ")
                )
            })
    }
}

impl RunArgs {
    /// The selected workloads, without duplicates, in the canonical order.
    pub fn selected(&self) -> Vec<Workload> {
        let mut out: Vec<Workload> = match &self.workloads {
            None => Workload::DEFAULT.to_vec(),
            Some(sels) => sels.iter().flat_map(|s| s.0.iter().copied()).collect(),
        };
        out.sort();
        out.dedup();
        out
    }
}

/// `scheme://host:port` of a URL, without path.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{authority}"))
}

/// Host and port of a URL (the scheme's default port when none is given).
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let default = match scheme {
        "https" => 443,
        _ => 80,
    };
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default)),
    }
}

/// Whether a host name is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("scim-bench").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_are_the_issues() {
        let cli = parse(&[
            "--url",
            "http://127.0.0.1:8080/scim/v2/default",
            "--token",
            "t",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(cli.command.is_none());
        let a = cli.run;
        assert_eq!(a.users, 10_000);
        assert_eq!(a.group_members, 100_000);
        assert_eq!(a.connections, 32);
        assert_eq!(a.selected(), Workload::DEFAULT.to_vec());
    }

    #[test]
    fn workload_lists_are_parsed_deduplicated_and_ordered() {
        let cli = parse(&["--url", "u", "--workloads", "bulk,get,members,get"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cli.run.selected(),
            vec![
                Workload::GetById,
                Workload::AddMembers,
                Workload::RemoveMember,
                Workload::GetGroup,
                Workload::Bulk
            ]
        );
        assert!(parse(&["--workloads", "nope"]).is_err());
    }

    #[test]
    fn bounds_are_enforced() {
        assert!(parse(&["--users", "1000001"]).is_err());
        assert!(parse(&["--users", "1000000"]).is_ok());
        assert!(parse(&["--duration", "0"]).is_err());
    }

    #[test]
    fn startup_subcommand_takes_the_command_after_dashes() {
        let cli = parse(&[
            "startup",
            "--health-url",
            "http://127.0.0.1:1/health",
            "--",
            "scim",
            "serve",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Some(Command::Startup(s)) => assert_eq!(s.command, vec!["scim", "serve"]),
            _ => panic!("not the startup subcommand"),
        }
    }

    #[test]
    fn fairness_subcommand_takes_both_tenants() {
        let fairness = |extra: &[&str]| {
            let mut args = vec![
                "fairness",
                "--normal-url",
                "http://127.0.0.1:1/scim/v2/normal",
                "--normal-token",
                "a",
                "--abusive-url",
                "http://127.0.0.1:1/scim/v2/abusive",
                "--abusive-token",
                "b",
            ];
            args.extend_from_slice(extra);
            match parse(&args).unwrap_or_else(|e| panic!("{e}")).command {
                Some(Command::Fairness(f)) => f,
                _ => panic!("not the fairness subcommand"),
            }
        };
        let f = fairness(&["--abuse", "huge"]);
        assert_eq!(f.abuse, crate::fairness::Abuse::Huge);
        assert_eq!(f.normal_rate, 20);
        assert_eq!(f.part, crate::fairness::Part::Both);
        let split = fairness(&["--part", "abusive"]);
        assert_eq!(split.part, crate::fairness::Part::Abusive);
    }

    #[test]
    fn url_parts() {
        assert_eq!(
            origin("http://127.0.0.1:8080/scim/v2/default").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            host_port("http://127.0.0.1:8080/scim/v2/default"),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(
            host_port("https://example.com/v2"),
            Some(("example.com".into(), 443))
        );
        assert_eq!(host_port("http://[::1]:9/x"), Some(("::1".into(), 9)));
        assert!(is_loopback("127.0.0.2") && is_loopback("localhost") && !is_loopback("10.0.0.1"));
    }
}
