//! How much one git fetch may download. A repository is untrusted input: a commit that adds a
//! multi-gigabyte file (or a server that never stops sending) must fail that app's fetch, not
//! fill the cache's volume for every app (issue #23).

use std::sync::OnceLock;

/// The bound when `ORDO_GIT_MAX_FETCH_BYTES` is not set: 1 GiB.
pub const DEFAULT_GIT_MAX_FETCH_BYTES: u64 = 1024 * 1024 * 1024;
/// Bytes (`1073741824`, or with a unit: `512Mi`, `2Gi`) one fetch may download.
pub const GIT_MAX_FETCH_BYTES_ENV: &str = "ORDO_GIT_MAX_FETCH_BYTES";

/// The bound from `ORDO_GIT_MAX_FETCH_BYTES`, else 1 GiB. Read once; an invalid value falls
/// back to the default here, and the binary refuses it at startup
/// ([`git_max_fetch_bytes_from_env`]).
pub fn git_max_fetch_bytes() -> u64 {
    static BOUND: OnceLock<u64> = OnceLock::new();
    *BOUND.get_or_init(|| git_max_fetch_bytes_from_env().unwrap_or(DEFAULT_GIT_MAX_FETCH_BYTES))
}

/// `ORDO_GIT_MAX_FETCH_BYTES` checked, for the binary's startup.
pub fn git_max_fetch_bytes_from_env() -> Result<u64, String> {
    match std::env::var(GIT_MAX_FETCH_BYTES_ENV) {
        Ok(value) => parse_git_max_fetch_bytes(&value),
        Err(_) => Ok(DEFAULT_GIT_MAX_FETCH_BYTES),
    }
}

/// A whole number of bytes, optionally with a Kubernetes-style binary suffix (`Ki`, `Mi`,
/// `Gi`), at least 1 MiB.
pub fn parse_git_max_fetch_bytes(value: &str) -> Result<u64, String> {
    let text = value.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let unit = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => 0,
    };
    let bytes = digits
        .parse::<u64>()
        .ok()
        .filter(|_| unit > 0)
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| {
            format!(
                "{GIT_MAX_FETCH_BYTES_ENV}={value:?} is not a size in bytes \
                 (e.g. {GIT_MAX_FETCH_BYTES_ENV}=2Gi or 2147483648)"
            )
        })?;
    if bytes < 1 << 20 {
        return Err(format!(
            "{GIT_MAX_FETCH_BYTES_ENV}={value:?} is below 1Mi: no repository would fit"
        ));
    }
    Ok(bytes)
}

/// A size as messages show it: `1 GiB`, `512 MiB`, else bytes.
pub(crate) fn shown(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fetch_bound_is_bytes_or_a_binary_unit_of_at_least_one_mebibyte() {
        assert_eq!(parse_git_max_fetch_bytes("2Gi"), Ok(2 << 30));
        assert_eq!(parse_git_max_fetch_bytes(" 512Mi "), Ok(512 << 20));
        assert_eq!(parse_git_max_fetch_bytes("1048576"), Ok(1 << 20));
        for bad in ["", "lots", "1G", "-5", "1.5Gi", "99999999999999999999Gi"] {
            let err = parse_git_max_fetch_bytes(bad).unwrap_err();
            assert!(err.contains(GIT_MAX_FETCH_BYTES_ENV), "{bad}: {err}");
        }
        assert!(
            parse_git_max_fetch_bytes("1Ki")
                .unwrap_err()
                .contains("below 1Mi")
        );
    }

    #[test]
    fn sizes_are_shown_in_the_largest_whole_unit() {
        assert_eq!(shown(1 << 30), "1 GiB");
        assert_eq!(shown(3 << 20), "3 MiB");
        assert_eq!(shown(1000), "1000 bytes");
    }
}
