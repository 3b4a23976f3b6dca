//! Scraping a yimen process's metrics endpoint as Prometheus does (`GET /metrics`, HTTP/1.1),
//! and reading the text exposition back into samples a test can ask about.

use std::collections::BTreeMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP answer: its status code, `Content-Type` and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// `GET path` of the server at `addr` (`host:port`), over a connection of its own.
pub async fn get(addr: &str, path: &str) -> anyhow::Result<Answer> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let raw = String::from_utf8(raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no end of headers in {raw:?}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line in {head:?}"))?;
    let content_type = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.trim().to_string())
        .unwrap_or_default();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut body: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body
            .split_once("\r\n")
            .ok_or_else(|| anyhow::anyhow!("a chunk without its size"))?;
        let size = usize::from_str_radix(size.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(
            rest.get(..size)
                .ok_or_else(|| anyhow::anyhow!("a short chunk"))?,
        );
        body = rest.get(size + 2..).unwrap_or_default();
    }
}

/// `GET /metrics` of the process whose metrics endpoint is `addr`, expecting 200: its samples.
pub async fn scrape(addr: &str) -> anyhow::Result<Samples> {
    let answer = get(addr, "/metrics").await?;
    anyhow::ensure!(answer.status == 200, "scrape answered {}", answer.status);
    parse(&answer.body)
}

/// One sample line: a series name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of one scrape.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<Sample>);

impl Samples {
    /// The samples of series `name` whose labels include every `(label, value)` of `with`.
    pub fn find<'a>(
        &'a self,
        name: &'a str,
        with: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.0.iter().filter(move |s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|have| have == v))
        })
    }

    /// The sum of the values of [`Samples::find`] (None when there is no such sample).
    pub fn value(&self, name: &str, with: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.find(name, with).peekable();
        found.peek()?;
        Some(found.map(|s| s.value).sum())
    }

    /// Every label value of every sample.
    pub fn label_values(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .flat_map(|s| s.labels.values().map(String::as_str))
    }
}

/// Reads the Prometheus text format: `name{label="value",...} value [timestamp]` lines, comments
/// skipped.
pub fn parse(text: &str) -> anyhow::Result<Samples> {
    let mut samples = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(at) => line.split_at(at),
            None => anyhow::bail!("no value in {line:?}"),
        };
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices();
            let mut end = None;
            let (mut key, mut value, mut in_value, mut escaped) =
                (String::new(), String::new(), false, false);
            for (i, c) in chars.by_ref() {
                if in_value {
                    match (escaped, c) {
                        (true, 'n') => {
                            value.push('\n');
                            escaped = false;
                        }
                        (true, c) => {
                            value.push(c);
                            escaped = false;
                        }
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            labels.insert(std::mem::take(&mut key), std::mem::take(&mut value));
                            in_value = false;
                        }
                        (false, c) => value.push(c),
                    }
                } else {
                    match c {
                        '}' => {
                            end = Some(i);
                            break;
                        }
                        '"' => in_value = true,
                        ',' | '=' | ' ' => {}
                        c => key.push(c),
                    }
                }
            }
            let end = end.ok_or_else(|| anyhow::anyhow!("unclosed labels in {line:?}"))?;
            rest = &inner[end + 1..];
        }
        let value = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no value in {line:?}"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .map_err(|e| anyhow::anyhow!("value {v:?} in {line:?}: {e}"))?,
        };
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(Samples(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_labels_and_values() {
        let text = "# HELP x y\n# TYPE a_total counter\na_total{kind=\"COLLECTIVE\",q=\"a\\\"b,c}\"} 3\nb 1.5\nc_bucket{le=\"+Inf\"} 2\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples.0.len(), 3);
        assert_eq!(
            samples.value("a_total", &[("kind", "COLLECTIVE")]),
            Some(3.0)
        );
        assert_eq!(samples.0[0].labels["q"], "a\"b,c}");
        assert_eq!(samples.value("b", &[]), Some(1.5));
        assert_eq!(samples.value("c_bucket", &[("le", "+Inf")]), Some(2.0));
        assert_eq!(samples.value("a_total", &[("kind", "OTHER")]), None);
    }

    #[test]
    fn reads_a_chunked_body() {
        assert_eq!(
            dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            "abcde"
        );
    }
}
