//! Renders of the chart in several value combinations: what each contains, and that the API
//! server accepts it; values the schema or the chart's checks refuse, by field.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::unique;
use crate::support::*;

/// The args the Deployment must give `ordo run` (before `--lease-name`).
const RUN_ARGS: [&str; 6] = [
    "run",
    "--config",
    "/etc/ordo/ordo.yaml",
    "--log-format",
    "json",
    "--leader-elect",
];

#[test]
fn defaults_render_a_hardened_two_replica_agent_the_api_server_accepts() {
    let ns = unique("ordo-chart-defaults");
    let app_ns = unique("ordo-chart-app");
    let values = with_apps(vec![one_app(&app_ns)]);
    let r = render("ordo", &ns, &values);

    let chart: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(
        chart["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml's appVersion follows the crate"
    );

    let deployment = r.deployment("ordo");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        container(deployment)["image"],
        format!("ordo:{}", env!("CARGO_PKG_VERSION")),
        "no registry; the tag is the appVersion"
    );
    let pod = &deployment["spec"]["template"]["spec"];
    let c = container(deployment);
    assert_eq!(
        strings(&c["args"]),
        [
            &RUN_ARGS[..],
            &["--lease-name", "ordo", "--shards", "2"][..]
        ]
        .concat(),
        "ordo run's arguments: two replicas share the apps in two shards"
    );
    assert_eq!(env_field_ref(c, "POD_NAME"), Some("metadata.name"));
    assert_eq!(
        env_field_ref(c, "POD_NAMESPACE"),
        Some("metadata.namespace")
    );
    // Not root, nothing writable but the two emptyDirs, no privilege.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 65532);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    for limits in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                c["resources"][limits][resource].is_string(),
                "resources.{limits}.{resource}: {}",
                c["resources"]
            );
        }
    }
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["ports"][0]["name"], "http");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "http");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "http");
    for (path, name) in [("/var/cache/ordo", "cache"), ("/tmp", "tmp")] {
        assert_eq!(mount(c, path)["name"], name);
        assert!(volume(deployment, name)["emptyDir"].is_object());
    }
    assert_eq!(mount(c, "/etc/ordo")["readOnly"], true);
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert!(
        annotations["checksum/config"]
            .as_str()
            .is_some_and(|s| s.len() == 64),
        "{annotations}"
    );

    // The config file: the app as given, the fixed listen address and cache.
    let config = r.config("ordo");
    assert_eq!(config["listen"], "0.0.0.0:8080");
    assert_eq!(config["cacheDir"], "/var/cache/ordo");
    assert_eq!(config["apps"], values["config"]["apps"]);
    assert!(config.get("apiTokenFile").is_none() && config.get("webhookSecretFile").is_none());
    assert_ordo_accepts(&config);

    // Cluster-wide RBAC (what a three-tier app is made of, not everything), and the Lease in
    // the release namespace.
    let sa = r.one("ServiceAccount", "ordo");
    assert_eq!(sa["metadata"]["namespace"], ns.as_str());
    assert_eq!(pod["serviceAccountName"], "ordo");
    let cluster_name = format!("{ns}-ordo");
    let role = r.one("ClusterRole", &cluster_name);
    assert_narrow_defaults(&role["rules"]);
    let binding = r.one("ClusterRoleBinding", &cluster_name);
    assert_eq!(binding["roleRef"]["name"], cluster_name.as_str());
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "ordo", "namespace": ns}])
    );
    assert_lease_role(&r, "ordo", &ns, "ordo", 2);
    assert!(
        r.all("Role").len() == 1,
        "only the Lease Role: {:?}",
        r.ids()
    );

    let service = r.one("Service", "ordo");
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(
        r.one("PodDisruptionBudget", "ordo")["spec"]["minAvailable"],
        1
    );
    for absent in [
        "Ingress",
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
        "Secret",
    ] {
        assert!(
            r.all(absent).is_empty(),
            "{absent} by default: {:?}",
            r.ids()
        );
    }
    assert_eq!(r.all("ConfigMap").len(), 1, "no dashboard by default");

    let _ns = Namespaces::create(&[&ns]);
    server_dry_run(&r);
}

/// The Role and RoleBinding that let the release's ServiceAccount hold its Lease and, with
/// `shards`, the shard Leases (by name) and its member Lease.
fn assert_lease_role(r: &Render, release: &str, namespace: &str, lease: &str, shards: usize) {
    let name = format!("{release}-leader-election");
    let role = r.one("Role", &name);
    assert_eq!(role["metadata"]["namespace"], namespace);
    let shard_leases: Vec<String> = (0..shards).map(|i| format!("{lease}-shard-{i}")).collect();
    let mut verbs = BTreeSet::new();
    let mut named = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        assert_eq!(strings(&rule["apiGroups"]), ["coordination.k8s.io"]);
        assert_eq!(strings(&rule["resources"]), ["leases"]);
        let names = strings(&rule["resourceNames"]);
        assert!(
            names.is_empty() || names == [lease] || names == shard_leases,
            "{rule}"
        );
        named.extend(names.iter().map(|n| n.to_string()));
        verbs.extend(strings(&rule["verbs"]));
    }
    let mut expected = BTreeSet::from(["create", "get", "patch", "update"]);
    if shards > 1 {
        expected.extend(["list", "delete"]);
    }
    assert_eq!(verbs, expected);
    assert!(shard_leases.iter().all(|l| named.contains(l)), "{named:?}");
    let binding = r.one("RoleBinding", &name);
    assert_eq!(binding["metadata"]["namespace"], namespace);
    assert_eq!(binding["roleRef"]["name"], name.as_str());
}

/// The default rules: the kinds of a three-tier app, never a wildcard, never RBAC beyond a
/// namespace, never deleting Namespaces.
fn assert_narrow_defaults(rules: &Value) {
    let rules = rules.as_array().expect("rules");
    let grants = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            strings(&r["apiGroups"]).contains(&group)
                && strings(&r["resources"]).contains(&resource)
                && strings(&r["verbs"]).contains(&verb)
        })
    };
    assert!(grants("apps", "deployments", "patch") && grants("", "configmaps", "create"));
    assert!(grants("networking.k8s.io", "ingresses", "delete"));
    for (group, resource, verb) in [
        ("*", "*", "*"),
        ("rbac.authorization.k8s.io", "clusterroles", "create"),
        ("rbac.authorization.k8s.io", "clusterrolebindings", "create"),
        (
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "create",
        ),
        ("", "namespaces", "delete"),
        ("", "serviceaccounts", "impersonate"),
    ] {
        assert!(!grants(group, resource, verb), "{group}/{resource} {verb}");
    }
}

#[test]
fn the_defaults_lint_and_install_an_agent_with_no_apps_and_narrow_rights() {
    let ns = unique("ordo-chart-bare");
    let r = render("ordo", &ns, &json!({}));
    assert_eq!(r.config("ordo")["apps"], json!([]));
    assert_ordo_accepts(&r.config("ordo"));
    assert_narrow_defaults(&r.one("ClusterRole", &format!("{ns}-ordo"))["rules"]);

    // Wider on request: everything, or extra rules; impersonation of named accounts only.
    let wide = render("ordo", &ns, &json!({"rbac": {"allowAll": true}}));
    assert_eq!(
        wide.one("ClusterRole", &format!("{ns}-ordo"))["rules"],
        json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    );
    let extra = json!({"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["*"]});
    let more = render("ordo", &ns, &json!({"rbac": {"extraRules": [extra]}}));
    let rules = &more.one("ClusterRole", &format!("{ns}-ordo"))["rules"];
    assert_eq!(rules.as_array().unwrap().last(), Some(&extra));
    let acting = render(
        "ordo",
        &ns,
        &json!({"rbac": {"impersonate": ["shop/deployer"]}}),
    );
    let role = acting.one("Role", "ordo-impersonate-deployer");
    assert_eq!(role["metadata"]["namespace"], "shop");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["serviceaccounts"],
                "resourceNames": ["deployer"], "verbs": ["impersonate"]}])
    );
    assert_eq!(
        acting.one("RoleBinding", "ordo-impersonate-deployer")["subjects"][0]["name"],
        "ordo"
    );
    let _ns = Namespaces::create(&[&ns]);
    server_dry_run(&r);
}

#[test]
fn namespaced_rbac_grants_roles_in_the_listed_namespaces_only() {
    let ns = unique("ordo-chart-nsrbac");
    let (a, b) = (unique("ordo-chart-a"), unique("ordo-chart-b"));
    let values = json!({
        "rbac": {"scope": "namespaced", "namespaces": [a, b]},
        "config": {"apps": [
            one_app(&a),
            {"name": "cart", "repo": "/srv/git/cart.git", "namespace": b},
        ]},
    });
    let r = render("ordo", &ns, &values);
    assert!(
        r.all("ClusterRole").is_empty() && r.all("ClusterRoleBinding").is_empty(),
        "nothing cluster-wide: {:?}",
        r.ids()
    );
    let grant = format!("{ns}-ordo");
    for granted in [&a, &b] {
        let in_ns = |kind: &str| -> Vec<&Value> {
            r.all(kind)
                .into_iter()
                .filter(|o| o["metadata"]["namespace"] == granted.as_str())
                .collect()
        };
        let roles = in_ns("Role");
        assert_eq!(roles.len(), 1, "one Role in {granted}: {:?}", r.ids());
        assert_eq!(roles[0]["metadata"]["name"], grant.as_str());
        assert_narrow_defaults(&roles[0]["rules"]);
        let bindings = in_ns("RoleBinding");
        assert_eq!(bindings.len(), 1);
        assert_eq!(bindings[0]["roleRef"]["kind"], "Role");
        assert_eq!(
            bindings[0]["subjects"],
            json!([{"kind": "ServiceAccount", "name": "ordo", "namespace": ns}])
        );
    }
    assert_lease_role(&r, "ordo", &ns, "ordo", 2);
    // The agent's config-hash key lives in the release namespace, outside the granted ones.
    let key_role = r.one("Role", "ordo-config-hash-key");
    assert_eq!(key_role["metadata"]["namespace"], ns.as_str());
    assert_eq!(
        key_role["rules"][2]["resourceNames"],
        json!(["ordo-config-hash-key"])
    );
    assert_eq!(
        r.one("RoleBinding", "ordo-config-hash-key")["roleRef"]["name"],
        "ordo-config-hash-key"
    );
    let namespaces: BTreeSet<&str> = r
        .all("Role")
        .iter()
        .filter_map(|o| o["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(
        namespaces,
        BTreeSet::from([a.as_str(), b.as_str(), ns.as_str()]),
        "Roles only where granted, and the Lease's"
    );

    // Narrower rules replace "everything" in each namespace.
    let rules = json!([{
        "apiGroups": ["", "apps"],
        "resources": ["configmaps", "secrets", "deployments"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    }]);
    let mut narrow = values.clone();
    narrow["rbac"]["rules"] = rules.clone();
    let narrowed = render("ordo", &ns, &narrow);
    let granted: Vec<&Value> = narrowed
        .all("Role")
        .into_iter()
        .filter(|role| role["metadata"]["name"] == grant.as_str())
        .collect();
    assert_eq!(granted.len(), 2);
    for role in granted {
        assert_eq!(role["rules"], rules);
    }

    let _ns = Namespaces::create(&[&ns, &a, &b]);
    server_dry_run(&r);
}

#[test]
fn monitoring_ingress_dashboard_and_network_policy_render_objects_the_api_server_accepts() {
    let ns = unique("ordo-chart-extras");
    let grafana = unique("ordo-chart-grafana");
    let values = json!({
        "config": {"apps": [one_app("shop")]},
        "ingress": {"enabled": true, "className": "nginx", "host": "ordo.example.org",
                    "tls": [{"secretName": "ordo-tls", "hosts": ["ordo.example.org"]}]},
        "serviceMonitor": {"enabled": true, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": true, "labels": {"release": "prometheus"}},
        "dashboards": {
            "enabled": true,
            "namespace": grafana,
            "annotations": {"grafana_folder": "GitOps"},
        },
        "networkPolicy": {
            "enabled": true,
            "ingressFrom": [{"namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": "monitoring"},
            }}],
            "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}, {"ports": [{"port": 443}]}],
        },
    });
    let r = render("ordo", &ns, &values);

    let ingress = r.one("Ingress", "ordo");
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "ordo.example.org");
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
    let backend = &rule["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend, &json!({"name": "ordo", "port": {"name": "http"}}));

    let monitor = r.one("ServiceMonitor", "ordo");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(
        (&endpoint["port"], &endpoint["path"]),
        (&json!("http"), &json!("/metrics"))
    );
    let service = r.one("Service", "ordo");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &service["metadata"]["labels"][key], value,
            "the ServiceMonitor selects the Service"
        );
    }

    let rules = r.one("PrometheusRule", "ordo");
    let alerts: BTreeSet<&str> = rules["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|rule| rule["alert"].as_str())
        .collect();
    assert_eq!(
        alerts,
        BTreeSet::from([
            "OrdoAppDegraded",
            "OrdoAppOutOfSync",
            "OrdoGitFetchFailing",
            "OrdoNoLeader",
            "OrdoSyncFailed"
        ])
    );

    let dashboard = r.one("ConfigMap", "ordo-dashboard");
    assert_eq!(dashboard["metadata"]["namespace"], grafana.as_str());
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(
        dashboard["metadata"]["annotations"]["grafana_folder"],
        "GitOps"
    );
    let shipped: Value =
        serde_json::from_str(dashboard["data"]["ordo.json"].as_str().unwrap()).unwrap();
    assert_eq!(
        shipped,
        dashboard_json(),
        "the ConfigMap ships dashboards/ordo.json as it is"
    );

    let policy = r.one("NetworkPolicy", "ordo");
    assert_eq!(
        strings(&policy["spec"]["policyTypes"]),
        ["Ingress", "Egress"]
    );
    let ingress_rule = &policy["spec"]["ingress"][0];
    assert_eq!(
        ingress_rule["ports"],
        json!([{"port": "http", "protocol": "TCP"}])
    );
    // The replicas themselves first (a standby forwards to the leader), then the given peers.
    let mut from = vec![json!({"podSelector": {"matchLabels": service["spec"]["selector"]}})];
    from.extend(
        values["networkPolicy"]["ingressFrom"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    assert_eq!(ingress_rule["from"], json!(from));
    assert_eq!(policy["spec"]["egress"], values["networkPolicy"]["egress"]);
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"], service["spec"]["selector"],
        "the policy selects the agent's pods"
    );
    // Egress left at its default stays open: no Egress policy type at all.
    let mut open = values.clone();
    open["networkPolicy"]["egress"] = json!([]);
    let open = render("ordo", &ns, &open);
    let policy = open.one("NetworkPolicy", "ordo");
    assert_eq!(strings(&policy["spec"]["policyTypes"]), ["Ingress"]);
    assert!(policy["spec"].get("egress").is_none());

    let _crds = MonitoringCrds::install();
    let _ns = Namespaces::create(&[&ns, &grafana]);
    server_dry_run(&r);
}

#[test]
fn existing_secrets_are_mounted_not_created_and_given_values_become_secrets() {
    let ns = unique("ordo-chart-secrets");
    let credentials = json!({
        "username": "deploy-bot",
        "passwordFile": "/etc/ordo-git/deploy/password",
        "knownHostsFile": "/etc/ordo-git/ssh/known_hosts",
    });
    let mut app = one_app("shop");
    app["credentials"] = credentials.clone();
    app["interval"] = json!("1m");
    app["onFailure"] = json!("rollback");
    app["include"] = json!(["**/*.yaml"]);
    let values = json!({
        "config": {"apps": [app]},
        "apiToken": {"existingSecret": "ordo-api", "key": "bearer"},
        "webhookSecret": {"existingSecret": "ordo-hooks"},
        "gitCredentials": [
            {"name": "deploy", "existingSecret": "deploy-git"},
            {"name": "ssh", "data": {"known_hosts": "git.example.org ssh-ed25519 AAAAC3Nza"}},
        ],
    });
    let r = render("ordo", &ns, &values);

    // Only the credentials given as data became a Secret.
    let secrets: Vec<&str> = r
        .all("Secret")
        .iter()
        .filter_map(|s| s["metadata"]["name"].as_str())
        .collect();
    assert_eq!(secrets, ["ordo-git-ssh"]);
    let ssh = r.one("Secret", "ordo-git-ssh");
    assert_eq!(
        ssh["data"]["known_hosts"], "Z2l0LmV4YW1wbGUub3JnIHNzaC1lZDI1NTE5IEFBQUFDM056YQ==",
        "base64 of the given known_hosts"
    );

    let deployment = r.deployment("ordo");
    let c = container(deployment);
    let sources = &volume(deployment, "config")["projected"]["sources"];
    assert_eq!(
        sources[1]["secret"],
        json!({"name": "ordo-api", "items": [{"key": "bearer", "path": "api-token"}]})
    );
    assert_eq!(
        sources[2]["secret"],
        json!({"name": "ordo-hooks", "items": [{"key": "secret", "path": "webhook-secret"}]})
    );
    for (name, secret) in [("deploy", "deploy-git"), ("ssh", "ordo-git-ssh")] {
        let m = mount(c, &format!("/etc/ordo-git/{name}"));
        assert_eq!(m["readOnly"], true);
        let v = volume(deployment, m["name"].as_str().unwrap());
        assert_eq!(v["secret"]["secretName"], secret);
    }
    let config = r.config("ordo");
    assert_eq!(config["apiTokenFile"], "/etc/ordo/api-token");
    assert_eq!(config["webhookSecretFile"], "/etc/ordo/webhook-secret");
    assert_eq!(config["apps"][0]["credentials"], credentials);
    assert_ordo_accepts(&config);

    // Values instead of existing Secrets: the chart creates them, and a changed token or
    // config rolls the pods (their template's checksums change), an unchanged render does not.
    let mut inline = values.clone();
    inline["apiToken"] = json!({"value": "t0ken"});
    inline["webhookSecret"] = json!({"value": "h00k"});
    let first = render("ordo", &ns, &inline);
    assert_eq!(
        first.one("Secret", "ordo-api-token")["data"]["token"],
        "dDBrZW4="
    );
    assert_eq!(
        first.one("Secret", "ordo-webhook")["data"]["secret"],
        "aDAwaw=="
    );
    let checksums = |r: &Render| {
        let a = &r.deployment("ordo")["spec"]["template"]["metadata"]["annotations"];
        (a["checksum/config"].clone(), a["checksum/secrets"].clone())
    };
    assert_eq!(checksums(&first), checksums(&render("ordo", &ns, &inline)));
    let mut token = inline.clone();
    token["apiToken"]["value"] = json!("an0ther");
    let (config_sum, secret_sum) = checksums(&render("ordo", &ns, &token));
    assert_eq!(config_sum, checksums(&first).0);
    assert_ne!(
        secret_sum,
        checksums(&first).1,
        "a new token rolls the pods"
    );
    let mut interval = inline.clone();
    interval["config"]["apps"][0]["interval"] = json!("2m");
    assert_ne!(
        checksums(&render("ordo", &ns, &interval)).0,
        checksums(&first).0,
        "a config change rolls the pods"
    );

    let _ns = Namespaces::create(&[&ns]);
    server_dry_run(&r);
    server_dry_run(&first);
}

#[test]
fn one_replica_has_no_disruption_budget_and_may_run_without_leader_election() {
    let ns = unique("ordo-chart-single");
    let mut values = with_apps(vec![one_app("shop")]);
    values["replicas"] = json!(1);
    let r = render("ordo", &ns, &values);
    assert_eq!(r.deployment("ordo")["spec"]["replicas"], 1);
    assert!(
        r.all("PodDisruptionBudget").is_empty(),
        "a budget of 1 of 1 would block every drain: {:?}",
        r.ids()
    );

    values["leaderElection"] = json!({"enabled": false});
    let single = render("ordo", &ns, &values);
    let args = strings(&container(single.deployment("ordo"))["args"]);
    assert_eq!(args, RUN_ARGS[..5], "no --leader-elect");
    assert!(
        single.all("Role").is_empty(),
        "no Lease Role: {:?}",
        single.ids()
    );

    let _ns = Namespaces::create(&[&ns]);
    server_dry_run(&r);
    server_dry_run(&single);
}

#[test]
fn scheduling_image_and_pod_options_reach_the_pod_template() {
    let ns = unique("ordo-chart-options");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let values = json!({
        "config": {"apps": [one_app("shop")]},
        "fullnameOverride": "gitops",
        "image": {"repository": "mirror/team/ordo", "digest": digest, "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "pull"}],
        "serviceAccount": {"create": false, "name": "preexisting"},
        "logFormat": "text",
        "logFilter": "info,ordo=debug",
        "extraArgs": ["--no-such-flag-is-checked-here"],
        "extraEnv": [{
            "name": "GIT_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "git", "key": "password"}},
        }],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "gitops", "effect": "NoSchedule"},
        ],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "type", "operator": "In", "values": ["kwok"]}]},
            ],
        }}},
        "topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
        }],
        "podAnnotations": {"example.org/team": "platform"},
        "podLabels": {"team": "platform"},
        "priorityClassName": "system-cluster-critical",
    });
    let r = render("rel", &ns, &values);
    let deployment = r.deployment("gitops");
    let pod = &deployment["spec"]["template"];
    let spec = &pod["spec"];
    let c = container(deployment);
    assert_eq!(c["image"], format!("mirror/team/ordo@{digest}"));
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(spec["imagePullSecrets"], values["imagePullSecrets"]);
    assert!(r.all("ServiceAccount").is_empty(), "{:?}", r.ids());
    assert_eq!(spec["serviceAccountName"], "preexisting");
    assert_eq!(
        r.one("ClusterRoleBinding", &format!("{ns}-gitops"))["subjects"][0]["name"],
        "preexisting"
    );
    let args = strings(&c["args"]);
    assert_eq!(
        args[..5],
        [
            "run",
            "--config",
            "/etc/ordo/ordo.yaml",
            "--log-format",
            "text"
        ]
    );
    assert_eq!(args.last(), Some(&"--no-such-flag-is-checked-here"));
    let env = c["env"].as_array().unwrap();
    assert!(env.contains(&json!({"name": "RUST_LOG", "value": "info,ordo=debug"})));
    assert!(env.contains(&values["extraEnv"][0]));
    assert_eq!(spec["nodeSelector"], values["nodeSelector"]);
    assert_eq!(spec["tolerations"], values["tolerations"]);
    assert_eq!(
        spec["affinity"], values["affinity"],
        "given affinity replaces the default"
    );
    assert_eq!(spec["priorityClassName"], "system-cluster-critical");
    assert_eq!(
        pod["metadata"]["annotations"]["example.org/team"],
        "platform"
    );
    assert_eq!(pod["metadata"]["labels"]["team"], "platform");
    // The spread constraint gets the pods' own selector filled in.
    let spread = &spec["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "topology.kubernetes.io/zone");
    assert_eq!(
        spread["labelSelector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );

    let _ns = Namespaces::create(&[&ns]);
    server_dry_run(&r);
}

#[test]
fn the_schema_and_the_chart_refuse_bad_values_naming_the_field() {
    let base = || with_apps(vec![one_app("shop")]);
    let set = |path: &[&str], value: Value| {
        let mut v = base();
        let mut at = &mut v;
        for key in &path[..path.len() - 1] {
            at = if let Ok(i) = key.parse::<usize>() {
                &mut at[i]
            } else {
                at.as_object_mut()
                    .unwrap()
                    .entry(key.to_string())
                    .or_insert_with(|| json!({}))
            };
        }
        at[path[path.len() - 1]] = value;
        v
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            set(&["replicas"], json!("two")),
            vec!["/replicas", "want integer"],
        ),
        (
            set(&["rbac", "scope"], json!("everything")),
            vec!["/rbac/scope", "'cluster', 'namespaced'"],
        ),
        (
            with_apps(vec![json!({"name": "shop", "namespace": "shop"})]),
            vec!["/config/apps/0", "missing property 'repo'"],
        ),
        (
            set(&["rbac", "impersonate"], json!(["deployer"])),
            vec!["/rbac/impersonate/0"],
        ),
        (
            set(&["replica"], json!(3)),
            vec!["additional properties 'replica'"],
        ),
        (
            set(&["config", "apps", "0", "interval"], json!("5 minutes")),
            vec!["/config/apps/0/interval"],
        ),
        (
            set(&["config", "apps", "0", "ref"], json!(1.10)),
            vec!["/config/apps/0/ref", "want string"],
        ),
        (
            set(&["config", "apps", "0", "onFailure"], json!("retry")),
            vec!["/config/apps/0/onFailure", "'halt', 'rollback'"],
        ),
        (
            set(&["config", "apps", "0", "name"], json!("Shop_1")),
            vec!["/config/apps/0/name"],
        ),
        (
            set(&["config", "apps", "0", "path"], json!("../elsewhere")),
            vec!["/config/apps/0/path"],
        ),
        (
            set(
                &["config", "apps", "0", "credentials"],
                json!({"password": "hunter2"}),
            ),
            vec![
                "/config/apps/0/credentials",
                "additional properties 'password'",
            ],
        ),
        (
            set(
                &["config", "apps", "0", "credentials"],
                json!({"passwordFile": "/etc/ordo-git/a/password", "passwordEnv": "GIT_PASSWORD"}),
            ),
            vec!["/config/apps/0/credentials/passwordEnv"],
        ),
        (
            set(&["image", "pullPolicy"], json!("Sometimes")),
            vec!["/image/pullPolicy"],
        ),
        (
            set(
                &["apiToken"],
                json!({"value": "t0ken", "existingSecret": "api"}),
            ),
            vec!["/apiToken/existingSecret"],
        ),
        (
            set(&["gitCredentials"], json!([{"name": "deploy"}])),
            vec!["/gitCredentials/0", "existingSecret", "data"],
        ),
        (
            set(&["service", "port"], json!(70000)),
            vec!["/service/port", "maximum"],
        ),
        (
            set(
                &["prometheusRule", "alerts", "appDegraded", "for"],
                json!("five minutes"),
            ),
            vec!["/prometheusRule/alerts/appDegraded/for"],
        ),
        // What the schema cannot say, the chart's own checks do.
        (
            set(&["leaderElection", "enabled"], json!(false)),
            vec!["replicas: 2 replicas need leaderElection.enabled"],
        ),
        (
            set(&["rbac", "scope"], json!("namespaced")),
            vec!["rbac.namespaces: list the namespaces"],
        ),
        (
            {
                let mut v = set(&["rbac", "scope"], json!("namespaced"));
                v["rbac"]["namespaces"] = json!(["elsewhere"]);
                v
            },
            vec![
                "config.apps[0].namespace",
                "\"shop\" is not in rbac.namespaces",
            ],
        ),
        (
            with_apps(vec![one_app("shop"), one_app("cart")]),
            vec!["config.apps[1].name", "\"shop\" is used by another app"],
        ),
    ];
    for (values, expected) in &cases {
        refused(values, expected);
    }
}
