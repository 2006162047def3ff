//! SMPP 3.4 Appendix B: the SMSC delivery receipt carried in the short_message of a deliver_sm
//! (`id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E Text:…`).

use std::fmt;

use super::PduError;
use super::tlv::MessageState;

/// SMPP 3.4 Appendix B Table B-2: the `stat:` values of a delivery receipt.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReceiptStat {
    /// DELIVRD: message is delivered to destination.
    Delivered,
    /// EXPIRED: message validity period has expired.
    Expired,
    /// DELETED: message has been deleted.
    Deleted,
    /// UNDELIV: message is undeliverable.
    Undeliverable,
    /// ACCEPTD: message is in accepted state.
    Accepted,
    /// UNKNOWN: message is in invalid state.
    Unknown,
    /// REJECTD: message is in a rejected state.
    Rejected,
    /// ENROUTE: not in Table B-2, but sent by SMSCs in intermediate notifications.
    Enroute,
    /// Any other text, kept as sent.
    Other(String),
}

impl ReceiptStat {
    /// SMPP 3.4 Appendix B Table B-2: the stat for its text (case-insensitive).
    pub fn parse(text: &str) -> Self {
        match text.to_ascii_uppercase().as_str() {
            "DELIVRD" => Self::Delivered,
            "EXPIRED" => Self::Expired,
            "DELETED" => Self::Deleted,
            "UNDELIV" => Self::Undeliverable,
            "ACCEPTD" => Self::Accepted,
            "UNKNOWN" => Self::Unknown,
            "REJECTD" => Self::Rejected,
            "ENROUTE" => Self::Enroute,
            _ => Self::Other(text.to_string()),
        }
    }

    /// SMPP 3.4 Appendix B Table B-2: the stat text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Delivered => "DELIVRD",
            Self::Expired => "EXPIRED",
            Self::Deleted => "DELETED",
            Self::Undeliverable => "UNDELIV",
            Self::Accepted => "ACCEPTD",
            Self::Unknown => "UNKNOWN",
            Self::Rejected => "REJECTD",
            Self::Enroute => "ENROUTE",
            Self::Other(s) => s,
        }
    }

    /// SMPP 3.4 Table B-2 / §5.2.28: the message_state matching this stat, if any.
    pub fn message_state(&self) -> Option<MessageState> {
        Some(match self {
            Self::Delivered => MessageState::Delivered,
            Self::Expired => MessageState::Expired,
            Self::Deleted => MessageState::Deleted,
            Self::Undeliverable => MessageState::Undeliverable,
            Self::Accepted => MessageState::Accepted,
            Self::Unknown => MessageState::Unknown,
            Self::Rejected => MessageState::Rejected,
            Self::Enroute => MessageState::Enroute,
            Self::Other(_) => return None,
        })
    }

    /// True for the final states (everything but ENROUTE and ACCEPTD).
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Enroute | Self::Accepted)
    }
}

impl fmt::Display for ReceiptStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SMPP 3.4 Appendix B: the fields of a delivery receipt text. Fields other than `id` and `stat` are optional in
/// practice and kept as sent (empty when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// `id:` the message id the SMSC returned in submit_sm_resp.
    pub id: String,
    /// `sub:` number of short messages originally submitted.
    pub sub: String,
    /// `dlvrd:` number of short messages delivered.
    pub dlvrd: String,
    /// `submit date:` YYMMDDhhmm (some SMSCs add ss).
    pub submit_date: String,
    /// `done date:` YYMMDDhhmm (some SMSCs add ss).
    pub done_date: String,
    /// `stat:` the final status.
    pub stat: ReceiptStat,
    /// `err:` network-specific error code (3 characters in the specification's example).
    pub err: String,
    /// `Text:` the first characters of the original message.
    pub text: String,
}

/// The keys of Appendix B in their order.
const KEYS: [&str; 8] = [
    "id:",
    "sub:",
    "dlvrd:",
    "submit date:",
    "done date:",
    "stat:",
    "err:",
    "text:",
];

impl DeliveryReceipt {
    /// SMPP 3.4 Appendix B: parses a receipt text. Keys are matched without regard to case, in the order of
    /// Appendix B; `id:` and `stat:` are required.
    pub fn parse(short_message: &[u8]) -> Result<Self, PduError> {
        let text: String = short_message
            .iter()
            .map(|&b| if b.is_ascii() { b as char } else { '?' })
            .collect();
        let lower = text.to_ascii_lowercase();
        // (key index, key start, value start)
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        let mut pos = 0;
        for (i, key) in KEYS.iter().enumerate() {
            let mut search = pos;
            while let Some(rel) = lower[search..].find(key) {
                let at = search + rel;
                if at == 0 || lower.as_bytes()[at - 1] == b' ' {
                    found.push((i, at, at + key.len()));
                    pos = at + key.len();
                    break;
                }
                search = at + key.len();
            }
        }
        let mut values: [Option<String>; 8] = Default::default();
        for (n, &(i, _, value_start)) in found.iter().enumerate() {
            let end = found.get(n + 1).map_or(text.len(), |&(_, s, _)| s);
            let raw = &text[value_start..end];
            values[i] = Some(if i == 7 {
                raw.trim_start().to_string()
            } else {
                raw.trim().to_string()
            });
        }
        let [id, sub, dlvrd, submit_date, done_date, stat, err, body] = values;
        Ok(DeliveryReceipt {
            id: id.ok_or(PduError::ReceiptField { field: "id" })?,
            sub: sub.unwrap_or_default(),
            dlvrd: dlvrd.unwrap_or_default(),
            submit_date: submit_date.unwrap_or_default(),
            done_date: done_date.unwrap_or_default(),
            stat: ReceiptStat::parse(&stat.ok_or(PduError::ReceiptField { field: "stat" })?),
            err: err.unwrap_or_default(),
            text: body.unwrap_or_default(),
        })
    }

    /// SMPP 3.4 Appendix B: the receipt text in the layout of the specification.
    pub fn to_text(&self) -> String {
        format!(
            "id:{} sub:{} dlvrd:{} submit date:{} done date:{} stat:{} err:{} Text:{}",
            self.id,
            self.sub,
            self.dlvrd,
            self.submit_date,
            self.done_date,
            self.stat,
            self.err,
            self.text
        )
    }
}
