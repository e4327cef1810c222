//! Writing the apps as an ordo config: the findings as a header comment, then `apps:` with each
//! app's keys in the order and spelling of `config/ordo.yaml`. Written by hand rather than by
//! a serializer so the credentials hint can be a comment inside its app, and so every scalar
//! is quoted exactly when YAML would read it as something else.

use serde_json::Value;

use super::{App, Finding, FindingKind, one_line};

/// The config text for `apps`, with `findings` in the header.
pub fn config_text(apps: &[App], findings: &[Finding]) -> String {
    let mut out = String::from(
        "# ordo config written by `ordo import` from Argo CD and Flux manifests.\n\
         # Review it, then run: ordo run --config <this file>. Every key: config/ordo.yaml.\n",
    );
    let lost: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::NotTranslated)
        .collect();
    let notes: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::Note)
        .collect();
    out.push_str("#\n");
    if lost.is_empty() {
        out.push_str("# Everything was translated.\n");
    }
    for finding in lost.iter().chain(&notes) {
        out.push_str(&format!("# {finding}\n"));
    }
    if apps.iter().any(|a| a.allow.is_none()) {
        out.push_str(&format!(
            "#\n# ordo restricts by default: an app without allow writes only into its own \
             namespace and owns no cluster-scoped kinds.\n# Widen an app that needs more with \
             {}.\n",
            super::tenancy::HOW_TO_WIDEN
        ));
    }
    out.push_str("\napps:\n");
    for (i, app) in apps.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        write_app(&mut out, app);
    }
    out
}

fn write_app(out: &mut String, app: &App) {
    out.push_str(&format!("  # from {}\n", one_line(&app.origin)));
    out.push_str(&format!("  - name: {}\n", scalar(&app.name)));
    // A password in an imported URL would land in the config (often in git) and be refused
    // at load: written without user info, with the credentials block as the way to give it.
    line(
        out,
        "repo",
        scalar(&crate::source::without_user_info(&app.repo)),
    );
    if let Some(reference) = &app.reference {
        line(out, "ref", scalar(reference));
    }
    if let Some(path) = &app.path {
        line(out, "path", scalar(path));
    }
    line(out, "namespace", scalar(&app.namespace));
    if let Some(interval) = &app.interval {
        line(out, "interval", scalar(interval));
    }
    if let Some(timeout) = &app.timeout {
        line(out, "timeout", scalar(timeout));
    }
    line(out, "prune", app.prune.to_string());
    if !app.depends_on.is_empty() {
        line(out, "dependsOn", list(&app.depends_on));
    }
    if let Some(allow) = &app.allow {
        out.push_str("    allow:\n");
        line(out, "  namespaces", list(&allow.namespaces));
        line(out, "  clusterKinds", list(&allow.cluster_kinds));
    }
    if let Some(account) = &app.service_account_name {
        line(out, "serviceAccountName", scalar(account));
    }
    if app.create_namespace {
        line(out, "createNamespace", "true".to_owned());
        if let Some(metadata) = &app.managed_namespace_metadata {
            write_entry(out, 4, "managedNamespaceMetadata:", metadata);
        }
    }
    if let Some(post_build) = &app.post_build {
        write_entry(out, 4, "postBuild:", post_build);
    }
    line(out, "selfHeal", app.self_heal.to_string());
    if app.allow_empty {
        line(out, "allowEmpty", "true".to_owned());
    }
    if let Some(source) = app.source {
        line(out, "source", source.to_string());
    }
    if let Some(helm) = &app.helm {
        let mut helm_map = serde_json::Map::new();
        if let Some(release) = &helm.release_name {
            helm_map.insert("releaseName".into(), Value::String(release.clone()));
        }
        if !helm.value_files.is_empty() {
            let files = helm
                .value_files
                .iter()
                .cloned()
                .map(Value::String)
                .collect();
            helm_map.insert("valueFiles".into(), Value::Array(files));
        }
        if let Some(values) = &helm.values {
            helm_map.insert("values".into(), Value::Object(values.clone()));
        }
        if !helm_map.is_empty() {
            write_entry(out, 4, "helm:", &Value::Object(helm_map));
        }
    }
    for (key, globs) in [("include", &app.include), ("exclude", &app.exclude)] {
        if !globs.is_empty() {
            line(out, key, list(globs));
        }
    }
    if let Some(secret) = &app.credentials_secret {
        write_credentials_hint(out, secret, &app.repo);
    }
    if let Some(decryption) = &app.decryption
        && let Ok(value) = serde_json::to_value(decryption)
    {
        write_entry(out, 4, "decryption:", &value);
    }
}

/// `key: value` as a key of an app.
fn line(out: &mut String, key: &str, value: String) {
    out.push_str(&format!("    {key}: {value}\n"));
}

/// `[a, "b-*"]`: a flow list of scalars, quoted where YAML would read them otherwise.
fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| scalar(i)).collect();
    format!("[{}]", items.join(", "))
}

/// A commented-out `credentials:` block naming the files of the mounted Secret (Flux's key
/// names), since ordo never reads a secret from its config.
fn write_credentials_hint(out: &mut String, secret: &str, repo: &str) {
    let secret = one_line(secret);
    let name = secret
        .rsplit('/')
        .next()
        .unwrap_or(&secret)
        .replace(' ', "-");
    let dir = format!("/etc/ordo/git/{name}");
    out.push_str(&format!(
        "    # The GitRepository read its credentials from the Secret {secret}. Mount it into\n\
         \x20   # the agent (e.g. at {dir}) and uncomment:\n\
         \x20   # credentials:\n"
    ));
    if is_ssh(repo) {
        out.push_str(&format!(
            "    #   sshKeyFile: {dir}/identity\n    #   knownHostsFile: {dir}/known_hosts\n"
        ));
    } else {
        out.push_str(&format!(
            "    #   username: <the Secret's username>\n    #   passwordFile: {dir}/password\n"
        ));
    }
}

fn is_ssh(repo: &str) -> bool {
    repo.starts_with("ssh://") || (!repo.contains("://") && repo.contains('@'))
}

/// `prefix` (`key:` or `-`) and `value` at `indent`, block style, nested values below.
fn write_entry(out: &mut String, indent: usize, prefix: &str, value: &Value) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push_str(&format!("{pad}{prefix}\n"));
            for (key, item) in map {
                write_entry(out, indent + 2, &format!("{}:", scalar(key)), item);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str(&format!("{pad}{prefix}\n"));
            for item in items {
                write_item(out, indent + 2, item);
            }
        }
        _ => out.push_str(&format!("{pad}{prefix} {}\n", inline(value))),
    }
}

/// A list item: `- scalar`, or `- first: …` with the rest of a mapping aligned below it.
fn write_item(out: &mut String, indent: usize, value: &Value) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut nested = String::new();
            for (key, item) in map {
                write_entry(&mut nested, indent + 2, &format!("{}:", scalar(key)), item);
            }
            // The first key goes on the dash's line, where its indent would be.
            out.push_str(&pad);
            out.push_str("- ");
            out.push_str(&nested[indent + 2..]);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str(&format!("{pad}-\n"));
            for item in items {
                write_item(out, indent + 2, item);
            }
        }
        _ => out.push_str(&format!("{pad}- {}\n", inline(value))),
    }
}

fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// `text` plain when YAML reads it back as the same string, else double-quoted (a JSON string
/// is a valid YAML double-quoted scalar).
pub(super) fn scalar(text: &str) -> String {
    let safe_chars = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./@:+=".contains(c));
    // A leading digit is plain only in a duration (`5m`): `1.10`, `0x1F`, `2024-01-01` or
    // `12:30` read as numbers or dates in some YAML dialects.
    let safe_start = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '.')
        || crate::config::parse_duration(text).is_some();
    if safe_chars && safe_start && !text.ends_with(':') && !reads_as_other(text) {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
    }
}

/// Plain scalars YAML parsers read as a boolean, null or number.
fn reads_as_other(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", ".nan",
    ];
    WORDS.contains(&text.to_ascii_lowercase().as_str()) || text.parse::<f64>().is_ok()
}
