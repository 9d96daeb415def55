//! Enforcing the egress policy where it cannot be bypassed: after DNS resolution (a name may
//! point anywhere), on IP-literal URLs (which skip resolution), on every redirect, and before a
//! request goes through a proxy (which would resolve the name itself).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use shared::egress::EgressPolicy;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Marks a refusal in the error chain, so the action fails at once instead of retrying.
#[derive(Debug)]
pub struct EgressRefused(pub String);

impl std::fmt::Display for EgressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused by the egress policy: {}", self.0)
    }
}

impl std::error::Error for EgressRefused {}

/// Resolves names, then drops the addresses the policy refuses.
pub struct PolicyResolver(pub Arc<EgressPolicy>);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let mut refusals = Vec::new();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| {
                    policy
                        .check(addr.ip())
                        .map_err(|why| refusals.push(why))
                        .is_ok()
                })
                .collect();
            if allowed.is_empty() && !refusals.is_empty() {
                let why = format!("{} resolves to {}", name.as_str(), refusals.join("; "));
                return Err(
                    Box::new(EgressRefused(why)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The address of a URL whose host is an IP literal.
fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Checks a URL whose host is an IP literal; names are checked when they resolve.
pub fn check_url(policy: &EgressPolicy, url: &reqwest::Url) -> Result<(), EgressRefused> {
    match literal_ip(url) {
        Some(ip) => policy.check(ip).map_err(EgressRefused),
        None => Ok(()),
    }
}

/// Resolves a URL's host name and checks every address: for when a proxy, not our resolver,
/// would resolve it.
pub async fn check_resolved(
    policy: &EgressPolicy,
    url: &reqwest::Url,
) -> Result<(), EgressRefused> {
    let Some(url::Host::Domain(name)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| EgressRefused(format!("{name} does not resolve: {e}")))?;
    for addr in addrs {
        policy
            .check(addr.ip())
            .map_err(|why| EgressRefused(format!("{name} resolves to {why}")))?;
    }
    Ok(())
}
