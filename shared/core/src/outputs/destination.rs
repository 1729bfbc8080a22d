//! Where an output's batches go, and which of those places the service may reach.
//!
//! A webhook's URL is user input that the service later POSTs to from inside its own
//! network: a request forgery target unless the URL is held to public HTTPS endpoints.
//! Deployed, only `https` URLs whose host resolves to public addresses are accepted
//! (checked when saved, and again by the sender on the address it actually connects
//! to: [`address_allowed`]); the local stack also accepts `http://127.0.0.1:{port}`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// A URL's most characters.
pub const MAX_URL_CHARS: usize = 2048;
/// How long resolving a webhook's host may take when it is saved.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// An output's destination, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Destination {
    /// Signed HTTPS POSTs of the batches.
    Webhook { url: String },
    /// One event per batch on this bus.
    AmazonEventbridge {
        #[serde(rename = "eventBusArn")]
        event_bus_arn: String,
    },
}

impl Destination {
    /// The kind's name, as the API spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Webhook { .. } => "webhook",
            Destination::AmazonEventbridge { .. } => "amazon_eventbridge",
        }
    }

    pub fn is_webhook(&self) -> bool {
        matches!(self, Destination::Webhook { .. })
    }
}

/// A destination as a request gives it: checked by [`check`] into a [`Destination`], so
/// that a missing or extra field is named in words.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationInput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub event_bus_arn: Option<String>,
}

/// Which webhook addresses this deployment may send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// Public HTTPS endpoints only.
    #[default]
    Public,
    /// Those, and `http://127.0.0.1:{port}` (the local stack and its tests).
    PublicAndLocalHttp,
}

/// Checks a destination given in a request, resolving a webhook's host (400 with what is
/// wrong otherwise).
pub async fn check(input: &DestinationInput, reach: Reach) -> Result<Destination> {
    match input.kind.as_str() {
        "webhook" => {
            if input.event_bus_arn.is_some() {
                return Err(invalid(
                    "a webhook destination takes `url`, not `eventBusArn`",
                ));
            }
            let url = input
                .url
                .as_deref()
                .ok_or_else(|| invalid("a webhook destination needs `url`"))?;
            check_webhook_url(url, reach).await?;
            Ok(Destination::Webhook {
                url: url.to_owned(),
            })
        }
        "amazon_eventbridge" => {
            if input.url.is_some() {
                return Err(invalid(
                    "an amazon_eventbridge destination takes `eventBusArn`, not `url`",
                ));
            }
            let arn = input
                .event_bus_arn
                .as_deref()
                .ok_or_else(|| invalid("an amazon_eventbridge destination needs `eventBusArn`"))?;
            check_event_bus_arn(arn)?;
            Ok(Destination::AmazonEventbridge {
                event_bus_arn: arn.to_owned(),
            })
        }
        other => Err(invalid(&format!(
            "type '{}' is not a destination type: use webhook or amazon_eventbridge",
            other.chars().take(64).collect::<String>()
        ))),
    }
}

fn invalid(what: &str) -> Error {
    Error::Validation(format!("destination: {what}"))
}

/// A webhook URL the service may send to: `https` (or, with
/// [`Reach::PublicAndLocalHttp`], `http://127.0.0.1:{port}`), no user name or password,
/// and a host whose every address is public.
pub async fn check_webhook_url(url: &str, reach: Reach) -> Result<()> {
    let target = WebhookTarget::parse(url, reach)?;
    if target.local_http {
        return Ok(());
    }
    let addresses: Vec<IpAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => resolve(&target.host, target.port).await?,
    };
    for ip in &addresses {
        if let Some(kind) = forbidden(*ip) {
            return Err(invalid(&format!(
                "url's host '{}' is {} address {ip}: a webhook must reach a public HTTPS endpoint",
                target.host, kind
            )));
        }
    }
    Ok(())
}

/// What a webhook URL names, once its shape is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// The host as written (an IPv6 literal without its brackets).
    pub host: String,
    pub port: u16,
    /// `http://127.0.0.1:{port}` on a stack that allows it.
    pub local_http: bool,
}

impl WebhookTarget {
    pub fn parse(url: &str, reach: Reach) -> Result<WebhookTarget> {
        if url.is_empty() || url.chars().count() > MAX_URL_CHARS {
            return Err(invalid(&format!(
                "url must be 1 to {MAX_URL_CHARS} characters"
            )));
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("url must not contain spaces or control characters"));
        }
        let uri: http::Uri = url
            .parse()
            .map_err(|_| invalid("url is not a valid absolute URL"))?;
        let authority = uri
            .authority()
            .ok_or_else(|| invalid("url must be absolute: https://host/path"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("url must not carry a user name or password"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(invalid("url has no host"));
        }
        match uri.scheme_str() {
            Some("https") => Ok(WebhookTarget {
                port: authority.port_u16().unwrap_or(443),
                host,
                local_http: false,
            }),
            Some("http") if reach == Reach::PublicAndLocalHttp && host == "127.0.0.1" => {
                let port = authority.port_u16().ok_or_else(|| {
                    invalid("a local webhook is http://127.0.0.1:{port}: give the port")
                })?;
                Ok(WebhookTarget {
                    host,
                    port,
                    local_http: true,
                })
            }
            Some("http") if reach == Reach::PublicAndLocalHttp => Err(invalid(
                "url must be https (the local stack also accepts http://127.0.0.1:{port})",
            )),
            _ => Err(invalid("url must be https")),
        }
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<IpAddr>> {
    let looked_up = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| invalid(&format!("url's host '{host}' did not resolve in time")))?;
    let addresses: Vec<IpAddr> = looked_up
        .map_err(|_| invalid(&format!("url's host '{host}' does not resolve")))?
        .map(|a| a.ip())
        .collect();
    if addresses.is_empty() {
        return Err(invalid(&format!("url's host '{host}' does not resolve")));
    }
    Ok(addresses)
}

/// Whether the sender may connect to `ip` (a public unicast address).
pub fn address_allowed(ip: IpAddr) -> bool {
    forbidden(ip).is_none()
}

/// What kind of non-public address `ip` is, if it is one.
fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            // An IPv4 address written as IPv6 (mapped, compatible or NAT64) is that address.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_unspecified() && !v6.is_loopback() {
                return forbidden_v4(embedded_v4(v6));
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return forbidden_v4(embedded_v4(v6));
            }
            forbidden_v6(v6)
        }
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Ipv4Addr {
    let o = v6.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some("the instance metadata")
    } else if ip.is_loopback() {
        Some("a loopback")
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // RFC 1918, and the carrier-grade NAT range (RFC 6598).
        Some("a private")
    } else if ip.is_link_local() {
        Some("a link-local")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("a multicast or broadcast")
    } else if a == 0 || a >= 240 || (a == 198 && (b == 18 || b == 19)) || (a == 192 && b == 0) {
        // "This network", reserved, benchmarking and IETF protocol assignments.
        Some("a reserved")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some("the instance metadata")
    } else if ip.is_loopback() {
        Some("a loopback")
    } else if ip.is_unspecified() {
        Some("a reserved")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local")
    } else if ip.is_multicast() {
        Some("a multicast or broadcast")
    } else {
        None
    }
}

/// `arn:{partition}:events:{region}:{account}:event-bus/{name}`.
pub fn check_event_bus_arn(arn: &str) -> Result<()> {
    let bad = || {
        invalid(&format!(
            "eventBusArn '{}' is not an event bus ARN: arn:aws:events:REGION:ACCOUNT_ID:event-bus/NAME",
            arn.chars().take(128).collect::<String>()
        ))
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_word, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(bad());
    };
    let name = resource.strip_prefix("event-bus/").ok_or_else(bad)?;
    let ok = *arn_word == "arn"
        && matches!(*partition, "aws" | "aws-cn" | "aws-us-gov")
        && *service == "events"
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'));
    if ok { Ok(()) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str, reach: Reach) -> String {
        match WebhookTarget::parse(url, reach) {
            Err(Error::Validation(d)) => d,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[tokio::test]
    async fn webhooks_reach_public_https_only() {
        use Reach::*;
        // Public addresses, written as literals (no resolver needed).
        for ok in [
            "https://93.184.216.34/hooks/audiences",
            "https://[2606:2800:220:1:248:1893:25c8:1946]:8443/x",
        ] {
            check_webhook_url(ok, Public).await.unwrap();
        }
        let cases = [
            ("https://127.0.0.1/x", "loopback"),
            ("https://127.9.9.9/x", "loopback"),
            ("https://10.1.2.3/x", "private"),
            ("https://172.16.0.1/x", "private"),
            ("https://192.168.1.1/x", "private"),
            ("https://100.64.0.1/x", "private"),
            (
                "https://169.254.169.254/latest/meta-data",
                "instance metadata",
            ),
            ("https://169.254.10.10/x", "link-local"),
            ("https://224.0.0.1/x", "multicast"),
            ("https://0.0.0.0/x", "reserved"),
            ("https://[::1]/x", "loopback"),
            ("https://[fd00:ec2::254]/x", "instance metadata"),
            ("https://[fc00::1]/x", "private"),
            ("https://[fe80::1]/x", "link-local"),
            ("https://[ff02::1]/x", "multicast"),
            ("https://[::ffff:127.0.0.1]/x", "loopback"),
            ("https://[::ffff:169.254.169.254]/x", "instance metadata"),
            ("https://[64:ff9b::a00:1]/x", "private"),
            ("https://localhost/x", "loopback"),
        ];
        for (url, kind) in cases {
            match check_webhook_url(url, PublicAndLocalHttp).await {
                Err(Error::Validation(d)) => assert!(d.contains(kind), "{url}: {d}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(refused("http://93.184.216.34/x", Public).contains("must be https"));
        assert!(refused("http://127.0.0.1:8010/x", Public).contains("must be https"));
        assert!(refused("http://localhost:8010/x", PublicAndLocalHttp).contains("127.0.0.1"));
        assert!(refused("https://user:pw@93.184.216.34/x", Public).contains("user name"));
        assert!(refused("https://a b/x", Public).contains("spaces"));
        assert!(refused("/relative", Public).contains("absolute"));
        assert!(refused("ftp://93.184.216.34/x", Public).contains("https"));
        assert!(refused(&format!("https://a/{}", "x".repeat(2048)), Public).contains("2048"));
        // The local stack's own receiver.
        let local =
            WebhookTarget::parse("http://127.0.0.1:8010/hooks", PublicAndLocalHttp).unwrap();
        assert!(local.local_http && local.port == 8010);
        check_webhook_url("http://127.0.0.1:8010/hooks", PublicAndLocalHttp)
            .await
            .unwrap();
        assert!(refused("http://127.0.0.1/hooks", PublicAndLocalHttp).contains("port"));
        // A name that does not resolve is refused, not sent to later.
        assert!(matches!(
            check_webhook_url("https://no-such-host.invalid/x", Public).await,
            Err(Error::Validation(d)) if d.contains("does not resolve") || d.contains("in time")
        ));
    }

    #[test]
    fn event_bus_arns_are_checked() {
        for ok in [
            "arn:aws:events:eu-west-1:123456789012:event-bus/audiences",
            "arn:aws:events:us-east-1:123456789012:event-bus/default",
            "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/a.b-c_d/e",
        ] {
            check_event_bus_arn(ok).unwrap();
        }
        for bad in [
            "",
            "arn:aws:sqs:eu-west-1:123456789012:queue",
            "arn:aws:events:eu-west-1:1234:event-bus/x",
            "arn:aws:events:eu-west-1:123456789012:rule/x",
            "arn:aws:events:eu-west-1:123456789012:event-bus/",
            "arn:aws:events:eu-west-1:123456789012:event-bus/a b",
        ] {
            assert!(check_event_bus_arn(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_destination_names_its_fields() {
        let input = |kind: &str, url: Option<&str>, arn: Option<&str>| DestinationInput {
            kind: kind.into(),
            url: url.map(Into::into),
            event_bus_arn: arn.map(Into::into),
        };
        let arn = "arn:aws:events:eu-west-1:123456789012:event-bus/audiences";
        assert_eq!(
            check(&input("amazon_eventbridge", None, Some(arn)), Reach::Public)
                .await
                .unwrap(),
            Destination::AmazonEventbridge {
                event_bus_arn: arn.into()
            }
        );
        for (i, needle) in [
            (input("webhook", None, None), "needs `url`"),
            (
                input("webhook", Some("https://93.184.216.34/"), Some(arn)),
                "not `eventBusArn`",
            ),
            (
                input("amazon_eventbridge", None, None),
                "needs `eventBusArn`",
            ),
            (input("s3", None, None), "webhook or amazon_eventbridge"),
        ] {
            match check(&i, Reach::Public).await {
                Err(Error::Validation(d)) => assert!(d.contains(needle), "{d}"),
                other => panic!("{other:?}"),
            }
        }
        // Stored and shown as the contract spells it.
        let json = serde_json::to_value(Destination::AmazonEventbridge {
            event_bus_arn: arn.into(),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "amazon_eventbridge", "eventBusArn": arn})
        );
    }
}
