//! Durations as people write them in config (`500ms`, `30s`, `5m`, `1h30m`), and the jitter
//! that keeps many apps with the same interval from polling their remotes in lockstep.

use std::time::Duration;

/// Parses `<number><unit>` parts, largest unit first or not, units `ms`, `s`, `m`, `h`:
/// `500ms`, `90s`, `5m`, `1h30m`. `None` for anything else, including a bare number (is `30`
/// seconds or minutes?) and values past a year, which can only be typos.
pub fn parse_duration(text: &str) -> Option<Duration> {
    const MAX: Duration = Duration::from_secs(366 * 24 * 3600);
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 12 {
            return None;
        }
        let amount: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let part = match &rest[..unit] {
            "ms" => Duration::from_millis(amount),
            "s" => Duration::from_secs(amount),
            "m" => Duration::from_secs(amount.checked_mul(60)?),
            "h" => Duration::from_secs(amount.checked_mul(3600)?),
            _ => return None,
        };
        rest = &rest[unit..];
        total = total.checked_add(part)?;
    }
    (total <= MAX).then_some(total)
}

/// The shortest way to write `d` that [`parse_duration`] reads back (`1h30m`, `500ms`, `0s`).
/// Sub-millisecond parts are dropped.
pub fn format_duration(d: Duration) -> String {
    let millis = d.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let parts = [
        (millis / 3_600_000, "h"),
        (millis / 60_000 % 60, "m"),
        (millis / 1000 % 60, "s"),
        (millis % 1000, "ms"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

/// `interval` moved by up to ±10%, the same for the same seed. Pure, so the caller picks the
/// seed: random for a fleet, a hash of the app name for reproducible tests.
pub fn jittered(interval: Duration, seed: u64) -> Duration {
    let nanos = interval.as_nanos();
    let spread = nanos / 10;
    if spread == 0 {
        return interval;
    }
    let offset = u128::from(splitmix64(seed)) % (2 * spread + 1);
    let jittered = nanos - spread + offset;
    let secs = u64::try_from(jittered / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder of a division by 1e9 always fits in u32.
    let sub = u32::try_from(jittered % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, sub)
}

/// SplitMix64: one round spreads nearby seeds (0, 1, 2…) over the whole range.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_people_write_are_read() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("90s", Duration::from_secs(90)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("1h30m", Duration::from_secs(5400)),
            ("1m30s500ms", Duration::from_millis(90_500)),
            (" 2m ", Duration::from_secs(120)),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Some(want), "{text}");
        }
    }

    #[test]
    fn anything_else_is_not_a_duration() {
        let bad = [
            "",
            "30",
            "5 minutes",
            "5min",
            "1.5h",
            "-1s",
            "h",
            "1h 30m",
            "10d",
            "1S",
            "999999999999999h",
            "9000h",
        ];
        for text in bad {
            assert_eq!(parse_duration(text), None, "{text:?}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for text in ["500ms", "30s", "5m", "1h", "1h30m", "2h0m5s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)), Some(d), "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_is_deterministic() {
        let interval = Duration::from_secs(30);
        let (low, high) = (Duration::from_secs(27), Duration::from_secs(33));
        let mut seen_below = false;
        let mut seen_above = false;
        for seed in 0..1000 {
            let d = jittered(interval, seed);
            assert!(d >= low && d <= high, "seed {seed}: {d:?}");
            assert_eq!(d, jittered(interval, seed));
            seen_below |= d < interval;
            seen_above |= d > interval;
        }
        assert!(seen_below && seen_above, "jitter goes both ways");
    }

    #[test]
    fn jitter_of_tiny_and_huge_intervals_does_not_overflow() {
        assert_eq!(jittered(Duration::ZERO, 7), Duration::ZERO);
        assert_eq!(
            jittered(Duration::from_nanos(5), 7),
            Duration::from_nanos(5)
        );
        let max = Duration::MAX;
        assert!(jittered(max, 3) >= max - max / 10);
    }
}
