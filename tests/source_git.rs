//! `source` against real repositories: made with the git CLI, read over the local transport and
//! over smart HTTP (git http-backend behind nginx + fcgiwrap) with basic auth.

#[allow(dead_code)] // only the nginx helper of it
mod common;
#[path = "source_git/http_server.rs"]
mod http_server;
#[path = "source_git/upstream.rs"]
mod upstream;

use std::path::Path;

use ordo::source::{
    Ancestry, Credentials, RepoSpec, Secret, Selection, Snapshot, SourceError, ancestry,
    cache_path, collect_garbage, fetch, fetch_async, remote_head,
};

use http_server::GitHttpServer;
use upstream::Upstream;

fn spec(url: &str, reference: &str) -> RepoSpec {
    RepoSpec::new(url, reference)
}

fn local(up: &Upstream, reference: &str) -> RepoSpec {
    spec(up.path().to_str().unwrap(), reference)
}

fn paths(s: &Snapshot) -> Vec<&str> {
    s.files.iter().map(|f| f.path.as_str()).collect()
}

fn file<'a>(s: &'a Snapshot, path: &str) -> &'a str {
    let f = s
        .files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path}"));
    std::str::from_utf8(&f.data).unwrap()
}

fn sha(s: &Snapshot) -> &str {
    &s.commit.as_ref().unwrap().sha
}

fn get(spec: &RepoSpec, cache: &Path) -> Snapshot {
    fetch(spec, cache, &Selection::default()).unwrap()
}

/// main: a.yaml, apps/web/deploy.yml, README.md
fn seeded() -> (Upstream, String) {
    let up = Upstream::new();
    up.write("a.yaml", b"a: 1\n")
        .write("apps/web/deploy.yml", b"kind: Deployment\n")
        .write("README.md", b"docs\n");
    let c1 = up.commit("first commit\n\nwith a body");
    (up, c1)
}

#[test]
fn fetch_reads_selected_files_and_commit_info_of_the_default_branch() {
    let (up, c1) = seeded();
    let cache = tempfile::tempdir().unwrap();
    let s = get(&local(&up, ""), cache.path());
    assert_eq!(paths(&s), ["a.yaml", "apps/web/deploy.yml"]);
    let commit = s.commit.as_ref().unwrap();
    assert_eq!(commit.sha, c1);
    assert_eq!(commit.message, "first commit\n\nwith a body");
    assert_eq!(commit.author, "Test Author <author@example.com>");
    assert!(commit.time > 1_600_000_000);
    assert_eq!(remote_head(&local(&up, "HEAD")).unwrap(), c1);
}

#[test]
fn branches_tags_and_full_shas_select_their_commit() {
    let (up, c1) = seeded();
    up.git(&["tag", "v1"]);
    up.git(&["checkout", "-q", "-b", "feature"]);
    up.write("a.yaml", b"a: feature\n");
    let feature = up.commit("feature");
    up.git(&["tag", "-a", "v2", "-m", "annotated"]);
    up.git(&["checkout", "-q", "main"]);
    up.write("a.yaml", b"a: 2\n");
    let c2 = up.commit("second");

    let cache = tempfile::tempdir().unwrap();
    let file_url = format!("file://{}", up.path().display());
    for (reference, want, body) in [
        ("main", &c2, "a: 2\n"),
        ("refs/heads/feature", &feature, "a: feature\n"),
        ("v1", &c1, "a: 1\n"),
        ("v2", &feature, "a: feature\n"),
        (c1.as_str(), &c1, "a: 1\n"),
    ] {
        let s = get(&spec(&file_url, reference), cache.path());
        assert_eq!(sha(&s), want, "{reference}");
        assert_eq!(file(&s, "a.yaml"), body, "{reference}");
        assert_eq!(
            &remote_head(&spec(&file_url, reference)).unwrap(),
            want,
            "{reference}"
        );
    }
}

#[test]
fn a_moved_branch_is_seen_by_remote_head_and_fetched_and_deleted_files_disappear() {
    let (up, c1) = seeded();
    let cache = tempfile::tempdir().unwrap();
    let main = local(&up, "main");
    assert_eq!(remote_head(&main).unwrap(), c1);
    assert_eq!(
        paths(&get(&main, cache.path())),
        ["a.yaml", "apps/web/deploy.yml"]
    );

    up.remove("apps/web/deploy.yml").write("b.json", b"{}");
    let c2 = up.commit("move on");
    assert_eq!(remote_head(&main).unwrap(), c2);
    let s = get(&main, cache.path());
    assert_eq!(sha(&s), c2);
    assert_eq!(paths(&s), ["a.yaml", "b.json"]);
}

#[test]
fn a_force_pushed_branch_is_followed() {
    let (up, c1) = seeded();
    up.write("a.yaml", b"a: 2\n");
    let c2 = up.commit("to be rewritten");
    let cache = tempfile::tempdir().unwrap();
    let main = local(&up, "main");
    assert_eq!(sha(&get(&main, cache.path())), c2);

    up.git(&["reset", "-q", "--hard", &c1]);
    up.write("a.yaml", b"a: rewritten\n");
    let c3 = up.commit("rewritten history");
    assert_eq!(remote_head(&main).unwrap(), c3);
    let s = get(&main, cache.path());
    assert_eq!(
        (sha(&s), file(&s, "a.yaml")),
        (c3.as_str(), "a: rewritten\n")
    );
}

#[test]
fn a_ref_that_does_not_exist_is_an_error_saying_so() {
    let (up, _) = seeded();
    let cache = tempfile::tempdir().unwrap();
    let err = fetch(&local(&up, "nope"), cache.path(), &Selection::default()).unwrap_err();
    assert!(matches!(err, SourceError::RefNotFound { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("ref 'nope' not found in")
            && text.contains("neither a branch, a tag nor a commit"),
        "{text}"
    );
    assert!(matches!(
        remote_head(&local(&up, "nope")),
        Err(SourceError::RefNotFound { .. })
    ));

    let missing = "0123456789abcdef0123456789abcdef01234567";
    let err = fetch(&local(&up, missing), cache.path(), &Selection::default()).unwrap_err();
    assert!(matches!(err, SourceError::CommitNotFound { .. }), "{err}");
}

#[test]
fn a_path_that_does_not_exist_is_an_error_naming_path_and_commit() {
    let (up, c1) = seeded();
    let cache = tempfile::tempdir().unwrap();
    let err = fetch(&local(&up, "main"), cache.path(), &Selection::at("apps/x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("path 'apps/x' does not exist in commit {}", &c1[..7])
    );
    let s = fetch(
        &local(&up, "main"),
        cache.path(),
        &Selection::at("apps/web"),
    )
    .unwrap();
    assert_eq!(paths(&s), ["apps/web/deploy.yml"]);
}

#[test]
fn symlinks_in_the_tree_are_followed_inside_and_refused_outside() {
    let (up, _) = seeded();
    up.symlink("apps/web/shared.yaml", "../../a.yaml")
        .symlink("apps/web/base", "../../apps");
    up.commit("inside links");
    let cache = tempfile::tempdir().unwrap();
    let s = fetch(
        &local(&up, "main"),
        cache.path(),
        &Selection::at("apps/web"),
    )
    .unwrap();
    // base -> apps is an ancestor already being read: not read twice.
    assert_eq!(paths(&s), ["apps/web/deploy.yml", "apps/web/shared.yaml"]);
    assert_eq!(file(&s, "apps/web/shared.yaml"), "a: 1\n");

    up.symlink("apps/web/leak.yaml", "../../../etc/passwd");
    up.commit("outside link");
    let err = fetch(&local(&up, "main"), cache.path(), &Selection::default()).unwrap_err();
    assert!(
        matches!(err, SourceError::SymlinkOutside { ref path, .. } if path == "apps/web/leak.yaml"),
        "{err}"
    );
}

#[test]
fn a_file_over_5_mib_is_refused_by_name() {
    let (up, _) = seeded();
    up.write("big/huge.yaml", &vec![b'x'; 5 * 1024 * 1024 + 1]);
    up.commit("too big");
    let cache = tempfile::tempdir().unwrap();
    let err = fetch(&local(&up, "main"), cache.path(), &Selection::default()).unwrap_err();
    assert!(
        matches!(err, SourceError::FileTooLarge { ref path, .. } if path == "big/huge.yaml"),
        "{err}"
    );
    assert!(err.to_string().contains("big/huge.yaml"));
}

#[test]
fn a_fetched_commit_is_served_from_the_cache_when_the_remote_is_gone() {
    let (up, c1) = seeded();
    let cache = tempfile::tempdir().unwrap();
    let url = up.path().to_str().unwrap().to_string();
    get(&spec(&url, "main"), cache.path());
    std::fs::remove_dir_all(up.path().join(".git")).unwrap();
    assert_eq!(sha(&get(&spec(&url, &c1), cache.path())), c1);
}

#[tokio::test]
async fn fetch_async_runs_on_the_blocking_pool() {
    let (up, c1) = seeded();
    let cache = tempfile::tempdir().unwrap();
    let s = fetch_async(
        local(&up, "main"),
        cache.path().to_path_buf(),
        Selection::default(),
    )
    .await
    .unwrap();
    assert_eq!(sha(&s), c1);
}

// ---- smart HTTP with basic auth ----

const USER: &str = "alice";
const PASSWORD: &str = "correct horse";

fn http_spec(url: &str, reference: &str, password: Option<&str>, dir: &Path) -> RepoSpec {
    let password = password.map(|pw| {
        let file = dir.join("password");
        std::fs::write(&file, format!("{pw}\n")).unwrap();
        Secret::File(file)
    });
    RepoSpec {
        credentials: Credentials {
            username: Some(USER.into()),
            password,
            ..Credentials::default()
        },
        ..spec(url, reference)
    }
}

#[test]
fn http_fetch_with_password_from_a_file_is_shallow_and_follows_moves() {
    let server = GitHttpServer::start(USER, PASSWORD);
    let (up, c1) = seeded();
    let bare = up.publish(&server.project_root(), "repo.git");
    let url = server.url("repo.git");
    let tmp = tempfile::tempdir().unwrap();
    let main = http_spec(&url, "main", Some(PASSWORD), tmp.path());

    assert_eq!(remote_head(&main).unwrap(), c1);
    let s = get(&main, tmp.path());
    assert_eq!(
        (sha(&s), paths(&s)),
        (c1.as_str(), vec!["a.yaml", "apps/web/deploy.yml"])
    );
    let cache = git2::Repository::open_bare(cache_path(tmp.path(), &url)).unwrap();
    assert!(cache.is_shallow(), "smart HTTP fetches should be shallow");

    up.write("a.yaml", b"a: 2\n");
    let c2 = up.commit("second");
    up.push(&bare);
    assert_eq!(remote_head(&main).unwrap(), c2);
    assert_eq!(file(&get(&main, tmp.path()), "a.yaml"), "a: 2\n");

    // An older commit by SHA: http-backend refuses unadvertised ids, so the cache unshallows.
    let old = http_spec(&url, &c1, Some(PASSWORD), tmp.path());
    assert_eq!(file(&get(&old, tmp.path()), "a.yaml"), "a: 1\n");
}

#[test]
fn http_wrong_password_is_a_clear_auth_error() {
    let server = GitHttpServer::start(USER, PASSWORD);
    let (up, _) = seeded();
    up.publish(&server.project_root(), "repo.git");
    let url = server.url("repo.git");
    let tmp = tempfile::tempdir().unwrap();
    let wrong = http_spec(&url, "main", Some("wrong"), tmp.path());

    for err in [
        remote_head(&wrong).unwrap_err(),
        fetch(&wrong, tmp.path(), &Selection::default()).unwrap_err(),
    ] {
        assert!(matches!(err, SourceError::Auth { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&url) && text.contains("rejected user 'alice'"),
            "{text}"
        );
        assert!(text.contains("password"), "{text}");
        assert!(!text.contains("wrong"), "the password leaked: {text}");
    }
}

#[test]
fn http_without_credentials_is_a_clear_auth_error() {
    let server = GitHttpServer::start(USER, PASSWORD);
    let (up, _) = seeded();
    up.publish(&server.project_root(), "repo.git");
    let url = server.url("repo.git");
    let tmp = tempfile::tempdir().unwrap();

    let err = remote_head(&spec(&url, "main")).unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("none are configured"), "{err}");
    let err = fetch(&spec(&url, "main"), tmp.path(), &Selection::default()).unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err}");
}

/// `len` bytes that no compression shrinks (xorshift), so a pack holding them is that big.
fn incompressible(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_fetch_bigger_than_the_bound_stops_with_an_error_naming_the_repository_and_the_bound() {
    let server = GitHttpServer::start(USER, PASSWORD);
    let (up, _) = seeded();
    up.write("blobs/dump.bin", &incompressible(3 << 20));
    up.commit("a dump");
    up.publish(&server.project_root(), "repo.git");
    let url = server.url("repo.git");
    let tmp = tempfile::tempdir().unwrap();
    let bounded = |spec: RepoSpec| RepoSpec {
        max_fetch_bytes: 1 << 20,
        ..spec
    };
    let file_url = format!("file://{}", up.path().display());
    for spec in [
        bounded(http_spec(&url, "main", Some(PASSWORD), tmp.path())),
        bounded(spec(&file_url, "main")),
    ] {
        let err = fetch(&spec, tmp.path(), &Selection::default()).unwrap_err();
        assert!(matches!(err, SourceError::FetchTooLarge { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("fetch of {} stopped after 1 MiB", spec.url))
                && text.contains("ORDO_GIT_MAX_FETCH_BYTES"),
            "{text}"
        );
        assert!(!text.contains(PASSWORD), "{text}");
    }
    // Within the bound the same repository is fetched as usual.
    let roomy = RepoSpec {
        max_fetch_bytes: 16 << 20,
        ..http_spec(&url, "main", Some(PASSWORD), tmp.path())
    };
    assert_eq!(
        paths(&get(&roomy, tmp.path())),
        ["a.yaml", "apps/web/deploy.yml"]
    );
}

#[test]
fn a_short_ref_naming_both_a_branch_and_a_tag_is_refused_naming_both_full_refs() {
    let (up, c1) = seeded();
    up.git(&["tag", "v1.2.3"]);
    let cache = tempfile::tempdir().unwrap();
    let main = local(&up, "v1.2.3");
    assert_eq!(sha(&get(&main, cache.path())), c1, "a tag alone resolves");

    // Someone who may push branches pushes a branch named like the tag.
    up.git(&["checkout", "-q", "-b", "v1.2.3"]);
    up.write("a.yaml", b"a: hijacked\n");
    up.commit("take over the tag");
    for err in [
        remote_head(&main).unwrap_err(),
        fetch(&main, cache.path(), &Selection::default()).unwrap_err(),
    ] {
        assert!(matches!(err, SourceError::AmbiguousRef { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("ref 'v1.2.3' is both a branch and a tag")
                && text.contains("refs/tags/v1.2.3")
                && text.contains("refs/heads/v1.2.3"),
            "{text}"
        );
    }
    let tag = local(&up, "refs/tags/v1.2.3");
    assert_eq!(sha(&get(&tag, cache.path())), c1);
    assert_eq!(file(&get(&tag, cache.path()), "a.yaml"), "a: 1\n");
}

#[test]
fn a_head_that_moves_forward_is_a_fast_forward_and_one_moved_back_or_sideways_is_not() {
    let (up, c1) = seeded();
    up.write("a.yaml", b"a: 2\n");
    let c2 = up.commit("second");
    let cache = tempfile::tempdir().unwrap();
    let main = local(&up, "main");
    get(&main, cache.path());
    assert_eq!(
        ancestry(&main, cache.path(), &c1, &c2).unwrap(),
        Ancestry::FastForward
    );
    assert_eq!(
        ancestry(&main, cache.path(), &c2, &c2).unwrap(),
        Ancestry::FastForward
    );
    assert_eq!(
        ancestry(&main, cache.path(), &c2, &c1).unwrap(),
        Ancestry::Diverged,
        "backwards"
    );
    up.git(&["reset", "-q", "--hard", &c1]);
    up.write("a.yaml", b"a: rewritten\n");
    let c3 = up.commit("rewritten");
    get(&main, cache.path());
    assert_eq!(
        ancestry(&main, cache.path(), &c2, &c3).unwrap(),
        Ancestry::Diverged,
        "sideways"
    );
}

#[test]
fn over_http_a_shallow_cache_fetches_history_before_it_calls_a_head_diverged() {
    let server = GitHttpServer::start(USER, PASSWORD);
    let (up, c1) = seeded();
    let bare = up.publish(&server.project_root(), "repo.git");
    let url = server.url("repo.git");
    let tmp = tempfile::tempdir().unwrap();
    let main = http_spec(&url, "main", Some(PASSWORD), tmp.path());
    get(&main, tmp.path());
    up.write("a.yaml", b"a: 2\n");
    up.commit("second");
    up.write("a.yaml", b"a: 3\n");
    let c3 = up.commit("third");
    up.push(&bare);
    get(&main, tmp.path());
    let cache = git2::Repository::open_bare(cache_path(tmp.path(), &url)).unwrap();
    assert!(cache.is_shallow(), "each fetch took only the tip");
    assert_eq!(
        ancestry(&main, tmp.path(), &c1, &c3).unwrap(),
        Ancestry::FastForward
    );

    // Force-pushed back to the first commit, then a sibling of the third.
    up.git(&["reset", "-q", "--hard", &c1]);
    up.write("a.yaml", b"a: replayed\n");
    let c4 = up.commit("another line");
    up.push(&bare);
    get(&main, tmp.path());
    assert_eq!(
        ancestry(&main, tmp.path(), &c3, &c1).unwrap(),
        Ancestry::Diverged
    );
    assert_eq!(
        ancestry(&main, tmp.path(), &c3, &c4).unwrap(),
        Ancestry::Diverged
    );
    assert_eq!(
        ancestry(&main, tmp.path(), &c1, &c4).unwrap(),
        Ancestry::FastForward
    );
}

#[test]
fn garbage_collection_removes_only_repositories_no_app_uses() {
    let (kept_up, _) = seeded();
    let (gone_up, _) = seeded();
    let cache = tempfile::tempdir().unwrap();
    let kept = format!("file://{}", kept_up.path().display());
    let gone = format!("file://{}", gone_up.path().display());
    get(&spec(&kept, "main"), cache.path());
    get(&spec(&gone, "main"), cache.path());
    let unrelated = cache.path().join("repos").join("notes.txt");
    std::fs::write(&unrelated, "not a repository").unwrap();

    let removed = collect_garbage(cache.path(), std::slice::from_ref(&kept)).unwrap();
    assert_eq!(removed, [cache_path(cache.path(), &gone)]);
    assert!(!cache_path(cache.path(), &gone).exists());
    assert!(cache_path(cache.path(), &kept).exists());
    assert!(unrelated.exists(), "only cache entries are touched");
    assert!(
        git2::Repository::open_bare(cache_path(cache.path(), &kept)).is_ok(),
        "the kept cache is a repository still"
    );
    // Nothing configured: everything goes; an absent cache is no error.
    assert_eq!(collect_garbage(cache.path(), &[]).unwrap().len(), 1);
    let empty = tempfile::tempdir().unwrap();
    assert!(
        collect_garbage(&empty.path().join("none"), &[])
            .unwrap()
            .is_empty()
    );
}
