//! SCP03 secure messaging in APDU mode (GlobalPlatform Card Specification Amendment D v1.1), both sides, as
//! pure state machines: the host (SM-SR / SM-DP) opens a session from the INITIALIZE UPDATE response and a host
//! challenge it is handed, then wraps commands and unwraps responses; the card (eUICC simulator) answers
//! INITIALIZE UPDATE, checks EXTERNAL AUTHENTICATE, unwraps commands and wraps responses.
//!
//! S8 mode (8-byte challenges and cryptograms, GP Amendment D §5.1), AES-128/192/256 keys. C-MAC chaining with the
//! MAC chaining value (§6.2.4), C-DECRYPTION with the encryption counter that advances on every command after
//! EXTERNAL AUTHENTICATE (§6.2.6), R-MAC (§6.2.5) and R-ENCRYPTION (§6.2.7).
//!
//! [`scp03t`] is the TLV variant SGP.02 uses to download a profile package into an ISD-P (wire-profile §7).

pub mod scp03t;

use zeroize::Zeroizing;

use crate::apdu::{CommandApdu, ResponseApdu, StatusWord};
use crate::scp80::SecretKey;
use crate::scp80::cipher::BlockCipher;
use certs::kdf::{Scp03Constant, aes_cmac, scp03_kdf};

/// Errors of SCP03. None carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Scp03Error {
    /// INITIALIZE UPDATE response of the wrong length (29 or 32 bytes in S8 mode).
    #[error("INITIALIZE UPDATE response of {len} bytes (expected 29 or 32)")]
    ResponseLength {
        /// The length.
        len: usize,
    },
    /// The card announces another protocol than SCP03.
    #[error("card answers SCP {scp_id:#04x}, not SCP03")]
    NotScp03 {
        /// SCP identifier.
        scp_id: u8,
    },
    /// The card cryptogram does not verify (wrong keys or an impostor card).
    #[error("card cryptogram mismatch")]
    CardCryptogramMismatch,
    /// The host cryptogram in EXTERNAL AUTHENTICATE does not verify.
    #[error("host cryptogram mismatch")]
    HostCryptogramMismatch,
    /// A command's C-MAC does not verify.
    #[error("C-MAC mismatch")]
    CMacMismatch,
    /// A response's R-MAC does not verify.
    #[error("R-MAC mismatch")]
    RMacMismatch,
    /// A key is not a valid AES key.
    #[error("{0} key has the wrong length for AES")]
    KeyLength(&'static str),
    /// Deciphered data has no `80 00…` padding.
    #[error("bad ISO/IEC 9797-1 method 2 padding in {0}")]
    BadPadding(&'static str),
    /// Ciphertext that is not a whole number of blocks.
    #[error("ciphertext of {len} bytes is not block aligned")]
    NotBlockAligned {
        /// The length.
        len: usize,
    },
    /// The wrapped command would exceed 255 data bytes.
    #[error("wrapped command data of {len} bytes exceeds 255")]
    DataTooLong {
        /// The length.
        len: usize,
    },
    /// A protected command or response is too short to hold its MAC.
    #[error("{0} too short to hold a MAC")]
    MissingMac(&'static str),
    /// The command is not EXTERNAL AUTHENTICATE `84 82 <SL> 00 10 …`.
    #[error("expected EXTERNAL AUTHENTICATE")]
    NotExternalAuthenticate,
    /// An SCP03t TLV is not the one expected at this step (wire-profile §7).
    #[error("expected SCP03t TLV {expected}")]
    UnexpectedTlv {
        /// The TLV expected (`84`, `85`, `86`).
        expected: &'static str,
    },
    /// An SCP03t segment longer than the maximum plaintext per `86` TLV.
    #[error("SCP03t segment of {len} bytes exceeds {max}")]
    SegmentTooLong {
        /// The length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A security level this implementation does not provide (R-ENC without C-DEC, reserved bits).
    #[error("unsupported security level {0:#04x}")]
    SecurityLevel(u8),
}

/// The static key set of an SCP03 security domain (GP Amendment D §4.1.1).
#[derive(Debug, Clone)]
pub struct StaticKeys {
    /// K-ENC.
    pub enc: SecretKey,
    /// K-MAC.
    pub mac: SecretKey,
    /// K-DEK.
    pub dek: SecretKey,
}

/// Security level of EXTERNAL AUTHENTICATE P1 (GP Amendment D §7.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityLevel(pub u8);

impl SecurityLevel {
    /// `01` C-MAC.
    pub const C_MAC: u8 = 0x01;
    /// `02` C-DECRYPTION.
    pub const C_DECRYPTION: u8 = 0x02;
    /// `10` R-MAC.
    pub const R_MAC: u8 = 0x10;
    /// `20` R-ENCRYPTION.
    pub const R_ENCRYPTION: u8 = 0x20;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Checks that the level is one GP Amendment D §7.1.2.1 allows: C-MAC always, C-DEC and R-ENC only with their
    /// MAC counterparts, no reserved bits.
    fn validate(self) -> Result<SecurityLevel, Scp03Error> {
        let ok = self.0 & !0x33 == 0
            && self.has(Self::C_MAC)
            && (!self.has(Self::R_ENCRYPTION)
                || (self.has(Self::R_MAC) && self.has(Self::C_DECRYPTION)));
        if ok {
            Ok(self)
        } else {
            Err(Scp03Error::SecurityLevel(self.0))
        }
    }
}

/// The data of the INITIALIZE UPDATE response in S8 mode (GP Amendment D §7.1.1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitializeUpdateResponse {
    /// Key diversification data (10 bytes).
    pub key_diversification_data: [u8; 10],
    /// Key version number.
    pub kvn: u8,
    /// SCP identifier, `03`.
    pub scp_id: u8,
    /// SCP03 "i" parameter (`70` on SGP.02 ISD-R/ISD-P).
    pub i: u8,
    /// Card challenge.
    pub card_challenge: [u8; 8],
    /// Card cryptogram.
    pub card_cryptogram: [u8; 8],
    /// Sequence counter, present when i announces a pseudo-random card challenge.
    pub sequence_counter: Option<[u8; 3]>,
}

impl InitializeUpdateResponse {
    /// Parses the 29- or 32-byte response data (GP Amendment D §7.1.1.6).
    pub fn parse(data: &[u8]) -> Result<InitializeUpdateResponse, Scp03Error> {
        if data.len() != 29 && data.len() != 32 {
            return Err(Scp03Error::ResponseLength { len: data.len() });
        }
        let mut div = [0u8; 10];
        div.copy_from_slice(&data[..10]);
        if data[11] != 0x03 {
            return Err(Scp03Error::NotScp03 { scp_id: data[11] });
        }
        let mut card_challenge = [0u8; 8];
        card_challenge.copy_from_slice(&data[13..21]);
        let mut card_cryptogram = [0u8; 8];
        card_cryptogram.copy_from_slice(&data[21..29]);
        let sequence_counter = (data.len() == 32).then(|| [data[29], data[30], data[31]]);
        Ok(InitializeUpdateResponse {
            key_diversification_data: div,
            kvn: data[10],
            scp_id: data[11],
            i: data[12],
            card_challenge,
            card_cryptogram,
            sequence_counter,
        })
    }

    /// Encodes the response data (GP Amendment D §7.1.1.6).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.key_diversification_data.to_vec();
        out.extend_from_slice(&[self.kvn, self.scp_id, self.i]);
        out.extend_from_slice(&self.card_challenge);
        out.extend_from_slice(&self.card_cryptogram);
        if let Some(c) = &self.sequence_counter {
            out.extend_from_slice(c);
        }
        out
    }
}

/// INITIALIZE UPDATE `80 50 <KVN> 00 08 <host challenge> 00` (GP Amendment D §7.1.1).
pub fn initialize_update(kvn: u8, host_challenge: [u8; 8]) -> CommandApdu {
    CommandApdu::new(0x80, 0x50, kvn, 0x00)
        .with_data(host_challenge.to_vec())
        .with_le(0x00)
}

/// The pseudo-random card challenge: KDF(K-ENC, `02`, sequence counter ‖ SD AID, 64)
/// (GP Amendment D §6.2.2.1).
pub fn pseudo_random_card_challenge(
    static_enc: &SecretKey,
    sequence_counter: [u8; 3],
    sd_aid: &[u8],
) -> Result<[u8; 8], Scp03Error> {
    let mut context = sequence_counter.to_vec();
    context.extend_from_slice(sd_aid);
    eight(scp03_kdf(
        static_enc.expose(),
        Scp03Constant::CardChallenge,
        &context,
        64,
    ))
}

fn eight(r: Result<Zeroizing<Vec<u8>>, certs::CryptoError>) -> Result<[u8; 8], Scp03Error> {
    let v = r.map_err(|_| Scp03Error::KeyLength("static"))?;
    let mut out = [0u8; 8];
    out.copy_from_slice(v.get(..8).ok_or(Scp03Error::KeyLength("static"))?);
    Ok(out)
}

/// Session keys S-ENC, S-MAC, S-RMAC (GP Amendment D §6.2.1).
#[derive(Debug, Clone)]
struct SessionKeys {
    s_enc: SecretKey,
    s_mac: SecretKey,
    s_rmac: SecretKey,
}

impl SessionKeys {
    fn derive(keys: &StaticKeys, context: &[u8]) -> Result<SessionKeys, Scp03Error> {
        let derive = |key: &SecretKey, c: Scp03Constant, name: &'static str| {
            let bits =
                u16::try_from(key.expose().len() * 8).map_err(|_| Scp03Error::KeyLength(name))?;
            scp03_kdf(key.expose(), c, context, bits)
                .map(|k| SecretKey::new(&k))
                .map_err(|_| Scp03Error::KeyLength(name))
        };
        Ok(SessionKeys {
            s_enc: derive(&keys.enc, Scp03Constant::SEnc, "K-ENC")?,
            s_mac: derive(&keys.mac, Scp03Constant::SMac, "K-MAC")?,
            s_rmac: derive(&keys.mac, Scp03Constant::SRmac, "K-MAC")?,
        })
    }

    fn cryptogram(&self, c: Scp03Constant, context: &[u8]) -> Result<[u8; 8], Scp03Error> {
        eight(scp03_kdf(self.s_mac.expose(), c, context, 64))
            .map_err(|_| Scp03Error::KeyLength("S-MAC"))
    }
}

fn pad80(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    out.push(0x80);
    out.resize(out.len().div_ceil(16) * 16, 0);
    out
}

fn unpad80(mut data: Vec<u8>, what: &'static str) -> Result<Vec<u8>, Scp03Error> {
    let end = data
        .iter()
        .rposition(|b| *b != 0)
        .ok_or(Scp03Error::BadPadding(what))?;
    if data[end] != 0x80 || data.len() - end > 16 {
        return Err(Scp03Error::BadPadding(what));
    }
    data.truncate(end);
    Ok(data)
}

/// The state both ends share after EXTERNAL AUTHENTICATE (GP Amendment D §6.2).
#[derive(Debug)]
struct Channel {
    keys: SessionKeys,
    level: SecurityLevel,
    /// MAC chaining value: the full C-MAC of the last command.
    mcv: [u8; 16],
    /// Encryption counter; 0 after EXTERNAL AUTHENTICATE, advanced before each command.
    counter: u128,
}

impl Channel {
    fn enc_cipher(&self) -> Result<BlockCipher, Scp03Error> {
        BlockCipher::aes(self.keys.s_enc.expose()).map_err(|_| Scp03Error::KeyLength("S-ENC"))
    }

    /// AES-CBC with S-ENC and `icv` in place; `data` must be block aligned (GP Amendment D §6.2.6).
    fn cbc(&self, icv: &[u8], data: &mut [u8], decrypt: bool) -> Result<(), Scp03Error> {
        let c = self.enc_cipher()?;
        let len = data.len();
        let done = if decrypt {
            c.cbc_decrypt(icv, data)
        } else {
            c.cbc_encrypt(icv, data)
        };
        done.map_err(|_| Scp03Error::NotBlockAligned { len })
    }

    fn icv(&self, response: bool) -> Result<Vec<u8>, Scp03Error> {
        let mut block = self.counter.to_be_bytes().to_vec();
        if response {
            block[0] = 0x80;
        }
        self.enc_cipher()?
            .encrypt_one_block(&mut block)
            .map_err(|_| Scp03Error::KeyLength("S-ENC"))?;
        Ok(block)
    }

    fn c_mac(&self, header: [u8; 4], lc: u8, data: &[u8]) -> Result<[u8; 16], Scp03Error> {
        let mut input = self.mcv.to_vec();
        input.extend_from_slice(&header);
        input.push(lc);
        input.extend_from_slice(data);
        aes_cmac(self.keys.s_mac.expose(), &input).map_err(|_| Scp03Error::KeyLength("S-MAC"))
    }

    fn r_mac(&self, data: &[u8], sw: StatusWord) -> Result<[u8; 8], Scp03Error> {
        let mut input = self.mcv.to_vec();
        input.extend_from_slice(data);
        input.extend_from_slice(&sw.0.to_be_bytes());
        let full = aes_cmac(self.keys.s_rmac.expose(), &input)
            .map_err(|_| Scp03Error::KeyLength("S-RMAC"))?;
        let mut out = [0u8; 8];
        out.copy_from_slice(&full[..8]);
        Ok(out)
    }

    /// Host side: C-DECRYPTION then C-MAC of one command (GP Amendment D §6.2.4, §6.2.6).
    fn protect_command(&mut self, cmd: &CommandApdu) -> Result<CommandApdu, Scp03Error> {
        self.counter += 1;
        let mut data = cmd.data.clone();
        if self.level.has(SecurityLevel::C_DECRYPTION) && !data.is_empty() {
            data = pad80(&data);
            let icv = self.icv(false)?;
            self.cbc(&icv, &mut data, false)?;
        }
        let cla = cmd.cla | 0x04;
        let lc = u8::try_from(data.len() + 8).map_err(|_| Scp03Error::DataTooLong {
            len: data.len() + 8,
        })?;
        let mac = self.c_mac([cla, cmd.ins, cmd.p1, cmd.p2], lc, &data)?;
        self.mcv = mac;
        data.extend_from_slice(&mac[..8]);
        Ok(CommandApdu {
            cla,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data,
            le: cmd.le,
        })
    }

    /// Card side: checks the C-MAC, then deciphers (GP Amendment D §6.2.4, §6.2.6).
    fn open_command(&mut self, cmd: &CommandApdu) -> Result<CommandApdu, Scp03Error> {
        let split = cmd
            .data
            .len()
            .checked_sub(8)
            .ok_or(Scp03Error::MissingMac("command"))?;
        let (body, mac) = cmd.data.split_at(split);
        let lc = u8::try_from(cmd.data.len()).map_err(|_| Scp03Error::DataTooLong {
            len: cmd.data.len(),
        })?;
        let full = self.c_mac([cmd.cla, cmd.ins, cmd.p1, cmd.p2], lc, body)?;
        if !crate::constant_time_eq(&full[..8], mac) {
            return Err(Scp03Error::CMacMismatch);
        }
        self.mcv = full;
        self.counter += 1;
        let mut data = body.to_vec();
        if self.level.has(SecurityLevel::C_DECRYPTION) && !data.is_empty() {
            let icv = self.icv(false)?;
            self.cbc(&icv, &mut data, true)?;
            data = unpad80(data, "command data")?;
        }
        Ok(CommandApdu {
            cla: cmd.cla & !0x04,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data,
            le: cmd.le,
        })
    }

    fn rmac_applies(sw: StatusWord) -> bool {
        sw.is_success() || sw.is_warning()
    }

    /// Card side: R-ENCRYPTION then R-MAC of one response (GP Amendment D §6.2.5, §6.2.7).
    fn protect_response(&self, resp: &ResponseApdu) -> Result<ResponseApdu, Scp03Error> {
        if !self.level.has(SecurityLevel::R_MAC) || !Self::rmac_applies(resp.sw) {
            return Ok(resp.clone());
        }
        let mut data = resp.data.clone();
        if self.level.has(SecurityLevel::R_ENCRYPTION) && !data.is_empty() {
            data = pad80(&data);
            let icv = self.icv(true)?;
            self.cbc(&icv, &mut data, false)?;
        }
        let mac = self.r_mac(&data, resp.sw)?;
        data.extend_from_slice(&mac);
        Ok(ResponseApdu::new(data, resp.sw))
    }

    /// Host side: checks the R-MAC, then deciphers (GP Amendment D §6.2.5, §6.2.7).
    fn open_response(&self, resp: &ResponseApdu) -> Result<ResponseApdu, Scp03Error> {
        if !self.level.has(SecurityLevel::R_MAC) || !Self::rmac_applies(resp.sw) {
            return Ok(resp.clone());
        }
        let split = resp
            .data
            .len()
            .checked_sub(8)
            .ok_or(Scp03Error::MissingMac("response"))?;
        let (body, mac) = resp.data.split_at(split);
        if !crate::constant_time_eq(&self.r_mac(body, resp.sw)?, mac) {
            return Err(Scp03Error::RMacMismatch);
        }
        let mut data = body.to_vec();
        if self.level.has(SecurityLevel::R_ENCRYPTION) && !data.is_empty() {
            let icv = self.icv(true)?;
            self.cbc(&icv, &mut data, true)?;
            data = unpad80(data, "response data")?;
        }
        Ok(ResponseApdu::new(data, resp.sw))
    }
}

fn context(host_challenge: &[u8; 8], card_challenge: &[u8; 8]) -> [u8; 16] {
    let mut ctx = [0u8; 16];
    ctx[..8].copy_from_slice(host_challenge);
    ctx[8..].copy_from_slice(card_challenge);
    ctx
}

/// The off-card entity's end of an SCP03 session (GP Amendment D §6, §7).
#[derive(Debug)]
pub struct HostSession {
    channel: Channel,
}

impl HostSession {
    /// Verifies the card cryptogram of `response` for `host_challenge`, derives the session keys and returns the
    /// session with the EXTERNAL AUTHENTICATE command to send (GP Amendment D §6.2.1–§6.2.3, §7.1.2).
    pub fn open(
        keys: &StaticKeys,
        host_challenge: [u8; 8],
        response: &InitializeUpdateResponse,
        level: SecurityLevel,
    ) -> Result<(HostSession, CommandApdu), Scp03Error> {
        let level = level.validate()?;
        if response.scp_id != 0x03 {
            return Err(Scp03Error::NotScp03 {
                scp_id: response.scp_id,
            });
        }
        let ctx = context(&host_challenge, &response.card_challenge);
        let session_keys = SessionKeys::derive(keys, &ctx)?;
        let card = session_keys.cryptogram(Scp03Constant::CardCryptogram, &ctx)?;
        if !crate::constant_time_eq(&card, &response.card_cryptogram) {
            return Err(Scp03Error::CardCryptogramMismatch);
        }
        let host = session_keys.cryptogram(Scp03Constant::HostCryptogram, &ctx)?;
        let mut channel = Channel {
            keys: session_keys,
            level,
            mcv: [0u8; 16],
            counter: 0,
        };
        let header = [0x84, 0x82, level.0, 0x00];
        let mac = channel.c_mac(header, 0x10, &host)?;
        channel.mcv = mac;
        let mut data = host.to_vec();
        data.extend_from_slice(&mac[..8]);
        let ea = CommandApdu::new(0x84, 0x82, level.0, 0x00).with_data(data);
        Ok((HostSession { channel }, ea))
    }

    /// Wraps a command: C-DECRYPTION if the level asks, then C-MAC; CLA gets the secure messaging bit
    /// (GP Amendment D §6.2.4, §6.2.6).
    pub fn wrap(&mut self, command: &CommandApdu) -> Result<CommandApdu, Scp03Error> {
        self.channel.protect_command(command)
    }

    /// Unwraps the response to the last wrapped command: checks the R-MAC and removes R-ENCRYPTION if the level
    /// asks; error status words carry no R-MAC and pass unchanged (GP Amendment D §6.2.5, §6.2.7).
    pub fn unwrap(&self, response: &ResponseApdu) -> Result<ResponseApdu, Scp03Error> {
        self.channel.open_response(response)
    }
}

/// The card's end of an SCP03 session between INITIALIZE UPDATE and EXTERNAL AUTHENTICATE (GP Amendment D §7.1).
#[derive(Debug)]
pub struct CardPending {
    keys: SessionKeys,
    host_cryptogram: [u8; 8],
}

/// The card's end of an open SCP03 session (GP Amendment D §6).
#[derive(Debug)]
pub struct CardSession {
    channel: Channel,
    level: SecurityLevel,
}

impl CardPending {
    /// Answers INITIALIZE UPDATE: derives the session keys from the host challenge and the given card challenge
    /// (random, or [`pseudo_random_card_challenge`] when `sequence_counter` is given) and builds the response
    /// (GP Amendment D §6.2.1, §6.2.2, §7.1.1).
    pub fn initialize_update(
        keys: &StaticKeys,
        kvn: u8,
        key_diversification_data: [u8; 10],
        i: u8,
        host_challenge: [u8; 8],
        card_challenge: [u8; 8],
        sequence_counter: Option<[u8; 3]>,
    ) -> Result<(CardPending, InitializeUpdateResponse), Scp03Error> {
        let ctx = context(&host_challenge, &card_challenge);
        let session_keys = SessionKeys::derive(keys, &ctx)?;
        let card_cryptogram = session_keys.cryptogram(Scp03Constant::CardCryptogram, &ctx)?;
        let host_cryptogram = session_keys.cryptogram(Scp03Constant::HostCryptogram, &ctx)?;
        Ok((
            CardPending {
                keys: session_keys,
                host_cryptogram,
            },
            InitializeUpdateResponse {
                key_diversification_data,
                kvn,
                scp_id: 0x03,
                i,
                card_challenge,
                card_cryptogram,
                sequence_counter,
            },
        ))
    }

    /// Checks EXTERNAL AUTHENTICATE (host cryptogram and C-MAC) and opens the session at the level of its P1
    /// (GP Amendment D §7.1.2).
    pub fn external_authenticate(self, command: &CommandApdu) -> Result<CardSession, Scp03Error> {
        if command.cla != 0x84
            || command.ins != 0x82
            || command.p2 != 0x00
            || command.data.len() != 16
        {
            return Err(Scp03Error::NotExternalAuthenticate);
        }
        let level = SecurityLevel(command.p1).validate()?;
        let mut channel = Channel {
            keys: self.keys,
            level,
            mcv: [0u8; 16],
            counter: 0,
        };
        let (host, mac) = command.data.split_at(8);
        let full = channel.c_mac([0x84, 0x82, command.p1, 0x00], 0x10, host)?;
        if !crate::constant_time_eq(&full[..8], mac) {
            return Err(Scp03Error::CMacMismatch);
        }
        if !crate::constant_time_eq(host, &self.host_cryptogram) {
            return Err(Scp03Error::HostCryptogramMismatch);
        }
        channel.mcv = full;
        Ok(CardSession { channel, level })
    }
}

impl CardSession {
    /// The security level the host chose (GP Amendment D §7.1.2.1).
    pub fn security_level(&self) -> SecurityLevel {
        self.level
    }

    /// Checks a command's C-MAC and removes C-DECRYPTION; the returned command has the secure messaging bit
    /// cleared from CLA (GP Amendment D §6.2.4, §6.2.6).
    pub fn unwrap_command(&mut self, command: &CommandApdu) -> Result<CommandApdu, Scp03Error> {
        self.channel.open_command(command)
    }

    /// Protects the response to the last unwrapped command with R-ENCRYPTION and R-MAC as the level asks
    /// (GP Amendment D §6.2.5, §6.2.7).
    pub fn wrap_response(&self, response: &ResponseApdu) -> Result<ResponseApdu, Scp03Error> {
        self.channel.protect_response(response)
    }
}
