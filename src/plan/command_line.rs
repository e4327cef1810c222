//! Host names on a container's command line: `pg_dump -h postgres`, `--host=redis`,
//! `psql postgresql://app@postgres/app`, also inside the one script string of `sh -c "..."`.
//!
//! This module only finds candidates (a value and what says it may be a host); which Service a
//! candidate names is decided by `discovery::ServiceNames`, the one place that resolves names.

use serde_json::Value;

/// Flags whose next word is a host, in the database and cache clients people script
/// (psql, pg_dump, mysql, redis-cli, mongosh, clickhouse-client…). `-h` means help in other
/// programs, but a candidate only becomes an edge when it names a Service of the set.
const HOST_FLAGS: &[&str] = &["-h", "--host", "--hostname"];

/// What says a word may be a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint<'a> {
    /// The word follows a host flag (`-h postgres`): a bare name is trusted.
    HostFlag,
    /// The key of `key=value`, or the word before it (`--db-host postgres`): the usual
    /// key-name rules decide whether a bare name is trusted.
    Key(&'a str),
}

/// One word that may name a host, with how to show it in a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub hint: Hint<'a>,
    pub value: &'a str,
    /// The words as written (`-h postgres`, `--host=redis`).
    pub shown: String,
}

/// The command line of a container as words: `command` then `args`, each argument one word,
/// except an argument holding a script (it contains whitespace, as after `sh -c`), which is
/// split into its shell words.
pub fn words(container: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for arg in ["command", "args"]
        .into_iter()
        .filter_map(|k| container.get(k).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
    {
        if arg.chars().any(char::is_whitespace) {
            out.extend(shell_words(arg));
        } else {
            out.push(arg.to_owned());
        }
    }
    out
}

/// Shell words of a script, good enough to find hosts: quotes group and are removed,
/// whitespace and the operators `; & | ( ) < >` separate. No expansion (`$DB_HOST` stays as
/// written and names nothing).
pub fn shell_words(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for c in script.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')' | '<' | '>') => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            None => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Every word that may name a host. A word after a host flag is a host; any other word is
/// `key=value`, or a value whose key is the word before it.
pub fn candidates(words: &[String]) -> Vec<Candidate<'_>> {
    let mut out = Vec::new();
    let mut previous = "";
    for word in words {
        let word = word.as_str();
        if HOST_FLAGS.contains(&previous) {
            out.push(Candidate {
                hint: Hint::HostFlag,
                value: word,
                shown: without_password(&format!("{previous} {word}")),
            });
        } else {
            let (key, value) = word.split_once('=').unwrap_or((previous, word));
            out.push(Candidate {
                hint: Hint::Key(key),
                value,
                shown: without_password(word),
            });
        }
        previous = word;
    }
    out
}

/// `text` with the password of every URL in it (`postgres://app:secret@db/app`) shown as
/// `***`: plan reasons are printed, published and posted, and the command line is the
/// tenant's, not a place for credentials to travel further.
pub fn without_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let authority_end = after.find(['/', '?', '#', ' ']).unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split(':').next().unwrap_or_default();
                out.push_str(&format!("{user}:***@{host}"));
            }
            _ => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_never_shown() {
        let cases = [
            (
                "psql postgresql://app:s3cret@postgres/app",
                "psql postgresql://app:***@postgres/app",
            ),
            (
                "DATABASE_URL=postgres://u:p%40ss@db:5432/x?sslmode=require",
                "DATABASE_URL=postgres://u:***@db:5432/x?sslmode=require",
            ),
            ("redis://:hunter2@cache:6379", "redis://:***@cache:6379"),
            ("postgres://app@postgres/app", "postgres://app@postgres/app"),
            ("-h postgres", "-h postgres"),
            ("a://x:y@h b://z:w@k", "a://x:***@h b://z:***@k"),
        ];
        for (text, want) in cases {
            assert_eq!(without_password(text), want, "{text}");
        }
        let words: Vec<String> = vec!["psql".into(), "postgresql://app:s3cret@postgres/app".into()];
        assert!(
            candidates(&words)
                .iter()
                .all(|c| !c.shown.contains("s3cret"))
        );
    }

    #[test]
    fn scripts_split_into_shell_words() {
        let cases: &[(&str, &[&str])] = &[
            (
                "pg_dump -h postgres -U app app | gzip > /backup/app.sql.gz",
                &[
                    "pg_dump",
                    "-h",
                    "postgres",
                    "-U",
                    "app",
                    "app",
                    "gzip",
                    "/backup/app.sql.gz",
                ],
            ),
            (
                "psql \"postgresql://app@postgres:5432/app\" -c 'select 1;'",
                &[
                    "psql",
                    "postgresql://app@postgres:5432/app",
                    "-c",
                    "select 1;",
                ],
            ),
            (
                "until redis-cli --host=redis ping; do sleep 1; done",
                &[
                    "until",
                    "redis-cli",
                    "--host=redis",
                    "ping",
                    "do",
                    "sleep",
                    "1",
                    "done",
                ],
            ),
            ("  ", &[]),
        ];
        for (script, want) in cases {
            assert_eq!(&shell_words(script), want, "{script}");
        }
    }

    #[test]
    fn words_expand_only_script_arguments() {
        let container = serde_json::json!({
            "command": ["sh", "-c"],
            "args": ["mysql -h db.shop.svc -e 'select 1'"],
        });
        assert_eq!(
            words(&container),
            ["sh", "-c", "mysql", "-h", "db.shop.svc", "-e", "select 1"]
        );
        let plain = serde_json::json!({"args": ["--cache=redis://cache:6379/0", "--verbose"]});
        assert_eq!(words(&plain), ["--cache=redis://cache:6379/0", "--verbose"]);
    }

    /// (hint, value, shown) of one candidate.
    type Expected = (Hint<'static>, &'static str, &'static str);

    #[test]
    fn host_flags_mark_the_next_word_and_other_words_keep_their_key() {
        let cases: &[(&str, &[Expected])] = &[
            (
                "pg_dump -h postgres",
                &[
                    (Hint::Key(""), "pg_dump", "pg_dump"),
                    (Hint::Key("pg_dump"), "-h", "-h"),
                    (Hint::HostFlag, "postgres", "-h postgres"),
                ],
            ),
            (
                "mongosh --host mongo",
                &[
                    (Hint::Key(""), "mongosh", "mongosh"),
                    (Hint::Key("mongosh"), "--host", "--host"),
                    (Hint::HostFlag, "mongo", "--host mongo"),
                ],
            ),
            (
                "--host=redis --user=app",
                &[
                    (Hint::Key("--host"), "redis", "--host=redis"),
                    (Hint::Key("--user"), "app", "--user=app"),
                ],
            ),
        ];
        for (text, want) in cases {
            let words = shell_words(text);
            let got: Vec<_> = candidates(&words)
                .into_iter()
                .map(|c| (c.hint, c.value, c.shown))
                .collect();
            let want: Vec<_> = want.iter().map(|&(h, v, s)| (h, v, s.to_owned())).collect();
            assert_eq!(got, want, "{text}");
        }
    }
}
