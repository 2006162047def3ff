DROP TABLE esm2m_idempotency;
DROP TABLE esm2m_fleet_targets;
DROP TABLE esm2m_fleet_operations;
DROP TABLE esm2m_operation_results;
