//! How long ordo waits on a git server. A server that accepts a connection and never answers
//! must not hold an app (or SIGTERM) for ever: libgit2's sockets get connect and read timeouts,
//! and the async wrappers in `git.rs` give up on a blocking fetch that goes silent.

use std::os::raw::c_int;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{RepoSpec, SourceError};

/// The bound when `ORDO_GIT_TIMEOUT` is not set.
pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds (`30`, `2.5`) a git server may stay silent before ordo gives up on it.
pub const GIT_TIMEOUT_ENV: &str = "ORDO_GIT_TIMEOUT";

/// The bound from `ORDO_GIT_TIMEOUT`, else 30 s. Read once: the libgit2 side of it is
/// process-wide. An invalid value falls back to the default here; the binary refuses it at
/// startup ([`git_timeout_from_env`]), so this fallback is only reached by library users.
pub fn git_timeout() -> Duration {
    static TIMEOUT: OnceLock<Duration> = OnceLock::new();
    *TIMEOUT.get_or_init(|| git_timeout_from_env().unwrap_or(DEFAULT_GIT_TIMEOUT))
}

/// `ORDO_GIT_TIMEOUT` checked, for the binary's startup.
pub fn git_timeout_from_env() -> Result<Duration, String> {
    match std::env::var(GIT_TIMEOUT_ENV) {
        Ok(value) => parse_git_timeout(&value),
        Err(_) => Ok(DEFAULT_GIT_TIMEOUT),
    }
}

/// Seconds, whole or decimal, between 0.1 and 3600.
pub fn parse_git_timeout(value: &str) -> Result<Duration, String> {
    let seconds: f64 = value.trim().trim_end_matches('s').parse().map_err(|_| {
        format!(
            "{GIT_TIMEOUT_ENV}={value:?} is not a number of seconds (e.g. {GIT_TIMEOUT_ENV}=30)"
        )
    })?;
    if !(0.1..=3600.0).contains(&seconds) {
        return Err(format!(
            "{GIT_TIMEOUT_ENV}={value:?} is out of range: give between 0.1 and 3600 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Sets libgit2's connect and read timeouts for every socket it opens (HTTP(S) and SSH), once
/// per process; later calls (and their `timeout`) are ignored. The binary calls it first thing;
/// `fetch` and `remote_head` call it too, so a library user or test that forgets still gets
/// bounded sockets.
/// Returns the timeout in force (the first one set).
pub fn init_network_timeouts(timeout: Duration) -> Duration {
    static SET: OnceLock<Duration> = OnceLock::new();
    *SET.get_or_init(|| {
        let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
        // SAFETY: the two calls write plain C ints (`git_socket_stream__connect_timeout` and
        // `git_socket_stream__timeout`) without synchronization; they are unsound only if
        // another thread reads them at the same time. The only readers are libgit2 socket and
        // SSH streams, which ordo opens solely from `fetch` and `remote_head`, and both call this
        // function before touching the network: `OnceLock` runs the write once and makes every
        // other caller wait until it is done, which orders the write before any read.
        let set = unsafe {
            git2::opts::set_server_connect_timeout_in_milliseconds(ms)
                .and_then(|()| git2::opts::set_server_timeout_in_milliseconds(ms))
        };
        if let Err(e) = set {
            tracing::warn!("cannot set git network timeouts: {e}");
        }
        timeout
    })
}

/// When a git operation last heard from its server: the watchdog in the async wrappers gives up
/// after a silence as long as the timeout, so a slow but progressing fetch of a large
/// repository is never cut short, and a silent one is.
#[derive(Debug, Clone)]
pub(crate) struct Activity(Arc<Mutex<Instant>>);

impl Activity {
    pub(crate) fn new() -> Self {
        Activity(Arc::new(Mutex::new(Instant::now())))
    }

    /// The server sent something.
    pub(crate) fn touch(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub(crate) fn last(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whole and tenths of seconds, as messages show a timeout.
pub(crate) fn seconds(timeout: Duration) -> String {
    let tenths = timeout.as_millis().div_ceil(100);
    if tenths.is_multiple_of(10) {
        format!("{} s", tenths / 10)
    } else {
        format!("{}.{} s", tenths / 10, tenths % 10)
    }
}

/// libgit2's own socket timeouts end a silent connection with a precise error; the watchdog
/// waits that much longer before it steps in, for what they do not cover (a DNS lookup, a TLS
/// or SSH handshake stuck in a library).
const WATCHDOG_GRACE: Duration = Duration::from_secs(2);

/// The watchdog of one blocking git operation.
pub(crate) struct Watch {
    url: String,
    action: &'static str,
    timeout: Duration,
}

impl Watch {
    pub(crate) fn new(spec: &RepoSpec, action: &'static str) -> Self {
        Watch {
            url: super::without_user_info(&spec.url),
            action,
            timeout: spec.timeout,
        }
    }

    /// Runs `work` on the blocking pool and returns its result, or a timeout error once
    /// `activity` has been silent for the timeout. On timeout the blocking thread is left to
    /// finish on its own: it cannot be cancelled, and libgit2's socket timeouts end it.
    pub(crate) async fn run<T: Send + 'static>(
        self,
        activity: Activity,
        work: impl FnOnce(Activity) -> Result<T, SourceError> + Send + 'static,
    ) -> Result<T, SourceError> {
        let watched = activity.clone();
        let mut task = tokio::task::spawn_blocking(move || work(watched));
        loop {
            let deadline = activity.last() + self.timeout + WATCHDOG_GRACE;
            tokio::select! {
                joined = &mut task => {
                    return joined.map_err(|e| SourceError::Task(e.to_string()))?;
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    if activity.last() + self.timeout + WATCHDOG_GRACE <= Instant::now() {
                        return Err(SourceError::Timeout {
                            url: self.url,
                            action: self.action,
                            after: seconds(self.timeout),
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_is_seconds_within_range() {
        assert_eq!(parse_git_timeout("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_git_timeout("2.5s"), Ok(Duration::from_millis(2500)));
        assert!(parse_git_timeout("0").is_err());
        assert!(
            parse_git_timeout("soon")
                .unwrap_err()
                .contains("ORDO_GIT_TIMEOUT")
        );
    }

    #[test]
    fn seconds_are_shown_without_noise() {
        assert_eq!(seconds(Duration::from_secs(30)), "30 s");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5 s");
    }
}
