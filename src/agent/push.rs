//! Which apps a push wakes: those following the pushed repository at the pushed ref, or at
//! the default branch when they name none. The webhook says what was pushed; the agent
//! decides who looks.

use crate::source::repo_key;

/// A push: every URL the payload gives for the repository, the pushed ref, and the
/// repository's default branch when the payload says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Push {
    pub urls: Vec<String>,
    /// `refs/heads/main`, `refs/tags/v1` or a bare name; `None` (generic form only) means
    /// "something in this repository changed".
    pub reference: Option<String>,
    pub default_branch: Option<String>,
}

impl Push {
    /// Whether an app following `repo` at `reference` ("" = the default branch) should look now.
    /// A false positive costs one remote check; a miss costs an interval, so unknowns match.
    pub fn concerns(&self, repo: &str, reference: &str) -> bool {
        let key = repo_key(repo);
        if !self.urls.iter().any(|u| repo_key(u) == key) {
            return false;
        }
        let Some(pushed) = self.reference.as_deref() else {
            return true;
        };
        if reference.is_empty() {
            return match &self.default_branch {
                Some(default) => pushed
                    .strip_prefix("refs/heads/")
                    .is_some_and(|branch| branch == default),
                None => true,
            };
        }
        short_ref(pushed) == short_ref(reference)
    }
}

/// `main` for `refs/heads/main`, `v1` for `refs/tags/v1`.
fn short_ref(reference: &str) -> &str {
    reference
        .strip_prefix("refs/heads/")
        .or_else(|| reference.strip_prefix("refs/tags/"))
        .unwrap_or(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_concerns_apps_on_its_branch_or_following_the_default_branch() {
        let push = Push {
            urls: vec!["https://github.com/acme/shop.git".into()],
            reference: Some("refs/heads/main".into()),
            default_branch: Some("main".into()),
        };
        let repo = "git@github.com:acme/shop";
        assert!(push.concerns(repo, "main"));
        assert!(push.concerns(repo, "refs/heads/main"));
        assert!(
            push.concerns(repo, ""),
            "empty ref follows the default branch"
        );
        assert!(!push.concerns(repo, "release"));
        assert!(!push.concerns("https://github.com/acme/other", "main"));

        let feature = Push {
            reference: Some("refs/heads/feature".into()),
            ..push.clone()
        };
        assert!(!feature.concerns(repo, ""), "not the default branch");
        let tag = Push {
            reference: Some("refs/tags/v1.2".into()),
            ..push.clone()
        };
        assert!(tag.concerns(repo, "v1.2"));
        assert!(!tag.concerns(repo, ""));
        let anything = Push {
            reference: None,
            default_branch: None,
            ..push
        };
        assert!(anything.concerns(repo, "release"));
    }
}
