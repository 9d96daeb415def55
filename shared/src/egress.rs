//! The egress policy of `http-request` actions (DESIGN §6). Link-local and cloud-metadata
//! addresses are always refused, whatever the configuration: they hand out credentials to
//! whoever asks from inside the host. Operators add deny and allow ranges.

use std::net::{IpAddr, Ipv4Addr};

/// An address range, `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = text.trim().split_once('/').unwrap_or((text.trim(), ""));
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an address range such as 10.0.0.0/8"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            "" => max,
            p => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has a bad prefix length"))?,
        };
        Ok(Cidr {
            network: canonical(network),
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let (bytes, bits) = ((prefix / 8) as usize, prefix % 8);
    a[..bytes] == b[..bytes] && (bits == 0 || (a[bytes] ^ b[bytes]) >> (8 - bits) == 0)
}

/// IPv4-mapped IPv6 (`::ffff:169.254.169.254`) is the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The IPv4 address an IPv6 spelling carries and the network delivers to: NAT64 (the
/// well-known `64:ff9b::/96` and the local-use `64:ff9b:1::/48`), IPv4-compatible
/// (`::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::/48`). A check of the IPv6 form alone would let
/// `64:ff9b::a9fe:a9fe` reach 169.254.169.254.
fn embedded_ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(low),
        // `::` and `::1` are IPv6's own unspecified and loopback addresses, not IPv4 ones.
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(low),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        )),
        _ => None,
    }
}

/// Ranges refused whatever the configuration: link-local (which holds the AWS, GCP and Azure
/// metadata services), the other clouds' metadata addresses, and the unspecified addresses
/// (`0.0.0.0`, `::`), which a connection takes to the local host, past any deny of loopback.
const ALWAYS_DENIED: [&str; 6] = [
    "169.254.0.0/16",
    "fe80::/10",
    "fd00:ec2::254",
    "100.100.100.200",
    "0.0.0.0/8",
    "::/128",
];

#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    /// Refused in addition to the always-refused ranges.
    pub deny: Vec<Cidr>,
    /// When not empty, only these ranges may be called.
    pub allow: Vec<Cidr>,
    /// The proxy `http-request` actions go through (`EGRESS_PROXY`); the environment's
    /// `HTTP_PROXY` and the like are ignored, so that no variable turns the checks off.
    pub proxy: Option<url::Url>,
}

impl EgressPolicy {
    /// Why `ip` may not be called, or `Ok` if it may. An IPv6 address that carries an IPv4 one
    /// is refused if either form is.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let forms: Vec<IpAddr> = std::iter::once(ip)
            .chain(embedded_ipv4(ip).map(IpAddr::V4))
            .collect();
        let any_in = |ranges: &mut dyn Iterator<Item = Cidr>| {
            let ranges: Vec<Cidr> = ranges.collect();
            forms.iter().any(|f| ranges.iter().any(|c| c.contains(*f)))
        };
        let mut always = ALWAYS_DENIED
            .iter()
            .map(|c| Cidr::parse(c).expect("constant range"));
        if any_in(&mut always) {
            return Err(format!(
                "{ip} is a link-local, cloud-metadata or unspecified address, which is always refused"
            ));
        }
        if any_in(&mut self.deny.iter().cloned()) {
            return Err(format!("{ip} is in a range denied by EGRESS_DENY"));
        }
        if !self.allow.is_empty() && !any_in(&mut self.allow.iter().cloned()) {
            return Err(format!(
                "{ip} is outside the ranges allowed by EGRESS_ALLOW"
            ));
        }
        Ok(())
    }
}

/// A comma-separated list of ranges.
pub fn parse_ranges(text: &str) -> Result<Vec<Cidr>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Cidr::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn metadata_and_link_local_are_always_refused_in_every_spelling() {
        let policy = EgressPolicy::default();
        for refused in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "100.100.100.200",
        ] {
            assert!(policy.check(ip(refused)).is_err(), "{refused}");
        }
        for allowed in ["127.0.0.1", "10.1.2.3", "93.184.216.34", "2606:4700::1"] {
            assert!(policy.check(ip(allowed)).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn ipv6_spellings_of_an_ipv4_address_are_checked_as_it() {
        let policy = EgressPolicy::default();
        for refused in [
            "64:ff9b::a9fe:a9fe",   // NAT64 of 169.254.169.254
            "64:ff9b:1::a9fe:a9fe", // local-use NAT64
            "::169.254.169.254",    // IPv4-compatible
            "2002:a9fe:a9fe::1",    // 6to4
            "0.0.0.0",
            "0.1.2.3",
            "::",
        ] {
            assert!(policy.check(ip(refused)).is_err(), "{refused}");
        }
        let no_loopback = EgressPolicy {
            deny: parse_ranges("127.0.0.0/8, ::1").unwrap(),
            ..Default::default()
        };
        for refused in [
            "64:ff9b::7f00:1",
            "::127.0.0.1",
            "2002:7f00:1::",
            "::1",
            "0.0.0.0",
        ] {
            assert!(no_loopback.check(ip(refused)).is_err(), "{refused}");
        }
        assert!(no_loopback.check(ip("64:ff9b::808:808")).is_ok());
        assert!(no_loopback.check(ip("2606:4700::1")).is_ok());
    }

    #[test]
    fn configured_ranges_deny_and_allow() {
        let policy = EgressPolicy {
            deny: parse_ranges("10.0.0.0/8, 192.168.1.7").unwrap(),
            allow: parse_ranges("10.0.0.0/8,192.168.0.0/16").unwrap(),
            proxy: None,
        };
        assert!(policy.check(ip("10.9.9.9")).is_err());
        assert!(policy.check(ip("192.168.1.7")).is_err());
        assert!(policy.check(ip("192.168.1.8")).is_ok());
        assert!(policy.check(ip("8.8.8.8")).is_err());
    }

    #[test]
    fn bad_ranges_are_named() {
        assert!(parse_ranges("10.0.0.0/33")
            .unwrap_err()
            .contains("10.0.0.0/33"));
        assert!(parse_ranges("example.com").is_err());
    }
}
