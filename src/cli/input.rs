//! What `plan`, `diff` and `sync` read: a directory or a git revision, turned into a plan.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use clap::{Args, ValueEnum};

use super::plan_output::PlanSource;
use super::{CliError, default_cache_dir};
use crate::config::AppConfig;
use crate::pass::{
    AppSpec, GivenBy, HelmOptions, Keys, Origin, PassError, Reader, RemoteChart, RenderOptions,
    Renderer, RepoKind, Secrets, SourceKind, Target, Tools,
};
use crate::plan::{Ordering, Plan};
use crate::source::{self, RepoSpec, Selection};

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
    #[arg(long, value_name = "FILE", env = crate::pass::KEY_FILE_ENV)]
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
    pub secrets: Arc<Secrets>,
}

/// Reads, loads and plans through the pass the agent runs. Without `target` (`ordo plan`),
/// config hashes are for display only (the public key: there is no cluster to read the
/// install's key from) and Helm renders for ordo's newest Kubernetes; with one, as a sync
/// of the agent would.
pub async fn load(args: &InputArgs, target: Option<Target>) -> Result<Loaded, PassError> {
    let spec = spec(args)?;
    let reader = Reader {
        renderer: Arc::new(Renderer::new(Tools::from_env())),
        target,
    };
    let read = reader.read(&spec, None, None).await?;
    let source = PlanSource {
        location: read.location.clone(),
        revision: read.commit.clone(),
    };
    let revision = read.revision.clone();
    let (plan, secrets) = read.into_plan()?;
    Ok(Loaded {
        plan,
        source,
        revision,
        secrets,
    })
}

/// The app the flags describe, or the app of --config (with --kube-version and
/// --decryption-key-file on top).
pub fn spec(args: &InputArgs) -> Result<AppSpec, PassError> {
    let cache_dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    if let Some(app) = &args.from_config {
        let mut spec = AppSpec::from_config(app, &cache_dir);
        if args.kube_version.is_some() {
            spec.render.helm.kube_version = args.kube_version.clone();
        }
        // A key file given on the command line opens what the app's Secret would: the
        // Secret is read only by commands that have a cluster.
        if let (Keys::None | Keys::Secret(_), Some(file)) = (&spec.keys, &args.decryption_key_file)
        {
            spec.keys = Keys::File(file.clone());
        }
        if spec.signers.is_none() {
            spec.signers = args.verify_signers.clone();
        }
        return Ok(spec);
    }
    if source::has_password(&args.source) {
        return Err(PassError::input(format!(
            "{} carries a password: remove it from the URL and pass it with --password-file \
             (and the user with --username), so it stays out of shell history and process lists",
            source::without_user_info(&args.source)
        )));
    }
    let mut selection = Selection::at(args.path.clone());
    if !args.include.is_empty() {
        selection.include = args.include.clone();
    }
    selection.exclude = args.exclude.clone();
    Ok(AppSpec {
        name: default_app_name(args),
        origin: origin(args),
        path: args.path.clone(),
        selection,
        namespace: args.namespace.clone(),
        ordering: match args.ordering {
            OrderingArg::Tiers => Ordering::Tiers,
            OrderingArg::Graph => Ordering::Graph,
        },
        render: render_options(args)?,
        create_namespace: args.create_namespace.then(Default::default),
        keys: match &args.decryption_key_file {
            Some(file) => Keys::File(file.clone()),
            None => Keys::None,
        },
        signers: args.verify_signers.clone(),
        cache_dir,
        given_by: GivenBy::Flags,
    })
}

/// A plain directory is read as it is unless a revision is asked for; anything else is git.
fn origin(args: &InputArgs) -> Origin {
    if args.source.is_empty() {
        // A chart from --helm-repo with nothing from git or a directory.
        return Origin::Nothing;
    }
    let local = Path::new(&args.source);
    if local.is_dir() && args.reference.is_none() {
        return Origin::Directory(local.to_path_buf());
    }
    let mut spec = RepoSpec::new(
        args.source.clone(),
        args.reference.clone().unwrap_or_default(),
    );
    spec.credentials.username = args.username.clone();
    spec.credentials.password = args.password_file.clone().map(source::Secret::File);
    spec.credentials.ssh_key_file = args.ssh_key_file.clone();
    spec.credentials.known_hosts_file = args.known_hosts_file.clone();
    Origin::Git(spec)
}

/// With --config, takes everything about the source from the app named `app`.
pub fn resolve(args: &mut InputArgs, app: Option<&str>) -> Result<(), PassError> {
    let Some(path) = &args.config else {
        return Ok(());
    };
    let config = crate::config::load(path).map_err(|e| PassError::input(e.to_string()))?;
    let names = || {
        config
            .apps
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(name) = app else {
        return Err(PassError::input(format!(
            "--config needs --app to say which app of {} (apps: {})",
            path.display(),
            names()
        )));
    };
    let Some(found) = config.app(name) else {
        return Err(PassError::input(format!(
            "no app {name:?} in {} (apps: {})",
            path.display(),
            names()
        )));
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

/// `--kube-version` as Helm takes it: `v1.29.0`, `1.29.0` or `v1.29`.
fn kube_version_arg(value: &str) -> Result<String, CliError> {
    crate::pass::check_kube_version(value)
        .map(|()| value.to_owned())
        .map_err(CliError::Usage)
}

fn render_options(args: &InputArgs) -> Result<RenderOptions, PassError> {
    let remote = remote_chart(args)?;
    let kind = match (&remote, args.source_kind) {
        (Some(_), SourceKind::Auto | SourceKind::Helm) => SourceKind::Helm,
        (Some(_), other) => {
            return Err(PassError::input(format!(
                "--helm-repo pulls a Helm chart, and --source says {other}; leave --source \
                 out or say helm"
            )));
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
fn remote_chart(args: &InputArgs) -> Result<Option<RemoteChart>, PassError> {
    let Some(url) = &args.helm_repo else {
        return Ok(None);
    };
    let Some(version) = &args.chart_version else {
        return Err(PassError::input(format!(
            "--helm-repo {url} needs --chart-version: an exact version (like 1.2.3)"
        )));
    };
    let mut remote = RemoteChart::new(url, args.chart.as_deref(), version)
        .map_err(|e| PassError::input(format!("--helm-repo: {e}")))?;
    remote.username = args.helm_username.clone();
    remote.password_file = args.helm_password_file.clone();
    remote.plain_http = args.helm_plain_http;
    if remote.plain_http && remote.kind() != RepoKind::Oci {
        return Err(PassError::input(
            "--helm-plain-http only applies to an oci:// registry",
        ));
    }
    Ok(Some(remote))
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
