//! `notifications: {externalURL, receivers: [...]}` of the config file (issue #15).

use super::{ConfigError, Field, Fields};
use crate::config::node::Value;
use crate::notify::{
    DEFAULT_MAX_PER_MINUTE, EventKind, GITHUB_API, GitHostApi, Notifications, Receiver,
    ReceiverKind, SecretSource,
};

const KEYS: &[&str] = &["externalURL", "receivers"];
const RECEIVER_KEYS: &[&str] = &[
    "name",
    "type",
    "url",
    "urlFile",
    "urlEnv",
    "tokenFile",
    "tokenEnv",
    "secretFile",
    "events",
    "apps",
    "maxPerMinute",
    "from",
    "to",
    "username",
];
const RECEIVER_INLINE: &[(&str, &str)] = &[
    ("token", "tokenFile or tokenEnv"),
    ("secret", "secretFile"),
    ("password", "tokenFile or tokenEnv"),
];

pub(super) fn read(root: &Fields) -> Result<Notifications, ConfigError> {
    let Some(field) = root.get("notifications") else {
        return Ok(Notifications::default());
    };
    let f = Fields::open(root.file, field.node, field.path.clone(), KEYS, &[])?;
    let external_url = match f.get("externalURL") {
        Some(u) => Some(http_url(&u)?),
        None => None,
    };
    let mut receivers: Vec<Receiver> = Vec::new();
    if let Some(list) = f.get("receivers") {
        for (i, node) in list.list()?.iter().enumerate() {
            let path = format!("{}[{i}]", list.path);
            let r = Fields::open(root.file, node, path, RECEIVER_KEYS, RECEIVER_INLINE)?;
            let receiver = receiver(&r)?;
            if let Some(first) = receivers.iter().position(|x| x.name == receiver.name) {
                return Err(r.required("name")?.fail(format!(
                    "{:?} is used by receivers[{first}] too",
                    receiver.name
                )));
            }
            receivers.push(receiver);
        }
    }
    Ok(Notifications {
        external_url,
        receivers,
    })
}

fn receiver(f: &Fields) -> Result<Receiver, ConfigError> {
    let name = f.required("name")?.dns_label()?;
    let kind_field = f.required("type")?;
    let kind = kind_field.one_of(&ReceiverKind::ALL)?;
    let url = url(f)?;
    let url = if kind.is_git_host() {
        Some(git_api(f, kind, &name, url)?)
    } else {
        url
    };
    let token = f.secret("tokenFile", "tokenEnv")?.map(|s| match s {
        crate::source::Secret::File(p) => SecretSource::File(p),
        crate::source::Secret::Env(n) => SecretSource::Env(n),
    });
    let secret = f.get("secretFile").map(|s| s.path_buf()).transpose()?;
    let needs = |what: &str| {
        f.invalid(
            &f.child(what),
            f.line,
            format!("is required for type {kind}"),
        )
    };
    match kind {
        k if k.is_git_host() => {
            if token.is_none() {
                return Err(needs("tokenFile"));
            }
        }
        ReceiverKind::Smtp => {
            if url.is_none() {
                return Err(needs("url"));
            }
            if f.get("to").is_none() {
                return Err(needs("to"));
            }
            if f.get("from").is_none() {
                return Err(needs("from"));
            }
        }
        _ => {
            if url.is_none() {
                return Err(needs("url"));
            }
        }
    }
    if secret.is_some() && kind != ReceiverKind::Webhook {
        return Err(f.required("secretFile")?.fail(format!(
            "only a webhook receiver signs its messages, not {kind}"
        )));
    }
    if let Some(SecretSource::Inline(u)) = &url
        && !kind.is_git_host()
    {
        check_inline_url(f, kind, u)?;
    }
    Ok(Receiver {
        name,
        kind,
        url,
        token,
        secret,
        events: events(f)?,
        apps: f.globs("apps", true)?,
        max_per_minute: match f.get("maxPerMinute") {
            Some(m) => per_minute(&m)?,
            None => DEFAULT_MAX_PER_MINUTE,
        },
        from: f.get("from").map(|v| v.string()).transpose()?,
        to: match f.get("to") {
            Some(to) => strings(&to)?,
            None => Vec::new(),
        },
        username: f.get("username").map(|v| v.string()).transpose()?,
    })
}

/// `url`, `urlFile` or `urlEnv`: at most one.
fn url(f: &Fields) -> Result<Option<SecretSource>, ConfigError> {
    let given: Vec<Field> = ["url", "urlFile", "urlEnv"]
        .iter()
        .filter_map(|k| f.get(k))
        .collect();
    if given.len() > 1 {
        return Err(given[1].fail("set one of url, urlFile and urlEnv"));
    }
    let Some(field) = given.into_iter().next() else {
        return Ok(None);
    };
    Ok(Some(match field.path.rsplit('.').next() {
        Some("urlFile") => SecretSource::File(field.path_buf()?),
        Some("urlEnv") => SecretSource::Env(field.env_name()?),
        _ => SecretSource::Inline(field.string()?),
    }))
}

/// A git host's API address: written inline (it is no secret, and it must be fixed when the
/// config is read: the token goes there and nowhere else), `https://` only, GitHub.com's API
/// when a `github` receiver leaves it out. GitLab and Gitea are self-hosted as often as not,
/// so those receivers name theirs.
fn git_api(
    f: &Fields,
    kind: ReceiverKind,
    name: &str,
    url: Option<SecretSource>,
) -> Result<SecretSource, ConfigError> {
    let base = match url {
        Some(SecretSource::Inline(base)) => base,
        Some(_) => {
            let field = ["urlFile", "urlEnv"]
                .iter()
                .find_map(|k| f.get(k))
                .map_or_else(|| f.required("url"), Ok)?;
            return Err(field.fail(format!(
                "receiver {name:?}: a {kind} API address is no secret, and its token must go \
                 to one host fixed when the config is read: write it inline as url"
            )));
        }
        None if kind == ReceiverKind::Github => GITHUB_API.to_owned(),
        None => {
            return Err(f.invalid(
                &f.child("url"),
                f.line,
                format!(
                    "is required for type {kind} (receiver {name:?}): the https:// API address \
                     its token is for, like https://git.example.com/api/{}; commit statuses \
                     go to that host only",
                    if kind == ReceiverKind::Gitlab {
                        "v4"
                    } else {
                        "v1"
                    }
                ),
            ));
        }
    };
    match GitHostApi::new(kind, &base) {
        Ok(_) => Ok(SecretSource::Inline(base.trim_end_matches('/').to_owned())),
        Err(e) => Err(f.required("url")?.fail(format!("receiver {name:?}: {e}"))),
    }
}

/// An inline URL: the right scheme, and no secret in it. Chat webhook URLs are credentials
/// themselves (anyone holding one can post), so they belong in a file or the environment.
fn check_inline_url(f: &Fields, kind: ReceiverKind, url: &str) -> Result<(), ConfigError> {
    let field = f.required("url")?;
    if matches!(
        kind,
        ReceiverKind::Slack | ReceiverKind::Discord | ReceiverKind::Msteams
    ) {
        return Err(field.fail(format!(
            "a {kind} webhook URL is a credential: give it with urlFile or urlEnv"
        )));
    }
    if crate::source::has_password(url) {
        return Err(field.fail("the URL carries a password: use tokenFile or tokenEnv"));
    }
    let schemes: &[&str] = if kind == ReceiverKind::Smtp {
        &["smtp://", "smtps://"]
    } else {
        &["https://", "http://"]
    };
    if !schemes.iter().any(|s| url.starts_with(s)) {
        return Err(field.fail(format!("{url:?} must start with {}", schemes.join(" or "))));
    }
    Ok(())
}

fn http_url(field: &Field) -> Result<String, ConfigError> {
    let url = field.string()?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(field.fail(format!("{url:?} must start with https:// or http://")));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn events(f: &Fields) -> Result<Vec<EventKind>, ConfigError> {
    let Some(field) = f.get("events") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, node) in field.list()?.iter().enumerate() {
        let item = Field {
            file: field.file,
            path: format!("{}[{i}]", field.path),
            line: node.line.or(field.line),
            node,
        };
        let name = item.string()?;
        let Some(kind) = EventKind::ALL.iter().find(|k| k.as_str() == name) else {
            let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            return Err(item.fail(format!("{name:?} is not one of {}", names.join(", "))));
        };
        out.push(*kind);
    }
    if out.is_empty() {
        return Err(field.fail("an empty list sends nothing; leave it out for every event"));
    }
    Ok(out)
}

fn strings(field: &Field) -> Result<Vec<String>, ConfigError> {
    field
        .list()?
        .iter()
        .enumerate()
        .map(|(i, node)| {
            Field {
                file: field.file,
                path: format!("{}[{i}]", field.path),
                line: node.line.or(field.line),
                node,
            }
            .string()
        })
        .collect()
}

fn per_minute(field: &Field) -> Result<u32, ConfigError> {
    let parsed = match &field.node.value {
        Value::Number(n) => n.parse::<u32>().ok().filter(|n| *n > 0),
        _ => None,
    };
    parsed.ok_or_else(|| field.fail(format!("{} is not a positive whole number", field.shown())))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::config::{ConfigError, parse};
    use crate::notify::{EventKind, ReceiverKind, SecretSource};

    const APPS: &str =
        "apps:\n  - {name: a, repo: https://git.example.org/t/d.git, namespace: a}\n";

    fn with(receivers: &str) -> String {
        format!(
            "notifications:\n  externalURL: https://ordo.example.com/\n  receivers:\n{receivers}{APPS}"
        )
    }

    #[test]
    fn receivers_are_read_with_their_defaults() {
        let text = with(
            "    - {name: ci, type: gitea, url: \"https://git.example.org/api/v1/\", tokenFile: /t}\n    - {name: gh, type: github, tokenEnv: GH}\n    - {name: ops, type: slack, urlEnv: SLACK_URL, events: [SyncFailed, RolledBack], apps: [\"shop-*\"], maxPerMinute: 5}\n    - {name: hook, type: webhook, url: \"https://hooks.example.com/x\", secretFile: /s}\n    - {name: mail, type: smtp, url: \"smtp://mail:25\", from: ordo@example.com, to: [a@example.com], username: ordo, tokenEnv: SMTP_PASSWORD}\n",
        );
        let n = parse(&text, "t.yaml").unwrap().notifications;
        assert_eq!(n.external_url.as_deref(), Some("https://ordo.example.com"));
        let r = &n.receivers;
        assert_eq!(r.len(), 5);
        assert_eq!((r[0].kind, r[0].max_per_minute), (ReceiverKind::Gitea, 30));
        assert_eq!(r[0].token, Some(SecretSource::File(PathBuf::from("/t"))));
        assert_eq!(
            r[0].url,
            Some(SecretSource::Inline(
                "https://git.example.org/api/v1".into()
            ))
        );
        assert!(r[0].events.is_empty() && r[0].apps.is_empty());
        // GitHub's API is the one default a git host has.
        assert_eq!(
            r[1].url,
            Some(SecretSource::Inline("https://api.github.com".into()))
        );
        let r = &r[1..];
        assert_eq!(r[1].url, Some(SecretSource::Env("SLACK_URL".into())));
        assert_eq!(r[1].events, [EventKind::SyncFailed, EventKind::RolledBack]);
        assert_eq!(
            (r[1].apps.clone(), r[1].max_per_minute),
            (vec!["shop-*".to_owned()], 5)
        );
        assert_eq!(r[2].secret, Some(PathBuf::from("/s")));
        assert_eq!(r[3].to, ["a@example.com"]);
        assert_eq!(r[3].username.as_deref(), Some("ordo"));
        assert_eq!(r[3].token, Some(SecretSource::Env("SMTP_PASSWORD".into())));
        // No `notifications:` at all: no receivers.
        let n = parse(APPS, "t.yaml").unwrap().notifications;
        assert!(n.receivers.is_empty() && n.external_url.is_none());
    }

    #[test]
    fn the_commented_example_in_config_ordo_yaml_is_valid() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ordo.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let block: String = text
            .lines()
            .skip_while(|l| *l != "# notifications:")
            .take_while(|l| !l.is_empty())
            .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
            .collect();
        let n = parse(&format!("{block}{APPS}"), "t.yaml")
            .unwrap()
            .notifications;
        let kinds: Vec<ReceiverKind> = n.receivers.iter().map(|r| r.kind).collect();
        use ReceiverKind::*;
        assert_eq!(kinds, [Gitea, Slack, Webhook, Smtp]);
    }

    #[test]
    fn a_git_host_receiver_sends_its_token_to_one_https_api_named_in_the_config() {
        // Before issue #23 a gitea or gitlab receiver without url took its API from each
        // app's repository URL (http:// too), so any app could collect the token.
        let cases: &[(&str, &str, &str)] = &[
            (
                "    - {name: ci, type: gitea, tokenFile: /t}\n",
                "notifications.receivers[0].url",
                "is required for type gitea (receiver \"ci\")",
            ),
            (
                "    - {name: ci, type: gitlab, tokenFile: /t}\n",
                "notifications.receivers[0].url",
                "api/v4",
            ),
            (
                "    - {name: ci, type: gitea, url: \"http://git.example.org/api/v1\", tokenFile: /t}\n",
                "notifications.receivers[0].url",
                "receiver \"ci\": the gitea API address \"http://git.example.org/api/v1\" is not https://",
            ),
            (
                "    - {name: gh, type: github, url: \"http://ghe.example.org/api/v3\", tokenFile: /t}\n",
                "notifications.receivers[0].url",
                "not https://",
            ),
            (
                "    - {name: ci, type: gitea, urlEnv: GITEA_API, tokenFile: /t}\n",
                "notifications.receivers[0].urlEnv",
                "write it inline as url",
            ),
            (
                "    - {name: ci, type: gitlab, urlFile: /u, tokenFile: /t}\n",
                "notifications.receivers[0].urlFile",
                "write it inline as url",
            ),
        ];
        for (receivers, path, fragment) in cases {
            match parse(&with(receivers), "t.yaml") {
                Err(ConfigError::Invalid {
                    path: got, message, ..
                }) => {
                    assert_eq!(got, *path, "{receivers}: {message}");
                    assert!(
                        message.contains(fragment),
                        "{receivers}: {message:?} lacks {fragment:?}"
                    );
                }
                other => panic!("{receivers}: expected an error at {path}, got {other:?}"),
            }
        }
    }

    #[test]
    fn mistakes_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "    - {name: x, type: teams, url: \"https://a\"}\n",
                "notifications.receivers[0].type",
                "is not one of",
            ),
            (
                "    - {name: x, type: gitea, url: \"https://g/api/v1\"}\n",
                "notifications.receivers[0].tokenFile",
                "is required for type gitea",
            ),
            (
                "    - {name: x, type: webhook}\n",
                "notifications.receivers[0].url",
                "is required",
            ),
            (
                "    - {name: x, type: slack, url: \"https://hooks.slack.com/s\"}\n",
                "notifications.receivers[0].url",
                "is a credential",
            ),
            (
                "    - {name: x, type: webhook, url: \"ftp://a\"}\n",
                "notifications.receivers[0].url",
                "must start with",
            ),
            (
                "    - {name: x, type: webhook, url: \"https://u:p@a\"}\n",
                "notifications.receivers[0].url",
                "carries a password",
            ),
            (
                "    - {name: x, type: webhook, url: \"https://a\", urlFile: /u}\n",
                "notifications.receivers[0].urlFile",
                "set one of",
            ),
            (
                "    - {name: x, type: webhook, url: \"https://a\", token: abc}\n",
                "notifications.receivers[0].token",
                "inline",
            ),
            (
                "    - {name: x, type: slack, urlFile: /u, secretFile: /s}\n",
                "notifications.receivers[0].secretFile",
                "only a webhook",
            ),
            (
                "    - {name: x, type: webhook, url: \"https://a\", events: [Synced]}\n",
                "notifications.receivers[0].events[0]",
                "SyncStarted",
            ),
            (
                "    - {name: x, type: webhook, url: \"https://a\", events: []}\n",
                "notifications.receivers[0].events",
                "sends nothing",
            ),
            (
                "    - {name: x, type: webhook, url: \"https://a\", maxPerMinute: 0}\n",
                "notifications.receivers[0].maxPerMinute",
                "positive",
            ),
            (
                "    - {name: x, type: smtp, url: \"smtp://m\", from: a@b}\n",
                "notifications.receivers[0].to",
                "is required",
            ),
            (
                "    - {name: x, type: smtp, url: \"https://m\", from: a@b, to: [c@d]}\n",
                "notifications.receivers[0].url",
                "smtp://",
            ),
            (
                "    - {name: Ops, type: webhook, url: \"https://a\"}\n",
                "notifications.receivers[0].name",
                "DNS-1123",
            ),
            (
                "    - {name: x, type: webhook, url: \"https://a\"}\n    - {name: x, type: webhook, url: \"https://b\"}\n",
                "notifications.receivers[1].name",
                "used by receivers[0]",
            ),
        ];
        for (receivers, path, fragment) in cases {
            match parse(&with(receivers), "t.yaml") {
                Err(ConfigError::Invalid {
                    path: got, message, ..
                }) => {
                    assert_eq!(got, *path, "{receivers}: {message}");
                    assert!(
                        message.contains(fragment),
                        "{receivers}: {message:?} lacks {fragment:?}"
                    );
                }
                other => panic!("{receivers}: expected an error at {path}, got {other:?}"),
            }
        }
    }
}
