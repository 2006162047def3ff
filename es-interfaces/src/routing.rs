//! ES8 data for an ISD-P routed through the ISD-R over SMS (wire-profile §5): the SM-SR puts INSTALL [for
//! personalization] of the ISD-P in front of the SM-DP's command script, the eUICC routes the commands after it
//! to that ISD-P, and the SM-SR removes the routing command's R-APDU (adjusting the count) before answering the
//! SM-DP. The SM-SR does not look inside the ES8 commands (they are SCP03-secured for the ISD-P). Carried this
//! way: ES3.SendData `Data`, and ES3.UpdateConnectivityParameters `ConnectivityParameters` [P: SGP.02 gives the
//! latter only as opaque ES8 data; read here as the same kind of script, STORE DATA DGI `3A07` inside].

use crate::apdu::{self, ApduError, CommandApdu, InstallData, ResponseApdu};
use crate::script::{CommandScript, ResponseScript, ScriptError};

/// Errors building a routed script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// The SM-DP's data is not a definite expanded command script (wire-profile §5).
    #[error("not an expanded command script (AA L {{ 22 L <C-APDU> … }}): {0}")]
    Script(#[from] ScriptError),
    /// The script holds no command.
    #[error("the command script holds no C-APDU")]
    Empty,
    /// With the routing command the script would exceed the 255 commands a response script can count.
    #[error("{count} C-APDUs leave no room for the routing command (at most 254)")]
    TooManyCommands {
        /// Number of C-APDUs in the SM-DP's script.
        count: usize,
    },
    /// The ISD-P AID does not fit INSTALL [for personalization].
    #[error("INSTALL [for personalization]: {0}")]
    Apdu(#[from] ApduError),
}

/// The script the SM-SR sends to the ISD-R: INSTALL [for personalization] of `isd_p_aid`, then the C-APDUs of
/// `es8_script`, the SM-DP's definite expanded command script (wire-profile §5).
pub fn routed_script(isd_p_aid: &[u8], es8_script: &[u8]) -> Result<CommandScript, RoutingError> {
    let es8 = CommandScript::parse_expanded(es8_script)?;
    if es8.commands.is_empty() {
        return Err(RoutingError::Empty);
    }
    if es8.commands.len() >= usize::from(u8::MAX) {
        return Err(RoutingError::TooManyCommands {
            count: es8.commands.len(),
        });
    }
    let mut commands = Vec::with_capacity(es8.commands.len() + 1);
    commands.push(apdu::install_for_personalization(isd_p_aid)?);
    commands.extend(es8.commands);
    Ok(CommandScript::new(commands))
}

/// The AID named by `c` if it is INSTALL [for personalization] (the eUICC's side of wire-profile §5).
pub fn personalization_target(c: &CommandApdu) -> Option<Vec<u8>> {
    (c.cla == apdu::CLA_GP
        && c.ins == apdu::INS_INSTALL
        && c.p1 == apdu::INSTALL_FOR_PERSONALIZATION)
        .then(|| InstallData::parse(&c.data).ok())
        .flatten()
        .map(|d| d.application_aid)
}

/// What the eUICC answered to a routed script (wire-profile §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutedResponse {
    /// The ISD-R did not route (e.g. `6A88`, no such ISD-P): the routing command's R-APDU, if it answered.
    NotRouted(Option<ResponseApdu>),
    /// The ISD-P's response script: the routing command's R-APDU removed and the count adjusted.
    Routed(ResponseScript),
}

/// Splits the eUICC's response script to a routed script into the routing result and the ISD-P's own
/// response script (wire-profile §5).
pub fn unroute(response: ResponseScript) -> RoutedResponse {
    let mut responses = response.responses.into_iter();
    match responses.next() {
        Some(first) if first.sw.is_success() => RoutedResponse::Routed(ResponseScript {
            executed: response.executed.saturating_sub(1),
            responses: responses.collect(),
            bad_format: response.bad_format,
        }),
        first => RoutedResponse::NotRouted(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::StatusWord;

    const AID: &str = "A0000005591010FFFFFFFF8900001100";

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("hex")
    }

    #[test]
    fn routed_script_matches_wire_profile_bytes() {
        // wire-profile §5 written out by hand: 80 E6 20 00 Lc 00 00 10 <AID> 00 00 00, then the SM-DP's
        // STORE DATA, in one definite script.
        let store_data = "80E2880003AABBCC";
        let es8 = hex(&format!("AA 0A 22 08 {store_data}"));
        let routed = routed_script(&hex(AID), &es8)
            .expect("routed")
            .to_expanded()
            .expect("encode");
        let expected = hex(&format!(
            "AA 27 22 1B 80E62000 16 0000 10 {AID} 000000 22 08 {store_data}"
        ));
        assert_eq!(hex::encode_upper(routed), hex::encode_upper(expected));
    }

    #[test]
    fn euicc_side_recognises_the_routing_command_only() {
        let es8 = hex("AA 0A 22 08 80E2880003AABBCC");
        let s = routed_script(&hex(AID), &es8).expect("routed");
        let again =
            CommandScript::parse_expanded(&s.to_expanded().expect("encode")).expect("parse");
        assert_eq!(personalization_target(&again.commands[0]), Some(hex(AID)));
        assert_eq!(personalization_target(&again.commands[1]), None);
        let create = apdu::install_for_install_and_make_selectable(&InstallData {
            load_file_aid: hex("A0000005591010FFFFFFFF8900000D00"),
            module_aid: hex("A0000005591010FFFFFFFF8900000E00"),
            application_aid: hex(AID),
            privileges: hex("80C000"),
            parameters: Vec::new(),
            token: Vec::new(),
        })
        .expect("INSTALL");
        assert_eq!(personalization_target(&create), None);
    }

    #[test]
    fn bad_scripts_are_refused() {
        assert!(matches!(
            routed_script(&hex(AID), &hex("AB 03 80 01 00")),
            Err(RoutingError::Script(_))
        ));
        assert_eq!(
            routed_script(&hex(AID), &hex("AA 00")),
            Err(RoutingError::Empty)
        );
        let many: Vec<u8> = std::iter::repeat_n(hex("22 05 80CA00FE00"), 255)
            .flatten()
            .collect();
        let mut script = vec![0xAA, 0x82];
        script.extend_from_slice(&u16::try_from(many.len()).expect("len").to_be_bytes());
        script.extend(many);
        assert_eq!(
            routed_script(&hex(AID), &script),
            Err(RoutingError::TooManyCommands { count: 255 })
        );
    }

    #[test]
    fn unroute_strips_the_routing_answer() {
        let ok = ResponseApdu::new(Vec::new(), StatusWord::OK);
        let refused = ResponseApdu::new(Vec::new(), StatusWord::SECURITY_STATUS);
        let r = ResponseScript::new(vec![ok.clone(), refused.clone()]).expect("script");
        let RoutedResponse::Routed(inner) = unroute(r) else {
            panic!("routed");
        };
        assert_eq!(inner.executed, 1);
        assert_eq!(inner.responses, vec![refused]);
        assert_eq!(
            hex::encode_upper(inner.to_expanded().expect("encode")),
            "AB0780010123026982"
        );
        let not_found = ResponseApdu::new(Vec::new(), StatusWord::REFERENCED_DATA_NOT_FOUND);
        assert_eq!(
            unroute(ResponseScript::new(vec![not_found.clone()]).expect("script")),
            RoutedResponse::NotRouted(Some(not_found))
        );
        assert_eq!(
            unroute(ResponseScript::new(Vec::new()).expect("script")),
            RoutedResponse::NotRouted(None)
        );
    }
}
