//! Verdicts on signatures made by the real tools (`ssh-keygen -Y sign`, `gpg --detach-sign`)
//! over `fixtures/commit.txt`, with throwaway keys made for these tests only.

use super::*;

const COMMIT: &[u8] = include_bytes!("fixtures/commit.txt");
const ALICE_PUB: &str = include_str!("fixtures/alice.pub");
const BOB_PUB: &str = include_str!("fixtures/bob.pub");
const ALICE_GIT: &str = include_str!("fixtures/alice.git.sig");
const ALICE_FILE: &str = include_str!("fixtures/alice.file.sig");
const MALLORY_GIT: &str = include_str!("fixtures/mallory.git.sig");
const BOB_GIT: &str = include_str!("fixtures/bob.git.sig");
const CAROL_ASC: &str = include_str!("fixtures/carol.asc");
const DAVE_ASC: &str = include_str!("fixtures/dave.asc");
const CAROL_SIG: &str = include_str!("fixtures/carol.sig");
const DAVE_SIG: &str = include_str!("fixtures/dave.sig");
const CAROL_FPR: &str = "D20A0BE6EF3EC636F25EC0CC724434CD1B063F4A";
const DAVE_FPR: &str = "9553824C277336EF10C5E6ABABEE1B9A1B3E7826";
/// The committer time of the fixture commit: 2023-11-14.
const TIME: i64 = 1_700_000_000;

fn line(principals: &str, options: &str, public: &str) -> String {
    let key = public.trim().rsplit_once(' ').map_or(public, |(k, _)| k);
    format!("{principals} {options} {key}\n")
}

/// One file with both kinds: Alice and Bob (SSH), Carol (OpenPGP).
fn both() -> String {
    format!(
        "# ops team\n{}{}\n{CAROL_ASC}\n",
        line("alice@example.com", "namespaces=\"git\"", ALICE_PUB),
        line("bob@example.com", "", BOB_PUB),
    )
}

/// Name, signers file, signature, signed data, verdict wanted.
type Case<'a> = (&'a str, String, Option<&'a str>, &'a [u8], Want);

#[derive(Debug, PartialEq)]
enum Want {
    Trusted(&'static str),
    Unsigned,
    Untrusted(&'static str),
}

fn verdict(signers: &str, signature: Option<&str>, data: &[u8], time: i64) -> Verdict {
    let signers = Signers::parse(signers, "signers.txt").unwrap();
    let signed = signature.map(|s| Signed {
        signature: s.as_bytes(),
        data,
        time,
    });
    check(signed.as_ref(), &signers)
}

#[test]
fn verdicts_on_ssh_and_openpgp_signatures() {
    let tampered = [COMMIT, b"extra line\n"].concat();
    let alice_only = line("alice@example.com", "", ALICE_PUB);
    let alice_expired = line("alice@example.com", "valid-before=\"20230101\"", ALICE_PUB);
    let alice_files = line("alice@example.com", "namespaces=\"file\"", ALICE_PUB);
    let dave_only = format!("{DAVE_ASC}\n");
    let cases: Vec<Case> = vec![
        (
            "ssh ed25519, listed",
            both(),
            Some(ALICE_GIT),
            COMMIT,
            Want::Trusted("alice@example.com"),
        ),
        (
            "ssh ecdsa, listed",
            both(),
            Some(BOB_GIT),
            COMMIT,
            Want::Trusted("bob@example.com"),
        ),
        (
            "ssh, unknown key",
            both(),
            Some(MALLORY_GIT),
            COMMIT,
            Want::Untrusted("which is not in signers file signers.txt"),
        ),
        (
            "ssh, tampered commit",
            both(),
            Some(ALICE_GIT),
            &tampered,
            Want::Untrusted("does not verify"),
        ),
        (
            "ssh, wrong namespace",
            both(),
            Some(ALICE_FILE),
            COMMIT,
            Want::Untrusted("namespace \"file\""),
        ),
        (
            "ssh, line limited to file",
            alice_files,
            Some(ALICE_GIT),
            COMMIT,
            Want::Untrusted("allows namespaces \"file\""),
        ),
        (
            "ssh, key expired",
            alice_expired,
            Some(ALICE_GIT),
            COMMIT,
            Want::Untrusted("valid-before"),
        ),
        (
            "ssh, only ssh keys listed",
            alice_only.clone(),
            Some(CAROL_SIG),
            COMMIT,
            Want::Untrusted("which is not in signers file"),
        ),
        (
            "openpgp ed25519, listed",
            both(),
            Some(CAROL_SIG),
            COMMIT,
            Want::Trusted("Carol <carol@example.com>"),
        ),
        (
            "openpgp, unknown key",
            both(),
            Some(DAVE_SIG),
            COMMIT,
            Want::Untrusted(DAVE_FPR),
        ),
        (
            "openpgp rsa, listed",
            dave_only,
            Some(DAVE_SIG),
            COMMIT,
            Want::Trusted("Dave <dave@example.com>"),
        ),
        (
            "openpgp, tampered commit",
            both(),
            Some(CAROL_SIG),
            &tampered,
            Want::Untrusted("does not verify"),
        ),
        ("unsigned", both(), None, COMMIT, Want::Unsigned),
        (
            "x509",
            both(),
            Some("-----BEGIN SIGNED MESSAGE-----\nMII=\n"),
            COMMIT,
            Want::Untrusted("format ordo does not verify"),
        ),
        (
            "garbage ssh",
            both(),
            Some("-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"),
            COMMIT,
            Want::Untrusted("does not parse"),
        ),
    ];
    for (name, signers, signature, data, want) in cases {
        let got = verdict(&signers, signature, data, TIME);
        let matches = match (&want, &got) {
            (Want::Trusted(p), Verdict::Trusted(s)) => s.principal.as_deref() == Some(*p),
            (Want::Unsigned, Verdict::Unsigned) => true,
            (Want::Untrusted(fragment), Verdict::Untrusted { reason, .. }) => {
                reason.contains(fragment)
            }
            _ => false,
        };
        assert!(matches, "{name}: want {want:?}, got {got:?} ({got})");
    }
}

#[test]
fn the_signer_found_is_shown_for_every_verdict() {
    let shown = |signature: Option<&str>| {
        SignatureState::new("abc", &verdict(&both(), signature, COMMIT, TIME))
    };
    let alice = shown(Some(ALICE_GIT));
    assert!(alice.trusted);
    assert_eq!(alice.signer, "alice@example.com");
    assert_eq!(alice.kind, Some(SignatureKind::Ssh));
    assert!(
        alice
            .fingerprint
            .as_deref()
            .is_some_and(|f| f.starts_with("SHA256:"))
    );
    let mallory = shown(Some(MALLORY_GIT));
    assert!(!mallory.trusted);
    assert!(mallory.signer.starts_with("SHA256:"), "{mallory:?}");
    let carol = shown(Some(CAROL_SIG));
    assert_eq!(carol.fingerprint.as_deref(), Some(CAROL_FPR));
    assert_eq!(carol.signer, "Carol <carol@example.com>");
    let dave = shown(Some(DAVE_SIG));
    assert_eq!((dave.trusted, dave.signer.as_str()), (false, DAVE_FPR));
    let none = shown(None);
    assert_eq!(
        (none.trusted, none.signer.as_str(), none.kind),
        (false, "unsigned", None)
    );
    let json = serde_json::to_value(&carol).unwrap();
    assert_eq!(json["kind"], "openpgp");
}

#[test]
fn signers_files_are_refused_with_file_and_line() {
    let cases = [
        ("# nothing\n\n".to_owned(), "signers file s: holds no key"),
        (
            "alice ssh-ed25519 AAAAbroken\n".to_owned(),
            "signers file s: line 1:",
        ),
        (
            format!("# x\n{}", &CAROL_ASC[..CAROL_ASC.len() / 2]),
            "line 2: no -----END PGP",
        ),
        (
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"
                .to_owned(),
            "line 1: the OpenPGP key block",
        ),
    ];
    for (text, want) in cases {
        let err = Signers::parse(&text, "s")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    let err = Signers::load(Path::new("/nonexistent/signers")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("signers file /nonexistent/signers: cannot read it")
    );
}

/// Erin's certificate (made with gpg, all at 2020-01-01): a primary key for certifying only,
/// and four ed25519 subkeys that each signed `commit.txt` while they could: one still fine,
/// one revoked since, one whose usage was changed to authentication only, one that expired
/// on 2020-01-02.
const ERIN_ASC: &str = include_str!("fixtures/erin.asc");
const ERIN_SIG: &str = include_str!("fixtures/erin.sig");
const ERIN_REVOKED_SIG: &str = include_str!("fixtures/erin-revoked.sig");
const ERIN_AUTH_SIG: &str = include_str!("fixtures/erin-auth.sig");
const ERIN_EXPIRED_SIG: &str = include_str!("fixtures/erin-expired.sig");
/// 2020-01-01 12:00 UTC, before the expiring subkey expired.
const BEFORE_EXPIRY: i64 = 1_577_880_000;

#[test]
fn an_openpgp_subkey_verifies_only_while_bound_for_signing_unrevoked_and_unexpired() {
    let signers = Signers::parse(ERIN_ASC, "signers.txt").unwrap();
    let at = |signature: &str, now: i64| {
        let signed = Signed {
            signature: signature.as_bytes(),
            data: COMMIT,
            time: TIME,
        };
        check_at(Some(&signed), &signers, now)
    };
    let got = at(ERIN_SIG, TIME);
    assert!(
        matches!(&got, Verdict::Trusted(s) if s.principal.as_deref() == Some("Erin <erin@example.com>")),
        "{got:?}"
    );
    for (name, signature, now, fragment) in [
        ("revoked", ERIN_REVOKED_SIG, TIME, "is revoked"),
        (
            "usage changed",
            ERIN_AUTH_SIG,
            TIME,
            "is not marked for signing",
        ),
        ("expired", ERIN_EXPIRED_SIG, TIME, "expired on 2020-01-02"),
    ] {
        let got = at(signature, now);
        assert!(
            matches!(&got, Verdict::Untrusted { reason, found: Some(s) }
                if reason.contains(fragment) && reason.contains("subkey")
                    && s.principal.as_deref() == Some("Erin <erin@example.com>")),
            "{name}: {got:?}"
        );
    }
    // Expiry is judged at the clock, not at the date the signature claims: the same
    // signature was fine the day it was made.
    assert!(at(ERIN_EXPIRED_SIG, BEFORE_EXPIRY).is_trusted());
}

#[test]
fn dates_are_shown_as_calendar_days() {
    assert_eq!(openpgp::civil_from_days(0), (1970, 1, 1));
    assert_eq!(openpgp::civil_from_days(18_263), (2020, 1, 2));
    assert_eq!(openpgp::civil_from_days(-1), (1969, 12, 31));
}
