//! Every ES1, ES2, ES3, ES4 and ES7 message of SGP.02 v3 (§5.2–§5.7; `euicc.request.ES*.xsd`) and the EIS
//! (§5.1.1.3; `EISType`), with strict namespace-aware decoding and exact encoding.
//!
//! Names, order, cardinality and simple types follow the GSMA v3 XSDs. Known inconsistencies of the GSMA bundle
//! are accepted on input and the XSD element name is emitted (`SmSr-id`/`Smsr-id`,
//! `CompletionTimestamp`/`completionTimestamp`). Each interface module has `Request`, `Response` and
//! `Notification` enums that dispatch on the body element name, and a `Message` enum over all three.

pub mod codec;
pub mod common;
pub mod eis;
pub mod es1;
pub mod es2;
pub mod es3;
pub mod es4;
pub mod es4v4;
pub mod es7;

pub use codec::{BodyElement, DecodeError, DecodeErrorKind, RPS_NS};

/// The SGP.02 off-card interfaces carried over SOAP (SGP.02 §5.2–§5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interface {
    /// ES1: EUM → SM-SR.
    Es1,
    /// ES2: MNO → SM-DP.
    Es2,
    /// ES3: SM-DP → SM-SR.
    Es3,
    /// ES4: MNO → SM-SR.
    Es4,
    /// ES7: SM-SR ↔ SM-SR.
    Es7,
}

impl Interface {
    /// The interface a body element belongs to, by its `ESn-` prefix.
    pub fn of_element(local_name: &str) -> Option<Interface> {
        let (prefix, _) = local_name.split_once('-')?;
        match prefix {
            "ES1" => Some(Interface::Es1),
            "ES2" => Some(Interface::Es2),
            "ES3" => Some(Interface::Es3),
            "ES4" => Some(Interface::Es4),
            "ES7" => Some(Interface::Es7),
            _ => None,
        }
    }
}
