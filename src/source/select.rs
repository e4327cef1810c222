//! Which files of a tree become manifests, and how much we are willing to read.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::SourceError;

/// Size limits. A manifest repository holding a 100 MiB file is a mistake (a vendored binary, a
/// dump): refusing it early keeps one bad commit from exhausting the agent's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 5 * 1024 * 1024,
            max_total_bytes: 50 * 1024 * 1024,
        }
    }
}

/// What to read from a tree: a directory and globs matched against paths relative to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Directory inside the repository; "" or "." is the root.
    pub path: String,
    /// Globs a file must match (relative to `path`); `*` does not cross '/', `**/` spans dirs.
    pub include: Vec<String>,
    /// Globs that drop a file even when included.
    pub exclude: Vec<String>,
    pub limits: Limits,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            path: String::new(),
            include: ["**/*.yaml", "**/*.yml", "**/*.json"]
                .map(String::from)
                .to_vec(),
            exclude: Vec::new(),
            limits: Limits::default(),
        }
    }
}

impl Selection {
    /// The default globs under `path`.
    pub fn at(path: impl Into<String>) -> Self {
        Selection {
            path: path.into(),
            ..Selection::default()
        }
    }
}

/// Compiled globs.
pub(crate) struct Matcher {
    include: GlobSet,
    exclude: GlobSet,
}

impl Matcher {
    pub(crate) fn new(sel: &Selection) -> Result<Self, SourceError> {
        Ok(Matcher {
            include: glob_set(&sel.include)?,
            exclude: glob_set(&sel.exclude)?,
        })
    }

    /// `rel` is relative to the selection path, '/'-separated.
    pub(crate) fn selects(&self, rel: &str) -> bool {
        self.include.is_match(rel) && !self.exclude.is_match(rel)
    }
}

fn glob_set(globs: &[String]) -> Result<GlobSet, SourceError> {
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        let glob = GlobBuilder::new(g)
            .literal_separator(true)
            .build()
            .map_err(|source| SourceError::InvalidGlob {
                glob: g.clone(),
                source,
            })?;
        builder.add(glob);
    }
    builder.build().map_err(|source| SourceError::InvalidGlob {
        glob: globs.join(", "),
        source,
    })
}

/// Running total of selected bytes, enforcing [`Limits`].
pub(crate) struct Budget {
    limits: Limits,
    used: u64,
}

impl Budget {
    pub(crate) fn new(limits: Limits) -> Self {
        Budget { limits, used: 0 }
    }

    /// Admits a file of `size` bytes or says which limit it breaks.
    pub(crate) fn admit(&mut self, path: &str, size: u64) -> Result<(), SourceError> {
        if size > self.limits.max_file_bytes {
            return Err(SourceError::FileTooLarge {
                path: path.to_string(),
                size,
                limit: self.limits.max_file_bytes,
            });
        }
        self.used = self.used.saturating_add(size);
        if self.used > self.limits.max_total_bytes {
            return Err(SourceError::TotalTooLarge {
                path: path.to_string(),
                limit: self.limits.max_total_bytes,
            });
        }
        Ok(())
    }
}

/// Normalises a repository-relative path: '/'-separated, no "." or empty parts, no leading '/'.
/// ".." is refused rather than resolved: a selection must not climb out of the repository.
pub(crate) fn normalize_rel(path: &str) -> Result<String, SourceError> {
    let invalid = |reason| SourceError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if path.starts_with('/') {
        return Err(invalid("must be relative to the repository root"));
    }
    let mut parts = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(invalid("must not contain '..'")),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Dot-files and dot-dirs are tool configuration (.git, .github, .gitlab-ci.yml), never manifests.
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// Joins a '/'-separated relative path and a name; "" is the root.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(include: &[&str], exclude: &[&str]) -> Selection {
        Selection {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            ..Selection::default()
        }
    }

    #[test]
    fn default_globs_select_yaml_yml_json_at_any_depth() {
        let m = Matcher::new(&Selection::default()).unwrap();
        for p in ["a.yaml", "x/b.yml", "x/y/z/c.json"] {
            assert!(m.selects(p), "{p}");
        }
        for p in ["README.md", "a.yaml.bak", "x/script.sh"] {
            assert!(!m.selects(p), "{p}");
        }
    }

    #[test]
    fn single_star_does_not_cross_directories() {
        let m = Matcher::new(&sel(&["*.yaml"], &[])).unwrap();
        assert!(m.selects("top.yaml"));
        assert!(!m.selects("sub/deep.yaml"));
    }

    #[test]
    fn exclude_wins_over_include() {
        let m = Matcher::new(&sel(&["**/*.yaml"], &["tests/**", "**/kustomization.yaml"])).unwrap();
        assert!(m.selects("app/deploy.yaml"));
        assert!(!m.selects("tests/fixture.yaml"));
        assert!(!m.selects("app/kustomization.yaml"));
    }

    #[test]
    fn invalid_glob_is_an_error_naming_it() {
        let err = Matcher::new(&sel(&["a[.yaml"], &[])).err().unwrap();
        assert!(err.to_string().contains("a[.yaml"), "{err}");
    }

    #[test]
    fn budget_refuses_a_file_over_the_per_file_limit() {
        let mut b = Budget::new(Limits::default());
        b.admit("ok.yaml", 5 * 1024 * 1024).unwrap();
        let err = b.admit("big.yaml", 5 * 1024 * 1024 + 1).unwrap_err();
        assert!(matches!(err, SourceError::FileTooLarge { ref path, .. } if path == "big.yaml"));
    }

    #[test]
    fn budget_refuses_when_the_total_is_exceeded() {
        let mut b = Budget::new(Limits {
            max_file_bytes: 10,
            max_total_bytes: 25,
        });
        b.admit("a", 10).unwrap();
        b.admit("b", 10).unwrap();
        let err = b.admit("c", 10).unwrap_err();
        assert!(matches!(err, SourceError::TotalTooLarge { ref path, limit: 25 } if path == "c"));
    }

    #[test]
    fn normalize_rel_cleans_and_refuses_escapes() {
        assert_eq!(normalize_rel("").unwrap(), "");
        assert_eq!(normalize_rel(".").unwrap(), "");
        assert_eq!(normalize_rel("./apps//web/").unwrap(), "apps/web");
        assert!(normalize_rel("../etc").is_err());
        assert!(normalize_rel("apps/../../x").is_err());
        assert!(normalize_rel("/etc").is_err());
    }
}
