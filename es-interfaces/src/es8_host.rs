//! ES8 from the SM-DP's (host's) side (SGP.02 §3.1.2 key establishment, §3.1.3 download; wire-profile §5, §7): the two
//! STORE DATA commands of the ISD-P key establishment, the CRT of the ISD-P key set, the grouping of ES8
//! commands into the command scripts carried by ES3.SendData under a byte budget, and the check of the
//! EUICCResponse. The SCP03t TLVs themselves are in [`crate::scp03::scp03t`].

use crate::apdu::CommandApdu;
use crate::isdr::{Es5Command, IsdrError, KeyAgreement, KeyAgreementCrt};
use crate::script::{CommandScript, ScriptError};
use crate::wire_profile::{self, CardProfile};

/// The CRT `A6` of the ISD-P key establishment: scenario #3, SCP03 key set `30`, AES-128 keys 1–3
/// (wire-profile §5 step 2).
pub fn isd_p_key_agreement_crt() -> KeyAgreementCrt {
    KeyAgreementCrt {
        scenario: wire_profile::ES8_CRT_SCENARIO,
        key_usage: wire_profile::ES8_KEY_USAGE,
        key_type: wire_profile::ES8_KEY_TYPE_LENGTH_ID.0,
        key_length: wire_profile::ES8_KEY_TYPE_LENGTH_ID.1,
        key_id: wire_profile::ES8_KEY_TYPE_LENGTH_ID.2,
        kvn: wire_profile::ES8_ISD_P_KVN,
        initial_counter: None,
    }
}

/// Step 1: `80 E2 09 00 Lc 3A01 L <CERT.DP.ECDSA>` (wire-profile §5 step 1; the same bytes as the ISD-R's).
pub fn establish_key_set_certificate(cert_dp: &[u8]) -> Result<CommandApdu, IsdrError> {
    Es5Command::EstablishIsdrKeySetCertificate {
        certificate: cert_dp.to_vec(),
    }
    .to_apdu(&CardProfile::default())
}

/// Step 2: `80 E2 89 01 Lc 3A02 L { A6, 7F49, 5F37 }` (wire-profile §5 step 2).
pub fn establish_key_set_agreement(agreement: &KeyAgreement) -> Result<CommandApdu, IsdrError> {
    Es5Command::EstablishIsdrKeySetAgreement(agreement.clone()).to_apdu(&CardProfile::default())
}

/// Groups ES8 commands, in order, into definite command scripts `AA L { 22 L <C-APDU> … }` of at most `budget`
/// bytes each (a command that alone exceeds the budget travels alone); the download contract's ES3.SendData
/// scripts.
pub fn group_scripts(
    commands: Vec<CommandApdu>,
    budget: usize,
) -> Result<Vec<CommandScript>, ScriptError> {
    let mut scripts = Vec::new();
    let mut current: Vec<CommandApdu> = Vec::new();
    for c in commands {
        current.push(c);
        if current.len() > 1
            && CommandScript::new(current.clone()).to_expanded()?.len() > budget
            && let Some(last) = current.pop()
        {
            scripts.push(CommandScript::new(std::mem::take(&mut current)));
            current.push(last);
        }
    }
    if !current.is_empty() {
        scripts.push(CommandScript::new(current));
    }
    Ok(scripts)
}

/// True when the EUICCResponse answering the last SCP03t segment reports a successful installation
/// (wire-profile §7: `30 07 A0 05 30 03 80 01 00`); anything else is a refused package.
pub fn euicc_response_is_ok(der: &[u8]) -> bool {
    der == wire_profile::EUICC_RESPONSE_OK
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::{self, StoreDataEncryption, StoreDataP1, StoreDataStructure};

    #[test]
    fn key_establishment_commands_round_trip() {
        let cert = vec![0x7F, 0x21, 0x03, 0x93, 0x01, 0x01];
        let c = establish_key_set_certificate(&cert).expect("3A01");
        assert_eq!((c.cla, c.ins, c.p1, c.p2), (0x80, 0xE2, 0x09, 0x00));
        assert_eq!(&c.data[..3], &[0x3A, 0x01, 0x06]);
        let ka = KeyAgreement {
            crt: isd_p_key_agreement_crt(),
            ephemeral_public_key: [vec![0x04], vec![0x11; 64]].concat(),
            key_parameter_reference: wire_profile::ES8_KEY_PARAMETER_P256,
            signature: vec![0x22; 64],
        };
        let c = establish_key_set_agreement(&ka).expect("3A02");
        assert_eq!((c.cla, c.ins, c.p1, c.p2), (0x80, 0xE2, 0x89, 0x01));
        match Es5Command::from_apdu(&c).expect("parse") {
            Es5Command::EstablishIsdrKeySetAgreement(back) => assert_eq!(back, ka),
            other => panic!("parsed as {other:?}"),
        }
        let crt = ka.crt.to_bytes().expect("crt");
        assert_eq!(
            crt,
            [
                0xA6, 0x13, 0x90, 0x02, 0x03, 0x00, 0x95, 0x01, 0x5C, 0x80, 0x01, 0x88, 0x81, 0x01,
                0x10, 0x82, 0x01, 0x01, 0x83, 0x01, 0x30
            ]
        );
        let receipt_data = ka.receipt_data().expect("receipt data");
        assert!(receipt_data.starts_with(&crt));
        assert_eq!(&receipt_data[crt.len()..crt.len() + 2], &[0x7F, 0x49]);
        assert!(
            ka.signed_data(&[9; 16])
                .expect("signed")
                .starts_with(&receipt_data)
        );
    }

    fn segment(block: u8, len: usize) -> CommandApdu {
        apdu::store_data(
            StoreDataP1 {
                last_block: false,
                encryption: StoreDataEncryption::None,
                structure: StoreDataStructure::BerTlv,
                response_expected: true,
            },
            block,
            vec![block; len],
        )
    }

    #[test]
    fn scripts_respect_the_budget_and_keep_the_order() {
        let commands: Vec<CommandApdu> = (0..9).map(|i| segment(i, 251)).collect();
        let scripts = group_scripts(commands.clone(), 1000).expect("group");
        assert_eq!(
            scripts.len(),
            3,
            "three 262-byte TLVs fit in 1000 bytes, four do not"
        );
        let mut back = Vec::new();
        for s in &scripts {
            let bytes = s.to_expanded().expect("encode");
            assert!(bytes.len() <= 1000, "{} bytes", bytes.len());
            back.extend(
                CommandScript::parse_expanded(&bytes)
                    .expect("parse")
                    .commands,
            );
        }
        assert_eq!(back, commands);
        let alone = group_scripts(vec![segment(0, 251), segment(1, 251)], 100).expect("group");
        assert_eq!(
            alone.len(),
            2,
            "a command larger than the budget travels alone"
        );
        assert!(group_scripts(Vec::new(), 1000).expect("group").is_empty());
    }

    #[test]
    fn euicc_response() {
        assert!(euicc_response_is_ok(&wire_profile::EUICC_RESPONSE_OK));
        assert!(!euicc_response_is_ok(&[
            0x30, 0x07, 0xA0, 0x05, 0x30, 0x03, 0x80, 0x01, 0x01
        ]));
        assert!(!euicc_response_is_ok(&[]));
    }
}
