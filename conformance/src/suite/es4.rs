//! ES4 cases against an SM-SR (SGP.02 §5.5), the suite playing the MNOs of the peers. They use the peers'
//! eUICC 1 (index 0), which must be registered at the SUT (by its lab, or by ES1-RegisterEIS-02 in a world of
//! one eUICC).

use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::{Pol2, Pol2Rule, SubscriptionAddress};
use es_interfaces::messages::eis::{Eis, ProfileInfo};
use es_interfaces::messages::{es4, es4v4};
use es_interfaces::soap::{Envelope, action};
use es_interfaces::status::Status;
use es_interfaces::types::{
    Oid, Pol2RuleAction, Pol2RuleQualification, Pol2RuleSubject, ProfileState,
};
use es_interfaces::wsdl::Service;

use super::ctx::{Peer, expect};
use super::{Case, CaseFuture, CaseOutcome, Ctx, Finding, Need};
use crate::mno::{CallOutcome, base};

/// An EID no EUM issued (valid check digits; SGP.02 §2.2.2).
pub(super) const UNKNOWN_EID: &str = "89049032123451234512345678901235";
/// An ICCID no profile has.
pub(super) const UNKNOWN_ICCID: &str = "8949990000000000099";

/// The ES4 catalogue, in run order.
pub static CASES: &[Case] = &[
    Case {
        id: "ES4-GetEIS-01",
        interface: "ES4",
        section: "§5.5.1",
        title: "GetEIS returns the EIS with the calling MNO's profiles only",
        needs: &[Need::Smsr],
        preconditions: "The peers' eUICC 1 is registered at the SUT and carries a profile of MNO 1.",
        steps: &["MNO 1: ES4.GetEIS of eUICC 1"],
        expected: "HTTP 200, EXECUTED_SUCCESS, an Eis with that EID whose ProfileInfo all have Mno-id = MNO 1",
        note: "That the EIS is reduced to the caller's profiles is the project's reading of §5.5.1 (docs/architecture.md).",
        run: get_eis_own,
    },
    Case {
        id: "ES4-GetEIS-02",
        interface: "ES4",
        section: "§5.5.1, §5.1.6.4",
        title: "GetEIS of an unknown EID is refused",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["MNO 1: ES4.GetEIS of an EID no eUICC has"],
        expected: "HTTP 200, FAILED 8.1.1/3.9 (EID, unknown)",
        note: "",
        run: get_eis_unknown,
    },
    Case {
        id: "ES4-GetEIS-03",
        interface: "ES4",
        section: "§5.5.1",
        title: "Another MNO reading the same eUICC sees none of MNO 1's profiles",
        needs: &[Need::Smsr],
        preconditions: "The peers have two MNOs; eUICC 1 carries profiles of both.",
        steps: &["MNO 2: ES4.GetEIS of eUICC 1"],
        expected: "HTTP 200, EXECUTED_SUCCESS, no ProfileInfo with Mno-id = MNO 1",
        note: "An MNO with no profile on the eUICC may also be refused (8.1.1/3.9); this case uses an eUICC that carries a profile of each.",
        run: get_eis_other_mno,
    },
    Case {
        id: "ES4-GetEIS-04",
        interface: "ES4",
        section: "§5.5.1, §5.1.6.4",
        title: "GetEIS without the mandatory Eid is refused naming the element",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["MNO 1: ES4-GetEISRequest with a FunctionCallIdentifier and no Eid"],
        expected: "HTTP 200, FAILED 1.6/2.2 (function, mandatory element missing) naming Eid",
        note: "",
        run: get_eis_missing_eid,
    },
    Case {
        id: "ES4-GetEIS-05",
        interface: "ES4",
        section: "§5.5.1, §5.1.6.4",
        title: "An EUM may not call ES4 (wrong role)",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 is registered.",
        steps: &["EUM: ES4.GetEIS of eUICC 1 with the EUM's TLS client certificate"],
        expected: "HTTP 200, FAILED 1.1/1.2 (function requester, not allowed)",
        note: "",
        run: get_eis_wrong_role,
    },
    Case {
        id: "ES4-GetEIS-06",
        interface: "ES4",
        section: "§5.5.1, §5.1.6.4",
        title: "A caller no registered entity owns the certificate of is refused",
        needs: &[Need::Smsr],
        preconditions: "The SUT trusts the peers' TLS CA for client certificates.",
        steps: &[
            "The suite issues a TLS client certificate from the peers' TLS CA for no entity",
            "ES4.GetEIS of eUICC 1 with it",
        ],
        expected: "HTTP 200, FAILED 1.1/1.1 (function requester, unknown)",
        note: "A SUT may instead refuse the TLS handshake; the project accepts the CA and answers the function.",
        run: get_eis_stranger,
    },
    Case {
        id: "ES4-EnableProfile-01",
        interface: "ES4",
        section: "§5.5.2, §3.2",
        title: "EnableProfile of a disabled profile completes with a callback and notifications",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "eUICC 1 carries a disabled profile of MNO 1 and is reachable over ES5; the SUT has \
                        the suite's receiver registered as MNO 1's ES4 endpoint.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, pick a disabled profile of MNO 1",
            "MNO 1: ES4.EnableProfile of it with wsa:ReplyTo = the receiver",
            "Wait for the callback (wsa:RelatesTo = the request's MessageID) and HandleProfileEnabledNotification",
        ],
        expected: "HTTP 202; callback ES4-EnableProfileResponse EXECUTED_SUCCESS; \
                   ES4-HandleProfileEnabledNotification for the ICCID",
        note: "",
        run: enable_disabled,
    },
    Case {
        id: "ES4-EnableProfile-02",
        interface: "ES4",
        section: "§5.5.2, §5.1.6.4",
        title: "EnableProfile of the enabled profile is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 has an enabled profile of MNO 1.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, pick the enabled profile of MNO 1",
            "MNO 1: ES4.EnableProfile of it",
        ],
        expected: "HTTP 200, FAILED 8.2.1/3.8 (profile ICCID, refused)",
        note: "",
        run: enable_enabled,
    },
    Case {
        id: "ES4-EnableProfile-03",
        interface: "ES4",
        section: "§5.5.2, §5.1.6.4",
        title: "EnableProfile of an unknown ICCID is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 is registered.",
        steps: &["MNO 1: ES4.EnableProfile of an ICCID no profile has on eUICC 1"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: enable_unknown,
    },
    Case {
        id: "ES4-EnableProfile-04",
        interface: "ES4",
        section: "§5.5.2, §5.1.6.4",
        title: "EnableProfile of another MNO's profile is refused without revealing it",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries a profile of MNO 2.",
        steps: &[
            "MNO 2: ES4.GetEIS of eUICC 1, pick a profile of MNO 2",
            "MNO 1: ES4.EnableProfile of it",
        ],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "SGP.02 does not say which code answers a profile of another MNO; the project answers as for an \
               ICCID that does not exist (docs/architecture.md §8), so that an MNO learns nothing of others' \
               profiles. A SUT answering 1.2 (not allowed) is defensible: read a FAIL here with this in mind.",
        run: enable_other_mno,
    },
    Case {
        id: "ES4-AuditEIS-01",
        interface: "ES4",
        section: "§5.5.4",
        title: "AuditEIS completes with a callback carrying the audited EIS",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "eUICC 1 is reachable over ES5.",
        steps: &[
            "MNO 1: ES4.AuditEIS of eUICC 1 with wsa:ReplyTo = the receiver",
            "Wait for the callback",
        ],
        expected: "HTTP 202; callback ES4-AuditEISResponse EXECUTED_SUCCESS with an Eis of that EID whose \
                   ProfileInfo all have Mno-id = MNO 1",
        note: "",
        run: audit_ok,
    },
    Case {
        id: "ES4-AuditEIS-02",
        interface: "ES4",
        section: "§5.5.4, §5.1.6.4",
        title: "AuditEIS of an unknown EID is refused",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["MNO 1: ES4.AuditEIS of an EID no eUICC has"],
        expected: "HTTP 200, FAILED 8.1.1/3.9 (EID, unknown)",
        note: "",
        run: audit_unknown,
    },
    Case {
        id: "ES4-DisableProfile-01",
        interface: "ES4",
        section: "§5.5.3, §3.3",
        title: "DisableProfile of the enabled profile completes; the fall-back profile is enabled",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "MNO 1's enabled profile on eUICC 1 is not the fall-back profile (ES4-EnableProfile-01 \
                        leaves it so); eUICC 1 is reachable over ES5.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, pick the enabled profile (not the fall-back one)",
            "MNO 1: ES4.DisableProfile of it",
            "Wait for the callback and HandleProfileDisabledNotification",
        ],
        expected: "HTTP 202; callback ES4-DisableProfileResponse EXECUTED_SUCCESS; \
                   ES4-HandleProfileDisabledNotification for the ICCID",
        note: "",
        run: disable_enabled,
    },
    Case {
        id: "ES4-DisableProfile-02",
        interface: "ES4",
        section: "§5.5.3, §5.1.6.4",
        title: "DisableProfile of the enabled fall-back profile is refused",
        needs: &[Need::Smsr],
        preconditions: "MNO 1's fall-back profile is the enabled profile of eUICC 1.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, pick the enabled fall-back profile",
            "MNO 1: ES4.DisableProfile of it",
        ],
        expected: "HTTP 200, FAILED 8.2.1/3.8 (profile ICCID, refused)",
        note: "",
        run: disable_fallback,
    },
    Case {
        id: "ES4-SetFallBackAttribute-01",
        interface: "ES4",
        section: "§5.5.21 (v4), §5.7.7",
        title: "SetFallBackAttribute moves the fall-back attribute to another profile; moved back after",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "eUICC 1 has two profiles of MNO 1, one of them the fall-back profile.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, note the fall-back profile F and another profile T of MNO 1",
            "MNO 1: ES4.SetFallBackAttribute of T; wait for the callback; ES4.GetEIS",
            "MNO 1: ES4.SetFallBackAttribute of F; wait for the callback; ES4.GetEIS",
        ],
        expected: "Each HTTP 202 with a callback ES4-SetFallBackAttributeResponse EXECUTED_SUCCESS; after the first \
                   T alone carries the attribute, after the second F alone",
        note: "An SGP.02 v4 function: no v4 XSD is public, so its messages are marked not validated (the element \
               names and Actions are the project's [P] decisions, es_interfaces::messages::es4v4).",
        run: fallback_moved,
    },
    Case {
        id: "ES4-SetFallBackAttribute-02",
        interface: "ES4",
        section: "§5.5.21 (v4), §5.1.6.4",
        title: "SetFallBackAttribute of the profile that carries it is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 has a fall-back profile of MNO 1.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, pick the fall-back profile",
            "MNO 1: ES4.SetFallBackAttribute of it",
        ],
        expected: "HTTP 200, FAILED 8.2.1/3.8 (profile ICCID, refused)",
        note: "",
        run: fallback_again,
    },
    Case {
        id: "ES4-SetFallBackAttribute-03",
        interface: "ES4",
        section: "§5.5.21 (v4), §5.1.6.4",
        title: "SetFallBackAttribute of an unknown ICCID is refused",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &["MNO 1: ES4.SetFallBackAttribute on eUICC 1 of an ICCID no profile has"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: fallback_unknown,
    },
    Case {
        id: "ES4-SetFallBackAttribute-04",
        interface: "ES4",
        section: "§5.5.21 (v4), §5.1.6.4",
        title: "SetFallBackAttribute of another MNO's profile is refused without revealing it",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 has a profile of MNO 2.",
        steps: &[
            "MNO 2: ES4.GetEIS of eUICC 1, pick a profile",
            "MNO 1: ES4.SetFallBackAttribute of it",
        ],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown), as for an ICCID no profile has",
        note: "",
        run: fallback_other_mno,
    },
    Case {
        id: "ES4-DeleteProfile-01",
        interface: "ES4",
        section: "§5.5.5, §5.1.6.4",
        title: "DeleteProfile of the enabled profile is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 has an enabled profile of MNO 1.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, pick the enabled profile",
            "MNO 1: ES4.DeleteProfile of it",
        ],
        expected: "HTTP 200, FAILED 8.2.1/3.8 (profile ICCID, refused)",
        note: "",
        run: delete_enabled,
    },
    Case {
        id: "ES4-DeleteProfile-02",
        interface: "ES4",
        section: "§5.5.5, §3.5",
        title: "DeleteProfile of a Disabled profile deletes it from the eUICC and the EIS",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES3-Download-01 passed: the suite, as the peers' SM-DP, can download its real profile onto \
                        eUICC 1.",
        steps: &[
            "SM-DP (suite): downloads another copy of its real profile onto eUICC 1 for MNO 2 (as ES3-Download-01, \
             a new ICCID), Disabled",
            "MNO 2: ES4.DeleteProfile of it",
            "MNO 2: ES4.GetEIS of eUICC 1",
        ],
        expected: "HTTP 202, callback ES4-DeleteProfileResponse EXECUTED_SUCCESS; GetEIS no longer shows the profile",
        note: "The SUT deletes the ISD-P on the card (ES5.DeleteProfile); SGP.02 §3.5 also has it notify the SM-DP \
               that downloaded the profile, which this case does not wait for.",
        run: delete_disabled,
    },
    Case {
        id: "ES4-FunctionCallIdentifier-01",
        interface: "ES4",
        section: "§5.1.6",
        title: "The same request under the same FunctionCallIdentifier is answered from the record",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES4-EnableProfile-01 passed in this run.",
        steps: &["MNO 1: the request of ES4-EnableProfile-01 again, same FunctionCallIdentifier"],
        expected: "HTTP 200 with the recorded final result, EXECUTED_SUCCESS; nothing runs twice",
        note: "SGP.02 §5.1.6 makes the identifier unique per call but does not fix how a repeat is answered; the \
               project answers it with the recorded response.",
        run: fci_replay,
    },
    Case {
        id: "ES4-FunctionCallIdentifier-02",
        interface: "ES4",
        section: "§5.1.6, §5.1.6.4",
        title: "Another function under a FunctionCallIdentifier already used is refused",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "ES4-EnableProfile-01 passed in this run.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1 under the FunctionCallIdentifier of ES4-EnableProfile-01",
        ],
        expected: "HTTP 200, FAILED 1.6/3.3 (function, already in use)",
        note: "1.6/3.3 for a reused identifier is the project's reading of §5.1.6.4.",
        run: fci_reused,
    },
    Case {
        id: "ES4-UpdatePolicyRules-01",
        interface: "ES4",
        section: "§5.5, §2.4.5",
        title: "UpdatePolicyRules sets the POL2 of MNO 1's profile, and sets it back",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries a profile of MNO 1.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, pick a profile of MNO 1 and note its pol2",
            "MNO 1: ES4.UpdatePolicyRules of it: PROFILE / DELETE / Not-Allowed (no rule if it had that one)",
            "MNO 1: ES4.GetEIS of eUICC 1",
            "MNO 1: ES4.UpdatePolicyRules of it with the noted pol2, then ES4.GetEIS of eUICC 1",
        ],
        expected: "HTTP 200, EXECUTED_SUCCESS twice; the first GetEIS shows the new pol2, the second the noted one",
        note: "The SM-SR records POL2 in the EIS at once and answers synchronously; SGP.02 does not say whether it \
               must first update the eUICC, and the project does not.",
        run: pol2_set,
    },
    Case {
        id: "ES4-UpdatePolicyRules-02",
        interface: "ES4",
        section: "§5.5, §5.1.6.4",
        title: "UpdatePolicyRules of an unknown ICCID is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 is registered.",
        steps: &["MNO 1: ES4.UpdatePolicyRules of an ICCID no profile has on eUICC 1, empty pol2"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: pol2_unknown,
    },
    Case {
        id: "ES4-UpdatePolicyRules-03",
        interface: "ES4",
        section: "§5.5, §5.1.6.4",
        title: "UpdatePolicyRules of another MNO's profile is refused without revealing it",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries a profile of MNO 2.",
        steps: &[
            "MNO 2: ES4.GetEIS of eUICC 1, pick a profile of MNO 2 and note its pol2",
            "MNO 1: ES4.UpdatePolicyRules of it with that same pol2 (nothing changes if the SUT accepts)",
        ],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "See ES4-EnableProfile-04.",
        run: pol2_other_mno,
    },
    Case {
        id: "ES4-UpdateSubscriptionAddress-01",
        interface: "ES4",
        section: "§5.5",
        title: "UpdateSubscriptionAddress changes the address of MNO 1's profile, and changes it back",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries a profile of MNO 1.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, pick a profile of MNO 1 and note its SubscriptionAddress",
            "MNO 1: ES4.UpdateSubscriptionAddress of it (IMSI 001029999999998, MSISDN 491799999998; the other \
             digits 7 if it has these)",
            "MNO 1: ES4.GetEIS of eUICC 1",
            "MNO 1: ES4.UpdateSubscriptionAddress of it with the noted address, then ES4.GetEIS of eUICC 1",
        ],
        expected: "HTTP 200, EXECUTED_SUCCESS twice; the first GetEIS shows the new address, the second the noted one",
        note: "The SM-SR records the address in the EIS and answers synchronously (SGP.02 leaves the eUICC out of it).",
        run: address_set,
    },
    Case {
        id: "ES4-UpdateSubscriptionAddress-02",
        interface: "ES4",
        section: "§5.5, §5.1.6.4",
        title: "UpdateSubscriptionAddress of an unknown ICCID is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 is registered.",
        steps: &["MNO 1: ES4.UpdateSubscriptionAddress of an ICCID no profile has on eUICC 1"],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: address_unknown,
    },
    Case {
        id: "ES4-UpdateSubscriptionAddress-03",
        interface: "ES4",
        section: "§5.5, §5.1.6.4",
        title: "UpdateSubscriptionAddress of another MNO's profile is refused without revealing it",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 carries a profile of MNO 2.",
        steps: &[
            "MNO 2: ES4.GetEIS of eUICC 1, pick a profile of MNO 2 and note its SubscriptionAddress",
            "MNO 1: ES4.UpdateSubscriptionAddress of it with that same address (nothing changes if the SUT accepts)",
        ],
        expected: "HTTP 200, FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "See ES4-EnableProfile-04.",
        run: address_other_mno,
    },
    Case {
        id: "ES4-PrepareSMSRChange-01",
        interface: "ES4",
        section: "§5.5, §3.8, §5.1.6.4",
        title: "PrepareSMSRChange of an eUICC the SM-SR already manages is refused",
        needs: &[Need::Smsr],
        preconditions: "eUICC 1 is registered.",
        steps: &["MNO 1: ES4.PrepareSMSRChange of eUICC 1, CurrentSMSRid = an OID no SM-SR has"],
        expected: "HTTP 200, FAILED 8.1.1/3.3 (EID, already in use); no change expected",
        note: "PrepareSMSRChange goes to the new SM-SR (§3.8 step 1); an eUICC it already manages cannot move to \
               it. 3.3 for that is the project's reading of §5.1.6.4.",
        run: prepare_known_eid,
    },
    Case {
        id: "ES4-PrepareSMSRChange-02",
        interface: "ES4",
        section: "§5.5, §3.8, §5.1.6.4",
        title: "PrepareSMSRChange naming a current SM-SR the SUT does not know is refused",
        needs: &[Need::Smsr],
        preconditions: "None.",
        steps: &[
            "MNO 1: ES4.PrepareSMSRChange of an EID no eUICC has, CurrentSMSRid = an OID no SM-SR has",
        ],
        expected: "HTTP 200, FAILED 8.7/3.9 (SM-SR, unknown); no change expected",
        note: "The project refuses a current SM-SR it cannot reach over ES7 at once rather than waiting for a \
               HandoverEUICC that cannot come.",
        run: prepare_unknown_smsr,
    },
    Case {
        id: "ES4-SMSRChange-01",
        interface: "ES4",
        section: "§5.5, §3.8, §5.1.6.4",
        title: "SMSRChange of an unknown EID is refused",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "None.",
        steps: &[
            "MNO 1: ES4.SMSRChange of an EID no eUICC has, Target-Smsr-id = an OID no SM-SR has",
        ],
        expected: "HTTP 200, FAILED 8.1.1/3.9 (EID, unknown)",
        note: "Needs ES5: the project refuses SMSRChange first when it cannot reach eUICCs at all.",
        run: change_unknown_eid,
    },
    Case {
        id: "ES4-SMSRChange-02",
        interface: "ES4",
        section: "§5.5, §3.8, §5.1.6.4",
        title: "SMSRChange by an MNO whose profile is not the enabled one is refused",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "eUICC 1's enabled profile is MNO 1's; eUICC 1 carries a profile of MNO 2.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, check that a profile of MNO 1 is enabled",
            "MNO 2: ES4.SMSRChange of eUICC 1, Target-Smsr-id = an OID no SM-SR has",
        ],
        expected: "HTTP 200, FAILED 8.6/1.2 (EIS, not allowed); no change starts",
        note: "SGP.02 §3.8 leaves who may ask open; the project lets only the MNO of the enabled profile move the \
               eUICC (docs/architecture.md).",
        run: change_other_mno,
    },
    Case {
        id: "ES4-SMSRChange-03",
        interface: "ES4",
        section: "§5.5, §3.8, §5.1.6.4",
        title: "SMSRChange to a target SM-SR the SUT does not know is refused",
        needs: &[Need::Smsr, Need::Es5],
        preconditions: "eUICC 1's enabled profile is MNO 1's.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 1, check that a profile of MNO 1 is enabled",
            "MNO 1: ES4.SMSRChange of eUICC 1, Target-Smsr-id = an OID no SM-SR has",
        ],
        expected: "HTTP 200, FAILED 8.7/3.9 (SM-SR, unknown); no change starts",
        note: "",
        run: change_unknown_target,
    },
];

pub(super) fn eid0(ctx: &Ctx) -> Result<String, Finding> {
    ctx.world
        .euiccs
        .first()
        .map(|e| e.eid.clone())
        .ok_or_else(|| Finding::Inconclusive("the peers have no eUICC".into()))
}

pub(super) fn mno_oid(ctx: &Ctx, i: usize) -> Result<String, Finding> {
    ctx.world
        .manifest
        .mnos
        .get(i)
        .map(|m| m.entity.oid.clone())
        .ok_or_else(|| Finding::Inconclusive(format!("the peers have no MNO {}", i + 1)))
}

pub(super) fn parse<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, Finding>
where
    T::Err: std::fmt::Display,
{
    v.parse()
        .map_err(|e| Finding::Inconclusive(format!("{what} {v}: {e}")))
}

pub(super) fn decode<T: BodyElement>(envelope: &str) -> Result<T, Finding> {
    let env = Envelope::parse(envelope.as_bytes())
        .map_err(|e| Finding::Fail(format!("the answer is no SOAP envelope: {e}")))?;
    T::decode_body(env.body())
        .map_err(|e| Finding::Fail(format!("the answer is no {}: {e}", T::ELEMENT)))
}

fn get_eis(ctx: &Ctx, eid: &str, what: &str) -> Result<es4::GetEisRequest, Finding> {
    Ok(es4::GetEisRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", eid)?,
    })
}

fn enable(
    ctx: &Ctx,
    eid: &str,
    iccid: &str,
    what: &str,
) -> Result<es4::EnableProfileRequest, Finding> {
    Ok(es4::EnableProfileRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", eid)?,
        iccid: parse("ICCID", iccid)?,
    })
}

/// MNO `mno`'s view of eUICC 1 (a precondition step: a refusal is INCONCLUSIVE).
pub(super) async fn view(ctx: &Ctx, mno: usize, what: &str) -> Result<Eis, Finding> {
    let out = ctx.es4(mno, &get_eis(ctx, &eid0(ctx)?, what)?).await?;
    expect(
        out.http_status,
        &out.envelope,
        200,
        Status::ExecutedSuccess,
        None,
    )
    .map_err(|f| match f {
        Finding::Fail(why) => {
            Finding::Inconclusive(format!("precondition: ES4.GetEIS of eUICC 1: {why}"))
        }
        f => f,
    })?;
    decode::<es4::GetEisResponse>(&out.envelope)?
        .eis
        .ok_or_else(|| Finding::Inconclusive("precondition: the GetEIS answer has no Eis".into()))
}

/// The EIS's profiles of other MNOs than `oid`, as ICCIDs.
fn foreign_profiles(eis: &Eis, oid: &str) -> Vec<String> {
    eis.profile_info
        .iter()
        .filter(|p| p.mno_id.to_string() != oid)
        .map(|p| p.iccid.to_string())
        .collect()
}

fn get_eis_own(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let out = ctx.es4(0, &get_eis(ctx, &eid, "get-own")?).await?;
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let eis = decode::<es4::GetEisResponse>(&out.envelope)?.eis;
        own_view(ctx, eis, &eid, seen, "eUICC 1 carries no profile of MNO 1")
    })
}

/// Checks MNO 1's view of an EIS (GetEIS answered EXECUTED_SUCCESS as `seen`): the EIS of `eid`, only MNO 1's
/// Checks MNO 2's view of an EIS (GetEIS answered EXECUTED_SUCCESS as `seen`): none of the profiles of MNO 1
/// (OID `mno1`) shown (SGP.02 §5.5.1, §5.3.1).
pub(super) fn none_of_mno1(eis: Option<Eis>, mno1: &str, seen: String) -> CaseOutcome {
    let eis = eis.ok_or_else(|| Finding::Fail("EXECUTED_SUCCESS without an Eis".into()))?;
    let leaked: Vec<String> = eis
        .profile_info
        .iter()
        .filter(|p| p.mno_id.to_string() == mno1)
        .map(|p| p.iccid.to_string())
        .collect();
    if !leaked.is_empty() {
        return Err(Finding::Fail(format!(
            "MNO 2 sees MNO 1's profiles: {}",
            leaked.join(", ")
        )));
    }
    Ok(format!("{seen}; none of MNO 1's profiles shown"))
}

/// profiles (SGP.02 §5.5.1, §5.3.1), and at least one (else the precondition `missing` is unmet).
pub(super) fn own_view(
    ctx: &Ctx,
    eis: Option<Eis>,
    eid: &str,
    seen: String,
    missing: &str,
) -> CaseOutcome {
    let eis = eis.ok_or_else(|| Finding::Fail("EXECUTED_SUCCESS without an Eis".into()))?;
    if eis.eum_signed_info.eid.to_string() != eid {
        return Err(Finding::Fail(format!(
            "asked for {eid}, got the EIS of {}",
            eis.eum_signed_info.eid
        )));
    }
    let foreign = foreign_profiles(&eis, &mno_oid(ctx, 0)?);
    if !foreign.is_empty() {
        return Err(Finding::Fail(format!(
            "MNO 1 sees profiles of other MNOs: {}",
            foreign.join(", ")
        )));
    }
    if eis.profile_info.is_empty() {
        return Err(Finding::Inconclusive(format!("precondition: {missing}")));
    }
    Ok(format!(
        "{seen}; {} profile(s), all MNO 1's",
        eis.profile_info.len()
    ))
}

fn get_eis_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es4(0, &get_eis(ctx, UNKNOWN_EID, "get-unknown")?)
            .await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.1.1", "3.9")),
        )
    })
}

fn get_eis_other_mno(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let mno1 = mno_oid(ctx, 0)?;
        mno_oid(ctx, 1)?;
        let eid = eid0(ctx)?;
        let out = ctx.es4(1, &get_eis(ctx, &eid, "get-other")?).await?;
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let eis = decode::<es4::GetEisResponse>(&out.envelope)?.eis;
        none_of_mno1(eis, &mno1, seen)
    })
}

fn get_eis_missing_eid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let body = format!(
            "<rps:ES4-GetEISRequest xmlns:rps=\"{}\"><rps:FunctionCallIdentifier>{}</rps:FunctionCallIdentifier>\
             </rps:ES4-GetEISRequest>",
            es_interfaces::messages::codec::RPS_NS,
            ctx.fci("no-eid")
        );
        let env = ctx.es4_envelope(Peer::Mno(0), action::ES4_GET_EIS.request, &body)?;
        let (http, answer) = ctx
            .post_malformed(
                Peer::Mno(0),
                Service::Es4SmSr,
                action::ES4_GET_EIS.request,
                "ES4-GetEISRequest (no Eid)",
                env,
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

/// Expects an asynchronous acceptance (HTTP 202) and the callback `element` with EXECUTED_SUCCESS.
pub(super) async fn accepted_then_success(
    ctx: &Ctx,
    out: &CallOutcome,
    element: &str,
) -> Result<crate::mno::Received, Finding> {
    if out.http_status != 202 {
        let st = super::ctx::status_in(&out.envelope)
            .map(|s| super::ctx::describe(&s))
            .unwrap_or_default();
        return Err(Finding::Fail(format!(
            "expected HTTP 202 (accepted, result by callback), got HTTP {} {st}",
            out.http_status
        )));
    }
    let cb = ctx.callback(out).await?;
    if cb.element != element {
        return Err(Finding::Fail(format!(
            "the callback is {}, expected {element}",
            cb.element
        )));
    }
    expect(200, &cb.envelope, 200, Status::ExecutedSuccess, None)?;
    Ok(cb)
}

fn enable_disabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let eis = view(ctx, 0, "enable-pre").await?;
        let iccid = eis
            .profile_info
            .iter()
            .find(|p| p.state == ProfileState::Disabled)
            .map(|p| p.iccid.to_string())
            .ok_or_else(|| {
                Finding::Inconclusive(
                    "precondition: MNO 1 has no disabled profile on eUICC 1".into(),
                )
            })?;
        let req = enable(ctx, &eid, &iccid, "enable")?;
        let out = ctx.es4(0, &req).await?;
        accepted_then_success(ctx, &out, "ES4-EnableProfileResponse").await?;
        ctx.remember("enable-fci", req.base.function_call_identifier.clone());
        ctx.remember("enable-fci-iccid", iccid.clone());
        ctx.notification("ES4-HandleProfileEnabledNotification", &iccid)
            .await?;
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS, HandleProfileEnabledNotification for {iccid}"
        ))
    })
}

fn enable_enabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let eis = view(ctx, 0, "enabled-pre").await?;
        let iccid = eis
            .profile_info
            .iter()
            .find(|p| p.state == ProfileState::Enabled)
            .map(|p| p.iccid.to_string())
            .ok_or_else(|| {
                Finding::Inconclusive(
                    "precondition: MNO 1 has no enabled profile on eUICC 1".into(),
                )
            })?;
        refused(ctx, &enable(ctx, &eid, &iccid, "enable-enabled")?, "3.8").await
    })
}

fn enable_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        refused(
            ctx,
            &enable(ctx, &eid, UNKNOWN_ICCID, "enable-unknown")?,
            "3.9",
        )
        .await
    })
}

fn enable_other_mno(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let iccid = other_mno_profile(ctx, "other-pre").await?;
        refused(ctx, &enable(ctx, &eid, &iccid, "enable-other")?, "3.9").await
    })
}

fn audit_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let out = ctx
            .es4(
                0,
                &es4::AuditEisRequest {
                    base: base(&ctx.fci("audit"), None),
                    eid: parse("EID", &eid)?,
                    iccids: Vec::new(),
                },
            )
            .await?;
        let cb = accepted_then_success(ctx, &out, "ES4-AuditEISResponse").await?;
        let eis = decode::<es4::AuditEisResponse>(&cb.envelope)?
            .eis
            .ok_or_else(|| Finding::Fail("the callback carries no Eis".into()))?;
        if eis.eum_signed_info.eid.to_string() != eid {
            return Err(Finding::Fail(format!(
                "audited {eid}, the callback carries the EIS of {}",
                eis.eum_signed_info.eid
            )));
        }
        let foreign = foreign_profiles(&eis, &mno_oid(ctx, 0)?);
        if !foreign.is_empty() {
            return Err(Finding::Fail(format!(
                "the audit shows MNO 1 profiles of other MNOs: {}",
                foreign.join(", ")
            )));
        }
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS, {} profile(s) of MNO 1",
            eis.profile_info.len()
        ))
    })
}

fn audit_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es4(
                0,
                &es4::AuditEisRequest {
                    base: base(&ctx.fci("audit-unknown"), None),
                    eid: parse("EID", UNKNOWN_EID)?,
                    iccids: Vec::new(),
                },
            )
            .await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.1.1", "3.9")),
        )
    })
}

fn get_eis_wrong_role(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(get_eis_as(ctx, Peer::Eum, "eum-on-es4", ("1.1", "1.2")))
}

fn get_eis_stranger(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(get_eis_as(ctx, Peer::Stranger, "stranger", ("1.1", "1.1")))
}

/// ES4.GetEIS of eUICC 0 sent by `peer`, which may not call it: FAILED with `codes`.
async fn get_eis_as(
    ctx: &Ctx,
    peer: Peer,
    label: &str,
    codes: (&str, &str),
) -> Result<String, Finding> {
    let body = get_eis(ctx, &eid0(ctx)?, label)?.to_xml();
    let env = ctx.es4_envelope(peer, action::ES4_GET_EIS.request, &body)?;
    let (http, answer) = ctx
        .post(
            peer,
            Service::Es4SmSr,
            action::ES4_GET_EIS.request,
            "ES4-GetEISRequest",
            env,
        )
        .await?;
    expect(http, &answer, 200, Status::Failed, Some(codes))
}

/// MNO 1's profile on eUICC 1 that is enabled, with its fall-back attribute.
async fn enabled_profile(ctx: &Ctx, what: &str) -> Result<(String, bool), Finding> {
    view(ctx, 0, what)
        .await?
        .profile_info
        .iter()
        .find(|p| p.state == ProfileState::Enabled)
        .map(|p| (p.iccid.to_string(), p.fallback_attribute))
        .ok_or_else(|| {
            Finding::Inconclusive("precondition: MNO 1 has no enabled profile on eUICC 1".into())
        })
}

fn disable_enabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let (iccid, fallback) = enabled_profile(ctx, "disable-pre").await?;
        if fallback {
            return Err(Finding::Inconclusive(format!(
                "precondition: the enabled profile {iccid} is the fall-back profile"
            )));
        }
        let out = ctx
            .es4(
                0,
                &es4::DisableProfileRequest {
                    base: base(&ctx.fci("disable"), None),
                    eid: parse("EID", &eid)?,
                    iccid: parse("ICCID", &iccid)?,
                },
            )
            .await?;
        accepted_then_success(ctx, &out, "ES4-DisableProfileResponse").await?;
        ctx.notification("ES4-HandleProfileDisabledNotification", &iccid)
            .await?;
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS, HandleProfileDisabledNotification for {iccid}"
        ))
    })
}

fn disable_fallback(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let (iccid, fallback) = enabled_profile(ctx, "fallback-pre").await?;
        if !fallback {
            return Err(Finding::Inconclusive(format!(
                "precondition: the enabled profile {iccid} is not the fall-back profile"
            )));
        }
        refused(
            ctx,
            &es4::DisableProfileRequest {
                base: base(&ctx.fci("disable-fallback"), None),
                eid: parse("EID", &eid)?,
                iccid: parse("ICCID", &iccid)?,
            },
            "3.8",
        )
        .await
    })
}

/// Sends `req` as MNO 1 and expects it refused at once: HTTP 200, FAILED 8.2.1 (profile ICCID) with `reason`.
async fn refused<T: BodyElement>(ctx: &Ctx, req: &T, reason: &str) -> CaseOutcome {
    let out = ctx.es4(0, req).await?;
    expect(
        out.http_status,
        &out.envelope,
        200,
        Status::Failed,
        Some(("8.2.1", reason)),
    )
}

/// A profile of MNO 2 on eUICC 1, as MNO 2 sees it (a precondition step).
async fn other_mno_profile(ctx: &Ctx, what: &str) -> Result<String, Finding> {
    view(ctx, 1, what)
        .await?
        .profile_info
        .first()
        .map(|p| p.iccid.to_string())
        .ok_or_else(|| {
            Finding::Inconclusive("precondition: MNO 2 has no profile on eUICC 1".into())
        })
}

fn set_fallback(
    ctx: &Ctx,
    iccid: &str,
    what: &str,
) -> Result<es4v4::SetFallBackAttributeRequest, Finding> {
    Ok(es4v4::SetFallBackAttributeRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", &eid0(ctx)?)?,
        iccid: parse("ICCID", iccid)?,
    })
}

/// The ICCIDs of the profiles of `eis` carrying the fall-back attribute.
fn fallback_holders(eis: &Eis) -> Vec<String> {
    eis.profile_info
        .iter()
        .filter(|p| p.fallback_attribute)
        .map(|p| p.iccid.to_string())
        .collect()
}

/// Gives `iccid` the fall-back attribute (202, then a successful callback) and checks that MNO 1's view shows
/// it on that profile alone.
async fn move_fallback(ctx: &Ctx, iccid: &str, what: &str) -> Result<(), Finding> {
    let out = ctx.es4(0, &set_fallback(ctx, iccid, what)?).await?;
    accepted_then_success(ctx, &out, "ES4-SetFallBackAttributeResponse").await?;
    let holders = fallback_holders(&view(ctx, 0, &format!("{what}-seen")).await?);
    if holders != [iccid] {
        return Err(Finding::Fail(format!(
            "after SetFallBackAttribute of {iccid} the fall-back profiles of MNO 1 are {holders:?}"
        )));
    }
    Ok(())
}

fn fallback_moved(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eis = view(ctx, 0, "fallback-move-pre").await?;
        let (Some(from), Some(to)) = (
            eis.profile_info.iter().find(|p| p.fallback_attribute),
            eis.profile_info
                .iter()
                .find(|p| !p.fallback_attribute && p.state != ProfileState::Created),
        ) else {
            return Err(Finding::Inconclusive(
                "precondition: eUICC 1 has no fall-back profile of MNO 1 and another one".into(),
            ));
        };
        let (from, to) = (from.iccid.to_string(), to.iccid.to_string());
        move_fallback(ctx, &to, "fallback-move").await?;
        move_fallback(ctx, &from, "fallback-restore").await?;
        Ok(format!(
            "the attribute moved to {to} and back to {from}, each with HTTP 202 and a callback EXECUTED_SUCCESS"
        ))
    })
}

fn fallback_again(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eis = view(ctx, 0, "fallback-again-pre").await?;
        let Some(iccid) = fallback_holders(&eis).pop() else {
            return Err(Finding::Inconclusive(
                "precondition: eUICC 1 has no fall-back profile of MNO 1".into(),
            ));
        };
        refused(ctx, &set_fallback(ctx, &iccid, "fallback-again")?, "3.8").await
    })
}

fn fallback_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        refused(
            ctx,
            &set_fallback(ctx, UNKNOWN_ICCID, "fallback-unknown")?,
            "3.9",
        )
        .await
    })
}

fn fallback_other_mno(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let iccid = other_mno_profile(ctx, "fallback-other-pre").await?;
        refused(ctx, &set_fallback(ctx, &iccid, "fallback-other")?, "3.9").await
    })
}

fn delete_enabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let (iccid, _) = enabled_profile(ctx, "delete-pre").await?;
        refused(
            ctx,
            &es4::DeleteProfileRequest {
                base: base(&ctx.fci("delete-enabled"), None),
                eid: parse("EID", &eid)?,
                iccid: parse("ICCID", &iccid)?,
            },
            "3.8",
        )
        .await
    })
}

fn delete_disabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid0(ctx)?;
        let iccid = super::es3::download_another(ctx).await?;
        let mno = 1.min(ctx.world.manifest.mnos.len().saturating_sub(1));
        let req = es4::DeleteProfileRequest {
            base: base(&ctx.fci("delete-disabled"), None),
            eid: parse("EID", &eid)?,
            iccid: parse("ICCID", &iccid)?,
        };
        let out = ctx.es4(mno, &req).await?;
        accepted_then_success(ctx, &out, "ES4-DeleteProfileResponse").await?;
        let eis = view(ctx, mno, "delete-disabled-view").await?;
        if let Some(p) = eis.profile_info.iter().find(|p| p.iccid.as_str() == iccid) {
            return Err(Finding::Fail(format!(
                "callback EXECUTED_SUCCESS, but the GetEIS still shows {iccid} {:?}",
                p.state
            )));
        }
        Ok(format!(
            "{iccid} downloaded Disabled; HTTP 202, callback EXECUTED_SUCCESS; no longer in the GetEIS"
        ))
    })
}

fn enable_fci(ctx: &Ctx) -> Result<String, Finding> {
    ctx.require_passed("ES4-EnableProfile-01")?;
    ctx.recall("enable-fci")
        .ok_or_else(|| Finding::Inconclusive("ES4-EnableProfile-01 left no identifier".into()))
}

fn fci_replay(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let fci = enable_fci(ctx)?;
        // The request of ES4-EnableProfile-01: the same EID, ICCID and identifier.
        let first = ctx
            .recall("enable-fci-iccid")
            .ok_or_else(|| Finding::Inconclusive("ES4-EnableProfile-01 left no ICCID".into()))?;
        let req = es4::EnableProfileRequest {
            base: base(&fci, None),
            eid: parse("EID", &eid0(ctx)?)?,
            iccid: parse("ICCID", &first)?,
        };
        let out = ctx.es4(0, &req).await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )
    })
}

fn fci_reused(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let fci = enable_fci(ctx)?;
        let req = es4::GetEisRequest {
            base: base(&fci, None),
            eid: parse("EID", &eid0(ctx)?)?,
        };
        let out = ctx.es4(0, &req).await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("1.6", "3.3")),
        )
    })
}

/// ES4.UpdatePolicyRules of `iccid` on eUICC 1 by MNO `mno`.
async fn send_pol2(
    ctx: &Ctx,
    mno: usize,
    iccid: &str,
    pol2: Pol2,
    what: &str,
) -> Result<CallOutcome, Finding> {
    let req = es4::UpdatePolicyRulesRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", &eid0(ctx)?)?,
        iccid: parse("ICCID", iccid)?,
        pol2,
    };
    ctx.es4(mno, &req).await
}

/// ES4.UpdateSubscriptionAddress of `iccid` on eUICC 1 by MNO `mno`.
async fn send_address(
    ctx: &Ctx,
    mno: usize,
    iccid: &str,
    address: SubscriptionAddress,
    what: &str,
) -> Result<CallOutcome, Finding> {
    let req = es4::UpdateSubscriptionAddressRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", &eid0(ctx)?)?,
        iccid: parse("ICCID", iccid)?,
        new_subscription_address: address,
    };
    ctx.es4(mno, &req).await
}

/// The first profile MNO `mno` sees on eUICC 1 (a precondition step).
async fn first_profile(ctx: &Ctx, mno: usize, what: &str) -> Result<ProfileInfo, Finding> {
    view(ctx, mno, what)
        .await?
        .profile_info
        .into_iter()
        .next()
        .ok_or_else(|| {
            Finding::Inconclusive(format!(
                "precondition: MNO {} has no profile on eUICC 1",
                mno + 1
            ))
        })
}

/// `iccid` as MNO 1 sees it on eUICC 1 after a change (its absence fails the case).
async fn shown(ctx: &Ctx, iccid: &str, what: &str) -> Result<ProfileInfo, Finding> {
    let out = ctx.es4(0, &get_eis(ctx, &eid0(ctx)?, what)?).await?;
    expect(
        out.http_status,
        &out.envelope,
        200,
        Status::ExecutedSuccess,
        None,
    )?;
    decode::<es4::GetEisResponse>(&out.envelope)?
        .eis
        .and_then(|e| {
            e.profile_info
                .into_iter()
                .find(|p| p.iccid.to_string() == iccid)
        })
        .ok_or_else(|| Finding::Fail(format!("MNO 1's GetEIS no longer shows {iccid}")))
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
        let p = first_profile(ctx, 0, "pol2-pre").await?;
        let iccid = p.iccid.to_string();
        let noted = p.pol2;
        let target = if noted == delete_not_allowed() {
            Pol2 { rules: Vec::new() }
        } else {
            delete_not_allowed()
        };
        let out = send_pol2(ctx, 0, &iccid, target.clone(), "pol2-set").await?;
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let after = shown(ctx, &iccid, "pol2-set-view").await?;
        // Set back whatever the GetEIS showed, so that the later cases find eUICC 1 as it was.
        let back = send_pol2(ctx, 0, &iccid, noted.clone(), "pol2-restore").await?;
        if after.pol2 != target {
            return Err(Finding::Fail(format!(
                "{seen}, but the GetEIS shows pol2 {:?} instead of {target:?}",
                after.pol2
            )));
        }
        expect(
            back.http_status,
            &back.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )
        .map_err(|f| match f {
            Finding::Fail(why) => Finding::Fail(format!("setting the pol2 back: {why}")),
            f => f,
        })?;
        let restored = shown(ctx, &iccid, "pol2-restore-view").await?;
        if restored.pol2 != noted {
            return Err(Finding::Fail(format!(
                "set back to {noted:?}, the GetEIS shows pol2 {:?}",
                restored.pol2
            )));
        }
        Ok(format!(
            "{seen}; pol2 {target:?} shown on {iccid}, then {noted:?} again"
        ))
    })
}

fn pol2_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = send_pol2(
            ctx,
            0,
            UNKNOWN_ICCID,
            Pol2 { rules: Vec::new() },
            "pol2-unknown",
        )
        .await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
    })
}

fn pol2_other_mno(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = first_profile(ctx, 1, "pol2-other-pre").await?;
        let out = send_pol2(ctx, 0, &p.iccid.to_string(), p.pol2, "pol2-other").await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
    })
}

/// IMSI 0010299999999`d`d and MSISDN 4917999999`d`d of the new address: 8 unless the profile has those.
fn new_address(noted: &SubscriptionAddress) -> Result<SubscriptionAddress, Finding> {
    let imsi8 = "001029999999998";
    let had = noted.imsi.as_ref().map(|i| i.to_string()).as_deref() == Some(imsi8);
    let (imsi, msisdn) = if had {
        ("001029999999997", "491799999997")
    } else {
        (imsi8, "491799999998")
    };
    Ok(SubscriptionAddress {
        imsi: Some(parse("IMSI", imsi)?),
        msisdn: Some(parse("MSISDN", msisdn)?),
    })
}

fn address_set(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = first_profile(ctx, 0, "address-pre").await?;
        let iccid = p.iccid.to_string();
        let noted = p.subscription_address;
        let target = new_address(&noted)?;
        let out = send_address(ctx, 0, &iccid, target.clone(), "address-set").await?;
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let after = shown(ctx, &iccid, "address-set-view").await?;
        // Set back whatever the GetEIS showed, so that the later cases find eUICC 1 as it was.
        let back = send_address(ctx, 0, &iccid, noted.clone(), "address-restore").await?;
        if after.subscription_address != target {
            return Err(Finding::Fail(format!(
                "{seen}, but the GetEIS shows {:?} instead of {target:?}",
                after.subscription_address
            )));
        }
        expect(
            back.http_status,
            &back.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )
        .map_err(|f| match f {
            Finding::Fail(why) => Finding::Fail(format!("setting the address back: {why}")),
            f => f,
        })?;
        let restored = shown(ctx, &iccid, "address-restore-view").await?;
        if restored.subscription_address != noted {
            return Err(Finding::Fail(format!(
                "set back to {noted:?}, the GetEIS shows {:?}",
                restored.subscription_address
            )));
        }
        Ok(format!(
            "{seen}; the new address shown on {iccid}, then the noted one again"
        ))
    })
}

fn address_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let address = new_address(&SubscriptionAddress {
            imsi: None,
            msisdn: None,
        })?;
        let out = send_address(ctx, 0, UNKNOWN_ICCID, address, "address-unknown").await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
    })
}

fn address_other_mno(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = first_profile(ctx, 1, "address-other-pre").await?;
        let out = send_address(
            ctx,
            0,
            &p.iccid.to_string(),
            p.subscription_address,
            "address-other",
        )
        .await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
    })
}

/// An OID under the peers' arc that no entity has: an SM-SR the SUT does not know.
fn unknown_smsr(ctx: &Ctx) -> Result<Oid, Finding> {
    parse("OID", &format!("{}.98", ctx.world.manifest.oid_arc))
}

/// ES4.PrepareSMSRChange of `eid` by MNO 1, naming an unknown current SM-SR.
async fn prepare(ctx: &Ctx, eid: &str, what: &str) -> Result<CallOutcome, Finding> {
    let req = es4::PrepareSmsrChangeRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", eid)?,
        current_smsr_id: unknown_smsr(ctx)?,
    };
    ctx.es4(0, &req).await
}

/// ES4.SMSRChange of `eid` by MNO `mno`, to an unknown target SM-SR.
async fn change(ctx: &Ctx, mno: usize, eid: &str, what: &str) -> Result<CallOutcome, Finding> {
    let req = es4::SmsrChangeRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", eid)?,
        target_smsr_id: unknown_smsr(ctx)?,
    };
    ctx.es4(mno, &req).await
}

fn prepare_known_eid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = prepare(ctx, &eid0(ctx)?, "prepare-known").await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.1.1", "3.3")),
        )
    })
}

fn prepare_unknown_smsr(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = prepare(ctx, UNKNOWN_EID, "prepare-unknown").await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.7", "3.9")),
        )
    })
}

fn change_unknown_eid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = change(ctx, 0, UNKNOWN_EID, "change-unknown").await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.1.1", "3.9")),
        )
    })
}

fn change_other_mno(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        enabled_profile(ctx, "change-other-pre").await?;
        first_profile(ctx, 1, "change-other-pre2").await?;
        let out = change(ctx, 1, &eid0(ctx)?, "change-other").await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.6", "1.2")),
        )
    })
}

fn change_unknown_target(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        enabled_profile(ctx, "change-target-pre").await?;
        let out = change(ctx, 0, &eid0(ctx)?, "change-target").await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.7", "3.9")),
        )
    })
}
