//! The client address a request is limited by: the socket peer (axum `ConnectInfo`), or, only
//! when that peer is a configured trusted proxy, the nearest `X-Forwarded-For` hop that is not
//! itself a trusted proxy. Trusting the header from anyone else would let every request pick
//! its own bucket. IPv6 clients are keyed by their /64, the block one host usually holds.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::Request;

/// The address to key limits by, or `None` when the server was not started with connect info
/// (in-process tests); callers then share one "unknown" bucket.
pub fn client_ip<B>(req: &Request<B>, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    // Rightmost first: each proxy appends the address it received from.
    let hops: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|h| h.trim().parse::<IpAddr>().ok())
        .collect();
    Some(
        hops.into_iter()
            .rev()
            .find(|ip| !trusted_proxies.contains(ip))
            .unwrap_or(peer),
    )
}

/// The bucket key of an address: IPv4 as is, IPv6 by its /64 prefix.
pub fn bucket_key(ip: Option<IpAddr>) -> String {
    match ip {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(peer: &str, xff: Option<&str>) -> Request<()> {
        let mut b = Request::builder();
        if let Some(x) = xff {
            b = b.header("x-forwarded-for", x);
        }
        let mut r = b.body(()).unwrap();
        r.extensions_mut()
            .insert(ConnectInfo::<SocketAddr>(peer.parse().unwrap()));
        r
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        // An untrusted peer cannot choose its bucket with the header.
        let r = req("203.0.113.9:5000", Some("198.51.100.1"));
        assert_eq!(
            client_ip(&r, &[proxy]),
            Some("203.0.113.9".parse().unwrap())
        );
        // Behind the proxy: the hop the proxy saw, not what the client claimed before it.
        let r = req("10.0.0.1:5000", Some("1.2.3.4, 198.51.100.1"));
        assert_eq!(
            client_ip(&r, &[proxy]),
            Some("198.51.100.1".parse().unwrap())
        );
        // A garbled header falls back to the proxy itself.
        let r = req("10.0.0.1:5000", Some("not-an-ip"));
        assert_eq!(client_ip(&r, &[proxy]), Some(proxy));
        let bare = Request::builder().body(()).unwrap();
        assert_eq!(client_ip(&bare, &[]), None);
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        assert_eq!(
            bucket_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap())),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            bucket_key(Some("2001:db8:1:2:bbbb::9".parse().unwrap())),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            bucket_key(Some("::ffff:1.2.3.4".parse().unwrap())),
            "1.2.3.4"
        );
        assert_eq!(bucket_key(None), "unknown");
    }
}
