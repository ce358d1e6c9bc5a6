//! Glob patterns of `trace_files` as Python's `glob.glob(pattern, recursive=True)` reads them:
//! `*` and `?` within a path component, `**` for any number of directories; only files match.
//! A relative pattern is tried from the working directory, else from the profile's directories
//! (as `data.path`); the walk is bounded by a count of entries visited.

use std::path::{Path, PathBuf};

/// Directory entries a pattern's walk may visit.
const MAX_VISITED: usize = 1_000_000;

/// The files `pattern` matches (at most `limit`), from the first base that matches any.
pub(super) fn expand(pattern: &str, profile: &Path, limit: usize) -> Vec<PathBuf> {
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let bases: Vec<PathBuf> = if pattern.starts_with('/') {
        vec![PathBuf::from("/")]
    } else {
        std::iter::once(PathBuf::new())
            .chain(profile.ancestors().skip(1).map(Path::to_path_buf))
            .collect()
    };
    for base in bases {
        let mut out = Vec::new();
        let mut visited = 0;
        walk(&base, &parts, &mut out, &mut visited, limit);
        if !out.is_empty() {
            out.sort();
            return out;
        }
    }
    Vec::new()
}

fn walk(dir: &Path, parts: &[&str], out: &mut Vec<PathBuf>, visited: &mut usize, limit: usize) {
    if out.len() >= limit || *visited > MAX_VISITED {
        return;
    }
    let Some((first, rest)) = parts.split_first() else {
        if dir.is_file() {
            out.push(dir.to_path_buf());
        }
        return;
    };
    let list = || -> Vec<PathBuf> {
        let d = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| dir.join(e.file_name()))
            .collect();
        v.sort();
        v
    };
    if *first == "**" {
        walk(dir, rest, out, visited, limit);
        for p in list() {
            *visited += 1;
            if p.is_dir() && !p.is_symlink() {
                walk(&p, parts, out, visited, limit);
            }
        }
    } else if first.contains(['*', '?']) {
        for p in list() {
            *visited += 1;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if matches(first.as_bytes(), name.as_bytes()) {
                walk(&p, rest, out, visited, limit);
            }
        }
    } else {
        let p = dir.join(first);
        if p.exists() {
            walk(&p, rest, out, visited, limit);
        }
    }
}

/// `*` (any run) and `?` (one character) against a name, iteratively.
fn matches(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n, mut star, mut mark) = (0, 0, None, 0);
    while n < name.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks_match_within_a_name() {
        assert!(matches(b"*.json", b"a.json"));
        assert!(!matches(b"*.json", b"a.jsonl"));
        assert!(matches(b"tr?ce_*", b"trace_1"));
        assert!(matches(b"*", b""));
    }

    #[test]
    fn double_star_descends_and_only_files_match() {
        let dir = std::env::temp_dir().join(format!("fb-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("x.json"), "{}").unwrap();
        std::fs::write(dir.join("a/b/y.json"), "{}").unwrap();
        std::fs::write(dir.join("a/z.txt"), "").unwrap();
        let pat = format!("{}/**/*.json", dir.display());
        let got = expand(&pat, Path::new("p.yaml"), 10);
        assert_eq!(got, vec![dir.join("a/b/y.json"), dir.join("x.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
