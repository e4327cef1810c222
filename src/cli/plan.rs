//! `ordo plan`: source -> manifests -> plan -> text or JSON. No cluster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{EXIT_BAD_INPUT, default_cache_dir};
use crate::manifest;
use crate::plan::render::{self, PlanSource};
use crate::plan::{self, Ordering};
use crate::source::{self, RepoSpec, Selection, Snapshot};

pub const AFTER_HELP: &str = "\
Tiers come from, in this order: the ordo.dev/tier annotation, the app.kubernetes.io/component
label, the kind, the container images, and a default (backend). Dependencies come from pod
templates (envFrom, valueFrom, volumes, service accounts), Service names found in env values,
args and mounted ConfigMaps, Ingress backends, HPA targets, bindings, storage classes,
namespaces, CRDs, monitors, ordo.dev/depends-on and argocd.argoproj.io/sync-wave.

Exit codes: 0 the plan was built, 2 bad input (the error names file, document and field).

Examples:
  ordo plan examples/travel-app
  ordo plan examples/travel-app -o json | jq '.steps[] | {step, id, tier}'
  ordo plan ./deploy-repo --ref v1.4.0 --path apps/travel --namespace staging";

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A directory of manifests, or a git repository (URL or local path with --ref/--path).
    pub source: String,
    /// Branch, tag or full commit SHA to plan (git sources; default: the remote's HEAD).
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
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
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
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OrderingArg {
    Tiers,
    Graph,
}

pub fn run(args: PlanArgs) -> ExitCode {
    match plan(&args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn plan(args: &PlanArgs) -> Result<String, String> {
    let (snapshot, location) = read_source(args).map_err(|e| e.to_string())?;
    let objects = manifest::load(&snapshot.files, &args.namespace).map_err(|e| e.to_string())?;
    let ordering = match args.ordering {
        OrderingArg::Tiers => Ordering::Tiers,
        OrderingArg::Graph => Ordering::Graph,
    };
    let plan = plan::build(objects, ordering).map_err(|e| e.to_string())?;
    let source = PlanSource {
        location,
        revision: snapshot.commit,
    };
    Ok(match args.output {
        Output::Text => render::to_text(&plan, &source),
        Output::Json => render::to_json(&plan, &source) + "\n",
    })
}

/// A plain directory is read as is unless a git option asks for a revision; anything else is
/// a git remote.
fn read_source(args: &PlanArgs) -> Result<(Snapshot, String), source::SourceError> {
    let mut selection = Selection::at(args.path.clone());
    if !args.include.is_empty() {
        selection.include = args.include.clone();
    }
    selection.exclude = args.exclude.clone();
    let local = Path::new(&args.source);
    if local.is_dir() && args.reference.is_none() {
        return Ok((source::read_dir(local, &selection)?, args.source.clone()));
    }
    let mut spec = RepoSpec::new(
        args.source.clone(),
        args.reference.clone().unwrap_or_default(),
    );
    spec.credentials.username = args.username.clone();
    spec.credentials.password = args.password_file.clone().map(source::Secret::File);
    spec.credentials.ssh_key_file = args.ssh_key_file.clone();
    spec.credentials.known_hosts_file = args.known_hosts_file.clone();
    let cache = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let snapshot = source::fetch(&spec, &cache, &selection)?;
    Ok((snapshot, args.source.clone()))
}
