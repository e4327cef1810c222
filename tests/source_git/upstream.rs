//! An upstream repository driven with the `git` CLI, as a user would push to it.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub struct Upstream {
    dir: TempDir,
}

impl Upstream {
    /// An empty repository whose default branch is `main`.
    pub fn new() -> Self {
        let up = Upstream {
            dir: tempfile::tempdir().unwrap(),
        };
        up.git(&["init", "-q", "-b", "main"]);
        up
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the work tree with a fixed identity and no user or system config.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(self.path(), args)
    }

    pub fn write(&self, rel: &str, body: &[u8]) -> &Self {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
        self
    }

    pub fn symlink(&self, rel: &str, target: &str) -> &Self {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    pub fn remove(&self, rel: &str) -> &Self {
        self.git(&["rm", "-q", rel]);
        self
    }

    /// Commits everything and returns the new commit's SHA.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// A bare copy under `root/name` (for serving over HTTP), with `main` as its HEAD.
    pub fn publish(&self, root: &Path, name: &str) -> PathBuf {
        let bare = root.join(name);
        git_in(
            root,
            &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        self.push(&bare);
        bare
    }

    /// Force-pushes every branch and tag to `bare`.
    pub fn push(&self, bare: &Path) {
        let dest = bare.to_str().unwrap();
        self.git(&["push", "-q", "--force", dest, "refs/heads/*:refs/heads/*"]);
        self.git(&["push", "-q", "--force", dest, "refs/tags/*:refs/tags/*"]);
    }
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test Author",
            "-c",
            "user.email=author@example.com",
        ])
        .args([
            "-c",
            "core.symlinks=true",
            "-c",
            "tag.gpgSign=false",
            "-c",
            "commit.gpgSign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
