//! SSH signatures (SSHSIG, as `ssh-keygen -Y sign -n git` makes them for `git commit -S` with
//! `gpg.format ssh`), checked like `ssh-keygen -Y verify` against allowed_signers lines.

use ssh_key::{HashAlg, PublicKey, SshSig};

use super::{AllowedSigner, GIT_NAMESPACE, SignatureKind, Signed, Signer, Verdict};

pub(super) fn check(signed: &Signed<'_>, allowed: &[AllowedSigner], origin: &str) -> Verdict {
    let sig = match SshSig::from_pem(signed.signature) {
        Ok(sig) => sig,
        Err(e) => {
            return Verdict::Untrusted {
                found: None,
                reason: format!("the SSH signature does not parse: {e}"),
            };
        }
    };
    let key = sig.public_key();
    let mut found = Signer {
        kind: SignatureKind::Ssh,
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        principal: None,
    };
    // The signature carries its public key: check it first, so "verifies" and "trusted" are
    // separate questions with separate answers.
    if sig.namespace() != GIT_NAMESPACE {
        return Verdict::Untrusted {
            reason: format!(
                "SSH signature by {found} is for namespace {:?}, not {GIT_NAMESPACE:?}",
                sig.namespace()
            ),
            found: Some(found),
        };
    }
    if let Err(e) = PublicKey::from(key.clone()).verify(GIT_NAMESPACE, signed.data, &sig) {
        return Verdict::Untrusted {
            reason: format!(
                "SSH signature by {found} does not verify ({e}): the commit was changed after \
                 it was signed"
            ),
            found: Some(found),
        };
    }
    let lines: Vec<&AllowedSigner> = allowed.iter().filter(|a| a.key.key_data() == key).collect();
    if lines.is_empty() {
        return Verdict::Untrusted {
            reason: format!("signed by {found}, which is not in signers file {origin}"),
            found: Some(found),
        };
    }
    let mut refused = Vec::new();
    for line in &lines {
        match line.allows(GIT_NAMESPACE, signed.time) {
            Ok(()) => {
                found.principal = Some(line.principals.clone());
                return Verdict::Trusted(found);
            }
            Err(why) => refused.push(why),
        }
    }
    found.principal = lines.first().map(|l| l.principals.clone());
    Verdict::Untrusted {
        reason: format!(
            "signed by {found}, but signers file {origin} does not vouch for it here: {}",
            refused.join("; ")
        ),
        found: Some(found),
    }
}
