//! Commit statuses on the git hosts (and GitHub's deployment statuses): which API address,
//! which body, which header carries the token. Pure: the receiver's API base, the repository
//! URL and the event in, requests out.
//!
//! - GitHub: `POST {api}/repos/{owner}/{repo}/statuses/{sha}` `{state: pending|success|
//!   failure, target_url, description, context}`, `Authorization: Bearer`; deployments:
//!   `POST {api}/repos/{owner}/{repo}/deployments` then `…/deployments/{id}/statuses`.
//! - GitLab: `POST {api}/projects/{url-encoded path}/statuses/{sha}` `{state: pending|success|
//!   failed, name, target_url, description}`, `PRIVATE-TOKEN`.
//! - Gitea and Forgejo: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`, GitHub's body,
//!   `Authorization: token`.
//!
//! Each receiver talks to one API, fixed when the config is read ([`Api`]): a token is
//! issued by one host, and an app's repository URL is written by whoever writes the app, so
//! it must never decide where the token goes (issue #23). An app whose repository lives on
//! another host gets no status from that receiver.

use serde_json::{Value, json};

use super::event::{Event, clip};
use super::receiver::{CommitState, ReceiverKind, status_state};

/// One HTTP request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

/// GitHub.com's API, the one a `github` receiver without `url` talks to. GitLab and Gitea
/// have no single public host people mean by default, so those receivers name theirs.
pub const GITHUB_API: &str = "https://api.github.com";

/// The API a git-host receiver sends to: its base URL and the host its repositories are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// `https://host[:port][/prefix]/api/vN` (or GitHub's `https://api.github.com`), no
    /// trailing `/`.
    base: String,
    /// The host name (lowercase, no port) repositories must be on.
    host: String,
    /// A path the host serves everything under (`/gitea` of `https://h/gitea/api/v1`),
    /// which a repository URL on that host carries before `owner/repo`.
    prefix: String,
}

impl Api {
    /// The API at `base` (the receiver's `url`). Refused unless it is `https://`: the token
    /// travels with every request, and plain HTTP shows it to the network.
    pub fn new(kind: ReceiverKind, base: &str) -> Result<Api, String> {
        let base = base.trim_end_matches('/');
        let Some(rest) = base.strip_prefix("https://") else {
            return Err(format!(
                "the {kind} API address {base:?} is not https://: the token would cross the \
                 network in clear text; use the host's https:// address"
            ));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(format!(
                "the {kind} API address {base:?} carries user info; the token is given with \
                 tokenFile or tokenEnv"
            ));
        }
        let host = host_name(authority);
        if host.is_empty() {
            return Err(format!("the {kind} API address {base:?} names no host"));
        }
        // GitHub.com (and GHE.com) serve the API of `X` at `api.X`.
        let host = match (kind, host.strip_prefix("api.")) {
            (ReceiverKind::Github, Some(web)) if path.is_empty() => web.to_owned(),
            _ => host,
        };
        let path = format!("/{path}");
        let prefix = match path.rfind("/api/v") {
            Some(i) => path[..i].trim_end_matches('/').to_owned(),
            None => String::new(),
        };
        Ok(Api {
            base: base.to_owned(),
            host,
            prefix,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The host repositories must be on for this receiver to report on them.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `repo_url`'s repository on this API, or why there is none: it lives on another host
    /// (its status is not this receiver's to send), or it names no owner and repository.
    pub fn repo(&self, repo_url: &str) -> Result<Repo, NoRepo> {
        let (host, path) = split_url(repo_url).ok_or(NoRepo::NoPath)?;
        let host = host_name(&host);
        if host != self.host {
            return Err(NoRepo::OtherHost(host));
        }
        let path = path.trim_matches('/');
        let path = match path.strip_prefix(self.prefix.trim_start_matches('/')) {
            Some(rest) if !self.prefix.is_empty() => rest.trim_start_matches('/'),
            _ => path,
        };
        let path = path.strip_suffix(".git").unwrap_or(path).to_owned();
        if !path.contains('/') {
            return Err(NoRepo::NoPath);
        }
        Ok(Repo {
            api: self.base.clone(),
            path,
        })
    }
}

/// Why an app's repository gets no status from a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRepo {
    /// On this host (lowercase, no port), not the receiver's.
    OtherHost(String),
    /// The URL names no `owner/repo`.
    NoPath,
}

/// Where a repository lives on its host: the API base and the `owner/repo` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub api: String,
    /// `owner/repo` (GitLab: `group/subgroup/project`), without `.git`.
    pub path: String,
}

/// The host name of `host[:port]` (or `[v6]:port`), lowercase.
fn host_name(authority: &str) -> String {
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.split(':').next().unwrap_or(host),
    };
    host.to_ascii_lowercase()
}

/// (host with port, path) of an `https://`, `http://`, `ssh://`, `git://` or scp-like
/// (`git@host:owner/repo`) URL; user info dropped.
fn split_url(url: &str) -> Option<(String, String)> {
    if let Some((_, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?;
        return Some((host.to_owned(), path.to_owned()));
    }
    let (user_host, path) = url.split_once(':')?;
    let host = user_host.rsplit('@').next()?;
    Some((host.to_owned(), path.to_owned()))
}

/// The commit status request for `event`, or `None` when the event sets no status.
pub fn commit_status(
    kind: ReceiverKind,
    repo: &Repo,
    event: &Event,
    link: Option<&str>,
    token: &str,
) -> Option<Request> {
    let state = status_state(event.kind)?;
    let context = format!("ordo/{}", event.app);
    // GitHub refuses descriptions over 140 characters.
    let description = clip(&describe(event), 130);
    let (url, body) = match kind {
        ReceiverKind::Gitlab => (
            format!(
                "{}/projects/{}/statuses/{}",
                repo.api,
                encode_path(&repo.path),
                event.revision
            ),
            json!({
                "state": gitlab_state(state),
                "name": context,
                "target_url": link,
                "description": description,
            }),
        ),
        ReceiverKind::Github | ReceiverKind::Gitea => (
            format!(
                "{}/repos/{}/statuses/{}",
                repo.api, repo.path, event.revision
            ),
            json!({
                "state": github_state(state),
                "context": context,
                "target_url": link,
                "description": description,
            }),
        ),
        _ => return None,
    };
    Some(Request {
        url,
        headers: auth(kind, token),
        body,
    })
}

/// GitHub: the deployment a sync start creates (environment = the app).
pub fn github_deployment(repo: &Repo, event: &Event, token: &str) -> Request {
    Request {
        url: format!("{}/repos/{}/deployments", repo.api, repo.path),
        headers: auth(ReceiverKind::Github, token),
        body: json!({
            "ref": event.revision,
            "environment": event.app,
            "description": clip(&describe(event), 130),
            // ordo deploys what the branch holds; GitHub must not merge or wait on checks.
            "auto_merge": false,
            "required_contexts": [],
        }),
    }
}

/// GitHub: the status of deployment `id` for `event` (`in_progress`, `success`, `failure`).
pub fn github_deployment_status(
    repo: &Repo,
    id: u64,
    event: &Event,
    link: Option<&str>,
    token: &str,
) -> Option<Request> {
    let state = match status_state(event.kind)? {
        CommitState::Pending => "in_progress",
        CommitState::Success => "success",
        CommitState::Failure => "failure",
    };
    Some(Request {
        url: format!("{}/repos/{}/deployments/{id}/statuses", repo.api, repo.path),
        headers: auth(ReceiverKind::Github, token),
        body: json!({
            "state": state,
            "log_url": link,
            "description": clip(&describe(event), 130),
            "environment": event.app,
        }),
    })
}

fn describe(event: &Event) -> String {
    match (&event.reason, event.duration_seconds) {
        (Some(reason), _) => format!("{}: {reason}", event.kind),
        (None, Some(d)) => format!("{} in {d:.0} s", event.kind),
        (None, None) => event.kind.to_string(),
    }
}

fn github_state(state: CommitState) -> &'static str {
    match state {
        CommitState::Pending => "pending",
        CommitState::Success => "success",
        CommitState::Failure => "failure",
    }
}

fn gitlab_state(state: CommitState) -> &'static str {
    match state {
        CommitState::Pending => "pending",
        CommitState::Success => "success",
        CommitState::Failure => "failed",
    }
}

fn auth(kind: ReceiverKind, token: &str) -> Vec<(&'static str, String)> {
    match kind {
        ReceiverKind::Gitlab => vec![("private-token", token.to_owned())],
        ReceiverKind::Gitea => vec![("authorization", format!("token {token}"))],
        _ => vec![
            ("authorization", format!("Bearer {token}")),
            ("accept", "application/vnd.github+json".into()),
            ("x-github-api-version", "2022-11-28".into()),
        ],
    }
}

/// GitLab names a project by its URL-encoded path (`group%2Fproject`).
fn encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::EventKind;

    fn api(kind: ReceiverKind, base: &str) -> Api {
        Api::new(kind, base).unwrap()
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn the_path_comes_from_the_repository_url_and_the_api_from_the_receiver() {
        use ReceiverKind::*;
        // (kind, receiver's API, repository URL, expected owner/repo)
        let cases: &[(ReceiverKind, &str, &str, &str)] = &[
            (
                Github,
                GITHUB_API,
                "https://github.com/acme/shop.git",
                "acme/shop",
            ),
            (
                Github,
                GITHUB_API,
                "git@github.com:acme/shop.git",
                "acme/shop",
            ),
            (
                Github,
                "https://ghe.acme.io/api/v3",
                "https://ghe.acme.io/acme/shop",
                "acme/shop",
            ),
            (
                Gitlab,
                "https://gitlab.com/api/v4",
                "https://gitlab.com/acme/team/shop.git",
                "acme/team/shop",
            ),
            (
                Gitlab,
                "https://gitlab.acme.io/api/v4",
                "ssh://git@gitlab.acme.io:2222/acme/shop.git",
                "acme/shop",
            ),
            (
                Gitea,
                "https://127.0.0.1:3443/api/v1",
                "http://127.0.0.1:3000/ordo/travel.git",
                "ordo/travel",
            ),
            (
                Gitea,
                "https://git.acme.io/api/v1",
                "https://user@GIT.acme.io/ordo/travel",
                "ordo/travel",
            ),
            (
                Gitea,
                "https://git.acme.io/gitea/api/v1/",
                "https://git.acme.io/gitea/ordo/travel",
                "ordo/travel",
            ),
        ];
        for (kind, base, url, want) in cases {
            let a = api(*kind, base);
            let got = a
                .repo(url)
                .unwrap_or_else(|e| panic!("{kind} {url}: {e:?}"));
            assert_eq!(got.path, *want, "{kind} {url}");
            assert_eq!(got.api, base.trim_end_matches('/'), "{kind} {url}");
        }
        assert_eq!(
            api(Gitea, "https://git.acme.io/api/v1").repo("https://git.acme.io/travel"),
            Err(NoRepo::NoPath)
        );
    }

    #[test]
    fn a_repository_on_another_host_gets_no_status_and_no_token() {
        use ReceiverKind::*;
        // Before issue #23 the API was taken from each app's repository URL, so an app
        // pointing at its own server collected the receiver's token, over http:// too.
        let cases: &[(ReceiverKind, &str, &str, &str)] = &[
            (
                Github,
                GITHUB_API,
                "https://evil.example/acme/shop",
                "evil.example",
            ),
            (
                Github,
                GITHUB_API,
                "http://api.github.com.evil.example/o/r",
                "api.github.com.evil.example",
            ),
            (
                Github,
                GITHUB_API,
                "https://api.github.com/o/r",
                "api.github.com",
            ),
            (
                Gitea,
                "https://git.acme.io/api/v1",
                "http://127.0.0.1:8080/o/r",
                "127.0.0.1",
            ),
            (
                Gitea,
                "https://git.acme.io/api/v1",
                "git@git.acme.io.evil.example:o/r",
                "git.acme.io.evil.example",
            ),
            (
                Gitlab,
                "https://gitlab.acme.io/api/v4",
                "https://gitlab.acme.io@evil.example/o/r",
                "evil.example",
            ),
        ];
        for (kind, base, url, host) in cases {
            assert_eq!(
                api(*kind, base).repo(url),
                Err(NoRepo::OtherHost((*host).to_owned())),
                "{kind} {url}"
            );
        }
    }

    #[test]
    fn a_token_never_goes_to_a_plain_http_api() {
        for kind in [
            ReceiverKind::Github,
            ReceiverKind::Gitlab,
            ReceiverKind::Gitea,
        ] {
            for base in [
                "http://git.acme.io/api/v1",
                "git.acme.io/api/v1",
                "ftp://x/api",
            ] {
                let err = Api::new(kind, base).unwrap_err();
                assert!(err.contains("not https://"), "{kind} {base}: {err}");
            }
            let err = Api::new(kind, "https://u:p@git.acme.io/api/v1").unwrap_err();
            assert!(err.contains("user info"), "{err}");
        }
    }

    fn event(kind: EventKind) -> Event {
        let mut e = Event::new(kind, "travel", "abc123", 0.0);
        e.duration_seconds = Some(4.2);
        e
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn commit_status_per_host_and_event() {
        use EventKind::*;
        use ReceiverKind::*;
        let link = Some("https://ordo/apps/travel");
        // (host, event, url suffix, state key value, header)
        let cases: &[(ReceiverKind, EventKind, &str, &str, (&str, &str))] = &[
            (
                Gitea,
                SyncStarted,
                "/api/v1/repos/o/r/statuses/abc123",
                "pending",
                ("authorization", "token T"),
            ),
            (
                Gitea,
                SyncSucceeded,
                "/api/v1/repos/o/r/statuses/abc123",
                "success",
                ("authorization", "token T"),
            ),
            (
                Gitea,
                SyncFailed,
                "/api/v1/repos/o/r/statuses/abc123",
                "failure",
                ("authorization", "token T"),
            ),
            (
                Github,
                BadCommit,
                "/api/v3/repos/o/r/statuses/abc123",
                "failure",
                ("authorization", "Bearer T"),
            ),
            (
                Gitlab,
                SyncFailed,
                "/api/v4/projects/o%2Fr/statuses/abc123",
                "failed",
                ("private-token", "T"),
            ),
            (
                Gitlab,
                SyncStarted,
                "/api/v4/projects/o%2Fr/statuses/abc123",
                "pending",
                ("private-token", "T"),
            ),
        ];
        for (kind, ev, suffix, state, header) in cases {
            let base = match kind {
                Gitlab => "https://h/api/v4",
                Github => "https://h/api/v3",
                _ => "https://h/api/v1",
            };
            let r = api(*kind, base).repo("https://h/o/r.git").unwrap();
            let req = commit_status(*kind, &r, &event(*ev), link, "T").unwrap();
            assert_eq!(req.url, format!("https://h{suffix}"), "{kind} {ev}");
            assert_eq!(req.body["state"], *state, "{kind} {ev}");
            assert_eq!(req.body["target_url"], "https://ordo/apps/travel");
            let context = if *kind == Gitlab { "name" } else { "context" };
            assert_eq!(req.body[context], "ordo/travel", "{kind}");
            assert!(
                req.headers.contains(&(header.0, header.1.to_owned())),
                "{kind}: {:?}",
                req.headers
            );
        }
        let r = api(Gitea, "https://h/api/v1")
            .repo("https://h/o/r")
            .unwrap();
        assert_eq!(
            commit_status(Gitea, &r, &event(DriftDetected), link, "T"),
            None
        );
    }

    #[test]
    fn github_deployments_follow_the_sync() {
        let r = api(ReceiverKind::Github, GITHUB_API)
            .repo("https://github.com/o/r")
            .unwrap();
        let d = github_deployment(&r, &event(EventKind::SyncStarted), "T");
        assert_eq!(d.url, "https://api.github.com/repos/o/r/deployments");
        assert_eq!(d.body["environment"], "travel");
        assert_eq!(d.body["ref"], "abc123");
        assert_eq!(d.body["required_contexts"], json!([]));
        let cases = [
            (EventKind::SyncStarted, Some("in_progress")),
            (EventKind::SyncSucceeded, Some("success")),
            (EventKind::SyncFailed, Some("failure")),
            (EventKind::DriftDetected, None),
        ];
        for (kind, want) in cases {
            let s = github_deployment_status(&r, 42, &event(kind), None, "T");
            assert_eq!(
                s.as_ref().map(|s| s.body["state"].as_str().unwrap_or("")),
                want
            );
            if let Some(s) = s {
                assert_eq!(
                    s.url,
                    "https://api.github.com/repos/o/r/deployments/42/statuses"
                );
            }
        }
    }
}
