//! Repository URLs: which transport, which host, and a form safe to print.

use super::SourceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Http,
    Ssh,
    /// `file://` and plain paths: libgit2's local transport (no shallow fetches).
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteUrl {
    /// As configured; handed to libgit2.
    pub raw: String,
    /// With any password replaced by `***`: the only form that goes into errors and logs.
    pub redacted: String,
    pub transport: Transport,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
}

impl RemoteUrl {
    pub(crate) fn parse(raw: &str) -> Result<Self, SourceError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(invalid(raw, "the URL is empty"));
        }
        if let Some((scheme, rest)) = raw.split_once("://") {
            let transport = match scheme.to_ascii_lowercase().as_str() {
                "http" | "https" => Transport::Http,
                "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
                "file" => return Ok(local(raw)),
                other => {
                    return Err(invalid(
                        raw,
                        &format!("unsupported scheme '{other}': use https://, ssh:// or file://"),
                    ));
                }
            };
            return with_authority(raw, scheme, rest, transport);
        }
        if let Some((authority, _path)) = scp_like(raw) {
            let (user, host) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_string()), h),
                None => (None, authority),
            };
            return Ok(RemoteUrl {
                raw: raw.to_string(),
                redacted: raw.to_string(),
                transport: Transport::Ssh,
                host: Some(host.to_string()),
                port: None,
                user,
            });
        }
        Ok(local(raw))
    }
}

/// `[user@]host:path` as git understands it: a ':' before any '/', and a host longer than one
/// letter (so `C:/repo` stays a path).
fn scp_like(raw: &str) -> Option<(&str, &str)> {
    let (authority, path) = raw.split_once(':')?;
    let valid = authority.len() > 1 && !authority.contains('/') && !path.starts_with("//");
    valid.then_some((authority, path))
}

fn local(raw: &str) -> RemoteUrl {
    RemoteUrl {
        raw: raw.to_string(),
        redacted: raw.to_string(),
        transport: Transport::Local,
        host: None,
        port: None,
        user: None,
    }
}

/// A URL without `user[:password]@`, for anything shown or stored outside the agent's memory:
/// status pages, the API, metric labels (which end up in dashboards and long-term storage).
/// Forms with no authority (paths, `git@host:path`) are returned as they are: they carry no
/// password.
pub fn without_user_info(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

/// Whether `url` carries a password in its user info (`https://user:token@host/…`). Such URLs
/// are refused where they are configured: the password would end up in process listings, shell
/// history, config repositories and logs. A user alone (`ssh://git@host/…`) is no secret.
pub fn has_password(url: &str) -> bool {
    let Some((_, rest)) = url.trim().split_once("://") else {
        // `[user@]host:path` has no room for a password, and a path is no URL.
        return false;
    };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    authority
        .rsplit_once('@')
        .is_some_and(|(user_info, _)| user_info.contains(':'))
}

/// A repository URL reduced to what names the repository, so the forms a provider sends
/// (`https://host/o/r.git`, `git@host:o/r.git`, `ssh://git@host:22/o/r`) and the one configured
/// compare equal: no scheme, user info or port, the host in lower case, no trailing `.git` or
/// `/`. Local paths and `file://` URLs become the path.
pub fn repo_key(url: &str) -> String {
    let url = url.trim();
    let (host, path) = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("file") => (None, rest),
        Some((_, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (Some(host_of(authority)), path)
        }
        None => match scp_like(url) {
            Some((authority, path)) => (Some(host_of(authority)), path),
            None => (None, url),
        },
    };
    let mut path = path.trim_end_matches('/');
    if let Some(stripped) = path.strip_suffix(".git") {
        path = stripped.trim_end_matches('/');
    }
    match host {
        Some(host) => format!("{host}/{}", path.trim_start_matches('/')),
        None => path.to_owned(),
    }
}

/// The host of `[user[:password]@]host[:port]`, lower case.
fn host_of(authority: &str) -> String {
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match hostport.strip_prefix('[') {
        // [v6]:port
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => hostport.split(':').next().unwrap_or(hostport),
    };
    host.to_ascii_lowercase()
}

fn with_authority(
    raw: &str,
    scheme: &str,
    rest: &str,
    transport: Transport,
) -> Result<RemoteUrl, SourceError> {
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, redacted_userinfo) = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((u, _password)) => (Some(u.to_string()), format!("{u}:***@")),
            None => (Some(info.to_string()), format!("{info}@")),
        },
        None => (None, String::new()),
    };
    let (host, port) =
        split_host_port(hostport).ok_or_else(|| invalid(raw, "the host or port is not valid"))?;
    if host.is_empty() {
        return Err(invalid(raw, "the URL names no host"));
    }
    Ok(RemoteUrl {
        raw: raw.to_string(),
        redacted: format!("{scheme}://{redacted_userinfo}{hostport}{path}"),
        transport,
        host: Some(host),
        port,
        user,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(hostport: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match hostport.rsplit_once(':') {
        Some((host, p)) => Some((host.to_string(), Some(p.parse().ok()?))),
        None => Some((hostport.to_string(), None)),
    }
}

fn invalid(raw: &str, reason: &str) -> SourceError {
    // Never echo a URL we could not parse: it might hold a password we failed to find.
    let shown = if raw.contains('@') {
        "<URL with credentials>"
    } else {
        raw
    };
    SourceError::InvalidUrl {
        url: shown.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_urls_compare_by_host_and_path() {
        let same = [
            (
                "https://github.com/acme/shop.git",
                "git@github.com:acme/shop.git",
            ),
            (
                "https://github.com/acme/shop",
                "ssh://git@GitHub.com:22/acme/shop.git/",
            ),
            (
                "https://user:token@github.com/acme/shop/",
                "http://github.com/acme/shop",
            ),
            ("/srv/git/shop.git", "file:///srv/git/shop.git"),
            ("/srv/git/shop.git/", "/srv/git/shop"),
            ("ssh://git@[::1]:2222/shop", "https://[::1]/shop.git"),
        ];
        for (a, b) in same {
            assert_eq!(repo_key(a), repo_key(b), "{a} vs {b}");
        }
        let different = [
            (
                "https://github.com/acme/shop",
                "https://github.com/acme/shop-api",
            ),
            (
                "https://github.com/acme/shop",
                "https://gitlab.com/acme/shop",
            ),
            (
                "https://github.com/acme/shop",
                "https://github.com/Acme/shop",
            ),
            ("/srv/git/shop.git", "/srv/other/shop.git"),
        ];
        for (a, b) in different {
            assert_ne!(repo_key(a), repo_key(b), "{a} vs {b}");
        }
    }

    #[test]
    fn https_with_password_is_redacted() {
        let u = RemoteUrl::parse("https://alice:s3cret@git.example.com:8443/org/repo.git").unwrap();
        assert_eq!(u.transport, Transport::Http);
        assert_eq!(
            u.redacted,
            "https://alice:***@git.example.com:8443/org/repo.git"
        );
        assert_eq!(u.host.as_deref(), Some("git.example.com"));
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert!(!u.redacted.contains("s3cret"));
    }

    #[test]
    fn only_user_info_with_a_colon_is_a_password() {
        assert!(has_password("https://bot:token@h/r.git"));
        assert!(has_password("ssh://git:pw@h:22/r"));
        for url in [
            "https://bot@h/r.git",
            "ssh://git@h/r",
            "git@h:org/r.git",
            "https://h:8443/r.git",
            "/srv/git/r",
            "https://h/r@v1:x",
        ] {
            assert!(!has_password(url), "{url}");
        }
    }

    #[test]
    fn ssh_and_scp_like_urls_are_ssh() {
        let u = RemoteUrl::parse("ssh://git@example.com:2222/org/repo").unwrap();
        assert_eq!((u.transport, u.port), (Transport::Ssh, Some(2222)));
        let u = RemoteUrl::parse("git@github.com:org/repo.git").unwrap();
        assert_eq!(u.transport, Transport::Ssh);
        assert_eq!(u.host.as_deref(), Some("github.com"));
        assert_eq!(u.user.as_deref(), Some("git"));
    }

    #[test]
    fn paths_and_file_urls_are_local() {
        for raw in ["/srv/git/repo", "./repo", "file:///srv/git/repo", "C:/repo"] {
            assert_eq!(
                RemoteUrl::parse(raw).unwrap().transport,
                Transport::Local,
                "{raw}"
            );
        }
    }

    #[test]
    fn unsupported_scheme_and_bad_port_are_errors() {
        assert!(RemoteUrl::parse("git://example.com/repo").is_err());
        assert!(RemoteUrl::parse("https://example.com:http/repo").is_err());
        let err = RemoteUrl::parse("https://u:pw@h:x/r").unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn ipv6_hosts_parse() {
        let u = RemoteUrl::parse("https://[::1]:8080/repo").unwrap();
        assert_eq!((u.host.as_deref(), u.port), (Some("::1"), Some(8080)));
    }
}
