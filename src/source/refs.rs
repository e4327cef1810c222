//! Which remote ref a user's `ref:` names, from what the remote advertises (`git ls-remote`).
//!
//! A short name that is both a branch and a tag is refused rather than resolved: git's own
//! lookup order lets the branch win, so anyone who may push a branch could take over a pinned
//! `ref: v1.2.3` by pushing a branch called `v1.2.3` (issue #23).

use git2::Oid;

/// A ref the remote advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Advertised {
    pub name: String,
    pub oid: Oid,
    pub symref: Option<String>,
}

/// A user's ref resolved against the advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Resolved {
    /// The remote ref to fetch.
    pub name: String,
    /// The commit it points to (annotated tags peeled).
    pub commit: Oid,
}

/// Why a ref does not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unresolved {
    NotFound,
    /// A short name that is both `refs/heads/<name>` and `refs/tags/<name>`.
    Ambiguous,
}

/// The remote ref and commit `reference` names: "" or "HEAD" is the remote's default branch,
/// `refs/…` is taken as written, and a short name is a branch or a tag, never both.
pub(super) fn resolve_ref(heads: &[Advertised], reference: &str) -> Result<Resolved, Unresolved> {
    let find = |name: &str| heads.iter().find(|h| h.name == name);
    let at = |name: &str| {
        let head = find(name)?;
        let peeled = find(&format!("{name}^{{}}")).map_or(head.oid, |p| p.oid);
        Some(Resolved {
            name: name.to_string(),
            commit: peeled,
        })
    };
    match reference.trim() {
        "" | "HEAD" => {
            let head = find("HEAD").ok_or(Unresolved::NotFound)?;
            Ok(Resolved {
                name: head.symref.clone().unwrap_or_else(|| "HEAD".into()),
                commit: head.oid,
            })
        }
        full if full.starts_with("refs/") => at(full).ok_or(Unresolved::NotFound),
        short => match (
            at(&format!("refs/heads/{short}")),
            at(&format!("refs/tags/{short}")),
        ) {
            (Some(_), Some(_)) => Err(Unresolved::Ambiguous),
            (Some(found), None) | (None, Some(found)) => Ok(found),
            (None, None) => Err(Unresolved::NotFound),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(name: &str, n: u8, symref: Option<&str>) -> Advertised {
        Advertised {
            name: name.into(),
            oid: Oid::from_bytes(&[n; 20]).unwrap(),
            symref: symref.map(String::from),
        }
    }

    fn heads() -> Vec<Advertised> {
        vec![
            adv("HEAD", 1, Some("refs/heads/main")),
            adv("refs/heads/main", 1, None),
            adv("refs/heads/v1", 2, None),
            adv("refs/tags/v1", 3, None),
            adv("refs/tags/v2", 4, None),
            adv("refs/tags/v2^{}", 5, None),
            adv("refs/heads/feature", 6, None),
        ]
    }

    #[test]
    fn default_ref_follows_the_remote_head() {
        let r = resolve_ref(&heads(), "").unwrap();
        assert_eq!(
            (r.name.as_str(), r.commit),
            ("refs/heads/main", heads()[1].oid)
        );
        assert_eq!(resolve_ref(&heads(), "HEAD"), Ok(r));
    }

    #[test]
    fn a_short_name_that_is_both_a_branch_and_a_tag_is_refused() {
        assert_eq!(resolve_ref(&heads(), "v1"), Err(Unresolved::Ambiguous));
        assert_eq!(resolve_ref(&heads(), " v1 "), Err(Unresolved::Ambiguous));
    }

    #[test]
    fn full_refs_choose_between_a_branch_and_a_tag_of_the_same_name() {
        assert_eq!(
            resolve_ref(&heads(), "refs/tags/v1").unwrap().commit,
            heads()[3].oid
        );
        assert_eq!(
            resolve_ref(&heads(), "refs/heads/v1").unwrap().commit,
            heads()[2].oid
        );
    }

    #[test]
    fn short_names_of_only_a_branch_or_only_a_tag_resolve_and_annotated_tags_are_peeled() {
        let feature = resolve_ref(&heads(), "feature").unwrap();
        assert_eq!(feature.name, "refs/heads/feature");
        let v2 = resolve_ref(&heads(), "v2").unwrap();
        assert_eq!(
            (v2.name.as_str(), v2.commit),
            ("refs/tags/v2", heads()[5].oid)
        );
    }

    #[test]
    fn unknown_ref_resolves_to_nothing() {
        assert_eq!(resolve_ref(&heads(), "nope"), Err(Unresolved::NotFound));
        assert_eq!(
            resolve_ref(&heads(), "refs/heads/nope"),
            Err(Unresolved::NotFound)
        );
    }
}
