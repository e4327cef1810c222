//! What a render tool may touch, enforced by the kernel: Landlock (Linux 5.13+, TCP rules from
//! 6.7) limits the files it may read or write to its sandbox and its own binary and, unless the
//! render needs the network (a chart to pull, remote bases the app allows), forbids every TCP
//! connection, loopback included; `RLIMIT_DATA` bounds its memory.
//!
//! Why the kernel and not only our own checks: `kustomize` loads URLs from fields we may not
//! know of (and from the files those fields name), and Go skips any proxy for loopback, so an
//! address like `http://127.0.0.1:8080/…` would otherwise reach the agent's own pod. The
//! static checks (`kustomize.rs`) still run first, for a clear message.
//!
//! How, without `unsafe`: a Landlock domain binds the calling thread and what it starts, so the
//! tool is spawned from a fresh thread that restricts itself first and then ends; the agent's
//! own threads are never restricted. On a kernel without Landlock (or where a seccomp profile
//! forbids its calls) the tool runs unconfined, with one warning in the log.

use std::io;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Once;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, RestrictionStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetError, RulesetStatus, path_beneath_rules,
};

/// The newest Landlock ABI ordo asks for; older kernels get what they support (best effort).
const ABI_WANTED: ABI = ABI::V4;

/// Port 9 (discard) on loopback: nothing listens there in a pod.
const DEAD_PROXY: &str = "http://127.0.0.1:9";

/// What a tool with network access reads besides its sandbox: the system's programs and
/// libraries (git for remote bases), certificates and name resolution. Missing ones are
/// skipped. Never a home directory, ordo's cache or `/proc` (another process's environment).
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/bin",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/alternatives",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/gitconfig",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
];

/// What every tool may read to start at all: the dynamic loader and shared libraries (helm and
/// kustomize built with cgo, as `go build` does by default, link libc). System files, no secret.
const LIBRARIES: &[&str] = &[
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/etc/ld.so.cache",
];

/// Devices every tool may read and write (`/dev/null` as a sink, randomness).
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"];

/// A tool's command and the limits it will run under.
pub(super) struct Confined {
    command: Command,
    program: PathBuf,
    sandbox: PathBuf,
    network: bool,
}

impl Confined {
    pub(super) fn new(command: Command, program: &Path, sandbox: &Path) -> Self {
        Confined {
            command,
            program: program.to_path_buf(),
            sandbox: sandbox.to_path_buf(),
            network: false,
        }
    }

    /// Lets the tool open TCP connections (and read the system directories a client needs):
    /// for `helm pull`, `helm dependency build` and remote bases an app allows.
    pub(super) fn allow_network(&mut self) -> &mut Self {
        self.network = true;
        self
    }

    /// Starts the tool confined, then bounds its memory to `memory` bytes.
    pub(super) fn spawn(&mut self, memory: u64) -> io::Result<Child> {
        if !self.network {
            // Where Landlock cannot forbid TCP, a proxy that is never there still stops Go's
            // HTTP client from reaching any host but loopback.
            for var in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
                self.command.env(var, DEAD_PROXY);
            }
            self.command.env("NO_PROXY", "").env("no_proxy", "");
        }
        let (network, program, sandbox) = (self.network, &self.program, &self.sandbox);
        let command = &mut self.command;
        let child = std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    match restrict(network, program, sandbox) {
                        Ok(status) if status.ruleset != RulesetStatus::NotEnforced => {}
                        Ok(_) => warn_once("this kernel does not support Landlock"),
                        Err(e) => warn_once(&e.to_string()),
                    }
                    command.spawn()
                })
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the render tool's launcher panicked")))
        })?;
        limit_memory(&child, memory);
        Ok(child)
    }
}

impl Deref for Confined {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.command
    }
}

impl DerefMut for Confined {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.command
    }
}

/// Restricts the calling thread (and what it spawns from now on): everything in the sandbox,
/// read and execute on the tool's binary, the devices; the system directories and TCP only
/// with network access.
fn restrict(
    network: bool,
    program: &Path,
    sandbox: &Path,
) -> Result<RestrictionStatus, RulesetError> {
    let read = AccessFs::from_read(ABI_WANTED);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(ABI_WANTED))?;
    if !network {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    let mut created = ruleset
        .create()?
        .add_rules(path_beneath_rules(
            [sandbox],
            AccessFs::from_all(ABI_WANTED),
        ))?
        .add_rules(path_beneath_rules([program], read))?
        .add_rules(path_beneath_rules(LIBRARIES, read))?
        .add_rules(path_beneath_rules(DEVICES, read | AccessFs::WriteFile))?;
    if network {
        created = created.add_rules(path_beneath_rules(SYSTEM_READ, read))?;
    }
    created.restrict_self()
}

fn warn_once(why: &str) {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            reason = why,
            "render tools run without Landlock confinement (files and network are then bounded \
             only by ordo's own checks of the repository); use a kernel with Landlock enabled"
        );
    });
}

/// `RLIMIT_DATA` on the running tool: an allocation past it fails and the tool exits with an
/// error instead of growing until the pod is killed. Set right after the start, so the first
/// microseconds of the tool run unbounded; its own start-up is far below any sane limit.
/// (No `RLIMIT_FSIZE`: set this way it would race the tool's own start, and the files a tool
/// writes are counted by the scratch reservation, see `scratch.rs`.)
fn limit_memory(child: &Child, memory: u64) {
    let limit = rustix::process::Rlimit {
        current: Some(memory),
        maximum: Some(memory),
    };
    let pid = rustix::process::Pid::from_child(child);
    if let Err(e) = rustix::process::prlimit(Some(pid), rustix::process::Resource::Data, limit) {
        tracing::warn!(error = %e, "cannot bound a render tool's memory");
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::process::Stdio;

    use super::*;

    fn output(mut confined: Confined) -> (bool, String) {
        confined.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = confined.spawn(512 * 1024 * 1024).unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (child.wait().unwrap().success(), out + &err)
    }

    fn landlock_here() -> bool {
        Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessNet::ConnectTcp)
            .and_then(|r| r.create())
            .is_ok()
    }

    /// A shell confined to `dir`; `/usr` stands for the tool's binary (the shell needs its
    /// libraries there), which is read and execute only.
    fn shell(script: &str, dir: &Path) -> Confined {
        let mut command = Command::new("/bin/bash");
        command.args(["-c", script]).current_dir(dir);
        Confined::new(command, Path::new("/usr"), dir)
    }

    #[test]
    fn a_confined_tool_reads_its_sandbox_but_not_the_rest_of_the_machine() {
        assert!(
            landlock_here(),
            "this test needs a kernel with Landlock ABI 4 (Linux 6.7+)"
        );
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(outside.path(), "secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "echo inside > mine && cat mine && cat {} && echo LEAKED",
            outside.path().display()
        );
        let (ok, text) = output(shell(&script, dir.path()));
        assert!(text.contains("inside"), "{text}");
        assert!(
            !text.contains("secret") && !text.contains("LEAKED"),
            "{text}"
        );
        assert!(!ok);
    }

    #[test]
    fn a_confined_tool_cannot_allocate_past_its_memory_bound() {
        let dir = tempfile::tempdir().unwrap();
        // bash keeps the 64 MiB string in its own heap (data memory).
        let script = "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}";
        let mut confined = shell(script, dir.path());
        confined.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = confined.spawn(16 * 1024 * 1024).unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let failed = !child.wait().unwrap().success() || out.trim() != "67108864";
        assert!(failed, "allocated past the bound: {out}");
        let (ok, text) = output(shell(script, dir.path()));
        assert!(ok && text.trim() == "67108864", "{text}");
    }

    #[test]
    fn without_network_a_confined_tool_cannot_connect_even_to_loopback() {
        assert!(
            landlock_here(),
            "this test needs a kernel with Landlock ABI 4 (Linux 6.7+)"
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // bash's /dev/tcp opens a TCP connection without any other program.
        let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED");
        let dir = tempfile::tempdir().unwrap();
        let (ok, text) = output(shell(&script, dir.path()));
        assert!(!ok && !text.contains("CONNECTED"), "{text}");

        let mut allowed = shell(&script, dir.path());
        allowed.allow_network();
        let (ok, text) = output(allowed);
        assert!(ok && text.contains("CONNECTED"), "{text}");
    }
}
