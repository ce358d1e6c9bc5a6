//! `report.html`: one self-contained page (inline CSS, plots as inline SVG; nothing is fetched)
//! with the headline, the summary table, the plots, the scenario and the per-host-group
//! resources. Each plot enlarges (CSS `:target`, no script): its caption's "enlarge" link and "close".

use super::load::RunData;
use super::plots::Plot;
use super::table::cell_text;
use crate::{assess, printable, worst, Cell, StageVerdict, Statistics, Verdict, COLUMNS};
use serde_json::Value;
use std::fmt::Write;

/// `s` as HTML text: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Liberation Sans',Arial,sans-serif;
  margin:0 auto;max-width:1360px;padding:24px 32px;color:#1d232a;background:#fff}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:32px 0 10px;border-bottom:1px solid #d8dde3;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}
.sub{color:#5b6773;margin:0 0 12px}
ul.headline{list-style:none;padding:0;margin:0;display:grid;
  grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:10px}
ul.headline li{background:#f3f6f9;border:1px solid #dfe5ea;border-radius:6px;padding:10px 12px}
ul.headline b{display:block;font-size:13px;color:#5b6773;font-weight:600;margin-bottom:2px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
th,td{border:1px solid #dfe5ea;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f6f9;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafbfc}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(600px,1fr));gap:18px}
figure{margin:0;border:1px solid #dfe5ea;border-radius:6px;padding:8px;background:#fff}
figure svg{width:100%;height:auto;display:block}
figcaption{font-size:13px;color:#5b6773;margin-top:4px}
code{font-size:12px;background:#f3f6f9;padding:1px 4px;border-radius:3px}
.note{color:#5b6773;font-size:13px}
.banner{border-radius:6px;padding:12px 16px;margin:12px 0;border:1px solid}
.banner h2{border:0;margin:0 0 6px;padding:0}
.banner ul{margin:0;padding-left:20px}
.banner.failed{background:#fdecea;border-color:#e0a39d;color:#7a1c12}
.banner.degraded{background:#fff6e0;border-color:#e4c77a;color:#6b4d00}
.banner.ok{background:#eaf6ec;border-color:#a6d3ae;color:#1f5b2a}
.plots figure.headline{grid-column:1/-1}
.plots figure.headline:not(:target) svg{max-height:440px}
figure:target{position:fixed;inset:2vh 2vw;z-index:10;overflow:auto;
  box-shadow:0 0 0 100vmax rgba(20,28,36,.55)}
figure:target svg{max-height:88vh}
figure .close{display:none}
figure:target .close{display:inline}
figure:target .open{display:none}
dl.args{display:grid;grid-template-columns:max-content auto;gap:0 10px;margin:0}
dl.args dt{color:#5b6773}
dl.args dd{margin:0}
";

/// One plot as a figure: the SVG (its XML declaration dropped) with `title` as the caption,
/// links to `plots/<name>.png` and `.svg` when `files`; `class` (e.g. `headline`) on the figure.
pub(crate) fn figure(name: &str, title: &str, svg: &str, class: &str, files: bool) -> String {
    let svg = svg
        .trim_start()
        .strip_prefix("<?xml")
        .and_then(|s| s.split_once("?>").map(|(_, rest)| rest))
        .unwrap_or(svg)
        .trim();
    let name = escape(name);
    let links = if files {
        format!(" — <a href=\"plots/{name}.png\">PNG</a>, <a href=\"plots/{name}.svg\">SVG</a>")
    } else {
        String::new()
    };
    format!(
        "<figure id=\"plot-{name}\" class=\"{class}\">{svg}<figcaption>{title}{links} · \
         <a class=\"open\" href=\"#plot-{name}\">enlarge</a><a class=\"close\" href=\"#plots\">close</a></figcaption></figure>\n",
        class = escape(class),
        title = escape(title),
    )
}

/// The whole page.
pub(crate) fn report_html(
    run: &RunData,
    rows: &[Vec<Cell>],
    headline: &[String],
    plots: &[Plot],
    files: &[String],
) -> String {
    let mut h = String::new();
    let title = format!("fleetbench run {}", run.run_id);
    let gpu = rows.first().map(|r| cell_text(&r[1])).unwrap_or_default();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<h1>{}</h1>\n\
         <p class=\"sub\">profile <b>{}</b> · {} stage{} · GPU {} · model {}</p>\n",
        escape(&title),
        STYLE,
        escape(&title),
        escape(&run.profile_name),
        run.stages.len(),
        if run.stages.len() == 1 { "" } else { "s" },
        escape(&gpu),
        escape(&run.stages[0].report.scenario.model.name),
    );

    verdict_banner(&mut h, run);

    h.push_str("<h2>Headline</h2>\n<ul class=\"headline\">\n");
    if headline.is_empty() {
        h.push_str("<li><b>No headline figures</b>no stage produced successful requests: see the verdict above</li>\n");
    }
    for l in headline {
        let (k, v) = l.split_once(": ").unwrap_or(("", l));
        let _ = writeln!(
            h,
            "<li><b>{}</b>{}</li>",
            escape(k.trim()),
            escape(v.trim())
        );
    }
    h.push_str("</ul>\n");

    h.push_str("<h2>Summary</h2>\n<div class=\"scroll\"><table class=\"summary\">\n<thead><tr>");
    for (c, name) in COLUMNS.iter().enumerate() {
        let _ = write!(
            h,
            "<th{}>{}</th>",
            if c >= 2 { " class=\"n\"" } else { "" },
            escape(name)
        );
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        h.push_str("<tr>");
        for c in row {
            let cls = if matches!(c, Cell::Text(_)) {
                ""
            } else {
                " class=\"n\""
            };
            let _ = write!(h, "<td{cls}>{}</td>", escape(&cell_text(c)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div>\n");
    pools(&mut h, run);

    h.push_str("<h2 id=\"plots\">Plots</h2>\n");
    if plots.is_empty() {
        h.push_str(
            "<p class=\"note\">No plots: the run directory has no readable data for them.</p>\n",
        );
    }
    h.push_str("<div class=\"plots\">\n");
    for (i, p) in plots.iter().enumerate() {
        // The first plot (throughput vs load in a sweep) spans the page's width.
        let class = if i == 0 { "headline" } else { "" };
        h.push_str(&figure(&p.name, &p.title, &p.svg, class, true));
    }
    h.push_str("</div>\n");

    scenario(&mut h, run);
    resources(&mut h, run);

    h.push_str("<h2>Files</h2>\n<ul>\n");
    for f in files {
        let _ = writeln!(
            h,
            "<li><a href=\"{f}\"><code>{f}</code></a></li>",
            f = escape(f)
        );
    }
    h.push_str("</ul>\n");
    if !run.warnings.is_empty() {
        h.push_str("<h2>Notes</h2>\n<ul class=\"note\">\n");
        for w in &run.warnings {
            let _ = writeln!(h, "<li>{}</li>", escape(w));
        }
        h.push_str("</ul>\n");
    }
    let _ = writeln!(
        h,
        "<p class=\"note\">Rendered by fleetbench {} from the files of the run directory.</p>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    h
}

/// The run's verdict: a red (failed) or amber (degraded) banner with each stage's verdict, its
/// reasons and its top failure classes (with the server's first error body); a green line when
/// every stage is ok.
fn verdict_banner(h: &mut String, run: &RunData) {
    let verdicts: Vec<StageVerdict> = run.stages.iter().map(|s| assess(&s.report)).collect();
    let overall = worst(&verdicts);
    let _ = writeln!(
        h,
        "<div class=\"banner {cls}\" id=\"verdict\"><h2>Verdict: {}</h2>",
        overall.as_str().to_uppercase(),
        cls = overall.as_str()
    );
    if overall == Verdict::Ok {
        h.push_str("<p>Every stage is ok.</p></div>\n");
        return;
    }
    h.push_str("<ul>\n");
    for v in &verdicts {
        let reasons = if v.reasons.is_empty() {
            String::new()
        } else {
            format!(" — {}", v.reasons.join("; "))
        };
        let _ = write!(
            h,
            "<li>stage {} ({}): <b>{}</b>{}",
            v.stage,
            escape(&v.label),
            v.verdict.as_str(),
            escape(&reasons)
        );
        if !v.top_failures.is_empty() {
            h.push_str("<ul>");
            for f in &v.top_failures {
                let body = f
                    .first_error_body
                    .as_deref()
                    .map(|b| {
                        format!(
                            " — server said: <code>{}</code>",
                            escape(&printable(b, 512))
                        )
                    })
                    .unwrap_or_default();
                let _ = write!(
                    h,
                    "<li><code>{}</code>: {} requests{body}</li>",
                    escape(&f.class),
                    f.count
                );
            }
            h.push_str("</ul>");
        }
        h.push_str("</li>\n");
    }
    h.push_str("</ul></div>\n");
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A plan argument as readable `key: value` pairs: nested objects as dotted keys (three levels,
/// deeper ones counted), lists of scalars joined (the first 8), lists of objects counted; nulls
/// left out.
fn flatten(key: &str, v: &Value, depth: usize, out: &mut Vec<(String, String)>) {
    match v {
        Value::Null => {}
        Value::Object(o) if depth < 3 => {
            for (k, v) in o {
                flatten(&format!("{key}.{k}"), v, depth + 1, out);
            }
        }
        Value::Object(o) => out.push((key.into(), format!("{} fields", o.len()))),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let mut items: Vec<String> = a.iter().take(8).map(compact).collect();
            if a.len() > 8 {
                items.push(format!("… ({} in all)", a.len()));
            }
            out.push((key.into(), items.join(", ")));
        }
        Value::Array(a) => out.push((key.into(), format!("{} entries", a.len()))),
        other => out.push((key.into(), compact(other))),
    }
}

fn scenario(h: &mut String, run: &RunData) {
    let first = &run.stages[0].report.scenario;
    h.push_str("<h2>Scenario</h2>\n");
    if let Some(d) = &first.description {
        let _ = writeln!(h, "<p>{}</p>", escape(d));
    }
    let _ = writeln!(
        h,
        "<p>Model <b>{}</b>{} · run id <code>{}</code>{}</p>",
        escape(&first.model.name),
        first
            .model
            .quantization
            .as_ref()
            .map(|q| format!(" ({})", escape(q)))
            .unwrap_or_default(),
        escape(&run.run_id),
        first
            .metadata
            .as_ref()
            .and_then(|m| m.get("seed"))
            .map(|s| format!(" · seed <code>{}</code>", escape(&compact(s))))
            .unwrap_or_default(),
    );

    h.push_str("<h3>Hosts and engines</h3>\n<div class=\"scroll\"><table>\n<thead><tr><th>Host group</th><th>Accelerator</th><th class=\"n\">Count</th><th class=\"n\">Memory (GB)</th><th>Engine</th><th>Engine args</th><th>Agents</th></tr></thead>\n<tbody>\n");
    let groups = first
        .host
        .metadata
        .as_ref()
        .and_then(|m| m.get("groups"))
        .and_then(Value::as_array);
    for (i, kind) in first.host.kind.iter().enumerate() {
        let acc = first.host.accelerator.get(i);
        let eng = first.platform.engine.get(i);
        let agents = groups
            .and_then(|g| g.get(i))
            .and_then(|g| g.get("agents"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| {
                        let id = x.get("id").map(compact).unwrap_or_default();
                        let host = x.get("host").map(compact).unwrap_or_default();
                        if host.is_empty() || host == id {
                            id
                        } else {
                            format!("{id} ({host})")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(kind),
            escape(acc.map(|a| a.model.as_str()).unwrap_or("")),
            acc.map(|a| a.count).unwrap_or(0),
            acc.and_then(|a| a.memory).map(|m| format!("{m}")).unwrap_or_else(|| "–".into()),
            escape(&eng.map(|e| match &e.version {
                Some(v) => format!("{} {v}", e.name),
                None => e.name.clone(),
            }).unwrap_or_default()),
            escape(&eng.filter(|e| !e.args.is_empty()).map(|e| Value::Object(e.args.clone()).to_string()).unwrap_or_else(|| "–".into())),
            escape(&agents),
        );
    }
    h.push_str("</tbody></table></div>\n");

    h.push_str("<h3>Load</h3>\n<div class=\"scroll\"><table>\n<thead><tr><th>Stage</th><th>Label</th><th>Type</th><th>Arguments</th><th class=\"n\">Duration (s)</th><th class=\"n\">Requests</th><th class=\"n\">Failures</th></tr></thead>\n<tbody>\n");
    for s in &run.stages {
        let load = &s.report.scenario.load;
        let mut pairs = Vec::new();
        if let Some(a) = s.report.stage_plan() {
            for (k, v) in a.iter().filter(|(k, _)| k.as_str() != "type") {
                flatten(k, v, 0, &mut pairs);
            }
        }
        let args: String = pairs
            .iter()
            .map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v)))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td><dl class=\"args\">{args}</dl></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            s.index,
            escape(&s.label),
            escape(load.kind.as_deref().unwrap_or(s.load_kind())),
            s.report.metrics.time.duration,
            s.report.metrics.requests.total,
            s.report.metrics.requests.failures.unwrap_or(0),
        );
    }
    h.push_str("</tbody></table></div>\n");
}

/// The per-pool breakdown, each stage's P/D path check and its TTFT split.
fn pools(h: &mut String, run: &RunData) {
    use crate::{pool_rows, stage_pd_lines, POOL_COLUMNS};
    let reports: Vec<_> = run.stages.iter().map(|s| s.report.clone()).collect();
    let rows = pool_rows(&reports);
    if rows.is_empty() {
        return;
    }
    h.push_str("<h2 id=\"pools\">Per-pool breakdown</h2>\n<div class=\"scroll\"><table class=\"summary\">\n<thead><tr>");
    for name in POOL_COLUMNS {
        let _ = write!(h, "<th>{}</th>", escape(name));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        h.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let cls = if i >= 2 { " class=\"n\"" } else { "" };
            let _ = write!(h, "<td{cls}>{}</td>", escape(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div>\n<ul class=\"pd\">\n");
    for l in stage_pd_lines(&reports) {
        let _ = writeln!(h, "<li>{}</li>", escape(&l));
    }
    h.push_str("</ul>\n");
}

fn resources(h: &mut String, run: &RunData) {
    h.push_str("<h2>Resources per host group</h2>\n");
    let mut body = String::new();
    for s in &run.stages {
        let Some(res) = &s.report.metrics.resources else {
            continue;
        };
        for (i, acc) in res.accelerator.iter().enumerate() {
            let group = s
                .report
                .scenario
                .host
                .kind
                .get(i)
                .cloned()
                .unwrap_or_default();
            let mem = acc.memory.as_ref();
            let stats: [(&str, Option<&Statistics>); 5] = [
                (
                    "memory consumption",
                    mem.and_then(|m| m.consumption.as_ref()),
                ),
                (
                    "memory utilization",
                    mem.and_then(|m| m.utilization.as_ref()),
                ),
                ("memory bandwidth", mem.and_then(|m| m.bandwidth.as_ref())),
                (
                    "compute utilization",
                    acc.compute.as_ref().and_then(|c| c.utilization.as_ref()),
                ),
                ("power", acc.power.as_ref()),
            ];
            for (name, st) in stats {
                let Some(st) = st else { continue };
                let f = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
                let _ = writeln!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    escape(&s.label),
                    escape(&group),
                    name,
                    st.mean,
                    f(st.p50),
                    f(st.p99),
                    f(st.max),
                    escape(&st.units),
                );
            }
        }
    }
    if body.is_empty() {
        h.push_str("<p class=\"note\">The reports carry no resource measurements (accelerator memory, utilization, power): no telemetry was collected for this run.</p>\n");
    } else {
        h.push_str("<div class=\"scroll\"><table>\n<thead><tr><th>Stage</th><th>Host group</th><th>Metric</th><th class=\"n\">Mean</th><th class=\"n\">p50</th><th class=\"n\">p99</th><th class=\"n\">Max</th><th>Units</th></tr></thead>\n<tbody>\n");
        h.push_str(&body);
        h.push_str("</tbody></table></div>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, flatten};
    use serde_json::json;

    #[test]
    fn plan_arguments_read_as_pairs_not_json() {
        let mut out = Vec::new();
        let data = json!({"kind": "random", "input": {"min": 8, "max": 8}, "weights": [1, 2], "files": [{"a": 1}], "x": null});
        flatten("data", &data, 0, &mut out);
        flatten("rate", &json!(5.0), 0, &mut out);
        let text: Vec<String> = out.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        assert_eq!(
            text,
            [
                "data.kind: random",
                "data.input.min: 8",
                "data.input.max: 8",
                "data.weights: 1, 2",
                "data.files: 1 entries",
                "rate: 5.0"
            ]
        );
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
