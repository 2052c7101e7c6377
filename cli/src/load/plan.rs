//! A plan file: several endpoints with their methods, headers, bodies and
//! weights (`tailwatch load --plan FILE`).
//!
//! ```text
//! # Lines starting with # are comments.
//! endpoint GET http://127.0.0.1:8080/users/{id}
//!   weight 3
//!   header accept: application/json
//! endpoint POST http://127.0.0.1:8080/checkout
//!   header content-type: application/json
//!   body {"items": 1}
//! ```
//!
//! Each `endpoint METHOD URL` line starts an endpoint; the indented lines
//! under it set its `weight` (a whole number, 1 by default: its share of
//! the requests), its `header`s (`name: value`, repeatable) and its `body`
//! (the rest of the line, sent as is). `{id}` in a URL becomes an id from
//! 1 to 1000 per request. An error names the file, the line and what is
//! wrong with it.

/// One endpoint as the plan gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) method: http::Method,
    pub(crate) url: String,
    pub(crate) weight: u32,
    pub(crate) headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub(crate) body: Option<String>,
}

/// Parses a plan's `text`, read from `file` (for messages).
pub(crate) fn parse(file: &str, text: &str) -> Result<Vec<Planned>, String> {
    let mut out: Vec<Planned> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at = |what: String| format!("{file}:{}: {what}", n + 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        if key == "endpoint" {
            if raw.starts_with(char::is_whitespace) {
                return Err(at("`endpoint` starts a line, not indented".into()));
            }
            let (method, url) = rest.split_once(char::is_whitespace).ok_or_else(|| {
                at(format!(
                    "{line:?}: write `endpoint METHOD URL`, e.g. `endpoint GET http://127.0.0.1:8080/users/{{id}}`"
                ))
            })?;
            let method: http::Method = method
                .parse()
                .ok()
                .filter(|m: &http::Method| m.as_str().bytes().all(|b| b.is_ascii_uppercase()))
                .ok_or_else(|| {
                    at(format!(
                        "{method:?} is not an HTTP method (GET, POST, PUT, …)"
                    ))
                })?;
            out.push(Planned {
                method,
                url: url.trim().to_owned(),
                weight: 1,
                headers: Vec::new(),
                body: None,
            });
            continue;
        }
        let Some(current) = out.last_mut() else {
            return Err(at(format!("{key:?} before any `endpoint METHOD URL` line")));
        };
        if !raw.starts_with(char::is_whitespace) {
            return Err(at(format!(
                "{key:?} belongs to an endpoint: indent it under its `endpoint` line"
            )));
        }
        match key {
            "weight" => {
                current.weight = rest
                    .parse()
                    .ok()
                    .filter(|w| (1..=1_000_000).contains(w))
                    .ok_or_else(|| {
                        at(format!("weight {rest:?}: a whole number from 1 to 1000000"))
                    })?;
            }
            "header" => {
                let (name, value) = rest
                    .split_once(':')
                    .ok_or_else(|| at(format!("header {rest:?}: write `header name: value`")))?;
                let name = http::HeaderName::from_bytes(name.trim().as_bytes())
                    .map_err(|_| at(format!("{:?} is not a header name", name.trim())))?;
                let value = http::HeaderValue::from_str(value.trim())
                    .map_err(|_| at(format!("{:?} is not a header value", value.trim())))?;
                current.headers.push((name, value));
            }
            "body" => current.body = Some(rest.to_owned()),
            other => {
                return Err(at(format!(
                    "unknown key {other:?} (an endpoint takes weight, header, body)"
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(format!(
            "{file}: no endpoint; write at least one `endpoint METHOD URL` line"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_and_errors_name_the_line() {
        let plan = parse(
            "p",
            "# a plan\nendpoint GET http://h:1/users/{id}\n  weight 3\n  header accept: text/plain\n\n\
             endpoint POST http://h:1/checkout\n  body {\"items\": 1}\n",
        )
        .unwrap();
        assert_eq!(plan.len(), 2);
        assert_eq!((plan[0].method.as_str(), plan[0].weight), ("GET", 3));
        assert_eq!(plan[0].headers[0].0, "accept");
        assert_eq!(plan[1].body.as_deref(), Some("{\"items\": 1}"));
        for (text, says) in [
            (
                "endpoint GET\n",
                "p:1: \"endpoint GET\": write `endpoint METHOD URL`",
            ),
            (
                "endpoint get http://h/\n",
                "p:1: \"get\" is not an HTTP method",
            ),
            ("  weight 2\n", "p:1: \"weight\" before any"),
            (
                "endpoint GET http://h/\nweight 2\n",
                "p:2: \"weight\" belongs to an endpoint",
            ),
            (
                "endpoint GET http://h/\n  wieght 2\n",
                "p:2: unknown key \"wieght\"",
            ),
            ("endpoint GET http://h/\n  weight 0\n", "p:2: weight \"0\""),
            (
                "endpoint GET http://h/\n  header nocolon\n",
                "p:2: header \"nocolon\"",
            ),
            ("# nothing\n", "p: no endpoint"),
        ] {
            let e = parse("p", text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
