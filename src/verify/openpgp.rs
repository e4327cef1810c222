//! OpenPGP signatures (`git commit -S` with gpg), checked with rpgp against armored public
//! keys (certificates) of the signers file. Only the key the signature names counts, and only
//! while it may sign: not revoked, not expired, and (a subkey) bound with the signing flag;
//! any subkey that verified used to be enough (issue #23).

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::SignatureType;
use pgp::types::{Fingerprint, KeyDetails, KeyId, Timestamp};

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

    /// The key of this certificate the signature names (by fingerprint or key ID), if any.
    fn key_named_by(&self, sig: &pgp::packet::Signature) -> Option<SigningKey<'_>> {
        let named = |fp: Fingerprint, id: KeyId| {
            sig.issuer_fingerprint().iter().any(|f| **f == fp)
                || sig.issuer_key_id().iter().any(|i| **i == id)
        };
        let primary = &self.key.primary_key;
        if named(primary.fingerprint(), primary.legacy_key_id()) {
            return Some(SigningKey::Primary);
        }
        self.key
            .public_subkeys
            .iter()
            .find(|s| named(s.key.fingerprint(), s.key.legacy_key_id()))
            .map(SigningKey::Subkey)
    }

    /// Why `key` may not sign commits at `now` (Unix seconds), or `None` when it may. As gpg
    /// and git judge a signature: a revoked key, or one expired now, is refused whatever
    /// date the signature claims (a holder of an old key can backdate), and a subkey signs
    /// only when its newest binding says it may (key flag 0x02, RFC 9580 §5.2.3.29).
    fn refusal(&self, key: &SigningKey<'_>, now: i64) -> Option<String> {
        if !self.key.details.revocation_signatures.is_empty() {
            return Some("the certificate is revoked".to_owned());
        }
        let primary_sig = newest(self.self_signatures());
        let primary_created = self.key.primary_key.created_at();
        if let Some(when) = primary_sig.and_then(|s| expired(s, primary_created, now)) {
            return Some(format!("the certificate expired on {when}"));
        }
        match key {
            SigningKey::Primary => {
                let flags = primary_sig.map(|s| s.key_flags()).unwrap_or_default();
                let any = flags.certify()
                    || flags.sign()
                    || flags.encrypt_comms()
                    || flags.encrypt_storage()
                    || flags.authentication();
                // Flags left out entirely (old keys) restrict nothing.
                (any && !flags.sign())
                    .then(|| "its primary key is not marked for signing".to_owned())
            }
            SigningKey::Subkey(sub) => {
                let name = format!("subkey {:X}", sub.key.fingerprint());
                let of = |t| sub.signatures.iter().filter(move |s| s.typ() == Some(t));
                if of(SignatureType::SubkeyRevocation).next().is_some() {
                    return Some(format!("{name} is revoked"));
                }
                let Some(binding) = newest(of(SignatureType::SubkeyBinding)) else {
                    return Some(format!("{name} has no binding signature"));
                };
                if !binding.key_flags().sign() {
                    return Some(format!("{name} is not marked for signing"));
                }
                expired(binding, sub.key.created_at(), now)
                    .map(|when| format!("{name} expired on {when}"))
            }
        }
    }

    /// The certificate's self-signatures over its user IDs and directly over its key.
    fn self_signatures(&self) -> impl Iterator<Item = &pgp::packet::Signature> {
        let details = &self.key.details;
        details
            .users
            .iter()
            .flat_map(|u| &u.signatures)
            .chain(&details.direct_signatures)
    }
}

/// The key a signature names: the primary key or one subkey.
enum SigningKey<'a> {
    Primary,
    Subkey(&'a SignedPublicSubKey),
}

impl SigningKey<'_> {
    fn verifies(&self, cert: &Certificate, sig: &pgp::packet::Signature, data: &[u8]) -> bool {
        match self {
            SigningKey::Primary => sig.verify(&cert.key.primary_key, data).is_ok(),
            SigningKey::Subkey(sub) => sig.verify(&sub.key, data).is_ok(),
        }
    }
}

/// The newest of `sigs` by creation time.
fn newest<'a>(
    sigs: impl Iterator<Item = &'a pgp::packet::Signature>,
) -> Option<&'a pgp::packet::Signature> {
    sigs.max_by_key(|s| s.created().map_or(0, |t| t.as_secs()))
}

/// When a key created at `created` expired by `binding`'s key expiration time, if it had by
/// `now`; as a date (UTC) for messages.
fn expired(binding: &pgp::packet::Signature, created: Timestamp, now: i64) -> Option<String> {
    let lifetime = binding.key_expiration_time()?.as_secs();
    if lifetime == 0 {
        return None;
    }
    let end = i64::from(created.as_secs()).saturating_add(lifetime as i64);
    (end <= now).then(|| {
        let days = end.div_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}")
    })
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `now` (Unix seconds) judges expiry.
pub(super) fn check(
    signed: &Signed<'_>,
    certificates: &[Certificate],
    origin: &str,
    now: i64,
) -> Verdict {
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
    let Some((cert, key)) = certificates
        .iter()
        .find_map(|c| c.key_named_by(&sig).map(|k| (c, k)))
    else {
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
    if let Some(why) = cert.refusal(&key, now) {
        return Verdict::Untrusted {
            reason: format!("OpenPGP signature by {found} is not trusted: {why}"),
            found: Some(found),
        };
    }
    if key.verifies(cert, &sig, signed.data) {
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
