//! Property tests of the parsers ordo feeds with text it does not control (issue #13): the
//! agent's config file, manifests from git, SOPS files. Generated and mutated inputs (bytes
//! flipped, lines cut, duplicated or swapped, YAML's special characters inserted, anchors and
//! aliases, deep nesting): every call returns, without a panic, and every error names its
//! file. Each call runs on its own thread, with the stack ordo's runtime threads have
//! (`cli::PARSER_STACK`: the first run of these tests found deep nesting overflowing a default
//! 2 MiB stack, which aborts the process), and a hang guard (60 s, far above anything
//! legitimate: it catches a parser that loops, it does not measure speed).

use std::sync::mpsc;
use std::time::Duration;

use ordo::source::SourceFile;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

const HANG_GUARD: Duration = Duration::from_secs(60);

/// Runs `f` on its own thread; fails if it panics or never returns.
fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .stack_size(ordo::cli::PARSER_STACK)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("a thread");
    match rx.recv_timeout(HANG_GUARD) {
        Ok(v) => v,
        Err(_) => {
            let panicked = handle.join().is_err();
            panic!(
                "{what}: {}",
                if panicked {
                    "panicked"
                } else {
                    "did not return"
                }
            )
        }
    }
}

/// A mutation of `text`: what a bad edit, a bad merge or a bad actor does to a file.
fn mutated(text: &'static str) -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = text.lines().collect();
    let n = lines.len().max(1);
    let specials = prop::sample::select(vec![
        ":",
        "- ",
        "{",
        "}",
        "[",
        "]",
        "&a ",
        "*a",
        "!!binary ",
        "|",
        ">",
        "'",
        "\"",
        "#",
        "%YAML 1.2\n",
        "---\n",
        "...\n",
        "\t",
        "\u{0}",
        "\u{feff}",
        "<<: *a\n",
        "? ",
        "!!map ",
        "~",
        "0x",
        "1e999",
    ]);
    (0..6u8, 0..n, 0..n, specials, any::<u8>(), 0..4096usize).prop_map(
        move |(kind, i, j, special, byte, at)| {
            let mut lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            match kind {
                0 => lines.truncate(i),
                1 => {
                    let line = lines[i].clone();
                    lines.insert(j, line);
                }
                2 => lines.swap(i, j),
                3 => {
                    let l = &mut lines[i];
                    let cut = at.min(l.len());
                    let cut = (0..=cut)
                        .rev()
                        .find(|c| l.is_char_boundary(*c))
                        .unwrap_or(0);
                    l.insert_str(cut, special);
                }
                4 => {
                    let mut bytes = lines.join("\n").into_bytes();
                    if !bytes.is_empty() {
                        let k = at % bytes.len();
                        bytes[k] ^= byte;
                    }
                    return String::from_utf8_lossy(&bytes).into_owned();
                }
                _ => {
                    // Indentation changed: the structure moves.
                    let l = &mut lines[i];
                    if l.starts_with("  ") {
                        l.drain(..2);
                    } else {
                        l.insert_str(0, "  ");
                    }
                }
            }
            lines.join("\n")
        },
    )
}

/// Deeply nested or aliased documents: what billion-laughs or stack exhaustion tries.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        (1..3000usize).prop_map(|d| format!("{}1{}", "[".repeat(d), "]".repeat(d))),
        (1..3000usize).prop_map(|d| "a: ".repeat(d) + "1"),
        (1..12usize).prop_map(|levels| {
            let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
            for l in 1..levels {
                let prev = l - 1;
                doc.push_str(&format!(
                    "a{l}: &a{l} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
                ));
            }
            doc
        }),
        ".{0,400}",
    ]
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    })
}

const CONFIG: &str = include_str!("../config/ordo.yaml");
const MANIFESTS: &str = include_str!("../examples/travel-app/backend/backend.yaml");

#[test]
fn the_config_parser_returns_an_answer_naming_the_file_for_any_text() {
    let mut runner = runner(600);
    let strategy = prop_oneof![mutated(CONFIG), hostile()];
    runner
        .run(&strategy, |text| {
            let result = returns("config::parse", move || {
                ordo::config::parse(&text, "ordo.yaml").map_err(|e| e.to_string())
            });
            if let Err(message) = result {
                prop_assert!(message.contains("ordo.yaml"), "{message}");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_manifest_loader_returns_an_answer_naming_the_file_for_any_text() {
    let mut runner = runner(600);
    let strategy = prop_oneof![mutated(MANIFESTS), hostile()];
    runner
        .run(&strategy, |text| {
            let result = returns("manifest::load", move || {
                let file = SourceFile {
                    path: "apps/backend.yaml".into(),
                    data: text.into_bytes(),
                };
                ordo::manifest::load(&[file], "shop").map_err(|e| e.to_string())
            });
            if let Err(message) = result {
                prop_assert!(message.contains("apps/backend.yaml"), "{message}");
            }
            Ok(())
        })
        .unwrap();
}

/// A SOPS file as sops writes it (the values need not decrypt: the parser must cope first).
const SOPS: &str = "apiVersion: v1
kind: Secret
metadata:
    name: db
data:
    password: ENC[AES256_GCM,data:3d1f,iv:bm9uY2Vub25jZW5v,tag:dGFndGFndGFndGFndGFndA==,type:str]
sops:
    age:
        - recipient: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSB4eHgKeHh4Cg==
            -----END AGE ENCRYPTED FILE-----
    lastmodified: \"2026-11-29T10:00:00Z\"
    mac: ENC[AES256_GCM,data:bWFj,iv:bm9uY2Vub25jZW5v,tag:dGFndGFndGFndGFndGFndA==,type:str]
    encrypted_regex: ^(data|stringData)$
    version: 3.13.3
";

#[test]
fn the_sops_reader_returns_an_answer_naming_the_file_for_any_text() {
    let mut runner = runner(400);
    let strategy = prop_oneof![mutated(SOPS), hostile()];
    let identity = {
        use age::secrecy::ExposeSecret;
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret()
            .to_owned()
    };
    runner
        .run(&strategy, |text| {
            let identity = identity.clone();
            let result = returns("decrypt_file", move || {
                let file = SourceFile {
                    path: "apps/secret.yaml".into(),
                    data: text.into_bytes(),
                };
                let keys = ordo::decrypt::Identities::parse(&identity, "keys.txt")
                    .map_err(|e| e.to_string())?;
                ordo::decrypt::decrypt_file(&file, &keys)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
            if let Err(message) = result {
                prop_assert!(message.contains("apps/secret.yaml"), "{message}");
            }
            Ok(())
        })
        .unwrap();
}
