//! What the render tests share (`tests/render.rs`, `tests/render_remote.rs`): one render call
//! with the test namespace, and finding an object among rendered ones.

use ordo::manifest::Object;
use ordo::render::{RenderError, RenderOptions, RenderRequest, Renderer};
use ordo::source::SourceFile;

pub fn render(
    renderer: &Renderer,
    files: &[SourceFile],
    app_path: &str,
    options: &RenderOptions,
) -> Result<Vec<SourceFile>, RenderError> {
    renderer.render(&RenderRequest {
        files,
        app_path,
        namespace: "shop",
        options,
        secret_values: None,
    })
}

pub fn find<'a>(objects: &'a [Object], kind: &str, name: &str) -> &'a Object {
    objects
        .iter()
        .find(|o| o.id.kind == kind && o.id.name == name)
        .unwrap_or_else(|| {
            let ids: Vec<String> = objects.iter().map(|o| o.id.to_string()).collect();
            panic!("no {kind}/{name} among {ids:?}")
        })
}
