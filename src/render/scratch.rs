//! The render scratch space: every sandbox lives in the temporary directory, which in a pod is
//! an `emptyDir` with a size limit (the chart's `tmp.sizeLimit`). Past it the kubelet evicts
//! the whole agent, so twenty renders of a big repository at once must not get there: each
//! render reserves what it extracts plus [`TOOL_ALLOWANCE`] before writing anything, and waits
//! for room while others finish. What a tool writes itself is not measured: without network
//! helm and kustomize write only a few small files in their home; a pulled chart (a few
//! hundred KiB as published) is what the allowance is for.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The size of the temporary directory renders use (`48Mi`, `1Gi` or bytes); ordo keeps a
/// quarter of it free for everything else written there. The chart sets it from
/// `tmp.sizeLimit`.
pub const SCRATCH_ENV: &str = "ORDO_RENDER_SCRATCH";
/// Outside a pod: a bound that only a runaway would reach.
const DEFAULT_SCRATCH: u64 = 4 * 1024 * 1024 * 1024;
/// What a render may write besides its inputs (the tool's home, a pulled chart and its
/// dependencies), reserved up front.
pub const TOOL_ALLOWANCE: u64 = 8 * 1024 * 1024;

/// Bytes reserved by the renders running now, out of `total`.
struct Budget {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

fn budget() -> &'static Budget {
    static BUDGET: OnceLock<Budget> = OnceLock::new();
    BUDGET.get_or_init(|| {
        let size = std::env::var(SCRATCH_ENV)
            .ok()
            .and_then(|v| parse_size(&v).ok())
            .unwrap_or(DEFAULT_SCRATCH);
        Budget {
            total: size / 4 * 3,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    })
}

/// `ORDO_RENDER_SCRATCH` as given, checked at start so a typo stops ordo rather than falling
/// back to the default.
pub fn check_env() -> Result<(), String> {
    match std::env::var(SCRATCH_ENV) {
        Ok(value) => parse_size(&value)
            .map(drop)
            .map_err(|e| format!("{SCRATCH_ENV}={value:?}: {e}")),
        Err(_) => Ok(()),
    }
}

/// Bytes, or a number with `Ki`, `Mi` or `Gi` as Kubernetes writes quantities.
pub fn parse_size(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    let scale: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => return Err("write bytes or a number with Ki, Mi or Gi (e.g. 64Mi)".to_owned()),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| "write bytes or a number with Ki, Mi or Gi (e.g. 64Mi)".to_owned())?;
    number
        .checked_mul(scale)
        .filter(|&n| n >= 4 * TOOL_ALLOWANCE)
        .ok_or_else(|| format!("at least {}Mi", (4 * TOOL_ALLOWANCE) >> 20))
}

/// Room held in the scratch space; given back when dropped.
pub(super) struct Reservation {
    budget: &'static Budget,
    bytes: u64,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reservation({} bytes)", self.bytes)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Ok(mut used) = self.budget.used.lock() {
            *used = used.saturating_sub(self.bytes);
            self.budget.freed.notify_all();
        }
    }
}

/// Why a render got no room.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NoRoom {
    /// More than the whole scratch space: it never fits.
    TooLarge { needed: u64, total: u64 },
    /// Other renders held the room for all of `waited`.
    Busy { needed: u64, waited: Duration },
}

/// Reserves `bytes`, waiting up to `wait` for other renders to give room back.
pub(super) fn reserve(bytes: u64, wait: Duration) -> Result<Reservation, NoRoom> {
    reserve_in(budget(), bytes, wait)
}

fn reserve_in(budget: &'static Budget, needed: u64, wait: Duration) -> Result<Reservation, NoRoom> {
    if needed > budget.total {
        return Err(NoRoom::TooLarge {
            needed,
            total: budget.total,
        });
    }
    let deadline = Instant::now() + wait;
    let busy = || NoRoom::Busy {
        needed,
        waited: wait,
    };
    let mut used = budget.used.lock().map_err(|_| busy())?;
    while *used + needed > budget.total {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(busy());
        }
        used = budget.freed.wait_timeout(used, left).map_err(|_| busy())?.0;
    }
    *used += needed;
    Ok(Reservation {
        budget,
        bytes: needed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bytes_or_kubernetes_quantities() {
        assert_eq!(parse_size("64Mi"), Ok(64 << 20));
        assert_eq!(parse_size("1Gi"), Ok(1 << 30));
        assert_eq!(parse_size("33554432"), Ok(32 << 20));
        assert!(parse_size("64M").is_err());
        assert!(parse_size("1Mi").unwrap_err().contains("at least 32Mi"));
    }

    #[test]
    fn renders_wait_for_room_and_one_larger_than_the_space_is_refused() {
        let budget: &'static Budget = Box::leak(Box::new(Budget {
            total: 100,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }));
        assert_eq!(
            reserve_in(budget, 101, Duration::ZERO).unwrap_err(),
            NoRoom::TooLarge {
                needed: 101,
                total: 100
            }
        );
        let first = reserve_in(budget, 60, Duration::ZERO).unwrap();
        assert_eq!(
            reserve_in(budget, 50, Duration::from_millis(10)).unwrap_err(),
            NoRoom::Busy {
                needed: 50,
                waited: Duration::from_millis(10)
            }
        );
        let waiter = std::thread::spawn(move || reserve_in(budget, 50, Duration::from_secs(30)));
        drop(first);
        let second = waiter.join().unwrap();
        assert!(second.is_ok(), "room given back wakes a waiter");
        assert_eq!(*budget.used.lock().unwrap(), 50);
        drop(second);
        assert_eq!(*budget.used.lock().unwrap(), 0);
    }
}
