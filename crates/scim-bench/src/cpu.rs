//! CPU time of a local server: `utime + stime` of `/proc/PID/stat`, every thread included.
//! Divided by the requests of a workload it gives the server's CPU per request, a figure
//! that depends much less than req/s on what else the machine is doing.

use std::fs;
use std::time::Duration;

/// Clock ticks per second of the times in `/proc/PID/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// User + system CPU time from the text of `/proc/PID/stat`.
pub fn parse_stat(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may contain spaces: fields are
    // counted after its closing parenthesis; utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// The CPU time the process has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Busy CPU time of the whole machine (every core) from the text of `/proc/stat`: the
/// first line's user, nice, system, irq and softirq ticks (not idle and iowait, nor steal:
/// time the hypervisor gave to other machines).
pub fn parse_machine_stat(stat: &str) -> Option<Duration> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice: inside user]
    let busy: u64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| ticks.get(i)).sum();
    (ticks.len() >= 4).then(|| Duration::from_millis(busy * 1000 / TICKS_PER_SECOND))
}

/// The busy CPU time of the whole machine so far (every process: the database server's
/// too, which a server's own figure leaves out).
pub fn machine_cpu_time() -> Option<Duration> {
    parse_machine_stat(&fs::read_to_string("/proc/stat").ok()?)
}

/// Microseconds of server CPU per request between two readings.
pub fn per_request_us(
    before: Option<Duration>,
    after: Option<Duration>,
    requests: u64,
) -> Option<f64> {
    let used = after?.checked_sub(before?)?;
    (requests > 0).then(|| used.as_secs_f64() * 1e6 / requests as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_the_command_name() {
        let stat = "4242 (scim serve) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 1000 500";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(3250)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn machine_time_is_the_busy_ticks_of_the_first_line() {
        let stat = "cpu  100 5 50 9000 40 3 2 10 0 0\ncpu0 50 2 25 4500 20 1 1 5 0 0\n";
        // user + nice + system + irq + softirq = 160 ticks (steal is not work done here).
        assert_eq!(parse_machine_stat(stat), Some(Duration::from_millis(1600)));
        assert_eq!(parse_machine_stat("intr 1 2 3"), None);
        assert_eq!(parse_machine_stat("cpu  x y"), None);
    }

    #[test]
    fn per_request() {
        let b = Some(Duration::from_secs(1));
        let a = Some(Duration::from_secs(3));
        assert_eq!(per_request_us(b, a, 20_000), Some(100.0));
        assert_eq!(per_request_us(b, a, 0), None);
        assert_eq!(per_request_us(None, a, 10), None);
    }
}
