//! What can be wrong with a set of manifests, with the file, document, object and field.

use thiserror::Error;

use super::Origin;

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("{file}: not valid UTF-8 text; manifests must be UTF-8 YAML or JSON")]
    NotUtf8 { file: String },

    #[error("{file}{}: {message}", at(.document, .line))]
    Parse {
        file: String,
        document: Option<usize>,
        line: Option<u64>,
        message: String,
    },

    #[error("{origin}: a document must be a mapping (an object), found {found}")]
    NotAMapping { origin: Origin, found: &'static str },

    #[error("{origin}: missing `{field}`; every object needs apiVersion, kind and metadata.name")]
    MissingField { origin: Origin, field: &'static str },

    #[error("{origin}: `{field}` {problem}")]
    BadField {
        origin: Origin,
        field: &'static str,
        problem: String,
    },

    #[error("{id} is defined twice: in {first} and in {second}; each object may appear once")]
    Duplicate {
        id: String,
        first: String,
        second: String,
    },
}

fn at(document: &Option<usize>, line: &Option<u64>) -> String {
    match (document, line) {
        (Some(d), Some(l)) => format!(" document {d} (line {l})"),
        (Some(d), None) => format!(" document {d}"),
        (None, Some(l)) => format!(" line {l}"),
        (None, None) => String::new(),
    }
}
