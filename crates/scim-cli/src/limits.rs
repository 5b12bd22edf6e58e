//! Parsing the command line's rates and durations.

use anyhow::{Result, bail};

/// A rate as requests per minute: `50` or `50/s` (per second), `600/m` or `600/min`.
pub fn parse_rate(text: &str) -> Result<u32> {
    let t = text.trim();
    let (number, per_minute) = match t.split_once('/') {
        None => (t, 60),
        Some((n, "s" | "sec" | "second")) => (n, 60),
        Some((n, "m" | "min" | "minute")) => (n, 1),
        Some((_, unit)) => bail!("unknown rate unit '/{unit}' in '{text}': use N/s or N/m"),
    };
    let n: u32 = number
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("'{text}' is not a rate such as 50/s or 600/m"))?;
    if n == 0 {
        bail!("a rate limit must be at least 1 (use 'default' for the server's default)");
    }
    n.checked_mul(per_minute)
        .ok_or_else(|| anyhow::anyhow!("the rate '{text}' is too large"))
}

/// `default` (back to the server's default) or a rate.
pub fn parse_optional_rate(text: &str) -> Result<Option<u32>> {
    if text.trim().eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    parse_rate(text).map(Some)
}

/// `default` or a positive count.
pub fn parse_optional_count(text: &str) -> Result<Option<u32>> {
    if text.trim().eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    match text.trim().parse::<u32>() {
        Ok(0) | Err(_) => bail!("'{text}' is not a positive whole number (or 'default')"),
        Ok(n) => Ok(Some(n)),
    }
}

/// Shows a per-minute rate the way it was probably given.
pub fn show_rate(per_minute: u32) -> String {
    if per_minute.is_multiple_of(60) {
        format!("{}/s", per_minute / 60)
    } else {
        format!("{per_minute}/m")
    }
}

/// A duration such as `24h`, `30m`, `90s`, `7d` or `0`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration> {
    if text.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    humantime::parse_duration(text.trim())
        .map_err(|e| anyhow::anyhow!("'{text}' is not a duration such as 24h or 30m: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("50").ok(), Some(3000));
        assert_eq!(parse_rate("50/s").ok(), Some(3000));
        assert_eq!(parse_rate("600/m").ok(), Some(600));
        assert_eq!(parse_rate(" 2/min ").ok(), Some(2));
        for bad in ["", "0", "-1", "5/h", "x/s", "99999999999"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_optional_rate("default").ok(), Some(None));
        assert_eq!(show_rate(3000), "50/s");
        assert_eq!(show_rate(90), "90/m");
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("24h").ok(),
            Some(std::time::Duration::from_secs(86_400))
        );
        assert_eq!(parse_duration("0").ok(), Some(std::time::Duration::ZERO));
        assert!(parse_duration("soon").is_err());
    }
}
