//! One walk over any tree of files (a directory on disk or a commit's tree), so selection,
//! limits and symlink rules are the same for both.

use std::collections::{HashSet, VecDeque};

use super::select::{Budget, Matcher, Selection, is_hidden, join, normalize_rel};
use super::{SourceError, SourceFile};

/// Linux gives up after 40 links (ELOOP); so do we, so a cycle of links cannot hang a walk.
const MAX_LINKS: usize = 40;

/// How deep directories may nest below the root: git itself refuses trees deeper than its
/// `core.maxTreeDepth` (2048 since git 2.44, after stack overflows of its own), and no
/// manifest repository comes near it; deeper costs time quadratic in the depth to read.
pub(crate) const MAX_DEPTH: usize = 2048;

/// How many directories `path` is below the root.
fn depth(path: &str) -> usize {
    path.split('/').filter(|p| !p.is_empty()).count()
}

/// The start of a path too long to quote whole.
fn shortened(path: &str) -> String {
    const SHOWN: usize = 120;
    match path.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}…", &path[..at]),
        None => path.to_string(),
    }
}

/// What an entry is, without following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    File {
        size: u64,
    },
    Link,
    /// Submodules, sockets, fifos: never manifests.
    Other,
}

/// A tree addressed by real paths: root-relative, '/'-separated, no symlink among their parts.
pub(crate) trait FileTree {
    /// The entry at `path`, or `None` when there is none.
    fn node(&self, path: &str) -> Result<Option<Node>, SourceError>;
    /// Entry names of the directory at `path`.
    fn list(&self, path: &str) -> Result<Vec<String>, SourceError>;
    /// Contents of the file at `path`; `display` names it in errors. Reading more than `limit`
    /// bytes is an error, so a file that grows while read cannot slip past the limit.
    fn read(&self, path: &str, display: &str, limit: u64) -> Result<Vec<u8>, SourceError>;
    /// The text of the symlink at `path`.
    fn link_target(&self, path: &str) -> Result<String, SourceError>;
    /// An absolute link target mapped into the tree, if it points inside it.
    fn absolute_inside(&self, target: &str) -> Option<String>;
    /// How errors name the tree, e.g. "commit 1a2b3c4" or "directory '/srv/repo'".
    fn describe(&self) -> String;
}

/// Reads the files `sel` selects from `tree`, sorted by path.
pub(crate) fn collect(
    tree: &dyn FileTree,
    sel: &Selection,
) -> Result<Vec<SourceFile>, SourceError> {
    let base = normalize_rel(&sel.path)?;
    let not_found = || SourceError::PathNotFound {
        path: base.clone(),
        at: tree.describe(),
    };
    let (real_base, node) = match resolve(tree, &base, "", &base)? {
        Some(found) => found,
        None => return Err(not_found()),
    };
    if node != Node::Dir {
        return Err(SourceError::NotADirectory {
            path: base.clone(),
            at: tree.describe(),
        });
    }
    let mut walk = Walk {
        tree,
        matcher: Matcher::new(sel)?,
        budget: Budget::new(sel.limits),
        max_file: sel.limits.max_file_bytes,
        base: base.clone(),
        seen_dirs: HashSet::new(),
        seen_files: HashSet::new(),
        files: Vec::new(),
    };
    walk.dir(&base, &real_base)?;
    let mut files = walk.files;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

struct Walk<'a> {
    tree: &'a dyn FileTree,
    matcher: Matcher,
    budget: Budget,
    max_file: u64,
    /// The selection path; globs match below it.
    base: String,
    // Each real directory and file is read once: this stops link cycles, and a link that aliases
    // a directory does not yield its manifests twice (two copies of an object would conflict).
    seen_dirs: HashSet<String>,
    seen_files: HashSet<String>,
    files: Vec<SourceFile>,
}

/// One step of the walk, kept on an explicit stack: a recursive walk overflowed the thread's
/// stack on a tree nested 40,000 deep (issue #23), which a commit can hold at no cost.
enum Step {
    /// Read the directory at `real`, seen by the user as `logical`.
    Dir { logical: String, real: String },
    /// Look at one entry of a directory.
    Entry {
        logical: String,
        real_parent: String,
        real: String,
    },
}

impl Walk<'_> {
    /// `logical` is the path as the user sees it (through links), `real` where it lives. Depth
    /// first, entries in name order, as a recursive walk would go: which of two aliases of a
    /// file is kept must not change.
    fn dir(&mut self, logical: &str, real: &str) -> Result<(), SourceError> {
        let mut stack = vec![Step::Dir {
            logical: logical.to_string(),
            real: real.to_string(),
        }];
        while let Some(step) = stack.pop() {
            match step {
                Step::Dir { logical, real } => self.open_dir(&logical, &real, &mut stack)?,
                Step::Entry {
                    logical,
                    real_parent,
                    real,
                } => match self.tree.node(&real)? {
                    Some(Node::Dir) => stack.push(Step::Dir { logical, real }),
                    Some(Node::File { size }) => self.file(&logical, &real, size)?,
                    Some(Node::Link) => {
                        if let Some(dir) = self.link(&logical, &real_parent, &real)? {
                            stack.push(dir);
                        }
                    }
                    Some(Node::Other) | None => {}
                },
            }
        }
        Ok(())
    }

    /// Pushes the entries of a directory not seen yet, first name on top.
    fn open_dir(
        &mut self,
        logical: &str,
        real: &str,
        stack: &mut Vec<Step>,
    ) -> Result<(), SourceError> {
        if depth(logical) > MAX_DEPTH {
            return Err(SourceError::TooDeep {
                path: shortened(logical),
                limit: MAX_DEPTH,
            });
        }
        if !self.seen_dirs.insert(real.to_string()) {
            return Ok(());
        }
        let mut names = self.tree.list(real)?;
        names.sort();
        for name in names.iter().rev().filter(|n| !is_hidden(n)) {
            stack.push(Step::Entry {
                logical: join(logical, name),
                real_parent: real.to_string(),
                real: join(real, name),
            });
        }
        Ok(())
    }

    /// Follows a link: a file is read now, a directory is returned to be walked.
    fn link(
        &mut self,
        logical: &str,
        real_parent: &str,
        real: &str,
    ) -> Result<Option<Step>, SourceError> {
        let target = self.tree.link_target(real)?;
        match resolve(self.tree, logical, real_parent, &target)? {
            None => Err(SourceError::SymlinkBroken {
                path: logical.to_string(),
                target,
            }),
            Some((to, Node::Dir)) => Ok(Some(Step::Dir {
                logical: logical.to_string(),
                real: to,
            })),
            Some((to, Node::File { size })) => self.file(logical, &to, size).map(|()| None),
            Some((_, Node::Link | Node::Other)) => Ok(None),
        }
    }

    fn file(&mut self, logical: &str, real: &str, size: u64) -> Result<(), SourceError> {
        let rel = match logical.strip_prefix(&self.base) {
            Some(rest) if !self.base.is_empty() => rest.trim_start_matches('/'),
            _ => logical,
        };
        if !self.matcher.selects(rel) || !self.seen_files.insert(real.to_string()) {
            return Ok(());
        }
        self.budget.admit(logical, size)?;
        let data = self.tree.read(real, logical, self.max_file)?;
        self.files.push(SourceFile {
            path: logical.to_string(),
            data,
        });
        Ok(())
    }
}

/// Resolves `target` (relative to the real directory `start`, or absolute) to a real path and
/// its node, following links part by part like realpath(3). `None` means it does not exist.
/// Climbing above the root is refused, naming the link `logical`.
pub(crate) fn resolve(
    tree: &dyn FileTree,
    logical: &str,
    start: &str,
    target: &str,
) -> Result<Option<(String, Node)>, SourceError> {
    let outside = || SourceError::SymlinkOutside {
        path: logical.to_string(),
        target: target.to_string(),
    };
    let (mut real, rest) = anchor(tree, start, target).ok_or_else(outside)?;
    let mut pending: VecDeque<String> = parts(&rest).collect();
    let mut node = Node::Dir;
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        if node != Node::Dir {
            return Ok(None); // a file used as a directory
        }
        if part == ".." {
            real.pop().ok_or_else(outside)?;
            continue;
        }
        real.push(part);
        match tree.node(&real.join("/"))? {
            None => return Ok(None),
            Some(Node::Link) => {
                hops += 1;
                if hops > MAX_LINKS {
                    return Err(SourceError::SymlinkLoop {
                        path: logical.to_string(),
                    });
                }
                let next = tree.link_target(&real.join("/"))?;
                real.pop();
                let (from, rest) = anchor(tree, &real.join("/"), &next).ok_or_else(outside)?;
                real = from;
                for p in parts(&rest).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(p);
                }
            }
            Some(found) => node = found,
        }
    }
    Ok(Some((real.join("/"), node)))
}

/// Where resolution of `target` starts and what is left to walk: `start` and the target when
/// it is relative; the root and the mapped path when it is absolute (`None`: outside the tree).
fn anchor(tree: &dyn FileTree, start: &str, target: &str) -> Option<(Vec<String>, String)> {
    if target.starts_with('/') {
        Some((Vec::new(), tree.absolute_inside(target)?))
    } else {
        Some((parts(start).collect(), target.to_string()))
    }
}

fn parts(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::to_string)
}
