//! A YAML tree that remembers where each key and value sits, so validation can say
//! "line 12: apps[1].interval: …" instead of pointing at the whole file.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One YAML node and the line it starts on (`None` when the parser could not tell).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    pub value: Value,
    pub line: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A mapping entry; keys are always strings in a config file.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub key: String,
    pub key_line: Option<u64>,
    pub value: Node,
}

impl Value {
    /// What a value is, for "expected …, found …" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses a config document with input budgets: the file is small, so anything large is a
/// mistake or an attack (an alias bomb), and fails fast.
pub(super) fn parse(text: &str) -> Result<Node, serde_saphyr::Error> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = 1;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_nodes = 100_000;
    budget.max_events = 200_000;
    budget.max_depth = 50;
    budget.max_total_scalar_bytes = 1024 * 1024;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    // `yes`/`on` stay strings, so `prune: yes` is reported instead of silently meaning true.
    options.strict_booleans = true;
    let spanned: Option<Spanned<Node>> = serde_saphyr::from_str_with_options(text, options)?;
    Ok(match spanned {
        Some(s) => with_line(s),
        None => Node {
            value: Value::Null,
            line: None,
        },
    })
}

fn with_line(spanned: Spanned<Node>) -> Node {
    let mut node = spanned.value;
    node.line = known_line(spanned.referenced.line());
    node
}

fn known_line(line: u64) -> Option<u64> {
    (line > 0).then_some(line)
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(ValueVisitor)?;
        Ok(Node { value, line: None })
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(with_line(item));
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            let key_line = known_line(key.referenced.line());
            let key = match key.value.value {
                Value::Str(s) | Value::Number(s) => s,
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(de::Error::custom(format!(
                        "a mapping key must be a plain name, not {}",
                        other.kind()
                    )));
                }
            };
            let value = with_line(map.next_value::<Spanned<Node>>()?);
            entries.push(Entry {
                key,
                key_line,
                value,
            });
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(node: &'a Node, key: &str) -> &'a Entry {
        match &node.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key).unwrap(),
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn keys_and_values_carry_their_lines() {
        let node = parse("# c\nlisten: 0.0.0.0:1\napps:\n  - name: a\n    prune: true\n").unwrap();
        assert_eq!(entry(&node, "listen").key_line, Some(2));
        let apps = entry(&node, "apps");
        assert_eq!(apps.key_line, Some(3));
        let Value::Seq(items) = &apps.value.value else {
            panic!("{apps:?}")
        };
        assert_eq!(items[0].line, Some(4));
        let prune = entry(&items[0], "prune");
        assert_eq!(prune.key_line, Some(5));
        assert_eq!(prune.value.value, Value::Bool(true));
    }

    #[test]
    fn scalars_keep_their_kind() {
        let node = parse("a: 30\nb: 1.5\nc: yes\nd:\ne: \"x\"\n").unwrap();
        assert_eq!(entry(&node, "a").value.value, Value::Number("30".into()));
        assert_eq!(entry(&node, "b").value.value, Value::Number("1.5".into()));
        assert_eq!(entry(&node, "c").value.value, Value::Str("yes".into()));
        assert_eq!(entry(&node, "d").value.value, Value::Null);
        assert_eq!(entry(&node, "e").value.value, Value::Str("x".into()));
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("# nothing\n").unwrap().value, Value::Null);
    }

    #[test]
    fn duplicate_keys_and_alias_bombs_are_refused() {
        assert!(parse("a: 1\na: 2\n").is_err());
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n\
                    c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c]\n\
                    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n\
                    f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        let err = parse(bomb).unwrap_err().to_string();
        assert!(err.contains("budget"), "{err}");
    }
}
