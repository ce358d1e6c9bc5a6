//! Which files of a Hub dataset make a split, as Python's `datasets` picks them when
//! `load_dataset` is given no `data_files` (its `data_files.py`, datasets 5.2 with
//! fsspec ≥ 2023.12): first `data/{split}-NNNNN-of-NNNNN*.*`; else, for the first family of
//! default patterns that matches any file (logs `**/*.eval`; Harbor tasks; the split's keywords
//! as a directory name; as a file name; else every file for `train`), the files of the split's
//! patterns. Hidden files and directories (`.x`), special ones (`__x`) and the dataset's own
//! metadata files (`README.md`, ...) are never data. The format is the most common extension
//! among the split's files, Parquet first on a draw; files of other formats are left out.

use super::dataset_card::SplitPatterns;

/// `datasets`' files that are never data.
const FILES_TO_IGNORE: [&str; 6] = [
    "README.md",
    "config.json",
    "dataset_info.json",
    "dataset_infos.json",
    "dummy_data.zip",
    "dataset_dict.json",
];

/// The keywords of the default splits, in `datasets`' order.
const SPLIT_KEYWORDS: [(&str, &[&str]); 3] = [
    ("train", &["train", "training"]),
    ("validation", &["validation", "valid", "dev", "val"]),
    ("test", &["test", "testing", "eval", "evaluation"]),
];

/// The characters that may stand beside a split keyword in a name.
const SEP: &str = "[-._ 0-9]";

/// The format of a split's data files, as `datasets` infers its builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `.json`, `.jsonl`, `.ndjson`: JSON Lines, or one JSON list of records.
    Json,
    /// `.parquet`, `.geoparquet`, `.gpq`.
    Parquet,
}

/// The builder `datasets` uses for a file extension (lower case, with the dot).
fn module_of(ext: &str) -> Option<&'static str> {
    Some(match ext {
        ".csv" | ".tsv" => "csv",
        ".json" | ".jsonl" | ".ndjson" => "json",
        ".parquet" | ".geoparquet" | ".gpq" => "parquet",
        ".arrow" => "arrow",
        ".txt" => "text",
        ".tar" => "webdataset",
        ".xml" => "xml",
        ".eval" => "eval",
        ".toml" | ".md" => "harbor",
        ".lance" => "lance",
        ".vortex" => "vortex",
        ".conll" | ".conllu" => "conll",
        _ => return None,
    })
}

/// Whether `path` (a path inside the repository, `/`-separated) matches the glob `pattern`:
/// `*` any characters but `/`, `**` any characters (`**/` also none), `?` one character but
/// `/`, `[...]` one of a class (`a-z` ranges, `!`/`^` negation).
pub(crate) fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    matches(&p, &s)
}

fn matches(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => {
            let rest = &p[2..];
            if rest.first() == Some(&'/') {
                matches(&rest[1..], s)
                    || (0..s.len()).any(|i| s[i] == '/' && matches(&rest[1..], &s[i + 1..]))
            } else {
                (0..=s.len()).any(|i| matches(rest, &s[i..]))
            }
        }
        Some('*') => {
            let stop = s.iter().position(|c| *c == '/').unwrap_or(s.len());
            (0..=stop).any(|i| matches(&p[1..], &s[i..]))
        }
        Some('?') => s.first().is_some_and(|c| *c != '/') && matches(&p[1..], &s[1..]),
        Some('[') => match class(&p[1..]) {
            Some((set, negate, used)) => s.first().is_some_and(|c| {
                *c != '/' && (in_class(&set, *c) != negate) && matches(&p[used + 1..], &s[1..])
            }),
            None => s.first() == Some(&'[') && matches(&p[1..], &s[1..]),
        },
        Some(c) => s.first() == Some(c) && matches(&p[1..], &s[1..]),
    }
}

/// The class after a `[`: its characters, whether negated, and the characters used up to and
/// including the `]`; `None` without a closing `]`.
fn class(p: &[char]) -> Option<(Vec<char>, bool, usize)> {
    let negate = matches!(p.first(), Some('!' | '^'));
    let start = usize::from(negate);
    let close = (start + 1..p.len()).find(|&i| p[i] == ']')?;
    Some((p[start..close].to_vec(), negate, close + 1))
}

fn in_class(set: &[char], c: char) -> bool {
    let mut i = 0;
    while i < set.len() {
        if i + 2 < set.len() && set[i + 1] == '-' {
            if (set[i]..=set[i + 2]).contains(&c) {
                return true;
            }
            i += 3;
        } else {
            if set[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}

/// Whether `path` can be data: not hidden, not special, not a metadata file.
fn visible(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    !FILES_TO_IGNORE.contains(&base)
        && path
            .split('/')
            .all(|part| !part.starts_with('.') && !part.starts_with("__"))
}

/// The default pattern families after the sharded one: each a list of (split, patterns).
fn default_families() -> Vec<Vec<(String, Vec<String>)>> {
    let keyword_family = |bases: &[&str]| -> Vec<(String, Vec<String>)> {
        SPLIT_KEYWORDS
            .iter()
            .map(|(split, keywords)| {
                let patterns = keywords
                    .iter()
                    .flat_map(|k| {
                        bases
                            .iter()
                            .map(move |b| b.replace("{keyword}", k).replace("{sep}", SEP))
                    })
                    .collect();
                (split.to_string(), patterns)
            })
            .collect()
    };
    vec![
        vec![("logs".into(), vec!["**/*.eval".into()])],
        vec![(
            "test".into(),
            vec!["**/task.toml".into(), "**/instruction.md".into()],
        )],
        keyword_family(&[
            "**/{keyword}/**",
            "**/{keyword}{sep}*/**",
            "**/*{sep}{keyword}/**",
            "**/*{sep}{keyword}{sep}*/**",
        ]),
        keyword_family(&["**/{keyword}{sep}*", "**/*{sep}{keyword}{sep}*"]),
        vec![("train".into(), vec!["**".into()])],
    ]
}

/// The split name of a `data/{split}-NNNNN-of-NNNNN*.*` file.
fn sharded_split(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("data/")?;
    if rest.contains('/') {
        return None;
    }
    // The split is the shortest prefix followed by `-NNNNN-of-NNNNN` and something with a dot.
    let shard = "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]*.*";
    (1..rest.len())
        .filter(|&i| rest.is_char_boundary(i))
        .find(|&i| glob_match(shard, &rest[i..]))
        .map(|i| &rest[..i])
}

fn split_name_ok(s: &str) -> bool {
    s.split('.')
        .all(|w| !w.is_empty() && w.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// The split → patterns that `datasets` finds in `files` (visible ones only), in its order.
fn split_patterns(files: &[&str]) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut sharded: Vec<&str> = files.iter().filter_map(|f| sharded_split(f)).collect();
    if !sharded.is_empty() {
        if let Some(bad) = sharded.iter().find(|s| !split_name_ok(s)) {
            return Err(format!(
                "split name {bad:?} of a data/{{split}}-NNNNN-of-NNNNN file is not a word"
            ));
        }
        sharded.sort();
        sharded.dedup();
        let defaults = ["train", "validation", "test"];
        let mut ordered: Vec<&str> = defaults
            .iter()
            .copied()
            .filter(|d| sharded.contains(d))
            .collect();
        ordered.extend(sharded.iter().filter(|s| !defaults.contains(s)));
        return Ok(ordered
            .into_iter()
            .map(|s| {
                let p =
                    format!("data/{s}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]*.*");
                (s.to_string(), vec![p])
            })
            .collect());
    }
    for family in default_families() {
        let found: Vec<(String, Vec<String>)> = family
            .into_iter()
            .filter(|(_, patterns)| {
                patterns
                    .iter()
                    .any(|p| files.iter().any(|f| glob_match(p, f)))
            })
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Err("it has no data files".into())
}

/// The data files of `split` among `files` (a dataset's paths), in `datasets`' order (pattern
/// by pattern, sorted within each), with their format; the error says why there are none. The
/// dataset card's splits (`super::dataset_card`), when it names them, come before the defaults.
pub(crate) fn split_files(
    files: &[String],
    split: &str,
    card: Option<SplitPatterns>,
) -> Result<(Vec<String>, Format), String> {
    let mut sorted: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .filter(|f| visible(f))
        .collect();
    sorted.sort_unstable();
    let splits = match card {
        Some(splits) => splits,
        None => split_patterns(&sorted)?,
    };
    let names: Vec<&str> = splits.iter().map(|(s, _)| s.as_str()).collect();
    let Some((_, patterns)) = splits.iter().find(|(s, _)| s == split) else {
        return Err(format!("Unknown split {split:?}: it has {names:?}"));
    };
    let mut chosen: Vec<String> = Vec::new();
    for p in patterns {
        chosen.extend(
            sorted
                .iter()
                .filter(|f| glob_match(p, f))
                .map(|f| f.to_string()),
        );
    }
    let format = format_of(&chosen, split)?;
    let exts: &[&str] = match format {
        Format::Json => &[".json", ".jsonl", ".ndjson"],
        Format::Parquet => &[".parquet", ".geoparquet", ".gpq"],
    };
    // `datasets`' filter: the extension (case as written), then nothing or `.anything`.
    chosen.retain(|f| {
        exts.iter().any(|e| {
            f.match_indices(e).any(|(i, _)| {
                let after = &f[i + e.len()..];
                after.is_empty() || (after.starts_with('.') && after.len() > 1)
            })
        })
    });
    Ok((chosen, format))
}

/// The format of a split's files: the most common extension that names a builder (counting
/// every suffix of every name), Parquet on a draw, then JSON Lines, JSON, CSV, then the later
/// name; only JSON and Parquet are read.
fn format_of(files: &[String], split: &str) -> Result<Format, String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for f in files {
        let base = f.rsplit('/').next().unwrap_or(f);
        for suffix in base.split('.').skip(1) {
            let ext = format!(".{}", suffix.to_lowercase());
            match counts.iter_mut().find(|(e, _)| *e == ext) {
                Some((_, n)) => *n += 1,
                None => counts.push((ext, 1)),
            }
        }
    }
    let rank = |e: &str| -> [bool; 7] {
        [
            e == ".parquet",
            e == ".lance",
            e == ".vortex",
            e == ".arrow",
            e == ".jsonl",
            e == ".json",
            e == ".csv",
        ]
    };
    counts.sort_by(|(a, na), (b, nb)| (nb, rank(b), b.as_str()).cmp(&(na, rank(a), a.as_str())));
    let Some((ext, module)) = counts
        .iter()
        .find_map(|(e, _)| module_of(e).map(|m| (e.clone(), m)))
    else {
        return Err(format!(
            "split {split:?} has no data file of a format `datasets` reads: {files:?}"
        ));
    };
    match module {
        "json" => Ok(Format::Json),
        "parquet" => Ok(Format::Parquet),
        other => Err(format!(
            "split {split:?} is made of {ext} files (`datasets`' {other} builder), e.g. {}; fleetbench reads a dataset's JSON, JSON Lines and Parquet files only",
            files
                .iter()
                .find(|f| f.to_lowercase().contains(ext.as_str()))
                .map_or("", String::as_str)
        )),
    }
}
