//! Where the server's own HTTP calls may go: store APIs, webhook deliveries and connection tests
//! all leave through [`Http`].
//!
//! A URL a console user typed can name any host, so a call reaches only public addresses unless
//! the server's configuration names the host (`outbound.allow_hosts`: the demo and the tests
//! name their store fakes). The check runs on the addresses a name resolves to at connect time,
//! which are the addresses the connection is made to, so a name that resolves to a public address
//! when the URL is saved and to an internal one later (DNS rebinding) is refused; an address
//! written in the URL is checked before anything is connected. Plain http goes only to named
//! hosts, and redirects are never followed: a redirect is how a public host hands a call on to an
//! internal one.
use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    RequestBuilder, Response,
};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OutboundSettings {
    /// Host names or IP addresses that calls may reach although they are loopback, private or
    /// link-local, and over plain http. Empty in production.
    #[serde(deserialize_with = "crate::config::list")]
    pub allow_hosts: Vec<String>,
    /// Whether a store app may name its own store URLs (and, with them, the trust roots and the
    /// token endpoint its answers and credentials depend on). Off, the server calls only the
    /// stores' own addresses; on, for store fakes, a proxy or tests. Either way a URL change
    /// clears the app's stored secrets.
    pub store_url_overrides: bool,
}

/// Which hosts are named in the configuration.
#[derive(Debug, Default)]
struct Allowed {
    names: HashSet<String>,
    addresses: HashSet<IpAddr>,
}

impl Allowed {
    fn new(settings: &OutboundSettings) -> Allowed {
        let mut allowed = Allowed::default();
        for host in &settings.allow_hosts {
            let host = host.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
            match host.parse::<IpAddr>() {
                Ok(ip) => allowed.addresses.insert(ip),
                Err(_) => allowed.names.insert(host.trim_end_matches('.').to_string()),
            };
        }
        allowed
    }

    fn host(&self, host: &url::Host<&str>) -> bool {
        match host {
            url::Host::Domain(name) => self.names.contains(name.trim_end_matches('.')),
            url::Host::Ipv4(ip) => self.addresses.contains(&IpAddr::V4(*ip)),
            url::Host::Ipv6(ip) => self.addresses.contains(&IpAddr::V6(*ip)),
        }
    }
}

/// Why a call did not get an answer, in words fit for the console and the logs: never the URL
/// (store URLs carry purchase tokens), never the remote body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The destination is not one the server may call; nothing was sent.
    #[error("refused: {0}")]
    Refused(String),
    #[error("timeout")]
    Timeout,
    #[error("connection failed")]
    Connect,
    /// The answer was a redirect, which is not followed.
    #[error("redirect not followed (HTTP {0})")]
    Redirect(u16),
    #[error("transport error")]
    Transport,
}

impl Failure {
    /// The failure of a transport error, found by walking its causes (a refusal by the resolver
    /// arrives as a connect error).
    pub fn of(err: &reqwest::Error) -> Failure {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<Refused>() {
                return Failure::Refused(refused.0.clone());
            }
            source = cause.source();
        }
        if err.is_timeout() {
            Failure::Timeout
        } else if err.is_connect() {
            Failure::Connect
        } else {
            Failure::Transport
        }
    }
}

/// The resolver's refusal, carried through reqwest's error chain.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The one HTTP client of the server's outbound calls, with the destination rules above.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    allowed: Arc<Allowed>,
    store_url_overrides: bool,
}

impl Http {
    /// Pooled connections and bounded waits; `timeout` is each call's default.
    pub fn new(settings: &OutboundSettings, timeout: Duration) -> Http {
        let allowed = Arc::new(Allowed::new(settings));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("iap-server/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would be connected to instead of the checked address.
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly(allowed.clone())))
            .build()
            .expect("a reqwest client with rustls builds");
        Http { client, allowed, store_url_overrides: settings.store_url_overrides }
    }

    /// Whether store apps may name their own store URLs (`outbound.store_url_overrides`).
    pub fn store_url_overrides(&self) -> bool {
        self.store_url_overrides
    }

    pub fn get(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.client.get(url)
    }

    pub fn post(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.client.post(url)
    }

    pub fn request(&self, method: reqwest::Method, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends `request` if its destination is allowed. A redirect is a failure.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, Failure> {
        let request = request.build().map_err(|_| Failure::Transport)?;
        self.check(request.url())?;
        let response = self.client.execute(request).await.map_err(|e| Failure::of(&e))?;
        if response.status().is_redirection() {
            return Err(Failure::Redirect(response.status().as_u16()));
        }
        Ok(response)
    }

    /// Whether a call to `url` would be allowed before its name is resolved: the scheme, and an
    /// address written in the URL. The console checks a URL with it when one is saved.
    pub fn check(&self, url: &reqwest::Url) -> Result<(), Failure> {
        let host = url.host().ok_or_else(|| Failure::Refused("the URL has no host".into()))?;
        let named = self.allowed.host(&host);
        let ip = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = ip.filter(|ip| !named && !is_public(*ip)) {
            return Err(Failure::Refused(format!("{ip} is not a public address")));
        }
        match url.scheme() {
            "https" => Ok(()),
            "http" if named => Ok(()),
            "http" => Err(Failure::Refused("plain http is allowed only to hosts the configuration names".into())),
            other => Err(Failure::Refused(format!("{other} URLs are not called"))),
        }
    }
}

/// Resolves names and keeps only public addresses, unless the name is allowed.
struct PublicOnly(Arc<Allowed>);

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if allowed.names.contains(&host) {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
            let public: Vec<SocketAddr> =
                found.into_iter().filter(|a| is_public(a.ip()) || allowed.addresses.contains(&a.ip())).collect();
            if public.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(Refused(format!("{host} resolves to no public address")));
                return Err(refused);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is an address on the public internet: not loopback, private, link-local (where
/// cloud metadata services answer), shared, multicast, reserved or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that the gateway reaches.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::from(((segments[6] as u32) << 16) | segments[7] as u32));
    }
    if segments[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::from(((segments[1] as u32) << 16) | segments[2] as u32));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local, AWS's metadata fd00:ec2::254 included
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] == 0x2001 && segments[1] == 0xdb8)) // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(allow: &[&str]) -> Http {
        let settings =
            OutboundSettings { allow_hosts: allow.iter().map(|h| h.to_string()).collect(), store_url_overrides: false };
        Http::new(&settings, Duration::from_secs(1))
    }

    fn check(http: &Http, url: &str) -> Result<(), Failure> {
        http.check(&reqwest::Url::parse(url).unwrap())
    }

    #[test]
    fn internal_addresses_of_every_kind_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must not count as public");
        }
        for ip in ["8.8.8.8", "17.253.144.10", "2607:f8b0:4004:c1b::64", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn plain_http_and_internal_addresses_are_refused_unless_the_configuration_names_the_host() {
        let strict = http(&[]);
        assert!(check(&strict, "https://api.example.com/x").is_ok());
        assert!(check(&strict, "http://api.example.com/x").is_err());
        assert!(check(&strict, "https://127.0.0.1/x").is_err());
        assert!(check(&strict, "https://[::1]:8443/x").is_err());
        assert!(check(&strict, "https://169.254.169.254/latest/meta-data").is_err());
        assert!(check(&strict, "file:///etc/passwd").is_err());

        let tests = http(&["127.0.0.1", "fakes.test"]);
        assert!(check(&tests, "http://127.0.0.1:4010/google").is_ok());
        assert!(check(&tests, "http://fakes.test/google").is_ok());
        assert!(check(&tests, "http://127.0.0.2:4010/").is_err(), "another loopback address is not named");
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_connect_time() {
        let strict = http(&[]);
        let refused = strict.send(strict.get("https://localhost:1/")).await.unwrap_err();
        assert_eq!(refused, Failure::Refused("localhost resolves to no public address".into()));
    }
}
