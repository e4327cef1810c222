//! When to try a delivery again, and after how long: pure, so the tables below pin it down.
//!
//! Retried: connection errors, timeouts, `429 Too Many Requests`, `408` and 5xx, with
//! exponential backoff (1 s, 2 s, 4 s, … at most [`MAX_BACKOFF`]) or after the receiver's
//! `Retry-After` (seconds or an HTTP date, RFC 9110 §10.2.3) when it sends one. Anything else
//! (a wrong token's 401, a 404) fails at once: trying again would get the same answer.

use std::time::{Duration, SystemTime};

/// Attempts per message, the first included.
pub const MAX_ATTEMPTS: u32 = 5;
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A `Retry-After` longer than this gives up instead: the queue must keep moving.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What one attempt's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Worth another try, after the receiver's `Retry-After` if it gave one.
    Retry(Option<Duration>),
    Failed,
}

/// The verdict on an HTTP status and its `Retry-After` header.
pub fn classify(status: u16, retry_after: Option<&str>, now: SystemTime) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => {
            Verdict::Retry(retry_after.and_then(|v| parse_retry_after(v, now)))
        }
        _ => Verdict::Failed,
    }
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`; a date in the past is
/// zero; anything else is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// How long to wait before attempt `attempt + 1` (`attempt` counts from 1), or `None` when
/// the message should be given up.
pub fn next_delay(attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    match retry_after {
        Some(d) if d > MAX_RETRY_AFTER => None,
        Some(d) => Some(d),
        None => {
            let exp = Duration::from_secs(1u64 << (attempt - 1).min(10));
            Some(exp.min(MAX_BACKOFF))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let cases: &[(u16, Option<&str>, Verdict)] = &[
            (200, None, Verdict::Delivered),
            (201, None, Verdict::Delivered),
            (204, Some("5"), Verdict::Delivered),
            (401, None, Verdict::Failed),
            (403, None, Verdict::Failed),
            (404, None, Verdict::Failed),
            (422, None, Verdict::Failed),
            (408, None, Verdict::Retry(None)),
            (429, Some("7"), Verdict::Retry(Some(Duration::from_secs(7)))),
            (429, Some("soon"), Verdict::Retry(None)),
            (500, None, Verdict::Retry(None)),
            (
                503,
                Some("Wed, 21 Oct 2015 07:28:10 GMT"),
                Verdict::Retry(Some(Duration::from_secs(10))),
            ),
        ];
        for (status, header, want) in cases {
            assert_eq!(
                classify(*status, *header, now),
                *want,
                "{status} {header:?}"
            );
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 07:28:00
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            (" 120 ", Some(120)),
            ("Wed, 21 Oct 2015 07:28:30 GMT", Some(30)),
            ("Wed, 21 Oct 2015 07:27:00 GMT", Some(0)),
            ("-1", None),
            ("1.5", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(
                parse_retry_after(value, now),
                want.map(Duration::from_secs),
                "{value:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_is_capped_and_stops() {
        let s = Duration::from_secs;
        let cases: &[(u32, Option<Duration>, Option<Duration>)] = &[
            (1, None, Some(s(1))),
            (2, None, Some(s(2))),
            (3, None, Some(s(4))),
            (4, None, Some(s(8))),
            (MAX_ATTEMPTS, None, None),
            (1, Some(s(30)), Some(s(30))),
            (2, Some(s(0)), Some(s(0))),
            (1, Some(s(301)), None),
            (MAX_ATTEMPTS, Some(s(1)), None),
        ];
        for (attempt, retry_after, want) in cases {
            assert_eq!(
                next_delay(*attempt, *retry_after),
                *want,
                "{attempt} {retry_after:?}"
            );
        }
        // Past the doubling, the cap holds.
        assert!(MAX_BACKOFF >= s(8));
    }
}
