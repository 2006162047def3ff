//! The SM-DP profile warehouse (DESIGN §4 "Warehouse"; SGP.02 §5.3.2 ES2.DownloadProfile takes a profile of a
//! ProfileType, or a given ICCID): the service layer over `eis_store::warehouse` that the CLI, the REST API and
//! ES2.DownloadProfile call.
//!
//! - [`profile_types`]: add and list an MNO's profile types; a template is accepted only once the SAIP codec has
//!   validated it and shown that it can be personalised.
//! - [`import`]: order import in two streamed passes — validate every row (refusing the file with every bad row
//!   listed), then seal each record's secrets under the master key and insert in chunks inside one transaction.
//! - [`stock`]: reservation by profile type or ICCID for an eUICC, the state transitions, personalisation of a
//!   reserved record into a validated package, stock levels and the low-stock event.
//! - [`export`]: the output file of installed records, with secrets optionally encrypted for the MNO ([`ecies`]).
//! - [`secrets`]: the at-rest form of a record's secrets (sealed with purpose [`secrets::PURPOSE`], AAD = ICCID).
//!
//! Every function that reads or writes the warehouse takes the caller's connection, so that ES2.DownloadProfile
//! can reserve inside its function-call transaction; each MNO sees only its own profile types, orders and stock.

pub mod ecies;
pub mod export;
pub mod import;
pub mod profile_types;
pub mod secrets;
pub mod stock;

use eis_store::{StoreError, TxError};

use crate::batch::BatchErrors;
use crate::saip::SaipError;

/// Why a warehouse operation failed. Messages name the profile type, order, ICCID, line or element concerned and
/// never carry a secret value.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The template is not a valid, personalisable SAIP package (TCA PEDefinitions v3.3.1).
    #[error("template refused: {0}")]
    Template(#[source] SaipError),
    /// The order file is refused as a whole; every bad row is listed (line, column, reason).
    #[error("{0}")]
    Refused(BatchErrors),
    /// The MNO has no profile type of this name.
    #[error("MNO {mno} has no profile type {name:?}")]
    UnknownProfileType {
        /// The MNO.
        mno: String,
        /// The profile type name.
        name: String,
    },
    /// The MNO already has a profile type of this name.
    #[error("MNO {mno} already has a profile type {name:?}")]
    ProfileTypeExists {
        /// The MNO.
        mno: String,
        /// The profile type name.
        name: String,
    },
    /// The MNO has no order with this id.
    #[error("MNO {mno} has no order {order}")]
    UnknownOrder {
        /// The MNO.
        mno: String,
        /// The order id.
        order: i64,
    },
    /// No record of the profile type is available (SGP.02 §5.3.2: the SM-DP cannot provide a profile).
    #[error("profile type {profile_type:?} is out of stock")]
    OutOfStock {
        /// The profile type name.
        profile_type: String,
    },
    /// The MNO has no record with this ICCID in stock.
    #[error("ICCID {iccid} is not in the stock of MNO {mno}")]
    UnknownIccid {
        /// The MNO.
        mno: String,
        /// The ICCID asked for.
        iccid: String,
    },
    /// The record exists but is not in the state the operation needs.
    #[error("ICCID {iccid}: {detail}")]
    WrongState {
        /// The record.
        iccid: String,
        /// Expected and found state.
        detail: String,
    },
    /// An argument is invalid (name, threshold, EID, certificate…).
    #[error("invalid {field}: {why}")]
    Invalid {
        /// Which argument.
        field: &'static str,
        /// Why.
        why: String,
    },
    /// The sealed secrets of a record could not be sealed or opened (wrong master key, tampered row).
    #[error("secrets of ICCID {iccid}: {source}")]
    Secrets {
        /// The record.
        iccid: String,
        /// The cause (never key material).
        #[source]
        source: certs::secrets::SealError,
    },
    /// The stored secrets of a record are not in the expected layout.
    #[error("secrets of ICCID {iccid}: {why}")]
    SecretsLayout {
        /// The record.
        iccid: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Personalising a reserved record failed (the package would not validate).
    #[error("personalisation of ICCID {iccid}: {source}")]
    Personalise {
        /// The record.
        iccid: String,
        /// The codec's reason (element and offset).
        #[source]
        source: SaipError,
    },
    /// Encrypting or decrypting an output file failed.
    #[error("output file: {0}")]
    Export(#[from] ecies::EciesError),
    /// Reading an order file or writing an output file failed.
    #[error("{what}: {source}")]
    Io {
        /// The file or stream.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database failed.
    #[error("storage: {0}")]
    Store(#[source] StoreError),
}

impl WarehouseError {
    /// An I/O error on `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        WarehouseError::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<StoreError> for WarehouseError {
    fn from(e: StoreError) -> Self {
        WarehouseError::Store(e)
    }
}

impl TxError for WarehouseError {
    fn is_retryable(&self) -> bool {
        matches!(self, WarehouseError::Store(e) if e.is_retryable())
    }
}
