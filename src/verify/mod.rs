//! Commit signature verification (issue #16): is the head commit signed by a key the app
//! trusts?
//!
//! The trusted keys come from one signers file that may hold both kinds:
//! - git's `allowed_signers` lines for SSH signatures (`principals [options] keytype key`),
//! - ASCII-armored OpenPGP public keys (`-----BEGIN PGP PUBLIC KEY BLOCK-----` … `END`),
//!   as `gpg --armor --export` writes them, anywhere between those lines.
//!
//! A commit is trusted when its signature (git's `gpgsig` header, from
//! `git2::Repository::extract_signature`) verifies over the signed commit text with a key of
//! the file: an SSHSIG in namespace `git`, allowed by the key's line, or an OpenPGP detached
//! signature by a primary key or a subkey of a listed certificate. Anything else (unsigned, an
//! unknown key, a signature that does not verify, X.509) is untrusted.
//!
//! Pure apart from [`Signers::load`] reading the file.

mod allowed_signers;
mod openpgp;
mod ssh;

use std::path::Path;

use serde::Serialize;

pub use allowed_signers::AllowedSigner;

/// The namespace git signs commits in (`ssh-keygen -Y sign -n git`).
pub const GIT_NAMESPACE: &str = "git";

/// A commit's signature and the exact bytes it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<'a> {
    pub signature: &'a [u8],
    pub data: &'a [u8],
    /// The committer time (Unix seconds), for `valid-after`/`valid-before`.
    pub time: i64,
}

/// The trusted keys of one signers file.
pub struct Signers {
    origin: String,
    ssh: Vec<AllowedSigner>,
    openpgp: Vec<openpgp::Certificate>,
}

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signers")
            .field("origin", &self.origin)
            .field("ssh", &self.ssh.len())
            .field("openpgp", &self.openpgp.len())
            .finish()
    }
}

/// A signers file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SignersError {
    #[error("signers file {path}: cannot read it: {reason}")]
    Read { path: String, reason: String },
    #[error("signers file {path}: line {line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("signers file {path}: holds no key (allowed_signers lines or armored OpenPGP keys)")]
    Empty { path: String },
}

const PGP_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const PGP_END: &str = "-----END PGP PUBLIC KEY BLOCK-----";

impl Signers {
    /// Reads the signers file at `path`; read at every check, so an edited file counts
    /// without a restart.
    pub fn load(path: &Path) -> Result<Signers, SignersError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SignersError::Read {
            path: origin.clone(),
            reason: e.to_string(),
        })?;
        Signers::parse(&text, &origin)
    }

    /// Parses signers text; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Signers, SignersError> {
        let fail = |line: usize, reason: String| SignersError::Line {
            path: origin.to_owned(),
            line,
            reason,
        };
        let mut signers = Signers {
            origin: origin.to_owned(),
            ssh: Vec::new(),
            openpgp: Vec::new(),
        };
        let mut block: Option<(usize, String)> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some((start, armored)) = &mut block {
                armored.push_str(line);
                armored.push('\n');
                if line == PGP_END {
                    let certs = openpgp::Certificate::parse_armored(armored)
                        .map_err(|e| fail(*start, e))?;
                    signers.openpgp.extend(certs);
                    block = None;
                }
            } else if line == PGP_BEGIN {
                block = Some((i + 1, format!("{line}\n")));
            } else if !line.is_empty() && !line.starts_with('#') {
                let signer =
                    allowed_signers::parse_line(line, i + 1).map_err(|e| fail(i + 1, e))?;
                signers.ssh.push(signer);
            }
        }
        if let Some((start, _)) = block {
            return Err(fail(start, format!("no {PGP_END} line")));
        }
        if signers.ssh.is_empty() && signers.openpgp.is_empty() {
            return Err(SignersError::Empty {
                path: origin.to_owned(),
            });
        }
        Ok(signers)
    }

    /// Where the keys came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// How a commit was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureKind {
    Ssh,
    #[serde(rename = "openpgp")]
    OpenPgp,
}

impl std::fmt::Display for SignatureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureKind::Ssh => "SSH",
            SignatureKind::OpenPgp => "OpenPGP",
        })
    }
}

/// Who signed, as far as the signature tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub kind: SignatureKind,
    /// The key's fingerprint: `SHA256:…` for SSH, the hex fingerprint (or the 16-hex key ID
    /// when the signature names no fingerprint) for OpenPGP.
    pub fingerprint: String,
    /// The principals of its allowed_signers line, or the certificate's first user ID; known
    /// only for a key in the signers file.
    pub principal: Option<String>,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.principal {
            Some(p) => write!(f, "{p} ({} key {})", self.kind, self.fingerprint),
            None => write!(f, "{} key {}", self.kind, self.fingerprint),
        }
    }
}

/// What a commit's signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed, and the signature verifies with a key of the signers file.
    Trusted(Signer),
    Unsigned,
    /// Signed, but not in a way the signers file vouches for; `found` is the signer when the
    /// signature could be read.
    Untrusted {
        found: Option<Signer>,
        reason: String,
    },
}

impl Verdict {
    pub fn is_trusted(&self) -> bool {
        matches!(self, Verdict::Trusted(_))
    }

    /// The signer found, for display: a principal, a fingerprint, or "unsigned".
    pub fn signer(&self) -> Option<&Signer> {
        match self {
            Verdict::Trusted(s) => Some(s),
            Verdict::Untrusted { found, .. } => found.as_ref(),
            Verdict::Unsigned => None,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Trusted(s) => write!(f, "signed by {s}"),
            Verdict::Unsigned => f.write_str("unsigned"),
            Verdict::Untrusted { reason, .. } => f.write_str(reason),
        }
    }
}

/// Checks a commit's signature (`None`: unsigned) against `signers`, judging key expiry by
/// the clock now.
pub fn check(signed: Option<&Signed<'_>>, signers: &Signers) -> Verdict {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    check_at(signed, signers, now)
}

/// [`check`] with key expiry judged at `now` (Unix seconds).
pub fn check_at(signed: Option<&Signed<'_>>, signers: &Signers, now: i64) -> Verdict {
    let Some(signed) = signed else {
        return Verdict::Unsigned;
    };
    let text = String::from_utf8_lossy(signed.signature);
    let text = text.trim_start();
    if text.starts_with("-----BEGIN SSH SIGNATURE-----") {
        ssh::check(signed, &signers.ssh, signers.origin())
    } else if text.starts_with("-----BEGIN PGP SIGNATURE-----") {
        openpgp::check(signed, &signers.openpgp, signers.origin(), now)
    } else {
        let first = text.lines().next().unwrap_or_default();
        Verdict::Untrusted {
            found: None,
            reason: format!(
                "signed in a format ordo does not verify ({first}); only SSH and OpenPGP \
                 signatures are"
            ),
        }
    }
}

/// Checks the commit of `snapshot` against the signers file at `signers` (read now). A
/// snapshot without a commit (a directory) is [`Verdict::Unsigned`].
pub fn commit(snapshot: &crate::source::Snapshot, signers: &Path) -> Result<Verdict, SignersError> {
    let signers = Signers::load(signers)?;
    let time = snapshot.commit.as_ref().map_or(0, |c| c.time);
    let signed = snapshot.signature.as_ref().map(|s| Signed {
        signature: &s.signature,
        data: &s.signed_data,
        time,
    });
    Ok(check(signed.as_ref(), &signers))
}

/// What the app shows about the signature of the revision it last read (API and page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureState {
    /// The commit checked.
    pub revision: String,
    pub trusted: bool,
    /// `ssh` or `openpgp`; none when unsigned or unreadable.
    pub kind: Option<SignatureKind>,
    /// The principal (or user ID) when known, else the key's fingerprint, else "unsigned".
    pub signer: String,
    pub fingerprint: Option<String>,
    /// The verdict in words.
    pub message: String,
}

impl SignatureState {
    pub fn new(revision: &str, verdict: &Verdict) -> Self {
        let found = verdict.signer();
        SignatureState {
            revision: revision.to_owned(),
            trusted: verdict.is_trusted(),
            kind: found.map(|s| s.kind),
            signer: match (found, verdict) {
                (Some(s), _) => s.principal.clone().unwrap_or_else(|| s.fingerprint.clone()),
                (None, Verdict::Unsigned) => "unsigned".to_owned(),
                (None, _) => "unknown".to_owned(),
            },
            fingerprint: found.map(|s| s.fingerprint.clone()),
            message: verdict.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
