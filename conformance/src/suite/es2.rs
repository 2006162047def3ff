//! ES2 cases against an SM-DP (SGP.02 §5.3), the suite playing the MNOs of the peers with their callback
//! receiver (`<receiver>/es2`, which the SUT must have as each MNO's ES2 endpoint). They use the peers' eUICC 2
//! (index 1; eUICC 1 is the ES4 cases'), reached by the SUT's SM-DP through the peers' SM-SR, named in every
//! request (`SmSr-id`); MNO 1 must have the profile type [`PROFILE_TYPE`] in stock at the SUT.
//!
//! SGP.02 lets a function provider answer any ES2 function synchronously (HTTP 200 with the response) or
//! asynchronously (HTTP 202, the response as a callback to `wsa:ReplyTo`, Annex B); the refusals below accept
//! either and check the final FunctionExecutionStatus. The functions the SM-DP relays to the SM-SR (Enable,
//! Disable, DeleteProfile) end with a callback whichever answered.

use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::{Pol2, Pol2Rule, SubscriptionAddress};
use es_interfaces::messages::eis::{Eis, ProfileInfo};
use es_interfaces::messages::{es2, es3};
use es_interfaces::soap::action;
use es_interfaces::status::Status;
use es_interfaces::types::{
    Oid, Pol2RuleAction, Pol2RuleQualification, Pol2RuleSubject, ProfileState,
};

use super::ctx::{Es2Caller, describe, expect, status_in};
use super::es4::{
    UNKNOWN_EID, UNKNOWN_ICCID, accepted_then_success, decode, mno_oid, none_of_mno1, own_view,
    parse,
};
use super::{Case, CaseFuture, Ctx, Finding, Need};
use crate::mno::{CallOutcome, base};

/// The profile type MNO 1 must have at the SUT's SM-DP, with at least [`STOCK_NEEDED`] records in stock
/// (SGP.02 §5.3.2 `ProfileType`), for the DownloadProfile cases.
pub const PROFILE_TYPE: &str = "conformance";

/// Stock records of [`PROFILE_TYPE`] a run takes at most (here: a download kept, one refused after
/// reservation, one expired; [`super::es3_caller`]: a download kept, one refused at ES3.CreateISDP, one failed
/// at ES3.SendData).
pub const STOCK_NEEDED: usize = 6;

/// The peers' eUICC the ES2 cases use (eUICC 2).
const EUICC: usize = 1;

/// A profile type no MNO has.
const UNKNOWN_TYPE: &str = "conformance-no-such-type";

/// The ES2 catalogue, in run order.
pub static CASES: &[Case] = &[
    Case {
        id: "ES2-GetEIS-01",
        interface: "ES2",
        section: "§5.3.1",
        title: "GetEIS returns the EIS with the calling MNO's profiles that the SM-DP manages",
        needs: &[Need::Smdp],
        preconditions: "The peers' eUICC 2 carries a profile of MNO 1 that the SUT's SM-DP manages (downloaded by \
                        it) and is registered at the peers' SM-SR.",
        steps: &["MNO 1: ES2.GetEIS of eUICC 2 at the peers' SM-SR"],
        expected: "HTTP 200, EXECUTED_SUCCESS, an Eis with that EID whose ProfileInfo all have Mno-id = MNO 1",
        note: "That the EIS is reduced to the caller's profiles among those the SM-DP manages is the project's \
               reading of §5.3.1 (docs/architecture.md).",
        run: get_eis_own,
    },
    Case {
        id: "ES2-GetEIS-02",
        interface: "ES2",
        section: "§5.3.1, §5.1.6.4",
        title: "GetEIS of an unknown EID is refused",
        needs: &[Need::Smdp],
        preconditions: "None.",
        steps: &["MNO 1: ES2.GetEIS of an EID no eUICC has"],
        expected: "FAILED 8.1.1/3.9 (EID, unknown)",
        note: "",
        run: get_eis_unknown,
    },
    Case {
        id: "ES2-GetEIS-03",
        interface: "ES2",
        section: "§5.3.1",
        title: "Another MNO reading the same eUICC sees none of MNO 1's profiles",
        needs: &[Need::Smdp],
        preconditions: "The peers have two MNOs.",
        steps: &["MNO 2: ES2.GetEIS of eUICC 2"],
        expected: "EXECUTED_SUCCESS with no ProfileInfo of MNO 1, or FAILED 8.1.1/3.9 when the SM-DP manages no \
                   profile of MNO 2 there",
        note: "The project answers an eUICC with no profile of the caller among those it manages as unknown \
               (8.1.1/3.9), so that an MNO learns nothing of others' eUICCs.",
        run: get_eis_other_mno,
    },
    Case {
        id: "ES2-GetEIS-04",
        interface: "ES2",
        section: "§5.3.1, §5.1.6.4",
        title: "GetEIS naming an SM-SR the SM-DP does not know is refused",
        needs: &[Need::Smdp],
        preconditions: "No entity of the SUT has the OID <peers' OID arc>.98.",
        steps: &["MNO 1: ES2.GetEIS of eUICC 2 with SmSr-id = an unregistered OID"],
        expected: "FAILED 8.7/3.9 (SM-SR, unknown)",
        note: "",
        run: get_eis_unknown_smsr,
    },
    Case {
        id: "ES2-GetEIS-05",
        interface: "ES2",
        section: "§5.3.1, §5.1.6.4",
        title: "GetEIS without the mandatory Eid is refused naming the element",
        needs: &[Need::Smdp],
        preconditions: "None.",
        steps: &["MNO 1: ES2-GetEISRequest with a FunctionCallIdentifier and an SmSr-id, no Eid"],
        expected: "HTTP 200, FAILED 1.6/2.2 (function, mandatory element missing) naming Eid",
        note: "",
        run: get_eis_missing_eid,
    },
    Case {
        id: "ES2-GetEIS-06",
        interface: "ES2",
        section: "§5.1.6.4, Annex B",
        title: "A request that is not well-formed XML is refused with a SOAP Fault",
        needs: &[Need::Smdp],
        preconditions: "None.",
        steps: &["MNO 1: POST a truncated ES2.GetEIS envelope to ES2"],
        expected: "HTTP 400, a SOAP Fault carrying FAILED 1.6/2.1 (function, invalid)",
        note: "SGP.02 gives the status codes, not the HTTP status: HTTP 400 with a SOAP 1.2 Sender fault is the \
               project's binding of a message it cannot parse (SOAP 1.2 Part 2 §7.5.1.2).",
        run: get_eis_not_xml,
    },
    Case {
        id: "ES2-GetEIS-07",
        interface: "ES2",
        section: "§5.3.1, §5.1.6.4",
        title: "An SM-SR may not call ES2 (wrong role)",
        needs: &[Need::Smdp],
        preconditions: "The SUT's SM-DP has the peers' SM-SR registered with its TLS client certificate (as its \
                        ES3 peer).",
        steps: &["SM-SR: ES2.GetEIS of eUICC 2 with the peers' SM-SR TLS client certificate"],
        expected: "HTTP 200, FAILED 1.1/1.2 (function requester, not allowed)",
        note: "",
        run: get_eis_as_smsr,
    },
    Case {
        id: "ES2-GetEIS-08",
        interface: "ES2",
        section: "§5.3.1, §5.1.6.4",
        title: "An EUM may not call ES2",
        needs: &[Need::Smdp],
        preconditions: "None.",
        steps: &["EUM: ES2.GetEIS of eUICC 2 with the peers' EUM TLS client certificate"],
        expected: "HTTP 200, FAILED 1.1/1.1 (function requester, unknown) or 1.1/1.2 (not allowed)",
        note: "An SM-DP need not register EUMs: the project's does not, and answers 1.1/1.1; an SM-DP that \
               registers the EUM answers 1.1/1.2.",
        run: get_eis_as_eum,
    },
    Case {
        id: "ES2-GetEIS-09",
        interface: "ES2",
        section: "§5.3.1, §5.1.6.4",
        title: "A caller no registered entity owns the certificate of is refused",
        needs: &[Need::Smdp],
        preconditions: "The SUT trusts the peers' TLS CA for client certificates.",
        steps: &[
            "The suite issues a TLS client certificate from the peers' TLS CA for no entity",
            "ES2.GetEIS of eUICC 2 with it",
        ],
        expected: "HTTP 200, FAILED 1.1/1.1 (function requester, unknown)",
        note: "A SUT may instead refuse the TLS handshake; the project accepts the CA and answers the function.",
        run: get_eis_as_stranger,
    },
    Case {
        id: "ES2-DownloadProfile-01",
        interface: "ES2",
        section: "§5.3.2, §3.1",
        title: "DownloadProfile of a profile type completes with a callback carrying the ICCID",
        needs: &[Need::Smdp, Need::Es5],
        preconditions: "MNO 1 has the profile type `conformance` in stock at the SUT; eUICC 2 has room for it and \
                        is reachable over ES5.",
        steps: &[
            "MNO 1: ES2.DownloadProfile to eUICC 2, ProfileType conformance, EnableProfile false, wsa:ReplyTo = \
             the receiver",
            "Wait for the callback (wsa:RelatesTo = the request's MessageID)",
            "MNO 1: ES2.GetEIS of eUICC 2",
        ],
        expected: "HTTP 202; callback ES2-DownloadProfileResponse EXECUTED_SUCCESS with an Iccid; the GetEIS shows \
                   that ICCID Disabled",
        note: "",
        run: download_ok,
    },
    Case {
        id: "ES2-DownloadProfile-02",
        interface: "ES2",
        section: "§5.3.2, §5.1.6.4",
        title: "DownloadProfile of an unknown profile type is refused",
        needs: &[Need::Smdp],
        preconditions: "MNO 1 has no profile type conformance-no-such-type.",
        steps: &["MNO 1: ES2.DownloadProfile to eUICC 2, ProfileType conformance-no-such-type"],
        expected: "FAILED 8.2.5/3.9 (profile type, unknown)",
        note: "",
        run: download_unknown_type,
    },
    Case {
        id: "ES2-DownloadProfile-03",
        interface: "ES2",
        section: "§5.3.2, §5.1.6.4",
        title: "DownloadProfile of an unknown ICCID is refused",
        needs: &[Need::Smdp],
        preconditions: "None.",
        steps: &["MNO 1: ES2.DownloadProfile to eUICC 2 by an Iccid no stock record has"],
        expected: "FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: download_unknown_iccid,
    },
    Case {
        id: "ES2-DownloadProfile-04",
        interface: "ES2",
        section: "§5.3.2, §5.1.6.4",
        title: "DownloadProfile of an ICCID already downloaded is refused",
        needs: &[Need::Smdp, Need::Es5],
        preconditions: "ES2-DownloadProfile-01 passed in this run.",
        steps: &[
            "MNO 1: ES2.DownloadProfile to eUICC 2 by the Iccid ES2-DownloadProfile-01 installed",
        ],
        expected: "FAILED 8.2.1/3.3 (profile ICCID, already in use)",
        note: "SGP.02 names no code for a profile that is no longer available; 8.2.1/3.3 is the project's reading \
               of §5.1.6.4.",
        run: download_installed_iccid,
    },
    Case {
        id: "ES2-DownloadProfile-05",
        interface: "ES2",
        section: "§5.3.2, §5.1.6.4",
        title: "DownloadProfile naming an SM-SR the SM-DP does not know is refused",
        needs: &[Need::Smdp],
        preconditions: "No entity of the SUT has the OID <peers' OID arc>.98.",
        steps: &[
            "MNO 1: ES2.DownloadProfile to eUICC 2, ProfileType conformance, SmSr-id = an unregistered OID",
        ],
        expected: "FAILED 8.7/3.9 (SM-SR, unknown)",
        note: "",
        run: download_unknown_smsr,
    },
    Case {
        id: "ES2-DownloadProfile-06",
        interface: "ES2",
        section: "§5.3.2, §3.1.1",
        title: "DownloadProfile to an EID the SM-SR does not know fails",
        needs: &[Need::Smdp],
        preconditions: "MNO 1 has the profile type `conformance` in stock at the SUT.",
        steps: &["MNO 1: ES2.DownloadProfile to an EID no eUICC has, ProfileType conformance"],
        expected: "FAILED 8.1.1/3.9 (EID, unknown), as a callback after HTTP 202 or at once",
        note: "",
        run: download_unknown_eid,
    },
    Case {
        id: "ES2-DownloadProfile-07",
        interface: "ES2",
        section: "§5.3.2, §5.1.6.4",
        title: "DownloadProfile with neither ProfileType nor Iccid is refused naming ProfileType",
        needs: &[Need::Smdp],
        preconditions: "None.",
        steps: &["MNO 1: ES2.DownloadProfile to eUICC 2 without ProfileType and without Iccid"],
        expected: "FAILED 1.6/2.1 (function, invalid) or 1.6/2.3 (conditional element missing), naming \
                   ProfileType",
        note: "The XSD makes both elements optional and §5.3.2 needs one: the project answers 1.6/2.1; \
               1.6/2.3 (conditional element missing) fits as well.",
        run: download_no_selector,
    },
    Case {
        id: "ES2-DownloadProfile-08",
        interface: "ES2",
        section: "§5.3.2, §5.1.6.4",
        title: "DownloadProfile without the mandatory EnableProfile is refused naming the element",
        needs: &[Need::Smdp],
        preconditions: "None.",
        steps: &[
            "MNO 1: ES2-DownloadProfileRequest to eUICC 2, ProfileType conformance, no EnableProfile",
        ],
        expected: "HTTP 200, FAILED 1.6/2.2 (function, mandatory element missing) naming EnableProfile",
        note: "",
        run: download_missing_enable,
    },
    Case {
        id: "ES2-FunctionCallIdentifier-01",
        interface: "ES2",
        section: "§5.1.6",
        title: "The same request under the same FunctionCallIdentifier gets the same answer",
        needs: &[Need::Smdp],
        preconditions: "None.",
        steps: &[
            "MNO 1: ES2.DownloadProfile of ProfileType conformance-no-such-type under a new identifier",
            "MNO 1: the same request again",
        ],
        expected: "Both answered FAILED 8.2.5/3.9; nothing runs twice",
        note: "SGP.02 §5.1.6 makes the identifier unique per call but does not fix how a repeat is answered; the \
               project answers it with the recorded response.",
        run: fci_same_answer,
    },
    Case {
        id: "ES2-FunctionCallIdentifier-02",
        interface: "ES2",
        section: "§5.1.6, §5.1.6.4",
        title: "Another request under a FunctionCallIdentifier already used is refused",
        needs: &[Need::Smdp],
        preconditions: "None.",
        steps: &[
            "MNO 1: ES2.DownloadProfile of ProfileType conformance-no-such-type under a new identifier",
            "MNO 1: ES2.DownloadProfile of ProfileType conformance-no-such-type-2 under the same identifier",
        ],
        expected: "The second answered HTTP 200, FAILED 1.6/3.3 (function, already in use)",
        note: "1.6/3.3 for a reused identifier is the project's reading of §5.1.6.4.",
        run: fci_reused,
    },
    Case {
        id: "ES2-FunctionCallIdentifier-03",
        interface: "ES2",
        section: "§5.1.6",
        title: "A repeated DownloadProfile is answered from the record without a second download",
        needs: &[Need::Smdp, Need::Es5],
        preconditions: "ES2-DownloadProfile-01 passed in this run.",
        steps: &["MNO 1: the request of ES2-DownloadProfile-01 again, same FunctionCallIdentifier"],
        expected: "HTTP 200, EXECUTED_SUCCESS with the same Iccid",
        note: "As ES2-FunctionCallIdentifier-01: the recorded response is the project's reading of §5.1.6.",
        run: fci_download_replay,
    },
    Case {
        id: "ES2-EnableProfile-01",
        interface: "ES2",
        section: "§5.3.5, §3.3",
        title: "EnableProfile of a disabled profile completes with a callback and a notification",
        needs: &[Need::Smdp, Need::Es5],
        preconditions: "eUICC 2 carries a disabled profile of MNO 1 that the SM-DP manages (the one \
                        ES2-DownloadProfile-01 installed, else any) and is reachable over ES5.",
        steps: &[
            "MNO 1: ES2.GetEIS of eUICC 2, pick that disabled profile",
            "MNO 1: ES2.EnableProfile of it",
            "Wait for the callback and ES2-HandleProfileEnabledNotification",
        ],
        expected: "HTTP 202; callback ES2-EnableProfileResponse EXECUTED_SUCCESS; \
                   ES2-HandleProfileEnabledNotification for the ICCID",
        note: "",
        run: enable_disabled,
    },
    Case {
        id: "ES2-EnableProfile-02",
        interface: "ES2",
        section: "§5.3.5, §5.1.6.4",
        title: "EnableProfile of the enabled profile is refused",
        needs: &[Need::Smdp, Need::Es5],
        preconditions: "The enabled profile of eUICC 2 is MNO 1's and the SM-DP manages it (ES2-EnableProfile-01 \
                        leaves it so).",
        steps: &[
            "MNO 1: ES2.GetEIS of eUICC 2, pick the enabled profile",
            "MNO 1: ES2.EnableProfile of it",
        ],
        expected: "FAILED 8.2.1/3.8 (profile ICCID, refused), at once or as the callback",
        note: "The project's SM-DP relays the call and the SM-SR's refusal comes back as the callback.",
        run: enable_enabled,
    },
    Case {
        id: "ES2-DeleteProfile-01",
        interface: "ES2",
        section: "§5.3.7, §5.1.6.4",
        title: "DeleteProfile of the enabled profile is refused",
        needs: &[Need::Smdp, Need::Es5],
        preconditions: "As ES2-EnableProfile-02.",
        steps: &[
            "MNO 1: ES2.GetEIS of eUICC 2, pick the enabled profile",
            "MNO 1: ES2.DeleteProfile of it",
        ],
        expected: "FAILED 8.2.1/3.8 (profile ICCID, refused), at once or as the callback",
        note: "",
        run: delete_enabled,
    },
    Case {
        id: "ES2-EnableProfile-03",
        interface: "ES2",
        section: "§5.3.5, §5.1.6.4",
        title: "EnableProfile of an unknown ICCID is refused",
        needs: &[Need::Smdp],
        preconditions: "eUICC 2 carries a profile of MNO 1 that the SM-DP manages.",
        steps: &["MNO 1: ES2.EnableProfile of an ICCID no profile has on eUICC 2"],
        expected: "FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: enable_unknown,
    },
    Case {
        id: "ES2-EnableProfile-04",
        interface: "ES2",
        section: "§5.3.5, §5.1.6.4",
        title: "EnableProfile of another MNO's profile is refused without revealing it",
        needs: &[Need::Smdp],
        preconditions: "eUICC 2 carries a profile of MNO 2 that the SM-DP manages.",
        steps: &[
            "MNO 2: ES2.GetEIS of eUICC 2, pick a profile of MNO 2",
            "MNO 1: ES2.EnableProfile of it",
        ],
        expected: "FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "SGP.02 does not say which code answers a profile of another MNO; the project answers as for an \
               ICCID that does not exist (docs/architecture.md §8). 1.1/1.2 (not allowed) is defensible.",
        run: enable_other_mno,
    },
    Case {
        id: "ES2-EnableProfile-05",
        interface: "ES2",
        section: "§5.3.5, §5.1.6.4",
        title: "EnableProfile of an MNO's profile that the SM-DP does not manage is refused",
        needs: &[Need::Smdp, Need::Smsr],
        preconditions: "eUICC 2 carries a profile of MNO 1 that another SM-DP (or none) downloaded; the SUT's \
                        SM-SR is the peers' SM-SR the SM-DP reaches.",
        steps: &[
            "MNO 1: ES4.GetEIS of eUICC 2 at the SM-SR, ES2.GetEIS at the SM-DP; pick a profile only the first \
             shows",
            "MNO 1: ES2.EnableProfile of it",
        ],
        expected: "FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "That an SM-DP manages only the profiles it downloaded (Smdp-id) is the project's reading of \
               §3.3 \"via the SM-DP\".",
        run: enable_not_managed,
    },
    Case {
        id: "ES2-DisableProfile-01",
        interface: "ES2",
        section: "§5.3.6, §3.4",
        title: "DisableProfile of the enabled profile completes with a callback and a notification",
        needs: &[Need::Smdp, Need::Es5],
        preconditions: "The enabled profile of eUICC 2 is MNO 1's, not the fall-back profile, and the SM-DP \
                        manages it (ES2-EnableProfile-01 leaves it so); eUICC 2 is reachable over ES5.",
        steps: &[
            "MNO 1: ES2.GetEIS of eUICC 2, pick the enabled profile",
            "MNO 1: ES2.DisableProfile of it",
            "Wait for the callback and ES2-HandleProfileDisabledNotification",
        ],
        expected: "HTTP 202; callback ES2-DisableProfileResponse EXECUTED_SUCCESS; \
                   ES2-HandleProfileDisabledNotification for the ICCID",
        note: "",
        run: disable_enabled,
    },
    Case {
        id: "ES2-DisableProfile-02",
        interface: "ES2",
        section: "§5.3.6, §5.1.6.4",
        title: "DisableProfile of a disabled profile is refused",
        needs: &[Need::Smdp],
        preconditions: "eUICC 2 carries a disabled profile of MNO 1 that the SM-DP manages.",
        steps: &[
            "MNO 1: ES2.GetEIS of eUICC 2, pick a disabled profile",
            "MNO 1: ES2.DisableProfile of it",
        ],
        expected: "FAILED 8.2.1/3.8 (profile ICCID, refused), at once or as the callback",
        note: "",
        run: disable_disabled,
    },
    Case {
        id: "ES2-DisableProfile-03",
        interface: "ES2",
        section: "§5.3.6, §5.1.6.4",
        title: "DisableProfile of an unknown ICCID is refused",
        needs: &[Need::Smdp],
        preconditions: "eUICC 2 carries a profile of MNO 1 that the SM-DP manages.",
        steps: &["MNO 1: ES2.DisableProfile of an ICCID no profile has on eUICC 2"],
        expected: "FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: disable_unknown,
    },
    Case {
        id: "ES2-DeleteProfile-02",
        interface: "ES2",
        section: "§5.3.7, §3.5",
        title: "DeleteProfile of the downloaded profile completes with a callback and a notification",
        needs: &[Need::Smdp, Need::Es5],
        preconditions: "ES2-DownloadProfile-01 passed in this run and its profile is disabled \
                        (ES2-DisableProfile-01 leaves it so); eUICC 2 is reachable over ES5.",
        steps: &[
            "MNO 1: ES2.DeleteProfile of the ICCID ES2-DownloadProfile-01 installed",
            "Wait for the callback and ES2-HandleProfileDeletedNotification",
            "MNO 1: ES2.GetEIS of eUICC 2",
        ],
        expected: "HTTP 202; callback ES2-DeleteProfileResponse EXECUTED_SUCCESS; \
                   ES2-HandleProfileDeletedNotification for the ICCID; the GetEIS no longer lists it",
        note: "",
        run: delete_downloaded,
    },
    Case {
        id: "ES2-DeleteProfile-03",
        interface: "ES2",
        section: "§5.3.7, §5.1.6.4",
        title: "DeleteProfile of an unknown ICCID is refused",
        needs: &[Need::Smdp],
        preconditions: "eUICC 2 carries a profile of MNO 1 that the SM-DP manages.",
        steps: &["MNO 1: ES2.DeleteProfile of an ICCID no profile has on eUICC 2"],
        expected: "FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: delete_unknown,
    },
    Case {
        id: "ES2-UpdatePolicyRules-01",
        interface: "ES2",
        section: "§5.3.3",
        title: "UpdatePolicyRules sets the POL2 of a profile; the EIS shows it",
        needs: &[Need::Smdp],
        preconditions: "eUICC 2 carries a disabled profile of MNO 1 that the SM-DP manages.",
        steps: &[
            "MNO 1: ES2.GetEIS of eUICC 2, pick a disabled profile and note its POL2",
            "MNO 1: ES2.UpdatePolicyRules of it with the rule PROFILE DELETE Not-Allowed",
            "MNO 1: ES2.GetEIS of eUICC 2",
            "MNO 1: ES2.UpdatePolicyRules with the POL2 noted (restores it)",
        ],
        expected: "EXECUTED_SUCCESS; the EIS shows exactly that rule; the restoring call EXECUTED_SUCCESS",
        note: "",
        run: pol2_set,
    },
    Case {
        id: "ES2-UpdatePolicyRules-02",
        interface: "ES2",
        section: "§5.3.3, §5.1.6.4",
        title: "UpdatePolicyRules of an unknown ICCID is refused",
        needs: &[Need::Smdp],
        preconditions: "eUICC 2 carries a profile of MNO 1 that the SM-DP manages.",
        steps: &["MNO 1: ES2.UpdatePolicyRules of an ICCID no profile has on eUICC 2"],
        expected: "FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: pol2_unknown,
    },
    Case {
        id: "ES2-UpdateSubscriptionAddress-01",
        interface: "ES2",
        section: "§5.3.4",
        title: "UpdateSubscriptionAddress changes the MSISDN of a profile; the EIS shows it",
        needs: &[Need::Smdp],
        preconditions: "eUICC 2 carries a disabled profile of MNO 1 that the SM-DP manages.",
        steps: &[
            "MNO 1: ES2.GetEIS of eUICC 2, pick a disabled profile and note its subscription address",
            "MNO 1: ES2.UpdateSubscriptionAddress of it: the same IMSI, another MSISDN",
            "MNO 1: ES2.GetEIS of eUICC 2",
            "MNO 1: ES2.UpdateSubscriptionAddress with the address noted (restores it)",
        ],
        expected: "EXECUTED_SUCCESS; the EIS shows the new MSISDN; the restoring call EXECUTED_SUCCESS",
        note: "",
        run: address_set,
    },
    Case {
        id: "ES2-UpdateSubscriptionAddress-02",
        interface: "ES2",
        section: "§5.3.4, §5.1.6.4",
        title: "UpdateSubscriptionAddress of an unknown ICCID is refused",
        needs: &[Need::Smdp],
        preconditions: "eUICC 2 carries a profile of MNO 1 that the SM-DP manages.",
        steps: &["MNO 1: ES2.UpdateSubscriptionAddress of an ICCID no profile has on eUICC 2"],
        expected: "FAILED 8.2.1/3.9 (profile ICCID, unknown)",
        note: "",
        run: address_unknown,
    },
    Case {
        id: "ES2-HandleSMSRChangeNotification-01",
        interface: "ES2",
        section: "§5.4.17, §5.3.11, §3.8",
        title: "The SM-DP tells the MNO that an eUICC changed SM-SR",
        needs: &[Need::Smdp, Need::SuiteSmsr],
        preconditions: "The suite plays the SM-DP's SM-SR (--play-smsr) and the SM-DP has called it in this run \
                        (its OID is taken from its requests); it manages profiles on eUICC 2.",
        steps: &[
            "SM-SR (suite): ES3.HandleSMSRChangeNotification of eUICC 2 to the SM-DP's ES3 endpoint: the EIS as the \
             SM-DP sees it, Mno-id MNO 1",
            "Wait for MNO 1's ES2 notification",
        ],
        expected: "The SM-DP accepts the notification (HTTP 2xx) and MNO 1 receives ES2.HandleSMSRChangeNotification \
                   naming eUICC 2 within the callback time-out",
        note: "The suite's SM-SR sends the notification without an SM-SR change of its own: it checks the SM-DP's \
               relay of §3.8 step 6 to the MNO, not the change.",
        run: smsr_change_notified,
    },
    Case {
        id: "ES2-DownloadProfile-09",
        interface: "ES2",
        section: "§5.3.2, §5.1.1, §3.1.4",
        title: "A download that outlives its ValidityPeriod ends EXPIRED and leaves no ISD-P behind",
        needs: &[Need::Smdp, Need::Es5],
        preconditions: "As ES2-DownloadProfile-01; a download to eUICC 2 takes longer than 1 s (else \
                        INCONCLUSIVE). It runs last of the ES2 cases: the clean-up may still use eUICC 2.",
        steps: &[
            "MNO 1: ES2.DownloadProfile to eUICC 2, ProfileType conformance, ValidityPeriod 1 s",
            "Wait for the callback",
            "MNO 1: ES2.GetEIS of eUICC 2 until no profile is in state Created",
        ],
        expected: "Callback ES2-DownloadProfileResponse EXPIRED; within the callback time-out no ISD-P of MNO 1 \
                   is left in Created on eUICC 2",
        note: "The project answers EXPIRED with 1.6/5.3 (time to live expired) and deletes the ISD-P it may have \
               created (§3.1.4 error management). A download completed within 1 s is no fault, but leaves expiry \
               untested: the case is then INCONCLUSIVE (the project's test loses the download's first SMS to \
               make it slow). When the suite plays the SM-SR (--play-smsr) it accepts the first ES3.SendData \
               asynchronously and never answers it, so the download always outlives its validity.",
        run: download_expired,
    },
];

pub(super) fn eid(ctx: &Ctx) -> Result<String, Finding> {
    ctx.world
        .euiccs
        .get(EUICC)
        .map(|e| e.eid.clone())
        .ok_or_else(|| Finding::Inconclusive("the peers have no eUICC 2".into()))
}

fn smsr_id(ctx: &Ctx) -> Result<Oid, Finding> {
    parse("SmSr-id", &ctx.smdp()?.smsr_id)
}

/// An OID no entity has (the peers' arc, `.98`).
fn unknown_smsr(ctx: &Ctx) -> Result<Oid, Finding> {
    parse("SmSr-id", &format!("{}.98", ctx.world.manifest.oid_arc))
}

pub(super) fn get_eis(ctx: &Ctx, eid: &str, what: &str) -> Result<es2::GetEisRequest, Finding> {
    Ok(es2::GetEisRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", eid)?,
        smsr_id: smsr_id(ctx)?,
    })
}

/// What a download asks for.
#[derive(Clone, Copy)]
pub(super) enum Pick<'a> {
    ProfileType(&'a str),
    Iccid(&'a str),
}

pub(super) fn download(
    ctx: &Ctx,
    eid: &str,
    pick: Pick<'_>,
    fci: &str,
    validity: Option<u64>,
) -> Result<es2::DownloadProfileRequest, Finding> {
    let (profile_type, iccid) = match pick {
        Pick::ProfileType(t) => (Some(t.to_string()), None),
        Pick::Iccid(i) => (None, Some(parse("ICCID", i)?)),
    };
    Ok(es2::DownloadProfileRequest {
        base: base(fci, validity),
        eid: parse("EID", eid)?,
        smsr_id: smsr_id(ctx)?,
        profile_type,
        iccid,
        enable_profile: false,
    })
}

/// MNO `mno`'s view of eUICC 2 through the SM-DP (a precondition step: a refusal is INCONCLUSIVE).
async fn view(ctx: &Ctx, mno: usize, what: &str) -> Result<Eis, Finding> {
    let out = ctx.es2(mno, &get_eis(ctx, &eid(ctx)?, what)?).await?;
    expect(
        out.http_status,
        &out.envelope,
        200,
        Status::ExecutedSuccess,
        None,
    )
    .map_err(|f| match f {
        Finding::Fail(why) => Finding::Inconclusive(format!(
            "precondition: ES2.GetEIS of eUICC 2 as MNO {}: {why}",
            mno + 1
        )),
        f => f,
    })?;
    decode::<es2::GetEisResponse>(&out.envelope)?
        .eis
        .ok_or_else(|| Finding::Inconclusive("precondition: the GetEIS answer has no Eis".into()))
}

/// MNO 1's profile on eUICC 2 (through the SM-DP) in `state`, preferring `preferred` (an ICCID).
async fn profile_in(
    ctx: &Ctx,
    state: ProfileState,
    preferred: Option<String>,
    what: &str,
) -> Result<ProfileInfo, Finding> {
    let eis = view(ctx, 0, what).await?;
    let of_state = |p: &&ProfileInfo| p.state == state;
    preferred
        .and_then(|i| {
            eis.profile_info
                .iter()
                .filter(of_state)
                .find(|p| p.iccid.to_string() == i)
        })
        .or_else(|| eis.profile_info.iter().find(of_state))
        .cloned()
        .ok_or_else(|| {
            Finding::Inconclusive(format!(
                "precondition: MNO 1 has no {} profile on eUICC 2 that the SM-DP manages",
                state.as_str()
            ))
        })
}

/// The final answer of an ES2 call: the response (HTTP 200), or the callback `element` after HTTP 202; returns
/// how it came (`""` or `"HTTP 202, callback "`) and the envelope.
async fn final_answer(
    ctx: &Ctx,
    out: &CallOutcome,
    element: &str,
) -> Result<(&'static str, String), Finding> {
    match out.http_status {
        200 => Ok(("", out.envelope.clone())),
        202 => {
            let cb = ctx.callback(out).await?;
            if cb.element != element {
                return Err(Finding::Fail(format!(
                    "the callback is {}, expected {element}",
                    cb.element
                )));
            }
            Ok(("HTTP 202, callback ", cb.envelope))
        }
        http => Err(Finding::Fail(format!(
            "expected HTTP 200 (response) or 202 (callback follows), got HTTP {http} {}",
            status_in(&out.envelope)
                .map(|s| describe(&s))
                .unwrap_or_default()
        ))),
    }
}

/// What [`expect`] saw, after `how` the answer came (a callback has no HTTP status of its own).
fn callback_text(how: &str, seen: String) -> String {
    match seen.strip_prefix("HTTP 200, ") {
        Some(rest) if !how.is_empty() => format!("{how}{rest}"),
        _ => format!("{how}{seen}"),
    }
}

/// The final answer of an ES2 call ([`final_answer`]) checked as [`expect`] does.
pub(super) async fn expect_final(
    ctx: &Ctx,
    out: &CallOutcome,
    element: &str,
    want: Status,
    codes: Option<(&str, &str)>,
) -> Result<String, Finding> {
    let (how, envelope) = final_answer(ctx, out, element).await?;
    expect(200, &envelope, 200, want, codes).map(|seen| callback_text(how, seen))
}

/// Removes the first `<rps:{name}>…</rps:{name}>` of `xml` (a missing mandatory element); `None` if absent.
fn without(xml: &str, name: &str) -> Option<String> {
    let open = format!("<rps:{name}>");
    let close = format!("</rps:{name}>");
    let start = xml.find(&open)?;
    let end = start + xml[start..].find(&close)? + close.len();
    Some(format!("{}{}", &xml[..start], &xml[end..]))
}

/// Posts `body` (an ES2 request element, raw) as `who` and expects FAILED with `codes` naming `element`.
async fn post_expect(
    ctx: &Ctx,
    who: Es2Caller,
    request_action: &str,
    kind: &str,
    body: &str,
    codes: (&str, &str),
    naming: Option<&str>,
) -> Result<String, Finding> {
    let env = ctx.es2_envelope(who, request_action, body)?;
    // A structural refusal (1.6/2.x) answers a request made invalid on purpose.
    let malformed = codes.0 == "1.6";
    let (http, answer) = ctx
        .post_es2(who, request_action, kind, env, malformed)
        .await?;
    let seen = expect(http, &answer, 200, Status::Failed, Some(codes))?;
    match naming {
        Some(name) if !answer.contains(name) => Err(Finding::Fail(format!(
            "{seen}, but the answer does not name {name}"
        ))),
        _ => Ok(seen),
    }
}

fn get_eis_own(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eid = eid(ctx)?;
        let out = ctx.es2(0, &get_eis(ctx, &eid, "dp-get-own")?).await?;
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let eis = decode::<es2::GetEisResponse>(&out.envelope)?.eis;
        own_view(
            ctx,
            eis,
            &eid,
            seen,
            "eUICC 2 carries no profile of MNO 1 that the SM-DP manages",
        )
    })
}

fn get_eis_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es2(0, &get_eis(ctx, UNKNOWN_EID, "dp-get-unknown")?)
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-GetEISResponse",
            Status::Failed,
            Some(("8.1.1", "3.9")),
        )
        .await
    })
}

fn get_eis_other_mno(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let mno1 = mno_oid(ctx, 0)?;
        mno_oid(ctx, 1)?;
        let out = ctx
            .es2(1, &get_eis(ctx, &eid(ctx)?, "dp-get-other")?)
            .await?;
        if let Ok(seen) = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("8.1.1", "3.9")),
        ) {
            return Ok(format!("{seen}: nothing of MNO 1's shown"));
        }
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let eis = decode::<es2::GetEisResponse>(&out.envelope)?.eis;
        none_of_mno1(eis, &mno1, seen)
    })
}

fn get_eis_unknown_smsr(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut req = get_eis(ctx, &eid(ctx)?, "dp-get-unknown-smsr")?;
        req.smsr_id = unknown_smsr(ctx)?;
        let out = ctx.es2(0, &req).await?;
        expect_final(
            ctx,
            &out,
            "ES2-GetEISResponse",
            Status::Failed,
            Some(("8.7", "3.9")),
        )
        .await
    })
}

fn get_eis_missing_eid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let full = get_eis(ctx, &eid(ctx)?, "dp-no-eid")?.to_xml();
        let body = without(&full, "Eid")
            .ok_or_else(|| Finding::Inconclusive("could not take Eid out of the request".into()))?;
        post_expect(
            ctx,
            Es2Caller::Mno(0),
            action::ES2_GET_EIS.request,
            "ES2-GetEISRequest (no Eid)",
            &body,
            ("1.6", "2.2"),
            Some("Eid"),
        )
        .await
    })
}

fn get_eis_not_xml(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let body = get_eis(ctx, &eid(ctx)?, "dp-not-xml")?.to_xml();
        let env = ctx.es2_envelope(Es2Caller::Mno(0), action::ES2_GET_EIS.request, &body)?;
        let cut = env.len() / 2;
        let truncated = env
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| i >= cut)
            .map_or(env.clone(), |i| env[..i].to_string());
        let (http, answer) = ctx
            .post_es2(
                Es2Caller::Mno(0),
                action::ES2_GET_EIS.request,
                "ES2-GetEISRequest (truncated)",
                truncated,
                true,
            )
            .await?;
        if !answer.contains("Fault") {
            return Err(Finding::Fail(format!(
                "HTTP {http} without a SOAP Fault: {}",
                status_in(&answer).map(|s| describe(&s)).unwrap_or_default()
            )));
        }
        expect(http, &answer, 400, Status::Failed, Some(("1.6", "2.1")))
    })
}

/// ES2.GetEIS of eUICC 2 sent by `who`, which may not call it: FAILED with one of `codes`.
async fn get_eis_as(
    ctx: &Ctx,
    who: Es2Caller,
    label: &str,
    codes: &[(&str, &str)],
) -> Result<String, Finding> {
    let body = get_eis(ctx, &eid(ctx)?, label)?.to_xml();
    let env = ctx.es2_envelope(who, action::ES2_GET_EIS.request, &body)?;
    let (http, answer) = ctx
        .post_es2(
            who,
            action::ES2_GET_EIS.request,
            "ES2-GetEISRequest",
            env,
            false,
        )
        .await?;
    let mut last = None;
    for c in codes {
        match expect(http, &answer, 200, Status::Failed, Some(*c)) {
            Ok(seen) => return Ok(seen),
            Err(f) => last = Some(f),
        }
    }
    Err(last.unwrap_or_else(|| Finding::Inconclusive("no expected code given".into())))
}

fn get_eis_as_smsr(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(get_eis_as(
        ctx,
        Es2Caller::SmSr,
        "dp-smsr",
        &[("1.1", "1.2")],
    ))
}

fn get_eis_as_eum(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(get_eis_as(
        ctx,
        Es2Caller::Eum,
        "dp-eum",
        &[("1.1", "1.1"), ("1.1", "1.2")],
    ))
}

fn get_eis_as_stranger(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(get_eis_as(
        ctx,
        Es2Caller::Stranger,
        "dp-stranger",
        &[("1.1", "1.1")],
    ))
}

fn download_ok(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let fci = ctx.fci("dp-download");
        let req = download(ctx, &eid(ctx)?, Pick::ProfileType(PROFILE_TYPE), &fci, None)?;
        let out = ctx.es2(0, &req).await?;
        let cb = accepted_then_success(ctx, &out, "ES2-DownloadProfileResponse").await?;
        let iccid = decode::<es2::DownloadProfileResponse>(&cb.envelope)?
            .iccid
            .map(|i| i.to_string())
            .ok_or_else(|| Finding::Fail("the callback carries no Iccid".into()))?;
        ctx.remember("dp-download-fci", fci);
        ctx.remember("dp-download-iccid", iccid.clone());
        let eis = view(ctx, 0, "dp-download-view").await?;
        match eis
            .profile_info
            .iter()
            .find(|p| p.iccid.to_string() == iccid)
        {
            Some(p) if p.state == ProfileState::Disabled => Ok(format!(
                "HTTP 202, callback EXECUTED_SUCCESS with Iccid {iccid}, Disabled in the EIS"
            )),
            Some(p) => Err(Finding::Fail(format!(
                "downloaded {iccid} without EnableProfile, the EIS shows it {}",
                p.state.as_str()
            ))),
            None => Err(Finding::Fail(format!(
                "the callback names {iccid}, which MNO 1's GetEIS of eUICC 2 does not list"
            ))),
        }
    })
}

fn download_unknown_type(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let req = download(
            ctx,
            &eid(ctx)?,
            Pick::ProfileType(UNKNOWN_TYPE),
            &ctx.fci("dp-unknown-type"),
            None,
        )?;
        let out = ctx.es2(0, &req).await?;
        expect_final(
            ctx,
            &out,
            "ES2-DownloadProfileResponse",
            Status::Failed,
            Some(("8.2.5", "3.9")),
        )
        .await
    })
}

fn download_unknown_iccid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let req = download(
            ctx,
            &eid(ctx)?,
            Pick::Iccid(UNKNOWN_ICCID),
            &ctx.fci("dp-unknown-iccid"),
            None,
        )?;
        let out = ctx.es2(0, &req).await?;
        expect_final(
            ctx,
            &out,
            "ES2-DownloadProfileResponse",
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
        .await
    })
}

/// The ICCID ES2-DownloadProfile-01 installed.
fn downloaded(ctx: &Ctx) -> Result<String, Finding> {
    ctx.require_passed("ES2-DownloadProfile-01")?;
    ctx.recall("dp-download-iccid")
        .ok_or_else(|| Finding::Inconclusive("ES2-DownloadProfile-01 left no ICCID".into()))
}

fn download_installed_iccid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let iccid = downloaded(ctx)?;
        let req = download(
            ctx,
            &eid(ctx)?,
            Pick::Iccid(&iccid),
            &ctx.fci("dp-installed-iccid"),
            None,
        )?;
        let out = ctx.es2(0, &req).await?;
        expect_final(
            ctx,
            &out,
            "ES2-DownloadProfileResponse",
            Status::Failed,
            Some(("8.2.1", "3.3")),
        )
        .await
    })
}

fn download_unknown_smsr(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut req = download(
            ctx,
            &eid(ctx)?,
            Pick::ProfileType(PROFILE_TYPE),
            &ctx.fci("dp-unknown-smsr"),
            None,
        )?;
        req.smsr_id = unknown_smsr(ctx)?;
        let out = ctx.es2(0, &req).await?;
        expect_final(
            ctx,
            &out,
            "ES2-DownloadProfileResponse",
            Status::Failed,
            Some(("8.7", "3.9")),
        )
        .await
    })
}

fn download_unknown_eid(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let req = download(
            ctx,
            UNKNOWN_EID,
            Pick::ProfileType(PROFILE_TYPE),
            &ctx.fci("dp-unknown-eid"),
            None,
        )?;
        let out = ctx.es2(0, &req).await?;
        expect_final(
            ctx,
            &out,
            "ES2-DownloadProfileResponse",
            Status::Failed,
            Some(("8.1.1", "3.9")),
        )
        .await
    })
}

fn download_no_selector(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let mut req = download(
            ctx,
            &eid(ctx)?,
            Pick::ProfileType(PROFILE_TYPE),
            &ctx.fci("dp-no-selector"),
            None,
        )?;
        req.profile_type = None;
        let out = ctx.es2(0, &req).await?;
        let invalid = expect_final(
            ctx,
            &out,
            "ES2-DownloadProfileResponse",
            Status::Failed,
            Some(("1.6", "2.1")),
        )
        .await;
        let seen = match invalid {
            Ok(seen) => seen,
            Err(Finding::Fail(_)) => {
                expect_final(
                    ctx,
                    &out,
                    "ES2-DownloadProfileResponse",
                    Status::Failed,
                    Some(("1.6", "2.3")),
                )
                .await?
            }
            Err(f) => return Err(f),
        };
        if !seen.contains("ProfileType") {
            return Err(Finding::Fail(format!(
                "{seen}, but the answer does not name ProfileType"
            )));
        }
        Ok(seen)
    })
}

fn download_missing_enable(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let full = download(
            ctx,
            &eid(ctx)?,
            Pick::ProfileType(PROFILE_TYPE),
            &ctx.fci("dp-no-enable"),
            None,
        )?
        .to_xml();
        let body = without(&full, "EnableProfile").ok_or_else(|| {
            Finding::Inconclusive("could not take EnableProfile out of the request".into())
        })?;
        post_expect(
            ctx,
            Es2Caller::Mno(0),
            action::ES2_DOWNLOAD_PROFILE.request,
            "ES2-DownloadProfileRequest (no EnableProfile)",
            &body,
            ("1.6", "2.2"),
            Some("EnableProfile"),
        )
        .await
    })
}

fn fci_same_answer(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let req = download(
            ctx,
            &eid(ctx)?,
            Pick::ProfileType(UNKNOWN_TYPE),
            &ctx.fci("dp-fci-same"),
            None,
        )?;
        let first = ctx.es2(0, &req).await?;
        expect_final(
            ctx,
            &first,
            "ES2-DownloadProfileResponse",
            Status::Failed,
            Some(("8.2.5", "3.9")),
        )
        .await
        .map_err(|f| match f {
            Finding::Fail(why) => Finding::Inconclusive(format!("the first call: {why}")),
            f => f,
        })?;
        let again = ctx.es2(0, &req).await?;
        expect_final(
            ctx,
            &again,
            "ES2-DownloadProfileResponse",
            Status::Failed,
            Some(("8.2.5", "3.9")),
        )
        .await
        .map(|seen| format!("the repeat: {seen}"))
    })
}

fn fci_reused(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let fci = ctx.fci("dp-fci-reused");
        let eid = eid(ctx)?;
        let first = ctx
            .es2(
                0,
                &download(ctx, &eid, Pick::ProfileType(UNKNOWN_TYPE), &fci, None)?,
            )
            .await?;
        if !matches!(first.http_status, 200 | 202) {
            return Err(Finding::Inconclusive(format!(
                "the first call was answered HTTP {}",
                first.http_status
            )));
        }
        let other = format!("{UNKNOWN_TYPE}-2");
        let out = ctx
            .es2(
                0,
                &download(ctx, &eid, Pick::ProfileType(&other), &fci, None)?,
            )
            .await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::Failed,
            Some(("1.6", "3.3")),
        )
    })
}

fn fci_download_replay(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let iccid = downloaded(ctx)?;
        let fci = ctx.recall("dp-download-fci").ok_or_else(|| {
            Finding::Inconclusive("ES2-DownloadProfile-01 left no identifier".into())
        })?;
        // The request of ES2-DownloadProfile-01: the same EID, profile type, options and identifier.
        let req = download(ctx, &eid(ctx)?, Pick::ProfileType(PROFILE_TYPE), &fci, None)?;
        let out = ctx.es2(0, &req).await?;
        let seen = expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )?;
        let again = decode::<es2::DownloadProfileResponse>(&out.envelope)?
            .iccid
            .map(|i| i.to_string());
        if again.as_deref() != Some(iccid.as_str()) {
            return Err(Finding::Fail(format!(
                "{seen}, but with Iccid {} instead of {iccid}",
                again.unwrap_or_else(|| "none".into())
            )));
        }
        Ok(format!("{seen}, Iccid {iccid}"))
    })
}

fn enable_req(ctx: &Ctx, iccid: &str, what: &str) -> Result<es2::EnableProfileRequest, Finding> {
    Ok(es2::EnableProfileRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", &eid(ctx)?)?,
        smsr_id: smsr_id(ctx)?,
        iccid: parse("ICCID", iccid)?,
    })
}

fn disable_req(ctx: &Ctx, iccid: &str, what: &str) -> Result<es2::DisableProfileRequest, Finding> {
    Ok(es2::DisableProfileRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", &eid(ctx)?)?,
        smsr_id: smsr_id(ctx)?,
        iccid: parse("ICCID", iccid)?,
    })
}

pub(super) fn delete_req(
    ctx: &Ctx,
    iccid: &str,
    what: &str,
) -> Result<es2::DeleteProfileRequest, Finding> {
    Ok(es2::DeleteProfileRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", &eid(ctx)?)?,
        iccid: parse("ICCID", iccid)?,
        smsr_id: smsr_id(ctx)?,
    })
}

fn enable_disabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = profile_in(
            ctx,
            ProfileState::Disabled,
            ctx.recall("dp-download-iccid"),
            "dp-enable-pre",
        )
        .await?;
        let iccid = p.iccid.to_string();
        let out = ctx.es2(0, &enable_req(ctx, &iccid, "dp-enable")?).await?;
        accepted_then_success(ctx, &out, "ES2-EnableProfileResponse").await?;
        ctx.notification("ES2-HandleProfileEnabledNotification", &iccid)
            .await?;
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS, ES2-HandleProfileEnabledNotification for {iccid}"
        ))
    })
}

fn enable_enabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = profile_in(ctx, ProfileState::Enabled, None, "dp-enabled-pre").await?;
        let out = ctx
            .es2(
                0,
                &enable_req(ctx, &p.iccid.to_string(), "dp-enable-enabled")?,
            )
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-EnableProfileResponse",
            Status::Failed,
            Some(("8.2.1", "3.8")),
        )
        .await
    })
}

fn delete_enabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = profile_in(ctx, ProfileState::Enabled, None, "dp-delete-enabled-pre").await?;
        let out = ctx
            .es2(
                0,
                &delete_req(ctx, &p.iccid.to_string(), "dp-delete-enabled")?,
            )
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-DeleteProfileResponse",
            Status::Failed,
            Some(("8.2.1", "3.8")),
        )
        .await
    })
}

fn enable_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es2(0, &enable_req(ctx, UNKNOWN_ICCID, "dp-enable-unknown")?)
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-EnableProfileResponse",
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
        .await
    })
}

fn enable_other_mno(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let eis = view(ctx, 1, "dp-other-pre").await?;
        let iccid = eis
            .profile_info
            .first()
            .map(|p| p.iccid.to_string())
            .ok_or_else(|| {
                Finding::Inconclusive(
                    "precondition: MNO 2 has no profile on eUICC 2 that the SM-DP manages".into(),
                )
            })?;
        let out = ctx
            .es2(0, &enable_req(ctx, &iccid, "dp-enable-other")?)
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-EnableProfileResponse",
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
        .await
    })
}

fn enable_not_managed(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let managed: Vec<String> = view(ctx, 0, "dp-managed-pre")
            .await?
            .profile_info
            .iter()
            .map(|p| p.iccid.to_string())
            .collect();
        let out = ctx
            .es4(
                0,
                &es_interfaces::messages::es4::GetEisRequest {
                    base: base(&ctx.fci("dp-unmanaged-pre"), None),
                    eid: parse("EID", &eid(ctx)?)?,
                },
            )
            .await?;
        expect(
            out.http_status,
            &out.envelope,
            200,
            Status::ExecutedSuccess,
            None,
        )
        .map_err(|f| match f {
            Finding::Fail(why) => {
                Finding::Inconclusive(format!("precondition: ES4.GetEIS of eUICC 2: {why}"))
            }
            f => f,
        })?;
        let iccid = decode::<es_interfaces::messages::es4::GetEisResponse>(&out.envelope)?
            .eis
            .into_iter()
            .flat_map(|e| e.profile_info)
            .map(|p| p.iccid.to_string())
            .find(|i| !managed.contains(i))
            .ok_or_else(|| {
                Finding::Inconclusive(
                    "precondition: every profile of MNO 1 on eUICC 2 is managed by the SM-DP"
                        .into(),
                )
            })?;
        let out = ctx
            .es2(0, &enable_req(ctx, &iccid, "dp-enable-unmanaged")?)
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-EnableProfileResponse",
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
        .await
    })
}

fn disable_enabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = profile_in(ctx, ProfileState::Enabled, None, "dp-disable-pre").await?;
        let iccid = p.iccid.to_string();
        if p.fallback_attribute {
            return Err(Finding::Inconclusive(format!(
                "precondition: the enabled profile {iccid} is the fall-back profile"
            )));
        }
        let out = ctx.es2(0, &disable_req(ctx, &iccid, "dp-disable")?).await?;
        accepted_then_success(ctx, &out, "ES2-DisableProfileResponse").await?;
        ctx.notification("ES2-HandleProfileDisabledNotification", &iccid)
            .await?;
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS, ES2-HandleProfileDisabledNotification for {iccid}"
        ))
    })
}

fn disable_disabled(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = profile_in(ctx, ProfileState::Disabled, None, "dp-disabled-pre").await?;
        let out = ctx
            .es2(
                0,
                &disable_req(ctx, &p.iccid.to_string(), "dp-disable-disabled")?,
            )
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-DisableProfileResponse",
            Status::Failed,
            Some(("8.2.1", "3.8")),
        )
        .await
    })
}

fn disable_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es2(0, &disable_req(ctx, UNKNOWN_ICCID, "dp-disable-unknown")?)
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-DisableProfileResponse",
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
        .await
    })
}

fn delete_downloaded(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let iccid = downloaded(ctx)?;
        let p = profile_in(
            ctx,
            ProfileState::Disabled,
            Some(iccid.clone()),
            "dp-delete-pre",
        )
        .await?;
        if p.iccid.to_string() != iccid {
            return Err(Finding::Inconclusive(format!(
                "precondition: {iccid} is not disabled on eUICC 2"
            )));
        }
        let out = ctx.es2(0, &delete_req(ctx, &iccid, "dp-delete")?).await?;
        accepted_then_success(ctx, &out, "ES2-DeleteProfileResponse").await?;
        ctx.notification("ES2-HandleProfileDeletedNotification", &iccid)
            .await?;
        let eis = view(ctx, 0, "dp-delete-view").await?;
        if eis
            .profile_info
            .iter()
            .any(|p| p.iccid.to_string() == iccid)
        {
            return Err(Finding::Fail(format!(
                "deleted, but MNO 1's GetEIS of eUICC 2 still lists {iccid}"
            )));
        }
        Ok(format!(
            "HTTP 202, callback EXECUTED_SUCCESS, ES2-HandleProfileDeletedNotification for {iccid}; gone from \
             the EIS"
        ))
    })
}

fn delete_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es2(0, &delete_req(ctx, UNKNOWN_ICCID, "dp-delete-unknown")?)
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-DeleteProfileResponse",
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
        .await
    })
}

fn pol2_req(
    ctx: &Ctx,
    iccid: &str,
    pol2: Pol2,
    what: &str,
) -> Result<es2::UpdatePolicyRulesRequest, Finding> {
    Ok(es2::UpdatePolicyRulesRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", &eid(ctx)?)?,
        iccid: parse("ICCID", iccid)?,
        smsr_id: smsr_id(ctx)?,
        pol2: Some(pol2),
    })
}

/// `ACTION:Qualification` of each rule, for messages and comparison.
fn rules(p: &Pol2) -> Vec<String> {
    p.rules
        .iter()
        .map(|r| format!("{}:{}", r.action.as_str(), r.qualification.as_str()))
        .collect()
}

fn pol2_set(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = profile_in(ctx, ProfileState::Disabled, None, "dp-pol2-pre").await?;
        let iccid = p.iccid.to_string();
        let rule = Pol2 {
            rules: vec![Pol2Rule {
                subject: Pol2RuleSubject::Profile,
                action: Pol2RuleAction::Delete,
                qualification: Pol2RuleQualification::NotAllowed,
            }],
        };
        let out = ctx
            .es2(0, &pol2_req(ctx, &iccid, rule.clone(), "dp-pol2")?)
            .await?;
        let seen = expect_final(
            ctx,
            &out,
            "ES2-UpdatePolicyRulesResponse",
            Status::ExecutedSuccess,
            None,
        )
        .await?;
        // Read, then restore whatever the read gave, then judge.
        let shown = view(ctx, 0, "dp-pol2-view").await.map(|eis| {
            eis.profile_info
                .into_iter()
                .find(|q| q.iccid == p.iccid)
                .map(|q| rules(&q.pol2))
        });
        let restore = ctx
            .es2(
                0,
                &pol2_req(ctx, &iccid, p.pol2.clone(), "dp-pol2-restore")?,
            )
            .await?;
        let restored = expect_final(
            ctx,
            &restore,
            "ES2-UpdatePolicyRulesResponse",
            Status::ExecutedSuccess,
            None,
        )
        .await;
        let shown = shown?;
        if shown.as_ref() != Some(&rules(&rule)) {
            return Err(Finding::Fail(format!(
                "{seen}, but the EIS shows the POL2 of {iccid} as {shown:?}"
            )));
        }
        restored.map_err(|f| match f {
            Finding::Fail(why) => Finding::Fail(format!("restoring the POL2: {why}")),
            f => f,
        })?;
        Ok(format!(
            "{seen}; the EIS shows DELETE:Not-Allowed on {iccid}; restored"
        ))
    })
}

fn pol2_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let out = ctx
            .es2(
                0,
                &pol2_req(
                    ctx,
                    UNKNOWN_ICCID,
                    Pol2 { rules: Vec::new() },
                    "dp-pol2-unknown",
                )?,
            )
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-UpdatePolicyRulesResponse",
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
        .await
    })
}

fn address_req(
    ctx: &Ctx,
    iccid: &str,
    address: SubscriptionAddress,
    what: &str,
) -> Result<es2::UpdateSubscriptionAddressRequest, Finding> {
    Ok(es2::UpdateSubscriptionAddressRequest {
        base: base(&ctx.fci(what), None),
        eid: parse("EID", &eid(ctx)?)?,
        smsr_id: smsr_id(ctx)?,
        iccid: parse("ICCID", iccid)?,
        new_subscription_address: address,
    })
}

fn address_set(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let p = profile_in(ctx, ProfileState::Disabled, None, "dp-address-pre").await?;
        let iccid = p.iccid.to_string();
        let old = p.subscription_address.clone();
        // Another MSISDN: the old one with its last digit changed, or a test number when it had none.
        let msisdn = match old.msisdn.as_ref().map(|m| m.to_string()) {
            Some(m) => {
                let (head, last) = m.split_at(m.len().saturating_sub(1));
                let digit = if last == "7" { "3" } else { "7" };
                format!("{head}{digit}")
            }
            None => "491709999997".to_string(),
        };
        let new = SubscriptionAddress {
            imsi: old.imsi.clone(),
            msisdn: Some(parse("MSISDN", &msisdn)?),
        };
        let out = ctx
            .es2(0, &address_req(ctx, &iccid, new, "dp-address")?)
            .await?;
        let seen = expect_final(
            ctx,
            &out,
            "ES2-UpdateSubscriptionAddressResponse",
            Status::ExecutedSuccess,
            None,
        )
        .await?;
        // Read, then restore whatever the read gave, then judge.
        let shown = view(ctx, 0, "dp-address-view").await.map(|eis| {
            eis.profile_info
                .into_iter()
                .find(|q| q.iccid == p.iccid)
                .and_then(|q| q.subscription_address.msisdn.map(|m| m.to_string()))
        });
        let restore = ctx
            .es2(0, &address_req(ctx, &iccid, old, "dp-address-restore")?)
            .await?;
        let restored = expect_final(
            ctx,
            &restore,
            "ES2-UpdateSubscriptionAddressResponse",
            Status::ExecutedSuccess,
            None,
        )
        .await;
        let shown = shown?;
        if shown.as_deref() != Some(msisdn.as_str()) {
            return Err(Finding::Fail(format!(
                "{seen}, but the EIS shows the MSISDN of {iccid} as {shown:?}, not {msisdn}"
            )));
        }
        restored.map_err(|f| match f {
            Finding::Fail(why) => Finding::Fail(format!("restoring the address: {why}")),
            f => f,
        })?;
        Ok(format!("{seen}; the EIS shows MSISDN {msisdn}; restored"))
    })
}

fn address_unknown(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let address = SubscriptionAddress {
            imsi: None,
            msisdn: Some(parse("MSISDN", "491709999997")?),
        };
        let out = ctx
            .es2(
                0,
                &address_req(ctx, UNKNOWN_ICCID, address, "dp-address-unknown")?,
            )
            .await?;
        expect_final(
            ctx,
            &out,
            "ES2-UpdateSubscriptionAddressResponse",
            Status::Failed,
            Some(("8.2.1", "3.9")),
        )
        .await
    })
}

fn smsr_change_notified(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let peer = ctx.suite_smsr()?;
        let eid = eid(ctx)?;
        let smdp_oid = peer
            .requests_since(ctx.run_started())
            .into_iter()
            .rev()
            .find_map(|r| r.from_oid.filter(|_| r.other_peer.is_none()))
            .ok_or_else(|| {
                Finding::Inconclusive(
                    "precondition: the SM-DP has not called the suite's SM-SR in this run".into(),
                )
            })?;
        let mno = ctx
            .world
            .manifest
            .mnos
            .first()
            .map(|m| m.entity.oid.clone())
            .ok_or_else(|| Finding::Inconclusive("the peers have no MNO".into()))?;
        let http = peer
            .notify_smsr_change(&ctx.smdp()?.es3_url, &smdp_oid, &eid, &mno)
            .await
            .map_err(|why| {
                Finding::Inconclusive(format!("the notification was not delivered: {why}"))
            })?;
        if !(200..300).contains(&http) {
            return Err(Finding::Fail(format!(
                "the SM-DP answered ES3.HandleSMSRChangeNotification with HTTP {http}"
            )));
        }
        ctx.notification_where(
            "ES2-HandleSMSRChangeNotification",
            ctx.callback_timeout,
            |r| r.envelope.contains(&eid),
        )
        .await
        .ok_or_else(|| {
            Finding::Fail(format!(
                "HTTP {http}, but MNO 1 received no ES2-HandleSMSRChangeNotification naming {eid} within {} s",
                ctx.callback_timeout.as_secs()
            ))
        })?;
        Ok(format!(
            "HTTP {http}; MNO 1 received ES2-HandleSMSRChangeNotification naming {eid}"
        ))
    })
}

fn download_expired(ctx: &Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let req = download(
            ctx,
            &eid(ctx)?,
            Pick::ProfileType(PROFILE_TYPE),
            &ctx.fci("dp-expired"),
            Some(1),
        )?;
        // The suite's SM-SR answers at once: it holds the first SendData, so the download outlives 1 s.
        let held = ctx.suite_smsr().ok();
        if let Some(peer) = held {
            peer.hold_next(Some(es3::SendDataRequest::ELEMENT));
        }
        let out = ctx.es2(0, &req).await;
        let answer = match out {
            Ok(out) => final_answer(ctx, &out, "ES2-DownloadProfileResponse").await,
            Err(e) => Err(e),
        };
        if let Some(peer) = held {
            peer.hold_next(None);
        }
        let (how, envelope) = answer?;
        if status_in(&envelope).is_some_and(|s| s.status == Status::ExecutedSuccess) {
            return Err(Finding::Inconclusive(
                "precondition: the SUT completed the download within the 1 s ValidityPeriod, so expiry could \
                 not be provoked"
                    .into(),
            ));
        }
        let seen =
            expect(200, &envelope, 200, Status::Expired, None).map(|s| callback_text(how, s))?;
        // The clean-up (§3.1.4) may still be under way: poll until no ISD-P of MNO 1 is left in Created.
        let deadline = std::time::Instant::now() + ctx.callback_timeout;
        let mut round = 0;
        loop {
            round += 1;
            let created: Vec<String> = view(ctx, 0, &format!("dp-expired-view-{round}"))
                .await?
                .profile_info
                .iter()
                .filter(|p| p.state == ProfileState::Created)
                .map(|p| p.iccid.to_string())
                .collect();
            if created.is_empty() {
                return Ok(format!("{seen}; no ISD-P left in Created"));
            }
            if std::time::Instant::now() >= deadline {
                return Err(Finding::Fail(format!(
                    "{seen}, but after {} s eUICC 2 still has ISD-P(s) in Created: {}",
                    ctx.callback_timeout.as_secs(),
                    created.join(", ")
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    })
}
