//! Service discovery by name: which Services of the set a string names, the way cluster DNS
//! would resolve it (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`, with or without
//! a port, inside URLs).
//!
//! A bare name (`postgres`) is only trusted when something says it is a host: a port, a URL
//! scheme, or a key that names a host (`DB_HOST`). Otherwise `DB_USER=postgres` would make
//! an edge to a Service called postgres.

use std::collections::HashMap;

use crate::manifest::Object;

pub struct ServiceNames {
    /// `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local` -> Service index.
    qualified: HashMap<String, usize>,
    /// (namespace, svc) -> Service index; only resolves from the same namespace.
    bare: HashMap<(String, String), usize>,
}

/// Words in a key that say its value is a host or an address.
const HOST_HINTS: &[&str] = &[
    "HOST", "ADDR", "URL", "URI", "ENDPOINT", "SERVER", "SERVICE", "DSN", "UPSTREAM", "BROKER",
    "PEER", "TARGET",
];

impl ServiceNames {
    pub fn new(objects: &[Object]) -> Self {
        let mut qualified = HashMap::new();
        let mut bare = HashMap::new();
        for (i, object) in objects.iter().enumerate() {
            if !object.id.is("", "Service") {
                continue;
            }
            let ns = object.namespace_or_default();
            let name = &object.id.name;
            for form in [
                format!("{name}.{ns}"),
                format!("{name}.{ns}.svc"),
                format!("{name}.{ns}.svc.cluster.local"),
            ] {
                qualified.insert(form, i);
            }
            bare.insert((ns.to_owned(), name.clone()), i);
        }
        ServiceNames { qualified, bare }
    }

    pub fn is_empty(&self) -> bool {
        self.bare.is_empty()
    }

    /// Services named by a `key=value` entry (env var, argument, single-line ConfigMap key),
    /// resolved from `namespace`.
    pub fn named_in_entry(&self, namespace: &str, key: &str, value: &str) -> Vec<usize> {
        let upper = key.to_ascii_uppercase();
        let key_names_host = HOST_HINTS.iter().any(|h| upper.contains(h));
        self.resolve(namespace, value, key_names_host)
    }

    /// Services named in a file (nginx.conf, prometheus.yml): only with a port or a scheme,
    /// or fully qualified.
    pub fn named_in_file(&self, namespace: &str, text: &str) -> Vec<usize> {
        self.resolve(namespace, text, false)
    }

    fn resolve(&self, namespace: &str, text: &str, trust_bare: bool) -> Vec<usize> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut found = Vec::new();
        for (host, marked) in hosts(text) {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            let hit = if host.contains('.') {
                self.qualified.get(&host)
            } else if marked || trust_bare {
                self.bare.get(&(namespace.to_owned(), host))
            } else {
                None
            };
            if let Some(&i) = hit
                && !found.contains(&i)
            {
                found.push(i);
            }
        }
        found
    }
}

/// Host candidates in a text, each with whether a port or URL scheme marks it as a host.
fn hosts(text: &str) -> Vec<(&str, bool)> {
    let separators = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\''
                    | '`'
                    | ','
                    | ';'
                    | '('
                    | ')'
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '<'
                    | '>'
                    | '|'
                    | '='
            )
    };
    let mut out = Vec::new();
    for token in text.split(separators).filter(|t| !t.is_empty()) {
        if let Some(pos) = token.find("://") {
            let rest = &token[pos + 3..];
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            let authority = authority.rsplit('@').next().unwrap_or(authority);
            let host = authority.split(':').next().unwrap_or(authority);
            if !host.is_empty() {
                out.push((host, true));
            }
            continue;
        }
        let host_port = token.split('/').next().unwrap_or(token);
        match host_port.rsplit_once(':') {
            Some((host, port))
                if !host.is_empty()
                    && !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                out.push((host, true));
            }
            Some(_) => {}
            None if !host_port.is_empty() => out.push((host_port, false)),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hosts_in_urls_ports_and_words() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            ("postgres", &[("postgres", false)]),
            ("postgres:5432", &[("postgres", true)]),
            (
                "postgres://app:secret@db.prod.svc:5432/app?ssl=1",
                &[("db.prod.svc", true), ("1", false)],
            ),
            (
                "proxy_pass http://backend:8000/;",
                &[("proxy_pass", false), ("backend", true)],
            ),
            (
                "targets: ['backend:8000', 'web:80']",
                &[("backend", true), ("web", true)],
            ),
            ("nginx:1.25", &[]),
            ("redis://cache", &[("cache", true)]),
        ];
        for (text, want) in cases {
            assert_eq!(&hosts(text), want, "{text}");
        }
    }
}
