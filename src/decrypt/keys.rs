//! The keys of a key file: age identities (`AGE-SECRET-KEY-1…` lines, `#` comments and blank
//! lines, as `age-keygen` writes it and `SOPS_AGE_KEY_FILE` names it) and armored OpenPGP
//! secret keys (`gpg --armor --export-secret-keys`, no passphrase) between them. One file (or
//! one Secret key) holds both kinds, so an app that moves from PGP to age, or has files of
//! both, needs no second setting.

use std::path::Path;
use std::str::FromStr;

use age::x25519;
use zeroize::Zeroizing;

use super::DecryptError;
use super::pgp::{BEGIN_PUBLIC, BEGIN_SECRET, END_SECRET, PgpKey};

/// The keys of one key file. `x25519::Identity` and rpgp's secret keys wipe their secrets
/// when dropped.
pub struct Identities {
    origin: String,
    keys: Vec<x25519::Identity>,
    pgp: Vec<PgpKey>,
}

impl std::fmt::Debug for Identities {
    /// Names the file and the public recipients, never the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identities")
            .field("origin", &self.origin)
            .field("recipients", &self.recipients())
            .field("pgp", &self.pgp_fingerprints())
            .finish()
    }
}

impl Identities {
    /// Reads the key file at `path`; its text is wiped once parsed.
    pub fn load(path: &Path) -> Result<Self, DecryptError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|e| DecryptError::KeyFile {
                path: origin.clone(),
                reason: format!("cannot read it: {e}"),
            })?;
        Self::parse(&text, &origin)
    }

    /// Parses key file text; `origin` names it in errors. Errors give a line number, never
    /// the line, which may be a secret key.
    pub fn parse(text: &str, origin: &str) -> Result<Self, DecryptError> {
        let fail = |reason: String| DecryptError::KeyFile {
            path: origin.to_owned(),
            reason,
        };
        let mut keys = Vec::new();
        let mut pgp = Vec::new();
        let mut lines = text.lines().enumerate();
        while let Some((i, line)) = lines.next() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line == BEGIN_SECRET {
                let block = armored_block(line, &mut lines)
                    .ok_or_else(|| fail(format!("line {}: {BEGIN_SECRET} has no end", i + 1)))?;
                let found = PgpKey::parse_block(&block)
                    .map_err(|reason| fail(format!("line {}: {reason}", i + 1)))?;
                pgp.extend(found);
                continue;
            }
            if line == BEGIN_PUBLIC {
                return Err(fail(format!(
                    "line {}: an OpenPGP public key cannot decrypt; export the secret key \
                     (gpg --armor --export-secret-keys FINGERPRINT)",
                    i + 1
                )));
            }
            if !line.starts_with("AGE-SECRET-KEY-1") {
                return Err(fail(format!(
                    "line {}: not an age X25519 identity (AGE-SECRET-KEY-1…) nor an armored \
                     OpenPGP secret key; plugin and SSH identities are not supported",
                    i + 1
                )));
            }
            let key = x25519::Identity::from_str(line)
                .map_err(|e| fail(format!("line {}: {e}", i + 1)))?;
            keys.push(key);
        }
        if keys.is_empty() && pgp.is_empty() {
            return Err(fail(
                "holds no age identity and no OpenPGP secret key".to_owned(),
            ));
        }
        Ok(Identities {
            origin: origin.to_owned(),
            keys,
            pgp,
        })
    }

    /// Where the identities came from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The public recipients (`age1…`) of the identities.
    pub fn recipients(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    /// The primary fingerprints of the OpenPGP keys.
    pub fn pgp_fingerprints(&self) -> Vec<String> {
        self.pgp
            .iter()
            .map(|k| k.fingerprint().to_owned())
            .collect()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.keys.iter().map(|k| k as &dyn age::Identity)
    }

    /// The OpenPGP keys a `sops.pgp` entry's `fp` names.
    pub(super) fn pgp_named_by(&self, fp: &str) -> Vec<&PgpKey> {
        self.pgp.iter().filter(|k| k.named_by(fp)).collect()
    }
}

/// The armored block starting at `begin`, up to and including its end line; `None` when the
/// text ends first. The lines are copied into a buffer wiped on drop.
fn armored_block<'a>(
    begin: &str,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Option<Zeroizing<String>> {
    let mut block = Zeroizing::new(format!("{begin}\n"));
    for (_, line) in lines {
        let line = line.trim();
        block.push_str(line);
        block.push('\n');
        if line == END_SECRET {
            return Some(block);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway key made by age-keygen for this test only.
    const KEY: &str = "AGE-SECRET-KEY-1HAWJ6K8K4A2DT37SQFZT56PZAC0JFV9506M53EGYJ9ZGYK2DED3QCSQV9M";

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = format!("# created: 2026-11-29\n# public key: age1…\n\n{KEY}\n");
        let ids = Identities::parse(&text, "key.txt").unwrap();
        assert_eq!(ids.recipients().len(), 1);
        assert_eq!(
            ids.recipients(),
            ["age1p6x3lrvl7c2qf0mjtkzyecncd7m3f4m6d02wjft5f34ptychh5wq72ycc3"]
        );
        assert!(!format!("{ids:?}").contains("SECRET"));
    }

    #[test]
    fn other_lines_are_refused_without_echoing_them() {
        let err = Identities::parse("AGE-PLUGIN-YUBIKEY-1XYZ\n", "key.txt").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("key.txt: line 1"), "{text}");
        assert!(!text.contains("YUBIKEY"), "{text}");
        let err = Identities::parse("# nothing\n", "key.txt").unwrap_err();
        assert!(err.to_string().contains("holds no age identity"));
        let public =
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ\n-----END PGP PUBLIC KEY BLOCK-----\n";
        let err = Identities::parse(public, "key.txt").unwrap_err();
        assert!(
            err.to_string().contains("line 1: an OpenPGP public key"),
            "{err}"
        );
        let unterminated = format!("{KEY}\n{BEGIN_SECRET}\n\nlQVYBGsMbvQBDAC\n");
        let err = Identities::parse(&unterminated, "key.txt").unwrap_err();
        assert!(
            err.to_string()
                .contains("line 2: -----BEGIN PGP PRIVATE KEY BLOCK----- has no end"),
            "{err}"
        );
        assert!(!err.to_string().contains("lQVYB"), "{err}");
    }

    #[test]
    fn a_missing_key_file_is_an_error_naming_it() {
        let err = Identities::load(Path::new("/nonexistent/keys.txt")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("key file /nonexistent/keys.txt: cannot read it")
        );
    }
}
