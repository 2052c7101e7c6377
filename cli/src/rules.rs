//! `tailwatch rules`: the Prometheus rules (multi-window, multi-burn-rate
//! alerts, recording rules) for the objectives of a file or of a running
//! agent. See `docs/objectives.md` for the file's format.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;
use tailwatch::objectives::Objective;
use tailwatch::objectives::rules::{self, RuleOptions};

/// `tailwatch rules` options.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["objectives", "agent"]))]
pub(crate) struct Args {
    /// A YAML file of objectives (docs/objectives.md).
    #[arg(long, value_name = "FILE")]
    objectives: Option<PathBuf>,
    /// A running agent (`http://host:9464`): the objectives its service
    /// declared (`tailwatch_objective_info` on its /metrics).
    #[arg(long, value_name = "URL")]
    agent: Option<String>,
    /// Read native histograms (`histogram_fraction`) instead of the classic
    /// `_bucket` series.
    #[arg(long)]
    native: bool,
    /// The runbooks page the alerts link to.
    #[arg(long, default_value = rules::DEFAULT_RUNBOOKS)]
    runbook_url: String,
    /// The dashboard the alerts link to.
    #[arg(long, default_value = rules::DEFAULT_DASHBOARD)]
    dashboard_url: String,
    /// Write the rules here instead of to standard output.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Runs `tailwatch rules`: 0 written, 2 a bad file, agent or objective.
pub(crate) fn run(args: &Args) -> ExitCode {
    match write(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn write(args: &Args) -> Result<(), String> {
    let objectives = match (&args.objectives, &args.agent) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            parse(&file.display().to_string(), &text)?
        }
        (None, Some(url)) => from_agent(url)?,
        (None, None) => return Err("give --objectives FILE or --agent URL".into()),
    };
    let options = RuleOptions {
        runbook_url: args.runbook_url.clone(),
        dashboard_url: args.dashboard_url.clone(),
        native: args.native,
    };
    let text = rules::generate(&objectives, &options).map_err(|e| e.to_string())?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The file: `objectives:`, a list of entries.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    objectives: Vec<Entry>,
}

/// One objective as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    /// `latency` or `availability`.
    sli: String,
    /// For `latency`: `300ms`, `1.5s`.
    threshold: Option<String>,
    /// `0.999` or `"99.9%"`.
    target: Target,
    /// `28d` (the default).
    period: Option<String>,
    min_failures: Option<u32>,
    http_route: Option<String>,
    /// With `http_route`: the method (all methods without it).
    method: Option<String>,
    grpc_service: Option<String>,
    grpc_method: Option<String>,
    operation: Option<String>,
    http_client: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Target {
    Fraction(f64),
    Text(String),
}

/// The objectives of a file named `name` holding `text`; errors name the
/// file, the entry and the field.
pub(crate) fn parse(name: &str, text: &str) -> Result<Vec<Objective>, String> {
    let file: File = serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
        Some(at) => format!("{name}:{}:{}: {e}", at.line(), at.column()),
        None => format!("{name}: {e}"),
    })?;
    let mut out = Vec::new();
    for (i, e) in file.objectives.into_iter().enumerate() {
        let at = format!("{name}: objective {} ({:?})", i + 1, e.name);
        out.push(entry(e).map_err(|why| format!("{at}: {why}"))?);
    }
    Ok(out)
}

fn entry(e: Entry) -> Result<Objective, String> {
    let target = match e.target {
        Target::Fraction(f) => f,
        Target::Text(t) => {
            let number = t.trim().trim_end_matches('%').trim();
            let v: f64 = number
                .parse()
                .map_err(|_| format!("target {t:?} is not a number (0.999 or \"99.9%\")"))?;
            if t.trim().ends_with('%') {
                v / 100.0
            } else {
                v
            }
        }
    };
    let mut o = match e.sli.as_str() {
        "latency" => {
            let t = e
                .threshold
                .as_deref()
                .ok_or("a latency objective needs a threshold (e.g. threshold: 300ms)")?;
            Objective::latency(&e.name, duration(t)?, target)
        }
        "availability" => {
            if e.threshold.is_some() {
                return Err("an availability objective has no threshold".into());
            }
            Objective::availability(&e.name, target)
        }
        other => return Err(format!("sli {other:?} is not latency or availability")),
    };
    if let Some(p) = &e.period {
        let days: u64 = p
            .strip_suffix('d')
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("period {p:?} is not a number of days (e.g. 28d)"))?;
        o = o.period(Duration::from_secs(days.saturating_mul(86_400)));
    }
    if let Some(n) = e.min_failures {
        o = o.min_failures(n);
    }
    let scopes = [
        e.http_route.is_some(),
        e.grpc_service.is_some() || e.grpc_method.is_some(),
        e.operation.is_some(),
        e.http_client.is_some(),
    ];
    if scopes.iter().filter(|s| **s).count() != 1 {
        return Err(
            "say which calls it judges with one of http_route (and method), grpc_service and grpc_method, operation, http_client"
                .into(),
        );
    }
    if e.method.is_some() && e.http_route.is_none() {
        return Err("method goes with http_route".into());
    }
    o = if let Some(route) = &e.http_route {
        o.http_route(e.method.as_deref().unwrap_or(""), route)
    } else if let (Some(service), Some(method)) = (&e.grpc_service, &e.grpc_method) {
        o.grpc_method(service, method)
    } else if let Some(op) = &e.operation {
        o.operation(op)
    } else if let Some(host) = &e.http_client {
        o.http_client(host)
    } else {
        return Err("grpc_service and grpc_method go together".into());
    };
    o.validate().map_err(|e| e.to_string())?;
    Ok(o)
}

/// `300ms`, `1.5s`, `2m`: a duration.
fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let v: f64 = number
        .parse()
        .map_err(|_| format!("threshold {text:?} is not a duration (e.g. 300ms, 1.5s)"))?;
    let seconds = match unit.trim() {
        "us" | "µs" => v / 1e6,
        "ms" => v / 1e3,
        "s" => v,
        "m" => v * 60.0,
        _ => {
            return Err(format!(
                "threshold {text:?} has no unit: write us, ms, s or m (e.g. 300ms)"
            ));
        }
    };
    tailwatch::objectives::seconds(seconds)
        .ok_or_else(|| format!("threshold {text:?} is out of range"))
}

/// The objectives an agent exports (`tailwatch_objective_info`).
fn from_agent(url: &str) -> Result<Vec<Objective>, String> {
    let base = url.trim_end_matches('/');
    let uri: http::Uri = format!("{base}/metrics")
        .parse()
        .map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "{url:?}: only http:// agents can be read (for TLS or auth, save /metrics and use --objectives)"
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let text = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), get(uri))
            .await
            .map_err(|_| format!("{url}: no answer within 10 s"))?
    })?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(tailwatch::objectives::OBJECTIVE_INFO) else {
            continue;
        };
        let Some(labels) = rest.strip_prefix('{').and_then(|r| r.rsplit_once('}')) else {
            continue;
        };
        let labels = parse_labels(labels.0)
            .ok_or_else(|| format!("{url}: cannot read the labels of {line:?}"))?;
        out.push(Objective::from_info_labels(&labels).map_err(|e| format!("{url}: {e}"))?);
    }
    if out.is_empty() {
        return Err(format!(
            "{url}: the agent exports no objective (no {} on its /metrics): declare them with tailwatch::objectives::Objectives",
            tailwatch::objectives::OBJECTIVE_INFO
        ));
    }
    Ok(out)
}

async fn get(uri: http::Uri) -> Result<String, String> {
    use http_body_util::BodyExt;
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("{authority}: {e}"))?;
    tokio::spawn(connection);
    let request = http::Request::get(uri.path())
        .header(http::header::HOST, &authority)
        .header(http::header::ACCEPT, "text/plain;version=0.0.4")
        .body(http_body_util::Empty::<axum::body::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{uri}: answered {}", response.status()));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{authority}: {e}"))?
        .to_bytes();
    String::from_utf8(body.to_vec()).map_err(|_| format!("{uri}: not UTF-8"))
}

/// `a="x",b="y\"z"` (text format escapes: `\\`, `\"`, `\n`).
fn parse_labels(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let mut chars = after.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        out.push((name.trim().to_owned(), value));
        rest = after[end + 2..].trim_start_matches(',').trim();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_are_read_with_their_escapes() {
        assert_eq!(
            parse_labels(r#"a="x",b="y\"z\\w\n",c="""#).unwrap(),
            vec![
                ("a".into(), "x".into()),
                ("b".into(), "y\"z\\w\n".into()),
                ("c".into(), String::new())
            ]
        );
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(duration("300").unwrap_err().contains("no unit"));
    }
}
