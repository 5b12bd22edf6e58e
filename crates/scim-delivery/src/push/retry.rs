//! When to try again after a failed delivery: exponential backoff with jitter, honouring a
//! receiver's `Retry-After`, and when to stop trying (pause, position kept).

use std::time::Duration;

/// The retry schedule of a destination.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// The wait after the first failure; each further failure doubles it.
    pub base: Duration,
    /// The longest wait between attempts (and the most a `Retry-After` is honoured).
    pub max: Duration,
    /// A destination failing for this long without a success is paused (its position
    /// kept; `resume` carries on from there).
    pub pause_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(3600),
            pause_after: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt after `failures` consecutive failures (1 for the
    /// first): `base·2^(failures-1)`, at most `max`, with "equal jitter" (a random point in
    /// its upper half) so that endpoints failing together do not retry together. A
    /// `Retry-After` from the receiver is honoured (up to `max`) when it asks for longer.
    pub fn delay(&self, failures: i64, retry_after: Option<Duration>) -> Duration {
        let exp = u32::try_from(failures.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let full = self
            .base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max);
        let half = full / 2;
        let jitter = half.mul_f64(rand::random::<f64>());
        let backoff = half + jitter;
        match retry_after {
            Some(asked) => backoff.max(asked.min(self.max)),
            None => backoff,
        }
    }
}

/// Parses a `Retry-After` value: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &format)
        .ok()?
        .assume_utc();
    let wait = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_bounds() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
            pause_after: Duration::from_secs(60),
        };
        for failures in 1..40 {
            let full = Duration::from_millis(100)
                .saturating_mul(2u32.saturating_pow((failures - 1).min(30) as u32))
                .min(Duration::from_secs(10));
            let d = p.delay(failures, None);
            assert!(d >= full / 2 && d <= full, "{failures}: {d:?}");
        }
        // Retry-After is honoured when longer, capped by max.
        assert!(p.delay(1, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(500))),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn parses_retry_after() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(100);
        let text = format!(
            "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
            &later.weekday().to_string()[..3],
            later.day(),
            &later.month().to_string()[..3],
            later.year(),
            later.hour(),
            later.minute(),
            later.second()
        );
        let d = parse_retry_after(&text).unwrap();
        assert!(
            d > Duration::from_secs(90) && d <= Duration::from_secs(100),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    proptest::proptest! {
        #[test]
        fn retry_after_parsing_never_panics(s in ".{0,40}") {
            let _ = parse_retry_after(&s);
        }
    }
}
