//! `-o` overrides: `-o load.stages.0.rate=4` (a full path) and llm-d's leaf form
//! `-o min=20,total_count=200` (a key name that occurs once in the file). Values are typed by
//! parsing them as YAML; the result then goes through the normal strict parse and validation, so
//! a wrong key or value is reported like one written in the file.

use crate::error::ProfileError;
use serde_norway::{Mapping, Value};
use std::path::Path;

/// Splits `-o` arguments into `(key, value)` assignments: several may share one argument,
/// separated by commas (`min=20,total_count=200`); a comma inside brackets or one that is not
/// followed by `key=` belongs to the value (`rates=[1,4,inf]`).
/// A piece without `=` has no value (`None`).
pub(crate) fn split_assignments(args: &[String]) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for arg in args {
        let mut pieces: Vec<String> = Vec::new();
        let mut depth = 0i32;
        let mut cur = String::new();
        for c in arg.chars() {
            match c {
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                ',' if depth == 0 => {
                    pieces.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        pieces.push(cur);
        let mut merged: Vec<String> = Vec::new();
        for p in pieces {
            if starts_assignment(&p) || merged.is_empty() {
                merged.push(p);
            } else if let Some(last) = merged.last_mut() {
                last.push(',');
                last.push_str(&p);
            }
        }
        for m in merged {
            match m.split_once('=') {
                Some((k, v)) => out.push((k.trim().to_string(), Some(v.trim().to_string()))),
                None => out.push((m.trim().to_string(), None)),
            }
        }
    }
    out
}

fn starts_assignment(p: &str) -> bool {
    let p = p.trim_start();
    match p.find('=') {
        Some(eq) => {
            let key = p[..eq].trim_end();
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        }
        None => false,
    }
}

/// Applies `overrides` to profile text and returns the effective YAML text.
pub fn apply_overrides(
    text: &str,
    origin: &Path,
    overrides: &[String],
) -> Result<String, ProfileError> {
    if overrides.is_empty() {
        return Ok(text.to_string());
    }
    let err = |arg: &str, message: String| ProfileError::Override {
        file: origin.to_path_buf(),
        arg: arg.to_string(),
        message,
    };
    let mut doc: Value = serde_norway::from_str(text).map_err(|e| ProfileError::Parse {
        file: origin.to_path_buf(),
        message: e.to_string(),
    })?;
    if doc.is_null() {
        doc = Value::Mapping(Mapping::new());
    }
    for (key, raw) in split_assignments(overrides) {
        let Some(raw) = raw.filter(|_| !key.is_empty()) else {
            return Err(err(
                &key,
                "expected KEY=VALUE (KEY a dotted path such as load.stages.0.rate, or a leaf key name)"
                    .into(),
            ));
        };
        let arg = format!("{key}={raw}");
        let value: Value = if raw.is_empty() {
            Value::Null
        } else {
            serde_norway::from_str(&raw).unwrap_or_else(|_| Value::String(raw.clone()))
        };
        let path: Vec<String> = if key.contains('.') {
            key.split('.').map(str::to_string).collect()
        } else {
            let mut found = Vec::new();
            leaf_paths(&doc, &key, &mut Vec::new(), &mut found);
            match found.len() {
                0 => vec![key.clone()],
                1 => found.remove(0),
                _ => {
                    let list: Vec<String> = found.iter().map(|p| p.join(".")).collect();
                    return Err(err(
                        &arg,
                        format!(
                            "the leaf `{key}` is ambiguous: it is at {}; give the full path",
                            list.join(", ")
                        ),
                    ));
                }
            }
        };
        set_path(&mut doc, &path, value).map_err(|m| err(&arg, m))?;
    }
    serde_norway::to_string(&doc).map_err(|e| err("", format!("cannot write the result: {e}")))
}

/// Every path in `v` whose last key is `leaf`.
fn leaf_paths(v: &Value, leaf: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m {
                let Some(k) = k.as_str() else { continue };
                prefix.push(k.to_string());
                if k == leaf {
                    out.push(prefix.clone());
                }
                leaf_paths(child, leaf, prefix, out);
                prefix.pop();
            }
        }
        Value::Sequence(s) => {
            for (i, child) in s.iter().enumerate() {
                prefix.push(i.to_string());
                leaf_paths(child, leaf, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn set_path(doc: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let mut cur = doc;
    for (depth, seg) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let here = path[..depth].join(".");
        let here = if here.is_empty() {
            "the top level".to_string()
        } else {
            format!("`{here}`")
        };
        match cur {
            Value::Sequence(s) => {
                let i: usize = seg.parse().map_err(|_| {
                    format!("{here} is a list: `{seg}` must be an index 0..{}", s.len())
                })?;
                if i > s.len() {
                    return Err(format!(
                        "{here} has {} entries: index {i} is past its end (allowed 0..={})",
                        s.len(),
                        s.len()
                    ));
                }
                if i == s.len() {
                    s.push(Value::Mapping(Mapping::new()));
                }
                if last {
                    s[i] = value;
                    return Ok(());
                }
                cur = &mut s[i];
            }
            Value::Mapping(m) => {
                let k = Value::String(seg.clone());
                if last {
                    m.insert(k, value);
                    return Ok(());
                }
                if !m.contains_key(&k) {
                    let next_is_index = path[depth + 1].parse::<usize>().is_ok();
                    m.insert(
                        k.clone(),
                        if next_is_index {
                            Value::Sequence(Vec::new())
                        } else {
                            Value::Mapping(Mapping::new())
                        },
                    );
                }
                cur = m.get_mut(&k).ok_or("internal: key vanished")?;
            }
            Value::Null => {
                *cur = Value::Mapping(Mapping::new());
                return set_path(cur, &path[depth..], value);
            }
            _ => {
                return Err(format!(
                    "{here} is a value, not a section: it has no key `{seg}`"
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_split_assignments_but_not_values() {
        let a = split_assignments(&[
            "min=20,total_count=200".to_string(),
            "load.rates=[1,4,inf]".into(),
            "name=a,b".into(),
        ]);
        assert_eq!(
            a,
            vec![
                ("min".into(), Some("20".into())),
                ("total_count".into(), Some("200".into())),
                ("load.rates".into(), Some("[1,4,inf]".into())),
                ("name".into(), Some("a,b".into())),
            ]
        );
    }
}
