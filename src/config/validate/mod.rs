//! Field-by-field validation of the parsed YAML tree into [`Config`]. Every error names the
//! field's path and, when the parser knew it, its line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod render;

use render::{helm, kustomize, post_build};

use super::node::{Entry, Node, Value};
use super::suggest::suggest;
use super::{
    AppConfig, Config, ConfigError, CredentialsConfig, DEFAULT_INTERVAL, DEFAULT_LISTEN,
    DEFAULT_TIMEOUT, MIN_INTERVAL, OnFailure, ReadAuth, duration,
};
use crate::plan::Ordering;
use crate::render::SourceKind;
use crate::source::Secret;

mod allow;
mod client;
mod credentials;
mod decryption;
mod namespace;
mod notifications;
mod prune_guard;
mod verify;

const ROOT_KEYS: &[&str] = &[
    "listen",
    "cacheDir",
    "apiTokenFile",
    "webhookSecretFile",
    "readAuth",
    "notifications",
    "maxConcurrentSyncs",
    "kubeClient",
    "apps",
];
const ROOT_INLINE: &[(&str, &str)] = &[
    ("apiToken", "apiTokenFile"),
    ("webhookSecret", "webhookSecretFile"),
];
const APP_KEYS: &[&str] = &[
    "name",
    "repo",
    "ref",
    "path",
    "namespace",
    "interval",
    "timeout",
    "prune",
    "pruneGuard",
    "allow",
    "platform",
    "createNamespace",
    "managedNamespaceMetadata",
    "serviceAccountName",
    "dependsOn",
    "selfHeal",
    "allowEmpty",
    "onFailure",
    "ordering",
    "include",
    "exclude",
    "credentials",
    "source",
    "helm",
    "kustomize",
    "postBuild",
    "decryption",
    "verify",
];
pub(super) fn config(root: &Node, file: &str) -> Result<Config, ConfigError> {
    let fields = Fields::open(file, root, String::new(), ROOT_KEYS, ROOT_INLINE)?;
    let listen = match fields.get("listen") {
        Some(f) => f.socket_addr()?,
        None => DEFAULT_LISTEN,
    };
    let apps_field = fields.required("apps")?;
    // `apps: []` is an agent waiting for its first app (a chart installed with defaults): its
    // page says how to add one.
    let items = apps_field.list()?;
    let mut apps: Vec<AppConfig> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fields = Fields::open(file, item, format!("apps[{i}]"), APP_KEYS, &[])?;
        let app = app(&fields)?;
        if let Some(first) = apps.iter().position(|a| a.name == app.name) {
            let name = fields.required("name")?;
            return Err(name.fail(format!("{:?} is used by apps[{first}] too", app.name)));
        }
        apps.push(app);
    }
    let graph: Vec<(&str, &[String])> = apps
        .iter()
        .map(|a| (a.name.as_str(), a.depends_on.as_slice()))
        .collect();
    if let Some((i, message)) = super::depends::problem(&graph) {
        let fields = Fields::open(file, &items[i], format!("apps[{i}]"), APP_KEYS, &[])?;
        return Err(fields.required("dependsOn")?.fail(message));
    }
    let read_auth = fields.one_of_or("readAuth", &ReadAuth::ALL)?;
    if read_auth == ReadAuth::Token && fields.get("apiTokenFile").is_none() {
        return Err(fields
            .required("readAuth")?
            .fail("token needs apiTokenFile: reads are checked against the API token"));
    }
    Ok(Config {
        read_auth,
        listen,
        cache_dir: fields.get("cacheDir").map(|f| f.path_buf()).transpose()?,
        api_token_file: fields
            .get("apiTokenFile")
            .map(|f| f.path_buf())
            .transpose()?,
        webhook_secret_file: fields
            .get("webhookSecretFile")
            .map(|f| f.path_buf())
            .transpose()?,
        notifications: notifications::read(&fields)?,
        max_concurrent_syncs: match fields.get("maxConcurrentSyncs") {
            Some(f) => client::positive(&f)?,
            None => super::DEFAULT_MAX_CONCURRENT_SYNCS,
        },
        kube_client: client::kube_client(&fields)?,
        apps,
    })
}

fn app(f: &Fields) -> Result<AppConfig, ConfigError> {
    let name = f.required("name")?.dns_label()?;
    let source = f.one_of_or("source", &SourceKind::ALL)?;
    let helm = helm(f, source, &name)?;
    let namespace = f.required("namespace")?.dns_label()?;
    let create_namespace = namespace::read(f)?;
    // A chart from a repository is Helm whatever the path in git holds (values files only).
    let source = match (&helm.remote, source) {
        (Some(_), SourceKind::Auto) => SourceKind::Helm,
        _ => source,
    };
    Ok(AppConfig {
        helm,
        kustomize: kustomize(f, source)?,
        substitute: post_build(f)?,
        source,
        name,
        repo: f.required("repo")?.repo_url()?,
        reference: f
            .get("ref")
            .map(|r| r.string())
            .transpose()?
            .unwrap_or_default(),
        path: f
            .get("path")
            .map(|p| p.repo_dir())
            .transpose()?
            .unwrap_or_default(),
        namespace: namespace.clone(),
        interval: f.duration_or("interval", DEFAULT_INTERVAL)?,
        timeout: f.duration_or("timeout", DEFAULT_TIMEOUT)?,
        prune: f.bool_or("prune", false)?,
        prune_guard: prune_guard::read(f)?,
        allow: allow::read(f, &namespace, create_namespace.is_some())?,
        create_namespace,
        platform: f.bool_or("platform", false)?,
        depends_on: match f.get("dependsOn") {
            Some(list) => list
                .items()?
                .iter()
                .map(|item| item.dns_label())
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        },
        service_account_name: f
            .get("serviceAccountName")
            .map(|n| n.dns_subdomain())
            .transpose()?,
        self_heal: f.bool_or("selfHeal", false)?,
        allow_empty: f.bool_or("allowEmpty", false)?,
        on_failure: f.one_of_or("onFailure", &OnFailure::ALL)?,
        ordering: f.one_of_or("ordering", &[Ordering::Tiers, Ordering::Graph])?,
        include: f.globs("include", false)?,
        exclude: f.globs("exclude", true)?,
        credentials: credentials::read(f)?,
        decryption: decryption::read(f)?,
        verify: verify::read(f)?,
    })
}

/// A mapping whose keys have been checked against the ones allowed there.
struct Fields<'a> {
    file: &'a str,
    path: String,
    line: Option<u64>,
    entries: &'a [Entry],
}

impl<'a> Fields<'a> {
    /// `inline` lists keys people write secrets under, with the keys to use instead.
    fn open(
        file: &'a str,
        node: &'a Node,
        path: String,
        known: &[&str],
        inline: &[(&str, &str)],
    ) -> Result<Self, ConfigError> {
        let field = Field {
            file,
            path,
            line: node.line,
            node,
        };
        let Value::Map(entries) = &node.value else {
            let what = if field.path.is_empty() {
                "the config file"
            } else {
                "this"
            };
            return Err(field.fail(format!(
                "{what} must be a mapping of {}, found {}",
                known.join(", "),
                node.value.kind()
            )));
        };
        let fields = Fields {
            file,
            line: if field.path.is_empty() {
                None
            } else {
                node.line
            },
            path: field.path,
            entries,
        };
        for entry in entries {
            if known.contains(&entry.key.as_str()) {
                continue;
            }
            let message = match inline.iter().find(|(k, _)| *k == entry.key) {
                Some((_, instead)) => {
                    format!("secrets are not written inline; use {instead}")
                }
                None => match suggest(&entry.key, known) {
                    Some(close) => format!("unknown field; did you mean {close}?"),
                    None => format!("unknown field; expected one of {}", known.join(", ")),
                },
            };
            return Err(fields.invalid(&fields.child(&entry.key), entry.key_line, message));
        }
        Ok(fields)
    }

    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn invalid(&self, path: &str, line: Option<u64>, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line,
            path: path.to_owned(),
            message,
        }
    }

    /// The field, unless absent or empty (`key:` with no value means "the default").
    fn get(&self, key: &str) -> Option<Field<'a>> {
        let entry = self.entries.iter().find(|e| e.key == key)?;
        if entry.value.value == Value::Null {
            return None;
        }
        Some(Field {
            file: self.file,
            path: self.child(key),
            line: entry.value.line.or(entry.key_line),
            node: &entry.value,
        })
    }

    fn required(&self, key: &str) -> Result<Field<'a>, ConfigError> {
        self.get(key)
            .ok_or_else(|| self.invalid(&self.child(key), self.line, "is required".into()))
    }

    fn duration_or(&self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        self.get(key).map_or(Ok(default), |f| f.duration())
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        self.get(key).map_or(Ok(default), |f| f.bool())
    }

    fn one_of_or<T>(&self, key: &str, allowed: &[T]) -> Result<T, ConfigError>
    where
        T: Copy + Default + std::fmt::Display,
    {
        self.get(key)
            .map_or(Ok(T::default()), |f| f.one_of(allowed))
    }

    /// An optional list of globs; `include: []` would select nothing, so it is refused.
    fn globs(&self, key: &str, may_be_empty: bool) -> Result<Vec<String>, ConfigError> {
        let Some(field) = self.get(key) else {
            return Ok(Vec::new());
        };
        let items = field.list()?;
        if items.is_empty() && !may_be_empty {
            return Err(field.fail("an empty list selects no file; leave it out for the default"));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let item = Field {
                    file: self.file,
                    path: format!("{}[{i}]", field.path),
                    line: node.line.or(field.line),
                    node,
                };
                item.glob()
            })
            .collect()
    }

    /// A secret named by a file or an environment variable, never both.
    fn secret(&self, file_key: &str, env_key: &str) -> Result<Option<Secret>, ConfigError> {
        match (self.get(file_key), self.get(env_key)) {
            (Some(_), Some(env)) => Err(env.fail(format!("set {file_key} or {env_key}, not both"))),
            (Some(file), None) => Ok(Some(Secret::File(file.path_buf()?))),
            (None, Some(env)) => Ok(Some(Secret::Env(env.env_name()?))),
            (None, None) => Ok(None),
        }
    }
}

/// One present, non-null value and its path.
struct Field<'a> {
    file: &'a str,
    path: String,
    line: Option<u64>,
    node: &'a Node,
}

impl<'a> Field<'a> {
    fn fail(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line: self.line,
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// The value as written, for messages: strings quoted, numbers and booleans bare.
    fn shown(&self) -> String {
        match &self.node.value {
            Value::Str(s) => format!("{s:?}"),
            Value::Number(n) => n.clone(),
            Value::Bool(b) => b.to_string(),
            other => other.kind().to_owned(),
        }
    }

    fn list(&self) -> Result<&'a [Node], ConfigError> {
        match &self.node.value {
            Value::Seq(items) => Ok(items),
            other => Err(self.fail(format!("expected a list, found {}", other.kind()))),
        }
    }

    /// A non-empty string. Numbers are refused rather than converted: `ref: 1.10` reads as
    /// the number 1.1, and silently syncing tag `1.1` would be worse than an error.
    fn string(&self) -> Result<String, ConfigError> {
        match &self.node.value {
            Value::Str(s) if s.trim().is_empty() => Err(self.fail("is empty")),
            Value::Str(s) => Ok(s.clone()),
            Value::Number(n) => Err(self.fail(format!(
                "expected a string, found the number {n}; quote it if you mean \"{n}\""
            ))),
            other => Err(self.fail(format!("expected a string, found {}", other.kind()))),
        }
    }

    /// The items of a list, each a field with its own path.
    fn items(&self) -> Result<Vec<Field<'a>>, ConfigError> {
        Ok(self
            .list()?
            .iter()
            .enumerate()
            .map(|(i, node)| Field {
                file: self.file,
                path: format!("{}[{i}]", self.path),
                line: node.line.or(self.line),
                node,
            })
            .collect())
    }

    fn bool(&self) -> Result<bool, ConfigError> {
        match &self.node.value {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.fail(format!("{} is not true or false", self.shown()))),
        }
    }

    fn path_buf(&self) -> Result<PathBuf, ConfigError> {
        self.string().map(PathBuf::from)
    }

    fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        let not_addr = || {
            self.fail(format!(
                "{} is not an address like 0.0.0.0:8080",
                self.shown()
            ))
        };
        match &self.node.value {
            Value::Str(s) => s.trim().parse().map_err(|_| not_addr()),
            _ => Err(not_addr()),
        }
    }

    fn duration(&self) -> Result<Duration, ConfigError> {
        let parsed = match &self.node.value {
            Value::Str(s) => duration::parse_duration(s),
            _ => None,
        };
        let Some(d) = parsed else {
            return Err(self.fail(format!(
                "{} is not a duration (use 90s, 5m, 1h)",
                self.shown()
            )));
        };
        if d < MIN_INTERVAL {
            return Err(self.fail(format!(
                "{} is below the minimum of {}",
                self.shown(),
                duration::format_duration(MIN_INTERVAL)
            )));
        }
        Ok(d)
    }

    fn one_of<T: Copy + std::fmt::Display>(&self, allowed: &[T]) -> Result<T, ConfigError> {
        let found = match &self.node.value {
            Value::Str(s) => allowed.iter().find(|a| a.to_string() == *s).copied(),
            _ => None,
        };
        found.ok_or_else(|| {
            let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
            self.fail(format!(
                "{} is not one of {}",
                self.shown(),
                names.join(", ")
            ))
        })
    }

    /// A DNS-1123 label (RFC 1123): names and namespaces end up in object names and labels.
    /// A repository URL without a password in it: passwords come from files or the
    /// environment, never from the config (which is often in git itself).
    fn repo_url(&self) -> Result<String, ConfigError> {
        let url = self.string()?;
        if crate::source::has_password(&url) {
            return Err(self.fail(format!(
                "{:?} carries a password: remove it from the URL and give it with \
                 credentials.passwordFile or credentials.passwordEnv (and the user with \
                 credentials.username)",
                crate::source::without_user_info(&url)
            )));
        }
        Ok(url)
    }

    fn dns_label(&self) -> Result<String, ConfigError> {
        let s = self.string()?;
        if crate::manifest::is_dns_label(&s) {
            Ok(s)
        } else {
            Err(self.fail(format!(
                "{s:?} is not a DNS-1123 label (at most 63 lowercase letters, digits and '-', \
                 starting and ending with a letter or digit)"
            )))
        }
    }

    /// A DNS-1123 subdomain (ServiceAccount names): labels joined by dots, 253 at most.
    fn dns_subdomain(&self) -> Result<String, ConfigError> {
        let s = self.string()?;
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if s.len() <= 253 && s.split('.').all(label_ok) {
            Ok(s)
        } else {
            Err(self.fail(format!(
                "{s:?} is not a valid name (lowercase letters, digits, '-' and '.', at most 253)"
            )))
        }
    }

    /// A directory inside the repository: relative and never climbing out of it.
    fn repo_dir(&self) -> Result<String, ConfigError> {
        let s = self.string()?;
        if s.starts_with('/') || s.split('/').any(|part| part == "..") {
            return Err(self.fail(format!(
                "{s:?} is not a directory inside the repository (relative, without ..)"
            )));
        }
        Ok(s)
    }

    /// A file inside the repository, relative to its root.
    fn repo_file(&self) -> Result<String, ConfigError> {
        let s = self.repo_dir()?;
        if s.ends_with('/') {
            return Err(self.fail(format!("{s:?} is a directory; name a file")));
        }
        Ok(s)
    }

    /// A Helm release name: helm's own rule (at most 53 characters of a DNS-1123 subdomain).
    fn release_name(&self) -> Result<String, ConfigError> {
        let s = self.string()?;
        let valid = s.len() <= 53
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if valid {
            Ok(s)
        } else {
            Err(self.fail(format!(
                "{s:?} is not a Helm release name (at most 53 lowercase letters, digits, '-' \
                 and '.', starting and ending with a letter or digit)"
            )))
        }
    }

    /// A glob as the source's matcher compiles it (`*` does not cross '/').
    fn glob(&self) -> Result<String, ConfigError> {
        let s = self.string()?;
        globset::GlobBuilder::new(&s)
            .literal_separator(true)
            .build()
            .map_err(|e| self.fail(format!("{s:?} is not a glob: {}", e.kind())))?;
        Ok(s)
    }

    fn env_name(&self) -> Result<String, ConfigError> {
        let s = self.string()?;
        let valid = s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !s.starts_with(|c: char| c.is_ascii_digit());
        if valid {
            Ok(s)
        } else {
            Err(self.fail(format!(
                "{s:?} is not an environment variable name (letters, digits and '_')"
            )))
        }
    }
}
