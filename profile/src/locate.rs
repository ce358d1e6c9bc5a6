//! Where a key path (`load.stages.1.rate`) sits in a profile's YAML text, for errors found after
//! parsing. A small indentation- and bracket-aware scan: block mappings, block sequences (`- `),
//! flow mappings and sequences (`{a: 1}`, `[x, y]`) and comments. When a path is not spelled
//! out in the text (a default, a shorthand), the deepest part of it that is gives the position.

/// 1-based line and column of `path`'s key (or of the deepest prefix found) in `text`.
pub(crate) fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let path = path.split_whitespace().next().unwrap_or("");
    let b = text.as_bytes();
    let (mut s, mut e) = (0usize, b.len());
    let mut found: Option<usize> = None;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let step = match seg.parse::<usize>() {
            Ok(k) => element(b, s, e, k),
            Err(_) => find_key(b, s, e, seg).map(|(at, colon)| {
                let (vs, ve) = value_extent(b, at, colon, e);
                (at, vs, ve)
            }),
        };
        match step {
            Some((at, vs, ve)) => {
                found = Some(at);
                (s, e) = (vs, ve);
            }
            None => break,
        }
    }
    found.map(|at| line_col(text, at))
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |n| before[n + 1..].chars().count())
        + 1;
    (line, col)
}

fn line_start(b: &[u8], at: usize) -> usize {
    b[..at]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |n| n + 1)
}

fn line_end(b: &[u8], at: usize) -> usize {
    b[at..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| at + n)
}

/// Whether `at` is inside a comment or a quoted string on its line (a cheap check).
fn in_comment_or_quote(b: &[u8], at: usize) -> bool {
    let (mut sq, mut dq) = (false, false);
    for i in line_start(b, at)..at {
        match b[i] {
            b'\'' if !dq => sq = !sq,
            b'"' if !sq => dq = !dq,
            b'#' if !sq && !dq && (i == 0 || b[i - 1].is_ascii_whitespace()) => return true,
            _ => {}
        }
    }
    sq || dq
}

/// The first `seg:` key in `[s, e)`: its start and the colon's index.
fn find_key(b: &[u8], s: usize, e: usize, seg: &str) -> Option<(usize, usize)> {
    let k = seg.as_bytes();
    let mut i = s;
    while i + k.len() <= e {
        if &b[i..i + k.len()] == k {
            let before_ok = {
                let ls = line_start(b, i);
                let prev = b[ls..i].iter().rev().find(|c| !c.is_ascii_whitespace());
                matches!(prev, None | Some(b'{') | Some(b',') | Some(b'-'))
            };
            let mut j = i + k.len();
            while j < e && b[j] == b' ' {
                j += 1;
            }
            let colon_ok = j < e
                && b[j] == b':'
                && (j + 1 >= b.len() || matches!(b[j + 1], b' ' | b'\n' | b'\r' | b'\t' | b','));
            if before_ok && colon_ok && !in_comment_or_quote(b, i) {
                return Some((i, j));
            }
        }
        i += 1;
    }
    None
}

/// The extent of the value of the key at `at` whose colon is at `colon`, bounded by `e`.
fn value_extent(b: &[u8], at: usize, colon: usize, e: usize) -> (usize, usize) {
    let mut v = colon + 1;
    while v < e && b[v] == b' ' {
        v += 1;
    }
    if v < e && (b[v] == b'{' || b[v] == b'[') {
        return (v, matching(b, v, e));
    }
    let rest_end = line_end(b, v).min(e);
    let rest = &b[v..rest_end];
    let rest_blank = rest.iter().all(|c| c.is_ascii_whitespace()) || rest.first() == Some(&b'#');
    if !rest_blank {
        return (v, rest_end);
    }
    // A block value: the following lines indented deeper than the key (or a `- ` list at the
    // key's own indentation).
    let col = at - line_start(b, at);
    let mut ln = rest_end + 1;
    while ln < e {
        let le = line_end(b, ln).min(e);
        let line = &b[ln..le];
        let indent = line.iter().take_while(|&&c| c == b' ').count();
        let content = &line[indent.min(line.len())..];
        let blank = content.is_empty() || content[0] == b'#' || content[0] == b'\r';
        if !blank && (indent < col || (indent == col && content[0] != b'-')) {
            return (v, ln);
        }
        ln = le + 1;
    }
    (v, e)
}

/// The index after the bracket that closes the one at `open`.
fn matching(b: &[u8], open: usize, e: usize) -> usize {
    let mut depth = 0usize;
    let (mut sq, mut dq) = (false, false);
    for (i, &c) in b.iter().enumerate().take(e).skip(open) {
        match c {
            b'\'' if !dq => sq = !sq,
            b'"' if !sq => dq = !dq,
            b'{' | b'[' if !sq && !dq => depth += 1,
            b'}' | b']' if !sq && !dq => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    e
}

/// Element `k` of the sequence that starts in `[s, e)`: its start and extent.
fn element(b: &[u8], s: usize, e: usize, k: usize) -> Option<(usize, usize, usize)> {
    let mut i = s;
    // Skip blanks and comments to the sequence's first character.
    loop {
        while i < e && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < e && b[i] == b'#' {
            i = line_end(b, i);
            continue;
        }
        break;
    }
    if i >= e {
        return None;
    }
    if b[i] == b'[' {
        let end = matching(b, i, e).saturating_sub(1);
        let mut start = i + 1;
        let mut idx = 0;
        let mut j = start;
        let mut depth = 0usize;
        let (mut sq, mut dq) = (false, false);
        while j <= end {
            let c = if j == end { b',' } else { b[j] };
            match c {
                b'\'' if !dq => sq = !sq,
                b'"' if !sq => dq = !dq,
                b'{' | b'[' if !sq && !dq => depth += 1,
                b'}' | b']' if !sq && !dq => depth = depth.saturating_sub(1),
                b',' if depth == 0 && !sq && !dq => {
                    if idx == k {
                        let mut a = start;
                        while a < j && b[a].is_ascii_whitespace() {
                            a += 1;
                        }
                        return Some((a, a, j));
                    }
                    idx += 1;
                    start = j + 1;
                }
                _ => {}
            }
            j += 1;
        }
        return None;
    }
    if b[i] == b'-' {
        let col = i - line_start(b, i);
        let mut items = Vec::new();
        let mut ln = line_start(b, i);
        while ln < e {
            let le = line_end(b, ln).min(e);
            let line = &b[ln..le];
            let indent = line.iter().take_while(|&&c| c == b' ').count();
            if indent == col && line.get(indent) == Some(&b'-') {
                items.push(ln + indent);
            }
            ln = le + 1;
        }
        let at = *items.get(k)?;
        let end = items.get(k + 1).copied().unwrap_or(e);
        let mut v = at + 1;
        while v < end && b[v] == b' ' {
            v += 1;
        }
        return Some((at, v, end));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::locate;

    const TEXT: &str = "server:\n  base_url: http://x\n# data: {a: 1}\ndata:\n  type: random\n  input_distribution: {min: 1, mean: 10}\n  output_distribution:\n    mean: 4\n    min: 2\nload:\n  type: constant\n  stages:\n    - {rate: 1, duration: 2}\n    - rate: 3\n      duration: 4\n  rates: [1, {x: 2}, 3]\n";

    #[test]
    fn finds_block_flow_and_list_keys() {
        assert_eq!(locate(TEXT, "server.base_url"), Some((2, 3)));
        assert_eq!(locate(TEXT, "data.type"), Some((5, 3)));
        assert_eq!(locate(TEXT, "data.input_distribution.mean"), Some((6, 32)));
        assert_eq!(locate(TEXT, "data.output_distribution.min"), Some((9, 5)));
        assert_eq!(locate(TEXT, "load.stages.0.rate"), Some((13, 8)));
        assert_eq!(locate(TEXT, "load.stages.1.duration"), Some((15, 7)));
        assert_eq!(locate(TEXT, "load.stages.1"), Some((14, 5)));
        assert_eq!(locate(TEXT, "load.rates.1.x"), Some((16, 15)));
        // Not in the text: the deepest prefix that is.
        assert_eq!(locate(TEXT, "data.input_distribution.max"), Some((6, 3)));
        assert_eq!(
            locate(TEXT, "load.rates (stage 2 of the shorthand)"),
            Some((16, 3))
        );
        assert_eq!(locate(TEXT, "nothing.here"), None);
    }
}
