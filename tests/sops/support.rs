//! Fixtures made with the real tools at test time: OpenPGP keys from `gpg --batch
//! --quick-gen-key` (no passphrase) in a temporary GNUPGHOME, age keys from `age-keygen`, and
//! files encrypted by `sops --encrypt` (which runs gpg itself for `--pgp`, hence GNUPGHOME).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::k8s_bin;

/// A throwaway GnuPG home; its gpg-agent is stopped when dropped.
pub struct GnupgHome {
    dir: tempfile::TempDir,
}

impl GnupgHome {
    pub fn new() -> GnupgHome {
        // Short path: gpg-agent's socket lives in it, and socket paths are limited to ~100 bytes.
        let dir = tempfile::Builder::new()
            .prefix("ordo-gpg-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        GnupgHome { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn gpg(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", self.path())
            .args(["--batch", "--quiet"]);
        cmd
    }

    /// A new passphrase-less key (gpg's defaults: a primary key and an encryption subkey);
    /// returns its primary fingerprint.
    pub fn generate(&self, user_id: &str) -> String {
        run(self.gpg().args([
            "--passphrase",
            "",
            "--quick-gen-key",
            user_id,
            "default",
            "default",
            "never",
        ]));
        let listing = run(self
            .gpg()
            .args(["--with-colons", "--list-secret-keys", user_id]));
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .expect("gpg lists the fingerprint")
            .to_owned()
    }

    /// `gpg --armor --export-secret-keys FP`.
    pub fn export_secret(&self, fingerprint: &str) -> String {
        run(self
            .gpg()
            .args(["--armor", "--export-secret-keys", fingerprint]))
    }

    /// `sops --encrypt --pgp FP` of `plain`, named `name` (sops reads the format from it).
    pub fn sops_encrypt(&self, dir: &Path, name: &str, plain: &str, fingerprint: &str) -> Vec<u8> {
        let path = dir.join(name);
        std::fs::write(&path, plain).unwrap();
        let out = Command::new(k8s_bin("sops"))
            .args(["--encrypt", "--pgp", fingerprint])
            .args(["--encrypted-regex", "^(data|stringData|password|token)$"])
            .arg(&path)
            .env("GNUPGHOME", self.path())
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_RECIPIENTS")
            .current_dir(dir)
            .output()
            .expect("sops runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&path).unwrap();
        out.stdout
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.path())
            .output();
    }
}

/// An age key made by age-keygen at `path`; returns its recipient.
pub fn age_keygen(path: &Path) -> String {
    run(Command::new(k8s_bin("age-keygen")).arg("-o").arg(path));
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key")
        .to_owned()
}

/// `sops --encrypt --age RECIPIENT` of `plain`, named `name`, keeping keys listed in
/// `--encrypted-regex` sealed.
pub fn sops_encrypt_age(dir: &Path, name: &str, plain: &str, recipient: &str) -> Vec<u8> {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, plain).unwrap();
    let out = Command::new(k8s_bin("sops"))
        .args(["--encrypt", "--age", recipient])
        .arg(&path)
        .env_remove("SOPS_AGE_KEY_FILE")
        .current_dir(dir)
        .output()
        .expect("sops runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&path).unwrap();
    out.stdout
}

/// Runs `cmd`, asserting success; its stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && std::fs::read(&path)
                    .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(path);
            }
        }
    }
    found
}
