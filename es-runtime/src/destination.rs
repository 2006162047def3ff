//! Where the servers may send outgoing calls (SGP.02 §2.6: the links between the entities are mutually
//! authenticated HTTPS; Annex B `wsa:ReplyTo`): only `https` URLs, without user information, whose origin
//! (host and port) is one where the calling entity has a registered endpoint or that the operator put on the
//! configured allow list. A `wsa:ReplyTo` elsewhere is refused before the function runs (1.1 / 1.2, see
//! [`DestinationError::status_code_data`]), so that no caller can make the server present its client
//! certificate to a host of the caller's choosing, or send a result in clear text.

use std::collections::BTreeMap;

use es_interfaces::soap::WSA_ANONYMOUS;
use es_interfaces::status::{Reason, StatusCodeData, Subject};

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// Not an `https` URL (cleartext, another scheme, or not a URL at all).
    #[error("wsa:ReplyTo {url} is refused: only https addresses are called")]
    NotHttps {
        /// The address.
        url: String,
    },
    /// The URL carries user information (`user:password@`).
    #[error("wsa:ReplyTo {url} is refused: credentials in the address")]
    Credentials {
        /// The address.
        url: String,
    },
    /// Neither a registered endpoint of the caller nor on the allow list shares its origin.
    #[error(
        "wsa:ReplyTo {url} is refused: {origin} is neither an endpoint registered for {caller} nor on the allow list of outgoing calls"
    )]
    NotRegistered {
        /// The address.
        url: String,
        /// Its `host:port`.
        origin: String,
        /// The caller's OID.
        caller: String,
    },
    /// An entry of the configured allow list is not an `https` origin.
    #[error("outgoing allow list entry {entry:?} is not an https origin (https://host[:port])")]
    BadAllowEntry {
        /// The entry.
        entry: String,
    },
}

impl DestinationError {
    /// The SGP.02 status of a refused ReplyTo (SGP.02 §5.1.6.4): 1.1 Function requester / 1.2 Not allowed.
    /// The address is well-formed, so not 1.6 / 2.1 Invalid: the requester is not authorised to have this
    /// server call it (an address is authorised by registering it for the entity, or by the allow list).
    pub fn status_code_data(&self) -> StatusCodeData {
        StatusCodeData::new(
            Subject::FUNCTION_REQUESTER,
            Reason::NOT_ALLOWED,
            Some(self.to_string()),
        )
    }
}

/// The origin of an `https` URL: lower-case host and port (443 when absent).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    host: String,
    port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The origin of `url` if it is an `https` URL without user information.
pub fn https_origin(url: &str) -> Result<Origin, DestinationError> {
    let not_https = || DestinationError::NotHttps {
        url: url.to_string(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| not_https())?;
    if parsed.scheme() != "https" {
        return Err(not_https());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(DestinationError::Credentials {
            url: url.to_string(),
        });
    }
    let host = parsed
        .host_str()
        .ok_or_else(not_https)?
        .to_ascii_lowercase();
    Ok(Origin {
        host,
        port: parsed.port_or_known_default().unwrap_or(443),
    })
}

/// Whether `reply_to` asks for a callback at all: absent, empty or WS-Addressing anonymous means the answer
/// goes back on the HTTP response only.
pub fn wants_callback(reply_to: Option<&str>) -> bool {
    matches!(reply_to, Some(r) if !r.is_empty() && r != WSA_ANONYMOUS)
}

/// The address a recorded `wsa:ReplyTo` is called back at: an `https` address asking for a callback, else none.
pub fn callback_address(reply_to: Option<&str>) -> Option<&str> {
    reply_to.filter(|r| wants_callback(Some(r)) && https_origin(r).is_ok())
}

/// The rule for outgoing calls: the configured allow list of origins, on top of each entity's registered
/// endpoints.
#[derive(Debug, Clone, Default)]
pub struct OutgoingPolicy {
    allowed: Vec<Origin>,
}

impl OutgoingPolicy {
    /// A policy allowing, besides each entity's registered endpoints, the `https://host[:port]` origins in
    /// `allow_list`.
    pub fn new(allow_list: &[String]) -> Result<OutgoingPolicy, DestinationError> {
        let allowed = allow_list
            .iter()
            .map(|entry| {
                https_origin(entry).map_err(|_| DestinationError::BadAllowEntry {
                    entry: entry.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OutgoingPolicy { allowed })
    }

    /// Checks the `wsa:ReplyTo` of a call from `caller`, whose registered endpoints (interface → URL) are
    /// `registered`: `Ok(None)` when no callback is asked for, `Ok(Some(url))` for an allowed one.
    pub fn check_reply_to<'a>(
        &self,
        caller: &str,
        reply_to: Option<&'a str>,
        registered: &BTreeMap<String, String>,
    ) -> Result<Option<&'a str>, DestinationError> {
        let Some(url) = reply_to.filter(|r| wants_callback(Some(r))) else {
            return Ok(None);
        };
        let origin = https_origin(url)?;
        let known = registered
            .values()
            .filter_map(|u| https_origin(u).ok())
            .chain(self.allowed.iter().cloned())
            .any(|o| o == origin);
        if known {
            Ok(Some(url))
        } else {
            Err(DestinationError::NotRegistered {
                url: url.to_string(),
                origin: origin.to_string(),
                caller: caller.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(urls: &[&str]) -> BTreeMap<String, String> {
        urls.iter()
            .enumerate()
            .map(|(i, u)| (format!("ES{i}"), (*u).to_string()))
            .collect()
    }

    #[test]
    fn reply_to_must_be_https_at_a_registered_or_allowed_origin() {
        let p = OutgoingPolicy::new(&["https://hooks.example:8443".into()]).unwrap();
        let reg = endpoints(&["https://MNO.example/es4"]);
        let check = |r: &'static str| p.check_reply_to("1.2.3", Some(r), &reg);
        assert_eq!(
            check("https://mno.example/callbacks?x=1"),
            Ok(Some("https://mno.example/callbacks?x=1"))
        );
        assert_eq!(
            check("https://mno.example:443/cb"),
            Ok(Some("https://mno.example:443/cb"))
        );
        assert!(check("https://hooks.example:8443/any").is_ok());
        assert!(matches!(
            check("http://mno.example/es4"),
            Err(DestinationError::NotHttps { .. })
        ));
        assert!(matches!(
            check("https://mno.example:8443/es4"),
            Err(DestinationError::NotRegistered { .. })
        ));
        assert!(matches!(
            check("https://attacker.example/es4"),
            Err(DestinationError::NotRegistered { .. })
        ));
        assert!(matches!(
            check("https://u:p@mno.example/es4"),
            Err(DestinationError::Credentials { .. })
        ));
        assert!(matches!(
            check("file:///etc/passwd"),
            Err(DestinationError::NotHttps { .. })
        ));
        assert_eq!(p.check_reply_to("1.2.3", None, &reg), Ok(None));
        assert_eq!(
            p.check_reply_to("1.2.3", Some(WSA_ANONYMOUS), &reg),
            Ok(None)
        );
        let e = check("https://attacker.example/").unwrap_err();
        let s = e.status_code_data();
        assert_eq!((s.subject.code(), s.reason.code()), ("1.1", "1.2"));
    }

    #[test]
    fn allow_list_entries_must_be_https_origins() {
        assert!(OutgoingPolicy::new(&["http://x.example".into()]).is_err());
        assert!(OutgoingPolicy::new(&["x.example".into()]).is_err());
        assert!(OutgoingPolicy::new(&["https://x.example:9443/".into()]).is_ok());
    }
}
