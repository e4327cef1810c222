//! Flux's post-build variable substitution (`postBuild.substitute` of a Flux Kustomization):
//! after the render, `${VAR}` in each object's YAML is replaced with the app's value, before
//! the text is read as objects, so `replicas: ${REPLICAS}` becomes a number as it does in
//! Flux. The forms people use are taken as Flux takes them: `${VAR}`, the defaults
//! `${VAR:=default}`, `${VAR:-default}`, `${VAR=default}` and `${VAR-default}` (the first two
//! also when the value is empty), and `$$` for a literal `$`. Flux's other bash operators
//! (case changes, substrings, patterns) are refused by name rather than half-done. A variable
//! with no value and no default is an error naming the file, the line and the variable
//! (Flux's strict mode): nothing is applied. An object labelled or annotated
//! `kustomize.toolkit.fluxcd.io/substitute: disabled` is left as it is.

use std::collections::BTreeMap;

use super::error::RenderError;
use crate::source::SourceFile;

/// The label or annotation that opts an object out, and its value.
const OPT_OUT: (&str, &str) = ("kustomize.toolkit.fluxcd.io/substitute", "disabled");

/// Whether `name` may be a variable, as Flux checks: `^[_[:alpha:]][_[:alpha:][:digit:]]*$`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `files` (rendered output) with the variables of `vars` substituted, document by document.
pub(super) fn substitute(
    files: Vec<SourceFile>,
    vars: &BTreeMap<String, String>,
) -> Result<Vec<SourceFile>, RenderError> {
    // Flux drops newlines from values: a value never spans lines of the YAML.
    let vars: BTreeMap<&str, String> = vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.replace('\n', "")))
        .collect();
    files
        .into_iter()
        .map(|file| {
            let text = String::from_utf8_lossy(&file.data);
            let mut out = String::with_capacity(text.len());
            let mut line = 1;
            for document in documents(&text) {
                if opted_out(document) {
                    out.push_str(document);
                } else {
                    let expanded = expand(document, &vars).map_err(|(at, message)| {
                        RenderError::Substitution {
                            file: file.path.clone(),
                            line: line + at,
                            message,
                        }
                    })?;
                    out.push_str(&expanded);
                }
                line += document.matches('\n').count();
            }
            Ok(SourceFile {
                path: file.path,
                data: out.into_bytes(),
            })
        })
        .collect()
}

/// The documents of a YAML stream, each with its `---` line, so that joined they are the text.
fn documents(text: &str) -> Vec<&str> {
    let mut starts = vec![0];
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if at > 0 && (line.trim_end() == "---" || line.starts_with("--- ")) {
            starts.push(at);
        }
        at += line.len();
    }
    starts.push(text.len());
    starts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

/// Whether a document opts out: parsed only when its text names the key.
fn opted_out(document: &str) -> bool {
    if !document.contains(OPT_OUT.0) {
        return false;
    }
    let Ok(Some(value)) = serde_saphyr::from_str_with_options::<Option<serde_json::Value>>(
        document,
        crate::manifest::yaml_options(),
    ) else {
        return false;
    };
    ["labels", "annotations"].iter().any(|field| {
        value
            .pointer(&format!("/metadata/{field}"))
            .and_then(|m| m.get(OPT_OUT.0))
            .and_then(serde_json::Value::as_str)
            == Some(OPT_OUT.1)
    })
}

/// `text` with every `${…}` replaced; an error is the 0-based line it is on, and why.
pub fn expand(text: &str, vars: &BTreeMap<&str, String>) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(next) = after.strip_prefix('$') {
            // `$$` is a literal `$`.
            out.push('$');
            rest = next;
        } else if let Some(inner) = after.strip_prefix('{') {
            let line = text[..text.len() - rest.len() + pos].matches('\n').count();
            let end =
                closing_brace(inner).ok_or_else(|| (line, "a ${ with no closing }".to_owned()))?;
            let value = evaluate(&inner[..end], vars).map_err(|message| (line, message))?;
            out.push_str(&value);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` closing an expression that starts after `${`, counting nested ones
/// (a default may itself hold `${OTHER}`).
fn closing_brace(inner: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = inner.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            b'\n' => return None,
            _ => {}
        }
    }
    None
}

/// The value of one `${…}` expression (without the braces).
fn evaluate(expression: &str, vars: &BTreeMap<&str, String>) -> Result<String, String> {
    let name_end = expression
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(expression.len());
    let (name, operator) = expression.split_at(name_end);
    if !is_variable_name(name) {
        return Err(format!(
            "${{{expression}}} does not start with a variable name (letters, digits and _)"
        ));
    }
    let value = vars.get(name);
    let default = |rest: &str| expand(rest, vars).map_err(|(_, message)| message);
    let or_default = |empty_counts: bool, rest: &str| match value {
        Some(v) if !(empty_counts && v.is_empty()) => Ok(v.clone()),
        _ => default(rest),
    };
    if operator.is_empty() {
        return value.cloned().ok_or_else(|| {
            format!(
                "variable {name} has no value and no default: set it in postBuild.substitute, or \
                 write ${{{name}:=default}}"
            )
        });
    }
    if let Some(rest) = operator
        .strip_prefix(":=")
        .or_else(|| operator.strip_prefix(":-"))
    {
        return or_default(true, rest);
    }
    if let Some(rest) = operator
        .strip_prefix('=')
        .or_else(|| operator.strip_prefix('-'))
    {
        return or_default(false, rest);
    }
    Err(format!(
        "${{{expression}}}: ordo substitutes ${{VAR}} and the defaults :=, :-, = and -, not \
         Flux's other bash operators; render it before committing"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<&'static str, String> {
        [("ENV", "prod"), ("EMPTY", ""), ("REPLICAS", "3")]
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect()
    }

    #[test]
    fn the_forms_flux_takes_expand_as_flux_expands_them() {
        // (text, expanded)
        let cases = [
            ("replicas: ${REPLICAS}", "replicas: 3"),
            ("env: ${ENV}-eu", "env: prod-eu"),
            ("${MISSING:=staging}", "staging"),
            ("${MISSING:-staging}", "staging"),
            ("${MISSING=staging}", "staging"),
            ("${MISSING-staging}", "staging"),
            ("${EMPTY:=fallback}", "fallback"),
            ("${EMPTY=fallback}", ""),
            ("${ENV:=staging}", "prod"),
            ("${MISSING:=${ENV}}", "prod"),
            ("price: $$5, shell: $HOME", "price: $5, shell: $HOME"),
            ("literal $${ENV}", "literal ${ENV}"),
            ("no variables", "no variables"),
        ];
        for (text, want) in cases {
            assert_eq!(expand(text, &vars()).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn what_cannot_be_expanded_is_named_with_its_line() {
        // (text, line, what the message says)
        let cases = [
            (
                "a: 1\nb: ${MISSING}\n",
                1,
                "variable MISSING has no value and no default",
            ),
            ("${ENV,,}", 0, "not Flux's other bash operators"),
            ("${ENV:1:2}", 0, "not Flux's other bash operators"),
            ("x: ${1A}", 0, "does not start with a variable name"),
            ("x: ${ENV\ny: 1", 0, "no closing }"),
        ];
        for (text, line, says) in cases {
            let (at, message) = expand(text, &vars()).unwrap_err();
            assert_eq!(at, line, "{text}");
            assert!(message.contains(says), "{text}: {message}");
        }
    }

    #[test]
    fn files_are_substituted_document_by_document_unless_an_object_opts_out() {
        let text = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data: {env: \"${ENV}\"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: b
  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}
data: {script: \"echo ${HOME}\"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {missing: \"${NOPE}\"}
";
        let vars: BTreeMap<String, String> = [("ENV".to_owned(), "prod\n".to_owned())]
            .into_iter()
            .collect();
        let file = |text: &str| SourceFile {
            path: "app (kustomize)".into(),
            data: text.as_bytes().to_vec(),
        };
        let err = substitute(vec![file(text)], &vars).unwrap_err().to_string();
        assert!(err.contains("app (kustomize)"), "{err}");
        assert!(err.contains("line 16"), "{err}");
        assert!(err.contains("NOPE"), "{err}");
        let fine = &text[..text.rfind("---").unwrap()];
        let out = substitute(vec![file(fine)], &vars).unwrap();
        let out = String::from_utf8(out[0].data.clone()).unwrap();
        assert!(out.contains("env: \"prod\""), "{out}");
        assert!(out.contains("echo ${HOME}"), "{out}");
    }
}
