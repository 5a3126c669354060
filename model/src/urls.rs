//! How the console's URLs carry its queries, and where a sign-in may send the browser next.
use crate::{NotificationQuery, TransactionQuery};

impl TransactionQuery {
    /// The query the URL's parameters describe.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> TransactionQuery {
        let flag = |name: &str| get(name).is_some_and(|v| v == "true" || v == "on");
        TransactionQuery {
            q: get("q"),
            project: get("project").and_then(|p| p.parse().ok()),
            store: get("store"),
            product: get("product"),
            status: get("status"),
            consumed: get("consumed").and_then(|c| c.parse().ok()),
            include_test: flag("include_test"),
            from: get("from"),
            to: get("to"),
            oldest_first: flag("oldest_first"),
            after: get("after"),
        }
    }

    /// The URL's query string: the inverse of [`TransactionQuery::from_params`].
    pub fn to_query_string(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let mut text = |name, value: &Option<String>| {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                pairs.push((name, v.to_string()));
            }
        };
        text("q", &self.q);
        text("store", &self.store);
        text("product", &self.product);
        text("status", &self.status);
        text("from", &self.from);
        text("to", &self.to);
        text("after", &self.after);
        if let Some(project) = self.project {
            pairs.push(("project", project.to_string()));
        }
        if let Some(consumed) = self.consumed {
            pairs.push(("consumed", consumed.to_string()));
        }
        if self.include_test {
            pairs.push(("include_test", "true".into()));
        }
        if self.oldest_first {
            pairs.push(("oldest_first", "true".into()));
        }
        pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
    }
}

impl NotificationQuery {
    /// The query the URL's parameters describe.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> NotificationQuery {
        NotificationQuery {
            project: get("project").and_then(|p| p.parse().ok()),
            store: get("store"),
            status: get("status"),
            since: get("since"),
            after: get("after"),
        }
    }

    /// The URL's query string: the inverse of [`NotificationQuery::from_params`].
    pub fn to_query_string(&self) -> String {
        let project = self.project.map(|p| p.to_string());
        let pairs = [
            ("project", &project),
            ("store", &self.store),
            ("status", &self.status),
            ("since", &self.since),
            ("after", &self.after),
        ];
        pairs
            .into_iter()
            .filter_map(|(name, value)| {
                value.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{name}={}", encode(v)))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only plain local paths: `next` comes from the URL, and an open redirect would let a crafted
/// link send a freshly signed-in user elsewhere. Browsers drop tabs and line breaks from a
/// `Location` (`/\t/evil.example` becomes `//evil.example`) and read `\` as `/`, so a path with
/// a control character, a blank or a backslash is refused, as is one that names an authority.
pub fn safe_next(next: &str) -> &str {
    let plain = !next.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    let local = plain && next.starts_with('/') && !next.starts_with("//");
    if local {
        next
    } else {
        "/projects"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_survives_the_trip_through_its_url() {
        let query = TransactionQuery {
            q: Some("GPA.1234-5678 9&x".into()),
            project: Some(3),
            store: Some("GG".into()),
            status: Some("SUCCESS".into()),
            consumed: Some(false),
            include_test: true,
            from: Some("2026-11-01".into()),
            after: Some("1795570726476.42".into()),
            ..TransactionQuery::default()
        };

        let url = query.to_query_string();
        let pairs: Vec<(String, String)> = url
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_string(), decode(v))
            })
            .collect();
        let back = TransactionQuery::from_params(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));

        assert_eq!(back, query);
    }

    fn decode(v: &str) -> String {
        let bytes = v.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_inbox_query_survives_the_trip_through_its_url() {
        let query = NotificationQuery {
            project: Some(3),
            store: Some("GG".into()),
            status: Some("FAILED".into()),
            since: Some("2026-12-01".into()),
            after: Some("42".into()),
        };

        let url = query.to_query_string();
        let pairs: Vec<(String, String)> = url
            .split('&')
            .map(|pair| pair.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).unwrap())
            .collect();
        let back = NotificationQuery::from_params(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));

        assert_eq!(back, query);
    }

    #[test]
    fn next_keeps_local_paths() {
        assert_eq!(safe_next("/transactions?q=1"), "/transactions?q=1");
    }

    #[test]
    fn next_refuses_other_hosts_and_protocol_relative_urls() {
        assert_eq!(safe_next("https://evil.example"), "/projects");
        assert_eq!(safe_next("//evil.example"), "/projects");
        assert_eq!(safe_next("/\\evil.example"), "/projects");
        assert_eq!(safe_next(""), "/projects");
    }

    #[test]
    fn next_refuses_paths_a_browser_would_turn_into_another_host() {
        for crafted in ["/\t/evil.example", "/\r\n/evil.example", "/\u{b}/evil.example", "/ /evil.example", "/x\u{7f}"]
        {
            assert_eq!(safe_next(crafted), "/projects", "{crafted:?}");
        }
    }
}
