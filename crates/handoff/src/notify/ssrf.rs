//! Where an agent's `callback_url` may point. An agent can be steered by text it read, so
//! its callback must not become a way into the network the server sits in: private,
//! loopback, link-local (cloud metadata included), shared, multicast and unspecified
//! addresses are refused unless allow-listed (`--callback-allow`), at submission for
//! literal addresses and well-known internal names, and again at send time for every
//! address the name resolves to (a name that resolves to any refused address is refused,
//! so DNS cannot smuggle one in). Redirects are never followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Names that are internal whatever they resolve to.
const INTERNAL_NAMES: [&str; 4] = [
    "localhost",
    "metadata",
    "metadata.google.internal",
    "instance-data",
];

/// Networks and names a callback may reach although they are not public.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    nets: Vec<(IpAddr, u8)>,
    hosts: Vec<String>,
}

impl AllowList {
    /// Entries are addresses (`127.0.0.1`), networks (`10.0.0.0/8`, `fd00::/8`) or host
    /// names (`hooks.internal`); `*` allows everything.
    pub fn parse(entries: &[String]) -> Result<AllowList, String> {
        let mut list = AllowList::default();
        for entry in entries.iter().flat_map(|e| e.split(',')) {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                list.nets.push((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
                list.nets.push((IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0));
                continue;
            }
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry, None),
            };
            match addr.parse::<IpAddr>() {
                Ok(ip) => {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    let bits = match bits {
                        Some(b) => b
                            .parse::<u8>()
                            .ok()
                            .filter(|b| *b <= max)
                            .ok_or_else(|| format!("{entry:?}: bad prefix length"))?,
                        None => max,
                    };
                    list.nets.push((ip, bits));
                }
                Err(_) if bits.is_none() && valid_host(entry) => {
                    list.hosts.push(entry.to_ascii_lowercase());
                }
                Err(_) => return Err(format!("{entry:?} is not an address, network or host name")),
            }
        }
        Ok(list)
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|(net, bits)| in_net(ip, *net, *bits))
    }

    /// Whether this list names the host of `url` itself (a host name, an address or a
    /// network holding the literal address), public or not: the only hosts besides Slack's
    /// own that a Slack `response_url` may lead to.
    pub fn names_host_of(&self, url: &url::Url) -> bool {
        match url.host() {
            Some(url::Host::Domain(name)) => self.allows_host(name),
            Some(url::Host::Ipv4(v4)) => self.allows_ip(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.allows_ip(IpAddr::V6(v6)),
            None => false,
        }
    }

    /// Whether a callback may be sent to `ip`, reached through the name `host`.
    fn permits(&self, host: &str, ip: IpAddr) -> bool {
        is_public(ip) || self.allows_ip(ip) || self.allows_host(host)
    }
}

fn valid_host(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, canonical(net)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // Shared address space (RFC 6598), benchmarking (RFC 2544), reserved.
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                // Documentation 2001:db8::/32, NAT64 64:ff9b::/96 can reach IPv4 inside.
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
                || (first == 0x0064 && v6.segments()[1] == 0xff9b))
        }
    }
}

/// The check at submission: the scheme, a literal address, a well-known internal name.
/// Names are checked again, with what they resolve to, when the callback is sent.
pub fn check_url(url: &str, allow: &AllowList) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http or https URL".to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials".to_owned());
    }
    match parsed.host() {
        None => Err("must have a host".to_owned()),
        Some(url::Host::Ipv4(v4)) => check_ip(&v4.to_string(), IpAddr::V4(v4), allow),
        Some(url::Host::Ipv6(v6)) => check_ip(&v6.to_string(), IpAddr::V6(v6), allow),
        Some(url::Host::Domain(name)) => {
            let lower = name.trim_end_matches('.').to_ascii_lowercase();
            let internal = INTERNAL_NAMES.contains(&lower.as_str())
                || lower.ends_with(".localhost")
                || lower.ends_with(".internal")
                || lower.ends_with(".local");
            if internal && !allow.allows_host(&lower) {
                Err(format!(
                    "{name} is an internal name; an admin can allow it with --callback-allow"
                ))
            } else {
                Ok(())
            }
        }
    }
}

fn check_ip(host: &str, ip: IpAddr, allow: &AllowList) -> Result<(), String> {
    if allow.permits(host, ip) {
        Ok(())
    } else {
        Err(format!(
            "{ip} is a private, loopback, link-local or otherwise internal address; \
             an admin can allow it with --callback-allow"
        ))
    }
}

/// A callback name that resolves inside: no later attempt can succeed.
#[derive(Debug)]
pub struct RefusedAddress(String);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedAddress {}

/// The resolver of the callback client: resolves, then refuses the name if any address
/// it resolves to is not permitted.
#[derive(Debug)]
pub struct GuardedResolver {
    pub allow: Arc<AllowList>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| !allow.permits(&host, a.ip())) {
                return Err(Box::new(RefusedAddress(format!(
                    "{host} resolves to {}, an internal address: refused",
                    bad.ip()
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(ip(s)), "{s} counted as public");
        }
        for s in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(is_public(ip(s)), "{s} counted as internal");
        }
    }

    #[test]
    fn submission_refuses_literal_internal_addresses_and_internal_names() {
        let none = AllowList::default();
        for url in [
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.5/cb",
            "http://localhost/cb",
            "http://metadata.google.internal/x",
            "http://printer.local/x",
            "http://user:pw@example.com/cb",
            "ftp://example.com/cb",
            "http://0x7f000001/cb",
        ] {
            assert!(check_url(url, &none).is_err(), "{url} accepted");
        }
        assert!(check_url("https://agents.example.com/cb", &none).is_ok());
    }

    #[test]
    fn the_allow_list_admits_networks_addresses_and_names() {
        let allow = AllowList::parse(&[
            "127.0.0.1, 10.0.0.0/8".to_owned(),
            "hooks.internal".to_owned(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(check_url("http://127.0.0.1:9/cb", &allow).is_ok());
        assert!(check_url("http://10.200.1.1/cb", &allow).is_ok());
        assert!(check_url("http://hooks.internal/cb", &allow).is_ok());
        assert!(check_url("http://127.0.0.2/cb", &allow).is_err());
        assert!(check_url("http://192.168.0.1/cb", &allow).is_err());
        assert!(AllowList::parse(&["10.0.0.0/33".to_owned()]).is_err());
        assert!(AllowList::parse(&["not a host!".to_owned()]).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_inside() {
        use reqwest::dns::Resolve;
        let guard = GuardedResolver {
            allow: Arc::new(AllowList::default()),
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap_or_else(|_| panic!("name"));
        assert!(guard.resolve(name).await.is_err());
        let open = GuardedResolver {
            allow: Arc::new(AllowList::parse(&["localhost".to_owned()]).unwrap_or_default()),
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap_or_else(|_| panic!("name"));
        assert!(open.resolve(name).await.is_ok());
    }
}
