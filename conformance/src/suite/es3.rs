//! ES3 cases against an SM-SR (SGP.02 §5.4), the suite playing the peers' SM-DP. They use the peers' eUICC 1
//! (index 0), registered at the SUT with its issuance profiles (crate::issuance), none of which the SM-DP
//! downloaded. With ES5 the suite creates an ISD-P of its own on eUICC 1 (ES3-CreateISDP-01), runs the first
//! step of key establishment in it, completes it as a download, changes its policy and address, and deletes it
//! again (ES3-DeleteISDP-02). Then, with a real profile (module `download`), it downloads a personalised package onto
//! eUICC 1 through the SM-DP's own download procedure (ES3-Download-01), enables it, disables it (the fall-back
//! profile takes over) and deletes it: eUICC 1 is left as the ES4 cases expect it.

mod download;

pub(crate) use download::download_another;
pub use download::{DOWNLOAD_IMSI, DOWNLOAD_MSISDN};

use es_interfaces::es8;
use es_interfaces::messages::codec::{BodyElement, RPS_NS};
use es_interfaces::messages::common::{BaseRequest, Pol2, Pol2Rule, SubscriptionAddress};
use es_interfaces::messages::eis::{Eis, ProfileInfo};
use es_interfaces::messages::es3;
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::soap::action;
use es_interfaces::status::Status;
use es_interfaces::types::{
    Aid, Eid, HexBinary, Iccid, Pol2RuleAction, Pol2RuleQualification, Pol2RuleSubject,
    ProfileState,
};
use es_interfaces::wire_profile;

use super::ctx::{Es3Caller, Peer, expect};
use super::es4::{accepted_then_success, decode, parse};
use super::{Case, CaseFuture, Ctx, Finding, Need};
use crate::issuance::{IssuedProfile, profiles_at_issuance};
use crate::mno::base;

/// An EID no EUM issued (valid check digits; SGP.02 §2.2.2).
const UNKNOWN_EID: &str = "89049032123451234512345678901235";
/// An ICCID no profile has.
const UNKNOWN_ICCID: &str = "8949990000000000099";
/// RequiredMemory of the suite's ISD-P (bytes).
const OWN_MEMORY: i64 = 2048;
/// The ProfileType the suite completes its download with.
const OWN_PROFILE_TYPE: &str = "rsp conformance";
/// A subscription address for the suite's profile (test network MCC 001).
const OWN_IMSI: &str = "001029999999999";
/// The MSISDN of that address.
const OWN_MSISDN: &str = "491799999999";

/// The ES3 catalogue, in run order.
pub static CASES: &[Case] = &[
    Case {
        id: "ES3-GetEIS-01",
        interface: "ES3",
        section: "§5.4.4",
        title: "GetEIS returns the EIS with the profiles the calling SM-DP downloaded only",
        needs: &[Need::Smsr],
        preconditions: "The peers' eUICC 1 is registered at the SUT; the SUT has the suite's receiver registered \
                        for the peers' SM-DP (its wsa:ReplyTo).",
        steps: &["SM-DP: ES3.GetEIS of eUICC 1"],
        expected: "HTTP 200, EXECUTED_SUCCESS, an Eis with that EID whose ProfileInfo all have Smdp-id = the SM-DP \
                   (none of eUICC 1's issuance profiles, which no SM-DP downloaded)",
        note: "That an SM-DP sees only the profiles it downloaded is the project's reading of §5.4.4 and Annex E; \
               it knows every eUICC of the SM-SR (it downloads onto eUICCs it has no profile on yet).",
        run: get_eis_own,
    },
    Case {
        id: "ES3-GetEIS-02",
        interface: "ES3",
        section: "§5.4.4, §5.1.6.4",
        title: "GetEIS of an unknown EID is refused",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["SM-DP: ES3.GetEIS of an EID no eUICC has"],
        expected: "HTTP 200, FAILED 8.1.1/3.9 (EID, unknown)",
        note: "",
        run: get_eis_unknown,
    },
    Case {
        id: "ES3-GetEIS-03",
        interface: "ES3",
        section: "§5.4.4, §5.1.6.4",
        title: "GetEIS without the mandatory Eid is refused naming the element",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["SM-DP: ES3-GetEISRequest with a FunctionCallIdentifier and no Eid"],
        expected: "HTTP 200, FAILED 1.6/2.2 (function, mandatory element missing) naming Eid",
        note: "",
        run: get_eis_missing_eid,
    },
    Case {
        id: "ES3-GetEIS-04",
        interface: "ES3",
        section: "§5.4.4, §5.1.6.4",
        title: "An MNO may not call ES3 (wrong role)",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 is registered.",
        steps: &["MNO 1: ES3.GetEIS of eUICC 1 with MNO 1's TLS client certificate"],
        expected: "HTTP 200, FAILED 1.1/1.2 (function requester, not allowed)",
        note: "",
        run: get_eis_wrong_role,
    },
    Case {
        id: "ES3-GetEIS-05",
        interface: "ES3",
        section: "§5.4.4, §5.1.6.4",
        title: "A caller no registered entity owns the certificate of is refused",
        needs: &[Need::Smsr],
        preconditions: "The SUT trusts the peers' TLS CA for client certificates.",
        steps: &[
            "The suite issues a TLS client certificate from the peers' TLS CA for no entity",
            "ES3.GetEIS of eUICC 1 with it",
        ],
        expected: "HTTP 200, FAILED 1.1/1.1 (function requester, unknown)",
        note: "A SUT may instead refuse the TLS handshake; the project accepts the CA and answers the function.",
        run: get_eis_stranger,
    },
    Case {
        id: "ES3-AuditEIS-01",
        interface: "ES3",
        section: "§5.4.5",
        title: "AuditEIS completes with a callback carrying the SM-DP's view of the audited EIS",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "eUICC 1 is reachable over ES5.",
        steps: &[
            "SM-DP: ES3.AuditEIS of eUICC 1 with wsa:ReplyTo = the receiver",
            "Wait for the callback",
        ],
        expected: "HTTP 202; callback ES3-AuditEISResponse EXECUTED_SUCCESS with an Eis of that EID whose \
                   ProfileInfo all have Smdp-id = the SM-DP",
        note: "",
        run: audit_ok,
    },
    Case {
        id: "ES3-AuditEIS-02",
        interface: "ES3",
        section: "§5.4.5, §5.1.6.4",
        title: "AuditEIS of an unknown EID is refused",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["SM-DP: ES3.AuditEIS of an EID no eUICC has"],
        expected: "HTTP 200, FAILED 8.1.1/3.9 (EID, unknown)",
        note: "",
        run: audit_unknown,
    },
    Case {
        id: "ES3-AuditEIS-03",
        interface: "ES3",
        section: "§5.4.5, §5.1.6.4",
        title: "AuditEIS naming a profile the SM-DP did not download is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries an issuance profile the SM-DP did not download.",
        steps: &["SM-DP: ES3.AuditEIS of eUICC 1 with Iccid = that profile"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "Another owner's profile is answered as an ICCID that does not exist (docs/architecture.md §8).",
        run: audit_foreign,
    },
    Case {
        id: "ES3-CreateISDP-02",
        interface: "ES3",
        section: "§5.4.1, §5.1.6.4",
        title: "CreateISDP for an ICCID already present on the SM-SR is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries its issuance profile P1.",
        steps: &["SM-DP: ES3.CreateISDP on eUICC 1 with the ICCID of P1"],
        expected: "HTTP 200, FAILED 8.2.1/3.3 (profile ICCID, already in use); no ISD-P created",
        note: "",
        run: create_iccid_in_use,
    },
    Case {
        id: "ES3-CreateISDP-03",
        interface: "ES3",
        section: "§5.4.1, §5.1.6.4",
        title: "CreateISDP asking for more memory than the eUICC has left is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 is registered.",
        steps: &[
            "SM-DP: ES3.CreateISDP on eUICC 1 with a new ICCID and RequiredMemory 10^12 bytes",
        ],
        expected: "HTTP 200, FAILED 8.1/3.8 (eUICC, refused); no ISD-P created",
        note: "8.1/3.8 for RequiredMemory over the EIS's RemainingMemory is the project's reading of §5.4.1.",
        run: create_too_big,
    },
    Case {
        id: "ES3-CreateISDP-04",
        interface: "ES3",
        section: "§5.4.1, §5.1.6.4",
        title: "CreateISDP on an unknown EID is refused",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["SM-DP: ES3.CreateISDP on an EID no eUICC has"],
        expected: "HTTP 200, FAILED 8.1.1/3.9 (EID, unknown)",
        note: "",
        run: create_unknown_eid,
    },
    Case {
        id: "ES3-SendData-02",
        interface: "ES3",
        section: "§5.4.2, §5.1.6.4",
        title: "SendData to an ISD-P the eUICC does not have is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 has no ISD-P with instance AID …89000FF00 (wire-profile §1).",
        steps: &["SM-DP: ES3.SendData to eUICC 1, Sd-aid = that AID"],
        expected: "HTTP 200, FAILED 8.3.1/3.9 (ISD-P, unknown); nothing sent to the eUICC",
        note: "",
        run: send_data_unknown_isdp,
    },
    Case {
        id: "ES3-SendData-03",
        interface: "ES3",
        section: "§5.4.2, §5.1.6.4",
        title: "SendData to the ISD-P of a profile the SM-DP did not download is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries an issuance profile the SM-DP did not download.",
        steps: &["SM-DP: ES3.SendData to eUICC 1, Sd-aid = that profile's ISD-P"],
        expected: "HTTP 200, FAILED 8.3.1/1.2 (ISD-P, not allowed); nothing sent to the eUICC",
        note: "SGP.02 does not name the code for another SM-DP's ISD-P; 8.3.1/1.2 is the project's reading.",
        run: send_data_foreign,
    },
    Case {
        id: "ES3-EnableProfile-01",
        interface: "ES3",
        section: "§5.4.10, §5.1.6.4",
        title: "EnableProfile of an unknown ICCID is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 is registered.",
        steps: &["SM-DP: ES3.EnableProfile of an ICCID no profile has on eUICC 1"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: enable_unknown,
    },
    Case {
        id: "ES3-EnableProfile-02",
        interface: "ES3",
        section: "§5.4.10, §5.1.6.4",
        title: "EnableProfile of a profile the SM-DP did not download is refused without revealing it",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries an issuance profile the SM-DP did not download.",
        steps: &["SM-DP: ES3.EnableProfile of that profile"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown); no profile changes state",
        note: "As for ES4, the project answers another owner's profile as an unknown ICCID (docs/architecture.md \
               §8); a SUT answering 1.2 (not allowed) is defensible.",
        run: enable_foreign,
    },
    Case {
        id: "ES3-DisableProfile-02",
        interface: "ES3",
        section: "§5.4.11, §5.1.6.4",
        title: "DisableProfile of a profile the SM-DP did not download is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries an issuance profile the SM-DP did not download.",
        steps: &["SM-DP: ES3.DisableProfile of that profile"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "See ES3-EnableProfile-02.",
        run: disable_foreign,
    },
    Case {
        id: "ES3-DeleteISDP-03",
        interface: "ES3",
        section: "§5.4.12, §5.1.6.4",
        title: "DeleteISDP of a profile the SM-DP did not download is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries an issuance profile the SM-DP did not download.",
        steps: &["SM-DP: ES3.DeleteISDP of that profile"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown); the profile stays",
        note: "See ES3-EnableProfile-02.",
        run: delete_foreign,
    },
    Case {
        id: "ES3-UpdatePolicyRules-02",
        interface: "ES3",
        section: "§5.4.6, §5.1.6.4",
        title: "UpdatePolicyRules of a profile the SM-DP did not download is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries an issuance profile the SM-DP did not download.",
        steps: &["SM-DP: ES3.UpdatePolicyRules of that profile with an empty pol2"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "See ES3-EnableProfile-02.",
        run: pol2_foreign,
    },
    Case {
        id: "ES3-UpdateSubscriptionAddress-02",
        interface: "ES3",
        section: "§5.4.7, §5.1.6.4",
        title: "UpdateSubscriptionAddress of a profile the SM-DP did not download is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries an issuance profile the SM-DP did not download.",
        steps: &["SM-DP: ES3.UpdateSubscriptionAddress of that profile"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "See ES3-EnableProfile-02.",
        run: address_foreign,
    },
    Case {
        id: "ES3-UpdateConnectivityParameters-01",
        interface: "ES3",
        section: "§5.4.13, §5.1.6.4",
        title: "UpdateConnectivityParameters of a profile the SM-DP did not download is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries an issuance profile the SM-DP did not download.",
        steps: &[
            "SM-DP: ES3.UpdateConnectivityParameters of that profile with a well-formed ES8 script",
        ],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown); nothing sent to the eUICC",
        note: "See ES3-EnableProfile-02.",
        run: connectivity_foreign,
    },
    Case {
        id: "ES3-ProfileDownloadCompleted-02",
        interface: "ES3",
        section: "§5.4.3, §5.1.6.4",
        title: "ProfileDownloadCompleted of a profile the SM-DP did not download is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries an issuance profile the SM-DP did not download.",
        steps: &["SM-DP: ES3.ProfileDownloadCompleted of that profile"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown); the profile is unchanged",
        note: "See ES3-EnableProfile-02.",
        run: completed_foreign,
    },
    Case {
        id: "ES3-CreateISDP-01",
        interface: "ES3",
        section: "§5.4.1, §3.1.1",
        title: "CreateISDP creates an ISD-P on the eUICC and answers its AID by callback",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "eUICC 1 is reachable over ES5 and has memory and an ISD-P AID left; the suite's ICCID \
                        (derived from the run) is new to the SUT.",
        steps: &[
            "SM-DP: ES3.CreateISDP on eUICC 1, a new ICCID, Mno-id = MNO 2 (MNO 1 in a world of one MNO), \
             RequiredMemory 2048, wsa:ReplyTo = the receiver",
            "Wait for the callback",
            "SM-DP: ES3.GetEIS of eUICC 1",
        ],
        expected: "HTTP 202; callback ES3-CreateISDPResponse EXECUTED_SUCCESS with an ISD-P AID of wire-profile \
                   §1; the SM-DP's GetEIS shows the ICCID in that ISD-P, state Created",
        note: "",
        run: create_ok,
    },
    Case {
        id: "ES3-SendData-01",
        interface: "ES3",
        section: "§5.4.2, §3.1.2",
        title: "SendData reaches the SM-DP's new ISD-P: key establishment step 1 answers a random challenge",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-CreateISDP-01 passed in this run.",
        steps: &[
            "SM-DP: ES3.SendData to the new ISD-P with the ES8 script STORE DATA 3A01 (CERT.DP.ECDSA of the \
             peers' SM-DP), wsa:ReplyTo = the receiver",
            "Wait for the callback",
        ],
        expected: "HTTP 202; callback ES3-SendDataResponse EXECUTED_SUCCESS whose EuiccResponseData is a \
                   response script with one R-APDU 9000 carrying 85 10 <random challenge> (wire-profile §5)",
        note: "",
        run: send_data_ok,
    },
    Case {
        id: "ES3-EnableProfile-03",
        interface: "ES3",
        section: "§5.4.10, §5.1.6.4",
        title: "EnableProfile of a profile still in download (Created) is refused",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-CreateISDP-01 passed; its profile is Created (not completed yet).",
        steps: &["SM-DP: ES3.EnableProfile of the new profile"],
        expected: "HTTP 200, FAILED 8.2.1/3.8 (profile ICCID, refused)",
        note: "",
        run: enable_created,
    },
    Case {
        id: "ES3-ProfileDownloadCompleted-01",
        interface: "ES3",
        section: "§5.4.3, §3.1.3",
        title: "ProfileDownloadCompleted turns the created profile Disabled",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-CreateISDP-01 passed; its profile is Created.",
        steps: &[
            "SM-DP: ES3.ProfileDownloadCompleted of the new profile, ProfileType \"rsp conformance\"",
            "SM-DP: ES3.GetEIS of eUICC 1",
        ],
        expected: "HTTP 200, EXECUTED_SUCCESS; the GetEIS shows the profile Disabled with that ProfileType and \
                   Smdp-id = the SM-DP",
        note: "The suite completes a download whose ISD-P holds no profile package: the SM-SR cannot tell (SGP.02 \
               §3.1.3 leaves the content to the SM-DP).",
        run: completed_ok,
    },
    Case {
        id: "ES3-ProfileDownloadCompleted-03",
        interface: "ES3",
        section: "§5.4.3, §5.1.6.4",
        title: "ProfileDownloadCompleted of a profile already completed is refused",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-ProfileDownloadCompleted-01 passed.",
        steps: &[
            "SM-DP: ES3.ProfileDownloadCompleted of the same profile, new FunctionCallIdentifier",
        ],
        expected: "HTTP 200, FAILED 8.2.1/3.8 (profile ICCID, refused)",
        note: "",
        run: completed_twice,
    },
    Case {
        id: "ES3-FunctionCallIdentifier-01",
        interface: "ES3",
        section: "§5.1.6",
        title: "The same request under the same FunctionCallIdentifier is answered from the record",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-ProfileDownloadCompleted-01 passed.",
        steps: &[
            "SM-DP: the request of ES3-ProfileDownloadCompleted-01 again, same FunctionCallIdentifier",
        ],
        expected: "HTTP 200, EXECUTED_SUCCESS (the recorded answer; run again it would be refused as in \
                   ES3-ProfileDownloadCompleted-03)",
        note: "SGP.02 §5.1.6 makes the identifier unique per call but does not fix how a repeat is answered; the \
               project answers it with the recorded response.",
        run: fci_replay,
    },
    Case {
        id: "ES3-FunctionCallIdentifier-02",
        interface: "ES3",
        section: "§5.1.6, §5.1.6.4",
        title: "A different request under a FunctionCallIdentifier already used is refused",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-ProfileDownloadCompleted-01 passed.",
        steps: &[
            "SM-DP: ES3.ProfileDownloadCompleted of the same profile under the identifier of \
             ES3-ProfileDownloadCompleted-01, with another ProfileType",
        ],
        expected: "HTTP 200, FAILED 1.6/3.3 (function, already in use)",
        note: "1.6/3.3 for a reused identifier is the project's reading of §5.1.6.4.",
        run: fci_other_body,
    },
    Case {
        id: "ES3-UpdatePolicyRules-01",
        interface: "ES3",
        section: "§5.4.6, §2.4.5",
        title: "UpdatePolicyRules sets the POL2 of the SM-DP's profile",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-ProfileDownloadCompleted-01 passed.",
        steps: &[
            "SM-DP: ES3.UpdatePolicyRules of the new profile: PROFILE / DELETE / Not-Allowed",
            "SM-DP: ES3.GetEIS of eUICC 1",
        ],
        expected: "HTTP 200, EXECUTED_SUCCESS; the GetEIS shows that rule in the profile's pol2",
        note: "",
        run: pol2_set,
    },
    Case {
        id: "ES3-DeleteISDP-01",
        interface: "ES3",
        section: "§5.4.12, §2.4.5",
        title: "DeleteISDP of a profile whose POL2 forbids deletion is refused",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-UpdatePolicyRules-01 passed.",
        steps: &["SM-DP: ES3.DeleteISDP of the new profile"],
        expected: "HTTP 200, FAILED 8.2.3/3.8 (POL2, refused); nothing sent to the eUICC",
        note: "",
        run: delete_pol2,
    },
    Case {
        id: "ES3-UpdatePolicyRules-03",
        interface: "ES3",
        section: "§5.4.6",
        title: "UpdatePolicyRules without pol2 removes the profile's rules",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-UpdatePolicyRules-01 passed.",
        steps: &[
            "SM-DP: ES3.UpdatePolicyRules of the new profile without pol2",
            "SM-DP: ES3.GetEIS of eUICC 1",
        ],
        expected: "HTTP 200, EXECUTED_SUCCESS; the profile's pol2 has no rule",
        note: "pol2 is optional in ES3-UpdatePolicyRulesRequest; the project reads its absence as \"no rules\".",
        run: pol2_clear,
    },
    Case {
        id: "ES3-UpdateSubscriptionAddress-01",
        interface: "ES3",
        section: "§5.4.7",
        title: "UpdateSubscriptionAddress changes the address of the SM-DP's profile",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-ProfileDownloadCompleted-01 passed.",
        steps: &[
            "SM-DP: ES3.UpdateSubscriptionAddress of the new profile (IMSI 001029999999999, MSISDN \
             491799999999)",
            "SM-DP: ES3.GetEIS of eUICC 1",
        ],
        expected: "HTTP 200, EXECUTED_SUCCESS; the GetEIS shows the new address",
        note: "",
        run: address_ok,
    },
    Case {
        id: "ES3-DisableProfile-01",
        interface: "ES3",
        section: "§5.4.11, §5.1.6.4",
        title: "DisableProfile of a disabled profile is refused",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-ProfileDownloadCompleted-01 passed; the new profile is Disabled.",
        steps: &["SM-DP: ES3.DisableProfile of the new profile"],
        expected: "HTTP 200, FAILED 8.2.1/3.8 (profile ICCID, refused)",
        note: "",
        run: disable_disabled,
    },
    Case {
        id: "ES3-UpdateConnectivityParameters-02",
        interface: "ES3",
        section: "§5.4.13, §5.1.6.4",
        title: "UpdateConnectivityParameters that are no ES8 command script are refused naming the element",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-ProfileDownloadCompleted-01 passed.",
        steps: &[
            "SM-DP: ES3.UpdateConnectivityParameters of the new profile with ConnectivityParameters 0102",
        ],
        expected: "HTTP 200, FAILED 1.6/2.1 (function, invalid) naming ConnectivityParameters; nothing sent",
        note: "SGP.02 leaves the check of the ES8 data to the eUICC; the project refuses what it cannot route \
               (wire-profile §5) at once.",
        run: connectivity_malformed,
    },
    Case {
        id: "ES3-DeleteISDP-02",
        interface: "ES3",
        section: "§5.4.12, §3.1.4",
        title: "DeleteISDP deletes the SM-DP's ISD-P on the eUICC and answers by callback",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-CreateISDP-01 passed; the new profile is not enabled and its POL2 allows deletion \
                        (ES3-UpdatePolicyRules-03 leaves it so).",
        steps: &[
            "SM-DP: ES3.DeleteISDP of the new profile, wsa:ReplyTo = the receiver",
            "Wait for the callback",
            "SM-DP: ES3.GetEIS of eUICC 1",
        ],
        expected: "HTTP 202; callback ES3-DeleteISDPResponse EXECUTED_SUCCESS; the GetEIS no longer shows the \
                   ICCID",
        note: "Leaves eUICC 1 with its issuance profiles only.",
        run: delete_ok,
    },
    Case {
        id: "ES3-Download-01",
        interface: "ES3",
        section: "§3.1, §5.4.1–§5.4.4",
        title: "A real profile downloads through ES3: key establishment, SCP03t loading, completion",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "eUICC 1 is reachable over ES5 and has memory and an ISD-P AID left; the suite's ICCID \
                        (derived from the run) is new to the SUT; the SUT's EIS of eUICC 1 names the peers' \
                        SM-SR OID as Smsr-id (the procedure's eligibility check).",
        steps: &[
            "The suite personalises the sample USIM template with a new ICCID and IMSI 001028880000001 and runs \
             the SM-DP's download procedure (smdp::download::procedure) against the SUT:",
            "SM-DP: ES3.GetEIS of eUICC 1; eligibility (SM-SR, memory, CI → EUM → ECASD chain, ICCID not present)",
            "SM-DP: ES3.CreateISDP, Mno-id = MNO 2 (MNO 1 in a world of one MNO), RequiredMemory = the package's \
             size, wsa:ReplyTo = the receiver; wait for the callback",
            "SM-DP: ES3.SendData of 3A01 (CERT.DP.ECDSA), 3A02 (key agreement, receipt checked), SCP03t 84 and \
             the package's load scripts (every R-MAC and the EUICCResponse checked), each answered by callback",
            "SM-DP: ES3.ProfileDownloadCompleted with that IMSI and MSISDN 491788000001",
            "SM-DP: ES3.GetEIS of eUICC 1",
        ],
        expected: "Every function EXECUTED_SUCCESS (HTTP 200 for GetEIS and ProfileDownloadCompleted, HTTP 202 \
                   and a callback for the others) with the data the procedure checks; the GetEIS shows the \
                   profile Disabled with Smdp-id = the SM-DP",
        note: "The suite drives the project's own SM-DP procedure: a SUT that refuses a step fails the case with \
               the phase and status; after a failure the procedure's clean-up DeleteISDP runs too.",
        run: download::download_ok,
    },
    Case {
        id: "ES3-EnableProfile-04",
        interface: "ES3",
        section: "§5.4.10, §3.2",
        title: "EnableProfile of the SM-DP's downloaded profile completes and the EIS shows it Enabled",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-Download-01 passed; the network attaches IMSI 001028880000001 as MSISDN \
                        491788000001 (the suite's SMSC does; a SUT's own network must provision it).",
        steps: &[
            "SM-DP: ES3.EnableProfile of the downloaded profile, wsa:ReplyTo = the receiver",
            "Wait for the callback",
            "SM-DP: ES3.GetEIS of eUICC 1",
            "Look for ES3-HandleProfileEnabledNotification at the receiver (5 s)",
        ],
        expected: "HTTP 202; callback ES3-EnableProfileResponse EXECUTED_SUCCESS; the GetEIS shows the profile \
                   Enabled",
        note: "SGP.02 §5.4.14 sends ES3-HandleProfileEnabledNotification to the SM-DP's ES3 endpoint, which may \
               not be the suite's receiver (the lab keeps its own SM-DP there): the case says whether it came and \
               does not require it. A callback FAILED 8.2.1/4.2 (the eUICC rolled back) usually means the network \
               did not attach the IMSI (see the preconditions).",
        run: download::enable_ok,
    },
    Case {
        id: "ES3-DisableProfile-03",
        interface: "ES3",
        section: "§5.4.11, §3.3",
        title: "DisableProfile of the SM-DP's enabled profile completes; the fall-back profile takes over",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-EnableProfile-04 passed: the downloaded profile is Enabled.",
        steps: &[
            "SM-DP: ES3.DisableProfile of the downloaded profile, wsa:ReplyTo = the receiver",
            "Wait for the callback",
            "SM-DP: ES3.GetEIS of eUICC 1; MNO 1: ES4.GetEIS of eUICC 1",
        ],
        expected: "HTTP 202; callback ES3-DisableProfileResponse EXECUTED_SUCCESS; the SM-DP's GetEIS shows the \
                   profile Disabled, MNO 1's shows its fall-back profile P1 Enabled",
        note: "",
        run: download::disable_ok,
    },
    Case {
        id: "ES3-DeleteISDP-04",
        interface: "ES3",
        section: "§5.4.12, §3.4",
        title: "DeleteISDP of the SM-DP's downloaded (disabled) profile completes",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-Download-01 passed; the downloaded profile is not Enabled (ES3-DisableProfile-03 \
                        leaves it Disabled, and so does an enable that rolled back).",
        steps: &[
            "SM-DP: ES3.GetEIS of eUICC 1 (the precondition)",
            "SM-DP: ES3.DeleteISDP of the downloaded profile, wsa:ReplyTo = the receiver",
            "Wait for the callback",
            "SM-DP: ES3.GetEIS of eUICC 1",
        ],
        expected: "HTTP 202; callback ES3-DeleteISDPResponse EXECUTED_SUCCESS; the GetEIS no longer shows the \
                   ICCID",
        note: "Leaves eUICC 1 with its issuance profiles only (P1 enabled), as the ES4 cases expect.",
        run: download::delete_ok,
    },
];

fn eid0(ctx: &Ctx) -> Result<String, Finding> {
    ctx.world
        .euiccs
        .first()
        .map(|e| e.eid.clone())
        .ok_or_else(|| Finding::Inconclusive("the peers have no eUICC".into()))
}

fn smdp_oid(ctx: &Ctx) -> String {
    ctx.world.manifest.sm_dp.oid.clone()
}

/// A precondition step that did not go as it must: INCONCLUSIVE, not FAIL.
fn precondition(what: &str) -> impl Fn(Finding) -> Finding + '_ {
    move |f| match f {
        Finding::Fail(why) => Finding::Inconclusive(format!("precondition: {what}: {why}")),
        f => f,
    }
}

/// The SM-DP's GetEIS of eUICC 1 (a refusal or an answer without an Eis is a FAIL).
async fn view(ctx: &Ctx, what: &str) -> Result<Eis, Finding> {
    let out = ctx
        .es3(&es3::GetEisRequest {
            base: base(&ctx.fci(what), None),
            eid: parse("EID", &eid0(ctx)?)?,
        })
        .await?;
    expect(
        out.http_status,
        &out.envelope,
        200,
        Status::ExecutedSuccess,
        None,
    )?;
    decode::<es3::GetEisResponse>(&out.envelope)?
        .eis
        .ok_or_else(|| Finding::Fail("EXECUTED_SUCCESS without an Eis".into()))
}

/// The first issuance profile of eUICC 1 (P1, the undeletable fall-back, when the SM-DP did not download it)
/// that the SM-DP's GetEIS does not show.
async fn foreign(ctx: &Ctx) -> Result<IssuedProfile, Finding> {
    let shown = view(ctx, &format!("es3-foreign-{}", rand::random::<u32>()))
        .await
        .map_err(precondition("ES3.GetEIS of eUICC 1"))?;
    profiles_at_issuance(&ctx.world, 0)
        .map_err(|e| Finding::Inconclusive(e.to_string()))?
        .into_iter()
        .find(|p| {
            !shown
                .profile_info
                .iter()
                .any(|s| s.iccid.as_str() == p.iccid)
        })
        .ok_or_else(|| {
            Finding::Inconclusive(
                "precondition: the SM-DP sees every issuance profile of eUICC 1".into(),
            )
        })
}

/// Profiles shown to the SM-DP that another SM-DP (or none) downloaded, as ICCIDs.
fn not_downloaded_by(eis: &Eis, oid: &str) -> Vec<String> {
    eis.profile_info
        .iter()
        .filter(|p| p.smdp_id.as_ref().map(|o| o.to_string()).as_deref() != Some(oid))
        .map(|p| p.iccid.to_string())
        .collect()
}

/// The ICCID of one of the suite's own profiles: `89 49 99`, `9`, the run's stamp in 10 digits, `kind` (`7`:
/// the ISD-P of ES3-CreateISDP-01, `8`: the real profile of ES3-Download-01), Luhn (19 digits, outside the
/// issuance numbering of crate::issuance).
fn own_iccid(ctx: &Ctx, kind: u8) -> Result<String, Finding> {
    let stamp = u32::from_str_radix(&ctx.run_id, 16)
        .map_err(|e| Finding::Inconclusive(format!("run id {}: {e}", ctx.run_id)))?;
    let body = format!("8949999{stamp:010}{kind}");
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    Ok(format!("{body}{}", (10 - sum % 10) % 10))
}

/// The suite's own profile from ES3-CreateISDP-01: (ICCID, ISD-P AID hex), after case `after` passed.
fn own(ctx: &Ctx, after: &str) -> Result<(String, String), Finding> {
    ctx.require_passed("ES3-CreateISDP-01")?;
    ctx.require_passed(after)?;
    match (ctx.recall("es3-own-iccid"), ctx.recall("es3-own-aid")) {
        (Some(i), Some(a)) => Ok((i, a)),
        _ => Err(Finding::Inconclusive(
            "ES3-CreateISDP-01 left no profile".into(),
        )),
    }
}

/// The suite's own profile as the SM-DP's GetEIS shows it (`None`: not shown).
async fn own_shown(ctx: &Ctx, iccid: &str, what: &str) -> Result<Option<ProfileInfo>, Finding> {
    Ok(view(ctx, what)
        .await?
        .profile_info
        .into_iter()
        .find(|p| p.iccid.as_str() == iccid))
}

/// An ES3 function refused at once with `codes`.
fn refused(out: &crate::mno::CallOutcome, codes: (&str, &str)) -> Result<String, Finding> {
    expect(
        out.http_status,
        &out.envelope,
        200,
        Status::Failed,
        Some(codes),
    )
}

fn get_eis_own(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let eis = view(ctx, "es3-get-own").await?;
        if eis.eum_signed_info.eid.to_string() != eid {
            return Err(Finding::Fail(format!(
                "asked for {eid}, got the EIS of {}",
                eis.eum_signed_info.eid
            )));
        }
        let others = not_downloaded_by(&eis, &smdp_oid(ctx));
        if !others.is_empty() {
            return Err(Finding::Fail(format!(
                "the SM-DP sees profiles it did not download: {}",
                others.join(", ")
            )));
        }
        Ok(format!(
            "HTTP 200, EXECUTED_SUCCESS; {} profile(s), all downloaded by the SM-DP",
            eis.profile_info.len()
        ))
    })
}

fn get_eis_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es3(&es3::GetEisRequest {
                base: base(&ctx.fci("es3-get-unknown"), None),
                eid: parse("EID", UNKNOWN_EID)?,
            })
            .await?;
        refused(&out, ("8.1.1", "3.9"))
    })
}

fn get_eis_missing_eid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let body = format!(
            "<rps:ES3-GetEISRequest xmlns:rps=\"{RPS_NS}\"><rps:FunctionCallIdentifier>{}\
             </rps:FunctionCallIdentifier></rps:ES3-GetEISRequest>",
            ctx.fci("es3-no-eid")
        );
        let env = ctx.es3_envelope(Es3Caller::SmDp, action::ES3_GET_EIS.request, &body)?;
        let (http, answer) = ctx
            .post_es3(
                Es3Caller::SmDp,
                action::ES3_GET_EIS.request,
                "ES3-GetEISRequest (no Eid)",
                env,
                true,
            )
            .await?;
        let seen = expect(http, &answer, 200, Status::Failed, Some(("1.6", "2.2")))?;
        if !answer.contains("Eid") {
            return Err(Finding::Fail(format!(
                "{seen}, but the answer does not name Eid"
            )));
        }
        Ok(seen)
    })
}

/// ES3.GetEIS of eUICC 1 sent by `peer`, which may not call ES3: FAILED with `codes`.
async fn get_eis_as(
    ctx: &Ctx,
    peer: Peer,
    label: &str,
    codes: (&str, &str),
) -> Result<String, Finding> {
    let body = es3::GetEisRequest {
        base: base(&ctx.fci(label), None),
        eid: parse("EID", &eid0(ctx)?)?,
    }
    .to_xml();
    let who = Es3Caller::Other(peer);
    let env = ctx.es3_envelope(who, action::ES3_GET_EIS.request, &body)?;
    let (http, answer) = ctx
        .post_es3(
            who,
            action::ES3_GET_EIS.request,
            "ES3-GetEISRequest",
            env,
            false,
        )
        .await?;
    expect(http, &answer, 200, Status::Failed, Some(codes))
}

fn get_eis_wrong_role(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(get_eis_as(ctx, Peer::Mno(0), "es3-mno", ("1.1", "1.2")))
}

fn get_eis_stranger(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(get_eis_as(
        ctx,
        Peer::Stranger,
        "es3-stranger",
        ("1.1", "1.1"),
    ))
}

fn audit(
    ctx: &Ctx,
    eid: &str,
    iccids: &[&str],
    what: &str,
) -> Result<es3::AuditEisRequest, Finding> {
    Ok(es3::AuditEisRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", eid)?,
        iccids: iccids
            .iter()
            .map(|i| parse("ICCID", i))
            .collect::<Result<_, _>>()?,
    })
}

fn audit_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let out = ctx.es3(&audit(ctx, &eid, &[], "es3-audit")?).await?;
        let cb = accepted_then_success(ctx, &out, "ES3-AuditEISResponse").await?;
        let eis = decode::<es3::AuditEisResponse>(&cb.envelope)?
            .eis
            .ok_or_else(|| Finding::Fail("the callback carries no Eis".into()))?;
        if eis.eum_signed_info.eid.to_string() != eid {
            return Err(Finding::Fail(format!(
                "audited {eid}, the callback carries the EIS of {}",
                eis.eum_signed_info.eid
            )));
        }
        let others = not_downloaded_by(&eis, &smdp_oid(ctx));
        if !others.is_empty() {
            return Err(Finding::Fail(format!(
                "the audit shows the SM-DP profiles it did not download: {}",
                others.join(", ")
            )));
        }
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS, {} profile(s) of the SM-DP",
            eis.profile_info.len()
        ))
    })
}

fn audit_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es3(&audit(ctx, UNKNOWN_EID, &[], "es3-audit-unknown")?)
            .await?;
        refused(&out, ("8.1.1", "3.9"))
    })
}

fn audit_foreign(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = foreign(ctx).await?;
        let out = ctx
            .es3(&audit(ctx, &eid0(ctx)?, &[&p.iccid], "es3-audit-foreign")?)
            .await?;
        refused(&out, ("8.2.1", "3.9"))
    })
}

/// The MNO the suite's profile belongs to: MNO 2, or MNO 1 in a world of one MNO.
fn own_mno(ctx: &Ctx) -> Result<String, Finding> {
    let m = &ctx.world.manifest.mnos;
    m.get(1)
        .or_else(|| m.first())
        .map(|m| m.entity.oid.clone())
        .ok_or_else(|| Finding::Inconclusive("the peers have no MNO".into()))
}

fn create(
    ctx: &Ctx,
    eid: &str,
    iccid: &str,
    memory: i64,
    what: &str,
) -> Result<es3::CreateIsdpRequest, Finding> {
    Ok(es3::CreateIsdpRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", eid)?,
        iccid: parse("ICCID", iccid)?,
        mno_id: parse("Mno-id", &own_mno(ctx)?)?,
        required_memory: memory,
        more_to_do: Some(false),
    })
}

fn create_iccid_in_use(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p1 = profiles_at_issuance(&ctx.world, 0)
            .map_err(|e| Finding::Inconclusive(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| Finding::Inconclusive("no issuance profile".into()))?;
        let out = ctx
            .es3(&create(
                ctx,
                &eid0(ctx)?,
                &p1.iccid,
                OWN_MEMORY,
                "es3-create-in-use",
            )?)
            .await?;
        refused(&out, ("8.2.1", "3.3"))
    })
}

fn create_too_big(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es3(&create(
                ctx,
                &eid0(ctx)?,
                &own_iccid(ctx, 7)?,
                1_000_000_000_000,
                "es3-create-big",
            )?)
            .await?;
        refused(&out, ("8.1", "3.8"))
    })
}

fn create_unknown_eid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es3(&create(
                ctx,
                UNKNOWN_EID,
                &own_iccid(ctx, 7)?,
                OWN_MEMORY,
                "es3-create-unknown",
            )?)
            .await?;
        refused(&out, ("8.1.1", "3.9"))
    })
}

fn hex_binary(bytes: &[u8]) -> Result<HexBinary, Finding> {
    HexBinary::from_bytes(bytes).map_err(|e| Finding::Inconclusive(e.to_string()))
}

fn send_data(
    ctx: &Ctx,
    aid: &[u8],
    data: Vec<u8>,
    what: &str,
) -> Result<es3::SendDataRequest, Finding> {
    Ok(es3::SendDataRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", &eid0(ctx)?)?,
        sd_aid: Aid::from_bytes(aid).map_err(|e| Finding::Inconclusive(e.to_string()))?,
        data: hex_binary(&data)?,
        more_to_do: Some(false),
    })
}

/// The ES8 script of key establishment step 1 (wire-profile §5): STORE DATA `3A01` with the peers' SM-DP's
/// CERT.DP.ECDSA.
fn certificate_script(ctx: &Ctx) -> Result<Vec<u8>, Finding> {
    let c = es8::establish_key_set_certificate(&ctx.world.sm_dp_gp.cert.encode())
        .map_err(|e| Finding::Inconclusive(format!("3A01: {e}")))?;
    CommandScript::new(vec![c])
        .to_expanded()
        .map_err(|e| Finding::Inconclusive(format!("3A01 script: {e}")))
}

fn send_data_unknown_isdp(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let aid = wire_profile::isd_p_aid(0xEF)
            .ok_or_else(|| Finding::Inconclusive("no ISD-P AID 0xEF".into()))?;
        let out = ctx
            .es3(&send_data(
                ctx,
                &aid,
                certificate_script(ctx)?,
                "es3-send-unknown",
            )?)
            .await?;
        refused(&out, ("8.3.1", "3.9"))
    })
}

fn send_data_foreign(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = foreign(ctx).await?;
        let out = ctx
            .es3(&send_data(
                ctx,
                &p.isd_p_aid,
                certificate_script(ctx)?,
                "es3-send-foreign",
            )?)
            .await?;
        refused(&out, ("8.3.1", "1.2"))
    })
}

/// The EID of eUICC 1, `iccid` and a fresh identifier: the parts of ES3 requests on one profile.
fn parts(ctx: &Ctx, iccid: &str, what: &str) -> Result<(BaseRequest, Eid, Iccid), Finding> {
    Ok((
        base(&ctx.fci(what), None),
        parse("EID", &eid0(ctx)?)?,
        parse("ICCID", iccid)?,
    ))
}

fn enable_req(ctx: &Ctx, iccid: &str, what: &str) -> Result<es3::EnableProfileRequest, Finding> {
    let (base, eid, iccid) = parts(ctx, iccid, what)?;
    Ok(es3::EnableProfileRequest { base, eid, iccid })
}

fn disable_req(ctx: &Ctx, iccid: &str, what: &str) -> Result<es3::DisableProfileRequest, Finding> {
    let (base, eid, iccid) = parts(ctx, iccid, what)?;
    Ok(es3::DisableProfileRequest { base, eid, iccid })
}

fn delete_req(ctx: &Ctx, iccid: &str, what: &str) -> Result<es3::DeleteIsdpRequest, Finding> {
    let (base, eid, iccid) = parts(ctx, iccid, what)?;
    Ok(es3::DeleteIsdpRequest { base, eid, iccid })
}

fn pol2_req(
    ctx: &Ctx,
    iccid: &str,
    pol2: Option<Pol2>,
    what: &str,
) -> Result<es3::UpdatePolicyRulesRequest, Finding> {
    let (base, eid, iccid) = parts(ctx, iccid, what)?;
    Ok(es3::UpdatePolicyRulesRequest {
        base,
        eid,
        iccid,
        pol2,
    })
}

fn address_req(
    ctx: &Ctx,
    iccid: &str,
    what: &str,
) -> Result<es3::UpdateSubscriptionAddressRequest, Finding> {
    let (base, eid, iccid) = parts(ctx, iccid, what)?;
    Ok(es3::UpdateSubscriptionAddressRequest {
        base,
        eid,
        iccid,
        new_subscription_address: SubscriptionAddress {
            imsi: Some(parse("IMSI", OWN_IMSI)?),
            msisdn: Some(parse("MSISDN", OWN_MSISDN)?),
        },
    })
}

fn connectivity_req(
    ctx: &Ctx,
    iccid: &str,
    parameters: Vec<u8>,
    what: &str,
) -> Result<es3::UpdateConnectivityParametersRequest, Finding> {
    let (base, eid, iccid) = parts(ctx, iccid, what)?;
    Ok(es3::UpdateConnectivityParametersRequest {
        base,
        eid,
        iccid,
        connectivity_parameters: hex_binary(&parameters)?,
    })
}

fn completed_req(
    ctx: &Ctx,
    fci: &str,
    iccid: &str,
    profile_type: &str,
) -> Result<es3::ProfileDownloadCompletedRequest, Finding> {
    Ok(es3::ProfileDownloadCompletedRequest {
        base: base(fci, None),
        eid: parse("EID", &eid0(ctx)?)?,
        iccid: parse("ICCID", iccid)?,
        profile_type: Some(profile_type.to_string()),
        subscription_address: None,
        pol2: None,
    })
}

fn enable_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es3(&enable_req(ctx, UNKNOWN_ICCID, "es3-enable-unknown")?)
            .await?;
        refused(&out, ("8.2.1", "3.9"))
    })
}

fn enable_foreign(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = foreign(ctx).await?;
        let out = ctx
            .es3(&enable_req(ctx, &p.iccid, "es3-enable-foreign")?)
            .await?;
        refused(&out, ("8.2.1", "3.9"))
    })
}

fn disable_foreign(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = foreign(ctx).await?;
        let out = ctx
            .es3(&disable_req(ctx, &p.iccid, "es3-disable-foreign")?)
            .await?;
        refused(&out, ("8.2.1", "3.9"))
    })
}

fn delete_foreign(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = foreign(ctx).await?;
        let out = ctx
            .es3(&delete_req(ctx, &p.iccid, "es3-delete-foreign")?)
            .await?;
        refused(&out, ("8.2.1", "3.9"))
    })
}

fn pol2_foreign(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = foreign(ctx).await?;
        let out = ctx
            .es3(&pol2_req(
                ctx,
                &p.iccid,
                Some(Pol2 { rules: Vec::new() }),
                "es3-pol2-foreign",
            )?)
            .await?;
        refused(&out, ("8.2.1", "3.9"))
    })
}

fn address_foreign(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = foreign(ctx).await?;
        let out = ctx
            .es3(&address_req(ctx, &p.iccid, "es3-address-foreign")?)
            .await?;
        refused(&out, ("8.2.1", "3.9"))
    })
}

fn connectivity_foreign(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = foreign(ctx).await?;
        let out = ctx
            .es3(&connectivity_req(
                ctx,
                &p.iccid,
                certificate_script(ctx)?,
                "es3-connectivity-foreign",
            )?)
            .await?;
        refused(&out, ("8.2.1", "3.9"))
    })
}

fn completed_foreign(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = foreign(ctx).await?;
        let out = ctx
            .es3(&completed_req(
                ctx,
                &ctx.fci("es3-completed-foreign"),
                &p.iccid,
                OWN_PROFILE_TYPE,
            )?)
            .await?;
        refused(&out, ("8.2.1", "3.9"))
    })
}

fn create_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let iccid = own_iccid(ctx, 7)?;
        let out = ctx
            .es3(&create(ctx, &eid0(ctx)?, &iccid, OWN_MEMORY, "es3-create")?)
            .await?;
        let cb = accepted_then_success(ctx, &out, "ES3-CreateISDPResponse").await?;
        let aid = decode::<es3::CreateIsdpResponse>(&cb.envelope)?.isd_p_aid;
        let index = aid
            .as_bytes()
            .get(..14)
            .zip(wire_profile::isd_p_aid(0))
            .is_some_and(|(a, first)| a == &first[..14] && aid.as_bytes().len() == 16);
        if !index {
            return Err(Finding::Fail(format!(
                "the callback's Isd-p-aid {aid} is no ISD-P instance AID of wire-profile §1"
            )));
        }
        ctx.remember("es3-own-iccid", iccid.clone());
        ctx.remember("es3-own-aid", aid.to_string());
        let shown = own_shown(ctx, &iccid, "es3-create-view")
            .await?
            .ok_or_else(|| Finding::Fail(format!("the SM-DP's GetEIS does not show {iccid}")))?;
        if shown.state != ProfileState::Created || shown.isd_p_aid != aid {
            return Err(Finding::Fail(format!(
                "the SM-DP's GetEIS shows {iccid} {:?} in {}, expected Created in {aid}",
                shown.state, shown.isd_p_aid
            )));
        }
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS, ISD-P {aid}; {iccid} shown Created"
        ))
    })
}

fn send_data_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (_, aid) = own(ctx, "ES3-CreateISDP-01")?;
        let aid: Aid = parse("ISD-P AID", &aid)?;
        let out = ctx
            .es3(&send_data(
                ctx,
                aid.as_bytes(),
                certificate_script(ctx)?,
                "es3-send",
            )?)
            .await?;
        let cb = accepted_then_success(ctx, &out, "ES3-SendDataResponse").await?;
        let data = decode::<es3::SendDataResponse>(&cb.envelope)?
            .euicc_response_data
            .ok_or_else(|| Finding::Fail("the callback carries no EuiccResponseData".into()))?;
        let script = ResponseScript::parse_expanded(data.as_bytes()).map_err(|e| {
            Finding::Fail(format!(
                "EuiccResponseData {data} is no response script: {e}"
            ))
        })?;
        let [r] = script.responses.as_slice() else {
            return Err(Finding::Fail(format!(
                "{} R-APDUs in EuiccResponseData for one command",
                script.responses.len()
            )));
        };
        if !r.sw.is_success() {
            return Err(Finding::Fail(format!("3A01 answered SW {:04X}", r.sw.0)));
        }
        let challenge = es_interfaces::isdr::parse_random_challenge_response(&r.data)
            .map_err(|e| Finding::Fail(format!("3A01 answer: {e}")))?;
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS, random challenge of {} bytes",
            challenge.len()
        ))
    })
}

fn enable_created(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, _) = own(ctx, "ES3-CreateISDP-01")?;
        let out = ctx
            .es3(&enable_req(ctx, &iccid, "es3-enable-created")?)
            .await?;
        refused(&out, ("8.2.1", "3.8"))
    })
}

fn completed_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, _) = own(ctx, "ES3-CreateISDP-01")?;
        let fci = ctx.fci("es3-completed");
        let out = ctx
            .es3(&completed_req(ctx, &fci, &iccid, OWN_PROFILE_TYPE)?)
            .await?;
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        ctx.remember("es3-completed-fci", fci);
        let shown = own_shown(ctx, &iccid, "es3-completed-view")
            .await?
            .ok_or_else(|| Finding::Fail(format!("the SM-DP's GetEIS no longer shows {iccid}")))?;
        let smdp = shown.smdp_id.as_ref().map(|o| o.to_string());
        if shown.state != ProfileState::Disabled
            || shown
                .profile_type
                .as_ref()
                .map(|t| t.to_string())
                .as_deref()
                != Some(OWN_PROFILE_TYPE)
            || smdp.as_deref() != Some(smdp_oid(ctx).as_str())
        {
            return Err(Finding::Fail(format!(
                "{seen}, but the GetEIS shows {iccid} {:?}, ProfileType {:?}, Smdp-id {smdp:?}",
                shown.state, shown.profile_type
            )));
        }
        Ok(format!("{seen}; {iccid} shown Disabled"))
    })
}

fn completed_twice(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, _) = own(ctx, "ES3-ProfileDownloadCompleted-01")?;
        let out = ctx
            .es3(&completed_req(
                ctx,
                &ctx.fci("es3-completed-again"),
                &iccid,
                OWN_PROFILE_TYPE,
            )?)
            .await?;
        refused(&out, ("8.2.1", "3.8"))
    })
}

fn completed_fci(ctx: &Ctx) -> Result<(String, String), Finding> {
    let (iccid, _) = own(ctx, "ES3-ProfileDownloadCompleted-01")?;
    let fci = ctx.recall("es3-completed-fci").ok_or_else(|| {
        Finding::Inconclusive("ES3-ProfileDownloadCompleted-01 left no identifier".into())
    })?;
    Ok((iccid, fci))
}

fn fci_replay(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, fci) = completed_fci(ctx)?;
        let out = ctx
            .es3(&completed_req(ctx, &fci, &iccid, OWN_PROFILE_TYPE)?)
            .await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )
    })
}

fn fci_other_body(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, fci) = completed_fci(ctx)?;
        let out = ctx
            .es3(&completed_req(ctx, &fci, &iccid, "another type")?)
            .await?;
        refused(&out, ("1.6", "3.3"))
    })
}

fn delete_not_allowed() -> Pol2 {
    Pol2 {
        rules: vec![Pol2Rule {
            subject: Pol2RuleSubject::Profile,
            action: Pol2RuleAction::Delete,
            qualification: Pol2RuleQualification::NotAllowed,
        }],
    }
}

fn pol2_set(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, _) = own(ctx, "ES3-ProfileDownloadCompleted-01")?;
        let out = ctx
            .es3(&pol2_req(
                ctx,
                &iccid,
                Some(delete_not_allowed()),
                "es3-pol2-set",
            )?)
            .await?;
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let shown = own_shown(ctx, &iccid, "es3-pol2-set-view")
            .await?
            .ok_or_else(|| Finding::Fail(format!("the SM-DP's GetEIS no longer shows {iccid}")))?;
        if shown.pol2 != delete_not_allowed() {
            return Err(Finding::Fail(format!(
                "{seen}, but the GetEIS shows pol2 {:?}",
                shown.pol2
            )));
        }
        Ok(format!("{seen}; pol2 PROFILE/DELETE/Not-Allowed shown"))
    })
}

fn delete_pol2(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, _) = own(ctx, "ES3-UpdatePolicyRules-01")?;
        let out = ctx
            .es3(&delete_req(ctx, &iccid, "es3-delete-pol2")?)
            .await?;
        refused(&out, ("8.2.3", "3.8"))
    })
}

fn pol2_clear(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, _) = own(ctx, "ES3-UpdatePolicyRules-01")?;
        let out = ctx
            .es3(&pol2_req(ctx, &iccid, None, "es3-pol2-clear")?)
            .await?;
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let shown = own_shown(ctx, &iccid, "es3-pol2-clear-view")
            .await?
            .ok_or_else(|| Finding::Fail(format!("the SM-DP's GetEIS no longer shows {iccid}")))?;
        if !shown.pol2.rules.is_empty() {
            return Err(Finding::Fail(format!(
                "{seen}, but the GetEIS still shows pol2 {:?}",
                shown.pol2
            )));
        }
        Ok(format!("{seen}; no pol2 rule left"))
    })
}

fn address_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, _) = own(ctx, "ES3-ProfileDownloadCompleted-01")?;
        let out = ctx.es3(&address_req(ctx, &iccid, "es3-address")?).await?;
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let shown = own_shown(ctx, &iccid, "es3-address-view")
            .await?
            .ok_or_else(|| Finding::Fail(format!("the SM-DP's GetEIS no longer shows {iccid}")))?;
        let a = &shown.subscription_address;
        let imsi = a.imsi.as_ref().map(|i| i.to_string());
        let msisdn = a.msisdn.as_ref().map(|m| m.to_string());
        if imsi.as_deref() != Some(OWN_IMSI) || msisdn.as_deref() != Some(OWN_MSISDN) {
            return Err(Finding::Fail(format!(
                "{seen}, but the GetEIS shows IMSI {imsi:?}, MSISDN {msisdn:?}"
            )));
        }
        Ok(format!("{seen}; the new address is shown"))
    })
}

fn disable_disabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, _) = own(ctx, "ES3-ProfileDownloadCompleted-01")?;
        let out = ctx
            .es3(&disable_req(ctx, &iccid, "es3-disable-disabled")?)
            .await?;
        refused(&out, ("8.2.1", "3.8"))
    })
}

fn connectivity_malformed(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, _) = own(ctx, "ES3-ProfileDownloadCompleted-01")?;
        let out = ctx
            .es3(&connectivity_req(
                ctx,
                &iccid,
                vec![0x01, 0x02],
                "es3-connectivity-bad",
            )?)
            .await?;
        let seen = refused(&out, ("1.6", "2.1"))?;
        if !out.envelope.contains("ConnectivityParameters") {
            return Err(Finding::Fail(format!(
                "{seen}, but the answer does not name ConnectivityParameters"
            )));
        }
        Ok(seen)
    })
}

fn delete_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let (iccid, _) = own(ctx, "ES3-CreateISDP-01")?;
        if ctx.require_passed("ES3-UpdatePolicyRules-01").is_ok() {
            // The rule forbidding deletion must be gone again.
            ctx.require_passed("ES3-UpdatePolicyRules-03")?;
        }
        let out = ctx.es3(&delete_req(ctx, &iccid, "es3-delete")?).await?;
        accepted_then_success(ctx, &out, "ES3-DeleteISDPResponse").await?;
        if own_shown(ctx, &iccid, "es3-delete-view").await?.is_some() {
            return Err(Finding::Fail(format!(
                "callback EXECUTED_SUCCESS, but the GetEIS still shows {iccid}"
            )));
        }
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS; {iccid} no longer shown"
        ))
    })
}
