//! Commit statuses on the git hosts (and GitHub's deployment statuses): which API address,
//! which body, which header carries the token. Pure: the repository URL, the event and the
//! receiver's settings in, requests out.
//!
//! - GitHub: `POST {api}/repos/{owner}/{repo}/statuses/{sha}` `{state: pending|success|
//!   failure, target_url, description, context}`, `Authorization: Bearer`; deployments:
//!   `POST {api}/repos/{owner}/{repo}/deployments` then `…/deployments/{id}/statuses`.
//! - GitLab: `POST {api}/projects/{url-encoded path}/statuses/{sha}` `{state: pending|success|
//!   failed, name, target_url, description}`, `PRIVATE-TOKEN`.
//! - Gitea and Forgejo: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`, GitHub's body,
//!   `Authorization: token`.

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

/// Where a repository lives on its host: the API base and the `owner/repo` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub api: String,
    /// `owner/repo` (GitLab: `group/subgroup/project`), without `.git`.
    pub path: String,
}

/// The repository of `repo_url` on `kind`'s API: `api` when the receiver sets one (its
/// `url`), else the host's default (GitHub: `https://api.github.com`, Enterprise
/// `https://host/api/v3`; GitLab `https://host/api/v4`; Gitea `https://host/api/v1`; an
/// `http://` repository keeps `http`). `None` when the URL names no owner and repository.
pub fn repo(kind: ReceiverKind, repo_url: &str, api: Option<&str>) -> Option<Repo> {
    let (scheme, host, path) = split_url(repo_url)?;
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path).to_owned();
    if !path.contains('/') {
        return None;
    }
    let api = match api {
        Some(a) => a.trim_end_matches('/').to_owned(),
        None => match kind {
            ReceiverKind::Github if host == "github.com" => "https://api.github.com".into(),
            ReceiverKind::Github => format!("{scheme}://{host}/api/v3"),
            ReceiverKind::Gitlab => format!("{scheme}://{host}/api/v4"),
            ReceiverKind::Gitea => format!("{scheme}://{host}/api/v1"),
            _ => return None,
        },
    };
    Some(Repo { api, path })
}

/// (scheme for the API, host with port, path) of an `https://`, `http://`, `ssh://` or
/// scp-like (`git@host:owner/repo`) URL; user info dropped. SSH remotes get `https`.
fn split_url(url: &str) -> Option<(&'static str, String, String)> {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?;
        let api_scheme = if scheme == "http" { "http" } else { "https" };
        // An SSH port is no API port.
        let host = if scheme == "ssh" {
            host.split(':').next()?
        } else {
            host
        };
        return Some((api_scheme, host.to_owned(), path.to_owned()));
    }
    let (user_host, path) = url.split_once(':')?;
    let host = user_host.rsplit('@').next()?;
    Some(("https", host.to_owned(), path.to_owned()))
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

    #[test]
    #[allow(clippy::type_complexity)]
    fn api_and_path_come_from_the_repository_url() {
        use ReceiverKind::*;
        let cases: &[(ReceiverKind, &str, Option<&str>, Option<(&str, &str)>)] = &[
            (
                Github,
                "https://github.com/acme/shop.git",
                None,
                Some(("https://api.github.com", "acme/shop")),
            ),
            (
                Github,
                "git@github.com:acme/shop.git",
                None,
                Some(("https://api.github.com", "acme/shop")),
            ),
            (
                Github,
                "https://ghe.acme.io/acme/shop",
                None,
                Some(("https://ghe.acme.io/api/v3", "acme/shop")),
            ),
            (
                Gitlab,
                "https://gitlab.com/acme/team/shop.git",
                None,
                Some(("https://gitlab.com/api/v4", "acme/team/shop")),
            ),
            (
                Gitlab,
                "ssh://git@gitlab.acme.io:2222/acme/shop.git",
                None,
                Some(("https://gitlab.acme.io/api/v4", "acme/shop")),
            ),
            (
                Gitea,
                "http://127.0.0.1:3000/ordo/travel.git",
                None,
                Some(("http://127.0.0.1:3000/api/v1", "ordo/travel")),
            ),
            (
                Gitea,
                "https://user@git.acme.io/ordo/travel",
                None,
                Some(("https://git.acme.io/api/v1", "ordo/travel")),
            ),
            (
                Gitea,
                "https://git.acme.io/ordo/travel",
                Some("https://git.acme.io/gitea/api/v1/"),
                Some(("https://git.acme.io/gitea/api/v1", "ordo/travel")),
            ),
            (Gitea, "https://git.acme.io/travel", None, None),
            (Slack, "https://github.com/acme/shop", None, None),
        ];
        for (kind, url, api, want) in cases {
            let got = repo(*kind, url, *api);
            let got = got.as_ref().map(|r| (r.api.as_str(), r.path.as_str()));
            assert_eq!(got, *want, "{kind} {url}");
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
            let r = repo(*kind, "https://h/o/r.git", None).unwrap();
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
        let r = repo(Gitea, "https://h/o/r", None).unwrap();
        assert_eq!(
            commit_status(Gitea, &r, &event(DriftDetected), link, "T"),
            None
        );
    }

    #[test]
    fn github_deployments_follow_the_sync() {
        let r = repo(ReceiverKind::Github, "https://github.com/o/r", None).unwrap();
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
