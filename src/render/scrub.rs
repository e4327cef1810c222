//! Keeping decrypted values out of every message: a tool's stderr, a render error, a manifest
//! error. What a message holds ends up in `lastError`, the history, the log, notifications
//! and commit statuses, which people who may not read the app's Secrets see; a chart's
//! `{{ fail .Values.db.password }}` would otherwise put a SOPS-decrypted password there.
//!
//! `decrypt` collects every value it decrypts into [`Secrets`]; whoever turns a failure into
//! text scrubs it with them. Each value is looked for as it is and in the forms a tool prints
//! it in: base64 (standard and URL-safe, padded or not: what a Secret's `data` holds), escaped
//! inside a JSON or YAML double-quoted string (also Go's HTML-safe `\u003c`), inside a YAML
//! single-quoted string, and line by line for a value of several lines (a parser quotes the
//! line it stopped at). A value cut off by a bounded message (`…`) is found by its start.
//!
//! What is not caught: a value a template transformed otherwise (`upper`, `sha256sum`,
//! `trunc`), and one embedded in a longer string that was base64-encoded as a whole.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use super::error::RenderError;

/// What stands in a message where a decrypted value was.
pub const REDACTED: &str = "<redacted>";

/// Values shorter than this (in characters) are not scrubbed. Scrubbing `1`, `yes` or `dev`
/// would mangle every message (and numbers, ports, versions in it), making errors useless;
/// the price is that such a value stays readable, which a value that short (guessable
/// anyway) costs little. sops encrypts every value under the keys it selects, so the set
/// also holds values that are not secret (a host, a tag): those are redacted too, which
/// errs on the safe side.
pub const MIN_CHARS: usize = 4;

/// How a message ends where it was cut to a bound (see `sandbox::bounded_stderr`).
const CUT: &str = "…";

/// The decrypted values of one render, in every form a message may show them; wiped when
/// dropped. `Debug` shows only how many there are.
#[derive(Default, Clone)]
pub struct Secrets {
    /// Every form of every value, longest first (so a longer form wins over a shorter one
    /// it contains), without duplicates.
    needles: Vec<Zeroizing<String>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} forms)", self.needles.len())
    }
}

impl Secrets {
    /// Adds a decrypted value (and its encodings); one shorter than [`MIN_CHARS`] is skipped.
    pub fn add(&mut self, value: &str) {
        let mut forms = forms(value);
        forms.retain(|f| f.chars().count() >= MIN_CHARS);
        for form in forms {
            if !self.needles.iter().any(|n| **n == *form) {
                self.needles.push(form);
            }
        }
        self.needles
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }

    /// Adds every value of `other`.
    pub fn extend(&mut self, other: &Secrets) {
        for needle in &other.needles {
            if !self.needles.iter().any(|n| **n == **needle) {
                self.needles.push(needle.clone());
            }
        }
        self.needles
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every form of every value replaced by [`REDACTED`], in one pass (so a
    /// value inside the marker itself is never matched again).
    pub fn scrub(&self, text: &str) -> String {
        if self.needles.is_empty() {
            return text.to_owned();
        }
        let mut first = [false; 256];
        for needle in &self.needles {
            if let Some(&b) = needle.as_bytes().first() {
                first[usize::from(b)] = true;
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let found = if first[usize::from(rest.as_bytes()[0])] {
                self.match_at(rest)
            } else {
                None
            };
            match found {
                Some(len) => {
                    out.push_str(REDACTED);
                    rest = &rest[len..];
                }
                None => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        out
    }

    /// Whether `text` holds any form of any value.
    pub fn contains_any(&self, text: &str) -> bool {
        self.scrub(text) != text
    }

    /// How many bytes at the start of `text` are a value: a whole form, or the start of one
    /// (at least [`MIN_CHARS`] long) that the message was cut after.
    fn match_at(&self, text: &str) -> Option<usize> {
        for needle in &self.needles {
            if text.starts_with(needle.as_str()) {
                return Some(needle.len());
            }
        }
        self.needles.iter().find_map(|needle| {
            let common = common_prefix(needle, text);
            let cut = text[common..].starts_with(CUT);
            (cut && needle[..common].chars().count() >= MIN_CHARS).then_some(common)
        })
    }
}

impl RenderError {
    /// This error with every decrypted value scrubbed from the text it carries: a tool's
    /// stderr and the messages built from it. The kind of error is kept, so whether it is
    /// the commit's fault still reads from it. Variants not listed carry repository paths,
    /// names and numbers only; the pass scrubs its whole message again anyway.
    pub fn scrubbed(self, secrets: &Secrets) -> RenderError {
        if secrets.is_empty() {
            return self;
        }
        let s = |text: String| secrets.scrub(&text);
        match self {
            RenderError::ToolFailed {
                tool,
                app,
                code,
                stderr,
            } => RenderError::ToolFailed {
                tool,
                app,
                code,
                stderr: s(stderr),
            },
            RenderError::Fetch { tool, app, message } => RenderError::Fetch {
                tool,
                app,
                message: s(message),
            },
            RenderError::Input { app, message } => RenderError::Input {
                app,
                message: s(message),
            },
            RenderError::Kustomization { file, message } => RenderError::Kustomization {
                file,
                message: s(message),
            },
            RenderError::Io {
                tool,
                app,
                path,
                source,
            } if secrets.contains_any(&source.to_string()) => RenderError::Io {
                tool,
                app,
                path,
                // Rebuilt only when it held a value: the OS error code (ENOSPC…) says
                // whether the failure was the commit's, and a rebuilt error loses it.
                source: std::io::Error::new(source.kind(), s(source.to_string())),
            },
            other => other,
        }
    }
}

/// The length in bytes of the longest common prefix of `a` and `b`, on a char boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or_else(|| a.len().min(b.len()), |((i, _), _)| i)
}

/// `value` in every form a message may show it.
fn forms(value: &str) -> Vec<Zeroizing<String>> {
    let mut forms = vec![value.to_owned()];
    // A parser quotes the line it stopped at, not the whole value.
    if value.contains('\n') {
        forms.extend(value.lines().map(|l| l.trim().to_owned()));
    }
    let quoted: Vec<String> = forms
        .iter()
        .flat_map(|f| [json_escaped(f), go_html_escaped(f), f.replace('\'', "''")])
        .collect();
    forms.extend(quoted);
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(value.as_bytes()));
    }
    forms.into_iter().map(Zeroizing::new).collect()
}

/// The inside of `value` as a JSON (and YAML double-quoted) string.
fn json_escaped(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_owned()).to_string();
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
        .to_owned()
}

/// The inside of `value` as Go's `encoding/json` writes it (HTML-safe: `<`, `>`, `&` and the
/// JavaScript line separators escaped), which helm and kustomize use.
fn go_html_escaped(value: &str) -> String {
    json_escaped(value)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> Secrets {
        let mut s = Secrets::default();
        for v in values {
            s.add(v);
        }
        s
    }

    #[test]
    fn every_form_of_a_decrypted_value_is_redacted() {
        let pw = "hunter2-s3cr3t";
        let b64 = STANDARD.encode(pw);
        let url = URL_SAFE_NO_PAD.encode("p?>~ss-wørd");
        let cases: [(&str, &[&str], String, String); 13] = [
            (
                "as it is",
                &[pw],
                format!("execution error at (a/t.yaml:5:4): {pw}"),
                "execution error at (a/t.yaml:5:4): <redacted>".into(),
            ),
            (
                "base64, padded",
                &[pw],
                format!("data: {{password: {b64}}}"),
                "data: {password: <redacted>}".into(),
            ),
            (
                "base64, unpadded",
                &[pw],
                format!("x={}.", STANDARD_NO_PAD.encode(pw)),
                "x=<redacted>.".into(),
            ),
            (
                "base64, URL-safe",
                &["p?>~ss-wørd"],
                format!("token {url}"),
                "token <redacted>".into(),
            ),
            (
                "escaped in a JSON string",
                &["a\"quoted\"\\pass"],
                r#"{"password":"a\"quoted\"\\pass"}"#.into(),
                r#"{"password":"<redacted>"}"#.into(),
            ),
            (
                "escaped by Go's HTML-safe JSON",
                &["<tag>&more"],
                r#"value "\u003ctag\u003e\u0026more""#.into(),
                r#"value "<redacted>""#.into(),
            ),
            (
                "in a YAML single-quoted string",
                &["it's-secret"],
                "password: 'it''s-secret'".into(),
                "password: '<redacted>'".into(),
            ),
            (
                "one line of a value of several lines",
                &["-----BEGIN KEY-----\nMIIEowIBAAKCAQEA\n-----END KEY-----\n"],
                "yaml: line 2: could not find expected ':' near MIIEowIBAAKCAQEA".into(),
                "yaml: line 2: could not find expected ':' near <redacted>".into(),
            ),
            (
                "a value cut off by a bounded message",
                &[pw],
                "error: hunter2-s… (900 more bytes not shown)".into(),
                "error: <redacted>… (900 more bytes not shown)".into(),
            ),
            (
                "every occurrence",
                &[pw, "other-value"],
                format!("{pw} and other-value and {pw}"),
                "<redacted> and <redacted> and <redacted>".into(),
            ),
            (
                "a value shorter than four characters is left (it would mangle everything)",
                &["abc", "1"],
                "abc 1 abcd".into(),
                "abc 1 abcd".into(),
            ),
            (
                "a value inside the marker is not matched again",
                &["redacted", "dact"],
                "redacted dact".into(),
                "<redacted> <redacted>".into(),
            ),
            (
                "text without values is unchanged",
                &[pw],
                "Error: template: no such value".into(),
                "Error: template: no such value".into(),
            ),
        ];
        for (name, values, text, expected) in cases {
            let scrubbed = secrets(values).scrub(&text);
            assert_eq!(scrubbed, expected, "{name}");
            let shown = |v: &&&str| v.chars().count() >= MIN_CHARS && !REDACTED.contains(**v);
            for v in values.iter().filter(shown) {
                assert!(!scrubbed.contains(*v), "{name}: {scrubbed}");
            }
        }
    }

    #[test]
    fn a_render_error_keeps_its_kind_and_loses_the_values() {
        use crate::render::Tool;
        let s = secrets(&["hunter2-s3cr3t"]);
        let failed = RenderError::ToolFailed {
            tool: Tool::Helm,
            app: "charts/a".into(),
            code: Some(1),
            stderr: "Error: execution error at (a/templates/s.yaml:4:3): hunter2-s3cr3t".into(),
        }
        .scrubbed(&s);
        assert!(matches!(failed, RenderError::ToolFailed { .. }));
        assert_eq!(
            failed.to_string(),
            "helm failed rendering charts/a (exit code 1): Error: execution error at \
             (a/templates/s.yaml:4:3): <redacted>"
        );
        let fetch = RenderError::Fetch {
            tool: Tool::Helm,
            app: "a".into(),
            message: format!("503 for {}", STANDARD.encode("hunter2-s3cr3t")),
        }
        .scrubbed(&s);
        assert_eq!(fetch.to_string(), "a: helm: 503 for <redacted>");
        let full = std::io::Error::from_raw_os_error(28);
        let io = RenderError::Io {
            tool: Tool::Helm,
            app: "a".into(),
            path: "/tmp/x".into(),
            source: full,
        }
        .scrubbed(&s);
        assert!(
            matches!(&io, RenderError::Io { source, .. } if source.raw_os_error() == Some(28)),
            "an OS error without a value is kept as it is: {io:?}"
        );
    }

    #[test]
    fn no_values_no_change_and_debug_shows_no_value() {
        assert_eq!(Secrets::default().scrub("héllo …"), "héllo …");
        let s = secrets(&["hunter2-s3cr3t"]);
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(s.contains_any("x hunter2-s3cr3t"));
        assert!(!s.contains_any("x hunter2"));
    }

    #[test]
    fn extended_sets_scrub_the_values_of_both() {
        let mut a = secrets(&["first-value"]);
        a.extend(&secrets(&["second-value", "first-value"]));
        assert_eq!(a.scrub("first-value second-value"), "<redacted> <redacted>");
    }
}
