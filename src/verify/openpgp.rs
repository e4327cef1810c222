//! OpenPGP signatures (`git commit -S` with gpg), checked with rpgp against armored public
//! keys (certificates) of the signers file.

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;

use super::{SignatureKind, Signed, Signer, Verdict};

/// One certificate: its primary key's fingerprint and first user ID, for display.
pub(super) struct Certificate {
    key: SignedPublicKey,
    fingerprint: String,
    user_id: Option<String>,
}

impl Certificate {
    /// Every certificate of one armored block; each must carry valid self-signatures.
    pub(super) fn parse_armored(text: &str) -> Result<Vec<Certificate>, String> {
        let (keys, _) = SignedPublicKey::from_string_many(text)
            .map_err(|e| format!("the OpenPGP key block does not parse: {e}"))?;
        let mut out = Vec::new();
        for key in keys {
            let key = key.map_err(|e| format!("the OpenPGP key block does not parse: {e}"))?;
            let fingerprint = format!("{:X}", key.primary_key.fingerprint());
            key.verify_bindings().map_err(|e| {
                format!("OpenPGP key {fingerprint}: its self-signatures do not verify: {e}")
            })?;
            let user_id = key
                .details
                .users
                .first()
                .map(|u| String::from_utf8_lossy(u.id.id()).into_owned());
            out.push(Certificate {
                key,
                fingerprint,
                user_id,
            });
        }
        if out.is_empty() {
            return Err("the OpenPGP key block holds no key".to_owned());
        }
        Ok(out)
    }

    /// Whether the signature names this certificate's primary key or one of its subkeys.
    fn named_by(&self, sig: &pgp::packet::Signature) -> bool {
        let fingerprints = std::iter::once(self.key.primary_key.fingerprint())
            .chain(self.key.public_subkeys.iter().map(|s| s.key.fingerprint()));
        let ids: Vec<_> = std::iter::once(self.key.primary_key.legacy_key_id())
            .chain(
                self.key
                    .public_subkeys
                    .iter()
                    .map(|s| s.key.legacy_key_id()),
            )
            .collect();
        let named_fp = sig.issuer_fingerprint();
        fingerprints.into_iter().any(|fp| named_fp.contains(&&fp))
            || sig.issuer_key_id().iter().any(|id| ids.contains(id))
    }

    /// Whether the signature verifies over `data` with the primary key or a subkey.
    fn verifies(&self, sig: &pgp::packet::Signature, data: &[u8]) -> bool {
        sig.verify(&self.key.primary_key, data).is_ok()
            || self
                .key
                .public_subkeys
                .iter()
                .any(|s| sig.verify(&s.key, data).is_ok())
    }
}

pub(super) fn check(signed: &Signed<'_>, certificates: &[Certificate], origin: &str) -> Verdict {
    let text = String::from_utf8_lossy(signed.signature);
    let sig = match DetachedSignature::from_string(&text) {
        Ok((sig, _)) => sig.signature,
        Err(e) => {
            return Verdict::Untrusted {
                found: None,
                reason: format!("the OpenPGP signature does not parse: {e}"),
            };
        }
    };
    let issuer = sig
        .issuer_fingerprint()
        .first()
        .map(|fp| format!("{fp:X}"))
        .or_else(|| {
            sig.issuer_key_id()
                .first()
                .map(|id| format!("{:X}", u64::from_be_bytes(to_array(id.as_ref()))))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let found = Signer {
        kind: SignatureKind::OpenPgp,
        fingerprint: issuer,
        principal: None,
    };
    let Some(cert) = certificates.iter().find(|c| c.named_by(&sig)) else {
        return Verdict::Untrusted {
            reason: format!("signed by {found}, which is not in signers file {origin}"),
            found: Some(found),
        };
    };
    let found = Signer {
        kind: SignatureKind::OpenPgp,
        fingerprint: cert.fingerprint.clone(),
        principal: cert.user_id.clone(),
    };
    if cert.verifies(&sig, signed.data) {
        Verdict::Trusted(found)
    } else {
        Verdict::Untrusted {
            reason: format!(
                "OpenPGP signature by {found} does not verify: the commit was changed after it \
                 was signed"
            ),
            found: Some(found),
        }
    }
}

fn to_array(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0; 8];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}
