//! Running kustomize and helm as contained subprocesses: the files in a fresh temporary
//! directory, an environment with nothing of ours in it, a deadline and an output budget.
//!
//! Why: the repository is someone else's. A render must not see the agent's credentials
//! (tokens in the environment, ~/.kube, ~/.docker), must not share state with another app's
//! render (no shared cache directory), and must not hang or flood the agent.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::RenderLimits;
use super::confine::Confined;
use super::error::{RenderError, Tool};
use super::scratch::{self, NoRoom, Reservation};
use crate::source::SourceFile;

/// How much of a tool's stderr is kept for the error message.
const STDERR_KEEP: usize = 4 * 1024;
/// Read size for the tool's pipes.
const CHUNK: usize = 64 * 1024;

/// A fresh temporary directory holding the repository files (`repo/`) and a home for the tool
/// (`home/`); removed when dropped.
pub(super) struct Sandbox {
    dir: tempfile::TempDir,
    tool: Tool,
    app: String,
    /// Room held in the scratch space: the tool's allowance, then what `extract` writes.
    /// Declared after `dir`, so it is given back only once the directory is removed.
    room: Vec<Reservation>,
}

/// How long a render waits for room in the scratch space before it is retried later.
const ROOM_WAIT: Duration = Duration::from_secs(60);

impl Sandbox {
    pub(super) fn new(tool: Tool, app: &str) -> Result<Self, RenderError> {
        let allowance =
            scratch::reserve(scratch::TOOL_ALLOWANCE, ROOM_WAIT).map_err(|e| no_room(app, e))?;
        let dir = tempfile::Builder::new()
            .prefix("ordo-render-")
            .tempdir()
            .map_err(|source| RenderError::Io {
                tool,
                app: app.to_owned(),
                path: std::env::temp_dir(),
                source,
            })?;
        let sandbox = Sandbox {
            dir,
            tool,
            app: app.to_owned(),
            room: vec![allowance],
        };
        sandbox.create_dir(&sandbox.home().join("tmp"))?;
        sandbox.create_dir(&sandbox.repo())?;
        Ok(sandbox)
    }

    pub(super) fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub(super) fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn io(&self, path: &Path, source: std::io::Error) -> RenderError {
        RenderError::Io {
            tool: self.tool,
            app: self.app.clone(),
            path: path.to_path_buf(),
            source,
        }
    }

    fn create_dir(&self, path: &Path) -> Result<(), RenderError> {
        std::fs::create_dir_all(path).map_err(|e| self.io(path, e))
    }

    /// A new directory at `rel` (relative to the sandbox root, outside `repo/`), for what a
    /// tool downloads.
    pub(super) fn dir(&self, rel: &str) -> Result<PathBuf, RenderError> {
        let path = self.dir.path().join(rel);
        self.create_dir(&path)?;
        Ok(path)
    }

    /// Writes `data` at `rel` (relative to the sandbox root, '/'-separated, already checked).
    pub(super) fn write(&self, rel: &str, data: &[u8]) -> Result<PathBuf, RenderError> {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            self.create_dir(parent)?;
        }
        std::fs::write(&path, data).map_err(|e| self.io(&path, e))?;
        Ok(path)
    }

    /// Writes the repository files under `repo/`. Paths come from `source`, which already
    /// refuses `..` and absolute paths; checked again because a file written outside the
    /// sandbox would be worse than a failed render.
    pub(super) fn extract(&mut self, files: &[SourceFile]) -> Result<(), RenderError> {
        let bytes: u64 = files.iter().map(|f| f.data.len() as u64).sum();
        let room = scratch::reserve(bytes, ROOM_WAIT).map_err(|e| no_room(&self.app, e))?;
        self.room.push(room);
        for file in files {
            let inside = !file.path.starts_with('/')
                && file.path.split('/').all(|p| !p.is_empty() && p != "..");
            if !inside {
                return Err(RenderError::Input {
                    app: self.app.clone(),
                    message: format!("repository file {:?} is not a relative path", file.path),
                });
            }
            self.write(&format!("repo/{}", file.path), &file.data)?;
        }
        Ok(())
    }

    /// `program` with an empty environment apart from PATH and HOME inside the sandbox (so no
    /// token, kubeconfig or proxy setting of the agent leaks in), run from `repo/`, confined to
    /// the sandbox with no network until [`Confined::allow_network`].
    pub(super) fn command(&self, program: &Path) -> Confined {
        let home = self.home();
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("HOME", &home)
            .env("PATH", home.join("bin"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("KUBECONFIG", home.join("no-kubeconfig"))
            .env("TMPDIR", home.join("tmp"))
            .current_dir(self.repo());
        Confined::new(command, program, self.dir.path())
    }
}

/// What the pipe readers report.
enum Event {
    Stdout(Vec<u8>),
    OverBudget,
    ReadFailed(std::io::Error),
    Stderr(String),
}

fn no_room(app: &str, why: NoRoom) -> RenderError {
    let mib = |b: u64| b.div_ceil(1 << 20);
    let (message, busy) = match why {
        NoRoom::TooLarge { needed, total } => (
            format!(
                "the render needs {} MiB of scratch space, more than the {} MiB there is (three \
                 quarters of {}): render less, or give ordo a larger temporary directory",
                mib(needed),
                mib(total),
                scratch::SCRATCH_ENV
            ),
            false,
        ),
        NoRoom::Busy { needed, waited } => (
            format!(
                "no room for {} MiB of render scratch space within {} s (other renders hold \
                 it); will retry",
                mib(needed),
                waited.as_secs()
            ),
            true,
        ),
    };
    RenderError::NoRoom {
        app: app.to_owned(),
        message,
        busy,
    }
}

/// Runs `command`, returning its stdout when it exits 0 within the limits.
pub(super) fn run(
    command: Confined,
    tool: Tool,
    app: &str,
    limits: &RenderLimits,
) -> Result<Vec<u8>, RenderError> {
    run_with_stdin(command, tool, app, limits, None)
}

/// [`run`], writing `stdin` (then closing it) when given: how decrypted values reach helm
/// without a file. The buffer is wiped once written.
pub(super) fn run_with_stdin(
    mut command: Confined,
    tool: Tool,
    app: &str,
    limits: &RenderLimits,
    stdin: Option<Zeroizing<Vec<u8>>>,
) -> Result<Vec<u8>, RenderError> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn(limits.max_memory_bytes)
        .map_err(|source| RenderError::Io {
            tool,
            app: app.to_owned(),
            path: PathBuf::from(command.get_program()),
            source,
        })?;
    if let (Some(mut pipe), Some(data)) = (child.stdin.take(), stdin) {
        // A thread, so a tool that reads stdin late (or never) cannot block us on a full
        // pipe; a failed write shows as the tool's own error or exit code.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let deadline = Instant::now() + limits.timeout;
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        let tx = tx.clone();
        let budget = limits.max_output_bytes;
        std::thread::spawn(move || {
            let _ = tx.send(read_stdout(stdout, budget));
        });
    }
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            let _ = tx.send(Event::Stderr(read_stderr(stderr)));
        });
    }
    let stopped = |child: &mut Child, error: RenderError| {
        stop(child);
        Err(error)
    };
    let (mut stdout, mut stderr) = (None, None);
    while stdout.is_none() || stderr.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Stdout(out)) => stdout = Some(out),
            Ok(Event::Stderr(err)) => stderr = Some(err),
            Ok(Event::OverBudget) => {
                let limit = limits.max_output_bytes;
                let app = app.to_owned();
                return stopped(&mut child, RenderError::OutputTooLarge { tool, app, limit });
            }
            Ok(Event::ReadFailed(source)) => {
                let path = PathBuf::from(command.get_program());
                let app = app.to_owned();
                return stopped(
                    &mut child,
                    RenderError::Io {
                        tool,
                        app,
                        path,
                        source,
                    },
                );
            }
            Err(_) => {
                let after = limits.timeout;
                let app = app.to_owned();
                return stopped(&mut child, RenderError::Timeout { tool, app, after });
            }
        }
    }
    let Some(status) = wait_until(&mut child, deadline) else {
        let after = limits.timeout;
        return Err(RenderError::Timeout {
            tool,
            app: app.to_owned(),
            after,
        });
    };
    if !status.success() {
        return Err(RenderError::ToolFailed {
            tool,
            app: app.to_owned(),
            code: status.code(),
            stderr: stderr.unwrap_or_default(),
        });
    }
    Ok(stdout.unwrap_or_default())
}

/// Kills and reaps the child; errors are moot, the render has already failed.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for the exit after both pipes closed. A tool normally exits right after closing
/// them, so this polls briefly rather than parking a thread per render; one that closes its
/// pipes and keeps running is stopped at the deadline.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) | Err(_) => {
                stop(child);
                return None;
            }
        }
    }
}

/// Reads stdout up to `budget` bytes; past it, stops reading (the caller kills the tool).
fn read_stdout(mut pipe: impl Read, budget: u64) -> Event {
    let mut out = Vec::new();
    let mut chunk = vec![0; CHUNK];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => return Event::Stdout(out),
            Ok(n) => {
                out.extend_from_slice(&chunk[..n]);
                if out.len() as u64 > budget {
                    return Event::OverBudget;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Event::ReadFailed(e),
        }
    }
}

/// Reads stderr to the end (so the tool never blocks on a full pipe), keeping the start.
fn read_stderr(mut pipe: impl Read) -> String {
    let mut kept = Vec::new();
    let mut dropped = 0usize;
    let mut chunk = vec![0; CHUNK];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                let room = STDERR_KEEP.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&chunk[..room]);
                dropped += n - room;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    bounded_stderr(&kept, dropped)
}

/// The kept start of stderr, trimmed, with how much was left out.
pub(super) fn bounded_stderr(kept: &[u8], dropped: usize) -> String {
    let text = String::from_utf8_lossy(kept);
    let text = text.trim();
    if dropped == 0 {
        text.to_owned()
    } else {
        format!("{text}… ({dropped} more bytes not shown)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_is_trimmed_and_says_how_much_was_left_out() {
        assert_eq!(bounded_stderr(b"  Error: boom\n", 0), "Error: boom");
        let long = bounded_stderr(b"Error: start", 9000);
        assert!(long.ends_with("(9000 more bytes not shown)"), "{long}");
    }

    #[test]
    fn stderr_keeps_at_most_a_few_kib() {
        let big = vec![b'x'; 100_000];
        let text = read_stderr(&big[..]);
        assert!(text.len() < STDERR_KEEP + 100, "{}", text.len());
        assert!(text.contains(&format!("{} more bytes", 100_000 - STDERR_KEEP)));
    }

    #[test]
    fn stdout_past_the_budget_is_refused() {
        let data = vec![b'y'; 1000];
        assert!(matches!(read_stdout(&data[..], 999), Event::OverBudget));
        assert!(matches!(read_stdout(&data[..], 1000), Event::Stdout(v) if v.len() == 1000));
    }

    #[test]
    fn sandbox_refuses_paths_leaving_it() {
        let mut sandbox = Sandbox::new(Tool::Kustomize, "app").unwrap();
        for path in ["../x.yaml", "/etc/passwd", "a/../../b"] {
            let files = [SourceFile {
                path: path.into(),
                data: Vec::new(),
            }];
            assert!(sandbox.extract(&files).is_err(), "{path}");
        }
    }
}
