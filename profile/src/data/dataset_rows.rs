//! The rows of a dataset's data files, one JSON object each, as Python's `datasets` reads them:
//! a JSON file is JSON Lines (objects one after another; pyarrow's reader) or one JSON list of
//! records (the pandas fallback); a Parquet file's rows with every column (null where a value
//! is missing). Each row is handed on as it is read, so that a large file is never held whole
//! unless it is a single JSON list.

use super::data_files::Format;
use super::hf::RowSink;
use serde_json::Value;
use std::io::{BufReader, Read};
use std::path::Path;

/// The largest data file read.
pub(crate) const MAX_DATA_FILE_BYTES: u64 = 4 << 30;
/// The largest JSON file that is one list of records (parsed whole).
pub(crate) const MAX_JSON_LIST_BYTES: u64 = 512 << 20;

/// Hands every row of `path` to `each`, in order, until `each` breaks; returns how many rows it
/// was handed. The error says what is wrong (the caller names the file).
pub(crate) fn for_each_row(
    path: &Path,
    format: Format,
    each: &mut RowSink<'_>,
) -> Result<usize, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if size > MAX_DATA_FILE_BYTES {
        return Err(format!(
            "{size} bytes, more than the {} GiB a data file may have",
            MAX_DATA_FILE_BYTES >> 30
        ));
    }
    match format {
        Format::Parquet => super::hf::parquet_rows(path, each),
        Format::Json => json_rows(path, size, each),
    }
}

fn json_rows(path: &Path, size: u64, each: &mut RowSink<'_>) -> Result<usize, String> {
    let open = || std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"));
    let first = BufReader::new(open()?)
        .bytes()
        .map_while(Result::ok)
        .find(|b| !b.is_ascii_whitespace());
    let object = |v: Value, n: usize| match v {
        Value::Object(_) => Ok(v),
        _ => Err(format!("row {n}: not a JSON object")),
    };
    let mut n = 0;
    if first == Some(b'[') {
        if size > MAX_JSON_LIST_BYTES {
            return Err(format!(
                "a JSON list of {size} bytes, more than the {} MiB read whole; write it as JSON Lines",
                MAX_JSON_LIST_BYTES >> 20
            ));
        }
        let rows: Vec<Value> = serde_json::from_reader(BufReader::new(open()?))
            .map_err(|e| format!("not a JSON list of records: {e}"))?;
        for row in rows {
            n += 1;
            if each(object(row, n - 1)?)?.is_break() {
                break;
            }
        }
        return Ok(n);
    }
    let stream =
        serde_json::Deserializer::from_reader(BufReader::new(open()?)).into_iter::<Value>();
    for row in stream {
        let row = row.map_err(|e| format!("row {n}: not JSON: {e}"))?;
        n += 1;
        if each(object(row, n - 1)?)?.is_break() {
            break;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::ControlFlow;

    #[test]
    fn a_reader_that_has_enough_stops_the_file_there() {
        let dir = std::env::temp_dir().join(format!("fleetbench-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lines = dir.join("rows.json");
        // The third row is not JSON: a reader that stops after two never sees it.
        std::fs::write(&lines, "{\"a\": 1}\n{\"a\": 2}\n{not json\n").unwrap();
        let list = dir.join("list.json");
        std::fs::write(&list, "[{\"a\": 1}, {\"a\": 2}, {\"a\": 3}]").unwrap();
        for path in [&lines, &list] {
            let mut seen = Vec::new();
            let mut each = |row: Value| {
                seen.push(row["a"].as_i64().unwrap());
                Ok(if seen.len() < 2 {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                })
            };
            assert_eq!(for_each_row(path, Format::Json, &mut each), Ok(2));
            assert_eq!(seen, [1, 2]);
        }
        let mut all = |_: Value| Ok(ControlFlow::Continue(()));
        let e = for_each_row(&lines, Format::Json, &mut all).unwrap_err();
        assert!(e.starts_with("row 2: not JSON"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
