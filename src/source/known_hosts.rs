//! OpenSSH `known_hosts` checking, so an SSH remote is trusted only when its host key is listed.
//! libgit2 reads only `~/.ssh/known_hosts`; an agent in a container needs a configurable file.

/// What the file says about a host's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Trusted,
    /// The host is listed with another key of the same type: changed key or interception.
    Mismatch,
    /// The key is marked `@revoked`.
    Revoked,
    Unknown,
}

#[derive(Debug, Default)]
pub(crate) struct KnownHosts {
    entries: Vec<Entry>,
    /// `|1|…` lines: their host names are HMAC-SHA1 hashed, which we do not compute.
    pub hashed: usize,
}

#[derive(Debug)]
struct Entry {
    revoked: bool,
    patterns: Vec<String>,
    key_type: String,
    key: String,
}

impl KnownHosts {
    pub(crate) fn parse(text: &str) -> Self {
        let mut out = KnownHosts::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace().peekable();
            let mut revoked = false;
            if let Some(marker) = fields.next_if(|f| f.starts_with('@')) {
                match marker {
                    "@revoked" => revoked = true,
                    _ => continue, // @cert-authority: certificates are not supported
                }
            }
            let (Some(hosts), Some(key_type), Some(key)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if hosts.starts_with('|') {
                out.hashed += 1;
                continue;
            }
            out.entries.push(Entry {
                revoked,
                patterns: hosts.split(',').map(str::to_string).collect(),
                key_type: key_type.to_string(),
                key: key.to_string(),
            });
        }
        out
    }

    /// Checks `key` (the raw key blob) of type `key_type` (e.g. "ssh-ed25519") for `host`.
    pub(crate) fn check(
        &self,
        host: &str,
        port: Option<u16>,
        key_type: &str,
        key: &[u8],
    ) -> Verdict {
        let name = match port {
            Some(p) if p != 22 => format!("[{host}]:{p}"),
            _ => host.to_string(),
        };
        let key = base64(key);
        let matching: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| host_matches(&e.patterns, &name))
            .collect();
        if matching.iter().any(|e| e.revoked && e.key == key) {
            return Verdict::Revoked;
        }
        if matching
            .iter()
            .any(|e| !e.revoked && e.key_type == key_type && e.key == key)
        {
            return Verdict::Trusted;
        }
        if matching
            .iter()
            .any(|e| !e.revoked && e.key_type == key_type)
        {
            return Verdict::Mismatch;
        }
        Verdict::Unknown
    }
}

/// OpenSSH pattern lists: any positive match, and no negated (`!pat`) match.
fn host_matches(patterns: &[String], name: &str) -> bool {
    let mut hit = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if wildcard(neg.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if wildcard(p.as_bytes(), name.as_bytes()) {
            hit = true;
        }
    }
    hit
}

/// `*` and `?` wildcards, case-insensitive as host names are.
fn wildcard(pat: &[u8], s: &[u8]) -> bool {
    match (pat.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&pat[1..], s) || (!s.is_empty() && wildcard(pat, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&pat[1..], &s[1..]),
        (Some(p), Some(c)) if p.eq_ignore_ascii_case(c) => wildcard(&pat[1..], &s[1..]),
        _ => false,
    }
}

/// Standard base64 with padding, as known_hosts stores keys.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"key-bytes-1";
    const OTHER: &[u8] = b"key-bytes-2";

    fn file() -> KnownHosts {
        KnownHosts::parse(&format!(
            "# comment\n\
             github.com,140.82.121.4 ssh-ed25519 {k}\n\
             [git.internal]:2222 ssh-ed25519 {k}\n\
             *.corp,!bad.corp ssh-ed25519 {k}\n\
             @revoked old.example ssh-ed25519 {k}\n\
             |1|c2FsdA==|aGFzaA== ssh-ed25519 {k}\n",
            k = base64(KEY)
        ))
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn listed_host_with_its_key_is_trusted() {
        assert_eq!(
            file().check("github.com", None, "ssh-ed25519", KEY),
            Verdict::Trusted
        );
        assert_eq!(
            file().check("GitHub.com", Some(22), "ssh-ed25519", KEY),
            Verdict::Trusted
        );
    }

    #[test]
    fn other_key_of_same_type_is_a_mismatch() {
        assert_eq!(
            file().check("github.com", None, "ssh-ed25519", OTHER),
            Verdict::Mismatch
        );
    }

    #[test]
    fn unlisted_host_or_port_is_unknown() {
        assert_eq!(
            file().check("gitlab.com", None, "ssh-ed25519", KEY),
            Verdict::Unknown
        );
        assert_eq!(
            file().check("git.internal", None, "ssh-ed25519", KEY),
            Verdict::Unknown
        );
        assert_eq!(
            file().check("git.internal", Some(2222), "ssh-ed25519", KEY),
            Verdict::Trusted
        );
        assert_eq!(
            file().check("github.com", None, "ssh-rsa", KEY),
            Verdict::Unknown
        );
    }

    #[test]
    fn wildcards_and_negation_apply() {
        assert_eq!(
            file().check("git.corp", None, "ssh-ed25519", KEY),
            Verdict::Trusted
        );
        assert_eq!(
            file().check("bad.corp", None, "ssh-ed25519", KEY),
            Verdict::Unknown
        );
    }

    #[test]
    fn revoked_key_is_refused_and_hashed_lines_are_counted() {
        let f = file();
        assert_eq!(
            f.check("old.example", None, "ssh-ed25519", KEY),
            Verdict::Revoked
        );
        assert_eq!(f.hashed, 1);
    }
}
