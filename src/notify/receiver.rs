//! Receivers as the config describes them (`notifications.receivers[]`), which events each
//! one wants, and where its secrets are read from. Pure, apart from [`SecretSource::read`].

use std::path::PathBuf;

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::event::{Event, EventKind};

/// `notifications:` of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notifications {
    /// The status page's address as people reach it: links are `<externalURL>/apps/<app>`.
    /// `None`: messages carry no link.
    pub external_url: Option<String>,
    pub receivers: Vec<Receiver>,
}

/// Where a receiver sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReceiverKind {
    /// Commit statuses (and deployment statuses) through GitHub's REST API.
    Github,
    /// Commit statuses through GitLab's REST API (v4).
    Gitlab,
    /// Commit statuses through Gitea's (and Forgejo's) API (v1).
    Gitea,
    Slack,
    Discord,
    /// A Teams Workflows webhook (an Adaptive Card).
    Msteams,
    /// ordo's own JSON, signed with HMAC-SHA256.
    #[default]
    Webhook,
    Smtp,
}

impl ReceiverKind {
    pub const ALL: [ReceiverKind; 8] = [
        ReceiverKind::Github,
        ReceiverKind::Gitlab,
        ReceiverKind::Gitea,
        ReceiverKind::Slack,
        ReceiverKind::Discord,
        ReceiverKind::Msteams,
        ReceiverKind::Webhook,
        ReceiverKind::Smtp,
    ];

    /// Posts commit statuses: only sync start and end mean something to it.
    pub fn is_git_host(self) -> bool {
        matches!(
            self,
            ReceiverKind::Github | ReceiverKind::Gitlab | ReceiverKind::Gitea
        )
    }
}

impl std::fmt::Display for ReceiverKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReceiverKind::Github => "github",
            ReceiverKind::Gitlab => "gitlab",
            ReceiverKind::Gitea => "gitea",
            ReceiverKind::Slack => "slack",
            ReceiverKind::Discord => "discord",
            ReceiverKind::Msteams => "msteams",
            ReceiverKind::Webhook => "webhook",
            ReceiverKind::Smtp => "smtp",
        })
    }
}

/// A value kept out of the config file: a file (a mounted Secret) or an environment
/// variable, read at each delivery so a rotated value counts without a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the config (only for what is no secret, like a git host's API address).
    Inline(String),
    File(PathBuf),
    Env(String),
}

impl SecretSource {
    /// The value, one trailing newline dropped. The error names where it was looked for,
    /// never the value.
    pub fn read(&self) -> Result<String, String> {
        let value = match self {
            SecretSource::Inline(v) => return Ok(v.clone()),
            SecretSource::File(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?,
            SecretSource::Env(n) => {
                std::env::var(n).map_err(|_| format!("environment variable {n} is not set"))?
            }
        };
        let value = value.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            return Err(format!("{} is empty", self.describe()));
        }
        Ok(value.to_owned())
    }

    fn describe(&self) -> String {
        match self {
            SecretSource::Inline(_) => "the inline value".into(),
            SecretSource::File(p) => format!("file {}", p.display()),
            SecretSource::Env(n) => format!("environment variable {n}"),
        }
    }
}

/// One entry of `notifications.receivers`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receiver {
    /// DNS-1123 label, unique: the `receiver` label of the metric.
    pub name: String,
    pub kind: ReceiverKind,
    /// `url | urlFile | urlEnv`: the webhook address, the SMTP server (`smtp://`, `smtps://`),
    /// or a git host's API base (optional; taken from the app's repository by default).
    pub url: Option<SecretSource>,
    /// `tokenFile | tokenEnv`: the git host's API token, or the SMTP password.
    pub token: Option<SecretSource>,
    /// `secretFile`: the HMAC key a `webhook` receiver signs with.
    pub secret: Option<PathBuf>,
    /// Empty: every kind.
    pub events: Vec<EventKind>,
    /// Globs over app names; empty: every app.
    pub apps: Vec<String>,
    /// Messages sent per minute at most; the rest are summed up in one message.
    pub max_per_minute: u32,
    /// `smtp`: sender, recipients and the login (the password is `token`).
    pub from: Option<String>,
    pub to: Vec<String>,
    pub username: Option<String>,
}

/// Messages per minute per receiver when `maxPerMinute` is not set: enough for a busy
/// cluster's real news, few enough that a flapping app cannot flood a channel.
pub const DEFAULT_MAX_PER_MINUTE: u32 = 30;

/// Which events a receiver is sent (its `events` and `apps`), compiled once.
#[derive(Debug, Clone)]
pub struct Filter {
    events: Vec<EventKind>,
    apps: Option<GlobSet>,
    git_host: bool,
}

impl Filter {
    /// The globs were checked when the config was read; one that still fails to compile
    /// matches nothing rather than everything.
    pub fn new(receiver: &Receiver) -> Filter {
        let apps = if receiver.apps.is_empty() {
            None
        } else {
            let mut set = GlobSetBuilder::new();
            for g in &receiver.apps {
                if let Ok(glob) = Glob::new(g) {
                    set.add(glob);
                }
            }
            Some(set.build().unwrap_or_else(|_| GlobSet::empty()))
        };
        Filter {
            events: receiver.events.clone(),
            apps,
            git_host: receiver.kind.is_git_host(),
        }
    }

    pub fn wants(&self, event: &Event) -> bool {
        // A commit status is about a commit: a drift or an unreachable source has none.
        if self.git_host && status_state(event.kind).is_none() {
            return false;
        }
        let kind_ok = self.events.is_empty() || self.events.contains(&event.kind);
        let app_ok = self
            .apps
            .as_ref()
            .is_none_or(|set| set.is_match(&event.app));
        kind_ok && app_ok
    }
}

/// The commit status an event sets: `pending` when a sync starts, then how it ended.
pub fn status_state(kind: EventKind) -> Option<CommitState> {
    match kind {
        EventKind::SyncStarted => Some(CommitState::Pending),
        EventKind::SyncSucceeded => Some(CommitState::Success),
        EventKind::SyncFailed | EventKind::BadCommit => Some(CommitState::Failure),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitState {
    Pending,
    Success,
    Failure,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(kind: ReceiverKind, events: &[EventKind], apps: &[&str]) -> Receiver {
        Receiver {
            name: "r".into(),
            kind,
            events: events.to_vec(),
            apps: apps.iter().map(|s| s.to_string()).collect(),
            ..Receiver::default()
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn filter_by_event_kind_app_glob_and_receiver_type() {
        use EventKind::*;
        use ReceiverKind::*;
        let cases: &[(
            &str,
            ReceiverKind,
            &[EventKind],
            &[&str],
            EventKind,
            &str,
            bool,
        )] = &[
            (
                "defaults take all",
                Slack,
                &[],
                &[],
                DriftDetected,
                "a",
                true,
            ),
            (
                "listed kind",
                Slack,
                &[SyncFailed],
                &[],
                SyncFailed,
                "a",
                true,
            ),
            (
                "unlisted kind",
                Slack,
                &[SyncFailed],
                &[],
                SyncSucceeded,
                "a",
                false,
            ),
            (
                "glob matches",
                Webhook,
                &[],
                &["travel-*"],
                SyncStarted,
                "travel-eu",
                true,
            ),
            (
                "glob misses",
                Webhook,
                &[],
                &["travel-*"],
                SyncStarted,
                "shop",
                false,
            ),
            ("star", Webhook, &[], &["*"], SyncStarted, "shop", true),
            ("git host: start", Gitea, &[], &[], SyncStarted, "a", true),
            (
                "git host: bad commit",
                Github,
                &[],
                &[],
                BadCommit,
                "a",
                true,
            ),
            (
                "git host: drift has no commit status",
                Gitea,
                &[],
                &[],
                DriftDetected,
                "a",
                false,
            ),
            (
                "git host: even when listed",
                Gitlab,
                &[SourceError],
                &[],
                SourceError,
                "a",
                false,
            ),
        ];
        for (name, kind, events, apps, event, app, want) in cases {
            let filter = Filter::new(&receiver(*kind, events, apps));
            let e = Event::new(*event, app, "abc", 0.0);
            assert_eq!(filter.wants(&e), *want, "{name}");
        }
    }

    #[test]
    fn secrets_are_read_without_their_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\n").unwrap();
        assert_eq!(SecretSource::File(file.clone()).read().unwrap(), "s3cret");
        std::fs::write(&file, "\n").unwrap();
        let err = SecretSource::File(file).read().unwrap_err();
        assert!(err.ends_with("is empty"), "{err}");
        let err = SecretSource::Env("ORDO_TEST_SURELY_UNSET".into())
            .read()
            .unwrap_err();
        assert_eq!(
            err,
            "environment variable ORDO_TEST_SURELY_UNSET is not set"
        );
    }
}
