//! A dataset card's own data files: the `configs` of the YAML header of a Hub dataset's
//! `README.md`, which Python's `datasets` follows before its default patterns (`push_to_hub`
//! writes one). The config `load_dataset` takes without a name: the only one, else the one named
//! `default` or marked `default: true`; its `data_files` (a pattern, a list of them — the
//! `train` split —, or a list of `{split, path}`), each relative to its `data_dir`.

use serde_norway::Value;

/// The largest `README.md` read.
pub(crate) const MAX_CARD_BYTES: usize = 1 << 20;

/// A split and its file patterns.
pub(crate) type SplitPatterns = Vec<(String, Vec<String>)>;

/// The splits and patterns of the card `text`'s config `name` (as `load_dataset(path, name)`
/// takes it), or without a name its default config; `None` when the card names no data files
/// (`datasets` then uses its default patterns); an error when it cannot be read, has no config
/// `name`, or has several configs and no default.
pub(crate) fn card_splits(text: &str, name: Option<&str>) -> Result<Option<SplitPatterns>, String> {
    let header = front_matter(text);
    let yaml: Value = match header {
        Some(h) => serde_norway::from_str(h)
            .map_err(|e| format!("README.md: its YAML header cannot be read: {e}"))?,
        None => Value::Null,
    };
    let configs = match yaml.get("configs") {
        Some(Value::Sequence(c)) => c.as_slice(),
        _ => &[],
    };
    let name_of = |c: &Value| match c.get("config_name") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "default".to_string(),
    };
    let names = || configs.iter().map(name_of).collect::<Vec<String>>();
    let chosen: Vec<&Value> = match name {
        Some(wanted) => configs.iter().filter(|c| name_of(c) == wanted).collect(),
        None => configs
            .iter()
            .filter(|c| {
                configs.len() == 1
                    || name_of(c) == "default"
                    || c.get("default").and_then(Value::as_bool).unwrap_or(false)
            })
            .collect(),
    };
    let config = match (chosen.as_slice(), name) {
        ([one], _) => *one,
        ([], None) if configs.is_empty() => return Ok(None),
        ([], Some(wanted)) => {
            return Err(format!(
                "README.md names no config {wanted:?} (its configs: {:?})",
                names()
            ))
        }
        ([], None) => {
            return Err(format!(
                "README.md names the configs {:?} and none is the default: `load_dataset` needs a config name (hf_dataset_path's `name`)",
                names()
            ));
        }
        (_, Some(wanted)) => return Err(format!("README.md names the config {wanted:?} twice")),
        (_, None) => return Err("README.md marks more than one config as the default".into()),
    };
    let Some(files) = config.get("data_files") else {
        return Ok(None);
    };
    let dir = config
        .get("data_dir")
        .and_then(Value::as_str)
        .map(|d| format!("{}/", d.trim_matches('/')))
        .unwrap_or_default();
    let patterns = |v: &Value| -> Result<Vec<String>, String> {
        let list = match v {
            Value::String(s) => vec![s.clone()],
            Value::Sequence(s) => s
                .iter()
                .map(|p| p.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or("README.md: a data_files path is not a string")?,
            _ => return Err("README.md: data_files paths are strings".into()),
        };
        Ok(list
            .into_iter()
            .map(|p| format!("{dir}{}", p.trim_start_matches("./")))
            .collect())
    };
    let splits = match files {
        Value::Sequence(items) if items.iter().all(Value::is_mapping) => items
            .iter()
            .map(|item| {
                let split = item.get("split").and_then(Value::as_str).unwrap_or("train");
                let path = item
                    .get("path")
                    .ok_or("README.md: a data_files entry has no path")?;
                Ok((split.to_string(), patterns(path)?))
            })
            .collect::<Result<SplitPatterns, String>>()?,
        other => vec![("train".to_string(), patterns(other)?)],
    };
    Ok(Some(splits))
}

/// The YAML between a leading `---` line and the next `---` line.
fn front_matter(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("---")?.trim_start_matches([' ', '\t']);
    let rest = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))?;
    let end = rest.match_indices("\n---").map(|(i, _)| i).find(|&i| {
        let after = &rest[i + 4..];
        after.is_empty() || after.starts_with(['\n', '\r', ' ', '\t'])
    })?;
    Some(&rest[..end])
}
