-- Ends of fleet targets not yet counted in their fleet operation's row (docs/architecture.md §8 "ESM2M";
-- eis-store fleet.rs): the transaction that ends a target's platform operation inserts one row here instead of
-- updating the fleet row (which every ending target and the fleet worker would otherwise queue on); the fleet
-- worker, holding the fleet row, deletes them and applies them to the counts in one transaction.
-- state: succeeded | failed (the target's state from running).
CREATE TABLE esm2m_fleet_target_ends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fleet_id BIGINT NOT NULL REFERENCES esm2m_fleet_operations (id) ON DELETE CASCADE,
    state TEXT NOT NULL
);
CREATE INDEX esm2m_fleet_target_ends_fleet ON esm2m_fleet_target_ends (fleet_id);
