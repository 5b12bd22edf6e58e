//! A client-side token bucket (`--rate 50/s`): requests wait for a token, in arrival order.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token bucket shared by all requests of a client.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// `per_second` requests per second on average, at most `burst` at once.
    pub fn new(per_second: f64, burst: u32) -> RateLimiter {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            per_second: per_second.max(0.001),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits for one token. Waiters are served in order (the lock is held while sleeping).
    pub async fn acquire(&self) {
        let mut state = self.state.lock().await;
        loop {
            let now = Instant::now();
            let elapsed = now.duration_since(state.1).as_secs_f64();
            state.0 = (state.0 + elapsed * self.per_second).min(self.burst);
            state.1 = now;
            if state.0 >= 1.0 {
                state.0 -= 1.0;
                return;
            }
            let wait = (1.0 - state.0) / self.per_second;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_after_the_burst() {
        let l = RateLimiter::new(10.0, 5);
        let start = Instant::now();
        for _ in 0..15 {
            l.acquire().await;
        }
        // 5 at once, then 10 more at 10/s.
        let took = start.elapsed().as_secs_f64();
        assert!((0.95..1.1).contains(&took), "{took}");
    }
}
