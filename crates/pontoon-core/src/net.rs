//! Where users may make the gateway connect: the rules every transport applies to hosts a
//! user names (an IRC server, a Matrix homeserver), so a user cannot point the gateway at
//! the operator's internal services (SSRF). Listed by the operator, any host is fine; the
//! transports check the addresses a name resolves to as well as the name.

use std::net::{IpAddr, Ipv4Addr};

/// Whether `host` looks like a host name or an IP address one could connect to.
pub fn plausible_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Whether an IPv4 address is this machine, a private or shared network, link-local,
/// unspecified ("this network"), broadcast, multicast or reserved.
fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // 0.0.0.0/8, "this network" (0.0.0.0 reaches the local host)
        || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
        || a >= 240 // 240.0.0.0/4, reserved
}

/// Whether `ip` is one users must not make the gateway connect to: loopback, private,
/// link-local, unspecified, multicast and the like, IPv4 or IPv6, including IPv4 addresses
/// embedded in IPv6 (`::ffff:10.0.0.1`, NAT64 `64:ff9b::10.0.0.1`).
pub fn internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let seg = v6.segments();
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b, c, d] = v6.octets();
                return internal_v4(Ipv4Addr::new(a, b, c, d));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
                || (seg[0] & 0xffc0) == 0xfe80 // fe80::/10, link-local
                || (seg[0] & 0xffc0) == 0xfec0 // fec0::/10, old site-local
                || seg[..6] == [0; 6] // ::/96, IPv4-compatible (deprecated)
        }
    }
}

/// Whether `ip` is a loopback address (127.0.0.0/8, `::1`, or IPv4 loopback mapped into
/// IPv6): traffic to it never leaves this machine.
pub fn loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a host names this machine or a private network (refused unless the operator
/// listed it explicitly, so users cannot point the gateway at internal services). Only
/// the name is checked here; the addresses it resolves to are checked when connecting.
pub fn internal_host(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(internal_ip)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn internal_addresses() {
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "::127.0.0.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(internal_ip(ip), "{bad}");
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2001:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            let ip: IpAddr = good.parse().unwrap();
            assert!(!internal_ip(ip), "{good}");
        }
        for lo in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(loopback_ip(lo.parse().unwrap()), "{lo}");
        }
        for not in ["10.0.0.1", "::", "0.0.0.0", "fe80::1"] {
            assert!(!loopback_ip(not.parse().unwrap()), "{not}");
        }
    }

    #[test]
    fn hosts() {
        assert!(plausible_host("irc.libera.chat"));
        assert!(plausible_host("::1"));
        assert!(!plausible_host("a..b"));
        assert!(!plausible_host("-a.b"));
        assert!(!plausible_host(""));
    }
}
