//! Credentials for git remotes, and the libgit2 callbacks that hand them out and check hosts.
//! Secrets are named (a file, an environment variable), never written inline, so a config that
//! holds them can be committed and the secret rotated without touching it.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use git2::{CertificateCheckStatus, Cred, CredentialType, ErrorCode, RemoteCallbacks};

use super::SourceError;
use super::known_hosts::{KnownHosts, Verdict};
use super::remote_url::{RemoteUrl, Transport};

/// Where a secret is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// A file (e.g. a mounted Kubernetes Secret); one trailing newline is ignored.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl Secret {
    fn read(&self) -> Result<SecretValue, SourceError> {
        let fail = |reason: String| SourceError::Secret {
            what: self.to_string(),
            reason,
        };
        let value = match self {
            Secret::File(path) => std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?,
            Secret::Env(name) => std::env::var(name).map_err(|e| fail(e.to_string()))?,
        };
        let value = value.strip_suffix('\n').unwrap_or(&value);
        let value = value.strip_suffix('\r').unwrap_or(value);
        if value.is_empty() {
            return Err(fail("it is empty".into()));
        }
        Ok(SecretValue(value.to_string()))
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::File(path) => write!(f, "secret file '{}'", path.display()),
            Secret::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// A secret's value; `Debug` never shows it.
struct SecretValue(String);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to authenticate to a remote. Everything is optional: public HTTPS repositories and
/// local paths need nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// HTTP user, or SSH user when the URL names none. With only a password set it defaults to
    /// `x-access-token`, which GitHub and Gitea accept with a token (GitLab accepts any name).
    pub username: Option<String>,
    /// HTTP password or access token.
    pub password: Option<Secret>,
    /// Private key for SSH remotes.
    pub ssh_key_file: Option<PathBuf>,
    pub ssh_key_passphrase: Option<Secret>,
    /// Host keys trusted for SSH remotes; default `$HOME/.ssh/known_hosts`. Hosts not listed
    /// are refused.
    pub known_hosts_file: Option<PathBuf>,
}

const TOKEN_USER: &str = "x-access-token";

/// What went wrong inside a callback; libgit2 only returns a generic error for it.
#[derive(Debug, Default)]
struct CallbackState {
    secret_offers: u32,
    failure: Option<SourceError>,
}

/// One remote's credentials, read and ready to hand to libgit2.
pub(crate) struct Auth {
    url: RemoteUrl,
    creds: Credentials,
    password: Option<SecretValue>,
    passphrase: Option<SecretValue>,
    known_hosts: Option<(PathBuf, KnownHosts)>,
    state: RefCell<CallbackState>,
}

impl Auth {
    /// Reads the secrets this URL's transport uses, so a missing secret fails before connecting.
    pub(crate) fn new(url: &RemoteUrl, creds: &Credentials) -> Result<Self, SourceError> {
        let mut auth = Auth {
            url: url.clone(),
            creds: creds.clone(),
            password: None,
            passphrase: None,
            known_hosts: None,
            state: RefCell::default(),
        };
        match url.transport {
            Transport::Http => {
                auth.password = creds.password.as_ref().map(Secret::read).transpose()?
            }
            Transport::Ssh => {
                auth.passphrase = creds
                    .ssh_key_passphrase
                    .as_ref()
                    .map(Secret::read)
                    .transpose()?;
                auth.known_hosts = load_known_hosts(creds.known_hosts_file.as_deref())?;
            }
            Transport::Local => {}
        }
        Ok(auth)
    }

    /// Fresh callbacks for one libgit2 operation.
    pub(crate) fn callbacks(&self) -> RemoteCallbacks<'_> {
        *self.state.borrow_mut() = CallbackState::default();
        let mut cb = RemoteCallbacks::new();
        cb.credentials(|_url, user_from_url, allowed| self.credential(user_from_url, allowed));
        cb.certificate_check(|cert, host| {
            let Some(hostkey) = cert.as_hostkey() else {
                return Ok(CertificateCheckStatus::CertificatePassthrough); // TLS: system roots
            };
            let key_type = hostkey
                .hostkey_type()
                .map(|t| t.name())
                .unwrap_or("unknown");
            match self.check_host(host, key_type, hostkey.hostkey().unwrap_or_default()) {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(e) => {
                    self.state.borrow_mut().failure = Some(e);
                    Err(git2::Error::from_str("host key refused"))
                }
            }
        });
        cb
    }

    fn credential(
        &self,
        user_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        let user = self
            .creds
            .username
            .as_deref()
            .or(user_from_url)
            .or(self.url.user.as_deref());
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user.unwrap_or("git"));
        }
        let mut state = self.state.borrow_mut();
        state.secret_offers += 1;
        // libgit2 asks again after a rejection; offering the same secret again would only loop.
        let failure = if state.secret_offers > 1 {
            self.rejected()
        } else if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            match &self.password {
                Some(pw) => return Cred::userpass_plaintext(user.unwrap_or(TOKEN_USER), &pw.0),
                None => self.auth_error(
                    "the server requires credentials and none are configured: set `username` and \
                     `password` (read from a file or an environment variable)",
                ),
            }
        } else if allowed.contains(CredentialType::SSH_KEY) {
            match &self.creds.ssh_key_file {
                Some(key) => {
                    let phrase = self.passphrase.as_ref().map(|p| p.0.as_str());
                    return Cred::ssh_key(user.unwrap_or("git"), None, key, phrase);
                }
                None => self.auth_error("the server requires an SSH key: set `ssh_key_file`"),
            }
        } else {
            self.auth_error(&format!(
                "the server asks for an unsupported kind of credential ({allowed:?})"
            ))
        };
        let message = failure.to_string();
        state.failure = Some(failure);
        Err(git2::Error::from_str(&message))
    }

    fn rejected(&self) -> SourceError {
        match (&self.url.transport, &self.creds.ssh_key_file) {
            (Transport::Ssh, Some(key)) => self.auth_error(&format!(
                "the server rejected the key '{}': check that it is the private half of a key \
                 the server accepts (e.g. a deploy key with read access)",
                key.display()
            )),
            _ => {
                let user = self
                    .creds
                    .username
                    .as_deref()
                    .or(self.url.user.as_deref())
                    .unwrap_or(TOKEN_USER);
                let from = self
                    .creds
                    .password
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                self.auth_error(&format!(
                    "the server rejected user '{user}' with the password from {from}: check both, \
                     and that the token has read access to the repository"
                ))
            }
        }
    }

    fn auth_error(&self, hint: &str) -> SourceError {
        SourceError::Auth {
            url: self.url.redacted.clone(),
            hint: hint.to_string(),
        }
    }

    fn check_host(&self, host: &str, key_type: &str, key: &[u8]) -> Result<(), SourceError> {
        let port = self.url.port;
        let shown = match port {
            Some(p) if p != 22 => format!("[{host}]:{p}"),
            _ => host.to_string(),
        };
        let fail = |hint: String| SourceError::HostKey {
            host: shown.clone(),
            hint,
        };
        let Some((path, known)) = &self.known_hosts else {
            return Err(fail(
                "no known_hosts file: set `known_hosts_file` to a file listing the host's key \
                 (e.g. from `ssh-keyscan`, checked against the fingerprint the host publishes)"
                    .into(),
            ));
        };
        let file = path.display();
        match known.check(host, port, key_type, key) {
            Verdict::Trusted => Ok(()),
            Verdict::Revoked => Err(fail(format!(
                "its {key_type} key is marked @revoked in {file}"
            ))),
            Verdict::Mismatch => Err(fail(format!(
                "its {key_type} key differs from the one in {file}: the host key changed or the \
                 connection is intercepted; verify the new fingerprint before updating {file}"
            ))),
            Verdict::Unknown => {
                let hashed = if known.hashed > 0 {
                    " (hashed `|1|` entries are not read: write the file without `ssh-keyscan -H`)"
                } else {
                    ""
                };
                Err(fail(format!(
                    "no {key_type} key for {shown} in {file}{hashed}: add it, e.g. \
                     `ssh-keyscan{} {host} >> {file}`, after checking its fingerprint",
                    port.filter(|p| *p != 22)
                        .map(|p| format!(" -p {p}"))
                        .unwrap_or_default()
                )))
            }
        }
    }

    /// Turns a libgit2 error into the error a user can act on, using what the callbacks saw.
    pub(crate) fn explain(&self, err: git2::Error, action: &'static str) -> SourceError {
        if let Some(failure) = self.state.borrow_mut().failure.take() {
            return failure;
        }
        if err.code() == ErrorCode::Auth {
            return self.auth_error(&format!(
                "{} — check the configured credentials",
                err.message()
            ));
        }
        SourceError::Git {
            url: self.url.redacted.clone(),
            action,
            source: err,
        }
    }

    /// Whether an error came from authentication or host trust, which no retry can fix.
    pub(crate) fn is_fatal(err: &SourceError) -> bool {
        matches!(err, SourceError::Auth { .. } | SourceError::HostKey { .. })
    }
}

fn load_known_hosts(
    configured: Option<&Path>,
) -> Result<Option<(PathBuf, KnownHosts)>, SourceError> {
    let path = match configured {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(".ssh/known_hosts"),
            None => return Ok(None),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((path, KnownHosts::parse(&text)))),
        // The default file is optional; a configured one must exist.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && configured.is_none() => Ok(None),
        Err(e) => Err(SourceError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_from_file_drops_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\n").unwrap();
        assert_eq!(Secret::File(path).read().unwrap().0, "hunter2");
    }

    #[test]
    fn missing_secret_names_its_source_not_its_value() {
        let err = Secret::File("/nonexistent/ordo-pw".into())
            .read()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ordo-pw"), "{err}");
        let err = Secret::Env("ORDO_TEST_SURELY_UNSET_VAR".into())
            .read()
            .unwrap_err();
        assert!(
            err.to_string().contains("ORDO_TEST_SURELY_UNSET_VAR"),
            "{err}"
        );
    }

    #[test]
    fn secret_value_debug_is_redacted() {
        assert_eq!(format!("{:?}", SecretValue("hunter2".into())), "***");
    }

    #[test]
    fn configured_known_hosts_file_must_exist() {
        let err = load_known_hosts(Some(Path::new("/nonexistent/known_hosts"))).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/known_hosts"),
            "{err}"
        );
    }

    #[test]
    fn ssh_host_without_known_hosts_entry_is_refused_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        std::fs::write(&kh, "other.example ssh-ed25519 AAAA\n").unwrap();
        let url = RemoteUrl::parse("ssh://git@git.example:2222/repo").unwrap();
        let creds = Credentials {
            known_hosts_file: Some(kh),
            ..Credentials::default()
        };
        let auth = Auth::new(&url, &creds).unwrap();
        let err = auth
            .check_host("git.example", "ssh-ed25519", b"key")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("[git.example]:2222") && text.contains("ssh-keyscan -p 2222"),
            "{text}"
        );
    }
}
