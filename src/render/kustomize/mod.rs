//! `kustomize build` of an app path, after checking what its kustomizations refer to.
//!
//! Two fences. First our own reading of every kustomization the build reaches
//! (`references.rs`): each path-bearing field must name a file or directory inside the
//! repository, never a URL, and remote bases only when the app allows them; this names the
//! file, the field and the entry. Then the kernel (`confine.rs`): without remote bases the
//! tool may open no TCP connection at all, loopback included, and reads only its sandbox, so
//! a URL hidden where we do not look (a transformer's own config) fails too.

mod generate;
mod references;

use std::path::Path;

use super::error::{RenderError, Tool};
use super::sandbox::{Sandbox, run};
use super::{RenderRequest, app_dir, app_label};
use crate::source::SourceFile;

pub(super) use references::{check_references, reached_directories, resolve};

pub(super) fn render(
    request: &RenderRequest,
    program: &Path,
) -> Result<Vec<SourceFile>, RenderError> {
    let app = app_label(request.app_path);
    let allow_remote = request.options.kustomize.allow_remote_bases;
    // A path without a kustomization is built as Flux builds it (see generate.rs).
    let with_generated: Vec<SourceFile>;
    let files = match generate::generated(request.files, request.app_path) {
        Some(kustomization) => {
            with_generated = request
                .files
                .iter()
                .cloned()
                .chain([kustomization])
                .collect();
            &with_generated
        }
        None => request.files,
    };
    check_references(files, request.app_path, allow_remote)?;
    let mut sandbox = Sandbox::new(Tool::Kustomize, &app)?;
    sandbox.extract(files)?;
    let mut command = sandbox.command(program);
    if allow_remote {
        // Remote git bases are fetched by running `git`, which the empty PATH would hide;
        // git itself may speak only https and ssh (no `file://`, no `ext::` command).
        command
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GIT_ALLOW_PROTOCOL", "https:ssh")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0");
        command.allow_network();
    }
    // Never --enable-alpha-plugins, --enable-exec or --enable-helm: each runs code or
    // fetches charts from outside the repository.
    command
        .arg("build")
        .arg(sandbox.repo().join(app_dir(request.app_path)))
        .args(["--load-restrictor", "LoadRestrictionsRootOnly"]);
    let out = run(command, Tool::Kustomize, &app, &request.options.limits)?;
    Ok(vec![SourceFile {
        path: format!("{app} (kustomize)"),
        data: out,
    }])
}
