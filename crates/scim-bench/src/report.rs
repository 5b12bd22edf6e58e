//! Rows of results, the table printed at the end, and the JSON written with `--json`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rss::Memory;
use crate::workload::Outcome;

/// One line of the results table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// Short name (`get`, `ceiling`, …).
    pub name: String,
    /// What the table shows.
    pub title: String,
    pub connections: u64,
    pub requests: u64,
    pub seconds: f64,
    pub req_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    /// Errors by class: HTTP status ("409") or transport failure ("timeout", "connect", …).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// req/s as a percentage of the ceiling's req/s.
    pub pct_of_ceiling: Option<f64>,
    /// CPU time the server used per request (all its threads), in µs, when it is local.
    pub server_cpu_us: Option<f64>,
    /// The server's largest resident memory during the workload (sampled every 50 ms), KiB.
    pub rss_max_kib: Option<u64>,
    pub note: Option<String>,
}

impl Row {
    pub fn from_outcome(name: &str, title: &str, connections: u64, o: &Outcome) -> Row {
        let secs = o.elapsed.as_secs_f64();
        let ms = |us: u64| us as f64 / 1000.0;
        let (p50, p99, max) = if o.requests == 0 {
            (0.0, 0.0, 0.0)
        } else {
            (
                ms(o.hist.value_at_quantile(0.50)),
                ms(o.hist.value_at_quantile(0.99)),
                ms(o.hist.max()),
            )
        };
        Row {
            name: name.to_string(),
            title: title.to_string(),
            connections,
            requests: o.requests,
            seconds: secs,
            req_per_s: if secs > 0.0 {
                o.requests as f64 / secs
            } else {
                0.0
            },
            p50_ms: p50,
            p99_ms: p99,
            max_ms: max,
            errors: o.error_count(),
            errors_by_kind: o.errors.clone(),
            pct_of_ceiling: None,
            server_cpu_us: None,
            rss_max_kib: None,
            note: o.exhausted.then(|| "ran out of distinct items".to_string()),
        }
    }

    pub fn with_ceiling(mut self, ceiling_rps: Option<f64>) -> Row {
        self.pct_of_ceiling = ceiling_rps
            .filter(|c| *c > 0.0)
            .map(|c| 100.0 * self.req_per_s / c);
        self
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub label: String,
    pub url: String,
    pub ceiling_url: Option<String>,
    pub users: usize,
    pub read_users: usize,
    pub group_members: usize,
    pub member_pool: usize,
    pub duration_s: u64,
    pub connections: u64,
    pub seed_method: String,
    pub seed_seconds: f64,
    pub server_pid: Option<u32>,
    pub memory_after_seed: Option<Memory>,
    pub memory_at_end: Option<Memory>,
    pub rows: Vec<Row>,
}

/// A number with thousands separators and `decimals` decimals.
pub fn thousands(x: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    let mut grouped = String::new();
    for (k, c) in int.chars().enumerate() {
        if k > 0 && (int.len() - k) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 && !s.trim_matches(['0', '.']).is_empty() {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// Milliseconds with precision that suits their size.
pub fn millis(ms: f64) -> String {
    if ms >= 100.0 {
        thousands(ms, 0)
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

fn rate(r: f64) -> String {
    if r >= 100.0 {
        thousands(r, 0)
    } else {
        format!("{r:.1}")
    }
}

fn errors(row: &Row) -> String {
    if row.errors == 0 {
        return "0".into();
    }
    let kinds: Vec<String> = row
        .errors_by_kind
        .iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect();
    format!("{} ({})", row.errors, kinds.join(", "))
}

/// The results as a Markdown table (readable as plain text too).
pub fn table(rows: &[Row]) -> String {
    let header = [
        "workload",
        "conns",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "% of ceiling",
        "server CPU µs/req",
        "server RSS max MiB",
    ];
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            let mut title = r.title.clone();
            if let Some(n) = &r.note {
                title.push_str(&format!(" ({n})"));
            }
            [
                title,
                r.connections.to_string(),
                thousands(r.requests as f64, 0),
                rate(r.req_per_s),
                millis(r.p50_ms),
                millis(r.p99_ms),
                errors(r),
                r.pct_of_ceiling
                    .map_or_else(|| "-".to_string(), |p| format!("{p:.1}%")),
                r.server_cpu_us
                    .map_or_else(|| "-".to_string(), |us| thousands(us, 0)),
                r.rss_max_kib
                    .map_or_else(|| "-".to_string(), |kib| thousands(kib as f64 / 1024.0, 1)),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[String]| {
        let mut s = String::from("|");
        for (k, (c, w)) in cols.iter().zip(widths).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            if k == 0 || k == 6 {
                s.push_str(&format!(" {c}{} |", " ".repeat(pad)));
            } else {
                s.push_str(&format!(" {}{c} |", " ".repeat(pad)));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&header.map(String::from));
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(k, w)| {
            if k == 0 || k == 6 {
                "-".repeat(*w)
            } else {
                format!("{}:", "-".repeat(w.saturating_sub(1)))
            }
        })
        .collect();
    out.push_str(&line(&rule));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, rps: f64, errors: u64) -> Row {
        let mut by = BTreeMap::new();
        if errors > 0 {
            by.insert("409".to_string(), errors);
        }
        Row {
            name: name.into(),
            title: name.into(),
            connections: 32,
            requests: 12345,
            seconds: 10.0,
            req_per_s: rps,
            p50_ms: 1.234,
            p99_ms: 123.4,
            max_ms: 200.0,
            errors,
            errors_by_kind: by,
            pct_of_ceiling: None,
            server_cpu_us: Some(42.4),
            rss_max_kib: Some(2048),
            note: None,
        }
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(1234567.0, 0), "1,234,567");
        assert_eq!(thousands(999.0, 0), "999");
        assert_eq!(thousands(1234.5, 1), "1,234.5");
        assert_eq!(thousands(0.0, 0), "0");
        assert_eq!(millis(0.456), "0.46");
        assert_eq!(millis(12.34), "12.3");
        assert_eq!(millis(1234.4), "1,234");
    }

    #[test]
    fn ceiling_percentage() {
        let r = row("get", 500.0, 0).with_ceiling(Some(2000.0));
        assert_eq!(r.pct_of_ceiling, Some(25.0));
        assert_eq!(
            row("get", 1.0, 0).with_ceiling(Some(0.0)).pct_of_ceiling,
            None
        );
        assert_eq!(row("get", 1.0, 0).with_ceiling(None).pct_of_ceiling, None);
    }

    #[test]
    fn table_has_one_line_per_row_and_aligned_columns() {
        let rows = vec![
            row("ceiling", 20000.0, 0).with_ceiling(Some(20000.0)),
            row("create", 812.3, 3),
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("| workload"));
        assert!(lines[2].contains("20,000") && lines[2].contains("100.0%"));
        assert!(lines[3].contains("812") && lines[3].contains("3 (409×3)"));
        let widths: Vec<usize> = lines.iter().map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{t}");
    }
}
