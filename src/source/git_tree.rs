//! Reading a commit's files straight from its tree: no work tree, no checkout to go stale.

use std::path::Path;

use git2::{Commit, ObjectType, Repository, Tree};

use super::walk::{FileTree, Node, collect};
use super::{CommitInfo, CommitSignature, Selection, Snapshot, SourceError};

const MODE_DIR: i32 = 0o040000;
const MODE_LINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;

/// The selected files of `commit`, with its metadata.
pub(crate) fn snapshot(
    repo: &Repository,
    commit: &Commit<'_>,
    sel: &Selection,
) -> Result<Snapshot, SourceError> {
    let cache_err = |source| SourceError::Cache {
        path: repo.path().to_path_buf(),
        source,
    };
    let sha = commit.id().to_string();
    let tree = CommitTree {
        repo,
        root: commit.tree().map_err(cache_err)?,
        short: sha.chars().take(7).collect(),
    };
    let files = collect(&tree, sel)?;
    let signature = signature(repo, commit).map_err(cache_err)?;
    let author = commit.author();
    Ok(Snapshot {
        commit: Some(CommitInfo {
            sha,
            message: String::from_utf8_lossy(commit.message_bytes())
                .trim_end()
                .to_string(),
            author: format!(
                "{} <{}>",
                String::from_utf8_lossy(author.name_bytes()),
                String::from_utf8_lossy(author.email_bytes())
            ),
            time: commit.time().seconds(),
        }),
        files,
        signature,
    })
}

/// The commit's signature, `None` when it has none.
fn signature(
    repo: &Repository,
    commit: &Commit<'_>,
) -> Result<Option<CommitSignature>, git2::Error> {
    match repo.extract_signature(&commit.id(), None) {
        Ok((signature, signed_data)) => Ok(Some(CommitSignature {
            signature: signature.to_vec(),
            signed_data: signed_data.to_vec(),
        })),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

struct CommitTree<'r> {
    repo: &'r Repository,
    root: Tree<'r>,
    short: String,
}

impl CommitTree<'_> {
    fn err(&self, source: git2::Error) -> SourceError {
        SourceError::Cache {
            path: self.repo.path().to_path_buf(),
            source,
        }
    }

    /// The entry's object id and mode, or `None` when the path does not exist.
    fn entry(&self, path: &str) -> Result<Option<(git2::Oid, i32)>, SourceError> {
        match self.root.get_path(Path::new(path)) {
            Ok(e) => Ok(Some((e.id(), e.filemode()))),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    fn blob(&self, path: &str) -> Result<git2::Blob<'_>, SourceError> {
        let (id, _) = self.entry(path)?.ok_or_else(|| self.missing(path))?;
        self.repo.find_blob(id).map_err(|e| self.err(e))
    }

    fn missing(&self, path: &str) -> SourceError {
        SourceError::PathNotFound {
            path: path.to_string(),
            at: self.describe(),
        }
    }
}

impl FileTree for CommitTree<'_> {
    fn node(&self, path: &str) -> Result<Option<Node>, SourceError> {
        if path.is_empty() {
            return Ok(Some(Node::Dir));
        }
        let Some((id, mode)) = self.entry(path)? else {
            return Ok(None);
        };
        Ok(Some(match mode {
            MODE_DIR => Node::Dir,
            MODE_LINK => Node::Link,
            MODE_SUBMODULE => Node::Other,
            _ => {
                // The header gives the size without inflating the blob, so a huge file is
                // refused before it is read.
                let odb = self.repo.odb().map_err(|e| self.err(e))?;
                let (size, _) = odb.read_header(id).map_err(|e| self.err(e))?;
                Node::File { size: size as u64 }
            }
        }))
    }

    fn list(&self, path: &str) -> Result<Vec<String>, SourceError> {
        let tree = if path.is_empty() {
            self.root.clone()
        } else {
            let (id, _) = self.entry(path)?.ok_or_else(|| self.missing(path))?;
            self.repo.find_tree(id).map_err(|e| self.err(e))?
        };
        Ok(tree
            .iter()
            .filter(|e| e.kind() != Some(ObjectType::Commit))
            .map(|e| String::from_utf8_lossy(e.name_bytes()).into_owned())
            .collect())
    }

    fn read(&self, path: &str, display: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        let blob = self.blob(path)?;
        let size = blob.size() as u64;
        if size > limit {
            return Err(SourceError::FileTooLarge {
                path: display.to_string(),
                size,
                limit,
            });
        }
        Ok(blob.content().to_vec())
    }

    fn link_target(&self, path: &str) -> Result<String, SourceError> {
        Ok(String::from_utf8_lossy(self.blob(path)?.content()).into_owned())
    }

    /// An absolute target names the machine that checked the repo out, never the repo itself.
    fn absolute_inside(&self, _target: &str) -> Option<String> {
        None
    }

    fn describe(&self) -> String {
        format!("commit {}", self.short)
    }
}
