//! inference-perf's `AzurePublicDataset` trace format (the Azure LLM inference traces): CSV
//! lines `TIMESTAMP,ContextTokens,GeneratedTokens`, an optional header, timestamps as
//! `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, `T` and `Z` allowed). Read by the coordinator for
//! `load.trace` / `data.trace`; each line becomes a [`TraceRecord`] timed from the first line,
//! without prefix blocks.

use super::files::DatasetError;
use fleetbench_model::data::{TraceRecord, MAX_TRACE_RECORDS};
use std::io::{BufRead, Read};
use std::path::Path;

/// Longest line read (a trace line is a timestamp and two numbers).
const MAX_LINE_BYTES: usize = 4096;

/// Reads the first [`MAX_TRACE_RECORDS`] records of an Azure trace CSV.
pub(crate) fn read_azure_trace(path: &Path) -> Result<Vec<TraceRecord>, DatasetError> {
    let err = |message: String| DatasetError {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut reader = std::io::BufReader::new(file);
    let mut out = Vec::new();
    let mut first_ms = None;
    let mut line = String::new();
    let mut n = 0usize;
    while out.len() < MAX_TRACE_RECORDS {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_line(&mut line)
            .map_err(|e| err(format!("cannot read: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        if read > MAX_LINE_BYTES {
            return Err(err(format!("line {n}: longer than {MAX_LINE_BYTES} bytes")));
        }
        let fields: Vec<&str> = line.trim().split(',').map(str::trim).collect();
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        let parsed = (fields.len() >= 3)
            .then(|| {
                Some((
                    parse_timestamp_ms(fields[0])?,
                    fields[1].parse::<u32>().ok()?,
                    fields[2].parse::<u32>().ok()?,
                ))
            })
            .flatten();
        let Some((t, input, output)) = parsed else {
            if n == 1 {
                continue; // the header
            }
            return Err(err(format!(
                "line {n}: expected TIMESTAMP,ContextTokens,GeneratedTokens (e.g. 2023-11-16 18:15:46.680590,374,44), got {:?}",
                line.trim()
            )));
        };
        if input == 0 || output == 0 {
            return Err(err(format!(
                "line {n}: ContextTokens and GeneratedTokens must be ≥ 1"
            )));
        }
        let start = *first_ms.get_or_insert(t);
        out.push(TraceRecord {
            timestamp_ms: t - start,
            input_length: input,
            output_length: output,
            hash_ids: Vec::new(),
        });
    }
    if out.is_empty() {
        return Err(err("no records".into()));
    }
    Ok(out)
}

/// `YYYY-MM-DD HH:MM:SS[.fff...]` (or with `T` / `Z`, or quoted) as ms since the Unix epoch.
fn parse_timestamp_ms(s: &str) -> Option<f64> {
    let s = s.trim_matches('"').trim_end_matches('Z');
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec >= 61.0 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + min * 60) as f64 + sec) * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_ms() {
        assert_eq!(parse_timestamp_ms("1970-01-01 00:00:01.5"), Some(1500.0));
        assert_eq!(
            parse_timestamp_ms("2023-11-16T18:15:46.68Z"),
            Some(1_700_158_546_680.0)
        );
        assert_eq!(parse_timestamp_ms("2023-13-16 18:15:46"), None);
    }

    #[test]
    fn reads_lines_relative_to_the_first() {
        let dir = std::env::temp_dir().join(format!("fb-azure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t.csv");
        std::fs::write(
            &f,
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.50,374,44\n2023-11-16 18:15:47.00,10,2\n\n",
        )
        .unwrap();
        let t = read_azure_trace(&f).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[1].timestamp_ms, t[1].input_length, t[1].output_length),
            (500.0, 10, 2)
        );
        std::fs::write(&f, "2023-11-16 18:15:46.50,374,44\nbad,1\n").unwrap();
        let e = read_azure_trace(&f).unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
        std::fs::remove_dir_all(&dir).ok();
    }
}
