//! `ordo import`: Argo CD and Flux manifests in, an ordo config out. Reads the files here; the
//! translation itself is `crate::import`, which is pure.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::EXIT_BAD_INPUT;
use crate::import::{self, ImportError};

pub const AFTER_HELP: &str = "\
Reads Argo CD Applications (and names ApplicationSets) and Flux GitRepository, Kustomization
and HelmRelease objects, and writes one ordo app for each Application, Kustomization and
HelmRelease whose source is a git repository. Other objects are skipped. Directories are read
recursively (.yaml, .yml, .json), except hidden ones and Helm charts (their templates are no
YAML until rendered); `-` reads standard input.

What maps: repository URL; revision (Argo CD's targetRevision, HEAD meaning the default
branch; a Flux branch, tag or commit); path; destination or target namespace; automated
prune, selfHeal and allowEmpty; intervals and timeouts; Helm release name, values files (Argo
CD's, relative to the app path, become repository paths), values and parameters (merged into
helm.values); Argo CD's source type; an AppProject's destinations and cluster resource
whitelist as allow (namespaces, clusterKinds), its destinationServiceAccounts and Flux's
serviceAccountName as serviceAccountName (an app left without allow gets ordo's default: its
own namespace, nothing cluster-scoped). Everything else is a finding, printed to stderr and at
the top of the config: `not translated: <object>: <field>: <what> — <what to do>`, or `note:`
for what was translated differently from how it was written. Secrets are never copied: a
GitRepository's secretRef becomes a commented-out credentials block naming the files to mount.

Exit codes: 0 the config was written (even with findings), 2 bad input: an unreadable file, a
YAML error (file and line named), no Argo CD or Flux object, or none that becomes an app.

Examples:
  ordo import argocd/apps/ --output ordo.yaml
  kubectl get applications,appprojects -n argocd -o yaml | ordo import -
  flux export source git --all > src.yaml; flux export kustomization --all > ks.yaml
  ordo import src.yaml ks.yaml -o json | jq '.findings[] | .message'";

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files or directories of Argo CD or Flux manifests (`-` for standard input).
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Output format: the config as YAML, or JSON `{config, apps, findings}` for scripts.
    #[arg(short = 'o', long = "format", value_enum, default_value_t = Format::Yaml)]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

pub fn run(args: ImportArgs) -> ExitCode {
    let objects = match read_inputs(&args.inputs) {
        Ok(objects) => objects,
        Err(e) => return fail(&e.to_string()),
    };
    let names: Vec<String> = args
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let imported = match import::translate(&objects, &names.join(", ")) {
        Ok(imported) => imported,
        Err(e) => {
            if let ImportError::NothingTranslated { findings, .. } = &e {
                for finding in findings {
                    eprintln!("{finding}");
                }
            }
            return fail(&e.to_string());
        }
    };
    for finding in &imported.findings {
        eprintln!("{finding}");
    }
    let text = match args.format {
        Format::Yaml => imported.config.clone(),
        Format::Json => match serde_json::to_string_pretty(&imported) {
            Ok(json) => json + "\n",
            Err(e) => return fail(&format!("cannot write JSON: {e}")),
        },
    };
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                return fail(&format!(
                    "{}: cannot write the config: {e}; check the directory exists and is \
                     writable",
                    path.display()
                ));
            }
            eprintln!(
                "wrote {} app(s) to {} ({} finding(s))",
                imported.apps.len(),
                path.display(),
                imported.findings.len()
            );
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Every document of every input, files in the order given and directories in name order.
fn read_inputs(inputs: &[PathBuf]) -> Result<Vec<serde_json::Value>, ImportError> {
    let mut objects = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
                ImportError::Read {
                    origin: "standard input".into(),
                    source,
                }
            })?;
            objects.extend(import::parse_documents(&text, "standard input")?);
            continue;
        }
        let mut files = Vec::new();
        collect_files(input, true, &mut files)?;
        for file in files {
            let origin = file.display().to_string();
            let text = std::fs::read_to_string(&file).map_err(|source| ImportError::Read {
                origin: origin.clone(),
                source,
            })?;
            objects.extend(import::parse_documents(&text, &origin)?);
        }
    }
    Ok(objects)
}

/// `path` itself when it is a file named on the command line, else the manifest files under it.
fn collect_files(path: &Path, named: bool, files: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    let read_error = |source| ImportError::Read {
        origin: path.display().to_string(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if !metadata.is_dir() {
        let manifest = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if named || manifest {
            files.push(path.to_owned());
        }
        return Ok(());
    }
    // A chart's templates are Go templates, not YAML, until helm renders them: reading them
    // would fail the whole import of a GitOps repository that vendors a chart.
    if path.join("Chart.yaml").is_file() {
        eprintln!(
            "skipped {}: a Helm chart (its templates are not manifests until rendered)",
            path.display()
        );
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read_error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort();
    for entry in entries {
        // Hidden directories (.git) hold no manifests to import.
        let hidden = entry
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden {
            collect_files(&entry, false, files)?;
        }
    }
    Ok(())
}
