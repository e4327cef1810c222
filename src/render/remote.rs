//! A Helm chart kept outside git: in a chart repository (an HTTP server with `index.yaml`) or
//! an OCI registry (`oci://`), always at one exact version. Pure: checking what the config or
//! the command line says; pulling is `helm::pull`'s business.

use std::path::PathBuf;

/// Where a remote chart lives and how to read it. Credentials are named by file only and
/// read at render time, so neither this value nor its `Debug` text (part of the render cache
/// key) ever holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteChart {
    /// `https://…` or `http://…` (a chart repository) or `oci://host/path`, without user info.
    pub repo_url: String,
    /// The chart's name in the repository; for OCI the last element of the reference.
    pub chart: String,
    /// An exact SemVer version: a range would let the same commit render another chart.
    pub version: String,
    /// The user name as given (`--helm-username`).
    pub username: Option<String>,
    /// A file holding the user name (`usernameFile`).
    pub username_file: Option<PathBuf>,
    /// A file holding the password or token (`passwordFile`), read at each pull.
    pub password_file: Option<PathBuf>,
    /// Talk plain HTTP to an OCI registry (`plainHTTP: true`): opted into, never guessed from
    /// the host, since a registry on a private network name is no safer than one on the
    /// internet.
    pub plain_http: bool,
    /// A PEM file of the CAs that sign the repository's or registry's certificate
    /// (`caFile`), for a private CA; the system's trust store otherwise.
    pub ca_file: Option<PathBuf>,
}

/// The kinds of place a chart is pulled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    /// A chart repository: `index.yaml` at the URL, charts as `.tgz` files.
    Http,
    /// An OCI registry; the chart is an artifact at `oci://host/path/chart`.
    Oci,
}

impl RemoteChart {
    /// Checks a chart reference as written: `repo_url`, `chart` (required for a chart
    /// repository; for OCI, appended to the URL when given, else the URL's last element)
    /// and `version`. The error says what to write instead.
    pub fn new(repo_url: &str, chart: Option<&str>, version: &str) -> Result<Self, String> {
        let repo_url = repo_url.trim_end_matches('/');
        let kind = repo_kind(repo_url)?;
        let rest = repo_url.split_once("://").map_or("", |(_, rest)| rest);
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() {
            return Err(format!("{repo_url:?} names no host"));
        }
        if host.contains('@') {
            return Err(format!(
                "{repo_url:?} holds credentials; they are never written inline: give \
                 usernameFile and passwordFile instead"
            ));
        }
        let chart = match (kind, chart) {
            (_, Some(name)) => name.to_owned(),
            (RepoKind::Http, None) => {
                return Err(format!(
                    "a chart repository ({repo_url}) holds many charts: say which with chart"
                ));
            }
            (RepoKind::Oci, None) => match rest.split_once('/') {
                Some((_, path)) => path.rsplit('/').next().unwrap_or_default().to_owned(),
                None => String::new(),
            },
        };
        check_chart_name(&chart, repo_url)?;
        check_exact_version(version)?;
        Ok(RemoteChart {
            repo_url: repo_url.to_owned(),
            chart,
            version: version.to_owned(),
            username: None,
            username_file: None,
            password_file: None,
            plain_http: false,
            ca_file: None,
        })
    }

    /// Whether a user name or password is configured.
    pub fn has_credentials(&self) -> bool {
        self.username.is_some() || self.username_file.is_some() || self.password_file.is_some()
    }

    /// Whether requests would cross the network in clear text: an `http://` chart
    /// repository, or a registry with `plainHTTP`.
    pub fn is_plain_http(&self) -> bool {
        match self.kind() {
            RepoKind::Http => self.repo_url.starts_with("http://"),
            RepoKind::Oci => self.plain_http,
        }
    }

    /// Credentials go over TLS only: over plain HTTP anyone on the path reads the password
    /// (basic auth is base64, not encryption). Checked before anything is read or sent.
    pub fn check_credentials_transport(&self) -> Result<(), String> {
        if !self.has_credentials() || !self.is_plain_http() {
            return Ok(());
        }
        Err(match self.kind() {
            RepoKind::Http => format!(
                "chart repository {} is plain http://: ordo sends no credentials \
                 (usernameFile, passwordFile) over it; serve the repository over https:// \
                 and set helm.repoURL to its https:// address",
                self.repo_url
            ),
            RepoKind::Oci => format!(
                "registry {} is read with plainHTTP: ordo sends no credentials \
                 (usernameFile, passwordFile) over plain HTTP; serve the registry over TLS \
                 (https) and drop plainHTTP",
                self.repo_url
            ),
        })
    }

    /// `host[:port]` of an `oci://` reference: where `helm registry login` logs in.
    pub fn registry_host(&self) -> Option<&str> {
        let rest = self.repo_url.strip_prefix("oci://")?;
        rest.split('/').next().filter(|h| !h.is_empty())
    }

    pub fn kind(&self) -> RepoKind {
        if self.repo_url.starts_with("oci://") {
            RepoKind::Oci
        } else {
            RepoKind::Http
        }
    }

    /// What `helm pull` is given: the chart's name for a chart repository (with `--repo`),
    /// the full `oci://` reference for a registry.
    pub fn pull_reference(&self) -> String {
        match self.kind() {
            RepoKind::Http => self.chart.clone(),
            RepoKind::Oci if self.repo_url.ends_with(&format!("/{}", self.chart)) => {
                self.repo_url.clone()
            }
            RepoKind::Oci => format!("{}/{}", self.repo_url, self.chart),
        }
    }

    /// Where the chart is looked up, as a user would check it: the index of a chart
    /// repository, the reference in a registry.
    pub fn location(&self) -> String {
        match self.kind() {
            RepoKind::Http => format!("{}/index.yaml", self.repo_url),
            RepoKind::Oci => self.pull_reference(),
        }
    }
}

fn repo_kind(url: &str) -> Result<RepoKind, String> {
    if url.starts_with("oci://") {
        Ok(RepoKind::Oci)
    } else if url.starts_with("https://") || url.starts_with("http://") {
        Ok(RepoKind::Http)
    } else {
        Err(format!(
            "{url:?} is not a chart repository URL: it starts with https:// (a chart \
             repository) or oci:// (a registry)"
        ))
    }
}

/// A chart name as Helm allows it; never a path, never a flag.
fn check_chart_name(chart: &str, repo_url: &str) -> Result<(), String> {
    let valid = chart.starts_with(|c: char| c.is_ascii_alphanumeric())
        && chart
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else if chart.is_empty() {
        Err(format!(
            "{repo_url:?} names no chart: end it with the chart's name or give chart"
        ))
    } else {
        Err(format!(
            "chart {chart:?} is not a chart name (letters, digits, '-', '_' and '.')"
        ))
    }
}

/// An exact SemVer 2 version (`1.2.3`, `1.2.3-rc.1`, `1.2.3+build`, an optional leading `v`).
/// Ranges (`^1.2`, `~1`, `>=1`, `1.x`) are refused: an exact version is what makes a render
/// reproducible and lets a poll that finds nothing new render nothing.
pub fn check_exact_version(version: &str) -> Result<(), String> {
    let refuse = || {
        Err(format!(
            "{version:?} is not an exact version (like 1.2.3): a range would let the same \
             commit render a different chart; pin the version"
        ))
    };
    let bare = version.strip_prefix('v').unwrap_or(version);
    let (rest, build) = match bare.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (bare, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let identifiers = |s: &str| {
        s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let exact = numbers.len() == 3
        && numbers.iter().all(numeric)
        && pre.is_none_or(identifiers)
        && build.is_none_or(identifiers);
    if exact { Ok(()) } else { refuse() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_repository_needs_the_chart_name() {
        let chart = RemoteChart::new("https://charts.test/stable/", Some("shop"), "1.2.3").unwrap();
        assert_eq!(chart.kind(), RepoKind::Http);
        assert_eq!(chart.repo_url, "https://charts.test/stable");
        assert_eq!(chart.pull_reference(), "shop");
        assert_eq!(chart.location(), "https://charts.test/stable/index.yaml");
        let err = RemoteChart::new("https://charts.test", None, "1.2.3").unwrap_err();
        assert!(err.contains("say which with chart"), "{err}");
    }

    #[test]
    fn an_oci_chart_is_the_last_path_element_or_the_chart_given() {
        let last = RemoteChart::new("oci://127.0.0.1:5000/charts/shop", None, "0.2.0").unwrap();
        assert_eq!((last.kind(), last.chart.as_str()), (RepoKind::Oci, "shop"));
        assert_eq!(last.pull_reference(), "oci://127.0.0.1:5000/charts/shop");
        let named = RemoteChart::new("oci://registry.test/charts", Some("shop"), "0.2.0").unwrap();
        assert_eq!(named.pull_reference(), "oci://registry.test/charts/shop");
        assert!(RemoteChart::new("oci://registry.test", None, "1.0.0").is_err());
    }

    #[test]
    fn bad_references_are_refused_with_what_to_do() {
        let cases = [
            ("ftp://x/charts", Some("a"), "1.0.0", "https://"),
            ("https://u:p@x/charts", Some("a"), "1.0.0", "passwordFile"),
            ("https:///charts", Some("a"), "1.0.0", "no host"),
            ("https://x", Some("../a"), "1.0.0", "not a chart name"),
            ("https://x", Some("--set"), "1.0.0", "not a chart name"),
        ];
        for (url, chart, version, fragment) in cases {
            let err = RemoteChart::new(url, chart, version).unwrap_err();
            assert!(err.contains(fragment), "{url}: {err}");
        }
    }

    #[test]
    fn credentials_never_travel_over_plain_http() {
        let with_password = |url: &str, plain: bool| {
            let mut chart = RemoteChart::new(url, Some("shop"), "1.0.0").unwrap();
            chart.password_file = Some("/p".into());
            chart.username = Some("ci".into());
            chart.plain_http = plain;
            chart
        };
        let err = with_password("http://charts.test/private", false)
            .check_credentials_transport()
            .unwrap_err();
        assert!(
            err.contains("chart repository http://charts.test/private is plain http://")
                && err.contains("https://"),
            "{err}"
        );
        let err = with_password("oci://registry.test/charts", true)
            .check_credentials_transport()
            .unwrap_err();
        assert!(err.contains("registry oci://registry.test/charts"), "{err}");
        assert!(err.contains("TLS"), "{err}");
        for fine in [
            with_password("https://charts.test/private", false),
            with_password("oci://registry.test/charts", false),
            RemoteChart::new("http://charts.test/open", Some("shop"), "1.0.0").unwrap(),
        ] {
            assert_eq!(fine.check_credentials_transport(), Ok(()), "{fine:?}");
        }
    }

    #[test]
    fn the_registry_host_is_where_helm_logs_in() {
        let chart = RemoteChart::new("oci://127.0.0.1:5000/charts/shop", None, "1.0.0").unwrap();
        assert_eq!(chart.registry_host(), Some("127.0.0.1:5000"));
        let repo = RemoteChart::new("https://c.test", Some("shop"), "1.0.0").unwrap();
        assert_eq!(repo.registry_host(), None);
    }

    #[test]
    fn only_exact_versions_are_accepted() {
        for ok in [
            "1.2.3",
            "v0.1.0",
            "1.2.3-rc.1",
            "1.2.3+build.7",
            "10.20.30-alpha-1",
        ] {
            assert!(check_exact_version(ok).is_ok(), "{ok}");
        }
        for range in [
            "",
            "1",
            "1.2",
            "^1.2.3",
            "~1.2.3",
            ">=1.0.0",
            "1.2.x",
            "1.2.*",
            "1.2.3 || 2.0.0",
            "1.2.3,<2",
            "1.2.3-",
            "latest",
        ] {
            let err = check_exact_version(range).unwrap_err();
            assert!(err.contains("not an exact version"), "{range}: {err}");
        }
    }
}
