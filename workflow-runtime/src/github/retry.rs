//! Which GitHub requests are sent again, when, and after how long: the
//! providers' policy (backoff with jitter, `Retry-After`), plus GitHub's
//! rate limits. Only what cannot do the work twice is repeated after an
//! unknown outcome.
//!
//! * Every request is repeated when it never reached GitHub (no connection)
//!   and when GitHub refused it for a rate limit (429, or 403 naming the
//!   secondary rate limit or with `x-ratelimit-remaining: 0`): it was not
//!   carried out. The wait is GitHub's `Retry-After`, else until
//!   `x-ratelimit-reset`, else a minute, as GitHub asks. A wait longer than
//!   the policy allows fails at once, saying how long it is.
//! * GET and PUT (reading, and merging a pull request, which GitHub does at
//!   most once) are also repeated after a timeout and after 500, 502, 503
//!   and 504, when the work may or may not have been done.
//! * POST (opening a pull request, posting a review) is not repeated then:
//!   a second pull request or review could be the result. The step's own
//!   `retry:` decides, and `create-pr` finds the pull request it opened.
//!
//! All of it happens inside one attempt of the step, so the step's
//! `timeout:` bounds the retries and their waits too.

use crate::providers::http::{parse_retry_after, RetryPolicy};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::Method;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// GitHub's default policy: 4 attempts, 1 s doubling between them, no wait
/// over 60 s (GitHub asks for a minute after a secondary rate limit that
/// names no time).
pub fn default_policy() -> RetryPolicy {
    RetryPolicy { attempts: 4, base: Duration::from_secs(1), max: Duration::from_secs(60) }
}

/// What GitHub asks for when it gives no time.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Whether sending the request again cannot do its work twice.
pub(super) fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE)
}

/// Server errors after which an idempotent request is repeated.
pub(super) fn is_transient(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

/// The wait a rate-limit answer asks for, or `None` when the answer is not about a rate limit.
pub(super) fn rate_limit_wait(status: u16, headers: &HeaderMap, body: &str) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    let secondary = body.to_ascii_lowercase().contains("secondary rate limit");
    let limited = status == 429 || (status == 403 && (exhausted || secondary || headers.contains_key(RETRY_AFTER)));
    if !limited {
        return None;
    }
    if let Some(after) = parse_retry_after(headers) {
        return Some(after);
    }
    let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()).filter(|_| exhausted);
    Some(match reset {
        Some(at) => Duration::from_secs(at.saturating_sub(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))),
        None => RATE_LIMIT_WAIT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn rate_limits_are_told_from_other_refusals() {
        assert_eq!(rate_limit_wait(429, &headers(&[("retry-after", "7")]), ""), Some(Duration::from_secs(7)));
        assert_eq!(rate_limit_wait(429, &headers(&[]), ""), Some(RATE_LIMIT_WAIT));
        let secondary = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
        assert_eq!(rate_limit_wait(403, &headers(&[]), secondary), Some(RATE_LIMIT_WAIT));
        assert_eq!(rate_limit_wait(403, &headers(&[("retry-after", "3")]), secondary), Some(Duration::from_secs(3)));
        let reset = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 120).to_string();
        let wait = rate_limit_wait(403, &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)]), "").unwrap();
        assert!((Duration::from_secs(115)..=Duration::from_secs(120)).contains(&wait), "{wait:?}");
        // A plain refusal is not a rate limit.
        assert_eq!(rate_limit_wait(403, &headers(&[("x-ratelimit-remaining", "4999")]), r#"{"message":"Resource not accessible by integration"}"#), None);
        assert_eq!(rate_limit_wait(502, &headers(&[("retry-after", "1")]), ""), None);
    }

    #[test]
    fn only_requests_that_cannot_do_their_work_twice_are_repeated_after_an_unknown_outcome() {
        assert!(is_idempotent(&Method::GET) && is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
    }
}
