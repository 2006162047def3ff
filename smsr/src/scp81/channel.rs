//! Which ES5 channel an eUICC's commands take (SGP.02 §2.4.4; design §3 step 4): HTTPS when the admin server
//! runs and the eUICC supports it — the configuration's per-eUICC override first, else the EIS capability
//! `HttpSupport` — otherwise SMS; per script, one too large for SMS goes over HTTPS if the eUICC supports it.

use std::collections::HashMap;

use eis_store::eis;
use eis_store::{AnyConnection, StoreError};
use serde::{Deserialize, Serialize};

/// An ES5 channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// SCP80 secured packets by SMS (wire-profile §2).
    Sms,
    /// RAM over HTTP in an SCP81 PSK-TLS session (wire-profile §3).
    Https,
}

impl Channel {
    /// The name used in configuration, logs and the operation's data.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Https => "https",
        }
    }
}

/// The channel rule of the SM-SR (configuration `es5.https`).
#[derive(Debug, Clone, Default)]
pub struct ChannelPolicy {
    /// The admin server runs (else everything goes by SMS).
    pub https_enabled: bool,
    /// Per-eUICC choice (EID → channel), before the EIS capability.
    pub overrides: HashMap<String, Channel>,
    /// The push SMS that opens sessions (`None`: none is sent; HTTPS eUICCs connect on their own).
    pub trigger: Option<TriggerSettings>,
}

/// The administration-session trigger (wire-profile §3) and its policy: when an HTTPS eUICC has work and no
/// command in flight, a push SMS; again after `connect_timeout` without a connection, up to `attempts` in all;
/// `connect_timeout` after the last, the operation's commands that fit in SMS go by SMS.
#[derive(Debug, Clone)]
pub struct TriggerSettings {
    /// Where the eUICC connects (`3E`/`3C`).
    pub address: std::net::SocketAddrV4,
    /// `Host:` of the first POST (`8A`).
    pub host: String,
    /// The admin URI (`8C`).
    pub admin_path: String,
    /// The eUICC's own retry counter (`86`).
    pub card_retries: u16,
    /// The eUICC's pause between its retries (`86`, whole seconds up to 99:59:59).
    pub card_retry_interval: std::time::Duration,
    /// Triggers per operation before the fall-back to SMS.
    pub attempts: u32,
    /// How long the SM-SR waits for the session after each trigger.
    pub connect_timeout: std::time::Duration,
}

/// Largest command script sent by SMS: 16 concatenated SMS (the reassembly limit of both ends) of 133 bytes of
/// packet each, less the SCP80 header (21 bytes) and the AES padding (up to 15) (wire-profile §2).
pub const SMS_MAX_SCRIPT: usize = 16 * 133 - 21 - 15;

impl ChannelPolicy {
    /// The channel of `eid`'s next command `script`: its eUICC's channel ([`ChannelPolicy::channel_of`]), except
    /// that a script larger than [`SMS_MAX_SCRIPT`] goes over HTTPS when the EIS says `HttpSupport`, whatever
    /// the override (SGP.02 §2.4.4).
    pub fn channel_for(
        &self,
        conn: &mut AnyConnection,
        eid: &str,
        script: &[u8],
    ) -> Result<Channel, StoreError> {
        let channel = self.channel_of(conn, eid)?;
        if channel == Channel::Sms
            && self.https_enabled
            && script.len() > SMS_MAX_SCRIPT
            && eis::http_support(conn, eid)?.unwrap_or(false)
        {
            return Ok(Channel::Https);
        }
        Ok(channel)
    }

    /// The channel of `eid`'s commands (SGP.02 §2.4.4).
    pub fn channel_of(&self, conn: &mut AnyConnection, eid: &str) -> Result<Channel, StoreError> {
        if !self.https_enabled {
            return Ok(Channel::Sms);
        }
        if let Some(c) = self.overrides.get(eid) {
            return Ok(*c);
        }
        Ok(if eis::http_support(conn, eid)?.unwrap_or(false) {
            Channel::Https
        } else {
            Channel::Sms
        })
    }
}
