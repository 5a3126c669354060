//! The client's address, worked out once per request for the console's throttling and audit and
//! the purchase API's per-address allowance.
//!
//! It is the connecting socket's address, unless that socket is one of the configured
//! `trusted_proxies`: then it is the right-most address in `X-Forwarded-For` that is not itself a
//! trusted proxy (each proxy appends the address it was connected from, so entries to the left of
//! that one are whatever the client chose to send).
use std::{
    collections::HashSet,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};
use http::HeaderMap;

use crate::Error;

/// The request's client address, set as a request extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The configured proxies, checked: a typo must stop the start, not silently trust nobody.
pub fn trusted(configured: &[String]) -> Result<Arc<HashSet<IpAddr>>, Error> {
    configured
        .iter()
        .map(|p| {
            p.trim().parse::<IpAddr>().map_err(|_| Error::Invalid(format!("trusted_proxies: {p} is not an IP address")))
        })
        .collect::<Result<HashSet<_>, _>>()
        .map(Arc::new)
}

pub async fn set(State(trusted): State<Arc<HashSet<IpAddr>>>, mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = client_of(peer.ip(), request.headers(), &trusted);
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &HashSet<IpAddr>) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().parse::<IpAddr>())
        .collect::<Result<_, _>>()
        // A list the proxy did not write cleanly is not evidence of anything.
        .unwrap_or_default();
    forwarded.into_iter().rev().find(|a| !trusted.contains(a)).unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in xff {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_a_trusted_proxy_is_believed_and_only_for_what_it_appended() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted = HashSet::from([proxy]);
        let client = |peer: &str, xff: &[&str]| client_of(peer.parse().unwrap(), &headers(xff), &trusted).to_string();

        assert_eq!(client("203.0.113.9", &["198.51.100.1"]), "203.0.113.9", "an untrusted peer's header is ignored");
        assert_eq!(client("10.0.0.5", &["198.51.100.1"]), "198.51.100.1");
        assert_eq!(client("10.0.0.5", &["6.6.6.6, 198.51.100.1"]), "198.51.100.1", "the client's own entries are left");
        assert_eq!(client("10.0.0.5", &["198.51.100.1, 10.0.0.5"]), "198.51.100.1", "chained proxies are skipped");
        assert_eq!(client("10.0.0.5", &[]), "10.0.0.5");
        assert_eq!(client("10.0.0.5", &["not an address"]), "10.0.0.5");
    }

    #[test]
    fn a_misspelt_proxy_stops_the_start() {
        assert!(trusted(&["10.0.0.1".into(), "::1".into()]).is_ok());
        assert!(trusted(&["10.0.0.300".into()]).is_err());
    }
}
