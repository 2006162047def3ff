//! SCP81 over HTTPS (GP Amendment B "RAM over HTTP", SGP.02 §2.4.4; wire-profile §3): the texts and bytes of the
//! admin session other than the scripts themselves ([`crate::script`] writes `AE 80 … 00 00` and reads
//! `AF 80 … 00 00`): the PSK identity, the `X-Admin-*` header values, the Next-URI naming session and sequence,
//! and the administration-session triggering TLV sent by SMS. No I/O.

use crate::tlv::{self, Tag, TlvError};
use crate::wire_profile;

/// Errors of the SCP81 codecs; messages name the element, never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Scp81Error {
    /// A TLV structure is broken.
    #[error("SCP81 TLV: {0}")]
    Tlv(#[from] TlvError),
    /// A text that must be hexadecimal is not.
    #[error("{what} is not hexadecimal text")]
    NotHex {
        /// The element.
        what: &'static str,
    },
    /// An element is absent, repeated, out of place or of the wrong size.
    #[error("{what}: {why}")]
    Invalid {
        /// The element.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
}

fn invalid(what: &'static str, why: impl Into<String>) -> Scp81Error {
    Scp81Error::Invalid {
        what,
        why: why.into(),
    }
}

const TAG_ID_TYPE: Tag = Tag::byte(0x80);
const TAG_ID_EID: Tag = Tag::byte(0x81);
const TAG_ID_AID: Tag = Tag::byte(0x4F);
const TAG_ID_KEY_ID: Tag = Tag::byte(0x82);
const TAG_ID_KVN: Tag = Tag::byte(0x83);

/// The PSK identity of the ISD-R's SCP81 key: `80 01 02 | 81 10 <EID> | 4F 10 <ISD-R AID> | 82 01 <key id> |
/// 83 01 <KVN>`, carried in TLS as the upper-case hex text of those bytes (wire-profile §3, SGP.02 §2.4.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskIdentity {
    /// EID, 16 bytes (its upper-case hex is the 32-digit EID text).
    pub eid: [u8; 16],
    /// AID of the ISD-R (5–16 bytes).
    pub isd_r_aid: Vec<u8>,
    /// Key identifier of the PSK in its key set.
    pub key_id: u8,
    /// Key version number of the SCP81 key set (`40`–`4F`).
    pub kvn: u8,
}

impl PskIdentity {
    /// The identity TLVs (wire-profile §3).
    pub fn to_tlvs(&self) -> Result<Vec<u8>, Scp81Error> {
        let mut out = Vec::with_capacity(45);
        tlv::encode_into(TAG_ID_TYPE, &[wire_profile::PSK_IDENTITY_TYPE], &mut out)?;
        tlv::encode_into(TAG_ID_EID, &self.eid, &mut out)?;
        tlv::encode_into(TAG_ID_AID, &self.isd_r_aid, &mut out)?;
        tlv::encode_into(TAG_ID_KEY_ID, &[self.key_id], &mut out)?;
        tlv::encode_into(TAG_ID_KVN, &[self.kvn], &mut out)?;
        Ok(out)
    }

    /// The identity as TLS carries it: the upper-case hex text of [`PskIdentity::to_tlvs`] (wire-profile §3).
    pub fn to_text(&self) -> Result<String, Scp81Error> {
        Ok(hex::encode_upper(self.to_tlvs()?))
    }

    /// The EID as text (upper-case hex of the 16 bytes, the 32 digits of the EIS) (wire-profile §3).
    pub fn eid_text(&self) -> String {
        hex::encode_upper(self.eid)
    }

    /// Parses the identity TLVs: exactly the five TLVs in the order of wire-profile §3, type `02`, a 16-byte
    /// EID, a 5–16-byte AID, one-byte key id and a KVN in `40`–`4F`.
    pub fn parse_tlvs(bytes: &[u8]) -> Result<PskIdentity, Scp81Error> {
        const WHAT: &str = "PSK identity";
        let items = tlv::parse_all(bytes)?;
        let tags = [
            TAG_ID_TYPE,
            TAG_ID_EID,
            TAG_ID_AID,
            TAG_ID_KEY_ID,
            TAG_ID_KVN,
        ];
        if items.len() != tags.len() || items.iter().zip(tags).any(|(t, want)| t.tag != want) {
            let found: Vec<String> = items.iter().map(|t| t.tag.to_string()).collect();
            return Err(invalid(
                WHAT,
                format!("expected TLVs 80 81 4F 82 83, found {}", found.join(" ")),
            ));
        }
        if items[0].value != [wire_profile::PSK_IDENTITY_TYPE] {
            return Err(invalid(WHAT, "the type TLV 80 is not 01 02"));
        }
        let eid: [u8; 16] = items[1]
            .value
            .try_into()
            .map_err(|_| invalid(WHAT, "the EID is not 16 bytes"))?;
        let aid = items[2].value;
        if !(5..=16).contains(&aid.len()) {
            return Err(invalid(WHAT, "the ISD-R AID is not 5-16 bytes"));
        }
        let one = |i: usize, name: &str| -> Result<u8, Scp81Error> {
            match items[i].value {
                [b] => Ok(*b),
                _ => Err(invalid(WHAT, format!("the {name} is not one byte"))),
            }
        };
        let key_id = one(3, "key id")?;
        let kvn = one(4, "key version")?;
        if !wire_profile::KVN_SCP81.contains(&kvn) {
            return Err(invalid(
                WHAT,
                format!("key version {kvn:02X} is not an SCP81 key set (40-4F)"),
            ));
        }
        Ok(PskIdentity {
            eid,
            isd_r_aid: aid.to_vec(),
            key_id,
            kvn,
        })
    }

    /// Parses the identity as received in TLS: hex text, upper or lower case (wire-profile §3: "the server
    /// accepts lower case too").
    pub fn parse_text(text: &[u8]) -> Result<PskIdentity, Scp81Error> {
        let bytes = hex::decode(text).map_err(|_| Scp81Error::NotHex {
            what: "PSK identity",
        })?;
        PskIdentity::parse_tlvs(&bytes)
    }
}

fn hex_field(what: &'static str, text: &str) -> Result<Vec<u8>, Scp81Error> {
    if text.is_empty() {
        return Err(invalid(what, "empty"));
    }
    hex::decode(text).map_err(|_| Scp81Error::NotHex { what })
}

/// An application address `//aid/<RID>/<PIX>`: RID = the first five AID bytes, PIX = the rest, upper-case hex
/// (wire-profile §3, `X-Admin-Targeted-Application`; GP Amd B). `None` for an AID shorter than 6 bytes.
pub fn aid_address(aid: &[u8]) -> Option<String> {
    if aid.len() < 6 || aid.len() > 16 {
        return None;
    }
    let (rid, pix) = aid.split_at(5);
    Some(format!(
        "//aid/{}/{}",
        hex::encode_upper(rid),
        hex::encode_upper(pix)
    ))
}

/// Parses an application address `//aid/<RID>/<PIX>` (either hex case) into the AID (wire-profile §3).
pub fn parse_aid_address(text: &str) -> Result<Vec<u8>, Scp81Error> {
    const WHAT: &str = "application address";
    let rest = text
        .strip_prefix("//aid/")
        .ok_or_else(|| invalid(WHAT, format!("{text:?} does not start with //aid/")))?;
    let (rid, pix) = rest
        .split_once('/')
        .ok_or_else(|| invalid(WHAT, format!("{text:?} has no /<PIX>")))?;
    let rid = hex_field(WHAT, rid)?;
    let pix = hex_field(WHAT, pix)?;
    if rid.len() != 5 || pix.len() > 11 {
        return Err(invalid(WHAT, format!("{text:?}: RID is 5 bytes, PIX 1-11")));
    }
    Ok([rid, pix].concat())
}

/// `X-Admin-From: //se-id/eid/<EID>;//aa-id/aid/<RID>/<PIX>`: the eUICC and the security domain running the
/// session (wire-profile §3; also the agent id `8B` of the trigger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminFrom {
    /// EID, 16 bytes.
    pub eid: [u8; 16],
    /// AID of the administered security domain (the ISD-R).
    pub aid: Vec<u8>,
}

impl AdminFrom {
    /// The header value (wire-profile §3). `None` for an AID that is not 6–16 bytes.
    pub fn to_header(&self) -> Option<String> {
        let aa = aid_address(&self.aid)?;
        Some(format!(
            "//se-id/eid/{};//aa-id/{}",
            hex::encode_upper(self.eid),
            aa.trim_start_matches('/')
        ))
    }

    /// Parses the header value (either hex case) (wire-profile §3).
    pub fn parse(text: &str) -> Result<AdminFrom, Scp81Error> {
        const WHAT: &str = "X-Admin-From";
        let (se, aa) = text
            .trim()
            .split_once(';')
            .ok_or_else(|| invalid(WHAT, format!("{text:?} has no ';'")))?;
        let eid = se
            .strip_prefix("//se-id/eid/")
            .ok_or_else(|| invalid(WHAT, format!("{text:?} does not start with //se-id/eid/")))?;
        let eid: [u8; 16] = hex_field(WHAT, eid)?
            .try_into()
            .map_err(|_| invalid(WHAT, "the EID is not 32 hex digits"))?;
        let app = aa
            .strip_prefix("//aa-id")
            .ok_or_else(|| invalid(WHAT, format!("{text:?}: no //aa-id after ';'")))?;
        let aid = parse_aid_address(&format!("/{app}"))?;
        Ok(AdminFrom { eid, aid })
    }
}

/// `X-Admin-Script-Status` of the eUICC's POST (wire-profile §3; GP Amd B). `ok` or `unknown-application` are
/// what the simulator sends; the other two GP values are accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptStatus {
    /// `ok`: the script was executed (its response script is the body).
    Ok,
    /// `unknown-application`: the targeted application is not on the card (no body).
    UnknownApplication,
    /// `not-a-security-domain` (GP Amd B).
    NotASecurityDomain,
    /// `security-error` (GP Amd B).
    SecurityError,
}

impl ScriptStatus {
    /// The header value (wire-profile §3).
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptStatus::Ok => "ok",
            ScriptStatus::UnknownApplication => "unknown-application",
            ScriptStatus::NotASecurityDomain => "not-a-security-domain",
            ScriptStatus::SecurityError => "security-error",
        }
    }

    /// Parses the header value, ignoring case and surrounding blanks (wire-profile §3).
    pub fn parse(text: &str) -> Result<ScriptStatus, Scp81Error> {
        let t = text.trim();
        [
            ScriptStatus::Ok,
            ScriptStatus::UnknownApplication,
            ScriptStatus::NotASecurityDomain,
            ScriptStatus::SecurityError,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(t))
        .ok_or_else(|| {
            invalid(
                "X-Admin-Script-Status",
                format!("{t:?} is not a known value"),
            )
        })
    }
}

/// `X-Admin-Next-URI`: a relative URI `<path>?session=<id>&seq=<n>` naming the session and the sequence number
/// of the script the eUICC answers with its next POST (wire-profile §3 [P] for the parameter names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextUri {
    /// The absolute path (starts with `/`, no query).
    pub path: String,
    /// Session id: 1–64 characters of `[A-Za-z0-9_-]`.
    pub session: String,
    /// Sequence number of the script the next POST answers.
    pub sequence: u64,
}

fn is_token(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_path(s: &str) -> bool {
    s.starts_with('/')
        && !s.starts_with("//")
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
}

impl NextUri {
    /// The header value (wire-profile §3). `None` when the path or the session id is not of the allowed form.
    pub fn to_header(&self) -> Option<String> {
        (is_path(&self.path) && is_token(&self.session)).then(|| {
            format!(
                "{}?{}={}&{}={}",
                self.path,
                wire_profile::NEXT_URI_SESSION_PARAM,
                self.session,
                wire_profile::NEXT_URI_SEQUENCE_PARAM,
                self.sequence
            )
        })
    }

    /// Parses the URI the eUICC POSTs to (the Next-URI echoed verbatim): path, then exactly the two query
    /// parameters, each once (wire-profile §3).
    pub fn parse(uri: &str) -> Result<NextUri, Scp81Error> {
        const WHAT: &str = "Next-URI";
        let (path, query) = uri
            .split_once('?')
            .ok_or_else(|| invalid(WHAT, format!("{uri:?} has no query")))?;
        if !is_path(path) {
            return Err(invalid(WHAT, format!("{uri:?}: not an absolute path")));
        }
        let mut session = None;
        let mut sequence = None;
        for pair in query.split('&') {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| invalid(WHAT, format!("{uri:?}: parameter without '='")))?;
            let slot_taken = match k {
                k if k == wire_profile::NEXT_URI_SESSION_PARAM && is_token(v) => {
                    session.replace(v.to_string()).is_some()
                }
                k if k == wire_profile::NEXT_URI_SEQUENCE_PARAM
                    && !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    let n = v
                        .parse::<u64>()
                        .map_err(|_| invalid(WHAT, format!("{uri:?}: sequence too large")))?;
                    sequence.replace(n).is_some()
                }
                _ => {
                    return Err(invalid(
                        WHAT,
                        format!("{uri:?}: unexpected parameter {k:?}"),
                    ));
                }
            };
            if slot_taken {
                return Err(invalid(WHAT, format!("{uri:?}: {k:?} repeated")));
            }
        }
        match (session, sequence) {
            (Some(session), Some(sequence)) => Ok(NextUri {
                path: path.to_string(),
                session,
                sequence,
            }),
            _ => Err(invalid(WHAT, format!("{uri:?}: session or seq missing"))),
        }
    }
}

const TAG_TRIGGER: Tag = Tag::byte(wire_profile::SESSION_TRIGGER_TAG);
const TAG_SESSION_PARAMS: Tag = Tag::byte(0x83);
const TAG_CONNECTION: Tag = Tag::byte(0x84);
const TAG_SECURITY: Tag = Tag::byte(0x85);
const TAG_RETRY: Tag = Tag::byte(0x86);
const TAG_HTTP_POST: Tag = Tag::byte(0x89);
const TAG_HOST: Tag = Tag::byte(0x8A);
const TAG_AGENT: Tag = Tag::byte(0x8B);
const TAG_URI: Tag = Tag::byte(0x8C);
const TAG_BEARER: Tag = Tag::byte(0x35);
const TAG_BUFFER: Tag = Tag::byte(0x39);
const TAG_TRANSPORT: Tag = Tag::byte(0x3C);
const TAG_ADDRESS: Tag = Tag::byte(0x3E);

/// Connection parameters `84` of the trigger: TS 102 223 OPEN CHANNEL TLVs `35` bearer, `39` buffer size,
/// `3C 03 02 <port>` (TCP), `3E 05 21 <IPv4>` (wire-profile §3 [P]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionParameters {
    /// Bearer description (value of `35`).
    pub bearer: Vec<u8>,
    /// Buffer size (value of `39`).
    pub buffer_size: u16,
    /// TCP port of the admin server.
    pub port: u16,
    /// IPv4 address of the admin server.
    pub ipv4: [u8; 4],
}

/// Retry policy `86` of the trigger: retry counter (2 bytes) then `25 03 <hh mm ss>`, a TS 102 223 timer in
/// semi-octet BCD (wire-profile §3 [P]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times the eUICC retries the connection.
    pub counter: u16,
    /// Pause between attempts: hours (0–99), minutes (0–59), seconds (0–59).
    pub timer: [u8; 3],
}

fn semi_octet(v: u8) -> Option<u8> {
    (v <= 99).then_some(((v % 10) << 4) | (v / 10))
}

fn from_semi_octet(b: u8) -> Option<u8> {
    let (tens, units) = (b & 0x0F, b >> 4);
    (tens <= 9 && units <= 9).then_some(tens * 10 + units)
}

/// The administration-session triggering parameters, secured data of the push SMS to the ISD-R TAR
/// (wire-profile §3, GP Amd B §3.7): `81 L { 83 L { 84 …, 85 …, 86 …, 89 L { 8A host, 8B agent id, 8C URI } } }`
/// [P: bare `81`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTrigger {
    /// Where to connect.
    pub connection: ConnectionParameters,
    /// The PSK identity to use (`85`: its hex text, then `02 <KVN> <key id>`).
    pub identity: PskIdentity,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// `Host:` of the first POST (`8A`).
    pub host: String,
    /// Agent id (`8B`): the `X-Admin-From` value.
    pub agent_id: String,
    /// Admin URI (`8C`): the target of the first POST.
    pub admin_uri: String,
}

impl SessionTrigger {
    /// Encodes the triggering TLV (wire-profile §3).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Scp81Error> {
        let c = &self.connection;
        let mut conn = Vec::new();
        tlv::encode_into(TAG_BEARER, &c.bearer, &mut conn)?;
        tlv::encode_into(TAG_BUFFER, &c.buffer_size.to_be_bytes(), &mut conn)?;
        let [p1, p2] = c.port.to_be_bytes();
        tlv::encode_into(
            TAG_TRANSPORT,
            &[wire_profile::TRIGGER_TRANSPORT_TCP, p1, p2],
            &mut conn,
        )?;
        let mut addr = vec![wire_profile::TRIGGER_ADDRESS_IPV4];
        addr.extend_from_slice(&c.ipv4);
        tlv::encode_into(TAG_ADDRESS, &addr, &mut conn)?;

        let text = self.identity.to_text()?;
        let len = u8::try_from(text.len())
            .map_err(|_| invalid("trigger security parameters", "identity too long"))?;
        let mut security = vec![len];
        security.extend_from_slice(text.as_bytes());
        security.extend_from_slice(&[0x02, self.identity.kvn, self.identity.key_id]);

        let mut retry = self.retry.counter.to_be_bytes().to_vec();
        let mut timer = Vec::with_capacity(3);
        for v in self.retry.timer {
            timer.push(
                semi_octet(v)
                    .ok_or_else(|| invalid("trigger retry timer", format!("{v} is not 0-99")))?,
            );
        }
        tlv::encode_into(
            Tag::byte(wire_profile::TRIGGER_TIMER_TAG),
            &timer,
            &mut retry,
        )?;

        let mut post = Vec::new();
        tlv::encode_into(TAG_HOST, self.host.as_bytes(), &mut post)?;
        tlv::encode_into(TAG_AGENT, self.agent_id.as_bytes(), &mut post)?;
        tlv::encode_into(TAG_URI, self.admin_uri.as_bytes(), &mut post)?;

        let mut params = Vec::new();
        tlv::encode_into(TAG_CONNECTION, &conn, &mut params)?;
        tlv::encode_into(TAG_SECURITY, &security, &mut params)?;
        tlv::encode_into(TAG_RETRY, &retry, &mut params)?;
        tlv::encode_into(TAG_HTTP_POST, &post, &mut params)?;
        let session = tlv::encode(TAG_SESSION_PARAMS, &params)?;
        Ok(tlv::encode(TAG_TRIGGER, &session)?)
    }

    /// Parses the triggering TLV: every element of wire-profile §3 present once, in that order.
    pub fn parse(bytes: &[u8]) -> Result<SessionTrigger, Scp81Error> {
        const WHAT: &str = "session trigger";
        let outer = tlv::parse_single(bytes)?;
        if outer.tag != TAG_TRIGGER {
            return Err(invalid(WHAT, format!("outer tag {} is not 81", outer.tag)));
        }
        let [session] = <[_; 1]>::try_from(outer.children()?)
            .map_err(|_| invalid(WHAT, "81 must hold exactly one 83"))?;
        if session.tag != TAG_SESSION_PARAMS {
            return Err(invalid(WHAT, "81 must hold exactly one 83"));
        }
        let expect = |items: &[tlv::Tlv<'_>], tags: &[Tag], within: &str| {
            if items.len() == tags.len() && items.iter().zip(tags).all(|(t, w)| t.tag == *w) {
                Ok(())
            } else {
                let found: Vec<String> = items.iter().map(|t| t.tag.to_string()).collect();
                Err(invalid(WHAT, format!("{within} holds {}", found.join(" "))))
            }
        };
        let params = session.children()?;
        expect(
            &params,
            &[TAG_CONNECTION, TAG_SECURITY, TAG_RETRY, TAG_HTTP_POST],
            "83",
        )?;

        let conn = params[0].children()?;
        expect(
            &conn,
            &[TAG_BEARER, TAG_BUFFER, TAG_TRANSPORT, TAG_ADDRESS],
            "84",
        )?;
        let buffer_size = match conn[1].value {
            [a, b] => u16::from_be_bytes([*a, *b]),
            _ => return Err(invalid(WHAT, "39 is not 2 bytes")),
        };
        let port = match conn[2].value {
            [t, a, b] if *t == wire_profile::TRIGGER_TRANSPORT_TCP => u16::from_be_bytes([*a, *b]),
            _ => return Err(invalid(WHAT, "3C is not 02 <port>")),
        };
        let ipv4 = match conn[3].value {
            [t, a, b, c, d] if *t == wire_profile::TRIGGER_ADDRESS_IPV4 => [*a, *b, *c, *d],
            _ => return Err(invalid(WHAT, "3E is not 21 <IPv4>")),
        };

        let sec = params[1].value;
        let (&len, rest) = sec
            .split_first()
            .ok_or_else(|| invalid(WHAT, "85 is empty"))?;
        let len = usize::from(len);
        if rest.len() != len + 3 {
            return Err(invalid(WHAT, "85 is not <L> <identity> 02 <KVN> <key id>"));
        }
        let (text, tail) = rest.split_at(len);
        let identity = PskIdentity::parse_text(text)?;
        if tail != [0x02, identity.kvn, identity.key_id] {
            return Err(invalid(
                WHAT,
                "85: 02 <KVN> <key id> differs from the identity",
            ));
        }

        let retry = params[2].value;
        let timer = match retry {
            [c1, c2, tag, 0x03, h, m, s] if *tag == wire_profile::TRIGGER_TIMER_TAG => {
                let decode = |b: &u8| {
                    from_semi_octet(*b).ok_or_else(|| invalid(WHAT, "86: timer is not BCD"))
                };
                (
                    u16::from_be_bytes([*c1, *c2]),
                    [decode(h)?, decode(m)?, decode(s)?],
                )
            }
            _ => return Err(invalid(WHAT, "86 is not <counter 2> 25 03 <hh mm ss>")),
        };

        let post = params[3].children()?;
        expect(&post, &[TAG_HOST, TAG_AGENT, TAG_URI], "89")?;
        let utf8 = |t: &tlv::Tlv<'_>| {
            String::from_utf8(t.value.to_vec())
                .map_err(|_| invalid(WHAT, format!("{} is not UTF-8", t.tag)))
        };
        Ok(SessionTrigger {
            connection: ConnectionParameters {
                bearer: conn[0].value.to_vec(),
                buffer_size,
                port,
                ipv4,
            },
            identity,
            retry: RetryPolicy {
                counter: timer.0,
                timer: timer.1,
            },
            host: utf8(&post[0])?,
            agent_id: utf8(&post[1])?,
            admin_uri: utf8(&post[2])?,
        })
    }
}
