//! Service discovery by name: which Services of the set a string names, the way cluster DNS
//! would resolve it (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`, with or without
//! a port, inside URLs).
//!
//! A bare name (`postgres`) is only trusted when something says it is a host: a port, a URL
//! scheme, or a key that names a host (`DB_HOST`). Otherwise `DB_USER=postgres` would make
//! an edge to a Service called postgres.

use std::collections::HashMap;

use serde_json::Value;

use super::command_line::{self, Hint};
use super::edge::Rule;
use super::refs::{Lookup, config_refs};
use super::workload::containers;
use crate::manifest::{Object, ObjectId};

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

    /// Services named by a word that is a host by position (`-h postgres`): a bare name is
    /// trusted.
    pub fn named_as_host(&self, namespace: &str, value: &str) -> Vec<usize> {
        self.resolve(namespace, value, true)
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

/// A Service a pod spec names, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// Index of the Service.
    pub service: usize,
    pub rule: Rule,
    pub place: Place,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The value of an env var.
    Env(String),
    /// Words of the command line, as written (`-h postgres`).
    CommandLine(String),
    /// A key of a ConfigMap the pod reads.
    ConfigMap { name: String, key: String },
}

impl Naming {
    /// The sentence for an edge or a tier reason: where the name was found.
    pub fn reason(&self, service: &ObjectId) -> String {
        let svc = format!("{}/{}", service.kind, service.name);
        match &self.place {
            Place::Env(var) => format!("env {var} names {svc}"),
            Place::CommandLine(words) => format!("command line connects to {svc} ({words})"),
            Place::ConfigMap { name, key } => format!("ConfigMap/{name} key {key} names {svc}"),
        }
    }
}

/// Services of the set that a workload names in env values, on its command lines and in the
/// ConfigMaps it reads. Computed once per workload: tiers (database clients, callers of a
/// frontend) and edges both read it.
pub fn named_by_pod(
    object: &Object,
    spec: &Value,
    objects: &[Object],
    lookup: &Lookup,
    services: &ServiceNames,
) -> Vec<Naming> {
    if services.is_empty() {
        return Vec::new();
    }
    let mut found = Vec::new();
    for container in containers(spec) {
        named_by_container(object, container, services, &mut found);
    }
    named_in_config_maps(object, spec, objects, lookup, services, &mut found);
    found
}

fn naming(found: &mut Vec<Naming>, hits: Vec<usize>, rule: Rule, place: impl Fn() -> Place) {
    found.extend(hits.into_iter().map(|service| Naming {
        service,
        rule,
        place: place(),
    }));
}

/// Env values and command line of one container.
fn named_by_container(
    object: &Object,
    container: &Value,
    services: &ServiceNames,
    found: &mut Vec<Naming>,
) {
    let ns = object.namespace_or_default();
    for env in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(name), Some(value)) = (
            env.get("name").and_then(Value::as_str),
            env.get("value").and_then(Value::as_str),
        ) {
            let hits = services.named_in_entry(ns, name, value);
            naming(found, hits, Rule::NamesService, || {
                Place::Env(name.to_owned())
            });
        }
    }
    let words = command_line::words(container);
    for candidate in command_line::candidates(&words) {
        let hits = match candidate.hint {
            Hint::HostFlag => services.named_as_host(ns, candidate.value),
            Hint::Key(key) => services.named_in_entry(ns, key, candidate.value),
        };
        naming(found, hits, Rule::NamesService, || {
            Place::CommandLine(candidate.shown.clone())
        });
    }
}

/// Entries and files of the ConfigMaps the pod reads.
fn named_in_config_maps(
    object: &Object,
    spec: &Value,
    objects: &[Object],
    lookup: &Lookup,
    services: &ServiceNames,
    found: &mut Vec<Naming>,
) {
    let ns = object.namespace_or_default();
    for r in config_refs(spec)
        .into_iter()
        .filter(|r| r.kind == "ConfigMap")
    {
        let Some(cm) = lookup.find("", "ConfigMap", object.id.namespace.as_deref(), r.name) else {
            continue;
        };
        let data = objects[cm].at("/data").and_then(Value::as_object);
        for (key, value) in data.into_iter().flatten() {
            let Some(value) = value.as_str() else {
                continue;
            };
            if r.key.is_some_and(|k| k != key) {
                continue;
            }
            // A key read into an env var is named by that var (`DB_HOST` from key `host`).
            let hint = r.env.unwrap_or(key);
            let (rule, hits) = if value.contains('\n') {
                (
                    Rule::ConfigFileNamesService,
                    services.named_in_file(ns, value),
                )
            } else {
                (Rule::NamesService, services.named_in_entry(ns, hint, value))
            };
            naming(found, hits, rule, || Place::ConfigMap {
                name: r.name.to_owned(),
                key: key.clone(),
            });
        }
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
    let mut out = connection_string_hosts(text);
    for token in text.split(separators).filter(|t| !t.is_empty()) {
        // A URL (`postgres://…`, `jdbc:mysql://…`), or Oracle's thin JDBC form
        // (`jdbc:oracle:thin:@//host:1521/XE`, `…:@host:1521:SID`).
        let after = token
            .find("://")
            .map(|pos| pos + 3)
            .or_else(|| token.find(":@//").map(|pos| pos + 4))
            .or_else(|| token.find(":@").map(|pos| pos + 2));
        if let Some(start) = after {
            let rest = &token[start..];
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            let authority = authority.rsplit('@').next().unwrap_or(authority);
            // MongoDB and Redis Sentinel list several hosts: `h1:27017,h2:27017`.
            for member in authority.split(',') {
                let host = member.split(':').next().unwrap_or(member);
                if !host.is_empty() {
                    out.push((host, true));
                }
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

/// Keys that name the server in the drivers' keyword connection strings, lowercased without
/// spaces: ADO.NET/Npgsql/SqlClient (`Host=`, `Server=`, `Data Source=`, `Address=`), libpq
/// (`host=`, `hostaddr=`).
const CONNECTION_HOST_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "server",
    "datasource",
    "address",
    "addr",
    "networkaddress",
];

/// Hosts named in keyword connection strings (`Host=postgresql;Username=app;…`,
/// `host=db port=5432 dbname=app`): the value of a server key is a host whatever the env var
/// is called, with SqlClient's `tcp:` prefix, `,port` suffix and comma-separated lists.
fn connection_string_hosts(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    // ADO.NET separates pairs with ';' (and `Data Source=db` keeps its space); libpq with
    // spaces.
    let pairs: Vec<&str> = if text.contains(';') {
        text.split(';').collect()
    } else {
        text.split_whitespace().collect()
    };
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        if !is_server_key(key) {
            continue;
        }
        for host in value.split(',') {
            let host = host.trim().trim_start_matches("tcp:");
            let host = host.split('/').next().unwrap_or(host);
            let host = host.rsplit_once(':').map_or(host, |(h, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            });
            if !host.is_empty() && !host.bytes().all(|b| b.is_ascii_digit()) {
                out.push((host, true));
            }
        }
    }
    out
}

fn is_server_key(key: &str) -> bool {
    let key: String = key
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    CONNECTION_HOST_KEYS.contains(&key.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_of_the_common_drivers_name_their_server() {
        let cases: &[(&str, &[&str])] = &[
            (
                "Host=postgresql;Username=app;Password=s3cret;Database=app",
                &["postgresql"],
            ),
            (
                "Server=tcp:sqlserver,1433;Initial Catalog=app;User ID=sa",
                &["sqlserver"],
            ),
            ("Data Source=oracle-db:1521/XE;User Id=app", &["oracle-db"]),
            ("Server=mysql;Port=3306;Uid=app;Pwd=x", &["mysql"]),
            ("host=pg port=5432 dbname=app user=app password=x", &["pg"]),
            ("Host=pg1,pg2:5433;Database=app", &["pg1", "pg2"]),
            ("Username=app;Password=x", &[]),
            ("Port=5432", &[]),
        ];
        for (text, want) in cases {
            let got: Vec<&str> = connection_string_hosts(text)
                .into_iter()
                .map(|(h, _)| h)
                .collect();
            assert_eq!(&got, want, "{text}");
        }
    }

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
            ("jdbc:postgresql://pg:5432/app", &[("pg", true)]),
            (
                "jdbc:sqlserver://mssql:1433;databaseName=app",
                &[("mssql", true), ("databaseName", false), ("app", false)],
            ),
            ("jdbc:oracle:thin:@//oracle:1521/XE", &[("oracle", true)]),
            (
                "jdbc:oracle:thin:@oracle-db:1521:ORCL",
                &[("oracle-db", true)],
            ),
            (
                "mongodb://app:s3cret@mongo-0.mongo:27017,mongo-1.mongo:27017/shop?replicaSet=rs0",
                &[
                    ("mongo-0.mongo", true),
                    ("mongo-1.mongo", true),
                    ("rs0", false),
                ],
            ),
            (
                "mongodb+srv://mongo.shop.svc/app",
                &[("mongo.shop.svc", true)],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&hosts(text), want, "{text}");
        }
    }
}
