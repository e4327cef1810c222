//! git's `allowed_signers` lines (ssh-keygen(1), "ALLOWED SIGNERS"):
//! `principals [options] keytype base64-key [comment]`, `#` comments and blank lines.
//!
//! Options: `namespaces="git,…"` (patterns; the line only vouches for those namespaces),
//! `valid-after="YYYYMMDD[HHMM[SS]][Z]"` and `valid-before=…` (checked against the commit's
//! committer time, as git does with `-Overify-time`; read as UTC). `cert-authority` is
//! refused: ordo verifies plain keys, not certificates.

use ssh_key::PublicKey;

/// One line of the file.
#[derive(Debug, Clone)]
pub struct AllowedSigner {
    /// The principals field as written (comma-separated patterns), shown as the signer.
    pub principals: String,
    /// `namespaces="…"` patterns; empty means every namespace.
    pub namespaces: Vec<String>,
    /// Unix seconds.
    pub valid_after: Option<i64>,
    pub valid_before: Option<i64>,
    pub key: PublicKey,
    /// 1-based line in the file, for messages.
    pub line: usize,
}

impl AllowedSigner {
    /// Whether this line vouches for signatures in `namespace` made at `time`.
    pub fn allows(&self, namespace: &str, time: i64) -> Result<(), String> {
        if !self.namespaces.is_empty() && !self.namespaces.iter().any(|p| glob(p, namespace)) {
            return Err(format!(
                "line {} allows namespaces {:?}, not {namespace:?}",
                self.line,
                self.namespaces.join(",")
            ));
        }
        if self.valid_after.is_some_and(|after| time < after) {
            return Err(format!(
                "line {}: the commit predates the key's valid-after",
                self.line
            ));
        }
        if self.valid_before.is_some_and(|before| time > before) {
            return Err(format!(
                "line {}: the commit postdates the key's valid-before",
                self.line
            ));
        }
        Ok(())
    }
}

/// Parses one non-blank, non-comment line; `Err` says what is wrong (never echoing a key).
pub fn parse_line(text: &str, line: usize) -> Result<AllowedSigner, String> {
    let tokens = tokens(text)?;
    let mut rest = tokens.iter().map(String::as_str);
    let principals = rest.next().ok_or("no principals")?.to_owned();
    let mut next = rest.next().ok_or("no key type")?;
    let mut options = "";
    if !is_key_type(next) {
        options = next;
        next = rest.next().ok_or("no key type after the options")?;
    }
    let key_type = next;
    let base64 = rest.next().ok_or("no base64 key after the key type")?;
    let key = PublicKey::from_openssh(&format!("{key_type} {base64}"))
        .map_err(|e| format!("{key_type} key does not parse: {e}"))?;
    let mut signer = AllowedSigner {
        principals: principals.trim_matches('"').to_owned(),
        namespaces: Vec::new(),
        valid_after: None,
        valid_before: None,
        key,
        line,
    };
    for option in split_outside_quotes(options, ',') {
        let (name, value) = match option.split_once('=') {
            Some((n, v)) => (n, Some(v.trim_matches('"'))),
            None => (option.as_str(), None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("namespaces", Some(v)) => {
                signer.namespaces = v.split(',').map(|s| s.trim().to_owned()).collect();
            }
            ("valid-after", Some(v)) => signer.valid_after = Some(timestamp(v)?),
            ("valid-before", Some(v)) => signer.valid_before = Some(timestamp(v)?),
            ("cert-authority", None) => {
                return Err(
                    "cert-authority: SSH certificates are not supported; list the \
                            signing keys themselves"
                        .to_owned(),
                );
            }
            _ => return Err(format!("unknown option {name:?}")),
        }
    }
    Ok(signer)
}

/// Key type names as OpenSSH writes them (plain, security-key and certificate types).
fn is_key_type(token: &str) -> bool {
    ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-", "rsa-sha2-"]
        .iter()
        .any(|p| token.starts_with(p))
}

/// Whitespace-separated tokens; a double-quoted run (principals or option values with spaces)
/// stays in its token.
fn tokens(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".to_owned());
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

fn split_outside_quotes(text: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == sep && !quoted {
            out.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// OpenSSH's `*` and `?` patterns, with `!` negating.
fn glob(pattern: &str, text: &str) -> bool {
    if let Some(negated) = pattern.strip_prefix('!') {
        return !glob(negated, text);
    }
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// `YYYYMMDD[HHMM[SS]][Z]` as Unix seconds, read as UTC.
fn timestamp(text: &str) -> Result<i64, String> {
    let digits = text.strip_suffix('Z').unwrap_or(text);
    let bad = || format!("{text:?} is not a time like YYYYMMDD[HHMM[SS]]");
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> i64 {
        digits.get(range).and_then(|s| s.parse().ok()).unwrap_or(0)
    };
    let (year, month, day) = (num(0..4), num(4..6), num(6..8));
    let (hour, minute, second) = (num(8..10), num(10..12), num(12..14));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = include_str!("fixtures/alice.pub");

    fn key() -> &'static str {
        // "ssh-ed25519 AAAA… alice": type and key without the comment.
        ALICE.trim().rsplit_once(' ').map_or(ALICE, |(k, _)| k)
    }

    #[test]
    fn lines_parse_into_principals_options_and_key() {
        struct Case {
            line: String,
            principals: &'static str,
            namespaces: &'static [&'static str],
            after: Option<i64>,
            before: Option<i64>,
        }
        let k = key();
        let cases = [
            Case {
                line: format!("alice@example.com {k}"),
                principals: "alice@example.com",
                namespaces: &[],
                after: None,
                before: None,
            },
            Case {
                line: format!("alice@example.com,bob@example.com namespaces=\"git\" {k} laptop"),
                principals: "alice@example.com,bob@example.com",
                namespaces: &["git"],
                after: None,
                before: None,
            },
            Case {
                line: format!(
                    "\"alice smith\" valid-after=\"20240101\",valid-before=\"20250101120000Z\",namespaces=\"git,file\" {k}"
                ),
                principals: "alice smith",
                namespaces: &["git", "file"],
                after: Some(1_704_067_200),
                before: Some(1_735_732_800),
            },
        ];
        for case in cases {
            let s = parse_line(&case.line, 3).unwrap_or_else(|e| panic!("{}: {e}", case.line));
            assert_eq!(s.principals, case.principals, "{}", case.line);
            assert_eq!(s.namespaces, case.namespaces, "{}", case.line);
            assert_eq!(
                (s.valid_after, s.valid_before),
                (case.after, case.before),
                "{}",
                case.line
            );
            assert_eq!(s.line, 3);
        }
    }

    #[test]
    fn bad_lines_are_refused_with_the_reason() {
        let k = key();
        let cases = [
            ("alice".to_owned(), "no key type"),
            (format!("alice cert-authority {k}"), "cert-authority"),
            (format!("alice nonsense=\"1\" {k}"), "unknown option"),
            (format!("alice valid-after=\"2024\" {k}"), "not a time"),
            ("alice ssh-ed25519 AAAAnotakey".to_owned(), "does not parse"),
            ("alice ssh-ed25519".to_owned(), "no base64 key"),
            (format!("\"alice {k}"), "unterminated quote"),
        ];
        for (line, fragment) in cases {
            let err = parse_line(&line, 1).err().unwrap_or_default();
            assert!(err.contains(fragment), "{line}: {err}");
        }
    }

    #[test]
    fn namespaces_and_validity_limit_what_a_line_vouches_for() {
        let k = key();
        let line = |options: &str| parse_line(&format!("a {options} {k}"), 7).unwrap();
        let jan_2024 = 1_704_067_200;
        let cases = [
            ("namespaces=\"git\"", "git", jan_2024, true),
            ("namespaces=\"file\"", "git", jan_2024, false),
            ("namespaces=\"g*\"", "git", jan_2024, true),
            ("namespaces=\"!git\"", "git", jan_2024, false),
            ("valid-after=\"20240102\"", "git", jan_2024, false),
            ("valid-before=\"20231231\"", "git", jan_2024, false),
            (
                "valid-after=\"20231231\",valid-before=\"20240102\"",
                "git",
                jan_2024,
                true,
            ),
        ];
        for (options, namespace, time, ok) in cases {
            let verdict = line(options).allows(namespace, time);
            assert_eq!(verdict.is_ok(), ok, "{options}: {verdict:?}");
        }
    }

    #[test]
    fn dates_become_unix_seconds() {
        assert_eq!(timestamp("19700101"), Ok(0));
        assert_eq!(timestamp("20000301"), Ok(951_868_800));
        assert_eq!(timestamp("202401011230Z"), Ok(1_704_067_200 + 45_000));
        assert!(timestamp("20241301").is_err());
    }
}
