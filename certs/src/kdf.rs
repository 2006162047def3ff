//! Key derivation functions of SGP.02 key establishment and SCP03, and GP key check values.
//!
//! - ANSI X9.63 KDF with SHA-256 (BSI TR-03111 §4.3.3; SGP.02 §3.1.2 / GP Amendment E scenario #3).
//! - SCP03 KDF: NIST SP 800-108 counter mode with AES-CMAC as PRF, in the layout of GP Amendment D §4.1.5.
//! - Key check values (GP Card Specification B.6): AES over `01…01`, DES over `00…00`.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use cmac::{Cmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::CryptoError;

/// ANSI X9.63 KDF with SHA-256: `SHA256(Z ‖ counter32 ‖ SharedInfo)` for counter = 1, 2, … truncated to `len`.
pub fn x963_sha256(shared_secret: &[u8], shared_info: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 32));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(shared_secret);
        h.update(counter.to_be_bytes());
        h.update(shared_info);
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// SCP03 derivation constants (GP Amendment D Table 4-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Scp03Constant {
    /// Card cryptogram.
    CardCryptogram = 0x00,
    /// Host cryptogram.
    HostCryptogram = 0x01,
    /// Card challenge generation (pseudo-random challenge, i = `70`).
    CardChallenge = 0x02,
    /// S-ENC session key.
    SEnc = 0x04,
    /// S-MAC session key.
    SMac = 0x06,
    /// S-RMAC session key.
    SRmac = 0x07,
}

/// SCP03 KDF (GP Amendment D §4.1.5): for i = 1, 2, …:
/// `CMAC(K, 00×11 ‖ constant ‖ 00 ‖ L (2 bytes, bits) ‖ i ‖ context)`, concatenated and truncated to `len_bits`.
pub fn scp03_kdf(
    key: &[u8],
    constant: Scp03Constant,
    context: &[u8],
    len_bits: u16,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let len = usize::from(len_bits).div_ceil(8);
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut i: u8 = 1;
    while out.len() < len {
        let mut input = Vec::with_capacity(16 + context.len());
        input.extend_from_slice(&[0u8; 11]);
        input.push(constant as u8);
        input.push(0x00);
        input.extend_from_slice(&len_bits.to_be_bytes());
        input.push(i);
        input.extend_from_slice(context);
        out.extend_from_slice(&aes_cmac(key, &input)?);
        i = i
            .checked_add(1)
            .ok_or(CryptoError::InvalidLength("SCP03 KDF output"))?;
    }
    out.truncate(len);
    Ok(out)
}

/// AES-CMAC (NIST SP 800-38B) with a 128-, 192- or 256-bit key; the full 16-byte tag.
pub fn aes_cmac(key: &[u8], data: &[u8]) -> Result<[u8; 16], CryptoError> {
    fn run<C: cmac::block_api::CmacCipher + KeyInit>(
        key: &[u8],
        data: &[u8],
    ) -> Result<[u8; 16], CryptoError>
    where
        Cmac<C>: Mac + KeyInit,
    {
        let mut mac = <Cmac<C> as KeyInit>::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength("CMAC key"))?;
        mac.update(data);
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag[..16]);
        Ok(out)
    }
    match key.len() {
        16 => run::<aes::Aes128>(key, data),
        24 => run::<aes::Aes192>(key, data),
        32 => run::<aes::Aes256>(key, data),
        _ => Err(CryptoError::InvalidLength("AES key")),
    }
}

/// Key check value of an AES key: the first 3 bytes of AES-ECB(K, 16 × `01`) (GP Card Specification B.6).
pub fn kcv_aes(key: &[u8]) -> Result<[u8; 3], CryptoError> {
    let mut block = aes::Block::from([0x01u8; 16]);
    match key.len() {
        16 => aes::Aes128::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength("AES key"))?
            .encrypt_block(&mut block),
        24 => aes::Aes192::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength("AES key"))?
            .encrypt_block(&mut block),
        32 => aes::Aes256::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength("AES key"))?
            .encrypt_block(&mut block),
        _ => return Err(CryptoError::InvalidLength("AES key")),
    }
    Ok([block[0], block[1], block[2]])
}

/// Key check value of a DES / 3DES key: the first 3 bytes of (3)DES-ECB(K, 8 × `00`) (GP Card Specification B.6).
pub fn kcv_des(key: &[u8]) -> Result<[u8; 3], CryptoError> {
    let mut block = des::cipher::Block::<des::Des>::from([0u8; 8]);
    match key.len() {
        8 => des::Des::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength("DES key"))?
            .encrypt_block(&mut block),
        16 => des::TdesEde2::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength("3DES key"))?
            .encrypt_block(&mut block),
        24 => des::TdesEde3::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength("3DES key"))?
            .encrypt_block(&mut block),
        _ => return Err(CryptoError::InvalidLength("DES key")),
    }
    Ok([block[0], block[1], block[2]])
}
