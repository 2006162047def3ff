DROP TABLE owner_tokens;
DROP TABLE euicc_owners;
