use std::path::Path;

use super::*;
use crate::render::{HelmOptions, KustomizeOptions, SourceKind};

const MINIMAL: &str = "\
apps:
  - name: travel
    repo: https://git.example.org/team/deploy.git
    namespace: travel
";

fn parse_ok(text: &str) -> Config {
    match parse(text, "test.yaml") {
        Ok(config) => config,
        Err(e) => panic!("{e}\n---\n{text}"),
    }
}

/// Expects an `Invalid` error at `path` whose message contains `fragment`; returns its line.
fn invalid(text: &str, path: &str, fragment: &str) -> Option<u64> {
    match parse(text, "test.yaml") {
        Err(ConfigError::Invalid {
            path: got,
            message,
            line,
            ..
        }) => {
            assert_eq!(got, path, "message: {message}\n---\n{text}");
            assert!(
                message.contains(fragment),
                "{message:?} lacks {fragment:?}\n---\n{text}"
            );
            line
        }
        other => panic!("expected an error at {path}, got {other:?}\n---\n{text}"),
    }
}

/// The minimal app with `extra` lines added to it (indented as app fields).
fn app_with(extra: &str) -> String {
    let mut text = MINIMAL.to_owned();
    for line in extra.lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

#[test]
fn documented_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ordo.yaml");
    let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let travel = config
        .app("travel")
        .expect("the example has the travel app");
    assert_eq!(travel.repo, "/tmp/ordo-demo/travel-app.git");
    assert_eq!(travel.namespace, "travel");
    assert_eq!(travel.interval, Duration::from_secs(5));
    assert!(travel.prune && travel.self_heal);
    assert_eq!(travel.on_failure, OnFailure::Rollback);

    // The error quoted in the header is the one the code gives.
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replace("interval: 5s", "interval: 5 minutes");
    let err = parse(&broken, "config/ordo.yaml").unwrap_err().to_string();
    assert!(text.contains(&format!("#   {err}\n")), "{err}");

    // The commented staging app is valid too, and shares the repository.
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("  # ") {
            Some(rest) if rest.starts_with("- ") || rest.starts_with("  ") => format!("  {rest}\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    let config = parse(&uncommented, "config/ordo.yaml").unwrap_or_else(|e| panic!("{e}"));
    let staging = config.app("travel-staging").expect("the staging app");
    assert_eq!(
        (staging.reference.as_str(), staging.namespace.as_str()),
        ("develop", "staging")
    );
    assert_eq!(config.repos(), vec![(travel.repo.clone(), vec![0, 1])]);
}

#[test]
fn defaults_fill_what_is_left_out() {
    let config = parse_ok(MINIMAL);
    assert_eq!(config.listen, "0.0.0.0:8080".parse::<SocketAddr>().unwrap());
    assert_eq!(config.cache_dir, None);
    assert_eq!(config.api_token_file, None);
    assert_eq!(config.webhook_secret_file, None);
    let app = &config.apps[0];
    let want = AppConfig {
        name: "travel".into(),
        repo: "https://git.example.org/team/deploy.git".into(),
        reference: String::new(),
        path: String::new(),
        namespace: "travel".into(),
        interval: Duration::from_secs(30),
        timeout: Duration::from_secs(300),
        prune: false,
        prune_guard: crate::sync::PruneGuard::default(),
        allow: crate::sync::AllowList {
            namespaces: Some(crate::sync::allow::Patterns::new(vec!["travel".into()]).unwrap()),
            cluster_kinds: Some(crate::sync::allow::Patterns::new(Vec::new()).unwrap()),
            closed_namespace: None,
            namespace_object: None,
        },
        platform: false,
        create_namespace: None,
        depends_on: Vec::new(),
        service_account_name: None,
        self_heal: false,
        allow_empty: false,
        on_failure: OnFailure::Halt,
        ordering: Ordering::Tiers,
        include: Vec::new(),
        exclude: Vec::new(),
        credentials: CredentialsConfig::default(),
        source: SourceKind::Auto,
        helm: HelmOptions {
            release_name: "travel".into(),
            ..HelmOptions::default()
        },
        kustomize: KustomizeOptions::default(),
        substitute: Default::default(),
        decryption: None,
        verify: None,
    };
    assert_eq!(*app, want);
    assert_eq!(app.selection(), Selection::default());
    assert_eq!(app.repo_spec(), RepoSpec::new(app.repo.clone(), ""));
}

#[test]
fn every_field_is_read() {
    let config = parse_ok(
        "listen: 127.0.0.1:9000
cacheDir: /var/cache/ordo
apiTokenFile: /etc/ordo/token
webhookSecretFile: /etc/ordo/webhook-secret
apps:
  - name: travel
    repo: git@git.example.org:team/deploy.git
    ref: v1.2.0
    path: apps/travel
    namespace: travel
    interval: 1h30m
    timeout: 90s
    prune: true
    pruneGuard:
      allowKinds: [Namespace, PersistentVolumeClaim]
      maxShare: \"25%\"
      maxObjects: 3
    allow:
      namespaces: [travel, \"travel-*\"]
      clusterKinds: []
    serviceAccountName: travel-deployer
    selfHeal: true
    allowEmpty: true
    onFailure: rollback
    ordering: graph
    include: [\"**/*.yaml\"]
    exclude: [\"**/test-*.yaml\"]
    credentials:
      username: deploy-bot
      passwordEnv: GIT_TOKEN
      sshKeyFile: /etc/ordo/git/id_ed25519
      sshKeyPassphraseFile: /etc/ordo/git/passphrase
      knownHostsFile: /etc/ordo/git/known_hosts
",
    );
    assert_eq!(config.listen.port(), 9000);
    assert_eq!(
        config.cache_dir.as_deref(),
        Some(Path::new("/var/cache/ordo"))
    );
    assert_eq!(
        config.api_token_file.as_deref(),
        Some(Path::new("/etc/ordo/token"))
    );
    assert!(config.webhook_secret_file.is_some());
    let app = &config.apps[0];
    assert_eq!(app.interval, Duration::from_secs(5400));
    assert_eq!(app.timeout, Duration::from_secs(90));
    assert!(app.prune && app.self_heal && app.allow_empty);
    assert_eq!(
        app.prune_guard,
        crate::sync::PruneGuard {
            allow_kinds: vec!["Namespace".into(), "PersistentVolumeClaim".into()],
            max_percent: 25,
            max_objects: 3,
        }
    );
    let allow = &app.allow;
    assert_eq!(
        allow.namespaces.as_ref().map(|p| p.text.clone()),
        Some(vec!["travel".to_owned(), "travel-*".to_owned()])
    );
    assert_eq!(allow.cluster_kinds.as_ref().map(|p| p.text.len()), Some(0));
    assert_eq!(app.service_account_name.as_deref(), Some("travel-deployer"));
    assert_eq!(
        (app.on_failure, app.ordering),
        (OnFailure::Rollback, Ordering::Graph)
    );

    let spec = app.repo_spec();
    assert_eq!(spec.url, "git@git.example.org:team/deploy.git");
    assert_eq!(spec.reference, "v1.2.0");
    let creds = spec.credentials;
    assert_eq!(creds.username.as_deref(), Some("deploy-bot"));
    assert_eq!(creds.password, Some(Secret::Env("GIT_TOKEN".into())));
    assert_eq!(
        creds.ssh_key_passphrase,
        Some(Secret::File("/etc/ordo/git/passphrase".into()))
    );
    assert!(creds.ssh_key_file.is_some() && creds.known_hosts_file.is_some());

    let sel = app.selection();
    assert_eq!(sel.path, "apps/travel");
    assert_eq!(sel.include, ["**/*.yaml"]);
    assert_eq!(sel.exclude, ["**/test-*.yaml"]);
}

#[test]
fn empty_values_mean_the_default() {
    let config = parse_ok(&app_with("ref:\ninterval:\ncredentials:\n"));
    assert_eq!(config.apps[0].reference, "");
    assert_eq!(config.apps[0].interval, DEFAULT_INTERVAL);
}

#[test]
fn bad_app_fields_name_their_path() {
    let cases = [
        (
            "interval: 5 minutes",
            "apps[0].interval",
            "\"5 minutes\" is not a duration (use 90s, 5m, 1h)",
        ),
        ("interval: 30", "apps[0].interval", "30 is not a duration"),
        (
            "interval: 500ms",
            "apps[0].interval",
            "below the minimum of 1s",
        ),
        ("timeout: 0s", "apps[0].timeout", "below the minimum of 1s"),
        ("timeout: forever", "apps[0].timeout", "is not a duration"),
        (
            "selfHeel: true",
            "apps[0].selfHeel",
            "unknown field; did you mean selfHeal?",
        ),
        (
            "self_heal: true",
            "apps[0].self_heal",
            "did you mean selfHeal?",
        ),
        (
            "colour: blue",
            "apps[0].colour",
            "unknown field; expected one of name, repo",
        ),
        (
            "prune: yes",
            "apps[0].prune",
            "\"yes\" is not true or false",
        ),
        (
            "allowEmpty: 1",
            "apps[0].allowEmpty",
            "1 is not true or false",
        ),
        (
            "pruneGuard: {allowKinds: [Deployment]}",
            "apps[0].pruneGuard.allowKinds[0]",
            "\"Deployment\" is not a protected kind",
        ),
        (
            "pruneGuard: {maxShare: 2}",
            "apps[0].pruneGuard.maxShare",
            "is not a share",
        ),
        (
            "pruneGuard: {maxObjects: -1}",
            "apps[0].pruneGuard.maxObjects",
            "is not a whole number",
        ),
        (
            "allow: {namespaces: [\"[x\"]}",
            "apps[0].allow.namespaces",
            "use globs like",
        ),
        (
            "serviceAccountName: Deployer",
            "apps[0].serviceAccountName",
            "is not a valid name",
        ),
        (
            "onFailure: retry",
            "apps[0].onFailure",
            "\"retry\" is not one of halt, rollback",
        ),
        (
            "ordering: waves",
            "apps[0].ordering",
            "\"waves\" is not one of tiers, graph",
        ),
        ("ref: 1.10", "apps[0].ref", "found the number 1.1; quote it"),
        (
            "ref: [main]",
            "apps[0].ref",
            "expected a string, found a list",
        ),
        (
            "path: /etc",
            "apps[0].path",
            "not a directory inside the repository",
        ),
        (
            "path: apps/../../etc",
            "apps[0].path",
            "not a directory inside the repository",
        ),
        (
            "include: []",
            "apps[0].include",
            "an empty list selects no file",
        ),
        (
            "include: \"*.yaml\"",
            "apps[0].include",
            "expected a list, found a string",
        ),
        ("exclude: [\"a[\"]", "apps[0].exclude[0]", "is not a glob"),
        (
            "exclude: [1]",
            "apps[0].exclude[0]",
            "expected a string, found the number 1",
        ),
        (
            "credentials: token",
            "apps[0].credentials",
            "must be a mapping",
        ),
    ];
    for (extra, path, fragment) in cases {
        invalid(&app_with(extra), path, fragment);
    }
}

#[test]
fn repo_urls_with_a_password_are_refused_without_showing_it() {
    let text = MINIMAL.replace(
        "https://git.example.org/team/deploy.git",
        "https://bot:s3cret@git.example.org/team/deploy.git",
    );
    invalid(&text, "apps[0].repo", "credentials.passwordFile");
    let Err(e) = parse(&text, "test.yaml") else {
        panic!("accepted a password in the URL");
    };
    assert!(!e.to_string().contains("s3cret"), "{e}");
    for allowed in [
        "https://bot@git.example.org/team/deploy.git",
        "ssh://git@git.example.org/team/deploy.git",
        "git@git.example.org:team/deploy.git",
    ] {
        let config = parse_ok(&MINIMAL.replace("https://git.example.org/team/deploy.git", allowed));
        assert_eq!(config.apps[0].repo, allowed);
    }
}

#[test]
fn credentials_take_secrets_only_by_reference() {
    let cases = [
        (
            "password: hunter2",
            "apps[0].credentials.password",
            "secrets are not written inline; use passwordFile or passwordEnv",
        ),
        (
            "sshKeyPassphrase: x",
            "apps[0].credentials.sshKeyPassphrase",
            "use sshKeyPassphraseFile or sshKeyPassphraseEnv",
        ),
        ("sshKey: x", "apps[0].credentials.sshKey", "use sshKeyFile"),
        (
            "passwordFile: /a\n  passwordEnv: B",
            "apps[0].credentials.passwordEnv",
            "set passwordFile or passwordEnv, not both",
        ),
        (
            "passwordEnv: GIT-TOKEN",
            "apps[0].credentials.passwordEnv",
            "not an environment variable name",
        ),
        (
            "knowHostsFile: /k",
            "apps[0].credentials.knowHostsFile",
            "did you mean knownHostsFile?",
        ),
        ("username: \"\"", "apps[0].credentials.username", "is empty"),
    ];
    for (extra, path, fragment) in cases {
        let text = app_with(&format!("credentials:\n  {extra}"));
        invalid(&text, path, fragment);
    }
}

#[test]
fn names_and_namespaces_are_dns_labels_and_names_unique() {
    let cases = [
        ("name", "Travel_App"),
        ("name", "-travel"),
        ("name", "travel-"),
        ("namespace", "Travel"),
        ("namespace", &"a".repeat(64)),
    ];
    for (key, value) in cases {
        let text = MINIMAL.replace(&format!("{key}: travel"), &format!("{key}: {value}"));
        invalid(&text, &format!("apps[0].{key}"), "is not a DNS-1123 label");
    }
    let text = format!(
        "{MINIMAL}  - name: other\n    repo: r\n    namespace: o\n  - name: travel\n    repo: r\n    namespace: x\n"
    );
    let line = invalid(&text, "apps[2].name", "\"travel\" is used by apps[0] too");
    assert_eq!(line, Some(8));
}

#[test]
fn required_fields_and_the_app_list() {
    let missing = [
        ("apps:\n  - repo: r\n    namespace: n\n", "apps[0].name"),
        ("apps:\n  - name: a\n    namespace: n\n", "apps[0].repo"),
        ("apps:\n  - name: a\n    repo: r\n", "apps[0].namespace"),
        (
            "apps:\n  - name: a\n    repo: r\n    namespace:\n",
            "apps[0].namespace",
        ),
    ];
    for (text, path) in missing {
        assert_eq!(invalid(text, path, "is required"), Some(2), "{text}");
    }
    invalid("listen: 0.0.0.0:1\n", "apps", "is required");
    assert!(
        parse_ok("apps: []\n").apps.is_empty(),
        "an agent with no app yet"
    );
    invalid("apps:\n", "apps", "is required");
    invalid("apps: travel\n", "apps", "expected a list, found a string");
    invalid(
        "apps:\n  - travel\n",
        "apps[0]",
        "must be a mapping of name, repo",
    );
    invalid("- a\n", "", "the config file must be a mapping");
    invalid("", "", "the config file must be a mapping");
}

#[test]
fn bad_top_level_fields_name_their_path() {
    let cases = [
        (
            "listen: localhost",
            "listen",
            "\"localhost\" is not an address like 0.0.0.0:8080",
        ),
        ("listen: 8080", "listen", "8080 is not an address"),
        ("listne: 0.0.0.0:1", "listne", "did you mean listen?"),
        (
            "apiToken: s3cret",
            "apiToken",
            "secrets are not written inline; use apiTokenFile",
        ),
        (
            "webhookSecret: s3cret",
            "webhookSecret",
            "use webhookSecretFile",
        ),
        ("cacheDir: [a]", "cacheDir", "expected a string"),
    ];
    for (line, path, fragment) in cases {
        let text = format!("{line}\n{MINIMAL}");
        assert_eq!(invalid(&text, path, fragment), Some(1), "{line}");
    }
}

#[test]
fn errors_carry_file_line_and_path() {
    let text = app_with("interval: 5 minutes");
    let err = parse(&text, "config/ordo.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config/ordo.yaml:5: apps[0].interval: \"5 minutes\" is not a duration (use 90s, 5m, 1h)"
    );
    let text = format!("{MINIMAL}  - name: b\n    repo: r\n    namespace: b\n    selfHeel: true\n");
    let err = parse(&text, "config/ordo.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config/ordo.yaml:8: apps[1].selfHeel: unknown field; did you mean selfHeal?"
    );
}

#[test]
fn yaml_errors_and_unreadable_files_name_the_file() {
    let err = parse("apps: [\n", "c.yaml").unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(err.to_string().starts_with("c.yaml"), "{err}");
    let err = parse("a: 1\na: 2\n", "c.yaml").unwrap_err();
    assert!(
        matches!(err, ConfigError::Syntax { line: Some(2), .. }),
        "{err:?}"
    );
    let err = load(Path::new("/nonexistent/ordo.yaml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/ordo.yaml: cannot read"),
        "{err}"
    );
}

#[test]
fn apps_sharing_a_repo_are_grouped_for_one_fetch() {
    let config = parse_ok(
        "apps:
  - {name: a, repo: https://x/one.git, namespace: a}
  - {name: b, repo: https://x/two.git, namespace: b}
  - {name: c, repo: https://x/one.git, ref: develop, namespace: c}
  - {name: d, repo: https://x/one.git, path: other, namespace: a}
",
    );
    assert_eq!(
        config.repos(),
        vec![
            ("https://x/one.git".to_owned(), vec![0, 2, 3]),
            ("https://x/two.git".to_owned(), vec![1]),
        ]
    );
}

#[test]
fn render_fields_are_read() {
    let config = parse_ok(&app_with(
        "source: helm
helm:
  releaseName: shop
  valueFiles: [envs/common.yaml, ./envs/prod.yaml]
  values:
    replicas: 3
    ratio: 0.5
    image: {tag: \"2.1\"}
    hosts: [a, b]
    debug: false",
    ));
    let app = &config.apps[0];
    assert_eq!(app.source, SourceKind::Helm);
    assert_eq!(app.helm.release_name, "shop");
    assert_eq!(
        app.helm.value_files,
        ["envs/common.yaml", "./envs/prod.yaml"]
    );
    assert_eq!(
        app.helm.values,
        Some(serde_json::json!({
            "replicas": 3, "ratio": 0.5, "image": {"tag": "2.1"}, "hosts": ["a", "b"],
            "debug": false
        }))
    );
    let options = app.render_options();
    assert_eq!(options.kind, SourceKind::Helm);
    assert_eq!(options.helm, app.helm);

    let config = parse_ok(&app_with(
        "source: kustomize\nkustomize:\n  allowRemoteBases: true",
    ));
    assert_eq!(config.apps[0].source, SourceKind::Kustomize);
    assert!(config.apps[0].kustomize.allow_remote_bases);
    // auto reads both blocks: the kind is only known once the tree is read.
    let config = parse_ok(&app_with("helm: {releaseName: web}\nkustomize: {}"));
    assert_eq!(config.apps[0].source, SourceKind::Auto);
    assert_eq!(config.apps[0].helm.release_name, "web");
}

#[test]
fn bad_render_fields_name_their_path() {
    invalid(
        &app_with("source: chart"),
        "apps[0].source",
        "is not one of auto, directory, kustomize, helm",
    );
    invalid(
        &app_with("source: directory\nhelm: {releaseName: x}"),
        "apps[0].helm",
        "only read for a Helm app, and source is directory",
    );
    invalid(
        &app_with("source: helm\nkustomize: {allowRemoteBases: true}"),
        "apps[0].kustomize",
        "only read for a Kustomize app",
    );
    invalid(
        &app_with("helm: {releasename: x}"),
        "apps[0].helm.releasename",
        "did you mean releaseName?",
    );
    invalid(
        &app_with("helm: {releaseName: Shop_1}"),
        "apps[0].helm.releaseName",
        "not a Helm release name",
    );
    invalid(
        &app_with("helm: {valueFiles: [ok.yaml, ../secrets.yaml]}"),
        "apps[0].helm.valueFiles[1]",
        "inside the repository",
    );
    invalid(
        &app_with("helm: {valueFiles: envs/prod.yaml}"),
        "apps[0].helm.valueFiles",
        "expected a list",
    );
    invalid(
        &app_with("helm: {values: [1, 2]}"),
        "apps[0].helm.values",
        "expected a mapping, found a list",
    );
    invalid(
        &app_with("kustomize: {allowRemoteBases: yes}"),
        "apps[0].kustomize.allowRemoteBases",
        "is not true or false",
    );
}

#[test]
fn decryption_names_a_key_file() {
    let config = parse_ok(&app_with(
        "decryption:\n  provider: sops\n  keyFile: /etc/ordo/age/keys.txt",
    ));
    let app = &config.apps[0];
    assert_eq!(
        app.decryption,
        Some(Decryption {
            provider: DecryptionProvider::Sops,
            keys: DecryptionKeys::File("/etc/ordo/age/keys.txt".into()),
        })
    );
    assert_eq!(
        app.decryption_key_file(),
        Some(Path::new("/etc/ordo/age/keys.txt"))
    );
    assert_eq!(parse_ok(&app_with("")).apps[0].decryption_key_file(), None);
}

#[test]
fn decryption_is_checked_field_by_field() {
    let cases = [
        (
            "provider: sops",
            "apps[0].decryption",
            "needs keyFile (a key file: age and/or OpenPGP keys) or secretRef",
        ),
        (
            "provider: sops\n  keyFile: /k\n  secretRef: {name: age}",
            "apps[0].decryption",
            "sets both keyFile and secretRef",
        ),
        (
            "provider: sops\n  secretRef: {namespace: ordo}",
            "apps[0].decryption.secretRef.name",
            "is required",
        ),
        (
            "provider: sops\n  secretRef: {name: Age_Keys}",
            "apps[0].decryption.secretRef.name",
            "is not a Kubernetes object name",
        ),
        (
            "provider: sops\n  secretRef: {name: age, key: 'a/b'}",
            "apps[0].decryption.secretRef.key",
            "is not a Secret data key",
        ),
        (
            "provider: sops\n  secretRef: {name: age, nmespace: x}",
            "apps[0].decryption.secretRef.nmespace",
            "did you mean namespace?",
        ),
        ("keyFile: /k", "apps[0].decryption.provider", "is required"),
        (
            "provider: vault\n  keyFile: /k",
            "apps[0].decryption.provider",
            "sops",
        ),
        (
            "provider: sops\n  key: AGE-SECRET-KEY-1X",
            "apps[0].decryption.key",
            "secrets are not written inline; use keyFile or secretRef",
        ),
        (
            "provider: sops\n  keyfile: /k",
            "apps[0].decryption.keyfile",
            "did you mean keyFile?",
        ),
    ];
    for (extra, path, fragment) in cases {
        invalid(
            &app_with(&format!("decryption:\n  {extra}")),
            path,
            fragment,
        );
    }
}
/// `helm.repoURL` and its companions.
mod remote_chart;

#[test]
fn decryption_keys_can_come_from_a_secret() {
    let cases = [
        (
            "{name: age-keys}",
            SecretRef {
                name: "age-keys".into(),
                namespace: None,
                key: DEFAULT_SECRET_KEY.into(),
            },
        ),
        (
            "{name: sops.age, namespace: ordo-system, key: age.agekey}",
            SecretRef {
                name: "sops.age".into(),
                namespace: Some("ordo-system".into()),
                key: "age.agekey".into(),
            },
        ),
    ];
    for (secret_ref, want) in cases {
        let config = parse_ok(&app_with(&format!(
            "decryption:\n  provider: sops\n  secretRef: {secret_ref}"
        )));
        let app = &config.apps[0];
        assert_eq!(
            app.decryption.as_ref().map(|d| &d.keys),
            Some(&DecryptionKeys::Secret(want))
        );
        assert_eq!(app.decryption_key_file(), None);
    }
}

#[test]
fn verify_names_a_signers_file_and_only_mode_head() {
    let config = parse_ok(&app_with("verify:\n  signers: /etc/ordo/signers"));
    assert_eq!(
        config.apps[0].verify,
        Some(Verify {
            signers: "/etc/ordo/signers".into(),
            mode: VerifyMode::Head,
            allow_non_fast_forward: false,
        })
    );
    let cases = [
        ("mode: head", "apps[0].verify.signers", "is required"),
        (
            "signers: /s\n  mode: all",
            "apps[0].verify.mode",
            "is not one of head",
        ),
        ("signers: /s\n  keys: /k", "apps[0].verify.keys", ""),
    ];
    for (extra, path, fragment) in cases {
        invalid(&app_with(&format!("verify:\n  {extra}")), path, fragment);
    }
}

#[test]
fn verify_allows_a_non_fast_forward_head_only_when_asked_with_a_boolean() {
    let config = parse_ok(&app_with(
        "verify:\n  signers: /s\n  allowNonFastForward: true",
    ));
    let verify = config.apps[0].verify.as_ref().unwrap();
    assert!(verify.allow_non_fast_forward);
    invalid(
        &app_with("verify:\n  signers: /s\n  allowNonFastForward: maybe"),
        "apps[0].verify.allowNonFastForward",
        "",
    );
    invalid(
        &app_with("verify:\n  signers: /s\n  allowNonFastFoward: true"),
        "apps[0].verify.allowNonFastFoward",
        "did you mean allowNonFastForward?",
    );
}

#[test]
fn read_auth_is_none_or_token_and_token_needs_a_token_file() {
    let app = "apps:\n  - {name: a, repo: /r, namespace: n}\n";
    assert_eq!(
        parse_ok(&format!("readAuth: none\n{app}")).read_auth,
        crate::config::ReadAuth::None
    );
    assert_eq!(parse_ok(app).read_auth, crate::config::ReadAuth::None);
    assert_eq!(
        parse_ok(&format!("readAuth: token\napiTokenFile: /t\n{app}")).read_auth,
        crate::config::ReadAuth::Token
    );
    invalid(
        &format!("readAuth: public\n{app}"),
        "readAuth",
        "\"public\" is not one of none, token",
    );
    invalid(
        &format!("readAuth: token\n{app}"),
        "readAuth",
        "apiTokenFile",
    );
}

#[test]
fn depends_on_names_apps_of_the_file_without_a_cycle() {
    let apps = "apps:\n  - {name: ingress, repo: /r, namespace: n, dependsOn: [shop]}\n  - {name: shop, repo: /r, namespace: n, dependsOn: [ingress]}\n";
    invalid(
        apps,
        "apps[0].dependsOn",
        "a cycle of dependsOn: ingress → shop → ingress",
    );
    invalid(
        "apps:\n  - {name: shop, repo: /r, namespace: n, dependsOn: [nginx]}\n",
        "apps[0].dependsOn",
        "\"nginx\" is not an app of this file",
    );
    let ok = parse_ok(
        "apps:\n  - {name: ingress, repo: /r, namespace: n}\n  - {name: shop, repo: /r, namespace: n, dependsOn: [ingress]}\n",
    );
    assert_eq!(ok.apps[1].depends_on, ["ingress"]);
}

#[test]
fn sync_slots_and_the_client_rate_are_whole_positive_numbers() {
    let app = "apps:\n  - {name: a, repo: /r, namespace: n}\n";
    let defaults = parse_ok(app);
    assert_eq!(defaults.max_concurrent_syncs, 20);
    assert_eq!(
        defaults.kube_client,
        crate::config::KubeClient {
            qps: 100,
            burst: 200
        }
    );
    let set = parse_ok(&format!(
        "maxConcurrentSyncs: 4\nkubeClient: {{qps: 200, burst: 400}}\n{app}"
    ));
    assert_eq!(set.max_concurrent_syncs, 4);
    assert_eq!(
        set.kube_client,
        crate::config::KubeClient {
            qps: 200,
            burst: 400
        }
    );
    let cases = [
        ("maxConcurrentSyncs: 0", "maxConcurrentSyncs", "at least 1"),
        (
            "maxConcurrentSyncs: many",
            "maxConcurrentSyncs",
            "not a whole number",
        ),
        ("kubeClient: {qps: -5}", "kubeClient.qps", "at least 1"),
        (
            "kubeClient: {burst: 1.5}",
            "kubeClient.burst",
            "not a whole number",
        ),
        ("kubeClient: {rate: 5}", "kubeClient.rate", "qps"),
    ];
    for (line, path, fragment) in cases {
        invalid(&format!("{line}\n{app}"), path, fragment);
    }
}

#[test]
fn an_app_is_confined_to_its_namespace_unless_widened() {
    let text = |config: &Config| {
        let allow = &config.apps[0].allow;
        (
            allow.namespaces.as_ref().map(|p| p.text.clone()),
            allow.cluster_kinds.as_ref().map(|p| p.text.clone()),
        )
    };
    let own = parse_ok(MINIMAL);
    assert_eq!(text(&own), (Some(vec!["travel".into()]), Some(vec![])));
    assert!(!own.apps[0].platform);
    let kinds_only = parse_ok(&format!(
        "{MINIMAL}    allow: {{clusterKinds: [Namespace]}}\n"
    ));
    assert_eq!(
        text(&kinds_only),
        (Some(vec!["travel".into()]), Some(vec!["Namespace".into()]))
    );
    let wide = parse_ok(&format!(
        "{MINIMAL}    allow: {{namespaces: [\"*\"], clusterKinds: [\"*\"]}}\n    platform: true\n"
    ));
    assert_eq!(
        text(&wide),
        (Some(vec!["*".into()]), Some(vec!["*".into()]))
    );
    assert!(wide.apps[0].platform);
}

#[test]
fn apps_sharing_a_decryption_key_are_found_for_a_warning() {
    let app = |name: &str, keys: &str| {
        format!(
            "  - name: {name}\n    repo: https://git.example.org/{name}.git\n    namespace: {name}\n    decryption:\n      provider: sops\n      {keys}\n"
        )
    };
    let config = parse_ok(&format!(
        "apps:\n{}{}{}{}",
        app("shop", "keyFile: /etc/ordo/age/keys.txt"),
        app("blog", "keyFile: /etc/ordo/age/keys.txt"),
        app("wiki", "secretRef: {name: age}"),
        app("mail", "secretRef: {name: age-mail}"),
    ));
    assert_eq!(
        config.shared_decryption_keys(),
        vec![(
            "keyFile /etc/ordo/age/keys.txt".to_owned(),
            vec!["shop".to_owned(), "blog".to_owned()]
        )]
    );
}

#[test]
fn create_namespace_is_read_with_its_metadata_and_allows_that_namespace() {
    let config = parse_ok(&format!(
        "{MINIMAL}    createNamespace: true\n    managedNamespaceMetadata:\n      labels: {{team: shop, pod-security.kubernetes.io/enforce: restricted}}\n      annotations: {{owner: ops}}\n"
    ));
    let app = &config.apps[0];
    let metadata = app.create_namespace.as_ref().expect("createNamespace");
    assert_eq!(
        metadata.labels["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    assert_eq!(metadata.annotations["owner"], "ops");
    assert_eq!(app.allow.namespace_object.as_deref(), Some("travel"));
    assert_eq!(parse_ok(MINIMAL).apps[0].allow.namespace_object, None);
    let err = parse(
        &format!("{MINIMAL}    managedNamespaceMetadata: {{labels: {{a: b}}}}\n"),
        "test.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("only read with createNamespace: true"),
        "{err}"
    );
}

#[test]
fn post_build_variables_are_read_as_flux_names_them() {
    let config = parse_ok(&app_with(
        "postBuild:\n  substitute: {cluster_env: prod, REPLICAS: 3, _private: \"x\"}",
    ));
    let options = config.apps[0].render_options();
    assert_eq!(
        options.substitute.into_iter().collect::<Vec<_>>(),
        [
            ("REPLICAS".to_owned(), "3".to_owned()),
            ("_private".to_owned(), "x".to_owned()),
            ("cluster_env".to_owned(), "prod".to_owned())
        ]
    );
    // (config, path, what the error says)
    let cases = [
        (
            "postBuild: {substitute: {1st: x}}",
            "apps[0].postBuild.substitute",
            "\"1st\" is not a variable name",
        ),
        (
            "postBuild: {substitute: {cluster-env: x}}",
            "apps[0].postBuild.substitute",
            "is not a variable name",
        ),
        (
            "postBuild: {substituteFrom: []}",
            "apps[0].postBuild.substituteFrom",
            "unknown",
        ),
        (
            "postBuild: {substitute: {a: [1]}}",
            "apps[0].postBuild.substitute",
            "expected a string",
        ),
    ];
    for (extra, path, says) in cases {
        invalid(&app_with(extra), path, says);
    }
}
