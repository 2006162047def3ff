//! diesel table definitions, identical for both backends (migrations/postgres and migrations/sqlite).
#![allow(missing_docs)]

diesel::table! {
    entities (oid) {
        oid -> Text,
        role -> Text,
        name -> Text,
        endpoints -> Text,
        allowed_interfaces -> Text,
        gp_certificate -> Nullable<Binary>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    entity_fingerprints (sha256) {
        sha256 -> Binary,
        entity_oid -> Text,
    }
}

diesel::table! {
    euiccs (eid) {
        eid -> Text,
        eum_id -> Text,
        production_date -> BigInt,
        platform_type -> Text,
        platform_version -> Text,
        isd_p_loadfile_aid -> Binary,
        isd_p_module_aid -> Binary,
        cattp_support -> Bool,
        cattp_version -> Nullable<Text>,
        http_support -> Bool,
        http_version -> Nullable<Text>,
        secure_packet_version -> Text,
        remote_provisioning_version -> Text,
        remaining_memory -> BigInt,
        available_memory_for_profiles -> BigInt,
        last_audit_date -> Nullable<BigInt>,
        smsr_id -> Text,
        eum_signed_info_xml -> Text,
        eum_signature_xml -> Text,
        lock_state -> Text,
        lock_owner -> Nullable<Text>,
        version -> BigInt,
        es5_next_seq -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    security_domains (eid, role) {
        eid -> Text,
        role -> Text,
        aid -> Binary,
        tars -> Binary,
        sin -> Binary,
        sdin -> Binary,
    }
}

diesel::table! {
    keysets (eid, sd_role, version) {
        eid -> Text,
        sd_role -> Text,
        version -> Integer,
        usage -> Nullable<Text>,
        cntr -> BigInt,
    }
}

diesel::table! {
    sd_keys (eid, sd_role, keyset_version, key_index) {
        eid -> Text,
        sd_role -> Text,
        keyset_version -> Integer,
        key_index -> Integer,
        kcv -> Binary,
    }
}

diesel::table! {
    key_components (eid, sd_role, keyset_version, key_index, position) {
        eid -> Text,
        sd_role -> Text,
        keyset_version -> Integer,
        key_index -> Integer,
        position -> Integer,
        component_type -> Integer,
        value -> Binary,
        value_key_id -> Text,
    }
}

diesel::table! {
    sd_certificates (eid, sd_role, keyset_version, cert_index) {
        eid -> Text,
        sd_role -> Text,
        keyset_version -> Integer,
        cert_index -> Integer,
        ca_id -> Text,
        value -> Binary,
    }
}

diesel::table! {
    profiles (iccid) {
        iccid -> Text,
        eid -> Text,
        isd_p_aid -> Binary,
        mno_id -> Text,
        fallback -> Bool,
        imsi -> Nullable<Text>,
        msisdn -> Nullable<Text>,
        state -> Text,
        smdp_id -> Nullable<Text>,
        profile_type -> Nullable<Text>,
        allocated_memory -> BigInt,
        free_memory -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    pol2_rules (iccid, position) {
        iccid -> Text,
        position -> Integer,
        subject -> Text,
        action -> Text,
        qualification -> Text,
    }
}

diesel::table! {
    audit_records (id) {
        id -> BigInt,
        eid -> Text,
        smsr_id -> Text,
        operation_date -> BigInt,
        operation_type -> Binary,
        requester_id -> Nullable<Text>,
        execution_status -> Nullable<Text>,
        isd_p_aid -> Nullable<Binary>,
        iccid -> Nullable<Text>,
        imei -> Nullable<Text>,
        meid -> Nullable<Text>,
    }
}

diesel::table! {
    additional_properties (eid, key) {
        eid -> Text,
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    function_calls (id) {
        id -> BigInt,
        caller_oid -> Text,
        interface -> Text,
        function_name -> Text,
        function_call_id -> Text,
        message_id -> Nullable<Text>,
        reply_to -> Nullable<Text>,
        valid_until -> Nullable<BigInt>,
        state -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        received_at -> BigInt,
        completed_at -> Nullable<BigInt>,
        request_digest -> Nullable<Text>,
    }
}

diesel::table! {
    jobs (id) {
        id -> BigInt,
        queue -> Text,
        kind -> Text,
        payload -> Text,
        state -> Text,
        run_at -> BigInt,
        attempts -> Integer,
        max_attempts -> Integer,
        dedup_key -> Nullable<Text>,
        locked_by -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        destination_url -> Text,
        http_method -> Text,
        headers -> Text,
        body -> Binary,
        content_type -> Text,
        correlation_id -> Nullable<Text>,
        message_id -> Nullable<Text>,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        give_up_at -> BigInt,
        locked_by -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    smsr_nodes (node_id) {
        node_id -> Text,
        seen_at -> BigInt,
    }
}

diesel::joinable!(entity_fingerprints -> entities (entity_oid));
diesel::joinable!(profiles -> euiccs (eid));
diesel::joinable!(pol2_rules -> profiles (iccid));
diesel::allow_tables_to_appear_in_same_query!(entities, entity_fingerprints);
diesel::allow_tables_to_appear_in_same_query!(profiles, euiccs);
diesel::allow_tables_to_appear_in_same_query!(pol2_rules, profiles);
diesel::allow_tables_to_appear_in_same_query!(keysets, key_components);

diesel::table! {
    es5_commands (id) {
        id -> BigInt,
        eid -> Text,
        seq -> BigInt,
        operation_ref -> Text,
        payload -> Binary,
        state -> Text,
        deadline -> BigInt,
        attempts -> Integer,
        keyset_version -> Nullable<Integer>,
        scp80_counter -> Nullable<BigInt>,
        response -> Nullable<Binary>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        urgent -> Bool,
    }
}

diesel::table! {
    profile_types (id) {
        id -> BigInt,
        mno_oid -> Text,
        name -> Text,
        template -> Binary,
        required_memory -> BigInt,
        target_platform -> Text,
        low_stock_threshold -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        pol2 -> Nullable<Text>,
    }
}

diesel::table! {
    orders (id) {
        id -> BigInt,
        mno_oid -> Text,
        profile_type_id -> BigInt,
        source_file -> Text,
        row_count -> BigInt,
        imported_at -> BigInt,
    }
}

diesel::table! {
    stock (iccid) {
        iccid -> Text,
        imsi -> Text,
        msisdn -> Nullable<Text>,
        secrets -> Binary,
        secrets_key_id -> Text,
        profile_type_id -> BigInt,
        mno_oid -> Text,
        order_id -> BigInt,
        state -> Text,
        eid -> Nullable<Text>,
        created_at -> BigInt,
        reserved_at -> Nullable<BigInt>,
        downloading_at -> Nullable<BigInt>,
        installed_at -> Nullable<BigInt>,
        released_at -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    smsr_operations (id) {
        id -> BigInt,
        eid -> Text,
        kind -> Text,
        state -> Text,
        function_call_id -> Nullable<BigInt>,
        requester_oid -> Text,
        interface -> Text,
        iccid -> Nullable<Text>,
        isd_p_aid -> Nullable<Binary>,
        deadline -> BigInt,
        retry_at -> Nullable<BigInt>,
        data -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    es5_transmissions (eid, keyset_version, counter) {
        eid -> Text,
        keyset_version -> Integer,
        counter -> BigInt,
        command_id -> BigInt,
        sent_at -> BigInt,
    }
}

diesel::table! {
    es5_received_counters (eid, keyset_version) {
        eid -> Text,
        keyset_version -> Integer,
        counter -> BigInt,
    }
}

diesel::table! {
    smdp_relays (id) {
        id -> BigInt,
        es2_call_id -> BigInt,
        es3_message_id -> Text,
        es3_function -> Text,
        state -> Text,
        created_at -> BigInt,
        completed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    isd_p_aid_counters (eid) {
        eid -> Text,
        next_index -> BigInt,
    }
}

diesel::table! {
    smdp_downloads (id) {
        id -> BigInt,
        es2_call_id -> BigInt,
        mno_oid -> Text,
        eid -> Text,
        iccid -> Text,
        phase -> Text,
        step -> BigInt,
        awaiting_message_id -> Nullable<Text>,
        deadline -> BigInt,
        data -> Text,
        sealed_keys -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    smdp_download_messages (message_id) {
        message_id -> Text,
        download_id -> BigInt,
        step -> BigInt,
    }
}

diesel::table! {
    euicc_owners (eid) {
        eid -> Text,
        owner_oid -> Text,
        assigned_at -> BigInt,
    }
}

diesel::table! {
    owner_tokens (id) {
        id -> BigInt,
        owner_oid -> Text,
        token_hash -> Binary,
        scopes -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(euicc_owners, profiles);
diesel::allow_tables_to_appear_in_same_query!(euicc_owners, euiccs);

diesel::table! {
    owner_event_seqs (owner_oid) {
        owner_oid -> Text,
        last_seq -> BigInt,
    }
}

diesel::table! {
    owner_events (id) {
        id -> BigInt,
        owner_oid -> Text,
        seq -> BigInt,
        event_type -> Text,
        eid -> Text,
        occurred_at -> BigInt,
        data -> Text,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> BigInt,
        owner_oid -> Text,
        url -> Text,
        secret_sealed -> Text,
        event_types -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        endpoint_id -> BigInt,
        event_id -> BigInt,
        outbox_id -> BigInt,
        replay_of -> Nullable<BigInt>,
        state -> Text,
        attempts -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        attempted_at -> BigInt,
        http_status -> Nullable<Integer>,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(webhook_deliveries -> owner_events (event_id));
diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, owner_events);

diesel::table! {
    smsr_change_expectations (eid) {
        eid -> Text,
        current_smsr_oid -> Text,
        requester_oid -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    smsr_es7_requests (message_id) {
        message_id -> Text,
        operation_id -> BigInt,
        function -> Text,
        answered -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    es5_mo_segments (source, reference, part) {
        source -> Text,
        reference -> Integer,
        part -> Integer,
        tp_ud -> Binary,
        received_at -> BigInt,
    }
}
