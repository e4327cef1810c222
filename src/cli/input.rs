//! What `plan`, `diff` and `sync` read: a directory or a git revision, turned into a plan.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use sha2::{Digest, Sha256};

use super::default_cache_dir;
use super::plan_output::PlanSource;
use crate::config::AppConfig;
use crate::decrypt;
use crate::manifest;
use crate::plan::{self, ConfigHashKey, Ordering, Plan};
use crate::render::{
    self, HelmOptions, RemoteChart, RenderOptions, RenderRequest, Renderer, RepoKind, SourceKind,
    Tools,
};
use crate::source::{self, RepoSpec, Selection, Snapshot};
use crate::verify;

#[derive(Debug, Args)]
pub struct InputArgs {
    /// A directory of manifests, or a git repository (URL, or a local path with --ref).
    /// Not needed with --config.
    /// Optional with --helm-repo: the chart then comes from the repository, and only values
    /// files (--values) are read from here.
    #[arg(required_unless_present_any = ["config", "helm_repo"], default_value = "")]
    pub source: String,
    /// The agent's config file: repository, ref, path, namespace, ordering, file globs and
    /// credentials come from the app named by --app (flags given as well are ignored).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The app of --config, once resolved.
    #[arg(skip)]
    pub from_config: Option<AppConfig>,
    /// Branch, tag or full commit SHA (git sources; default: the remote's HEAD).
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Directory inside the repository holding the manifests (git sources).
    #[arg(long, default_value = "")]
    pub path: String,
    /// Namespace for namespaced objects that set none.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// `tiers`: each tier waits for the earlier ones; `graph`: only dependencies order objects.
    #[arg(long, value_enum, default_value_t = OrderingArg::Tiers)]
    pub ordering: OrderingArg,
    /// Only files matching these globs (default: **/*.yaml, **/*.yml, **/*.json).
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip files matching these globs.
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// How the path becomes manifests: `auto` picks kustomize when it holds a kustomization,
    /// helm when it holds Chart.yaml, else directory. kustomize and helm are found through
    /// ORDO_KUSTOMIZE / ORDO_HELM, else PATH.
    #[arg(long = "source", value_enum, value_name = "KIND", default_value_t = SourceKind::Auto)]
    pub source_kind: SourceKind,
    /// Helm release name (default: the chart directory's name).
    #[arg(long, value_name = "NAME")]
    pub release_name: Option<String>,
    /// Helm values file, relative to the repository (or directory) root; repeat for several,
    /// later ones win.
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<String>,
    /// Pull the chart from this chart repository (https://…) or OCI registry (oci://…)
    /// instead of reading it from the path; needs --chart-version.
    #[arg(long, value_name = "URL")]
    pub helm_repo: Option<String>,
    /// The chart's name in --helm-repo (for oci://, optional: the URL's last element).
    #[arg(long, value_name = "NAME", requires = "helm_repo")]
    pub chart: Option<String>,
    /// The chart's exact version (like 1.2.3; ranges are refused).
    #[arg(long, value_name = "VERSION", requires = "helm_repo")]
    pub chart_version: Option<String>,
    /// User for --helm-repo (with --helm-password-file).
    #[arg(long, value_name = "USER", requires = "helm_password_file")]
    pub helm_username: Option<String>,
    /// File holding the password or token for --helm-repo.
    #[arg(long, value_name = "FILE", requires = "helm_username")]
    pub helm_password_file: Option<PathBuf>,
    /// Talk plain HTTP to an oci:// registry (a local or test registry).
    #[arg(long, requires = "helm_repo")]
    pub helm_plain_http: bool,
    /// Make the namespace (--namespace) as part of the app, as Argo CD's CreateNamespace=true
    /// does; a Namespace of that name in the repository is then refused. Per app:
    /// createNamespace: true, with managedNamespaceMetadata.
    #[arg(long)]
    pub create_namespace: bool,
    /// The Kubernetes version Helm renders for (`.Capabilities.KubeVersion`, a chart's
    /// `kubeVersion`), like v1.29.0. Default: the cluster's with one (diff, sync), else the
    /// newest ordo is built for (v1.34.0), not Helm's offline v1.20.
    #[arg(long, value_name = "VERSION", value_parser = kube_version_arg)]
    pub kube_version: Option<String>,
    /// Where git repositories are cached.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// HTTP user for git (with --password-file).
    #[arg(long)]
    pub username: Option<String>,
    /// File holding the git HTTP password or token.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Private key for ssh:// and git@host:path remotes.
    #[arg(long, value_name = "FILE")]
    pub ssh_key_file: Option<PathBuf>,
    /// known_hosts for SSH remotes (default ~/.ssh/known_hosts).
    #[arg(long, value_name = "FILE")]
    pub known_hosts_file: Option<PathBuf>,
    /// Key file that opens SOPS-encrypted files: `AGE-SECRET-KEY-1…` lines and/or armored
    /// OpenPGP secret keys without passphrase; they are decrypted in memory. With --config,
    /// the app's decryption.keyFile comes first.
    #[arg(long, value_name = "FILE", env = crate::decrypt::KEY_FILE_ENV)]
    pub decryption_key_file: Option<PathBuf>,
    /// Signers file (git's allowed_signers lines and/or armored OpenPGP public keys): the git
    /// commit read must be signed by one of its keys, else nothing is planned or applied.
    /// With --config, the app's verify.signers comes first.
    #[arg(long, value_name = "FILE")]
    pub verify_signers: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OrderingArg {
    Tiers,
    Graph,
}

/// A loaded plan and where it came from.
pub struct Loaded {
    pub plan: Plan,
    pub source: PlanSource,
    /// The commit SHA, or for a directory a hash of its files: what hooks key on.
    pub revision: String,
    /// What its SOPS files decrypted to: cut out of `ordo diff` as the agent cuts it out of
    /// its diffs.
    pub secrets: std::sync::Arc<crate::render::Secrets>,
}

/// Reads, loads and plans, with config hashes for display only (the public key: `ordo plan`
/// has no cluster to read the install's key from). Errors are one line for the user.
pub fn load(args: &InputArgs) -> Result<Loaded, String> {
    load_for(args, || Ok(ConfigHashKey::display()), || None)
}

/// Like [`load`], rendering a Helm chart for the cluster `capabilities` describes (its version
/// and API versions, for `.Capabilities`), as the agent does; asked only for Helm sources.
pub fn load_for(
    args: &InputArgs,
    key: impl FnOnce() -> Result<ConfigHashKey, String>,
    capabilities: impl FnOnce() -> Option<(String, Vec<String>)>,
) -> Result<Loaded, String> {
    if args.from_config.is_none() && source::has_password(&args.source) {
        return Err(format!(
            "{} carries a password: remove it from the URL and pass it with --password-file \
             (and the user with --username), so it stays out of shell history and process lists",
            source::without_user_info(&args.source)
        ));
    }
    let (snapshot, location, mut options) = read_input(args)?;
    if options.kind == SourceKind::Helm
        && let Some((version, apis)) = capabilities()
    {
        // --kube-version (or the app's helm.kubeVersion) wins over the cluster's.
        options.helm.kube_version.get_or_insert(version);
        options.helm.api_versions = apis;
    }
    let revision = match &snapshot.commit {
        Some(c) => c.sha.clone(),
        None => content_hash(&snapshot),
    };
    check_signature(args, &snapshot)?;
    // An app whose keys are in a Secret (decryption.secretRef) is decrypted by the agent; the
    // CLI takes the key file it is given.
    let key_file = match &args.from_config {
        Some(app) if app.decryption_key_file().is_some() => app.decryption_key_file(),
        _ => args.decryption_key_file.as_deref(),
    };
    let decrypted = decrypt::for_render(&snapshot.files, &app_path(args), &options, key_file)
        .map_err(|e| e.to_string())?;
    let renderer = Renderer::new(Tools::from_env());
    let files = renderer
        .render(&RenderRequest {
            files: &decrypted,
            app_path: &app_path(args),
            namespace: &args.namespace,
            options: &options,
            secret_values: decrypted.secret_values(),
        })
        .map_err(|e| match e {
            render::RenderError::PathOutside { .. } if args.from_config.is_none() => format!(
                "{e} (the directory given is read as the repository root: give the directory \
                 holding the bases too, and the overlay with --path)"
            ),
            e => e.to_string(),
        })?;
    // A loader or planner may quote a decrypted value; none reaches the terminal or CI log.
    let scrub = |e: &dyn std::fmt::Display| decrypted.secrets().scrub(&e.to_string());
    decrypt::refuse_ciphertext(&files, &options).map_err(|e| scrub(&e))?;
    let mut objects = manifest::load(&files, &args.namespace).map_err(|e| scrub(&e))?;
    let from_config = args
        .from_config
        .as_ref()
        .and_then(|a| a.create_namespace.clone());
    if let Some(metadata) = from_config.or_else(|| args.create_namespace.then(Default::default)) {
        manifest::add_namespace(&mut objects, &args.namespace, &metadata).map_err(|e| scrub(&e))?;
    }
    let ordering = match args.ordering {
        OrderingArg::Tiers => Ordering::Tiers,
        OrderingArg::Graph => Ordering::Graph,
    };
    // The key is asked for only when a workload reads config: a sync with nothing to hash
    // needs no right on the key's Secret.
    let unkeyed = plan::build(objects.clone(), ordering).map_err(|e| scrub(&e))?;
    let plan = if unkeyed.objects.iter().any(|p| p.config_hash.is_some()) {
        plan::build_keyed(objects, ordering, &key()?).map_err(|e| scrub(&e))?
    } else {
        unkeyed
    };
    Ok(Loaded {
        plan,
        source: PlanSource {
            location,
            revision: snapshot.commit,
        },
        revision,
        secrets: std::sync::Arc::new(decrypted.secrets().clone()),
    })
}

/// With --verify-signers (or the app's verify.signers), refuses a commit that no key of the
/// signers file signed, before anything is decrypted, rendered or applied.
fn check_signature(args: &InputArgs, snapshot: &Snapshot) -> Result<(), String> {
    let configured = args
        .from_config
        .as_ref()
        .and_then(|app| app.verify.as_ref())
        .map(|v| v.signers.as_path());
    let Some(signers) = configured.or(args.verify_signers.as_deref()) else {
        return Ok(());
    };
    let Some(commit) = &snapshot.commit else {
        return Err(format!(
            "--verify-signers checks a git commit's signature, and {} is a directory: give a \
             repository (with --ref), or leave --verify-signers out",
            args.source
        ));
    };
    let verdict = verify::commit(snapshot, signers).map_err(|e| e.to_string())?;
    if verdict.is_trusted() {
        return Ok(());
    }
    Err(format!(
        "untrusted commit {}: {verdict}; only commits signed by a key of {} are accepted",
        commit.sha,
        signers.display()
    ))
}

/// With --config, takes everything about the source from the app named `app`.
pub fn resolve(args: &mut InputArgs, app: Option<&str>) -> Result<(), String> {
    let Some(path) = &args.config else {
        return Ok(());
    };
    let config = crate::config::load(path).map_err(|e| e.to_string())?;
    let names = || {
        config
            .apps
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(name) = app else {
        return Err(format!(
            "--config needs --app to say which app of {} (apps: {})",
            path.display(),
            names()
        ));
    };
    let Some(found) = config.app(name) else {
        return Err(format!(
            "no app {name:?} in {} (apps: {})",
            path.display(),
            names()
        ));
    };
    args.source = found.repo.clone();
    args.reference = Some(found.reference.clone());
    args.path = found.path.clone();
    args.namespace = found.namespace.clone();
    args.ordering = match found.ordering {
        Ordering::Tiers => OrderingArg::Tiers,
        Ordering::Graph => OrderingArg::Graph,
    };
    if args.cache_dir.is_none() {
        args.cache_dir = config.cache_dir.clone();
    }
    args.from_config = Some(found.clone());
    Ok(())
}

fn app_path(args: &InputArgs) -> String {
    match &args.from_config {
        Some(app) => app.path.clone(),
        None => args.path.clone(),
    }
}

/// `--kube-version` as Helm takes it: `v1.29.0`, `1.29.0` or `v1.29`.
fn kube_version_arg(value: &str) -> Result<String, String> {
    crate::render::check_kube_version(value).map(|()| value.to_owned())
}

fn render_options(args: &InputArgs) -> Result<RenderOptions, String> {
    if let Some(app) = &args.from_config {
        let mut options = app.render_options();
        if args.kube_version.is_some() {
            options.helm.kube_version = args.kube_version.clone();
        }
        return Ok(options);
    }
    let remote = remote_chart(args)?;
    let kind = match (&remote, args.source_kind) {
        (Some(_), SourceKind::Auto | SourceKind::Helm) => SourceKind::Helm,
        (Some(_), other) => {
            return Err(format!(
                "--helm-repo pulls a Helm chart, and --source says {other}; leave --source \
                 out or say helm"
            ));
        }
        (None, kind) => kind,
    };
    Ok(RenderOptions {
        kind,
        helm: HelmOptions {
            release_name: args.release_name.clone().unwrap_or_default(),
            value_files: args.values.clone(),
            kube_version: args.kube_version.clone(),
            remote,
            ..HelmOptions::default()
        },
        ..RenderOptions::default()
    })
}

/// The chart of --helm-repo, checked as the config file's `helm.repoURL` is.
fn remote_chart(args: &InputArgs) -> Result<Option<RemoteChart>, String> {
    let Some(url) = &args.helm_repo else {
        return Ok(None);
    };
    let Some(version) = &args.chart_version else {
        return Err(format!(
            "--helm-repo {url} needs --chart-version: an exact version (like 1.2.3)"
        ));
    };
    let mut remote = RemoteChart::new(url, args.chart.as_deref(), version)
        .map_err(|e| format!("--helm-repo: {e}"))?;
    remote.username = args.helm_username.clone();
    remote.password_file = args.helm_password_file.clone();
    remote.plain_http = args.helm_plain_http;
    if remote.plain_http && remote.kind() != RepoKind::Oci {
        return Err("--helm-plain-http only applies to an oci:// registry".to_owned());
    }
    Ok(Some(remote))
}

/// Reads what the source kind needs: the selected manifest files for a directory, the whole
/// tree for kustomize and helm (a kustomization or chart may read any file of it). For `auto`,
/// first only the marker files at the app path, then the rest from the same commit.
fn read_input(args: &InputArgs) -> Result<(Snapshot, String, RenderOptions), String> {
    let mut options = render_options(args)?;
    if args.from_config.is_none() && args.source.is_empty() {
        // A chart from --helm-repo with nothing from git or a directory: no values files.
        let location = options
            .helm
            .remote
            .as_ref()
            .map(|r| r.location())
            .unwrap_or_default();
        return Ok((Snapshot::default(), location, options));
    }
    let path = app_path(args);
    let directory = match &args.from_config {
        Some(app) => app.selection(),
        None => {
            let mut selection = Selection::at(path.clone());
            if !args.include.is_empty() {
                selection.include = args.include.clone();
            }
            selection.exclude = args.exclude.clone();
            selection
        }
    };
    let mut location = String::new();
    let snapshot = render::read_source(&path, directory, &mut options, |selection, pinned| {
        let (snapshot, at) = read(args, selection, pinned)?;
        location = at;
        Ok(snapshot)
    })
    .map_err(|e: source::SourceError| e.to_string())?;
    Ok((snapshot, location, options))
}

/// A plain directory is read as is unless a revision is asked for; anything else is git.
/// `pinned` replaces the ref with a commit already resolved.
fn read(
    args: &InputArgs,
    selection: &Selection,
    pinned: Option<String>,
) -> Result<(Snapshot, String), source::SourceError> {
    if let Some(app) = &args.from_config {
        let cache = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
        let mut spec = app.repo_spec();
        if let Some(sha) = pinned {
            spec.reference = sha;
        }
        let shown = source::without_user_info(&app.repo);
        return Ok((source::fetch(&spec, &cache, selection)?, shown));
    }
    let local = Path::new(&args.source);
    if local.is_dir() && args.reference.is_none() {
        return Ok((source::read_dir(local, selection)?, args.source.clone()));
    }
    let mut spec = RepoSpec::new(
        args.source.clone(),
        pinned
            .or_else(|| args.reference.clone())
            .unwrap_or_default(),
    );
    spec.credentials.username = args.username.clone();
    spec.credentials.password = args.password_file.clone().map(source::Secret::File);
    spec.credentials.ssh_key_file = args.ssh_key_file.clone();
    spec.credentials.known_hosts_file = args.known_hosts_file.clone();
    let cache = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    Ok((
        source::fetch(&spec, &cache, selection)?,
        source::without_user_info(&args.source),
    ))
}

fn content_hash(snapshot: &Snapshot) -> String {
    let mut hasher = Sha256::new();
    for file in &snapshot.files {
        hasher.update(file.path.as_bytes());
        hasher.update([0]);
        hasher.update(&file.data);
    }
    hasher
        .finalize()
        .iter()
        .take(10)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The app name for a source when none is given: the directory's or repository's last name.
pub fn default_app_name(args: &InputArgs) -> String {
    let base = if args.path.is_empty() {
        &args.source
    } else {
        &args.path
    };
    let name = base
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("app")
        .to_ascii_lowercase();
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('-');
    if cleaned.is_empty() {
        "app".to_owned()
    } else {
        cleaned.to_owned()
    }
}
