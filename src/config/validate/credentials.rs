//! `credentials:` of an app: how git is reached, with secrets only in files or environment
//! variables (an inline secret is an error naming the key to use).

use super::{ConfigError, CredentialsConfig, Fields};

const KEYS: &[&str] = &[
    "username",
    "passwordFile",
    "passwordEnv",
    "sshKeyFile",
    "sshKeyPassphraseFile",
    "sshKeyPassphraseEnv",
    "knownHostsFile",
];
/// Keys people write secrets under, with the keys to use instead.
const INLINE: &[(&str, &str)] = &[
    ("password", "passwordFile or passwordEnv"),
    ("token", "passwordFile or passwordEnv"),
    ("sshKey", "sshKeyFile"),
    (
        "sshKeyPassphrase",
        "sshKeyPassphraseFile or sshKeyPassphraseEnv",
    ),
];

pub(super) fn read(app: &Fields) -> Result<CredentialsConfig, ConfigError> {
    let Some(field) = app.get("credentials") else {
        return Ok(CredentialsConfig::default());
    };
    let f = Fields::open(app.file, field.node, field.path, KEYS, INLINE)?;
    Ok(CredentialsConfig {
        username: f.get("username").map(|u| u.string()).transpose()?,
        password: f.secret("passwordFile", "passwordEnv")?,
        ssh_key_file: f.get("sshKeyFile").map(|p| p.path_buf()).transpose()?,
        ssh_key_passphrase: f.secret("sshKeyPassphraseFile", "sshKeyPassphraseEnv")?,
        known_hosts_file: f.get("knownHostsFile").map(|p| p.path_buf()).transpose()?,
    })
}
