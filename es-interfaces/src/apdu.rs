//! Command and response APDUs (ISO/IEC 7816-4 §5.1, short form only) and builders for the GlobalPlatform commands
//! of ES5 and ES8 (GP Card Specification §11: STORE DATA, INSTALL, DELETE, GET STATUS, GET DATA).

use crate::wire_profile;

/// Errors of the APDU codecs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    /// Fewer than the 4 header bytes of a C-APDU or the 2 status bytes of an R-APDU.
    #[error("APDU of {len} byte(s) is shorter than its {min}-byte minimum")]
    TooShort {
        /// Bytes present.
        len: usize,
        /// Bytes required.
        min: usize,
    },
    /// The body after the header matches none of the short cases 2–4 (ISO/IEC 7816-4 §5.1).
    #[error("C-APDU body of {body} byte(s) does not match Lc = {lc}")]
    LengthMismatch {
        /// The Lc byte.
        lc: u8,
        /// Bytes after the header.
        body: usize,
    },
    /// Lc = `00` followed by data: extended length, not supported on ES5 (ISO/IEC 7816-4 §5.1).
    #[error("extended-length C-APDU (Lc = 00 with data) is not supported")]
    ExtendedLength,
    /// Command data longer than 255 bytes cannot be sent in a short APDU.
    #[error("command data of {len} bytes exceeds the short-APDU maximum of 255")]
    DataTooLong {
        /// The data length.
        len: usize,
    },
    /// A length-value field inside an INSTALL data field is truncated.
    #[error("INSTALL data field truncated in {field}")]
    InstallTruncated {
        /// Name of the field.
        field: &'static str,
    },
    /// Bytes after the last field of an INSTALL data field.
    #[error("{count} trailing byte(s) after the INSTALL data field")]
    InstallTrailing {
        /// Number of extra bytes.
        count: usize,
    },
    /// STORE DATA P1 has reserved bits set (GP Card Specification §11.11.2.1).
    #[error("STORE DATA P1 {p1:#04x} has reserved bits set")]
    StoreDataP1Reserved {
        /// The P1 byte.
        p1: u8,
    },
}

/// ISO/IEC 7816-4 command cases (short form) (ISO/IEC 7816-4 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApduCase {
    /// No data, no Le.
    Case1,
    /// No data, Le.
    Case2,
    /// Data, no Le.
    Case3,
    /// Data and Le.
    Case4,
}

/// A command APDU in short form (ISO/IEC 7816-4 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandApdu {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (empty for cases 1 and 2); at most 255 bytes.
    pub data: Vec<u8>,
    /// The Le byte as sent (`00` = up to 256 bytes), absent for cases 1 and 3.
    pub le: Option<u8>,
}

impl CommandApdu {
    /// A case 1 command `CLA INS P1 P2` (ISO/IEC 7816-4 §5.1).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> CommandApdu {
        CommandApdu {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// The same command carrying `data` (ISO/IEC 7816-4 §5.1).
    pub fn with_data(mut self, data: Vec<u8>) -> CommandApdu {
        self.data = data;
        self
    }

    /// The same command with the Le byte `le` (ISO/IEC 7816-4 §5.1).
    pub fn with_le(mut self, le: u8) -> CommandApdu {
        self.le = Some(le);
        self
    }

    /// The command's ISO case (ISO/IEC 7816-4 §5.1).
    pub fn case(&self) -> ApduCase {
        match (self.data.is_empty(), self.le.is_some()) {
            (true, false) => ApduCase::Case1,
            (true, true) => ApduCase::Case2,
            (false, false) => ApduCase::Case3,
            (false, true) => ApduCase::Case4,
        }
    }

    /// Encodes `CLA INS P1 P2 [Lc data] [Le]` (ISO/IEC 7816-4 §5.1).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduError> {
        let mut out = Vec::with_capacity(6 + self.data.len());
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if !self.data.is_empty() {
            let lc = u8::try_from(self.data.len()).map_err(|_| ApduError::DataTooLong {
                len: self.data.len(),
            })?;
            out.push(lc);
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            out.push(le);
        }
        Ok(out)
    }

    /// Parses a short C-APDU, deciding the case from the length (ISO/IEC 7816-4 §5.1).
    pub fn parse(bytes: &[u8]) -> Result<CommandApdu, ApduError> {
        let (header, body) = bytes.split_first_chunk::<4>().ok_or(ApduError::TooShort {
            len: bytes.len(),
            min: 4,
        })?;
        let [cla, ins, p1, p2] = *header;
        let mut apdu = CommandApdu::new(cla, ins, p1, p2);
        match body {
            [] => {}
            [le] => apdu.le = Some(*le),
            [lc, rest @ ..] => {
                if *lc == 0 {
                    return Err(ApduError::ExtendedLength);
                }
                let n = usize::from(*lc);
                if rest.len() == n {
                    apdu.data = rest.to_vec();
                } else if rest.len() == n + 1 {
                    apdu.data = rest[..n].to_vec();
                    apdu.le = Some(rest[n]);
                } else {
                    return Err(ApduError::LengthMismatch {
                        lc: *lc,
                        body: body.len(),
                    });
                }
            }
        }
        Ok(apdu)
    }
}

/// A status word `SW1 SW2` (ISO/IEC 7816-4 §5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `9000` normal processing (ISO/IEC 7816-4 §5.1.3).
    pub const OK: StatusWord = StatusWord(0x9000);
    /// `6310` more data available (GP Card Specification §11.4.3.1, GET STATUS).
    pub const MORE_DATA: StatusWord = StatusWord(0x6310);
    /// `6700` wrong length (ISO/IEC 7816-4 §5.1.3).
    pub const WRONG_LENGTH: StatusWord = StatusWord(0x6700);
    /// `6982` security status not satisfied (ISO/IEC 7816-4 §5.1.3).
    pub const SECURITY_STATUS: StatusWord = StatusWord(0x6982);
    /// `6985` conditions of use not satisfied (ISO/IEC 7816-4 §5.1.3).
    pub const CONDITIONS_NOT_SATISFIED: StatusWord = StatusWord(0x6985);
    /// `6A80` incorrect parameters in the data field (ISO/IEC 7816-4 §5.1.3).
    pub const INCORRECT_DATA: StatusWord = StatusWord(0x6A80);
    /// `6A84` not enough memory space (ISO/IEC 7816-4 §5.1.3).
    pub const NOT_ENOUGH_MEMORY: StatusWord = StatusWord(0x6A84);
    /// `6A86` incorrect P1-P2 (ISO/IEC 7816-4 §5.1.3).
    pub const INCORRECT_P1P2: StatusWord = StatusWord(0x6A86);
    /// `6A88` referenced data not found (ISO/IEC 7816-4 §5.1.3).
    pub const REFERENCED_DATA_NOT_FOUND: StatusWord = StatusWord(0x6A88);
    /// `6D00` instruction not supported (ISO/IEC 7816-4 §5.1.3).
    pub const INS_NOT_SUPPORTED: StatusWord = StatusWord(0x6D00);
    /// `6E00` class not supported (ISO/IEC 7816-4 §5.1.3).
    pub const CLA_NOT_SUPPORTED: StatusWord = StatusWord(0x6E00);

    /// SW1 (ISO/IEC 7816-4 §5.1.3).
    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// SW2 (ISO/IEC 7816-4 §5.1.3).
    pub fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// `9000` or `61xx` (ISO/IEC 7816-4 §5.1.3).
    pub fn is_success(self) -> bool {
        self.0 == 0x9000 || self.sw1() == 0x61
    }

    /// `62xx` or `63xx`: processed with a warning (ISO/IEC 7816-4 §5.1.3).
    pub fn is_warning(self) -> bool {
        matches!(self.sw1(), 0x62 | 0x63)
    }
}

impl core::fmt::Display for StatusWord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

/// A response APDU: data then status word (ISO/IEC 7816-4 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    /// Response data.
    pub data: Vec<u8>,
    /// Status word.
    pub sw: StatusWord,
}

impl ResponseApdu {
    /// A response with `data` and status `sw` (ISO/IEC 7816-4 §5.1).
    pub fn new(data: Vec<u8>, sw: StatusWord) -> ResponseApdu {
        ResponseApdu { data, sw }
    }

    /// Encodes `data | SW1 SW2` (ISO/IEC 7816-4 §5.1).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.0.to_be_bytes());
        out
    }

    /// Parses `data | SW1 SW2` (ISO/IEC 7816-4 §5.1).
    pub fn parse(bytes: &[u8]) -> Result<ResponseApdu, ApduError> {
        let (data, sw) = bytes.split_last_chunk::<2>().ok_or(ApduError::TooShort {
            len: bytes.len(),
            min: 2,
        })?;
        Ok(ResponseApdu {
            data: data.to_vec(),
            sw: StatusWord(u16::from_be_bytes(*sw)),
        })
    }
}

/// GlobalPlatform CLA of the ES5/ES8 commands (GP Card Specification §11.1.4).
pub const CLA_GP: u8 = 0x80;
/// INS of STORE DATA (GP Card Specification §11.11).
pub const INS_STORE_DATA: u8 = 0xE2;
/// INS of INSTALL (GP Card Specification §11.5).
pub const INS_INSTALL: u8 = 0xE6;
/// INS of DELETE (GP Card Specification §11.2).
pub const INS_DELETE: u8 = 0xE4;
/// INS of GET STATUS (GP Card Specification §11.4).
pub const INS_GET_STATUS: u8 = 0xF2;
/// INS of GET DATA (GP Card Specification §11.3).
pub const INS_GET_DATA: u8 = 0xCA;

/// Encryption information of STORE DATA P1 b7–b6 (GP Card Specification §11.11.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreDataEncryption {
    /// `00`: no general encryption information or non-encrypted data.
    None,
    /// `01`: application-dependent encryption of the data.
    ApplicationDependent,
    /// `11`: encrypted data.
    Encrypted,
}

/// Data structure information of STORE DATA P1 b5–b4 (GP Card Specification §11.11.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreDataStructure {
    /// `00`: no general data structure information.
    None,
    /// `01`: DGI format.
    Dgi,
    /// `10`: BER-TLV format.
    BerTlv,
}

/// STORE DATA P1 (GP Card Specification §11.11.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreDataP1 {
    /// b8: last block.
    pub last_block: bool,
    /// b7–b6: encryption information.
    pub encryption: StoreDataEncryption,
    /// b5–b4: data structure.
    pub structure: StoreDataStructure,
    /// b1: response data expected.
    pub response_expected: bool,
}

impl StoreDataP1 {
    /// Encodes the P1 byte (GP Card Specification §11.11.2.1).
    pub fn to_byte(self) -> u8 {
        let enc = match self.encryption {
            StoreDataEncryption::None => 0x00,
            StoreDataEncryption::ApplicationDependent => 0x20,
            StoreDataEncryption::Encrypted => 0x60,
        };
        let structure = match self.structure {
            StoreDataStructure::None => 0x00,
            StoreDataStructure::Dgi => 0x08,
            StoreDataStructure::BerTlv => 0x10,
        };
        (u8::from(self.last_block) << 7) | enc | structure | u8::from(self.response_expected)
    }

    /// Decodes the P1 byte, refusing reserved codings (GP Card Specification §11.11.2.1).
    pub fn from_byte(p1: u8) -> Result<StoreDataP1, ApduError> {
        let reserved = ApduError::StoreDataP1Reserved { p1 };
        let encryption = match p1 & 0x60 {
            0x00 => StoreDataEncryption::None,
            0x20 => StoreDataEncryption::ApplicationDependent,
            0x60 => StoreDataEncryption::Encrypted,
            _ => return Err(reserved),
        };
        let structure = match p1 & 0x18 {
            0x00 => StoreDataStructure::None,
            0x08 => StoreDataStructure::Dgi,
            0x10 => StoreDataStructure::BerTlv,
            _ => return Err(reserved),
        };
        if p1 & 0x06 != 0 {
            return Err(reserved);
        }
        Ok(StoreDataP1 {
            last_block: p1 & 0x80 != 0,
            encryption,
            structure,
            response_expected: p1 & 0x01 != 0,
        })
    }
}

/// STORE DATA `80 E2 P1 <block> Lc data` without Le (GP Card Specification §11.11; wire-profile §4, §5).
pub fn store_data(p1: StoreDataP1, block: u8, data: Vec<u8>) -> CommandApdu {
    CommandApdu::new(CLA_GP, INS_STORE_DATA, p1.to_byte(), block).with_data(data)
}

/// The data field of INSTALL: six length-value fields (GP Card Specification §11.5.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallData {
    /// Executable Load File AID (empty for [for personalization]).
    pub load_file_aid: Vec<u8>,
    /// Executable Module AID (empty for [for personalization]).
    pub module_aid: Vec<u8>,
    /// Application AID.
    pub application_aid: Vec<u8>,
    /// Privileges (empty for [for personalization]).
    pub privileges: Vec<u8>,
    /// Install parameters (a `C9`/`EF`/… TLV sequence).
    pub parameters: Vec<u8>,
    /// Install token.
    pub token: Vec<u8>,
}

impl InstallData {
    /// Encodes the six LV fields, each length one byte (GP Card Specification §11.5.2.3).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduError> {
        let mut out = Vec::new();
        for field in [
            &self.load_file_aid,
            &self.module_aid,
            &self.application_aid,
            &self.privileges,
            &self.parameters,
            &self.token,
        ] {
            let len = u8::try_from(field.len())
                .map_err(|_| ApduError::DataTooLong { len: field.len() })?;
            out.push(len);
            out.extend_from_slice(field);
        }
        Ok(out)
    }

    /// Parses the six LV fields covering `data` exactly (GP Card Specification §11.5.2.3).
    pub fn parse(data: &[u8]) -> Result<InstallData, ApduError> {
        const NAMES: [&str; 6] = [
            "load file AID",
            "module AID",
            "application AID",
            "privileges",
            "install parameters",
            "install token",
        ];
        let mut fields: [Vec<u8>; 6] = Default::default();
        let mut rest = data;
        for (field, name) in fields.iter_mut().zip(NAMES) {
            let (len, tail) = rest
                .split_first()
                .ok_or(ApduError::InstallTruncated { field: name })?;
            let len = usize::from(*len);
            if tail.len() < len {
                return Err(ApduError::InstallTruncated { field: name });
            }
            *field = tail[..len].to_vec();
            rest = &tail[len..];
        }
        if !rest.is_empty() {
            return Err(ApduError::InstallTrailing { count: rest.len() });
        }
        let [
            load_file_aid,
            module_aid,
            application_aid,
            privileges,
            parameters,
            token,
        ] = fields;
        Ok(InstallData {
            load_file_aid,
            module_aid,
            application_aid,
            privileges,
            parameters,
            token,
        })
    }
}

/// INSTALL P1 [for install] and [for make selectable] (GP Card Specification §11.5.2.1).
pub const INSTALL_FOR_INSTALL_AND_MAKE_SELECTABLE: u8 = 0x0C;
/// INSTALL P1 [for personalization] (GP Card Specification §11.5.2.1).
pub const INSTALL_FOR_PERSONALIZATION: u8 = 0x20;

/// INSTALL [for install and make selectable] `80 E6 0C 00 Lc <data>` (GP Card Specification §11.5;
/// wire-profile §4 CreateISDP).
pub fn install_for_install_and_make_selectable(
    data: &InstallData,
) -> Result<CommandApdu, ApduError> {
    let apdu = CommandApdu::new(
        CLA_GP,
        INS_INSTALL,
        INSTALL_FOR_INSTALL_AND_MAKE_SELECTABLE,
        0x00,
    )
    .with_data(data.to_bytes()?);
    Ok(match wire_profile::INSTALL_LE {
        Some(le) => apdu.with_le(le),
        None => apdu,
    })
}

/// INSTALL [for personalization] `80 E6 20 00 Lc 00 00 L <AID> 00 00 00` (GP Card Specification §11.5;
/// wire-profile §5).
pub fn install_for_personalization(application_aid: &[u8]) -> Result<CommandApdu, ApduError> {
    let data = InstallData {
        load_file_aid: Vec::new(),
        module_aid: Vec::new(),
        application_aid: application_aid.to_vec(),
        privileges: Vec::new(),
        parameters: Vec::new(),
        token: Vec::new(),
    };
    let apdu = CommandApdu::new(CLA_GP, INS_INSTALL, INSTALL_FOR_PERSONALIZATION, 0x00)
        .with_data(data.to_bytes()?);
    Ok(match wire_profile::INSTALL_LE {
        Some(le) => apdu.with_le(le),
        None => apdu,
    })
}

/// DELETE `80 E4 00 P2 Lc <data>` (GP Card Specification §11.2).
pub fn delete(p2: u8, data: Vec<u8>) -> CommandApdu {
    CommandApdu::new(CLA_GP, INS_DELETE, 0x00, p2).with_data(data)
}

/// GET STATUS `80 F2 P1 P2 Lc <search criteria> 00` (GP Card Specification §11.4).
pub fn get_status(p1: u8, p2: u8, data: Vec<u8>) -> CommandApdu {
    CommandApdu::new(CLA_GP, INS_GET_STATUS, p1, p2)
        .with_data(data)
        .with_le(0x00)
}

/// GET DATA `80 CA <tag hi> <tag lo> 00` (GP Card Specification §11.3).
pub fn get_data(tag: u16) -> CommandApdu {
    let [p1, p2] = tag.to_be_bytes();
    CommandApdu::new(CLA_GP, INS_GET_DATA, p1, p2).with_le(0x00)
}
