//! Manifests from a plain directory (`ordo plan ./dir`, tests, local development).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::walk::{FileTree, Node, collect};
use super::{Selection, Snapshot, SourceError};

/// Reads the files `sel` selects below `root`. Symlinks are followed when they stay inside
/// `root` and refused when they leave it. The snapshot has no commit.
pub fn read_dir(root: &Path, sel: &Selection) -> Result<Snapshot, SourceError> {
    let canonical = fs::canonicalize(root).map_err(|e| SourceError::io(root, e))?;
    let tree = DiskTree {
        given: root.to_path_buf(),
        canonical,
    };
    Ok(Snapshot {
        commit: None,
        files: collect(&tree, sel)?,
        signature: None,
    })
}

struct DiskTree {
    given: PathBuf,
    canonical: PathBuf,
}

impl DiskTree {
    fn at(&self, path: &str) -> PathBuf {
        self.canonical.join(path)
    }
}

impl FileTree for DiskTree {
    fn node(&self, path: &str) -> Result<Option<Node>, SourceError> {
        let full = self.at(path);
        let meta = match fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SourceError::io(full, e)),
        };
        let kind = meta.file_type();
        Ok(Some(if kind.is_symlink() {
            Node::Link
        } else if kind.is_dir() {
            Node::Dir
        } else if kind.is_file() {
            Node::File { size: meta.len() }
        } else {
            Node::Other
        }))
    }

    fn list(&self, path: &str) -> Result<Vec<String>, SourceError> {
        let full = self.at(path);
        let entries = fs::read_dir(&full).map_err(|e| SourceError::io(&full, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| SourceError::io(&full, e))?;
            // A name that is not UTF-8 cannot be a path in a manifest repository we report on.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn read(&self, path: &str, display: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        let full = self.at(path);
        let file = fs::File::open(&full).map_err(|e| SourceError::io(&full, e))?;
        let mut data = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| SourceError::io(&full, e))?;
        let size = data.len() as u64;
        if size > limit {
            return Err(SourceError::FileTooLarge {
                path: display.to_string(),
                size,
                limit,
            });
        }
        Ok(data)
    }

    fn link_target(&self, path: &str) -> Result<String, SourceError> {
        let full = self.at(path);
        let target = fs::read_link(&full).map_err(|e| SourceError::io(&full, e))?;
        Ok(target.to_string_lossy().into_owned())
    }

    fn absolute_inside(&self, target: &str) -> Option<String> {
        let target = Path::new(target);
        let rel = target
            .strip_prefix(&self.canonical)
            .or_else(|_| target.strip_prefix(&self.given))
            .ok()?;
        Some(rel.to_string_lossy().into_owned())
    }

    fn describe(&self) -> String {
        format!("directory '{}'", self.given.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Limits;
    use std::os::unix::fs::symlink;

    fn write(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    fn paths(s: &Snapshot) -> Vec<&str> {
        s.files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn reads_selected_files_recursively_sorted_and_skips_hidden() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "b.yaml", "b");
        write(t.path(), "a/z.yml", "z");
        write(t.path(), "a-b/c.json", "{}");
        write(t.path(), "README.md", "no");
        write(t.path(), ".git/config.yaml", "hidden dir");
        write(t.path(), ".gitlab-ci.yml", "hidden file");
        let s = read_dir(t.path(), &Selection::default()).unwrap();
        assert_eq!(paths(&s), ["a-b/c.json", "a/z.yml", "b.yaml"]);
        assert!(s.commit.is_none());
        assert_eq!(s.files[2].data, b"b");
    }

    #[test]
    fn path_selects_a_subdirectory_and_globs_are_relative_to_it() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "apps/web/deploy.yaml", "d");
        write(t.path(), "apps/web/tests/t.yaml", "t");
        write(t.path(), "other.yaml", "o");
        let sel = Selection {
            path: "./apps/web/".into(),
            include: vec!["*.yaml".into()],
            ..Selection::default()
        };
        let s = read_dir(t.path(), &sel).unwrap();
        assert_eq!(paths(&s), ["apps/web/deploy.yaml"]);
    }

    #[test]
    fn missing_path_is_an_error_naming_it() {
        let t = tempfile::tempdir().unwrap();
        let err = read_dir(t.path(), &Selection::at("apps/x")).unwrap_err();
        assert!(matches!(err, SourceError::PathNotFound { ref path, .. } if path == "apps/x"));
        assert!(err.to_string().contains("'apps/x' does not exist"), "{err}");
    }

    #[test]
    fn path_that_is_a_file_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "a.yaml", "a");
        let err = read_dir(t.path(), &Selection::at("a.yaml")).unwrap_err();
        assert!(matches!(err, SourceError::NotADirectory { .. }), "{err}");
    }

    #[test]
    fn file_over_the_limit_is_refused_by_name() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "small.yaml", "x");
        write(t.path(), "big.yaml", &"x".repeat(101));
        let sel = Selection {
            limits: Limits {
                max_file_bytes: 100,
                max_total_bytes: 1000,
            },
            ..Selection::default()
        };
        let err = read_dir(t.path(), &sel).unwrap_err();
        assert!(err.to_string().contains("big.yaml"), "{err}");
    }

    #[test]
    fn total_over_the_limit_is_refused() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..5 {
            write(t.path(), &format!("f{i}.yaml"), &"x".repeat(30));
        }
        let sel = Selection {
            limits: Limits {
                max_file_bytes: 100,
                max_total_bytes: 100,
            },
            ..Selection::default()
        };
        let err = read_dir(t.path(), &sel).unwrap_err();
        assert!(matches!(err, SourceError::TotalTooLarge { .. }), "{err}");
    }

    #[test]
    fn unselected_large_files_do_not_count() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "a.yaml", "a");
        write(t.path(), "blob.bin", &"x".repeat(500));
        let sel = Selection {
            limits: Limits {
                max_file_bytes: 100,
                max_total_bytes: 100,
            },
            ..Selection::default()
        };
        assert_eq!(paths(&read_dir(t.path(), &sel).unwrap()), ["a.yaml"]);
    }

    #[test]
    fn symlinks_inside_the_root_are_followed_once() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "common/cm.yaml", "cm");
        write(t.path(), "apps/web/deploy.yaml", "d");
        symlink("../../common", t.path().join("apps/web/common")).unwrap();
        symlink("deploy.yaml", t.path().join("apps/web/alias.yaml")).unwrap();
        let s = read_dir(t.path(), &Selection::at("apps/web")).unwrap();
        // alias.yaml sorts first, so the file is reported under that name, once.
        assert_eq!(
            paths(&s),
            ["apps/web/alias.yaml", "apps/web/common/cm.yaml"]
        );
    }

    #[test]
    fn symlink_cycles_terminate() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "a/x.yaml", "x");
        symlink("..", t.path().join("a/up")).unwrap();
        symlink("loop2", t.path().join("loop1")).unwrap();
        symlink("loop1", t.path().join("loop2")).unwrap();
        let err = read_dir(t.path(), &Selection::default()).unwrap_err();
        assert!(matches!(err, SourceError::SymlinkLoop { .. }), "{err}");
        fs::remove_file(t.path().join("loop1")).unwrap();
        fs::remove_file(t.path().join("loop2")).unwrap();
        let s = read_dir(t.path(), &Selection::default()).unwrap();
        assert_eq!(paths(&s), ["a/x.yaml"]);
    }

    #[test]
    fn symlink_pointing_outside_the_root_is_refused_by_name() {
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.yaml", "s");
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "ok.yaml", "ok");
        symlink(
            outside.path().join("secret.yaml"),
            t.path().join("leak.yaml"),
        )
        .unwrap();
        let err = read_dir(t.path(), &Selection::default()).unwrap_err();
        assert!(matches!(err, SourceError::SymlinkOutside { ref path, .. } if path == "leak.yaml"));

        fs::remove_file(t.path().join("leak.yaml")).unwrap();
        symlink("../../..", t.path().join("up")).unwrap();
        let err = read_dir(t.path(), &Selection::default()).unwrap_err();
        assert!(matches!(err, SourceError::SymlinkOutside { ref path, .. } if path == "up"));
    }

    #[test]
    fn absolute_symlink_into_the_root_is_followed() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "real/a.yaml", "a");
        let target = fs::canonicalize(t.path()).unwrap().join("real/a.yaml");
        fs::create_dir(t.path().join("app")).unwrap();
        symlink(target, t.path().join("app/a.yaml")).unwrap();
        let s = read_dir(t.path(), &Selection::at("app")).unwrap();
        assert_eq!(paths(&s), ["app/a.yaml"]);
    }

    #[test]
    fn broken_symlink_is_an_error_naming_it() {
        let t = tempfile::tempdir().unwrap();
        symlink("gone.yaml", t.path().join("dangling.yaml")).unwrap();
        let err = read_dir(t.path(), &Selection::default()).unwrap_err();
        assert!(
            matches!(err, SourceError::SymlinkBroken { ref path, .. } if path == "dangling.yaml")
        );
    }
}
