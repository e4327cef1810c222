//! Turning an app's source into manifest files: a plain directory as it is, a Kustomize
//! overlay through `kustomize build`, a Helm chart through `helm template`.
//!
//! Sits between `source` (which reads the files of a revision) and `manifest` (which parses
//! them). The real tools run as subprocesses, like Argo CD's repo server: no Rust
//! re-implementation renders byte for byte what users get from the tools themselves. Each run
//! is contained (see `sandbox`) and remembered by its inputs (see `cache`).
//!
//! Provenance: every rendered file's `path` says where its objects came from, so manifest
//! errors and `ordo plan` point there: `overlays/prod (kustomize)` for a Kustomize render (the
//! app path, `.` for the repository root), `mychart/templates/deployment.yaml (helm)` for a
//! Helm render (the `# Source:` helm prints). A plain directory keeps its files' own paths.
//!
//! Tools are found by an explicit path ([`Tools`], which [`Tools::from_env`] fills from
//! `ORDO_KUSTOMIZE` and `ORDO_HELM`), else as `kustomize` / `helm` on PATH.

mod cache;
mod confine;
mod error;
mod helm;
mod inputs;
mod kustomize;
mod reach;
mod remote;
mod sandbox;
mod scratch;
mod scrub;
mod substitute;
mod values;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

pub use cache::{CAPACITY as CACHE_CAPACITY, key as cache_key};
pub use error::{RenderError, Tool};
pub use helm::split_output as split_helm_output;
pub use remote::{RemoteChart, RepoKind, check_exact_version};
pub use scratch::{SCRATCH_ENV, check_env as check_scratch_env};
pub use scrub::{REDACTED, Secrets};
pub use substitute::is_variable_name;
pub use values::SecretValues;

use crate::source::{Selection, Snapshot, SourceFile};

/// What kind of source an app is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Kustomize when the app path holds a kustomization, Helm when it holds `Chart.yaml`,
    /// else a directory.
    #[default]
    Auto,
    Directory,
    Kustomize,
    Helm,
}

impl SourceKind {
    pub const ALL: [SourceKind; 4] = [
        SourceKind::Auto,
        SourceKind::Directory,
        SourceKind::Kustomize,
        SourceKind::Helm,
    ];
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceKind::Auto => "auto",
            SourceKind::Directory => "directory",
            SourceKind::Kustomize => "kustomize",
            SourceKind::Helm => "helm",
        })
    }
}

/// The file names `kustomize build` looks for, in its order.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Which kind the app at `app_path` is, from the repository-relative paths of the tree. A
/// kustomization wins over a `Chart.yaml` beside it: such a directory is a Kustomize app
/// that happens to hold a chart (kustomize's own `helmCharts` needs no Chart.yaml there).
pub fn detect<'a>(app_path: &str, paths: impl IntoIterator<Item = &'a str>) -> SourceKind {
    let dir = app_dir(app_path);
    let (mut chart, mut nested) = (false, false);
    for path in paths {
        let name = if dir.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(dir.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
        };
        match name {
            Some(name) if KUSTOMIZATION_FILES.contains(&name) => return SourceKind::Kustomize,
            Some("Chart.yaml") => chart = true,
            Some(name) => {
                let file = name.rsplit('/').next().unwrap_or(name);
                nested |= name.contains('/') && KUSTOMIZATION_FILES.contains(&file);
            }
            None => {}
        }
    }
    if chart {
        SourceKind::Helm
    } else if nested {
        // Kustomizations below, none at the path: Flux's kustomize-controller generates one
        // (kustomize/generate.rs), and ordo builds it the same way.
        SourceKind::Kustomize
    } else {
        SourceKind::Directory
    }
}

/// Only the files [`detect`] looks at: a read that cannot hit the size limits, to learn the
/// kind before deciding how much of the tree to read.
pub fn marker_selection(app_path: &str) -> Selection {
    Selection {
        path: app_path.to_owned(),
        include: KUSTOMIZATION_FILES
            .iter()
            .chain(&["Chart.yaml"])
            .map(|name| (*name).to_owned())
            // Kustomizations below the path too: with none at the path, they make it a
            // kustomization as Flux generates it.
            .chain(KUSTOMIZATION_FILES.iter().map(|name| format!("**/{name}")))
            .collect(),
        ..Selection::default()
    }
}

/// Reads what `options.kind` needs through `read` (a selection, and a commit to pin it to):
/// the app's own selection for a directory; for Kustomize and Helm, the tree's kustomizations
/// and charts first, then the directories the render reaches (see `reach.rs`). For `Auto`,
/// first only the marker files at the app path, then the rest from the same commit; the kind
/// found is written into `options`. Shared by `ordo plan|diff|sync` and the agent, so both
/// read a repository the same way.
pub async fn read_source<E, F>(
    app_path: &str,
    directory: Selection,
    options: &mut RenderOptions,
    mut read: impl FnMut(Selection, Option<String>) -> F,
) -> Result<Snapshot, E>
where
    F: std::future::Future<Output = Result<Snapshot, E>>,
{
    let mut pinned = None;
    if options.kind == SourceKind::Auto && options.helm.remote.is_some() {
        // A chart from a repository is Helm whatever the path holds (values files only).
        options.kind = SourceKind::Helm;
    }
    if options.kind == SourceKind::Auto {
        let found = read(marker_selection(app_path), None).await?;
        options.kind = detect(app_path, found.files.iter().map(|f| f.path.as_str()));
        // The next read must see the commit the first one detected on.
        pinned = found.commit.map(|c| c.sha);
    }
    match options.kind {
        SourceKind::Auto | SourceKind::Directory => read(directory, pinned).await,
        // A kustomization (`../base`) or a chart (`file://` dependencies, values files) may
        // read anywhere in the repository: what it reaches is worked out from the tree's
        // kustomizations and charts first, then only that is read.
        SourceKind::Kustomize | SourceKind::Helm => {
            let markers = read(reach::markers(directory.limits), pinned).await?;
            let reached = reach::selection(
                options.kind,
                app_path,
                &markers.files,
                &options.helm.value_files,
                directory.limits,
            );
            read(reached, markers.commit.map(|c| c.sha)).await
        }
    }
}

/// The app path as the tree names directories: no leading, trailing or doubled '/', no "."
/// parts; "" is the root.
pub(crate) fn app_dir(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// How errors and provenance name the app path.
pub(crate) fn app_label(path: &str) -> String {
    let dir = app_dir(path);
    if dir.is_empty() { ".".to_owned() } else { dir }
}

/// The Kubernetes version Helm renders for when neither the app nor a cluster says: the newest
/// one ordo is built for (the `k8s-openapi` feature), not Helm's offline default (v1.20),
/// which charts with `kubeVersion: ">=1.23.0-0"` refuse.
pub const KUBE_VERSION: &str = "v1.34.0";

/// Checks a Kubernetes version as Helm's `--kube-version` takes it: `v1.29.0`, `1.29.0`,
/// `v1.29`; the error says what to write.
pub fn check_kube_version(value: &str) -> Result<(), String> {
    let numbers = value.strip_prefix('v').unwrap_or(value);
    let parts: Vec<&str> = numbers.split('.').collect();
    let valid = (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a Kubernetes version; write it like v1.29.0 or v1.29"
        ))
    }
}

/// How a render of any kind is run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenderOptions {
    pub kind: SourceKind,
    pub helm: HelmOptions,
    pub kustomize: KustomizeOptions,
    /// `postBuild: {substitute}`: Flux's variables, replaced in the rendered YAML (see
    /// `substitute.rs`); empty: nothing is substituted.
    pub substitute: std::collections::BTreeMap<String, String>,
    pub limits: RenderLimits,
}

/// `helm template` inputs besides the chart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HelmOptions {
    /// "" means the last part of the app path (or `release` at the root).
    pub release_name: String,
    /// Repository-relative values files, passed in order with `-f`.
    pub value_files: Vec<String>,
    /// Inline values, passed last so they win.
    pub values: Option<serde_json::Value>,
    /// `--kube-version`, for `.Capabilities.KubeVersion` and a chart's `kubeVersion`
    /// constraint: the app's `helm.kubeVersion` (or `--kube-version`), else the cluster's,
    /// else [`KUBE_VERSION`].
    pub kube_version: Option<String>,
    /// `--api-versions`, for `.Capabilities.APIVersions.Has`.
    pub api_versions: Vec<String>,
    /// A chart pulled from a chart repository or an OCI registry instead of the app path;
    /// the repository then only holds the values files.
    pub remote: Option<RemoteChart>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KustomizeOptions {
    /// Let `resources:` name remote bases (git or HTTP); off because a remote base is code
    /// from outside the repository that the commit does not pin.
    pub allow_remote_bases: bool,
}

/// Bounds on one tool run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    pub timeout: Duration,
    pub max_output_bytes: u64,
    /// The tool's data memory (`RLIMIT_DATA`): a runaway render fails by itself (an
    /// allocation error, named) instead of growing until the pod's limit (512 MiB in the
    /// chart) kills the agent with it. Real charts and overlays render in well under it.
    pub max_memory_bytes: u64,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits {
            timeout: Duration::from_secs(60),
            max_output_bytes: 64 * 1024 * 1024,
            max_memory_bytes: 256 * 1024 * 1024,
        }
    }
}

/// One render: the whole tree (repository-relative files) and where the app sits in it.
#[derive(Debug, Clone, Copy)]
pub struct RenderRequest<'a> {
    /// For [`SourceKind::Directory`], the selected manifest files; for the tools, the whole
    /// tree, since a kustomization or chart may read files anywhere in it.
    pub files: &'a [SourceFile],
    pub app_path: &'a str,
    /// Namespace for `helm template --namespace`.
    pub namespace: &'a str,
    pub options: &'a RenderOptions,
    /// SOPS-encrypted Helm values files, decrypted (`decrypt::for_render`): given to helm on
    /// its standard input in their place, while `files` keeps them encrypted, so neither the
    /// sandbox nor the cache key ever holds their cleartext.
    pub secret_values: Option<&'a SecretValues>,
}

/// Where the tools are; `None` means "look on PATH".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tools {
    pub kustomize: Option<PathBuf>,
    pub helm: Option<PathBuf>,
}

impl Tools {
    /// `ORDO_KUSTOMIZE` and `ORDO_HELM` when set (and not empty), else PATH.
    pub fn from_env() -> Tools {
        let var = |tool: Tool| {
            std::env::var_os(tool.env_var())
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Tools {
            kustomize: var(Tool::Kustomize),
            helm: var(Tool::Helm),
        }
    }

    /// The binary to run. Resolved here, against ordo's own PATH, because the tool itself
    /// runs with a PATH that holds nothing.
    fn locate(&self, tool: Tool, app: &str) -> Result<PathBuf, RenderError> {
        let explicit = match tool {
            Tool::Kustomize => &self.kustomize,
            Tool::Helm => &self.helm,
        };
        let not_found = |looked: String| RenderError::ToolNotFound {
            tool,
            app: app.to_owned(),
            looked,
        };
        if let Some(path) = explicit {
            return if path.is_file() {
                Ok(path.clone())
            } else {
                Err(not_found(format!("{} is not a file", path.display())))
            };
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(tool.name()))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| not_found(format!("not on PATH, and {} is not set", tool.env_var())))
    }
}

/// The repository files a render's result depends on: all of them for a chart or overlay in
/// git (a kustomization or chart may read anywhere in it), only the values files for a remote
/// chart, whose other inputs (repository, chart, exact version) are in the options. A commit
/// touching other files then renders nothing new and pulls nothing. An exact version is
/// taken as immutable, as Argo CD and Flux take it; a registry could re-push one, which only
/// a digest pin would catch.
fn keyed_files<'a>(request: &RenderRequest<'a>, tool: Tool) -> Cow<'a, [SourceFile]> {
    let helm = &request.options.helm;
    if helm.remote.is_none() || tool != Tool::Helm {
        return Cow::Borrowed(request.files);
    }
    let wanted = |path: &str| {
        helm.value_files
            .iter()
            .any(|v| v.trim_start_matches("./") == path)
    };
    Cow::Owned(
        request
            .files
            .iter()
            .filter(|f| wanted(&f.path))
            .cloned()
            .collect(),
    )
}

/// Renders apps, remembering the last [`CACHE_CAPACITY`] renders. Shared by every app of an
/// agent (it is `Sync`); renders of different apps may run at once.
#[derive(Default)]
pub struct Renderer {
    tools: Tools,
    cache: Mutex<cache::RenderCache>,
    /// Tool version strings by binary path and modification time, so a replaced binary is
    /// asked again.
    versions: Mutex<HashMap<(PathBuf, Option<SystemTime>), String>>,
}

impl Renderer {
    pub fn new(tools: Tools) -> Self {
        Renderer {
            tools,
            ..Renderer::default()
        }
    }

    /// The manifest files of the app: the input files unchanged for a directory, the tool's
    /// output (with provenance paths) for Kustomize and Helm; then the app's `postBuild`
    /// variables substituted, as Flux does after its build.
    pub fn render(&self, request: &RenderRequest) -> Result<Vec<SourceFile>, RenderError> {
        let files = self.build(request)?;
        if request.options.substitute.is_empty() {
            return Ok(files);
        }
        substitute::substitute(files, &request.options.substitute)
    }

    fn build(&self, request: &RenderRequest) -> Result<Vec<SourceFile>, RenderError> {
        let files = request.files.iter().map(|f| f.path.as_str());
        let kind = match request.options.kind {
            SourceKind::Auto if request.options.helm.remote.is_some() => SourceKind::Helm,
            SourceKind::Auto => detect(request.app_path, files),
            kind => kind,
        };
        let tool = match kind {
            SourceKind::Auto | SourceKind::Directory => return Ok(request.files.to_vec()),
            SourceKind::Kustomize => Tool::Kustomize,
            SourceKind::Helm => Tool::Helm,
        };
        let app = app_label(request.app_path);
        let program = self.tools.locate(tool, &app)?;
        let version = self.version(tool, &program, &app, &request.options.limits)?;
        let inputs = inputs::select(
            request.files,
            kind,
            request.app_path,
            &request.options.helm.value_files,
            request.options.kustomize.allow_remote_bases,
        )?;
        let request = &RenderRequest {
            files: &inputs,
            ..*request
        };
        let key = cache::key(
            &keyed_files(request, tool),
            request.app_path,
            request.namespace,
            request.options,
            &version,
        );
        if let Some(hit) = self.lock_cache().get(&key) {
            return Ok(hit.as_ref().clone());
        }
        let rendered = match tool {
            Tool::Kustomize => kustomize::render(request, &program),
            Tool::Helm => helm::render(request, &program),
        }
        // helm prints what a template's `fail` is given: never a decrypted value.
        .map_err(|e| match request.secret_values {
            Some(values) => e.scrubbed(values.secrets()),
            None => e,
        })?;
        self.lock_cache().put(key, Arc::new(rendered.clone()));
        Ok(rendered)
    }

    /// How many renders are remembered (for tests and metrics).
    pub fn cached(&self) -> usize {
        self.lock_cache().len()
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, cache::RenderCache> {
        // A poisoned lock only means a render panicked; the entries are still whole.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn version(
        &self,
        tool: Tool,
        program: &Path,
        app: &str,
        limits: &RenderLimits,
    ) -> Result<String, RenderError> {
        let modified = std::fs::metadata(program).and_then(|m| m.modified()).ok();
        let id = (program.to_path_buf(), modified);
        // Held while asking the tool: only the first render per binary waits on it, and
        // renders started together then ask once.
        let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = versions.get(&id) {
            return Ok(found.clone());
        }
        let sandbox = sandbox::Sandbox::new(tool, app)?;
        let mut command = sandbox.command(program);
        match tool {
            Tool::Kustomize => command.arg("version"),
            Tool::Helm => command.args(["version", "--short"]),
        };
        let limits = RenderLimits {
            max_output_bytes: 64 * 1024,
            ..*limits
        };
        let out = sandbox::run(command, tool, app, &limits)?;
        let found = String::from_utf8_lossy(&out).trim().to_owned();
        versions.insert(id, found.clone());
        Ok(found)
    }
}

#[cfg(test)]
mod tests;
